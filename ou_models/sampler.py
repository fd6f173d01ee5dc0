"""Run the paths of a `ReplicaRun` through the Numba kernels: the samplers, branched runs (cloning and
Protocol I), and the step-by-step rerun that names where a run went non-finite.

Path p draws counter-based noise (seed, p, stream) (rng.py): results never depend on the batching.
The update each scheme makes is engine.py's (folded into its step tables).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from syncgap.theory.checks import InputError, SimulationError, check_array, check_int, index_list
from syncgap.theory.resources import check_array_memory

from . import kernels
from .engine import sign_states
from .replica_run import ReplicaRun

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from numpy.typing import ArrayLike

    from syncgap.theory.data import SignFeatureMixture

    from .engine import FeatureModel, StepTables


def sample(model: SignFeatureMixture | FeatureModel, grid: ArrayLike, n: int, seed: int = 0, *, K: int = 1,
           drift: ArrayLike | None = None, gate: float | ArrayLike | Callable[[float], float] = 0.0,
           scheme: str = "sde", record_every: int = 0, path_offset: int = 0, z0: ArrayLike | None = None,
           sign_mixing: ArrayLike | None = None, shared_noise: bool = False) -> dict[str, np.ndarray]:
    """Run n paths of K replicas down `grid`; returns {"z": (n, K, D), "y": (n, R, K, F), "gram": (n, R, K, K), "t": (R,)}.

    `y` are feature coordinates and `gram` the Gram matrix of the orthogonal parts, recorded every
    `record_every` steps (0: none). Results depend only on (seed, path_offset + p), never on batching.
    shared_noise: all K replicas draw the same per-step noise (docs/protocols.md, noise "shared").
    """
    run = ReplicaRun(model, grid, n, seed, K=K, drift=drift, gate=gate, scheme=scheme, sign_mixing=sign_mixing,
                     noise="shared" if shared_noise else "independent")
    return sample_paths(run, path_offset, path_offset + run.n, record_every, z0)


def sample_paths(run: ReplicaRun, lo: int, hi: int, record_every: int = 0,
                 z0: ArrayLike | None = None) -> dict[str, np.ndarray]:
    """Paths lo..hi-1 of `run` from its start (or from z0, (hi - lo, K, D)) to the grid's end: `sample`'s record."""
    model, K, N, n = run.model, run.K, run.N, hi - lo
    record_every = check_int("record_every", record_every, 0, 10**9)
    n_rec = N // record_every + 2 if record_every else 0
    check_array_memory(f"{n} paths recorded at {n_rec} times", (n, K, model.dim), (n, n_rec, K, model.num_features + K))
    tables = run.tables()
    z = run.start(lo, hi) if z0 is None else check_array("z0", z0).copy()
    if z.shape != (n, K, model.dim):
        raise InputError(f"z0 must have shape {(n, K, model.dim)}, got {z.shape}")
    recorded_steps = np.arange(0, N + 1, record_every) if record_every else np.zeros(0, dtype=np.int64)
    if record_every and recorded_steps[-1] != N:
        recorded_steps = np.append(recorded_steps, N)
    y = np.zeros((n, recorded_steps.size, K, model.num_features))      # (n, R, K, F)
    gram = np.zeros((n, recorded_steps.size, K, K))                    # (n, R, K, K)
    ids = np.arange(lo, hi, dtype=np.int64)
    kernels.run_paths(z, ids, run.seed, 0, model.patterns, *tables.args(), sign_states(K).copy(),
                      model.amplitudes > 0, 0, N, max(record_every, 1), y, gram, run.noise == "shared")
    if not np.isfinite(z).all():
        bad = np.flatnonzero(~np.isfinite(z).reshape(n, -1).all(axis=1))
        start = run.start_of(ids[bad]) if z0 is None else np.asarray(z0, dtype=float)[bad]
        locate_nonfinite(f"{run.scheme} sampler", run, start, ids[bad], [(tables, 0, 0, N)])
    return {"z": z, "y": y, "gram": gram, "t": run.grid[recorded_steps]}


def reverse_sde(model: SignFeatureMixture | FeatureModel, grid: ArrayLike, n: int, seed: int = 0,
                **kw: Any) -> dict[str, np.ndarray]:
    """Euler-Maruyama reverse SDE dz = [(A ⊗ I) z + 2 score] dtau + sqrt(2) dW (docs/science.md §2-3)."""
    return sample(model, grid, n, seed, scheme="sde", **kw)


def probability_flow_ode(model: SignFeatureMixture | FeatureModel, grid: ArrayLike, n: int, seed: int = 0,
                         **kw: Any) -> dict[str, np.ndarray]:
    """Euler probability-flow ODE dz = [(A ⊗ I) z + score] dtau (docs/science.md §2)."""
    return sample(model, grid, n, seed, scheme="ode", **kw)


def ddpm_sample(model: SignFeatureMixture | FeatureModel, grid: ArrayLike, n: int, seed: int = 0,
                **kw: Any) -> dict[str, np.ndarray]:
    """DDPM ancestral steps on an OU-time grid (use engine.ddpm_grid for DiT's schedule)."""
    return sample(model, grid, n, seed, scheme="ddpm", **kw)


def ddim_sample(model: SignFeatureMixture | FeatureModel, grid: ArrayLike, n: int, seed: int = 0,
                **kw: Any) -> dict[str, np.ndarray]:
    """DDIM (eta = 0) steps on an OU-time grid."""
    return sample(model, grid, n, seed, scheme="ddim", **kw)


def run_branches(run: ReplicaRun, main: StepTables, branch: StepTables,
                 steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Final feature coordinates of the n paths on `main` tables and of their branches: (n, K, F), (n, B, K, F).

    At step steps[b] a copy of each path continues on `branch` tables with fresh noise (stream b + 1,
    kernels.branch_paths). Paths start at run.start; run.noise "shared": one per-step noise for all replicas.
    """
    model, K, n = run.model, run.K, run.n
    F = model.num_features
    check_array_memory(f"{n} paths x {steps.size} branch times", (n, K, F), (n, steps.size, K, F),
                       (run.batch, K, model.dim))
    y_main = np.empty((n, K, F))
    y_br = np.empty((n, steps.size, K, F))
    signs = sign_states(K)
    signed = model.amplitudes > 0
    for lo, hi in run.batches():
        kernels.branch_paths(run.start(lo, hi), np.arange(lo, hi, dtype=np.int64), run.seed, model.patterns,
                             *main.args(), *branch.args(), signs, signed, steps.astype(np.int64),
                             y_main[lo:hi], y_br[lo:hi], run.noise == "shared")
        _check_branches(run, main, branch, steps, lo, y_main[lo:hi], y_br[lo:hi])
    return y_main, y_br


def _check_branches(run: ReplicaRun, main: StepTables, branch: StepTables, steps: np.ndarray, lo: int,
                    y_main: np.ndarray, y_br: np.ndarray) -> None:
    """SimulationError naming the first non-finite step and its paths (main run first, then the branches)."""
    bad_main = ~np.isfinite(y_main).reshape(len(y_main), -1).all(axis=1)
    bad_br = ~np.isfinite(y_br).all(axis=(2, 3))                    # (b, B)
    if not (bad_main.any() or bad_br.any()):
        return
    if bad_main.any():
        rows = np.flatnonzero(bad_main)
        segs = [(main, 0, 0, run.N)]
    else:
        b = int(np.flatnonzero(bad_br.any(axis=0))[0])              # the earliest branch that failed
        rows = np.flatnonzero(bad_br[:, b])
        segs = [(main, 0, 0, int(steps[b])), (branch, b + 1, int(steps[b]), run.N)]
    ids = lo + rows
    where = "main run" if bad_main.any() else f"branch from step {segs[1][2]}"
    locate_nonfinite(where, run, run.start_of(ids), ids, segs)


def locate_nonfinite(where: str, run: ReplicaRun, z_start: np.ndarray, ids: ArrayLike,
                     segments: Sequence[tuple[StepTables, int, int, int]], limit: int = 8) -> None:
    """Raise SimulationError naming the first step whose result is NaN/inf and the paths it hit.

    Reruns the given paths (at most `limit`) from `z_start` (b, K, D) through `segments`, a list of
    (tables, stream, s_begin, s_end) in order, recording every state of the last segment; the same
    counter-based noise as the original run, so the same numbers. Only called after a failed check.
    """
    model, grid = run.model, run.grid
    ids = np.asarray(ids, dtype=np.int64)
    z = np.array(z_start[:limit], dtype=float)
    sub = ids[:limit]
    K, F = z.shape[1], model.num_features
    signs, signed = sign_states(K), model.amplitudes > 0
    first = np.full(sub.size, -1)
    for tables, stream, s0, s1 in segments:
        y = np.zeros((sub.size, s1 - s0 + 1, K, F))
        gram = np.zeros((sub.size, s1 - s0 + 1, K, K))
        kernels.run_paths(z, sub, run.seed, stream, model.patterns, *tables.args(), signs, signed, s0, s1, 1, y, gram,
                          run.noise == "shared")
        ok = np.isfinite(y).all(axis=(2, 3)) & np.isfinite(gram).all(axis=(2, 3))   # (b, states)
        for i in np.flatnonzero((first < 0) & ~ok.all(axis=1)):
            first[i] = s0 + int(np.argmin(ok[i])) - 1        # state r is the result of step r - 1
    hit = first >= 0
    if not hit.any():   # not reproduced step by step: name the paths only
        raise SimulationError(f"{where}: non-finite values (NaN or inf) in the final state of paths "
                              f"{index_list(ids)}")
    s = int(first[hit].min())
    paths = sub[first == s]
    others = f"; {ids.size} paths non-finite in all: {index_list(ids)}" if ids.size > paths.size else ""
    raise SimulationError(f"{where}: non-finite values (NaN or inf) first at step {s} "
                          f"(OU time {grid[s]:.6g} -> {grid[s + 1]:.6g}) in paths {index_list(paths)}{others}")


__all__ = ["sample", "sample_paths", "reverse_sde", "probability_flow_ode", "ddpm_sample", "ddim_sample",
           "run_branches", "locate_nonfinite"]
