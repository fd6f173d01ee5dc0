"""Protocol I's window "throughout" (docs/protocols.md): the pair coupled the whole run, onsets of its difference.

Per unit u (a pooled scale s, or a feature of `patterns`) the normalised replica difference of the states
along the run,
    q_u = sum_pairs |P_u(a - b)|^2 / sum_pairs (|P_u a|^2 + |P_u b|^2)     (0: identical, 1: uncorrelated),
and its onset (ou_models.variants.difference_onset); gap = onset(last unit) - onset(first unit) in sampler
steps (finest - coarsest scale, weakest - strongest feature), with percentile bootstrap intervals over pairs.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from syncgap.ou_models.estimators import bootstrap
from syncgap.ou_models.variants import difference_onset
from syncgap.theory.intervals import interval_fields

from .commitment import default_scales, feature_difference, gap_fields, pooled_difference

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from numpy.typing import ArrayLike

    from .pair_run import PairRun

    Progress = Callable[[int, int], object] | None


def protocol_throughout(run: PairRun, scales: Sequence[int] | None = None, n_boot: int = 200, level: float = 0.1,
                        patterns: ArrayLike | None = None, progress: Progress = None) -> dict:
    """Window "throughout" of `run`: per unit the onset of q (module docstring) with its interval, and the gap.

    Units: the pooled `scales` (default: 1, 2, 4, ... full size), or with `patterns` (F, C*H*W; e.g. the
    FHGM's features, strongest first) the features (commitment.feature_difference).
    """
    model = run.loaded
    scales = default_scales(min(model.sample_shape[1:])) if scales is None else list(scales)
    parts = throughout_parts(run, scales, patterns, progress)
    units = scales if patterns is None else list(range(len(patterns)))
    out = throughout_onsets(parts, units, n_boot=n_boot, seed=run.seed, level=level)
    return {"protocol": "I", "model": model.name, "g": run.g, "gate": run.gate, "layers": run.layer_list,
            "sampler": run.sampler, "num_steps": run.num_steps, "guidance_scale": run.guidance_scale,
            "eps": run.eps, "seed": run.seed, "n_pairs": run.n_pairs, "clone": False, "window": "throughout",
            "noise": run.noise, "level": level, "labels": run.row_labels[:run.n_pairs].tolist(),
            "scales": list(map(int, scales)) if patterns is None else None,
            "features": None if patterns is None else units, **out, **gap_fields(out)}


def throughout_parts(run: PairRun, scales: Sequence[int], patterns: ArrayLike | None = None,
                     progress: Progress = None) -> np.ndarray:
    """(pairs, 2, units, num_steps + 1): per pair and state of the run coupled throughout, the squared replica
    difference and the replicas' summed squared size per unit (pooled `scales`, or `patterns`' features)."""
    scheduler = run.scheduler()
    state = run.start()
    n_units = len(scales) if patterns is None else len(patterns)
    parts = np.empty((run.n_pairs, 2, n_units, run.num_steps + 1))   # (pairs, [diff, size], units, states)
    run.couple()
    try:
        for k in range(run.num_steps + 1):
            if k:
                run.advance(scheduler, state, k)
                if progress is not None:
                    progress(k, run.num_steps)
            a, b = state.x.chunk(2)
            parts[:, :, :, k] = (pooled_difference(a, b, scales) if patterns is None
                                 else feature_difference(a, b, patterns))
    finally:
        run.couple(False)
    return parts


def throughout_onsets(parts: np.ndarray, units: Sequence, *, n_boot: int, seed: int, level: float = 0.1) -> dict:
    """Onset per unit of q = sum over pairs of the difference / of the size (`difference_onset`) with bootstrap
    intervals over pairs, and gap = onset(last unit) - onset(first unit). parts as `throughout_parts`."""
    per_unit, q = [], normalised_difference(parts)
    for i, s in enumerate(units):
        idx, reason = difference_onset(q[i], level)
        iv = bootstrap(lambda u, i=i: unit_onset(u, i, level), parts, n_boot, seed=seed)
        per_unit.append({"scale": int(s), **interval_fields("onset", None if idx is None else float(idx),
                                                           iv.low if idx is not None else None,
                                                           iv.high if idx is not None else None, reason)})
    iv = bootstrap(lambda u: throughout_gap(u, level), parts, n_boot, seed=seed)
    return {"per_scale": per_unit, "normalised_difference": q,
            **interval_fields("gap", iv.estimate, iv.low, iv.high)}


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


__all__ = ["protocol_throughout", "throughout_parts", "throughout_onsets", "normalised_difference", "unit_onset",
           "throughout_gap"]
