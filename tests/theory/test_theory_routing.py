"""theory.attention and theory.routing against independent computations: exact gated attention in NumPy, finite
differences, Monte Carlo for the SNR, root finding for the gap and the critical coupling."""
import math

import numpy as np
import pytest
import sympy as sp
from scipy.optimize import brentq

from syncgap.theory import attention
from syncgap.theory import gated_protocols as gp
from syncgap.theory import routing as rt
from syncgap.theory.checks import InputError

GS = (0.0, 0.3, 1.0, 2.5)


def softmax(x):
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def gated_attention(qa, ka, va, qb, kb, vb, g, gate):
    """Exact gated outputs (O_A, O_B), written out independently of theory.attention."""
    s = 1.0 / math.sqrt(qa.shape[1])
    outs = []
    for q, (k_self, v_self), (k_cross, v_cross) in ((qa, (ka, va), (kb, vb)), (qb, (kb, vb), (ka, va))):
        l_self, l_cross = s * q @ k_self.T, s * q @ k_cross.T
        if gate == "paper":
            outs.append((softmax(l_self) @ v_self + g * softmax(l_cross) @ v_cross) / (1 + g))
        else:
            with np.errstate(divide="ignore"):
                w = softmax(np.concatenate([l_self, l_cross + np.log(g)], axis=1))
            outs.append(w @ np.concatenate([v_self, v_cross]))
    return outs


def random_point(rng, n=6, d=3, dv=4):
    base = [rng.normal(size=(n, d)), rng.normal(size=(n, d)), rng.normal(size=(n, dv))]
    pert = [rng.normal(size=(n, d)), rng.normal(size=(n, d)), rng.normal(size=(n, dv))]
    return base, pert


def exact_difference(base, pert, eps, g, gate, parts="qkv"):
    (q0, k0, v0), (dq, dk, dv) = base, pert
    dq, dk, dv = (x * (c in parts) for x, c in ((dq, "q"), (dk, "k"), (dv, "v")))
    oa, ob = gated_attention(q0 + eps * dq, k0 + eps * dk, v0 + eps * dv,
                             q0 - eps * dq, k0 - eps * dk, v0 - eps * dv, g, gate)
    return oa - ob


@pytest.mark.parametrize("gate", attention.GATES)
@pytest.mark.parametrize("g", GS)
def test_linearisation_matches_exact_attention_with_cubic_remainder(gate, g):
    rng = np.random.default_rng(7)
    base, pert = random_point(rng)
    rems = []
    for eps in (2e-2, 1e-2, 5e-3):
        lin = attention.linearised_difference(*base, *(eps * p for p in pert), g, gate=gate)["difference"]
        exact = exact_difference(base, pert, eps, g, gate)
        rems.append(np.abs(exact - lin).max())
        assert np.abs(exact - lin).max() < 1e-2 * np.abs(exact).max()
    # A <-> B flips every perturbation, so O_A - O_B is odd in eps: remainder O(eps^3), halving eps -> /8
    for big, small in zip(rems, rems[1:]):
        assert 6.5 < big / small < 9.5


@pytest.mark.parametrize("gate", attention.GATES)
def test_each_part_matches_its_own_finite_difference(gate):
    rng = np.random.default_rng(3)
    base, pert = random_point(rng)
    eps, g = 1e-3, 0.6
    lin = attention.linearised_difference(*base, *(eps * p for p in pert), g, gate=gate)
    for key, parts in (("value_routing", "v"), ("key_routing", "k"), ("query_pattern", "q")):
        exact = exact_difference(base, pert, eps, g, gate, parts)
        np.testing.assert_allclose(lin[key], exact, rtol=1e-4, atol=1e-9)


