"""The protocol space of docs/protocols.md on the exact-score OU analog: window, noise, start, sampler.

- window "release"   : coupled for the first t_int steps, independent after (Protocol I as built);
  "switch-on"        : independent for the first t_int steps, coupled to the end;
  "throughout"       : coupled the whole run; each feature's commitment is read from the replica
                       difference along the run (`difference_onset`), not from a t_int sweep.
  "clone"            : coupled cloning (ou_models.analog): the coupled pair from one start, cloned at t_int,
                       both copies coupled on; agreement of replica A with its copy (a g -> 0 limit: cloning).
- noise "independent": each replica draws its own per-step noise; "shared": both draw the same,
  so only the start differs.
- eps: the start z_A,B = sqrt(1 - eps^2) z_0 +- eps z_1 from the two replicas' independent draws
  (z_0, z_1) at OU time T; None keeps the two independent draws (today's default).
The release and switch-on windows run in measure.protocol_one; `run_protocol` dispatches all three.
The checks of (window, noise, eps) and the antisymmetric start belong to the run spec (replica_run.py);
they are importable from here too.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from syncgap.theory import schedules
from syncgap.theory.checks import check_int, check_real
from syncgap.theory.intervals import interval_fields

from .estimators import bootstrap
from .measure import protocol_one
from .replica_run import NOISES, WINDOWS, ReplicaRun, antisymmetric_start, check_variant
from .sampler import sample_paths

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import ArrayLike

    from syncgap.theory.data import SignFeatureMixture

    from .engine import FeatureModel


def difference_onset(q: ArrayLike, level: float = 0.1, min_rise: float = 0.05,
                     quiet: float = 0.05) -> tuple[int, None] | tuple[None, str]:
    """(index, None): where the normalised difference q starts to grow, or (None, reason) where it never does.

    q (R,): a replica difference normalised by the replicas' own size (0 identical, 1 uncorrelated),
    along the run (index = the sampler's time order). From its minimum q_min (index m) it rises to
    q_max = max(q[m:]); the onset is the first index >= m where q - q_min reaches `level` of that
    rise. A rise below `min_rise` (absolute, like the agreement curves' minimum contrast) is "no
    onset": the mode never desynchronises, which is not a collapse (docs/protocols.md). An onset within
    `quiet` of the run after the minimum has no quiet phase before it: read as none (the reason says so).
    """
    q = np.asarray(q, dtype=float)
    if q.size < 2 or not np.all(np.isfinite(q)):
        return None, "difference not finite along the run"
    m = int(np.argmin(q))
    rise = float(q[m:].max() - q[m])
    if rise < min_rise:
        return None, f"no onset: the normalised difference rises by {rise:.3g} < {min_rise:g} after its minimum"
    onset = m + int(np.argmax(q[m:] - q[m] >= level * rise))
    if onset - m < max(1, quiet * q.size):
        return None, ("no onset read: the difference grows from its minimum at once, with no quiet phase "
                      "(per-step noise decorrelating the pair, not a commitment)")
    return onset, None


def _blocks(x: np.ndarray, n_blocks: int) -> np.ndarray:
    """Sums of x (n, ...) over n_blocks contiguous blocks of paths: (n_blocks, ...), iid units."""
    edges = np.linspace(0, x.shape[0], n_blocks + 1).round().astype(int)
    return np.add.reduceat(x, edges[:-1], axis=0)


def throughout(data: SignFeatureMixture | FeatureModel, grid: ArrayLike, g: float, n: int, seed: int = 0, *,
               scheme: str = "sde", noise: str = "independent", eps: float | None = 0.3, level: float = 0.1,
               record_every: int = 0, batch: int = 2000, n_boot: int = 300, dit_sampling_steps: int = 250,
               progress: Callable[[int, int], object] | None = None) -> dict:
    """Window "throughout": the pair coupled by the gate g the whole run; per feature k the onset of
    q_k = <(phi_k.(x_A - x_B))^2> / <(phi_k.x_A)^2 + (phi_k.x_B)^2> (means over paths), `difference_onset`.

    record_every 0 records about 250 states. Intervals: percentile bootstrap over blocks of paths.
    gap_dit_steps[k-1] = onset step of feature k minus that of feature 0 (later commitment, larger step).
    """
    n = check_int("samples", n, 2, 10**9)
    run = ReplicaRun(data, grid, n, seed, K=2, gate=g, scheme=scheme, window="throughout", noise=noise, eps=eps,
                     batch=batch, progress=progress)
    level = check_real("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    record_every = check_int("record_every", record_every, 0, run.N) or max(1, run.N // 250)
    diff, size, t = _pair_differences(run, record_every)
    return _throughout_record(run, diff, size, t, level, n_boot, dit_sampling_steps)


def _pair_differences(run: ReplicaRun, record_every: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per path, recorded state and feature the pair's squared difference and summed squares, (n, R, F) each; t (R,)."""
    diff, size, t = None, None, None
    for lo, hi in run.batches():
        r = sample_paths(run, lo, hi, record_every)
        y = r["y"]                                                     # (b, R, 2, F)
        d2, s2 = (y[:, :, 0] - y[:, :, 1]) ** 2, (y ** 2).sum(axis=2)  # (b, R, F) each
        diff = d2 if diff is None else np.concatenate([diff, d2])
        size = s2 if size is None else np.concatenate([size, s2])
        t = r["t"]
    return diff, size, t


def _throughout_record(run: ReplicaRun, diff: np.ndarray, size: np.ndarray, t: np.ndarray, level: float,
                       n_boot: int, dit_sampling_steps: int) -> dict:
    """`throughout`'s record from the pair's squared differences and sizes (n, R, F) at times t (R,)."""
    n, seed, F = run.n, run.seed, run.model.num_features
    units = np.stack([_blocks(diff, min(n, 200)), _blocks(size, min(n, 200))], axis=1)  # (blocks, 2, R, F)
    q_mean = diff.sum(0) / size.sum(0)                                                  # (R, F)
    steps = np.asarray(schedules.ou_time_to_sampler_step(np.maximum(t, 0.0), dit_sampling_steps), float)

    def onset_step(u, k):
        i, _ = difference_onset(u[:, 0, :, k].sum(0) / u[:, 1, :, k].sum(0), level)
        return None if i is None else float(steps[i])
    onsets = []
    for k in range(F):
        i, reason = difference_onset(q_mean[:, k], level)
        iv = bootstrap(lambda u, k=k: onset_step(u, k), units, n_boot, seed=seed)
        onsets.append({"feature": k, "onset_t": None if i is None else float(t[i]),
                       **interval_fields("onset_dit_steps", None if i is None else float(steps[i]), iv.low, iv.high,
                                         reason)})
    gaps = []
    for k in range(1, F):
        def gap(u, k=k):
            a, b = onset_step(u, 0), onset_step(u, k)
            return None if a is None or b is None else b - a
        iv = bootstrap(gap, units, n_boot, seed=seed)
        est = None if not np.isfinite(iv.estimate) else iv.estimate
        gaps.append({"feature": k, **interval_fields("gap_dit_steps", est, iv.low, iv.high,
                                                     None if est is not None else "a feature has no onset")})
    return {"window": run.window, "noise": run.noise, "eps": run.eps, "scheme": run.scheme, "g": run.gate,
            "level": level, "t": t, "dit_steps": steps, "normalised_difference": q_mean, "onsets": onsets,
            "gaps": gaps, "samples": n, "seed": seed, "dit_sampling_steps": dit_sampling_steps}


def run_protocol(data: SignFeatureMixture | FeatureModel, grid: ArrayLike, g: float, n: int, window: str = "release",
                 noise: str = "independent", eps: float | None = None, **kw: Any) -> dict:
    """One protocol variant: measure.protocol_one for release / switch-on, `throughout` otherwise."""
    window, noise, eps = check_variant(window, noise, eps)
    if window == "throughout":
        kw.pop("t_int_times", None)
        return throughout(data, grid, g, n, noise=noise, eps=0.3 if eps is None else eps, **kw)
    return protocol_one(data, grid, g, n, window=window, noise=noise, eps=eps, **kw)


__all__ = ["WINDOWS", "NOISES", "check_variant", "antisymmetric_start", "difference_onset", "throughout",
           "run_protocol"]
