"""OU measurements against theory/ and against independent exact results (docs/science.md §2-4, §7).

Reduced settings (few samples, coarse grids); the published ones are in `syncgap ou` and the report.
"""
import numpy as np
import pytest

from syncgap.ou_models import engine, measure
from syncgap.theory import base, coupled_ou, gated
from syncgap.theory.data import SignFeatureMixture, two_gaussian_mixture


def _inside(th, lo, hi, slack):
    return (th >= lo - slack) & (th <= hi + slack)


@pytest.mark.slow
def test_cloning_reproduces_base_theory_curve_and_speciation_time():
    """phi(t) for the two-Gaussian mixture, d = 256, vs the exact curve of theory.base (quadrature)."""
    d = 256
    r = measure.cloning(two_gaussian_mixture(d), engine.ou_grid(8.0, 400), 800, seed=3, n_boot=200,
                        branch_times=np.linspace(1.0, 5.0, 11))
    th = base.cloning_agreement(r["t_branch"], np.sqrt(d), 1.0)
    assert _inside(th, r["agreement_low"][:, 0], r["agreement_high"][:, 0], 0.02).all()
    est, lo, hi = (r[f"t_speciation{end}"][0] for end in ("", "_low", "_high"))
    # the exact curve's 0.75 crossing, and t_S = 1/2 log Lambda of docs/science.md §2 (a crossover scale, not the crossing)
    tt = np.linspace(1.0, 5.0, 4001)
    t75 = tt[np.argmin(np.abs(base.cloning_agreement(tt, np.sqrt(d), 1.0) - 0.75))]
    assert t75 == pytest.approx(measure.cloning_crossing_theory(1.0, np.sqrt(d), 1.0), abs=2e-3)
    assert lo - 0.05 <= t75 <= hi + 0.05
    assert abs(est - base.speciation_time(d + 1.0)) < 0.2


@pytest.mark.slow
@pytest.mark.parametrize("g", [0.0, 0.5, 0.85])
def test_layer_a_mode_cloning_matches_theory(g):
    """Layer A: each mode of the symmetric pair is a base OU with rate kappa_m (theory.coupled_ou), so its
    cloning curve is theory.base's curve in time kappa t with amplitude and noise scaled by sqrt(kappa).
    g = 0.85 is near the forward stability bound |g| < 1."""
    a = 8.0
    data = SignFeatureMixture(np.eye(2)[:1], np.array([a]), 1.0, (2,))
    A = coupled_ou.drift_symmetric(g)
    rates = coupled_ou.mode_rates(A)
    ev, V = np.linalg.eigh(A)
    np.testing.assert_allclose(np.sort(rates["rates"]), ev, atol=1e-12)
    ts = coupled_ou.mode_speciation_times(A, a * a + 1.0)["t_S"]
    r = measure.cloning(data, engine.ou_grid(1.6 * ts.max() + 1, 500), 1500, seed=5, drift=A, sign_mixing=V,
                        n_boot=200, branch_times=np.concatenate([np.linspace(0.6 * x, 1.5 * x, 7) for x in set(ts)]))
    for m, kap in enumerate(ev):
        j = r["observables"].index(f"mode{m}.0")
        th = base.cloning_agreement(kap * r["t_branch"], np.sqrt(kap) * a, np.sqrt(kap))
        near = np.abs(r["t_branch"] - np.sort(ts)[::-1][m]) < 0.5 * np.sort(ts)[::-1][m]   # this mode's window
        assert _inside(th, r["agreement_low"][:, j], r["agreement_high"][:, j], 0.03)[near].all(), (m, kap)
        assert _inside(th, r["agreement_low"][:, j], r["agreement_high"][:, j], 0.06).all(), (m, kap)
        # measured phi = 0.75 time vs the exact curve's crossing; t_S^m itself is only the crossover scale
        est, lo, hi = (r[f"t_speciation{end}"][j] for end in ("", "_low", "_high"))
        assert lo - 0.05 / kap <= measure.cloning_crossing_theory(kap, a, 1.0) <= hi + 0.05 / kap
        assert abs(est - np.sort(ts)[::-1][m]) < 0.15 * np.sort(ts)[::-1][m] + 0.1


@pytest.mark.slow
@pytest.mark.parametrize("g", [0.0, 0.5, 0.95, 3.0])
def test_layer_b_difference_rates_match_theory(g):
    """Layer B, Gaussian data: replica-difference growth rate r_k(t; g) of theory.gated, ODE exactly and
    SDE with the injected noise removed, for two eigenvalues; includes g near and past rho = 0 (g = 1)."""
    lam = np.array([30.0, 3.0])
    data = engine.gaussian_model(np.eye(3)[:2], lam, 1.0)
    grid = engine.ou_grid(4.5, 900)
    r = measure.difference_energy(data, grid, g, 200, seed=1, record_every=2, scheme="ode", n_boot=50)
    sel = (r["t"] > 0.4) & (r["t"] < 4.3)
    for k, lk in enumerate(lam):
        th = gated.difference_growth_rate(r["t"][sel], g, lk, "ode")
        np.testing.assert_allclose(r["rate"][sel, k], th, atol=0.01 + 0.02 * np.abs(th).max())
    r = measure.difference_energy(data, grid, g, 2500, seed=2, record_every=5, scheme="sde", n_boot=100)
    sel = (r["t"] > 0.4) & (r["t"] < 4.3)
    for k, lk in enumerate(lam):
        th = gated.difference_growth_rate(r["t"][sel], g, lk, "sde")
        lo, hi = r["rate_drift_low"][sel, k], r["rate_drift_high"][sel, k]
        assert _inside(th, lo, hi, 0.0).mean() > 0.85          # pointwise 95 % bands
        assert _inside(th, lo, hi, 0.25).all()


