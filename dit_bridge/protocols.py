"""Protocols I (behavioural) and II (internal) on a coupled DiT (docs/science.md §5). Plain records out.

Protocol I: one noise draw per pair, split antisymmetrically (variance preserving); the pair is
coupled with strength g for the first t_int sampler steps, then runs independently. The coupled
prefix is computed once and branched at every t_int (state + generator snapshots), so the noise
of each replica is the same for every t_int and every g; the tails of all branches advance
together in one batch. Final outputs -> per-scale agreement -> tau_spec per scale and the gap
(commitment.py). Variants (docs/protocols.md): window release (above) | switch-on (independent
prefix, coupled tail) | throughout (coupled all run, onsets of the per-scale difference), noise
independent | shared (B's generators copy A's).

Protocol II: the pair runs coupled (constant g or a schedule) with hooks on every block that
reduce the replica difference on the fly: common/difference energies per layer and step, the
difference's shares in radial frequency bands (recording.py), and the global share of what each block
adds to the difference on the token DCT modes (depth.py; the per-layer depth finding is depth.py's
shared-noise run with probes, validation/suites/dit_depth.py).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from syncgap.theory.checks import InputError, check_int, check_real

from syncgap.ou_models.estimators import bootstrap
from syncgap.ou_models.variants import difference_onset

from .commitment import (commitment_fits, default_scales, feature_difference, pooled_difference,
                         scale_agreement)
from .coupling import check_g, remove_coupling, set_coupling
from .recording import PairRecorder, token_grid
from .sampling import (GUIDANCE_MAX, PairState, antisymmetric_noise, check_labels, make_scheduler, row_generators,
                       row_seed, run_pairs)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from numpy.typing import ArrayLike

    from .registry import LoadedDiT
    from .sampling import GSchedule

    Labels = torch.Tensor | ArrayLike | None
    Progress = Callable[[int, int], object] | None


def pair_labels(rec: LoadedDiT, labels: Labels, n_pairs: int, seed: int) -> torch.Tensor:
    """Class labels of both replicas, (2 n_pairs,): one class per pair (random from `seed` when none given)."""
    if labels is None and rec.default_class is None and rec.num_classes > 1:
        labels = np.random.default_rng(seed).integers(0, rec.num_classes, n_pairs)  # one class per pair
    lab = check_labels(rec, labels, n_pairs)
    return torch.cat([lab, lab])  # both replicas of a pair share its class


def _check_common(rec, g, num_steps, n_pairs, guidance_scale):
    g = check_g("g", g)
    num_steps = check_int("num_steps", num_steps, 2, 1000)
    n_pairs = check_int("n_pairs", n_pairs, 1, 10**6)
    guidance_scale = check_real("guidance_scale", guidance_scale, 1.0, GUIDANCE_MAX)
    if guidance_scale != 1.0 and rec.null_class is None:
        raise InputError(f"model {rec.name} has no null class: classifier-free guidance needs guidance_scale=1")
    return g, num_steps, n_pairs, guidance_scale


WINDOWS = ("release", "switch-on", "throughout", "clone")
NOISES = ("independent", "shared")


def start_state(rec: LoadedDiT, n_pairs: int, seed: int, eps: float, clone: bool = False,
                noise: str = "independent") -> PairState:
    """PairState at step 0: antisymmetric noise; B's generators copy A's under clone or shared noise."""
    x_a, x_b = antisymmetric_noise(rec.sample_shape, n_pairs, seed, 0.0 if clone else eps)
    gens = row_generators(seed, n_pairs)
    if clone or noise == "shared":  # B's generators start as copies of A's: identical per-step noise
        gens = gens[:n_pairs] + [torch.Generator().set_state(gn.get_state()) for gn in gens[:n_pairs]]
    return PairState(torch.cat([x_a, x_b]).float(), 0, gens)


def _join(states: list) -> PairState:
    """Branches (each rows [A; B], one step) -> one state [A of all; B of all] (coupling.py's layout)."""
    a = [s.x.chunk(2)[0] for s in states]
    b = [s.x.chunk(2)[1] for s in states]
    gens = [gn for s in states for gn in s.generators[:len(s.generators) // 2]]
    gens += [gn for s in states for gn in s.generators[len(s.generators) // 2:]]
    return PairState(torch.cat(a + b), states[0].step, gens)


def _tail_branches(rec, sched, snapshots, t_ints, labels, g, layers, gate, coupled_tail, kw):
    """Advance every branch from its t_int to the end, all together: branch i joins the batch at t_int[i].

    One model call per step on the rows of all branches that have started, instead of one branch
    after another; the rows keep their own generators, so each row draws the same noise as alone.
    Returns the final (a, b) per branch, each (P, C, H, W).
    """
    if coupled_tail:
        set_coupling(rec.model, g, layers, gate)
    else:
        remove_coupling(rec.model)
    m = len(labels) // 2

    def rows_labels(n):  # labels of n joined branches in the layout [A of all; B of all]
        return torch.cat([labels[:m]] * n + [labels[m:]] * n)
    parts, tail = [], None
    for i, t_int in enumerate(t_ints):
        if tail is not None:
            parts = _split(run_pairs(rec, sched, tail, rows_labels(len(parts)), stop=t_int, **kw), len(parts))
        tail = _join(parts + [snapshots[i]])
        parts = parts + [snapshots[i]]
    tail = run_pairs(rec, sched, tail, rows_labels(len(parts)), **kw)
    return [p.x.chunk(2) for p in _split(tail, len(parts))]


tail_branches = _tail_branches   # public name for dit_bridge.coupled_clone (the same batched tail)


def _split(state: PairState, n_branches: int) -> list:
    """Inverse of _join: one PairState per branch."""
    a, b = state.x.chunk(2)
    m = a.shape[0] // n_branches
    half = len(state.generators) // 2
    return [PairState(torch.cat([a[i * m:(i + 1) * m], b[i * m:(i + 1) * m]]), state.step,
                      state.generators[i * m:(i + 1) * m] + state.generators[half + i * m:half + (i + 1) * m])
            for i in range(n_branches)]


def protocol_one_branches(rec: LoadedDiT, g: float, t_ints: Sequence[int], labels: torch.Tensor, *, n_pairs: int,
                          seed: int, num_steps: int, sampler: str = "ddpm", guidance_scale: float = 1.0,
                          eps: float = 0.3, gate: str = "paper", layers: Sequence[int] | None = None,
                          clone: bool = False, window: str = "release", noise: str = "independent",
                          batched: bool = True, prefix: Sequence[PairState] | None = None
                          ) -> Iterator[tuple[int, int, torch.Tensor, torch.Tensor]]:
    """Yield (i, t_int, a, b) for each t_int: the pair's final outputs a, b (P, C, H, W) after the window
    (release: coupled for the first t_int steps, independent after; switch-on: the reverse).

    The prefix is run once and branched at every t_int, so each replica's noise is the same for every
    t_int and every g; batched=True advances all tails together (`_tail_branches`), batched=False one
    after another (the same numbers to float rounding). The model's processors are restored however
    the loop ends. Arguments already checked. prefix: the switch-on window's uncoupled branches from
    `branch_prefix` on the same arguments (copied, not advanced), instead of running them again.
    """
    sched = make_scheduler(rec, sampler)
    kw = dict(num_steps=num_steps, guidance_scale=guidance_scale)
    coupled_prefix = window == "release"
    if prefix is not None and (window != "switch-on" or not batched or len(prefix) != len(t_ints)):
        raise InputError("prefix serves the batched switch-on window only, one branch per t_int")
    if batched:
        snapshots = ([p.snapshot() for p in prefix] if prefix is not None else
                     branch_prefix(rec, t_ints, labels, n_pairs=n_pairs, seed=seed, num_steps=num_steps,
                                   sampler=sampler, guidance_scale=guidance_scale, eps=eps, window=window,
                                   noise=noise, clone=clone, g=g, layers=layers, gate=gate))
        try:
            finals = _tail_branches(rec, sched, snapshots, list(t_ints), labels, g, layers, gate,
                                    not coupled_prefix, kw)
        finally:
            remove_coupling(rec.model)
        for i, (t_int, (a, b)) in enumerate(zip(t_ints, finals)):
            yield i, t_int, a, b
        return
    state = start_state(rec, n_pairs, seed, eps, clone, noise)

    def prefix_coupling():
        if coupled_prefix:
            set_coupling(rec.model, g, layers, gate)
        else:
            remove_coupling(rec.model)
    try:
        prefix_coupling()
        for i, t_int in enumerate(t_ints):
            run_pairs(rec, sched, state, labels, stop=t_int, **kw)  # prefix, shared by every branch
            branch = _split_clone(state.snapshot(), clone, n_pairs, seed, t_int)
            if coupled_prefix:
                remove_coupling(rec.model)  # independent tail: stock processors
            else:
                set_coupling(rec.model, g, layers, gate)
            branch = run_pairs(rec, sched, branch, labels, **kw)
            prefix_coupling()
            a, b = branch.x.chunk(2)
            yield i, t_int, a, b
    finally:
        remove_coupling(rec.model)


def _split_clone(branch: PairState, clone: bool, n_pairs: int, seed: int, t_int: int) -> PairState:
    """Under clone the replicas split at t_int: B continues on fresh noise (its own generators)."""
    if clone:
        branch.generators[n_pairs:] = [torch.Generator().manual_seed(row_seed(seed, j, 1, 100 + t_int))
                                       for j in range(n_pairs)]
    return branch


def branch_prefix(rec: LoadedDiT, t_ints: Sequence[int], labels: torch.Tensor, *, n_pairs: int, seed: int,
                  num_steps: int, sampler: str = "ddpm", guidance_scale: float = 1.0, eps: float = 0.3,
                  window: str = "release", noise: str = "independent", clone: bool = False, g: float = 0.0,
                  layers: Sequence[int] | None = None, gate: str = "paper") -> list[PairState]:
    """Protocol I's prefix, run once and branched at every t_int: one PairState per t_int (x and the generators
    at that step), coupled at g in the release window, uncoupled in switch-on. An uncoupled prefix depends on
    neither g nor the coupled layers, so one serves every coupled set of a causal test
    (`protocol_one_branches(..., prefix=)`). Arguments already checked."""
    sched = make_scheduler(rec, sampler)
    state = start_state(rec, n_pairs, seed, eps, clone, noise)
    if window == "release":
        set_coupling(rec.model, g, layers, gate)
    else:
        remove_coupling(rec.model)
    out = []
    try:
        for t_int in t_ints:
            run_pairs(rec, sched, state, labels, stop=t_int, num_steps=num_steps, guidance_scale=guidance_scale)
            out.append(_split_clone(state.snapshot(), clone, n_pairs, seed, t_int))
    finally:
        remove_coupling(rec.model)
    return out


def protocol_one(rec: LoadedDiT, g: float, t_ints: Iterable[int] | None = None, *, n_pairs: int = 8, seed: int = 0,
                 num_steps: int = 50, sampler: str = "ddpm", guidance_scale: float = 1.0, labels: Labels = None,
                 eps: float = 0.3, gate: str = "paper", layers: Sequence[int] | None = None,
                 scales: Sequence[int] | None = None, n_boot: int = 200, clone: bool = False, progress: Progress = None,
                 window: str = "release", noise: str = "independent", batched: bool = True) -> dict:
    """Agreement per scale against t_int and the commitment fits (tau_spec per scale, gap), or for
    window="throughout" the onsets of the per-scale difference along a coupled run (`protocol_throughout`).

    clone=True is the cloning (U-turn) variant of docs/science.md §2: eps = 0 and B shares A's per-step
    noise for the first t_int steps (one trajectory, whatever g), then B draws fresh noise; it
    measures commitment at g = 0, where the coupled protocol has nothing to switch off. DDPM only.
    Variants (docs/protocols.md): window release|switch-on|throughout, noise independent|shared.
    """
    g, num_steps, n_pairs, guidance_scale = _check_common(rec, g, num_steps, n_pairs, guidance_scale)
    window, noise = _check_variant(window, noise, clone)
    if (clone or window == "clone") and sampler != "ddpm":
        raise InputError("cloning needs the stochastic ddpm sampler (deterministic clones never split)")
    if n_pairs < 2:
        raise InputError("n_pairs must be >= 2 for bootstrap intervals over pairs")
    if window == "throughout":
        return protocol_throughout(rec, g, n_pairs=n_pairs, seed=seed, num_steps=num_steps, sampler=sampler,
                                   guidance_scale=guidance_scale, labels=labels, eps=eps, gate=gate, layers=layers,
                                   scales=scales, n_boot=n_boot, noise=noise, progress=progress)
    if t_ints is None:
        t_ints = np.unique(np.linspace(0, num_steps, min(num_steps + 1, 11)).round().astype(int))
    t_ints = sorted({check_int("t_int", t, 0, num_steps) for t in t_ints})
    if len(t_ints) < 4:
        raise InputError(f"t_int: need at least 4 distinct values in [0, {num_steps}], got {t_ints}")
    scales = default_scales(min(rec.sample_shape[1:])) if scales is None else list(scales)
    lab = pair_labels(rec, labels, n_pairs, seed)
    agree = np.empty((n_pairs, len(scales), len(t_ints)))
    for i, _, a, b in window_branches(rec, g, t_ints, lab, n_pairs=n_pairs, seed=seed, num_steps=num_steps,
                                      sampler=sampler, guidance_scale=guidance_scale, eps=eps, gate=gate,
                                      layers=layers, clone=clone, window=window, noise=noise, batched=batched):
        agree[:, :, i] = scale_agreement(a, b, scales)
        if progress is not None:
            progress(i + 1, len(t_ints))
    read = [i for i, t in enumerate(t_ints) if window != "switch-on" or t < num_steps]  # never-coupled column: not read
    if len(read) < 4:
        raise InputError(f"t_int: the switch-on window reads t_int < num_steps={num_steps} only (at t_int = "
                         f"{num_steps} the pair is never coupled); need at least 4 such values, got "
                         f"{[t_ints[i] for i in read]}")
    fits = commitment_fits(np.asarray(t_ints, float)[read], agree[:, :, read], scales, n_boot=n_boot, seed=seed,
                           direction="falling" if window == "switch-on" else "rising")
    eps = 0.0 if window == "clone" else eps
    return {"protocol": "I", "model": rec.name, "g": g, "gate": gate, "layers": layers, "sampler": sampler,
            "num_steps": num_steps, "guidance_scale": guidance_scale, "eps": eps, "seed": seed,
            "n_pairs": n_pairs, "clone": clone, "window": window, "noise": noise,
            "labels": lab[:n_pairs].tolist(), "agreement": agree, **fits, **_gap_fields(fits["gap"])}


def window_branches(rec: LoadedDiT, g: float, t_ints: Sequence[int], labels: torch.Tensor, *, window: str,
                    **kw: object) -> Iterator[tuple[int, int, torch.Tensor, torch.Tensor]]:
    """(i, t_int, a, b) per t_int of `window`: coupled cloning (a: replica A, b: its copy cloned at t_int,
    dit_bridge.coupled_clone) or `protocol_one_branches`' pair. kw: protocol_one_branches' arguments."""
    if window != "clone":
        return protocol_one_branches(rec, g, t_ints, labels, window=window, **kw)
    from .coupled_clone import coupled_clone_branches
    return coupled_clone_branches(rec, g, t_ints, labels, **{k: kw[k] for k in (
        "n_pairs", "seed", "num_steps", "sampler", "guidance_scale", "gate", "layers") if k in kw})


def _gap_fields(gap: dict) -> dict:
    """The gap in sampler steps as flat fields (docs/json.md): value, interval, reason when null."""
    est = gap["estimate"]
    ok = est is not None and np.isfinite(est)
    lo, hi = gap["low"], gap["high"]
    return {"gap_steps": float(est) if ok else None,
            "gap_steps_low": float(lo) if ok and lo is not None and np.isfinite(lo) else None,
            "gap_steps_high": float(hi) if ok and hi is not None and np.isfinite(hi) else None,
            "gap_steps_reason": None if ok else "a scale has no commitment time (flat agreement curve or no onset)"}


def _check_variant(window, noise, clone):
    if window not in WINDOWS:
        raise InputError(f"window must be one of {', '.join(WINDOWS)}, got {window!r}")
    if noise not in NOISES:
        raise InputError(f"noise must be one of {', '.join(NOISES)}, got {noise!r}")
    if clone and (window != "release" or noise != "independent"):
        raise InputError("clone=True is its own variant: use it with window='release', noise='independent'")
    if window == "clone" and noise != "independent":
        raise InputError("window 'clone' (coupled cloning) runs with independent noise: drop noise='shared'")
    return window, noise


def protocol_throughout(rec: LoadedDiT, g: float, *, n_pairs: int, seed: int, num_steps: int, sampler: str,
                        guidance_scale: float, labels: Labels, eps: float, gate: str, layers: Sequence[int] | None,
                        scales: Sequence[int] | None, n_boot: int, noise: str, progress: Progress = None,
                        level: float = 0.1, patterns: ArrayLike | None = None) -> dict:
    """Window "throughout": the pair coupled the whole run; per scale s the onset of the normalised
    difference q_s = sum |P_s(a - b)|^2 / sum (|P_s a|^2 + |P_s b|^2) of the states along the run
    (sums over pairs; ou_models.variants.difference_onset). gap = onset(finest) - onset(coarsest).
    With `patterns` (F, C*H*W; e.g. the FHGM's features, strongest first) the units are the features
    instead of the scales (commitment.feature_difference) and gap = onset(last) - onset(first).
    """
    scales = default_scales(min(rec.sample_shape[1:])) if scales is None else list(scales)
    lab = pair_labels(rec, labels, n_pairs, seed)
    parts = throughout_parts(rec, g, lab, n_pairs=n_pairs, seed=seed, num_steps=num_steps, sampler=sampler,
                             guidance_scale=guidance_scale, eps=eps, gate=gate, layers=layers, noise=noise,
                             scales=scales, patterns=patterns, progress=progress)
    units = scales if patterns is None else list(range(len(patterns)))
    out = throughout_onsets(parts, units, n_boot=n_boot, seed=seed, level=level)
    return {"protocol": "I", "model": rec.name, "g": g, "gate": gate, "layers": layers, "sampler": sampler,
            "num_steps": num_steps, "guidance_scale": guidance_scale, "eps": eps, "seed": seed,
            "n_pairs": n_pairs, "clone": False, "window": "throughout", "noise": noise, "level": level,
            "labels": lab[:n_pairs].tolist(), "scales": list(map(int, scales)) if patterns is None else None,
            "features": None if patterns is None else units, **out, **_gap_fields(out["gap"])}


def throughout_parts(rec: LoadedDiT, g: float, lab: torch.Tensor, *, n_pairs: int, seed: int, num_steps: int,
                     sampler: str, guidance_scale: float, eps: float, gate: str, layers: Sequence[int] | None,
                     noise: str, scales: Sequence[int], patterns: ArrayLike | None = None,
                     progress: Progress = None) -> np.ndarray:
    """(pairs, 2, units, num_steps + 1): per pair and state of the coupled run, the squared replica difference
    and the replicas' summed squared size per unit (pooled scales, or `patterns`' features). Arguments checked."""
    sched = make_scheduler(rec, sampler)
    state = start_state(rec, n_pairs, seed, eps, False, noise)
    n_units = len(scales) if patterns is None else len(patterns)
    parts = np.empty((n_pairs, 2, n_units, num_steps + 1))   # (pairs, [diff, size], units, states)
    set_coupling(rec.model, g, layers, gate)
    try:
        for k in range(num_steps + 1):
            if k:
                run_pairs(rec, sched, state, lab, num_steps=num_steps, stop=k, guidance_scale=guidance_scale)
                if progress is not None:
                    progress(k, num_steps)
            a, b = state.x.chunk(2)
            parts[:, :, :, k] = (pooled_difference(a, b, scales) if patterns is None
                                 else feature_difference(a, b, patterns))
    finally:
        remove_coupling(rec.model)
    return parts


def throughout_onsets(parts: np.ndarray, units: Sequence, *, n_boot: int, seed: int, level: float = 0.1) -> dict:
    """Onset per unit of q = sum over pairs of the difference / of the size (`difference_onset`) with bootstrap
    intervals over pairs, and gap = onset(last unit) - onset(first unit). parts as `throughout_parts`."""
    per_unit, q = [], normalised_difference(parts)
    for i, s in enumerate(units):
        idx, reason = difference_onset(q[i], level)
        iv = bootstrap(lambda u, i=i: unit_onset(u, i, level), parts, n_boot, seed=seed)
        per_unit.append({"scale": int(s), "onset": None if idx is None else float(idx),
                         "low": iv.low if idx is not None else None, "high": iv.high if idx is not None else None,
                         "onset_reason": reason})
    iv = bootstrap(lambda u: throughout_gap(u, level), parts, n_boot, seed=seed)
    return {"per_scale": per_unit, "normalised_difference": q,
            "gap": {"estimate": iv.estimate, "low": iv.low, "high": iv.high}}


def normalised_difference(parts: np.ndarray) -> np.ndarray:
    """(units, states): q = sum_pairs |diff|^2 / sum_pairs (|a|^2 + |b|^2) (0: identical, 1: uncorrelated)."""
    return parts[:, 0].sum(0) / np.maximum(parts[:, 1].sum(0), 1e-300)


def unit_onset(parts: np.ndarray, i: int, level: float = 0.1) -> float | None:
    """The onset step of unit i's normalised difference, or None where it has none."""
    idx, _ = difference_onset(normalised_difference(parts)[i], level)
    return None if idx is None else float(idx)


def throughout_gap(parts: np.ndarray, level: float = 0.1) -> float | None:
    """gap = onset(last unit) - onset(first unit) in sampler steps (finest - coarsest scale, weakest - strongest
    feature), or None where either has no onset."""
    hi, lo = unit_onset(parts, parts.shape[2] - 1, level), unit_onset(parts, 0, level)
    return None if hi is None or lo is None else hi - lo


def protocol_two(rec: LoadedDiT, g: float, *, n_pairs: int = 4, seed: int = 0, num_steps: int = 50,
                 sampler: str = "ddpm", guidance_scale: float = 1.0, labels: Labels = None, eps: float = 0.3,
                 gate: str = "paper", layers: Sequence[int] | None = None, g_schedule: GSchedule | None = None,
                 n_bands: int = 4, record_steps: Iterable[int] | None = None, progress: Progress = None) -> dict:
    """Per-layer, per-step common/difference energies, the difference's band shares, and the global share of
    each block's increment difference on the token DCT modes (`increment_share`, chance `increment_chance`).

    g_schedule overrides the constant g (values per step). Band shares are normalised per layer
    (they sum to 1); `diff_fraction` = diff / (common + diff) is the layer's normalised difference energy.
    """
    from .depth import BlockRecorder, Recorders, chance_share, global_mode_mask, increment_shares, token_dct_basis
    g, num_steps, n_pairs, guidance_scale = _check_common(rec, g, num_steps, n_pairs, guidance_scale)
    mask = global_mode_mask(token_dct_basis(*token_grid(rec.model))[1])
    lab = pair_labels(rec, labels, n_pairs, seed)
    x_a, x_b = antisymmetric_noise(rec.sample_shape, n_pairs, seed, eps)
    set_coupling(rec.model, g, layers, gate)
    state = PairState(torch.cat([x_a, x_b]).float(), 0, row_generators(seed, n_pairs))
    recorder = PairRecorder(rec.model, n_bands, record_steps)
    try:
        with recorder, BlockRecorder(rec.model, mask) as blocks:
            run_pairs(rec, make_scheduler(rec, sampler), state, lab, num_steps=num_steps,
                      guidance_scale=guidance_scale, g_schedule=g if g_schedule is None else g_schedule,
                      recorder=Recorders(recorder, blocks), progress=progress)
    finally:
        remove_coupling(rec.model)
    r = recorder.result()
    inc = increment_shares(torch.stack([blocks.increments[int(s)] for s in r["steps"]]))  # (S, L, P)
    a, b = state.x.chunk(2)
    scales = default_scales(min(rec.sample_shape[1:]))
    return {"protocol": "II", "model": rec.name, "g": g, "gate": gate, "layers": layers, "sampler": sampler,
            "num_steps": num_steps, "guidance_scale": guidance_scale, "eps": eps, "seed": seed, "n_pairs": n_pairs,
            **r, "diff_fraction": r["diff"] / np.maximum(r["common"] + r["diff"], 1e-30),
            "increment_share": inc, "increment_chance": chance_share(mask),
            "final_scales": scales, "final_agreement": scale_agreement(a, b, scales)}
