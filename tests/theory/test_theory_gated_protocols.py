"""theory.gated_protocols against independent computations: the OU engine's gated samplers, fine grids,
finite differences, and direct evaluation of the mode model's commitment steps."""
import numpy as np
import pytest

from syncgap.ou_models import engine, measure, sampler
from syncgap.theory import gated, gated_protocols as gp
from syncgap.theory.checks import InputError
from syncgap.theory.data import SignFeatureMixture

GRID = engine.ddpm_grid(250)


def test_gate_keeps_the_sum_and_scales_the_difference():
    rng = np.random.default_rng(0)
    for g in (0.0, 0.3, 1.0, 4.0):
        G = engine.gate_matrix(g, 2)
        d = rng.standard_normal((2, 5))           # D(x_A), D(x_B)
        mixed = G @ d
        s_fac, d_fac = gp.gate_factors(g)
        np.testing.assert_allclose(mixed.sum(0), s_fac * d.sum(0), atol=1e-12)
        np.testing.assert_allclose(mixed[0] - mixed[1], d_fac * (d[0] - d[1]), atol=1e-12)
        assert d_fac == pytest.approx(gated.routing_factor(g))


def _pair_run(model, g, n, steps, eps=0.2, seed=1):
    z0 = engine.initial_state(model, n, 2, GRID[0], seed=seed)
    z0 = np.stack([z0[:, 0] + eps * z0[:, 1], z0[:, 0] - eps * z0[:, 1]], axis=1)
    grid = GRID[:steps + 1]
    return sampler.sample(model, grid, n, seed, K=2, gate=g, scheme="ddim", z0=z0, record_every=1)["y"]


@pytest.mark.parametrize("g", [0.0, 0.5, 1.0, 3.0])
def test_ddim_difference_propagator_is_the_engine_on_gaussian_data(g):
    lam = 30.0
    model = engine.gaussian_model(np.eye(3)[:1], [lam])
    y = _pair_run(model, g, 20, 200)                               # (n, R, 2, F)
    d = y[:, :, 0, 0] - y[:, :, 1, 0]
    measured = d[:, 1:] / d[:, :1]                                  # every path: the same linear map
    predicted = np.cumprod(gp.ddim_difference_multipliers(GRID[:201], g, lam))
    np.testing.assert_allclose(measured, np.broadcast_to(predicted, measured.shape), rtol=1e-9)


def test_at_g1_the_coupled_phase_telescopes_to_sqrt_delta_for_any_data():
    data = SignFeatureMixture(np.eye(4)[:2], np.array([20.0, 4.0]), 1.0, (4,))
    y = _pair_run(engine.feature_model(data), 1.0, 30, 139)
    d = y[:, :, 0] - y[:, :, 1]                                     # (n, R, F): sign features, nonlinear D
    np.testing.assert_allclose(d[:, -1] / d[:, 0], gp.release_synchronisation_g1(GRID, 139), rtol=1e-9)
    assert gp.release_synchronisation_g1(GRID, 139) > 0.92          # docs/science.md §8: >= 0.93 (rounded)
    assert gp.ddim_difference_propagator(GRID, 1.0, 401.0, 139) == pytest.approx(
        gp.release_synchronisation_g1(GRID, 139), rel=1e-12)


@pytest.mark.parametrize("g", [0.0, 0.4, 1.0, 2.0])
def test_continuous_propagator_is_the_fine_ddim_limit_and_integrates_r_ode(g):
    lam, t0, t1 = 17.0, 3.0, 0.5
    fine = np.linspace(t0, t1, 20001)
    prod = np.prod(gp.ddim_difference_multipliers(fine, g, lam))
    assert gp.continuous_difference_propagator(t0, t1, g, lam) == pytest.approx(prod, rel=2e-3)
    h, tm = 1e-5, 1.3                                                # d/dtau log P = r_ODE (theory.gated)
    slope = -(np.log(gp.continuous_difference_propagator(t0, tm + h, g, lam))
              - np.log(gp.continuous_difference_propagator(t0, tm - h, g, lam))) / (2 * h)
    assert slope == pytest.approx(gated.difference_growth_rate(tm, g, lam, "ode"), rel=1e-6)


@pytest.mark.parametrize("scheme", ["ddpm", "ddim"])
def test_agreement_after_release_from_the_class_posterior(scheme):
    data = SignFeatureMixture(np.eye(4)[:2], np.array([20.0, 4.0]), 1.0, (4,))
    model, g, n = engine.feature_model(data), 1.0, 3000
    t_int = np.array([GRID[60], GRID[100], GRID[140], GRID[180]])
    r = measure.protocol_one(data, GRID, g, n, seed=5, scheme=scheme, t_int_times=t_int, n_boot=10)
    for j, s in enumerate(r["t_int_steps"]):   # the coupled prefix alone, same paths and noise: release states
        z = sampler.sample(model, GRID[:s + 1], n, 5, K=2, gate=g, scheme=scheme)["z"]
        for k, a in enumerate(data.amplitudes):
            pred = gp.release_agreement(z[:, 0, k], z[:, 1, k], GRID[s], a, 1.0, scheme)
            tol = 0.0 if scheme == "ddim" else 0.035                 # ddim keeps each path's sign exactly
            assert abs(pred - r["agreement"][j, k]) <= tol + 1e-12, (s, k, pred, r["agreement"][j, k])


