"""Shared estimators: sigmoid fits recover known curves, bootstrap intervals cover."""
import numpy as np
import pytest

from syncgap.ou_models.estimators import (agreement_curve_ci, bootstrap, fit_sigmoid, level_crossing,
                                  mean_ci, sigmoid)
from syncgap.theory.checks import InputError


def test_fit_sigmoid_recovers_parameters_with_noise():
    rng = np.random.default_rng(0)
    x = np.linspace(0, 10, 60)
    y = sigmoid(x, 0.5, 1.0, 4.2, -0.6) + 0.01 * rng.standard_normal(x.size)
    fit = fit_sigmoid(x, y)
    assert fit.midpoint == pytest.approx(4.2, abs=0.1)
    assert (fit.lo, fit.hi) == (pytest.approx(1.0, abs=0.02), pytest.approx(0.5, abs=0.02))
    assert fit.width == pytest.approx(0.6, rel=0.15)  # canonical form of (0.5, 1.0, width -0.6)
    fixed = fit_sigmoid(x, y, lo=0.5, hi=1.0)
    assert fixed.midpoint == pytest.approx(4.2, abs=0.05)
    assert fixed.level_crossing(0.75) == pytest.approx(4.2, abs=0.05)
    assert fixed.level_crossing(1.2) is None


def test_level_crossing_linear_interpolation():
    assert level_crossing([0, 1, 2], [0.0, 0.5, 1.0], 0.75) == pytest.approx(1.5)
    assert level_crossing([0, 1, 2], [0.0, 0.1, 0.2], 0.75) is None


def test_bootstrap_interval_covers_true_mean():
    """Coverage of a 90% interval over 200 repetitions is near 90% (binomial bounds)."""
    rng = np.random.default_rng(1)
    covered = 0
    for i in range(200):
        s = rng.exponential(1.0, 80)
        iv = mean_ci(s, n_boot=300, level=0.9, seed=i)
        covered += iv.low <= 1.0 <= iv.high
    assert 0.80 <= covered / 200 <= 0.97


def test_agreement_band_and_bootstrap_of_crossing():
    rng = np.random.default_rng(2)
    t = np.linspace(0, 3, 31)
    p = sigmoid(t, 0.5, 1.0, 1.5, -0.2)
    agree = (rng.random((4000, t.size)) < p).astype(float)
    mean, lo, hi = agreement_curve_ci(agree, n_boot=200)
    assert np.all(lo <= mean) and np.all(mean <= hi)
    assert np.mean((lo <= p) & (p <= hi)) > 0.8
    iv = bootstrap(lambda u: level_crossing(t, u.mean(0), 0.75), agree, n_boot=100)
    assert iv.low <= 1.5 <= iv.high and iv.high - iv.low < 0.1


def test_estimators_reject_bad_input():
    with pytest.raises(InputError, match="same length"):
        fit_sigmoid([0, 1, 2], [0, 1])
    with pytest.raises(InputError, match="non-finite"):
        fit_sigmoid([0, 1, 2, 3], [0, np.nan, 1, 1])
    with pytest.raises(InputError, match="n_boot"):
        mean_ci(np.ones(5), n_boot=1)
