"""theory.coupled_ou (layer A, docs/science.md §3) against independent computations."""
import math

import numpy as np
import pytest
import scipy.linalg as sla
import sympy as sp
from hypothesis import given, settings, strategies as st
from scipy import optimize
from scipy.stats import multivariate_normal

from syncgap.theory import base, coupled_ou as co, replica_scores
from syncgap.theory.checks import InputError


def _reference(A, t):
    M = sla.expm(-A * t)
    C = sla.solve_continuous_lyapunov(A, 2 * (np.eye(len(A)) - M @ M.T))
    return M, C


@pytest.mark.parametrize("A", [co.drift_symmetric(0.6), co.drift_symmetric(-0.4), co.drift_all_to_all(4, 0.3),
                               co.drift_anisotropic(1.0, 2.0, 0.3, 0.7), co.drift_anisotropic(1.5, 0.8, -0.2, 0.4)])
def test_transition_vs_expm_and_lyapunov(A):
    for t in (0.05, 0.7, 3.0):
        M, C = co.transition_mean_cov(A, t)
        Mr, Cr = _reference(A, t)
        np.testing.assert_allclose(M, Mr, atol=1e-12)
        np.testing.assert_allclose(C, Cr, atol=1e-12)


def test_closed_forms_vs_expm_and_symbolic():
    for g, t in ((0.3, 0.5), (-0.7, 2.0)):
        M, C = co.transition_symmetric(g, t)
        Mr, Cr = _reference(co.drift_symmetric(g), t)
        np.testing.assert_allclose(M, Mr, atol=1e-12)
        np.testing.assert_allclose(C, Cr, atol=1e-12)
    ani = co._anisotropic()
    for k, p in enumerate(((1.0, 2.0, 0.3, 0.7, 0.8), (2.0, 0.5, -0.1, 0.3, 1.9))):
        M, C = co.transition_anisotropic(*p)
        Mr, Cr = _reference(co.drift_anisotropic(*p[:4]), p[4])
        np.testing.assert_allclose(M, Mr, atol=1e-11)
        np.testing.assert_allclose(C, Cr, atol=1e-11)
        if k:
            continue  # SymPy evalf of the big Lyapunov solution is slow: one point suffices
        subs = dict(zip((co.a_, co.b_, co.g12, co.g21, sp.Symbol("t", positive=True)), p))
        np.testing.assert_allclose(np.array(ani["C"].evalf(subs=subs), dtype=float), C, atol=1e-12)


def test_transition_vs_monte_carlo_forward_sde():
    rng = np.random.default_rng(1)
    A, t, n, dt = co.drift_anisotropic(1.0, 2.0, 0.5, 0.9), 0.6, 40000, 0.002
    z0 = np.array([1.5, -0.5])
    z = np.tile(z0, (n, 1))
    for _ in range(int(round(t / dt))):
        z = z - z @ A.T * dt + math.sqrt(2 * dt) * rng.standard_normal(z.shape)
    M, C = co.transition_mean_cov(A, t)
    np.testing.assert_allclose(z.mean(0), M @ z0, atol=0.02)
    np.testing.assert_allclose(np.cov(z.T), C, atol=0.03)


def test_score_gaussian_vs_finite_differences():
    rng = np.random.default_rng(2)
    A, t, c, d = co.drift_anisotropic(1.2, 0.9, 0.3, 0.5), 0.7, 0.4, 3
    B = rng.standard_normal((d, d))
    S = B @ B.T + 0.5 * np.eye(d)
    M, C = _reference(A, t)
    R = co.replica_correlation(2, c)
    cov = np.kron(M @ R @ M.T, S) + np.kron(C, np.eye(d))
    z = rng.standard_normal((2, d))
    h = 1e-5
    fd = np.array([(multivariate_normal.logpdf(z.ravel() + h * e, cov=cov)
                    - multivariate_normal.logpdf(z.ravel() - h * e, cov=cov)) / (2 * h) for e in np.eye(2 * d)])
    np.testing.assert_allclose(replica_scores.score_gaussian(z, t, A, S, c).ravel(), fd, rtol=1e-6, atol=1e-7)