def test_switch_on_at_g1_returns_the_shared_posterior_mean():
    data = SignFeatureMixture(np.eye(4)[:2], np.array([20.0, 4.0]), 1.0, (4,))
    model = engine.feature_model(data)
    z = sampler.sample(model, GRID[:121], 40, 2, K=2, scheme="ddpm")["z"]           # independent prefix
    for scheme in ("ddpm", "ddim"):
        out = sampler.sample(model, GRID[120:], 40, 2, K=2, gate=1.0, scheme=scheme, z0=z)["z"]
        np.testing.assert_allclose(out[:, 0], out[:, 1], atol=1e-9)
    assert gp.switch_on_final_difference_factor(1.0) == 0.0


def _commit_steps(g, b, chi, pi, beta):
    rho = (1 - g) / (1 + g)
    return [(b[i] - rho * chi[i] - pi[i]) / beta[i] for i in (0, 1)]


def test_gap_ratio_with_different_slopes_and_its_bound():
    b, chi, pi, beta = [10.0, 10.0], [1.0, 0.0], [0.0, 0.0], [2.0, 1.0]    # issue 13's counterexample
    lo0, hi0 = _commit_steps(0.0, b, chi, pi, beta)
    lo1, hi1 = _commit_steps(1.0, b, chi, pi, beta)
    true = (hi1 - lo1) / (hi0 - lo0)
    assert true == pytest.approx(10 / 11)
    eta_b = gp.slope_weighted_contrast(b, chi, pi, beta)
    assert gp.gap_ratio_slopes(1.0, eta_b) == pytest.approx(true)
    rng = np.random.default_rng(3)
    checked = 0
    for _ in range(3000):
        b, chi, pi = rng.normal(0, 3, 2), rng.normal(0, 2, 2), rng.normal(0, 1, 2)
        beta, g = rng.uniform(0.2, 3, 2), rng.uniform(0, 5)
        try:
            eta_b = gp.slope_weighted_contrast(b, chi, pi, beta)
        except InputError:
            continue
        lo0, hi0 = _commit_steps(0.0, b, chi, pi, beta)
        lo, hi = _commit_steps(g, b, chi, pi, beta)
        if abs(hi0 - lo0) < 1e-6:
            continue
        ratio = (hi - lo) / (hi0 - lo0)
        assert gp.gap_ratio_slopes(g, eta_b) == pytest.approx(ratio, rel=1e-8, abs=1e-8)
        if abs(eta_b) < 0.9:
            assert abs(ratio) <= gp.gap_ratio_bound_slopes(g, abs(eta_b)) + 1e-12
            checked += 1
    assert checked > 100
    sm = gp._slope_model()                   # (eta, kappa) alone bound nothing: the ratio -> 1 as b grows
    assert sm["example_limit"] == 1


def test_common_margin_bound_holds_for_a_shared_curve_and_fails_for_per_mode_slopes():
    from scipy.optimize import brentq
    margin = lambda s: 5.0 * np.exp(-s / 30.0) - 3.0                   # one decreasing curve, both modes
    rng = np.random.default_rng(4)
    checked = 0
    for _ in range(200):
        chi = np.sort(rng.uniform(0.0, 2.0, 2))[::-1]
        pi, b0 = rng.normal(0, 0.2, 2), rng.normal(0, 0.2, 2)
        eta = ((pi[0] - pi[1]) - (b0[0] - b0[1])) / (chi[0] - chi[1])
        if not abs(eta) < 0.9:
            continue

        def steps(g):
            rho = (1 - g) / (1 + g)
            return np.array([brentq(lambda s: margin(s) + b0[k] - rho * chi[k] - pi[k], -200.0, 400.0)
                             for k in (0, 1)])
        for g in (0.0, 0.5, 1.0, 3.0):
            s0, sg = steps(0.0), steps(g)
            slopes = 5.0 / 30.0 * np.exp(-np.r_[s0, sg] / 30.0)
            ratio = (sg[1] - sg[0]) / (s0[1] - s0[0])
            assert abs(ratio) <= gp.gap_ratio_bound_common_margin(g, abs(eta), slopes.max() / slopes.min()) + 1e-12
        checked += 1
    assert checked > 50
    # per-mode slopes (issue 13): true ratio 10/11 at g = 1, the common-margin bound with kappa = 2 says 0
    assert gp.gap_ratio_bound_common_margin(1.0, 0.0, 2.0) == 0.0 < 10 / 11


def test_bad_inputs():
    with pytest.raises(InputError, match="eta_max"):
        gp.gap_ratio_bound_slopes(0.5, 1.0)
    with pytest.raises(InputError, match="grid"):
        gp.ddim_difference_multipliers([1.0, 2.0], 0.5, 3.0)
    with pytest.raises(InputError, match="sampler"):
        gp.release_agreement([1.0], [1.0], 1.0, 2.0, 1.0, "euler")
