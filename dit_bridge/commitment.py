"""Commitment per spatial scale from Protocol I outputs (docs/science.md §5): agreement, sigmoid fits, tau_spec, gap.

Per-scale agreement of a pair's final outputs a, b (C, H, W), with P_s adaptive average pooling to s x s:
    agreement_s = 1 - |P_s(a - b)|^2 / (|P_s a|^2 + |P_s b|^2)
1 for identical outputs, 0 for uncorrelated zero-mean ones, -1 for a = -b. Against the number of
coupled steps t_int it rises once scale s has committed while the pair was coupled; a logistic
fit with all four parameters fitted inside a bounded box (ou_models.estimators.fit_sigmoid_bounded)
gives the midpoint tau_spec(s), the t_int at which agreement is halfway between the fitted
asymptotes. The asymptotes are fitted, not fixed at the curve's first and last values: a single
noisy end point (0.3 where the plateau is 0.5) or an end that has not yet reached its plateau
would otherwise move the halfway level and the midpoint with it (tests/dit_bridge/test_commitment_fit.py);
the box keeps the fit well posed whether or not the curve saturates inside the t_int range.
gap = tau_spec(finest) - tau_spec(coarsest): local detail commits after global structure if > 0.
Intervals are percentile bootstraps over pairs (seeds) through ou_models.estimators.bootstrap.
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from syncgap.ou_models.estimators import bootstrap, fit_sigmoid_bounded, gap_statistic
from syncgap.theory.checks import InputError, check_array, check_choice, check_int
from syncgap.theory.intervals import interval_fields, read_interval

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike

    from syncgap.ou_models.estimators import SigmoidFit


def default_scales(size: int) -> list[int]:
    """1, 2, 4, ... up to the full resolution `size` (always included)."""
    size = check_int("size", size, 1)
    out, s = [], 1
    while s < size:
        out.append(s)
        s *= 2
    return out + [size]


def pooled_difference(a: torch.Tensor, b: torch.Tensor, scales: Sequence[int]) -> np.ndarray:
    """(M, 2, n_scales): |P_s(a - b)|^2 and |P_s a|^2 + |P_s b|^2 of pairs a, b (M, C, H, W) per pooled size s."""
    if a.shape != b.shape or a.ndim != 4:
        raise InputError(f"outputs must be two (M, C, H, W) tensors of one shape, got {tuple(a.shape)}, {tuple(b.shape)}")
    a, b = a.double(), b.double()
    cols = []
    for s in scales:
        s = check_int("scale", s, 1, min(a.shape[-2:]))
        pa, pb = F.adaptive_avg_pool2d(a, s), F.adaptive_avg_pool2d(b, s)
        cols.append(torch.stack([(pa - pb).pow(2).sum((1, 2, 3)), (pa.pow(2) + pb.pow(2)).sum((1, 2, 3))], 1))
    return torch.stack(cols, 2).numpy()


def feature_projections(a: torch.Tensor, b: torch.Tensor, patterns: ArrayLike) -> np.ndarray:
    """(M, 2, F): phi_f.a and phi_f.b of pairs a, b (M, C, H, W) on each row phi_f of `patterns` (F, C*H*W),
    e.g. the FHGM's DCT features (theory.data.frequency_hierarchy_mixture)."""
    if a.shape != b.shape or a.ndim != 4:
        raise InputError(f"outputs must be two (M, C, H, W) tensors of one shape, got {tuple(a.shape)}, {tuple(b.shape)}")
    phi = check_array("patterns", patterns, ndim=2)
    if phi.shape[1] != a[0].numel():
        raise InputError(f"patterns must have {a[0].numel()} columns (C*H*W), got {phi.shape[1]}")
    return torch.stack([a, b], 1).reshape(a.shape[0], 2, -1).double().numpy() @ phi.T  # (M, 2, F)


def feature_agreement(a: torch.Tensor, b: torch.Tensor, patterns: ArrayLike) -> np.ndarray:
    """(M, F): 1 where a and b project on feature phi_f with the same sign, else 0 (`feature_projections`)."""
    y = feature_projections(a, b, patterns)
    return (np.sign(y[:, 0]) == np.sign(y[:, 1])).astype(float)


def feature_difference(a: torch.Tensor, b: torch.Tensor, patterns: ArrayLike) -> np.ndarray:
    """(M, 2, F): (phi_f.(a - b))^2 and (phi_f.a)^2 + (phi_f.b)^2 of pairs a, b (`feature_projections`)."""
    y = feature_projections(a, b, patterns)
    ya, yb = y[:, 0], y[:, 1]  # (M, F)
    return np.stack([(ya - yb) ** 2, ya ** 2 + yb ** 2], 1)


def scale_agreement(a: torch.Tensor, b: torch.Tensor, scales: Sequence[int]) -> np.ndarray:
    """(M, n_scales) agreement_s of pairs a, b (M, C, H, W) at each pooled size s in `scales`."""
    parts = pooled_difference(a, b, scales)
    return 1.0 - parts[:, 0] / np.maximum(parts[:, 1], 1e-300)


