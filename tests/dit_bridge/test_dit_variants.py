"""The protocol space on the tiny DiT (docs/protocols.md): batched tails, windows, noise, throughout."""
import numpy as np
import pytest
import torch

from syncgap.dit_bridge.coupling import remove_coupling
from syncgap.dit_bridge.branches import protocol_one_branches
from syncgap.dit_bridge.pair_run import PairRun
from syncgap.dit_bridge.protocols import protocol_one
from syncgap.dit_bridge.registry import load_tiny
from syncgap.dit_bridge.sampling import antisymmetric_noise, sample_pairs
from syncgap.theory.checks import InputError


@pytest.fixture(scope="module")
def tiny():
    return load_tiny(seed=11)


def _finals(tiny, batched, **kw):
    run = PairRun(tiny, g=kw.pop("g", 0.8), n_pairs=3, seed=2, num_steps=6, batched=batched, **kw)
    return {t: torch.cat([a, b]) for _, t, a, b in protocol_one_branches(run, [0, 2, 3, 6])}


@pytest.mark.parametrize("variant", [dict(sampler="ddpm"), dict(sampler="ddim"), dict(window="switch-on"),
                                     dict(noise="shared"), dict(clone=True, g=0.0)])
def test_batched_tails_equal_the_sequential_loop(tiny, variant):
    seq, bat = _finals(tiny, False, **dict(variant)), _finals(tiny, True, **dict(variant))
    assert list(seq) == list(bat) == [0, 2, 3, 6]
    for t in seq:   # same noise per row; the batch changes only the float rounding of the forward
        torch.testing.assert_close(bat[t], seq[t], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_g0_release_reproduces_two_independent_runs_exactly(tiny, sampler):
    run = PairRun(tiny, n_pairs=2, seed=4, num_steps=5, sampler=sampler)
    xa, xb = antisymmetric_noise(tiny.sample_shape, 2, 4, 0.3)
    remove_coupling(tiny.model)
    ref = sample_pairs(tiny, xa, xb, run.row_labels[:2], seed=4, num_steps=5, sampler=sampler).x
    for _, t, a, b in protocol_one_branches(run, [0, 2, 5]):
        torch.testing.assert_close(torch.cat([a, b]), ref, atol=1e-5, rtol=1e-5)


def test_release_at_g0_with_ddim_gives_a_flat_agreement_curve(tiny):
    r = protocol_one(tiny, 0.0, [0, 2, 4, 6], n_pairs=3, num_steps=6, sampler="ddim", n_boot=10)
    assert np.ptp(r["agreement"], axis=2).max() < 1e-6
    assert r["gap_steps"] is None and r["gap_steps_reason"]


def test_shared_noise_with_vanishing_eps_agrees_at_every_t_int(tiny):
    r = protocol_one(tiny, 0.0, [0, 2, 4, 6], n_pairs=3, num_steps=6, noise="shared", eps=1e-6, n_boot=10)
    assert r["agreement"].min() > 0.999
    r = protocol_one(tiny, 0.0, [0, 2, 4, 6], n_pairs=3, num_steps=6, noise="independent", eps=1e-6, n_boot=10)
    assert r["agreement"].min() < 0.99                       # independent per-step noise separates them


def test_switch_on_at_g0_is_the_independent_run_and_reads_falling_curves(tiny):
    seq_on, seq_rel = _finals(tiny, True, g=0.0, window="switch-on"), _finals(tiny, True, g=0.0)
    for t in seq_on:   # nothing is ever coupled at g = 0: every window gives the same outputs
        torch.testing.assert_close(seq_on[t], seq_rel[t], atol=1e-5, rtol=1e-5)
    from syncgap.dit_bridge.commitment import commitment_fits
    t = np.arange(0.0, 11.0)
    falling = 0.2 + 0.7 / (1.0 + np.exp((t - 4.0) / 0.8))           # switch-on: synchronised early, not late
    units = falling + np.random.default_rng(0).normal(0, 0.01, (6, 1, t.size))
    fit = commitment_fits(t, units, [1], n_boot=20, direction="falling")["per_scale"][0]
    assert abs(fit["tau"] - 4.0) < 0.3
    assert commitment_fits(t, units, [1], n_boot=20)["per_scale"][0]["tau"] is None or \
        not np.isfinite(commitment_fits(t, units, [1], n_boot=20)["per_scale"][0]["tau"])


def test_throughout_records_the_difference_along_the_run(tiny):
    r = protocol_one(tiny, 0.5, n_pairs=3, num_steps=6, window="throughout", sampler="ddim", n_boot=10)
    assert r["window"] == "throughout" and r["normalised_difference"].shape == (len(r["scales"]), 7)
    for p in r["per_scale"]:
        assert (p["onset"] is None) == (p.get("onset_reason") is not None)
    assert (r["gap_steps"] is None) == (r.get("gap_steps_reason") is not None)
    # at g = 0 with ddim, eps -> 0 and shared noise the states never separate: no onset anywhere
    r = protocol_one(tiny, 0.0, n_pairs=3, num_steps=6, window="throughout", sampler="ddim", eps=1e-7, n_boot=10)
    assert all(p["onset"] is None for p in r["per_scale"])


def test_variant_checks(tiny):
    with pytest.raises(InputError, match="window"):
        protocol_one(tiny, 0.5, n_pairs=2, num_steps=4, window="later")
    with pytest.raises(InputError, match="noise"):
        protocol_one(tiny, 0.5, n_pairs=2, num_steps=4, noise="loud")
    with pytest.raises(InputError, match="clone"):
        protocol_one(tiny, 0.0, n_pairs=2, num_steps=4, clone=True, window="switch-on")
