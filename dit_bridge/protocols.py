"""Protocols I (behavioural) and II (internal) on a coupled DiT (docs/science.md §5). Plain records out.

Protocol I: one noise draw per pair, split antisymmetrically (variance preserving); the pair is
coupled with strength g for the first t_int sampler steps, then runs independently. The coupled
prefix is computed once and branched at every t_int (state + generator snapshots), so the noise
of each replica is the same for every t_int and every g; the tails of all branches advance
together in one batch (branches.py). Final outputs -> per-scale agreement -> tau_spec per scale and
the gap (commitment.py). Variants (docs/protocols.md): window release (above) | switch-on (independent
prefix, coupled tail) | throughout (coupled all run, onsets of the per-scale difference, throughout.py) |
clone (coupled cloning, coupled_clone.py), noise independent | shared (B's generators copy A's).
Every branch is read through one loop, `read_branches`.

Protocol II: the pair runs coupled (constant g or a schedule) with hooks on every block that
reduce the replica difference on the fly: common/difference energies per layer and step, the
difference's shares in radial frequency bands (recording.py), and the global share of what each block
adds to the difference on the token DCT modes (depth.py; the per-layer depth finding is depth.py's
shared-noise run with probes, validation/suites/dit/depth/finding.py).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from syncgap.theory.checks import InputError, check_int

from .branches import protocol_one_branches
from .commitment import commitment_fits, default_scales, feature_projections, gap_fields, scale_agreement
from .coupled_clone import coupled_clone_branches
from .depth import BlockRecorder, increment_shares
from .pair_run import PairRun
from .recording import PairRecorder, Recorders, token_grid
from .sampling import StepHooks, run_pairs
from .throughout import protocol_throughout
from .token_modes import chance_share, global_mode_mask, token_dct_basis

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from numpy.typing import ArrayLike

    from .branches import Branch
    from .registry import LoadedDiT
    from .sampling import GSchedule, PairState

    Labels = torch.Tensor | ArrayLike | None
    Progress = Callable[[int, int], object] | None
    Read = Callable[[torch.Tensor, torch.Tensor], np.ndarray]


def window_branches(run: PairRun, t_ints: Sequence[int], prefix: Sequence[PairState] | None = None
                    ) -> Iterator[Branch]:
    """(i, t_int, a, b) per t_int of run.window: coupled cloning (a: replica A, b: its copy cloned at t_int,
    coupled_clone.py) or the pair of `branches.protocol_one_branches` (prefix: its switch-on prefix)."""
    if run.window == "clone":
        return coupled_clone_branches(run, t_ints)
    return protocol_one_branches(run, t_ints, prefix)


def read_branches(run: PairRun, t_ints: Sequence[int], reads: dict[str, Read],
                  prefix: Sequence[PairState] | None = None, progress: Progress = None) -> dict[str, np.ndarray]:
    """{name: (..., len(t_ints))}: each read(a, b) of the final outputs of every t_int's branch (`window_branches`),
    stacked along the last axis; progress(i + 1, len(t_ints)) after each branch."""
    out = {}
    for i, _, a, b in window_branches(run, t_ints, prefix):
        for name, read in reads.items():
            value = read(a, b)
            if name not in out:
                out[name] = np.empty(np.shape(value) + (len(t_ints),))
            out[name][..., i] = value
        if progress is not None:
            progress(i + 1, len(t_ints))
    return out


def protocol_one(loaded: LoadedDiT, g: float, t_ints: Iterable[int] | None = None, *, n_pairs: int = 8,
                 seed: int = 0, num_steps: int = 50, sampler: str = "ddpm", guidance_scale: float = 1.0,
                 labels: Labels = None, eps: float = 0.3, gate: str = "paper", layers: Sequence[int] | None = None,
                 scales: Sequence[int] | None = None, n_boot: int = 200, clone: bool = False, progress: Progress = None,
                 window: str = "release", noise: str = "independent", batched: bool = True,
                 patterns: ArrayLike | None = None, offsets: ArrayLike | None = None, fit: bool = True) -> dict:
    """Agreement per scale against t_int and the commitment fits (tau_spec per scale, gap), or for
    window="throughout" the onsets of the per-scale difference along a coupled run (`protocol_throughout`).

    clone=True is the cloning (U-turn) variant of docs/science.md §2: eps = 0 and B shares A's per-step
    noise for the first t_int steps (one trajectory, whatever g), then B draws fresh noise; it
    measures commitment at g = 0, where the coupled protocol has nothing to switch off. DDPM only.
    Variants (docs/protocols.md): window release|switch-on|throughout|clone, noise independent|shared.
    patterns (F, C*H*W): also the projections of both final outputs on each feature, less `offsets` (F,)
    where given (empirical modes: (x - mean)·φ), (P, 2, F, T), and their sign agreement (P, F, T).
    fit=False: the outputs only, {t_int, scales, agreement[, projections, feature_agreement]} (no fits).
    """
    run = PairRun(loaded, g=g, n_pairs=n_pairs, num_steps=num_steps, seed=seed, sampler=sampler,
                  guidance_scale=guidance_scale, eps=eps, gate=gate, layers=layers, window=window, noise=noise,
                  clone=clone, batched=batched, labels=labels)
    if run.n_pairs < 2:
        raise InputError("n_pairs must be >= 2 for bootstrap intervals over pairs")
    if window == "throughout":
        if patterns is not None or not fit:
            raise InputError("patterns and fit=False read Protocol I's branches; the throughout window reads "
                             "onsets (dit_bridge.throughout.protocol_throughout(patterns=...))")
        return protocol_throughout(run, scales, n_boot, progress=progress)
    t_ints = _t_ints(run, t_ints, fit)
    scales = default_scales(min(loaded.sample_shape[1:])) if scales is None else list(scales)
    reads = {"agreement": lambda a, b: scale_agreement(a, b, scales)}
    if patterns is not None:
        shift = 0.0 if offsets is None else np.asarray(offsets)
        reads["projections"] = lambda a, b: feature_projections(a, b, patterns) - shift
    out = {"t_int": t_ints, "scales": scales, **read_branches(run, t_ints, reads, progress=progress)}
    if patterns is not None:
        proj = out["projections"]
        out["feature_agreement"] = (np.sign(proj[:, 0]) == np.sign(proj[:, 1])).astype(float)  # (P, F, T)
    return _fit_record(run, out, n_boot) if fit else out


def _t_ints(run: PairRun, t_ints: Iterable[int] | None, fit: bool) -> list[int]:
    """The sorted distinct t_int (default: 11 evenly over 0 .. num_steps); a fit needs 4, in switch-on 4 read."""
    num_steps = run.num_steps
    if t_ints is None:
        t_ints = np.unique(np.linspace(0, num_steps, min(num_steps + 1, 11)).round().astype(int))
    t_ints = sorted({check_int("t_int", t, 0, num_steps) for t in t_ints})
    if fit and len(t_ints) < 4:
        raise InputError(f"t_int: need at least 4 distinct values in [0, {num_steps}], got {t_ints}")
    read = [t for t in t_ints if run.window != "switch-on" or t < num_steps]
    if fit and len(read) < 4:
        raise InputError(f"t_int: the switch-on window reads t_int < num_steps={num_steps} only (at t_int = "
                         f"{num_steps} the pair is never coupled); need at least 4 such values, got {read}")
    return t_ints


def _fit_record(run: PairRun, out: dict, n_boot: int) -> dict:
    """Protocol I's record: the run's settings, the outputs and the commitment fits on the columns read."""
    t_ints, agree = out["t_int"], out["agreement"]
    # switch-on: the t_int = num_steps column (never coupled) is not read
    read = [i for i, t in enumerate(t_ints) if run.window != "switch-on" or t < run.num_steps]
    fits = commitment_fits(np.asarray(t_ints, float)[read], agree[:, :, read], out["scales"], n_boot=n_boot,
                           seed=run.seed, direction="falling" if run.window == "switch-on" else "rising")
    features = {k: out[k] for k in ("projections", "feature_agreement") if k in out}
    return {"protocol": "I", "model": run.loaded.name, "g": run.g, "gate": run.gate, "layers": run.layer_list,
            "sampler": run.sampler, "num_steps": run.num_steps, "guidance_scale": run.guidance_scale,
            "eps": 0.0 if run.window == "clone" else run.eps, "seed": run.seed, "n_pairs": run.n_pairs,
            "clone": run.clone, "window": run.window, "noise": run.noise,
            "labels": run.row_labels[:run.n_pairs].tolist(), "agreement": agree, **features, **fits,
            **gap_fields(fits)}


def protocol_two(loaded: LoadedDiT, g: float, *, n_pairs: int = 4, seed: int = 0, num_steps: int = 50,
                 sampler: str = "ddpm", guidance_scale: float = 1.0, labels: Labels = None, eps: float = 0.3,
                 gate: str = "paper", layers: Sequence[int] | None = None, g_schedule: GSchedule | None = None,
                 n_bands: int = 4, record_steps: Iterable[int] | None = None, progress: Progress = None) -> dict:
    """Per-layer, per-step common/difference energies, the difference's band shares, and the global share of
    each block's increment difference on the token DCT modes (`increment_share`, chance `increment_chance`).

    g_schedule overrides the constant g (values per step). Band shares are normalised per layer
    (they sum to 1); `diff_fraction` = diff / (common + diff) is the layer's normalised difference energy.
    """
    run = PairRun(loaded, g=g, n_pairs=n_pairs, num_steps=num_steps, seed=seed, sampler=sampler,
                  guidance_scale=guidance_scale, eps=eps, gate=gate, layers=layers, labels=labels)
    return _protocol_two(run, g_schedule, PairRecorder(loaded.model, n_bands, record_steps), progress)


def _protocol_two(run: PairRun, g_schedule: GSchedule | None, recorder: PairRecorder, progress: Progress) -> dict:
    """Protocol II of `run` with `recorder` on the blocks (the record of `protocol_two`)."""
    model = run.loaded
    mask = global_mode_mask(token_dct_basis(*token_grid(model.model))[1])
    state = run.start()
    run.couple()
    try:
        with recorder, BlockRecorder(model.model, mask) as blocks:
            hooks = StepHooks(run.g if g_schedule is None else g_schedule, Recorders(recorder, blocks), progress)
            run_pairs(model, run.scheduler(), state, run.row_labels, num_steps=run.num_steps,
                      guidance_scale=run.guidance_scale, hooks=hooks)
    finally:
        run.couple(False)
    r = recorder.result()
    inc = increment_shares(torch.stack([blocks.increments[int(s)] for s in r["steps"]]))  # (S, L, P)
    a, b = state.x.chunk(2)
    scales = default_scales(min(model.sample_shape[1:]))
    return {"protocol": "II", "model": model.name, "g": run.g, "gate": run.gate, "layers": run.layer_list,
            "sampler": run.sampler, "num_steps": run.num_steps, "guidance_scale": run.guidance_scale,
            "eps": run.eps, "seed": run.seed, "n_pairs": run.n_pairs,
            **r, "diff_fraction": r["diff"] / np.maximum(r["common"] + r["diff"], 1e-30),
            "increment_share": inc, "increment_chance": chance_share(mask),
            "final_scales": scales, "final_agreement": scale_agreement(a, b, scales)}


__all__ = ["window_branches", "read_branches", "protocol_one", "protocol_two"]