def agreement_fit(t_int: ArrayLike, curve: ArrayLike) -> SigmoidFit:
    """Logistic fit of agreement vs t_int, asymptotes fitted in a bounded box (fit_sigmoid_bounded):
    lo = the plateau before the rise (t_int -> first), hi = the one after (hi < lo for a falling curve);
    neither above 1, the largest agreement there is. Memoised on the two arrays' float64 bytes (`_fit_of`)."""
    t = np.ascontiguousarray(t_int, dtype=float)
    c = np.ascontiguousarray(curve, dtype=float)
    if t.ndim != 1 or c.ndim != 1:
        return fit_sigmoid_bounded(t, c, ceiling=1.0)   # its own error names the argument
    return _fit_of(t.tobytes(), c.tobytes())


@functools.lru_cache(maxsize=1 << 17)
def _fit_of(t_bytes: bytes, curve_bytes: bytes) -> SigmoidFit:
    """agreement_fit of one (t_int, curve), computed once per process: an analysis meets the same bootstrap
    replicate curves in several places (commitment fits, gap readings, ratio, collapse and joint intervals; on
    the demo's fhgm 45,440 fits of 14,660 distinct curves). The fit is deterministic and SigmoidFit frozen."""
    return fit_sigmoid_bounded(np.frombuffer(t_bytes), np.frombuffer(curve_bytes), ceiling=1.0)


def commitment_time(t_int: ArrayLike, curve: ArrayLike, min_contrast: float = 0.05,
                    direction: str = "rising") -> float | None:
    """Midpoint of the agreement fit; None if the curve does not rise (direction "rising", the release
    window) or fall ("falling", the switch-on window) by min_contrast from first to last t_int: a flat
    curve has no midpoint at any number of pairs, so its commitment time (and any gap built on it) is
    not measurable (n/a), not imprecise."""
    curve = np.asarray(curve, dtype=float)
    check_choice("direction", direction, ("rising", "falling"))
    sign = 1.0 if direction == "rising" else -1.0
    if (curve[-1] - curve[0]) * sign < min_contrast:
        return None
    fit = agreement_fit(t_int, curve)
    return fit.midpoint if (fit.hi - fit.lo) * sign > 0 else None   # a fit running the other way has no midpoint


def commitment_fits(t_int: ArrayLike, agreement: ArrayLike, scales: Sequence[int], n_boot: int = 200,
                    level: float = 0.95, seed: int = 0, min_contrast: float = 0.05, direction: str = "rising") -> dict:
    """tau_spec per scale and the gap, with bootstrap intervals over pairs.

    agreement: (n_pairs, n_scales, n_t_int). Returns a plain record with the mean curves, the
    fitted sigmoid per scale, tau_spec per scale (`tau`, `tau_low`, `tau_high`) and the gap (finest - coarsest:
    `gap`, `gap_low`, `gap_high`; theory.intervals).
    """
    t = check_array("t_int", t_int, ndim=1)
    a = check_array("agreement", agreement, ndim=3)
    if a.shape[1] != len(scales) or a.shape[2] != t.size:
        raise InputError(f"agreement must be (pairs, {len(scales)} scales, {t.size} t_int), got {a.shape}")
    if t.size < 4:
        raise InputError(f"t_int: need at least 4 values for a sigmoid fit, got {t.size}")
    order = np.argsort(t)
    t, a = t[order], a[:, :, order]
    curves = a.mean(0)
    fits = [agreement_fit(t, c) for c in curves]
    per_scale = []
    for i, s in enumerate(scales):
        interval = bootstrap(lambda u, i=i: commitment_time(t, u[:, i].mean(0), min_contrast, direction), a, n_boot,
                             level, seed)
        inside = bool(np.isfinite(interval.estimate) and t[0] <= interval.estimate <= t[-1])
        per_scale.append({"scale": int(s), **interval_fields("tau", interval.estimate, interval.low, interval.high),
                          "in_range": inside,
                          "fit": {"lo": fits[i].lo, "hi": fits[i].hi, "midpoint": fits[i].midpoint,
                                  "width": fits[i].width, "rms_residual": fits[i].rms_residual}})

    gap = gap_statistic(lambda u: commitment_time(t, u[:, -1].mean(0), min_contrast, direction),
                        lambda u: commitment_time(t, u[:, 0].mean(0), min_contrast, direction))
    g = bootstrap(gap, a, n_boot, level, seed)
    return {"t_int": t, "scales": list(map(int, scales)), "curves": curves,
            "curve_sem": a.std(0, ddof=1) / np.sqrt(a.shape[0]) if a.shape[0] > 1 else np.zeros_like(curves),
            "per_scale": per_scale, **interval_fields("gap", g.estimate, g.low, g.high),
            "n_pairs": int(a.shape[0]), "n_boot": int(n_boot), "level": level}


def gap_fields(fits: dict) -> dict:
    """The gap of `fits` in sampler steps as flat fields (docs/json.md): value, interval, reason when null."""
    est, lo, hi, _ = read_interval(fits, "gap")
    ok = est is not None and np.isfinite(est)
    return interval_fields("gap_steps", float(est) if ok else None,
                           float(lo) if ok and lo is not None and np.isfinite(lo) else None,
                           float(hi) if ok and hi is not None and np.isfinite(hi) else None,
                           None if ok else "a scale has no commitment time (flat agreement curve or no onset)")
