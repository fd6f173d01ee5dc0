"""theory.gated (layer B, docs/science.md §4) against finite-difference linearisations of the exact gated drift."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import optimize

from syncgap.theory import base, gated
from syncgap.theory.checks import InputError
from syncgap.theory.data import SignFeatureMixture


def _gated_drift(D, xA, xB, t, g, dynamics):
    """Reverse-time drift of replica A with the gate on the posterior mean D (docs/science.md §4)."""
    k = 1 if dynamics == "ode" else 2
    DA = (D(xA, t) + g * D(xB, t)) / (1 + g)
    return xA + k * (math.exp(-t) * DA - xA) / (-math.expm1(-2 * t))


def _fd_rate(D, x, direction, t, g, dynamics, h=1e-5):
    xA, xB = x + h * direction / 2, x - h * direction / 2
    fA = _gated_drift(D, xA, xB, t, g, dynamics)
    fB = _gated_drift(D, xB, xA, t, g, dynamics)
    return float((fA - fB) @ direction / h)


def _gauss_posterior_mean(lams):
    """E[x_0 | x_t] for N(0, diag(lams)) from the joint Gaussian (regression), not from the formula."""
    def D(x, t):
        e = math.exp(-t)
        cov_x0xt = e * np.diag(lams)
        cov_xt = e * e * np.diag(lams) + (-math.expm1(-2 * t)) * np.eye(len(lams))
        return cov_x0xt @ np.linalg.solve(cov_xt, x)
    return D


@pytest.mark.parametrize("dynamics", ["ode", "sde"])
def test_gaussian_growth_rate_vs_fd_linearisation(dynamics):
    lams = np.array([30.0, 2.0, 0.3])
    D = _gauss_posterior_mean(lams)
    x = np.array([0.4, -1.0, 0.2])
    for t in (0.1, 0.8, 2.5):
        for g in (0.0, 0.3, 2.0):
            for k, lam in enumerate(lams):
                ek = np.eye(3)[k]
                assert gated.difference_growth_rate(t, g, lam, dynamics) == pytest.approx(
                    _fd_rate(D, x, ek, t, g, dynamics), rel=1e-6, abs=1e-7)


def _mixture(amp, s):
    return SignFeatureMixture(np.eye(3)[:1], np.array([amp]), s, (3,))


def _fd_undecided_rate(amp, s, t, g, dynamics):
    mix = _mixture(amp, s)
    return _fd_rate(mix.posterior_mean, np.zeros(3), np.eye(3)[0], t, g, dynamics)


@pytest.mark.parametrize("amp,s,g", [(20.0, 1.0, 0.0), (20.0, 1.0, 0.5), (4.0, 1.0, 0.2), (6.0, 0.5, 0.3)])
def test_sde_onset_vs_brentq_on_exact_drift(amp, s, g):
    t_on = gated.gated_speciation_time(g, amp, s, "sde")
    f = lambda t: _fd_undecided_rate(amp, s, t, g, "sde")
    assert f(t_on + 0.05) < 0 < f(t_on - 0.05)      # stable before (larger t), unstable after
    root = optimize.brentq(f, t_on - 0.05, t_on + 0.05, xtol=1e-12)
    assert t_on == pytest.approx(root, abs=1e-6)


@pytest.mark.parametrize("g", [0.0, 0.5, 0.9])
def test_onset_at_extreme_scales_follows_the_scale_invariance(g):
    # For sigma -> inf the onset sits at e^{-2t} ~ 1/sigma^2, where Delta_t = 1: with a = 10 sigma the
    # problem is invariant under sigma -> c sigma, t -> t + log c. The cubic's float roots lose this
    # beyond ~1e20 (coefficients span hundreds of decades); the result must not.
    shifted = []
    for s in (1e8, 1e30, 1e60, 1e98):
        t_on = gated.gated_speciation_time(g, 10 * s, s, "sde")
        assert t_on is not None
        r = [gated.undecided_growth_rate(t_on * (1 + e), g, 10 * s, s, "sde") for e in (1e-6, -1e-6)]
        assert r[0] < 0 < r[1]                                  # stable before, unstable after
        shifted.append(t_on - math.log(s))
    assert np.ptp(shifted) < 1e-6
    assert gated.gated_speciation_time(10.0, 10.0, 1.0) is None     # rho < 0: r_SDE < -1 everywhere


def test_g_zero_reductions():
    for amp, s in ((20.0, 1.0), (4.0, 1.0), (5.0, 0.6)):
        assert gated.gated_speciation_time(0.0, amp, s, "ode") == pytest.approx(base.pitchfork_speciation_time(amp, s))
    for amp in (20.0, 4.0):                          # sigma = 1: exactly 1/2 log(2 a^2)
        assert gated.gated_speciation_time(0.0, amp, 1.0, "sde") == pytest.approx(0.5 * math.log(2 * amp**2))
    assert gated.growth_sign_change_time(0.0, 10.0, "ode") is None
    assert gated.growth_sign_change_time(0.0, 10.0, "sde") == pytest.approx(0.5 * math.log(9.0))
    assert gated.routing_factor(0.0) == 1.0


def test_ode_pitchfork_vs_brentq():
    amp, s, g = 8.0, 0.7, 0.4
    rho = gated.routing_factor(g)
    mix = _mixture(amp, s)
    h = 1e-6
    slope = lambda t: math.exp(-t) * (mix.posterior_mean(np.array([h, 0, 0]), t)[0]
                                      - mix.posterior_mean(np.array([-h, 0, 0]), t)[0]) / (2 * h)
    t_on = gated.gated_speciation_time(g, amp, s, "ode")
    root = optimize.brentq(lambda t: rho * slope(t) - 1, t_on - 0.1, t_on + 0.1, xtol=1e-12)
    assert t_on == pytest.approx(root, abs=1e-6)


@settings(max_examples=30, deadline=None)
@given(g=st.floats(0.01, 0.9), lam=st.floats(1.5, 500.0), dyn=st.sampled_from(["ode", "sde"]))
def test_sign_change_is_a_root_with_sign_flip(g, lam, dyn):
    ts = gated.growth_sign_change_time(g, lam, dyn)
    if ts is None:
        grid = np.geomspace(1e-3, 15, 400)
        r = gated.difference_growth_rate(grid, g, lam, dyn)
        assert np.all(r < 0) or np.all(r > 0)
        return
    eps = 1e-4 * max(ts, 1e-2)
    r_hi, r_lo = gated.difference_growth_rate(ts + eps, g, lam, dyn), gated.difference_growth_rate(ts - eps, g, lam, dyn)
    assert r_hi * r_lo < 0
    assert abs(gated.difference_growth_rate(ts, g, lam, dyn)) < 1e-6


@settings(max_examples=25, deadline=None)
@given(g=st.floats(0.0, 50.0), lam=st.floats(0.05, 1e3), t=st.floats(1e-3, 10.0))
def test_no_routing_no_growth(g, lam, t):
    """rho <= 0 (g >= 1): the ODE and SDE difference always contracts for Gaussian data."""
    if gated.routing_factor(g) <= 0:
        assert gated.difference_growth_rate(t, g, lam, "ode") < 0
        assert gated.difference_growth_rate(t, g, lam, "sde") < 0
        assert gated.gated_speciation_time(g, math.sqrt(lam) + 0.1, 1.0, "sde") is None


def test_gap_g_dependence_record():
    """Large amplitudes: onsets shift by about 1/2 log(2 rho), the gap stays near log(a1/a2)."""
    r0 = gated.gated_gap(0.0, [200.0, 40.0], 1.0)
    r5 = gated.gated_gap(0.5, [200.0, 40.0], 1.0)
    assert r0["gap"] == pytest.approx(math.log(5), abs=1e-9)
    assert r5["gap"] == pytest.approx(math.log(5), abs=0.01)
    assert r5["t_S"][0] - r0["t_S"][0] == pytest.approx(0.5 * math.log(1 / 3), abs=0.01)
    assert gated.gated_gap(10.0, [20.0, 4.0], 1.0)["gap"] is None


def test_bad_inputs():
    with pytest.raises(InputError, match=r"g=-0.1 is outside the allowed range \[0, inf\)"):
        gated.routing_factor(-0.1)
    with pytest.raises(InputError, match="dynamics"):
        gated.difference_growth_rate(1.0, 0.2, 3.0, "euler")
    with pytest.raises(InputError, match="lambda"):
        gated.difference_growth_rate(1.0, 0.2, 0.0)
    with pytest.raises(InputError, match="amplitude"):
        gated.gated_speciation_time(0.2, 0.0, 1.0)
    with pytest.raises(InputError, match="NaN"):
        gated.growth_sign_change_time(float("nan"), 3.0)


def test_numeric_equals_symbolic_at_random_points():
    import sympy as sp
    f = {x.name: x for x in gated.formulas()}
    rng = np.random.default_rng(5)
    for dyn in ("ode", "sde"):
        expr = f[f"difference_growth_rate_{dyn}"].expr
        syms = {s.name: s for s in expr.free_symbols}
        for _ in range(4):
            t, g, lam = rng.uniform(0.05, 4), rng.uniform(0, 3), rng.uniform(0.1, 100)
            ref = expr.evalf(subs={syms["t"]: t, syms["rho"]: (1 - g) / (1 + g), syms["lambda"]: lam})
            assert gated.difference_growth_rate(t, g, lam, dyn) == pytest.approx(float(ref), rel=1e-10)
    expr = f["growth_sign_change_time_ode"].expr
    syms = {s.name: s for s in expr.free_symbols}
    ref = expr.evalf(subs={syms["rho"]: 0.5, syms["lambda"]: 40.0})
    assert gated.growth_sign_change_time(1 / 3, 40.0, "ode") == pytest.approx(float(ref), rel=1e-10)


@pytest.mark.parametrize("dynamics", ["ode", "sde"])
def test_undecided_growth_rate_vs_fd_of_exact_drift(dynamics):
    for amp, s, g, t in ((20.0, 1.0, 0.3, 2.0), (4.0, 0.6, 0.0, 0.7), (6.0, 1.2, 2.0, 1.3)):
        assert gated.undecided_growth_rate(t, g, amp, s, dynamics) == pytest.approx(
            _fd_undecided_rate(amp, s, t, g, dynamics), rel=1e-6, abs=1e-7)


def test_routing_factor_is_its_own_inverse_against_root_finding():
    for rho in (-0.9, -0.5, 0.0, 0.3, 0.999, 1.0):        # g from rho: the root of rho(g) = rho, found numerically
        g = 0.0 if rho == 1.0 else optimize.brentq(lambda x: (1 - x) / (1 + x) - rho, 0.0, 1e4, xtol=1e-14, rtol=1e-14)
        assert gated.gate_for_routing_factor(rho) == pytest.approx(g, rel=1e-10, abs=1e-12)
        assert gated.routing_factor(gated.gate_for_routing_factor(rho)) == pytest.approx(rho, abs=1e-12)
    gs = np.array([0.0, 0.2, 0.5, 1.0, 3.0, 40.0])
    np.testing.assert_allclose(gated.gate_for_routing_factor(gated.routing_factor(gs)), gs, rtol=1e-12)
    for g in (0.0, 0.25, 1.0):                             # rho in [0, 1] is itself a gate: rho(rho(g)) = g
        assert gated.routing_factor(gated.routing_factor(g)) == pytest.approx(g, abs=1e-15)
    for bad in (-1.0, 1.5, math.nan):
        with pytest.raises(InputError, match="rho"):
            gated.gate_for_routing_factor(bad)
    with pytest.raises(InputError, match="rho=-2"):
        gated.gate_for_routing_factor(np.array([0.5, -2.0]))
