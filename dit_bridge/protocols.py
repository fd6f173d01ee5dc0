"""Protocols I (behavioural) and II (internal) on a coupled DiT (docs/science.md §5). Plain records out.

Protocol I: one noise draw per pair, split antisymmetrically (variance preserving); the pair is
coupled with strength g for the first t_int sampler steps, then runs independently. The coupled
prefix is computed once and branched at every t_int (state + generator snapshots), so the noise
of each replica is the same for every t_int and every g. Final outputs -> per-scale agreement
-> tau_spec per scale and the gap (commitment.py).

Protocol II: the pair runs coupled (constant g or a schedule) with hooks on every block that
reduce the replica difference on the fly: common/difference energies per layer and step, and the
difference's shares in radial frequency bands and in groups of empirical modes (recording.py).
"""
from __future__ import annotations

import numpy as np
import torch

from syncgap.theory.checks import InputError, check_int, check_real

from .commitment import commitment_fits, default_scales, scale_agreement
from .coupling import check_g, remove_coupling, set_coupling
from .recording import ModeCalibrator, PairRecorder
from .sampling import (GUIDANCE_MAX, PairState, antisymmetric_noise, check_labels, make_scheduler, row_generators,
                       row_seed, run_pairs)


def pair_labels(rec, labels, n_pairs, seed):
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


def protocol_one_branches(rec, g: float, t_ints, labels, *, n_pairs: int, seed: int, num_steps: int,
                          sampler: str = "ddpm", guidance_scale: float = 1.0, eps: float = 0.3,
                          gate: str = "paper", layers=None, clone: bool = False):
    """Yield (i, t_int, a, b) for each t_int: the pair's final outputs a, b (P, C, H, W) after coupling
    for the first t_int steps and running independently afterwards (arguments already checked).

    The coupled prefix is run once and branched at every t_int, so each replica's noise is the same
    for every t_int and every g; the model's processors are restored however the loop ends.
    """
    x_a, x_b = antisymmetric_noise(rec.sample_shape, n_pairs, seed, 0.0 if clone else eps)
    sched = make_scheduler(rec, sampler)
    gens = row_generators(seed, n_pairs)
    if clone:  # B's generators start as copies of A's: identical noise until the split
        gens = gens[:n_pairs] + [torch.Generator().set_state(gn.get_state()) for gn in gens[:n_pairs]]
    state = PairState(torch.cat([x_a, x_b]).float(), 0, gens)
    kw = dict(num_steps=num_steps, guidance_scale=guidance_scale)
    set_coupling(rec.model, g, layers, gate)
    try:
        for i, t_int in enumerate(t_ints):
            run_pairs(rec, sched, state, labels, stop=t_int, g_schedule=g, **kw)  # coupled prefix, shared
            branch = state.snapshot()
            if clone:  # the clones split here: B continues on fresh noise
                branch.generators[n_pairs:] = [torch.Generator().manual_seed(row_seed(seed, j, 1, 100 + t_int))
                                               for j in range(n_pairs)]
            remove_coupling(rec.model)  # independent tail: stock processors
            branch = run_pairs(rec, sched, branch, labels, **kw)
            set_coupling(rec.model, g, layers, gate)
            a, b = branch.x.chunk(2)
            yield i, t_int, a, b
    finally:
        remove_coupling(rec.model)


def protocol_one(rec, g: float, t_ints=None, *, n_pairs: int = 8, seed: int = 0, num_steps: int = 50,
                 sampler: str = "ddpm", guidance_scale: float = 1.0, labels=None, eps: float = 0.3,
                 gate: str = "paper", layers=None, scales=None, n_boot: int = 200, clone: bool = False,
                 progress=None) -> dict:
    """Agreement per scale against t_int and the commitment fits (tau_spec per scale, gap).

    clone=True is the cloning (U-turn) variant of docs/science.md §2: eps = 0 and B shares A's per-step
    noise for the first t_int steps (one trajectory, whatever g), then B draws fresh noise; it
    measures commitment at g = 0, where the coupled protocol has nothing to switch off. DDPM only.
    """
    g, num_steps, n_pairs, guidance_scale = _check_common(rec, g, num_steps, n_pairs, guidance_scale)
    if clone and sampler != "ddpm":
        raise InputError("clone=True needs the stochastic ddpm sampler (deterministic clones never split)")
    if n_pairs < 2:
        raise InputError("n_pairs must be >= 2 for bootstrap intervals over pairs")
    if t_ints is None:
        t_ints = np.unique(np.linspace(0, num_steps, min(num_steps + 1, 11)).round().astype(int))
    t_ints = sorted({check_int("t_int", t, 0, num_steps) for t in t_ints})
    if len(t_ints) < 4:
        raise InputError(f"t_int: need at least 4 distinct values in [0, {num_steps}], got {t_ints}")
    scales = default_scales(min(rec.sample_shape[1:])) if scales is None else list(scales)
    lab = pair_labels(rec, labels, n_pairs, seed)
    agree = np.empty((n_pairs, len(scales), len(t_ints)))
    for i, _, a, b in protocol_one_branches(rec, g, t_ints, lab, n_pairs=n_pairs, seed=seed, num_steps=num_steps,
                                            sampler=sampler, guidance_scale=guidance_scale, eps=eps, gate=gate,
                                            layers=layers, clone=clone):
        agree[:, :, i] = scale_agreement(a, b, scales)
        if progress is not None:
            progress(i + 1, len(t_ints))
    fits = commitment_fits(np.asarray(t_ints, float), agree, scales, n_boot=n_boot, seed=seed)
    return {"protocol": "I", "model": rec.name, "g": g, "gate": gate, "layers": layers, "sampler": sampler,
            "num_steps": num_steps, "guidance_scale": guidance_scale, "eps": eps, "seed": seed,
            "n_pairs": n_pairs, "clone": clone, "labels": lab[:n_pairs].tolist(), "agreement": agree, **fits}