@pytest.mark.slow
def test_protocol_one_chance_without_coupling_and_ordered_commitment_with_it():
    data = SignFeatureMixture(np.eye(3)[:2], np.array([20.0, 4.0]), 1.0, (3,))
    grid = engine.ou_grid(6.0, 300)
    times = np.linspace(0.1, 4.5, 10)
    r0 = measure.protocol_one(data, grid, 0.0, 600, seed=4, t_int_times=times, n_boot=100)
    assert (r0["agreement_low"] < 0.5).all() and (r0["agreement_high"] > 0.5).all()   # g = 0: independent, chance
    assert np.isnan(r0["tau_spec"]).all()
    r = measure.protocol_one(data, grid, 10.0, 600, seed=4, t_int_times=times, n_boot=100, batch=250)
    assert (r["agreement"][-1] > 0.97).all()    # t_int = 0.1: coupled almost to the end, one class
    tau = r["tau_spec"]
    assert tau[0] > tau[1] > 0                                              # strong feature commits first
    est, lo, hi = r["gap"][0], r["gap_low"][0], r["gap_high"][0]
    assert lo <= est <= hi and r["gap_dit_steps"][0] > 0
    # batching never changes the result
    r2 = measure.protocol_one(data, grid, 10.0, 600, seed=4, t_int_times=times, n_boot=100, batch=600)
    np.testing.assert_array_equal(r["agreement"], r2["agreement"])


@pytest.mark.parametrize("window", ["release", "switch-on", "clone"])
def test_protocol_one_without_fits_gives_the_same_units(window):
    data = SignFeatureMixture(np.eye(3)[:2], np.array([20.0, 4.0]), 1.0, (3,))
    grid, times = engine.ou_grid(6.0, 60), np.linspace(0.1, 4.5, 5)
    kw = dict(seed=3, t_int_times=times, window=window)
    full = measure.protocol_one(data, grid, 2.0, 200, keep_units=True, n_boot=10, **kw)
    bare = measure.protocol_one(data, grid, 2.0, 200, fit=False, **kw)
    assert "tau_spec" not in bare and "agreement" not in bare
    np.testing.assert_array_equal(bare["units"], full["units"])
    np.testing.assert_array_equal(bare["units_t_int_steps"], full["units_t_int_steps"])
    assert bare["units"].std() > 0                  # the agreement varies over paths: a real comparison


def test_collapse_lock_time_tracks_theory():
    """Nearest training point stops changing near t_C = 1/2 log(1 + sigma^2/(n^{2/d} - 1)) (docs/science.md §2)."""
    r = measure.collapse(100, 8, engine.ou_grid(3.0, 600), 400, seed=1, n_boot=200)
    tc = base.collapse_time(100, 8, 1.0)
    assert r["t_collapse_theory"] == pytest.approx(tc)
    est, lo, hi = r["t_lock_median"], r["t_lock_median_low"], r["t_lock_median_high"]
    assert lo - 0.03 <= tc <= hi + 0.03
    assert np.median(r["final_nn_distance"]) < 0.5 * np.sqrt(8)            # samples sit on training points


@pytest.mark.slow
def test_flat_fhgm_control_features_commit_together():
    """The equal-amplitude FHGM control (theory.data.flat_frequency_mixture): under the exact-score sampler
    every feature has the same speciation time 1/2 log(a^2 + sigma^2), and its measured 0.75 crossings agree
    with each other and with the exact crossing; the shipped FHGM, through the same code, does not."""
    from syncgap.theory.data import (FHGM_AMPLITUDES, FHGM_NOISE_STD, flat_frequency_mixture,
                                     frequency_hierarchy_mixture)
    flat = flat_frequency_mixture()
    a = float(np.sqrt(np.mean(np.square(FHGM_AMPLITUDES))))  # equal total signal variance
    assert flat.amplitudes == pytest.approx([a] * 4, rel=1e-12)
    assert np.sum(flat.amplitudes ** 2) == pytest.approx(np.sum(np.square(FHGM_AMPLITUDES)), rel=1e-12)
    t_s = base.speciation_time(flat.eigenvalues())
    assert t_s == pytest.approx([0.5 * np.log(a * a + FHGM_NOISE_STD ** 2)] * 4, rel=1e-12)
    assert t_s[0] == pytest.approx(1.936, abs=1e-3)

    grid, branch = engine.ou_grid(6.0, 300), np.linspace(0.6, 3.6, 16)
    r = measure.cloning(flat, grid, 1500, seed=4, n_boot=200, branch_times=branch)
    est, lo, hi = (r[f"t_speciation{end}"] for end in ("", "_low", "_high"))                          # (4,) each: one per feature
    t75 = measure.cloning_crossing_theory(1.0, a, FHGM_NOISE_STD)
    assert np.all((lo - 0.05 <= t75) & (t75 <= hi + 0.05)), (est, lo, hi, t75)
    assert lo.max() <= hi.min() + 0.05, (lo, hi)               # one common interval: no feature commits first
    assert np.all(np.abs(est - t_s) < 0.2)

    r = measure.cloning(frequency_hierarchy_mixture(), grid, 1500, seed=4, n_boot=200,
                        branch_times=np.linspace(0.1, 3.6, 16))
    est, lo, hi = (r[f"t_speciation{end}"] for end in ("", "_low", "_high"))
    assert np.all(np.diff(est) < 0) and lo.max() > hi.min() + 1.0  # the hierarchy: low frequencies first
