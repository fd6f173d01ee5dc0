"""The exact-score analog's gate (ou_models.analog): the final-step identity, the default ungated read-out,
the per-feature gate folded into the step tables, coupled cloning at g = 0 against cloning, and how
switch-on cells are read (validation/suites/dit/readout.py)."""
from __future__ import annotations

import numpy as np
import pytest

from syncgap.ou_models import analog, engine, measure, sampler
from syncgap.theory.data import frequency_hierarchy_mixture
from syncgap.validation.suites.dit import cells as dit_cells, readout as dit_readout

N_STEPS = 30


@pytest.fixture(scope="module")
def mix():
    return frequency_hierarchy_mixture()


def _final_agreement(mix, gate, n=600, seed=3):
    """Per-feature sign agreement of a pair started apart (eps = 0.3), independent noise, gate per step."""
    from syncgap.ou_models.variants import antisymmetric_start
    grid = engine.ddpm_grid(N_STEPS)
    model = engine.feature_model(mix)
    z0 = antisymmetric_start(engine.initial_state(model, n, 2, grid[0], None, seed), 0.3)
    y = sampler.sample(mix, grid, n, seed, K=2, gate=gate, scheme="ddpm", z0=z0)["z"] @ mix.patterns.T  # (n, 2, F)
    return (np.sign(y[:, 0]) == np.sign(y[:, 1])).mean(0)


def test_final_step_identity(mix):
    """Gate on in the final DDPM step only: at g = 1 the last step returns the same gated posterior mean for
    both replicas, so every feature agrees (1 exactly); at g = 0.9 or 1.1 (rho = +-0.05) it does not."""
    only_last = lambda g: np.r_[np.zeros(N_STEPS - 1), g]
    assert np.array_equal(_final_agreement(mix, only_last(1.0)), np.ones(4))
    for g in (0.9, 1.1):
        agree = _final_agreement(mix, only_last(g))
        assert agree.max() < 0.99, (g, agree)                   # measured 0.5-0.9, as a referee found
    assert _final_agreement(mix, np.zeros(N_STEPS)).max() < 0.99   # and nothing synchronises without a gate


def test_default_analog_does_not_gate_the_last_step(mix):
    g = analog.analog_gate(1.0, N_STEPS)
    assert g[-1] == 0.0 and np.all(g[:-1] == 1.0)
    assert np.all(analog.analog_gate(1.0, N_STEPS, gate_final=True) == 1.0)
    # the analog cell at g = 1, switched on at t_int = 29 (only the final step left): ungated by default,
    # so nothing synchronises (chance); with gate_final=True the identity makes every feature agree
    kw = dict(num_steps=N_STEPS, n_paths=400, seed=2, variant={"window": "switch-on"})
    off = dit_cells.exact_protocol_one_record(mix, 1.0, [0, 10, 20, 29], **kw)["feature_agreement"]
    on = dit_cells.exact_protocol_one_record(mix, 1.0, [0, 10, 20, 29], gate_final=True, **kw)["feature_agreement"]
    assert on[:, :, -1].mean() == 1.0 and off[:, :, -1].mean(0).max() < 0.9


def test_switch_on_reading_drops_the_never_coupled_column_and_reports_flat_curves():
    """A curve at 1 for every t_int < num_steps and at 0.5 only at num_steps has no midpoint: the gap is null
    with the reason 'flat at 1', never 0; release reading keeps every column."""
    t = np.arange(0, 31, 2.0)
    a = np.ones((20, 2, t.size))
    a[:, :, -1] = np.tile([0.0, 1.0], 10)[:, None]              # chance only at t_int = 30
    (g, tr, ar), = dit_readout.readable_cells([(1.0, t, a)], "switch-on", 30)
    assert tr[-1] == 28 and ar.shape == (20, 2, 15)
    reads = dit_readout.gap_readings([(1.0, tr, ar)], 50, 0, "falling")[1.0]
    assert reads["gap"] is None and "flat at 1" in reads["gap_reason"]
    assert dit_readout.readable_cells([(1.0, t, a)], "release", 30)[0][1].size == t.size
    # with the column kept the end-of-grid artefact gives a midpoint near the end for both units, a gap near 0
    kept = dit_readout.gap_readings([(1.0, t, a)], 50, 0, "falling")[1.0]["gap"]
    assert kept is not None and abs(kept) < 1e-6


def test_feature_gate_tables_with_one_rho_are_the_uniform_gate(mix):
    grid = engine.ddpm_grid(N_STEPS)
    for g in (0.25, 1.0, 5.0):
        rho = np.full((N_STEPS, 4), (1 - g) / (1 + g))
        a = analog.feature_gate_tables(mix, grid, rho, "ddpm", rest_gate=g)
        b = engine.step_tables(engine.feature_model(mix), grid, None, g, "ddpm", 2)
        for x, y in zip(a.args(), b.args()):
            assert np.allclose(x, y, rtol=1e-10, atol=1e-12)


def _run_tables(mix, tab, n=300, seed=1):
    """Final feature coordinates (n, 2, F) of a pair (eps = 0.3, independent noise) run with step tables `tab`."""
    from syncgap.ou_models import kernels
    from syncgap.ou_models.variants import antisymmetric_start
    grid = engine.ddpm_grid(N_STEPS)
    model = engine.feature_model(mix)
    z = antisymmetric_start(engine.initial_state(model, n, 2, grid[0], None, seed), 0.3).copy()
    y, gram = np.zeros((n, 1, 2, 4)), np.zeros((n, 1, 2, 2))
    kernels.run_paths(z, np.arange(n, dtype=np.int64), seed, 0, model.patterns, *tab.args(), engine.sign_states(2),
                      model.amplitudes > 0, 0, N_STEPS, N_STEPS, y, gram, False)
    return z @ model.patterns.T


