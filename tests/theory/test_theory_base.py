"""theory.base (docs/science.md §2) against independent computations."""
import math

import numpy as np
import pytest
import sympy as sp
from scipy import optimize
from scipy.stats import norm

from syncgap.theory import base
from syncgap.theory.checks import InputError
from syncgap.theory.data import two_gaussian_mixture


def test_speciation_time_is_half_log_lambda_and_matches_symbolic():
    f = next(x for x in base.formulas() if x.name == "speciation_time")
    for L in (0.5, 3.0, 1e4):
        assert base.speciation_time(L) == pytest.approx(float(f.expr.subs(sp.Symbol("Lambda", positive=True), L)))
        assert base.speciation_time(L) == pytest.approx(0.5 * math.log(L))
    np.testing.assert_allclose(base.speciation_time(np.array([4.0, 9.0])), np.log([2.0, 3.0]))


def test_pitchfork_time_vs_root_finding():
    for amp, s in ((10.0, 1.0), (3.0, 0.5), (2.0, 1.7)):
        kap = lambda t: amp**2 * math.exp(-2 * t) / (s * s * math.exp(-2 * t) - math.expm1(-2 * t)) - 1
        root = optimize.brentq(kap, 1e-9, 20)
        assert base.pitchfork_speciation_time(amp, s) == pytest.approx(root, rel=1e-9)
    assert base.pitchfork_speciation_time(math.sqrt(256), 1.0) == pytest.approx(0.5 * math.log(256))


def test_collapse_time_matches_biroli_form():
    for n, d, s in ((100, 2, 1.0), (10000, 32, 0.7)):
        assert base.collapse_time(n, d, s) == pytest.approx(0.5 * math.log(1 + s * s / (n ** (2 / d) - 1)))


def _agreement_by_grid(t, amp, s):
    """phi(t) by brute-force Bayes on a grid of y0 and y (no closed-form posterior used)."""
    e, dl = math.exp(-t), -math.expm1(-2 * t)
    y0 = np.linspace(-amp - 9 * s, amp + 9 * s, 3001)
    prior = 0.5 * (norm.pdf(y0, amp, s) + norm.pdf(y0, -amp, s))
    gam = s * s * e * e + dl
    y = np.linspace(-amp * e - 9 * math.sqrt(gam), amp * e + 9 * math.sqrt(gam), 2001)
    lik = norm.pdf(y[:, None], e * y0[None, :], math.sqrt(dl))          # (y, y0)
    joint = lik * prior
    p_plus = np.trapezoid(joint * (y0 > 0), y0, axis=1) / np.trapezoid(joint, y0, axis=1)
    py = np.trapezoid(joint, y0, axis=1)
    return np.trapezoid(py * (p_plus**2 + (1 - p_plus) ** 2), y)


@pytest.mark.parametrize("t,amp,s", [(0.3, 2.0, 1.0), (1.0, 3.0, 1.0), (2.0, 10.0, 1.0), (0.8, 1.5, 0.5)])
def test_cloning_agreement_vs_brute_force_integration(t, amp, s):
    assert base.cloning_agreement(t, amp, s) == pytest.approx(_agreement_by_grid(t, amp, s), abs=2e-4)


def test_cloning_agreement_vs_reverse_sde_monte_carlo():
    """Clone a reverse-SDE trajectory at t with the exact score of theory/data.py (1-D projection)."""
    rng = np.random.default_rng(0)
    amp, s, t_clone, n, dt = 2.0, 1.0, 0.8, 6000, 0.004
    mix = two_gaussian_mixture(1, s)
    mix = type(mix)(mix.patterns, np.array([amp]), s, (1,))
    x0 = mix.sample(n, rng)
    xt = math.exp(-t_clone) * x0 + math.sqrt(-math.expm1(-2 * t_clone)) * rng.standard_normal(x0.shape)
    clones = np.concatenate([xt, xt])
    grid = np.arange(t_clone, 0, -dt)
    for tk in grid:
        h = min(dt, tk - 1e-4) if tk - dt < 1e-4 else dt
        clones = clones + (clones + 2 * mix.score(clones, tk)) * h + math.sqrt(2 * h) * rng.standard_normal(clones.shape)
    agree = np.mean(np.sign(clones[:n, 0]) == np.sign(clones[n:, 0]))
    pred = base.cloning_agreement(t_clone, amp, s)
    assert abs(agree - pred) < 4 * math.sqrt(pred * (1 - pred) / n) + 0.01


def test_per_feature_agreement_is_per_amplitude():
    ts = [0.5, 2.0]
    out = base.cloning_agreement_features(ts, [6.0, 1.5], 0.5)
    assert out.shape == (2, 2)
    np.testing.assert_allclose(out[:, 1], base.cloning_agreement(np.array(ts), 1.5, 0.5))
    assert np.all(out[:, 0] >= out[:, 1])                  # the strong feature is committed longer


def test_bad_inputs_name_argument():
    with pytest.raises(InputError, match=r"Lambda=0 is outside the allowed range \(0, inf\)"):
        base.speciation_time(0.0)
    with pytest.raises(InputError, match="NaN"):
        base.speciation_time(float("nan"))
    with pytest.raises(InputError, match="n=1 is outside"):
        base.collapse_time(1, 4, 1.0)
    with pytest.raises(InputError, match=r"t=0 is outside the allowed range \[1e-100, 1e\+100\]"):
        base.cloning_agreement(0.0, 1.0, 1.0)
    with pytest.raises(InputError, match="amplitude"):
        base.cloning_agreement(1.0, -1.0, 1.0)