def test_zero_coupling_is_two_independent_attentions():
    rng = np.random.default_rng(11)
    (q0, k0, v0), (dq, dk, dv) = random_point(rng)
    qa, ka, va, qb, kb, vb = q0 + dq, k0 + dk, v0 + dv, q0 - dq, k0 - dk, v0 - dv
    for gate in attention.GATES:
        oa, ob = gated_attention(qa, ka, va, qb, kb, vb, 0.0, gate)
        np.testing.assert_allclose(oa, softmax(qa @ ka.T / math.sqrt(3)) @ va, rtol=1e-13)
        np.testing.assert_allclose(ob, softmax(qb @ kb.T / math.sqrt(3)) @ vb, rtol=1e-13)
    assert rt.routing_factor(0) == 1.0 and attention.cross_pattern_factor(0) == 0.0
    assert attention.pattern_factor(0) == 1.0 and attention.joint_routing_factor(0) == 1.0


def test_full_coupling_removes_routing_term():
    rng = np.random.default_rng(5)
    base, pert = random_point(rng)
    for name in ("routing_factor", "key_routing_factor", "joint_routing_factor", "joint_key_routing_factor"):
        assert getattr(attention, name)(1.0) == 0.0
    lin = attention.linearised_difference(*base, *pert, 1.0)
    assert np.all(lin["value_routing"] == 0) and np.all(lin["key_routing"] == 0)
    # exactly, not just to first order: at g = 1 with equal queries the two replicas coincide
    for gate in attention.GATES:
        diff = exact_difference(base, pert, 0.3, 1.0, gate, parts="kv")
        assert np.abs(diff).max() < 1e-13
    # while the query-driven pattern term survives at g = 1
    assert np.abs(exact_difference(base, pert, 1e-3, 1.0, "paper", parts="q")).max() > 1e-5


def test_second_order_term_vanishes_symbolically():
    assert attention.second_order_vanishes("paper")


def test_factor_identities_and_science_md_grouping():
    g = np.linspace(0, 5, 11)
    rho = (1 - g) / (1 + g)
    np.testing.assert_allclose(rt.routing_factor(g), rho, atol=1e-15)
    np.testing.assert_allclose(attention.key_routing_factor(g), rho, atol=1e-15)
    np.testing.assert_allclose(attention.query_pattern_factor(g), 1.0)
    # ξ δA⁺ + gξ δA⁻ with δA± = δA_Q ± δA_K equals c_Q δA_Q + c_K δA_K
    np.testing.assert_allclose(attention.pattern_factor(g) + attention.cross_pattern_factor(g), attention.query_pattern_factor(g))
    np.testing.assert_allclose(attention.pattern_factor(g) - attention.cross_pattern_factor(g), attention.key_routing_factor(g))
    for a, b in (("routing_factor", "joint_routing_factor"), ("pattern_factor", "joint_pattern_factor"),
                 ("query_pattern_factor", "joint_query_pattern_factor")):
        np.testing.assert_allclose(getattr(attention, a)(g), getattr(attention, b)(g))


def test_numeric_equals_symbolic_at_random_points():
    rng = np.random.default_rng(2)
    f = {x.name: x.expr for x in attention.formulas() + rt.formulas()}
    s = {str(x): x for e in f.values() for x in e.free_symbols}
    rho = sp.Function(r"\rho")(s["g"])  # the mode formulas print rho(g) = routing_factor's expression
    f = {k: e.subs(rho, f["routing_factor"]) for k, e in f.items()}
    for _ in range(5):
        g, chi, pi, lam, gam, mu, m = rng.uniform(0, 3), *rng.normal(size=3), *rng.uniform(0.5, 2, size=2), \
            rng.normal()
        for name in ("routing_factor", "pattern_factor", "cross_pattern_factor", "key_routing_factor",
                     "joint_routing_factor", "joint_pattern_factor"):
            assert getattr(attention, name)(g) == pytest.approx(float(f[name].subs(s["g"], g)), rel=1e-12)
        vals = {s["g"]: g, s[r"\chi_k"]: chi, s[r"\pi_k"]: pi, s[r"\lambda_k^{\mathrm{MLP}}"]: lam,
                s[r"\gamma"]: gam, s[r"\mu_k"]: mu}
        rate = float(f["mode_growth_rate"].subs(vals))
        assert rt.mode_growth_rate(g, chi, pi, gam * mu, lam) == pytest.approx(rate, rel=1e-12)
        if rate < 0:
            snr = float(f["mode_snr"].subs({**vals, s["m_k"]: m}))
            assert rt.mode_snr(g, chi, pi, gam, mu, lam, m) == pytest.approx(snr, rel=1e-12)
        eta, d0 = rng.uniform(-0.8, 0.8), rng.uniform(2, 60)
        assert rt.predicted_gap_ratio(g, eta) == pytest.approx(
            float(f["predicted_gap_ratio"].subs({s["g"]: g, s[r"\eta"]: eta})), rel=1e-12)
        assert rt.critical_coupling(d0, eta) == pytest.approx(
            float(f["critical_coupling"].subs({s[r"\Delta s_0"]: d0, s[r"\eta"]: eta})), rel=1e-12)