def test_score_mixture_vs_finite_differences():
    rng = np.random.default_rng(3)
    d = 3
    phi = np.ones(d) / math.sqrt(d)
    mix = replica_scores.replica_sign_mixture(2, 2.5, phi, 0.8, c=0.6)
    np.testing.assert_allclose(mix["weights"].sum(), 1)
    A, t = co.drift_symmetric(0.4), 0.5
    z = rng.standard_normal((2, d))
    h = 1e-5
    lp = lambda x: replica_scores.log_density_gaussian_mixture(x.reshape(2, d), t, A, mix["means"], mix["cov"], mix["weights"])
    fd = np.array([(lp(z.ravel() + h * e) - lp(z.ravel() - h * e)) / (2 * h) for e in np.eye(2 * d)])
    sc = replica_scores.score_gaussian_mixture(z, t, A, mix["means"], mix["cov"], mix["weights"])
    np.testing.assert_allclose(sc.ravel(), fd, rtol=1e-5, atol=1e-7)
    # sign correlation: E[s1 s2] = c
    s = mix["means"][:, 0] * mix["means"][:, d]
    assert np.sum(mix["weights"] * np.sign(s)) == pytest.approx(0.6)


def test_g_zero_reduces_to_base_theory():
    for L in (5.0, 100.0, 1e4):
        r = co.mode_speciation_times(co.drift_symmetric(0.0), L)
        np.testing.assert_allclose(r["t_S"], base.speciation_time(L))
        r4 = co.mode_speciation_times(co.drift_all_to_all(5, 0.0), L)
        np.testing.assert_allclose(r4["t_S"], base.speciation_time(L))
        assert co.synchronization_gap_symmetric(0.0, L) == pytest.approx(0.0, abs=1e-14)
    col = co.mode_collapse_times(co.drift_symmetric(0.0), 1000, 8, 1.3)
    np.testing.assert_allclose(col["t_C"], base.collapse_time(1000, 8, 1.3))
    M, C = co.transition_symmetric(0.0, 0.9)
    np.testing.assert_allclose(M, math.exp(-0.9) * np.eye(2), atol=1e-15)
    np.testing.assert_allclose(C, -math.expm1(-1.8) * np.eye(2), atol=1e-15)


def test_mode_speciation_vs_root_finding_on_mode_variances():
    """Root of Lambda_m e^{-2 kappa t} = 1/kappa with Lambda_m from the projected joint covariance."""
    A, L, c = co.drift_anisotropic(1.0, 1.6, 0.4, 0.2), 50.0, 0.3
    r = co.mode_speciation_times(A, L, c)
    R = co.replica_correlation(2, c)
    for m, w in enumerate(co.mode_rates(A, c)["modes"]):
        kap = r["rates"][m]
        Lm = L * w @ R @ w
        # mode coordinate's stationary noise variance from the Lyapunov solution at t -> inf
        stat = w @ sla.solve_continuous_lyapunov(A, 2 * np.eye(2)) @ w
        assert stat == pytest.approx(1 / kap, rel=1e-10)
        root = optimize.brentq(lambda t: Lm * math.exp(-2 * kap * t) - stat, 0, 50)
        assert r["t_S"][m] == pytest.approx(root, rel=1e-9)


def test_all_to_all_rates_and_mode_eigenvalues():
    for K, g in ((3, 0.2), (6, -0.1)):
        r = co.mode_speciation_times(co.drift_all_to_all(K, g), 30.0, 0.25)
        np.testing.assert_allclose(r["rates"], [1.0] + [1 + g * K] * (K - 1))
        np.testing.assert_allclose(r["Lambda_m"], [30 * (1 + (K - 1) * 0.25)] + [30 * 0.75] * (K - 1))


@settings(max_examples=40, deadline=None)
@given(g=st.floats(-0.95, 0.95), L=st.floats(1.5, 1e4), c=st.floats(-0.9, 0.9))
def test_gap_and_bounds_properties(g, L, c):
    A = co.drift_symmetric(g)
    r = co.mode_speciation_times(A, L, c)
    assert co.synchronization_gap_symmetric(g, L, c) == pytest.approx(r["t_S"][0] - r["t_S"][1], abs=1e-9)
    b = co.stability_bounds(L, c)
    assert (r["t_S"][0] > 0) == (g < b["common_speciates_below"]) or abs(g - b["common_speciates_below"]) < 1e-9
    assert (r["t_S"][1] > 0) == (g > b["difference_speciates_above"]) or \
        abs(g - b["difference_speciates_above"]) < 1e-9
    # t_S^m is the base-theory time in s = kappa t for data eigenvalue kappa Lambda_m
    np.testing.assert_allclose(r["t_S"] * r["rates"], base.speciation_time(r["rates"] * r["Lambda_m"]), atol=1e-12)


