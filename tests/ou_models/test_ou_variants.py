"""The protocol space on the exact-score OU analog (docs/protocols.md): one property per variant."""
import numpy as np
import pytest

from syncgap.ou_models import engine, measure, sampler, variants
from syncgap.theory.checks import InputError
from syncgap.theory.data import SignFeatureMixture

DATA = SignFeatureMixture(np.eye(4)[:2], np.array([20.0, 4.0]), 1.0, (4,))
GRID = engine.ddpm_grid(100)


def test_release_at_g0_with_ddim_gives_a_flat_agreement_curve():
    r = measure.protocol_one(DATA, GRID, 0.0, 300, scheme="ddim", n_boot=20)
    assert np.ptp(r["agreement"], axis=0).max() == 0.0        # every t_int: the same final outputs
    assert np.all(np.isnan(r["gap_dit_steps"]))                # no midpoint, no gap


def test_g0_pair_is_two_independent_runs_exactly():
    z0 = variants.antisymmetric_start(engine.initial_state(engine.feature_model(DATA), 50, 2, GRID[0]), 0.3)
    moved = z0.copy()
    moved[:, 1] = engine.initial_state(engine.feature_model(DATA), 50, 2, GRID[0], seed=7)[:, 1]
    for noise in (False, True):
        a = sampler.sample(DATA, GRID, 50, 3, K=2, gate=0.0, scheme="ddpm", z0=z0, shared_noise=noise)["z"]
        b = sampler.sample(DATA, GRID, 50, 3, K=2, gate=0.0, scheme="ddpm", z0=moved, shared_noise=noise)["z"]
        # A never sees B at g = 0; to rounding only, since the exact posterior normalises over the joint
        # sign states of both replicas (engine.step_tables), which mixes B's terms in at 1e-16
        np.testing.assert_allclose(a[:, 0], b[:, 0], rtol=1e-12, atol=1e-12)
        assert not np.array_equal(a[:, 1], b[:, 1])
    one = sampler.sample(DATA, GRID, 50, 3, K=2, gate=0.0, scheme="ddpm", z0=z0)["z"]
    gated = sampler.sample(DATA, GRID, 50, 3, K=2, gate=0.5, scheme="ddpm", z0=z0)["z"]
    assert not np.array_equal(one[:, 0], gated[:, 0])          # ... and does at g > 0 (the check can fail)


def test_shared_noise_and_vanishing_eps_agree_at_every_t_int():
    r = measure.protocol_one(DATA, GRID, 0.0, 300, scheme="ddpm", noise="shared", eps=1e-6, n_boot=20)
    assert r["agreement"].min() >= 0.99
    indep = measure.protocol_one(DATA, GRID, 0.0, 300, scheme="ddpm", noise="independent", eps=1e-6, n_boot=20)
    assert indep["agreement"].min() < 0.7                         # independent noise decorrelates the pair


@pytest.mark.parametrize("scheme", ["ddpm", "ddim"])
def test_switch_on_at_g1_synchronises_every_feature_at_every_t_int(scheme):
    r = measure.protocol_one(DATA, GRID, 1.0, 300, scheme=scheme, window="switch-on", n_boot=20)
    assert r["agreement"].min() >= 0.99                           # gap 0: nothing is left to commit
    r = measure.protocol_one(DATA, GRID, 0.0, 300, scheme=scheme, window="switch-on", n_boot=20)
    assert r["agreement"].max() < 0.7                             # at g = 0 the tail does nothing


def test_throughout_at_g0_reads_onsets_in_the_order_of_the_amplitudes():
    r = variants.throughout(DATA, GRID, 0.0, 400, scheme="ddim", eps=0.3, n_boot=30)
    first, second = (o["onset_dit_steps"] for o in r["onsets"])
    assert first is not None and second is not None and first < second    # a = 20 commits before a = 4
    assert r["gaps"][0]["gap_dit_steps"] == second - first
    r = variants.throughout(DATA, GRID, 1.0, 400, scheme="ddim", eps=0.3, n_boot=30)
    assert all(o["onset_dit_steps"] is None and o["onset_dit_steps_reason"].startswith("no onset") for o in r["onsets"])
    assert r["gaps"][0]["gap_dit_steps"] is None and r["gaps"][0]["gap_dit_steps_reason"]


def test_difference_onset_rules():
    q = np.r_[np.full(40, 0.2), np.linspace(0.2, 1.0, 60)]
    i, why = variants.difference_onset(q, level=0.1)
    assert why is None and q[i] - 0.2 >= 0.08 and q[i - 1] - 0.2 < 0.08
    assert variants.difference_onset(np.full(50, 0.3))[0] is None                      # never grows
    assert "quiet" in variants.difference_onset(1.0 - 0.8 * np.exp(-np.arange(100) / 3.0))[1]  # grows at once


def test_antisymmetric_start_and_variant_checks():
    z = np.random.default_rng(0).standard_normal((20000, 2, 3))
    s = variants.antisymmetric_start(z, 0.3)
    np.testing.assert_allclose(s[:, 0] - s[:, 1], 0.6 * z[:, 1])
    np.testing.assert_allclose(s.var(axis=0), 1.0, atol=0.03)
    with pytest.raises(InputError, match="window"):
        variants.check_variant("sometimes", "shared", None)
    with pytest.raises(InputError, match="eps"):
        variants.check_variant("release", "shared", 1.5)
    with pytest.raises(InputError, match="window"):
        measure.protocol_one(DATA, GRID, 0.5, 10, window="throughout")