def empirical_modes(rec, *, n_pairs: int = 2, seed: int = 10_000, num_steps: int = 50, sampler: str = "ddpm",
                    guidance_scale: float = 1.0, labels=None) -> torch.Tensor:
    """(L, T, T) per-layer spatial modes from an uncoupled calibration run (its own seeds)."""
    _check_common(rec, 0.0, num_steps, n_pairs, guidance_scale)
    remove_coupling(rec.model)
    x_a, x_b = antisymmetric_noise(rec.sample_shape, n_pairs, seed, 1.0)  # two independent draws
    lab = pair_labels(rec, labels, n_pairs, seed)
    state = PairState(torch.cat([x_a, x_b]).float(), 0, row_generators(seed, n_pairs))
    with ModeCalibrator(rec.model) as cal:
        run_pairs(rec, make_scheduler(rec, sampler), state, lab, num_steps=num_steps,
                  guidance_scale=guidance_scale, recorder=cal)
    return cal.modes()


def protocol_two(rec, g: float, *, n_pairs: int = 4, seed: int = 0, num_steps: int = 50, sampler: str = "ddpm",
                 guidance_scale: float = 1.0, labels=None, eps: float = 0.3, gate: str = "paper", layers=None,
                 g_schedule=None, n_bands: int = 4, modes=None, mode_groups: int = 4, record_steps=None,
                 progress=None) -> dict:
    """Per-layer, per-step common/difference energies and the difference's band and mode shares.

    modes: (L, T, T) basis, or None to calibrate one with `empirical_modes` (uncoupled, other seeds).
    g_schedule overrides the constant g (values per step). Per-layer shares are normalised per layer
    (they sum to 1); `diff_fraction` = diff / (common + diff) is the layer's normalised difference energy.
    """
    g, num_steps, n_pairs, guidance_scale = _check_common(rec, g, num_steps, n_pairs, guidance_scale)
    if modes is None:
        modes = empirical_modes(rec, num_steps=num_steps, sampler=sampler, guidance_scale=guidance_scale)
    lab = pair_labels(rec, labels, n_pairs, seed)
    x_a, x_b = antisymmetric_noise(rec.sample_shape, n_pairs, seed, eps)
    set_coupling(rec.model, g, layers, gate)
    state = PairState(torch.cat([x_a, x_b]).float(), 0, row_generators(seed, n_pairs))
    recorder = PairRecorder(rec.model, n_bands, modes, mode_groups, record_steps)
    with recorder:
        run_pairs(rec, make_scheduler(rec, sampler), state, lab, num_steps=num_steps, guidance_scale=guidance_scale,
                  g_schedule=g if g_schedule is None else g_schedule, recorder=recorder, progress=progress)
    remove_coupling(rec.model)
    r = recorder.result()
    a, b = state.x.chunk(2)
    scales = default_scales(min(rec.sample_shape[1:]))
    return {"protocol": "II", "model": rec.name, "g": g, "gate": gate, "layers": layers, "sampler": sampler,
            "num_steps": num_steps, "guidance_scale": guidance_scale, "eps": eps, "seed": seed, "n_pairs": n_pairs,
            **r, "diff_fraction": r["diff"] / np.maximum(r["common"] + r["diff"], 1e-30),
            "final_scales": scales, "final_agreement": scale_agreement(a, b, scales)}