def test_numeric_equals_symbolic_at_random_points():
    rng = np.random.default_rng(4)
    f = {x.name: x for x in co.formulas()}
    sym = {s.name: s for s in f["synchronization_gap"].expr.rhs.free_symbols}
    for _ in range(5):
        g, L, c = rng.uniform(-0.9, 0.9), rng.uniform(2, 500), rng.uniform(-0.8, 0.8)
        ref = float(f["synchronization_gap"].expr.rhs.evalf(subs={sym["g"]: g, sym["Lambda"]: L, sym["c"]: c}))
        assert co.synchronization_gap_symmetric(g, L, c) == pytest.approx(ref, rel=1e-12)
        tt = rng.uniform(0.01, 3)
        Msym = np.array(f["transition_mean_symmetric"].expr.evalf(
            subs={sp.Symbol("g", real=True): g, sp.Symbol("t", positive=True): tt}), dtype=float)
        np.testing.assert_allclose(co.transition_symmetric(g, tt)[0], Msym, rtol=1e-12)


def test_bad_inputs():
    with pytest.raises(InputError, match=r"g=1 is outside the allowed range \(-1, 1\) \(forward stability"):
        co.drift_symmetric(1.0)
    with pytest.raises(InputError, match=r"g=-0.5 is outside the allowed range \(-0.25, inf\)"):
        co.drift_all_to_all(4, -0.5)
    with pytest.raises(InputError, match="complex"):
        co.drift_anisotropic(1.0, 1.0, 0.5, -0.5)
    with pytest.raises(InputError, match="unstable"):
        co.drift_anisotropic(1.0, 1.0, 2.0, 2.0)
    with pytest.raises(InputError, match="Lambda"):
        co.mode_speciation_times(co.drift_symmetric(0.2), -3.0)
    with pytest.raises(InputError, match="NaN"):
        co.synchronization_gap_symmetric(float("nan"), 10.0)
    with pytest.raises(InputError, match=r"c=1 is outside"):
        co.stability_bounds(10.0, 1.0)


def test_symmetric_closed_forms_are_exact_symbolically():
    sym = co._symmetric()
    t = sp.Symbol("t", positive=True)
    assert sp.simplify(sym["M"] - (-sym["A"] * t).exp()) == sp.zeros(2, 2)
    resid = sym["A"] * sym["C"] + sym["C"] * sym["A"].T - 2 * (sp.eye(2) - sym["M"] * sym["M"].T)
    assert sp.simplify(resid) == sp.zeros(2, 2)


@settings(max_examples=40, deadline=None)
@given(a=st.floats(0.2, 3), b=st.floats(0.2, 3), g12=st.floats(-3, 3), g21=st.floats(-3, 3))
def test_anisotropic_bounds_match_eigenvalues(a, b, g12, g21):
    bnd = co.stability_bounds(10.0, coupling="anisotropic", a=a, b=b)
    ev = np.linalg.eigvals(np.array([[a, -g12], [-g21, b]]))
    p = g12 * g21
    inside = bnd["g12_g21_min_real_modes"] <= p < bnd["g12_g21_max_forward"]
    if abs(p - bnd["g12_g21_min_real_modes"]) < 1e-6 or abs(p - bnd["g12_g21_max_forward"]) < 1e-6:
        return
    assert inside == (np.all(np.abs(ev.imag) < 1e-9) and np.all(ev.real > 0))
    if inside:
        co.drift_anisotropic(a, b, g12, g21)
    else:
        with pytest.raises(InputError):
            co.drift_anisotropic(a, b, g12, g21)


def test_collapse_and_speciation_functions_equal_their_formulas():
    f = {x.name: x for x in co.formulas()}
    syms = {s.name: s for s in f["mode_collapse_time"].expr.free_symbols}
    A = co.drift_symmetric(0.35)
    r = co.mode_collapse_times(A, 500, 6, 0.9, 0.2)
    for kap, fac, tc in zip(r["rates"], (1.2, 0.8), r["t_C"]):
        ref = f["mode_collapse_time"].expr.evalf(subs={syms["kappa"]: kap, syms["n"]: 500, syms["d"]: 6,
                                                       syms["sigma_m"]: 0.9 * math.sqrt(fac)})
        assert tc == pytest.approx(float(ref), rel=1e-12)
    syms = {s.name: s for s in f["mode_speciation_time"].expr.free_symbols}
    s = co.mode_speciation_times(A, 40.0, 0.2)
    for kap, Lm, ts in zip(s["rates"], s["Lambda_m"], s["t_S"]):
        ref = f["mode_speciation_time"].expr.evalf(subs={syms["kappa"]: kap, syms["Lambda_m"]: Lm})
        assert ts == pytest.approx(float(ref), rel=1e-12)
