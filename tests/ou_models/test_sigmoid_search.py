"""The Numba grid search of the bounded sigmoid fit (ou_models.sigmoid_search) against an independent
NumPy brute force of the same search (ou_models.reference.bounded_sigmoid_search): every cell's residual
computed from the clipped logistic directly (no factored exponentials, no u = e s), sums by NumPy."""
from __future__ import annotations

import numpy as np
import pytest

from syncgap.ou_models.estimators import fit_sigmoid_bounded, sigmoid
from syncgap.ou_models.reference import bounded_sigmoid_search as reference_fit


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