def test_feature_gate_acts_on_its_feature_only(mix):
    """rho = 0 on feature 0 alone in the last step (the identity on that feature only): feature 0 of both
    replicas ends equal, the others as ungated."""
    grid = engine.ddpm_grid(N_STEPS)
    rho = np.ones((N_STEPS, 4))
    rho[-1, 0] = 0.0
    y = _run_tables(mix, analog.feature_gate_tables(mix, grid, rho, "ddpm"))
    assert np.allclose(y[:, 0, 0], y[:, 1, 0], atol=1e-9)
    agree = (np.sign(y[:, 0]) == np.sign(y[:, 1])).mean(0)
    assert agree[0] == 1.0 and agree[1:].max() < 0.99


def test_rho_clipping_is_reported():
    r, info = analog.clip_rho([[-1.2, 0.3], [1.05, 0.9]])
    assert r.min() == -1.0 and r.max() == 1.0 and info["n_clipped"] == 2 and info["min"] == -1.2
    with pytest.raises(Exception, match="rho"):
        analog.g_of_rho([1.5])


def test_coupled_cloning_at_g0_is_cloning_bit_for_bit(mix):
    grid = engine.ddpm_grid(N_STEPS)
    steps = [0, 6, 12, 18, 24, 30]
    cc = analog.coupled_cloning(mix, grid, 0.0, 200, seed=4, branch_steps=steps)
    cl = measure.cloning(mix, grid, 200, seed=4, branch_times=grid[steps], K=2, scheme="ddpm", keep_units=True,
                         n_boot=10)
    idx = [cl["observables"].index(f"x0.{k}") for k in range(4)]
    assert np.array_equal(cc["units"], cl["units"][:, :, idx])
    assert list(cc["branch_steps"]) == list(cl["branch_steps"])


def test_coupled_cloning_at_g1_keeps_the_clone_closer(mix):
    """Coupled, the copy is pulled towards its own partner, not towards the original: agreement with the
    original is not forced to 1; both the start (cloned at 30: identical) and the order of features hold."""
    grid = engine.ddpm_grid(N_STEPS)
    r = analog.coupled_cloning(mix, grid, analog.analog_gate(1.0, N_STEPS), 400, seed=5, branch_steps=[0, 10, 20, 30])
    u = r["units"].mean(0)                                           # (B, F)
    assert np.all(u[-1] == 1.0) and np.all(u[0] < 0.95)


def test_interval_with_many_resamples_without_midpoint_is_na_with_its_fraction():
    """A last unit whose agreement barely rises (0.5 -> 0.6, below the 0.05 contrast in many resamples): more than 10% of the resamples have no midpoint, so the gap is n/a and the reason says how many."""
    rng = np.random.default_rng(2)
    t = np.arange(0, 31, 2.0)
    n = 40
    first = (rng.random((n, t.size)) < np.where(t < 10, 0.5, 1.0)).astype(float)
    last = (rng.random((n, t.size)) < 0.5 + 0.1 * (t > 20)).astype(float)   # a faint rise: midpoint in the data
    a = np.stack([first, last], 1)
    r = dit_readout.gap_readings([(0.5, t, a)], 200, 0, "rising")[0.5]
    assert r["gap"] is not None and r["missing"] > 0.10        # measured 26% of 200 resamples
    assert r["gap_low"] == -np.inf and r["gap_high"] == np.inf
    assert "%" in r["gap_reason"]
    clean = np.stack([first, first], 1)                          # both units commit: nothing missing
    r = dit_readout.gap_readings([(0.5, t, clean)], 100, 0, "rising")[0.5]
    assert r["missing"] == 0.0 and "gap_reason" not in r and np.isfinite(r["gap_low"])


def test_g0_exact_cell_uses_the_ddpm_step(mix):
    t = [0, 10, 20, 30]
    rec = dit_cells.ou_clone_record(mix, t, num_steps=N_STEPS, n_paths=200, seed=1)
    grid = engine.ddpm_grid(N_STEPS)
    r = measure.cloning(mix, grid, 200, seed=1, branch_times=grid[t], scheme="ddpm", keep_units=True, n_boot=10)
    assert np.array_equal(rec["feature_agreement"], np.moveaxis(r["units"].astype(float), 2, 1))


def test_ou_protocol_one_clone_window_is_coupled_cloning(mix):
    """measure.protocol_one(window="clone") reads coupled cloning's units (one implementation), rising with t_int;
    `syncgap ou gap --window clone` runs it."""
    from syncgap.validation.cli.main import main
    grid = engine.ddpm_grid(N_STEPS)
    steps = [0, 6, 12, 18, 24, 30]
    r = measure.protocol_one(mix, grid, 0.5, 200, seed=2, t_int_times=grid[steps], scheme="ddpm", window="clone",
                             keep_units=True, n_boot=10)
    cc = analog.coupled_cloning(mix, grid, 0.5, 200, seed=2, branch_steps=steps)
    assert np.array_equal(r["units"], cc["units"]) and r["eps"] == 0.0
    with pytest.raises(Exception, match="clone"):
        measure.protocol_one(mix, grid, 0.5, 50, window="clone", noise="shared")
    assert main(["ou", "gap", "--window", "clone", "--g", "0.5", "--samples", "200", "--ddpm-steps", "30",
                 "--boot", "10", "--quiet", "--json"]) in (0, 3)