def test_snr_is_twice_the_simulated_stationary_variance():
    g, chi, pi, gam, mu, lam, m = 0.4, 1.5, 0.3, 1.2, 2.0, 0.2, 0.7
    r = rt.mode_growth_rate(g, chi, pi, gam * mu, lam)
    assert r == pytest.approx((1 - g) / (1 + g) * chi + pi + lam - gam * mu)
    rng = np.random.default_rng(0)
    y, dt = np.zeros(20000), 2e-3
    for _ in range(int(8 / (-r * dt))):  # Euler-Maruyama of dy = r y ds + m mu dW, run to stationarity
        y += r * y * dt + m * mu * math.sqrt(dt) * rng.standard_normal(y.size)
    assert rt.mode_snr(g, chi, pi, gam, mu, lam, m) == pytest.approx(2 * y.var(), rel=0.04)


def fourier_modes(n):
    i = np.arange(n)
    cols = [np.ones(n) / math.sqrt(n)]
    for f in range(1, n // 2):
        cols += [np.cos(2 * np.pi * f * i / n), np.sin(2 * np.pi * f * i / n)]
    cols = [c / np.linalg.norm(c) for c in cols]
    return np.stack(cols, axis=1)


def test_mode_operators_match_exact_attention_and_routing_is_low_pass():
    n, d, dv, g, eps = 16, 2, 3, 0.5, 1e-4
    theta = 2 * np.pi * np.arange(n) / n
    q0 = 3.0 * np.stack([np.cos(theta), np.sin(theta)], axis=1)  # local, circulant attention on a ring
    rng = np.random.default_rng(4)
    k0, v0 = q0.copy(), rng.normal(size=(n, dv))
    a_q, a_k, a_v, r = rng.normal(size=d), rng.normal(size=d), rng.normal(size=dv), rng.normal(size=dv)
    ops = attention.attention_difference_operators(q0, k0, v0, a_q, a_k, a_v, r)
    assert np.count_nonzero(ops["pattern"] - np.diag(np.diag(ops["pattern"]))) == 0  # token-diagonal
    dx = rng.normal(size=n)
    for gate in attention.GATES:
        diff = exact_difference([q0, k0, v0], [np.outer(dx, a_q), np.outer(dx, a_k), np.outer(dx, a_v)],
                                eps, g, gate) @ r
        pred = 2 * eps * (rt.routing_factor(g) * ops["routing"] + ops["pattern"]) @ dx
        np.testing.assert_allclose(diff, pred, rtol=1e-6, atol=1e-10)
    # value routing alone: A_0 smooths, so the routing gain falls with spatial frequency
    vals = attention.attention_difference_operators(q0, k0, v0, np.zeros(d), np.zeros(d), a_v, r)
    chi = attention.mode_gains(vals["routing"], vals["pattern"], fourier_modes(n))["chi"] / float(a_v @ r)
    np.testing.assert_allclose(chi[0], 1.0)
    assert np.all(np.diff(chi[1::2]) < 0) and np.all(np.diff(chi[2::2]) < 0)
    assert np.all(vals["pattern"] == 0)


def commit_steps(margin, chi, pi, offsets, g, s_max):
    """Step where each mode's margin b(s) + c_k - rho chi_k - pi_k first reaches 0 (brentq)."""
    rho = (1 - g) / (1 + g)
    return np.array([brentq(lambda s: margin(s) + c - rho * x - p, 0.0, s_max)
                     for x, p, c in zip(chi, pi, offsets)])


def test_predicted_gap_ratio_and_bound_against_root_finding():
    rng = np.random.default_rng(9)
    checked = 0
    for _ in range(20):
        chi = np.sort(rng.uniform(0.0, 2.0, size=2))[::-1]  # (global, local): global routes more
        pi, offsets = rng.normal(scale=0.2, size=2), rng.normal(scale=0.2, size=2)
        d_chi = chi[0] - chi[1]
        eta = ((pi[0] - pi[1]) - (offsets[0] - offsets[1])) / d_chi
        if not abs(eta) < 0.9:
            continue
        # linear margin: the prediction is exact
        beta = rng.uniform(0.05, 0.2)
        lin = lambda s: 5.0 - beta * s  # noqa: E731
        gap = lambda g, b: np.diff(commit_steps(b, chi, pi, offsets, g, 400.0))[0]  # noqa: E731
        for g in (0.2, 0.7, 1.5):
            assert gap(g, lin) / gap(0, lin) == pytest.approx(rt.predicted_gap_ratio(g, eta), rel=1e-8, abs=1e-10)
        # curved margin: the bound holds with kappa = slope ratio over the crossing window
        curved = lambda s: 5.0 * math.exp(-s / 30.0) - 1.0  # noqa: E731
        for g in (0.0, 0.2, 0.7, 1.0, 1.5):
            steps = np.concatenate([commit_steps(curved, chi, pi, offsets, x, 400.0) for x in (0.0, g)])
            slopes = 5.0 / 30.0 * np.exp(-np.array([steps.min(), steps.max()]) / 30.0)
            ratio = gap(g, curved) / gap(0, curved)
            assert abs(ratio) <= gp.gap_ratio_bound_common_margin(g, abs(eta), slopes.max() / slopes.min()) + 1e-12
        checked += 1
    assert checked >= 10


def test_critical_coupling_against_brentq():
    assert rt.critical_coupling(40.0) == pytest.approx(39 / 41)
    assert rt.collapse_coupling(0.0) == 1.0 and rt.critical_coupling(0.5) == 0.0
    for d0 in (1.5, 10.0, 40.0, 300.0):
        for eta in (-0.6, -0.1, 0.0, 0.3, 0.8):
            g0 = rt.collapse_coupling(eta)
            assert rt.predicted_gap_ratio(g0, eta) == pytest.approx(0.0, abs=1e-12)
            root = brentq(lambda g: d0 * rt.predicted_gap_ratio(g, eta) - 1.0, 0.0, g0, xtol=1e-14)
            assert rt.critical_coupling(d0, eta) == pytest.approx(root, rel=1e-10)
            # smallest: just below it the predicted gap is still above one step
            assert d0 * rt.predicted_gap_ratio(0.999 * root, eta) > 1.0


def test_pure_routing_bound_is_rho():
    g = np.linspace(0, 3, 13)
    np.testing.assert_allclose([gp.gap_ratio_bound_common_margin(x) for x in g], np.abs(rt.routing_factor(g)))
    np.testing.assert_allclose(rt.predicted_gap_ratio(g), rt.routing_factor(g))


def test_formulas_are_records_with_latex():
    assert rt.formulas() is rt.formulas() and attention.formulas() is attention.formulas()
    recs = attention.formulas() + rt.formulas()
    names = {f.name for f in recs}
    assert {"routing_factor", "pattern_factor", "joint_routing_factor", "predicted_gap_ratio",
            "critical_coupling", "linearised_difference", "mode_snr"} <= names
    for f in recs:
        assert f.section == "§5" and f.latex() and f.assumptions
    assert sp.simplify(next(f for f in recs if f.name == "routing_factor").expr
                       - (1 - sp.Symbol("g", nonnegative=True)) / (1 + sp.Symbol("g", nonnegative=True))) == 0


def test_bad_input_names_argument_and_range():
    with pytest.raises(InputError, match=r"g=-0\.1 is outside the allowed range \[0, inf\)"):
        rt.routing_factor(-0.1)
    with pytest.raises(InputError, match="g must be a number, got NaN"):
        attention.pattern_factor(float("nan"))
    with pytest.raises(InputError, match=r"g=-1 is outside the allowed range \[0, inf\)"):
        attention.joint_routing_factor([0.5, -1.0])
    with pytest.raises(InputError, match="g has 1 non-finite entry"):
        rt.routing_factor([0.5, float("nan")])
    with pytest.raises(InputError, match=r"gap0_steps=0 is outside the allowed range \[1e-100, 1e\+100\]"):
        rt.critical_coupling(0.0)
    with pytest.raises(InputError, match=r"gap0_steps=-3 is outside"):
        rt.critical_coupling(-3.0)
    with pytest.raises(InputError, match=r"eta=1 is outside the allowed range \(-1, 1\)"):
        rt.critical_coupling(40.0, eta=1.0)
    with pytest.raises(InputError, match="gate must be one of"):
        attention.linearised_difference(*random_point(np.random.default_rng(0))[0], *random_point(
            np.random.default_rng(1))[1], 0.5, gate="sum")
    with pytest.raises(InputError, match="unstable"):
        rt.mode_snr(0.0, chi_k=5.0, pi_k=0.0, gamma_k=1.0, mu_k=1.0, lambda_mlp_k=0.0, m_k=1.0)
    with pytest.raises(InputError, match="kappa"):
        gp.gap_ratio_bound_common_margin(0.5, 0.1, 0.5)
    with pytest.raises(InputError, match="orthonormal"):
        attention.mode_gains(np.eye(3), np.eye(3), np.ones((3, 1)))


def test_science_md_self_cross_form_with_measured_pattern_changes():
    """(1+g)(O_A-O_B) = 2(1-g)A_0 δV + 2(δA⁺ + g δA⁻)V_0, δA± read off the exact self/cross patterns."""
    rng = np.random.default_rng(13)
    (q0, k0, v0), (dq, dk, dv) = random_point(rng)
    eps, s = 1e-3, 1 / math.sqrt(3)
    qa, qb, ka, kb = q0 + eps * dq, q0 - eps * dq, k0 + eps * dk, k0 - eps * dk
    da_plus = (softmax(s * qa @ ka.T) - softmax(s * qb @ kb.T)) / 2  # self patterns A_0 ± δA⁺
    da_minus = (softmax(s * qa @ kb.T) - softmax(s * qb @ ka.T)) / 2  # cross patterns A_0 ± δA⁻
    a0 = softmax(s * q0 @ k0.T)
    for g in GS:
        lhs = (1 + g) * exact_difference([q0, k0, v0], [dq, dk, dv], eps, g, "paper")
        rhs = 2 * (1 - g) * a0 @ (eps * dv) + 2 * (da_plus + g * da_minus) @ v0
        np.testing.assert_allclose(lhs, rhs, rtol=1e-5, atol=5e-8)  # remainder O(eps^3)
        xi = attention.pattern_factor(g)
        lin = attention.linearised_difference(q0, k0, v0, eps * dq, eps * dk, eps * dv, g)
        np.testing.assert_allclose(lin["key_routing"] + lin["query_pattern"],
                                   2 * xi * (da_plus + g * da_minus) @ v0, rtol=1e-5, atol=5e-8)
