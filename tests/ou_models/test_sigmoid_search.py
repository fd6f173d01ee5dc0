"""The Numba grid search of the bounded sigmoid fit (ou_models.sigmoid_search) against an independent
NumPy brute force of the same search: every cell's residual computed from the clipped logistic directly
(no factored exponentials, no u = e s), sums by NumPy, best cell by argmin."""
from __future__ import annotations

import numpy as np
import pytest

from syncgap.ou_models.estimators import fit_sigmoid_bounded, sigmoid


def reference_fit(x, y, pad=0.25, ceiling=None):
    """(lo, hi, mid, width, rms) by the same grid and refinements, written with whole-grid NumPy arrays."""
    order = np.argsort(x)
    x, y = np.asarray(x, float)[order], np.asarray(y, float)[order]
    span, y_range = x[-1] - x[0], y.max() - y.min()
    box = (y.min() - pad * y_range, y.max() + pad * y_range)
    if ceiling is not None:
        box = (box[0], max(min(box[1], ceiling), y.max()))
    mid_box, lw_box = (x[0] - span / 4, x[-1] + span / 4), (np.log(span / 200), np.log(span / 2))
    mids, lws = np.linspace(*mid_box, 61), np.linspace(*lw_box, 16)
    for _ in range(4):
        z = np.clip((x[None, None] - mids[:, None, None]) / np.exp(lws)[None, :, None], -60, 60)
        s = 1 / (1 + np.exp(-z))                                               # (M, W, T)
        u = 1 - s
        suu, sus, sss = (u * u).sum(-1), (u * s).sum(-1), (s * s).sum(-1)
        suy, ssy = (u * y).sum(-1), (s * y).sum(-1)
        det = suu * sss - sus ** 2
        ok = det > 1e-12 * np.maximum(suu * sss, 1e-300)                         # singular cells never win
        lo = np.clip((sss * suy - sus * ssy) / np.where(ok, det, 1.0), *box)
        hi = np.clip((ssy - lo * sus) / np.maximum(sss, 1e-300), *box)
        lo = np.clip((suy - hi * sus) / np.maximum(suu, 1e-300), *box)
        sse = np.where(ok, ((y - lo[..., None] * u - hi[..., None] * s) ** 2).sum(-1), np.inf)
        i, j = np.unravel_index(np.argmin(sse), sse.shape)
        best = lo[i, j], hi[i, j], mids[i], lws[j], sse[i, j]
        d_mid, d_lw = mids[1] - mids[0], lws[1] - lws[0]
        mids = np.clip(np.linspace(mids[i] - 1.5 * d_mid, mids[i] + 1.5 * d_mid, 13), *mid_box)
        lws = np.clip(np.linspace(lws[j] - 1.5 * d_lw, lws[j] + 1.5 * d_lw, 13), *lw_box)
    lo, hi, mid, lw, sse = best
    return lo, hi, mid, np.exp(lw), np.sqrt(sse / x.size)


def curves(seed, n):
    """Agreement-like curves: rising, falling, saturated inside or beyond the range, flat, noisy, few points."""
    rng = np.random.default_rng(seed)
    for k in range(n):
        T = int(rng.choice([4, 7, 15, 30]))
        x = np.sort(rng.uniform(0, 50, T)) if k % 3 == 0 else np.linspace(1.0, 49.0, T)
        lo, hi = rng.uniform(0.3, 0.7), rng.uniform(0.6, 1.0)
        if k % 4 == 1:
            lo, hi = hi, lo
        mid, width = rng.uniform(-20, 70), np.exp(rng.uniform(-2, 3))
        noise = [0.0, 0.01, 0.1][k % 3]
        y = sigmoid(x, lo, hi, mid, width) + rng.normal(0, noise, T)
        if k % 11 == 0:
            y = np.full(T, 0.6) + rng.normal(0, 0.02, T)
        yield x, np.clip(y, 0, 1)


@pytest.mark.parametrize("ceiling", [None, 1.0])
def test_the_kernel_finds_the_brute_force_fit(ceiling):
    """Same cell wherever the fit is identified; elsewhere (a step steeper than the narrowest width, whose
    midpoint may sit anywhere between two points, or an exact curve with several exact cells) a cell that
    fits exactly as well."""
    identified = 0
    for x, y in curves(1, 150):
        fit = fit_sigmoid_bounded(x, y, ceiling=ceiling)
        lo, hi, mid, width, rms = reference_fit(x, y, ceiling=ceiling)
        assert abs(fit.rms_residual - rms) <= 1e-9
        if width > 2 * (x.max() - x.min()) / 200 and rms > 1e-6:
            identified += 1
            assert fit.midpoint == mid and fit.width == width
            assert fit.lo == pytest.approx(lo, abs=1e-9) and fit.hi == pytest.approx(hi, abs=1e-9)
    assert identified >= 60


def test_the_kernel_recovers_an_exact_curve_to_the_grid_resolution():
    x = np.linspace(0.0, 30.0, 16)
    fit = fit_sigmoid_bounded(x, sigmoid(x, 0.5, 0.95, 12.3, 1.7))
    assert fit.midpoint == pytest.approx(12.3, abs=30 * 1.5 / 60 / 4 ** 3 * 2)
    assert fit.width == pytest.approx(1.7, rel=0.02)
    assert fit.rms_residual < 1e-3


def test_a_saturated_curve_keeps_finite_asymptotes():
    """A step inside the range: the fit sits at the step with the plateaus as its asymptotes."""
    x = np.linspace(0.0, 100.0, 30)
    y = np.where(x < 50.0, 0.5, 1.0)
    fit = fit_sigmoid_bounded(x, y, ceiling=1.0)
    assert np.isfinite([fit.lo, fit.hi, fit.midpoint, fit.width, fit.rms_residual]).all()
    assert 48.0 < fit.midpoint < 52.0 and fit.lo == pytest.approx(0.5, abs=0.01) and fit.hi == pytest.approx(1.0, abs=0.01)
