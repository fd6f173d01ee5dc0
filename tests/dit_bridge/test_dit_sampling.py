"""Pair sampler (dit_bridge.sampling) and Protocol I (dit_bridge.protocols) on the tiny DiT."""
import numpy as np
import pytest
import torch

from syncgap.dit_bridge.coupling import remove_coupling, set_coupling
from syncgap.dit_bridge.protocols import protocol_one
from syncgap.dit_bridge.registry import load_tiny
from syncgap.dit_bridge.sampling import _model_eps, antisymmetric_noise, sample_pairs
from syncgap.theory.checks import InputError

TOL = dict(atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def tiny():
    return load_tiny(seed=11)


def _noise(m, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(m, 4, 8, 8, generator=gen), torch.randn(m, 4, 8, 8, generator=gen)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_sampler_is_deterministic_and_replicas_independent_at_g0(tiny, sampler):
    xa, xb = _noise(2)
    _, xb2 = _noise(2, seed=1)
    set_coupling(tiny.model, 0.0)
    kw = dict(labels=[1, 2], seed=5, num_steps=8, sampler=sampler)
    r1 = sample_pairs(tiny, xa, xb, **kw).x
    r2 = sample_pairs(tiny, xa, xb, **kw).x
    r3 = sample_pairs(tiny, xa, xb2, **kw).x  # another partner: A must not notice at g = 0
    r4 = sample_pairs(tiny, xa, xb, g_schedule=0.7, **kw).x
    remove_coupling(tiny.model)
    assert torch.equal(r1, r2)
    torch.testing.assert_close(r3[:2], r1[:2], **TOL)
    assert not torch.allclose(r4[:2], r1[:2], atol=1e-3)
    assert torch.isfinite(r4).all()


def test_per_layer_schedule_sets_each_layer_each_step(tiny):
    xa, xb = _noise(1, seed=8)
    set_coupling(tiny.model, 0.0, layers=[0, 2])
    seen = []
    sched = np.array([[0.1 * k, 1.0 - 0.1 * k] for k in range(4)])  # (steps, coupled layers)

    class Spy:
        def begin_step(self, step, m):
            from syncgap.dit_bridge.coupling import get_g
            seen.append(get_g(tiny.model))
    sample_pairs(tiny, xa, xb, num_steps=4, g_schedule=sched, recorder=Spy())
    remove_coupling(tiny.model)
    np.testing.assert_allclose(np.asarray(seen)[:, [0, 2]], sched, atol=1e-7)
    np.testing.assert_allclose(np.asarray(seen)[:, 1], 0.0)


def test_cfg_guidance_matches_per_replica_stock_computation(tiny):
    xa, xb = _noise(2, seed=3)
    x = torch.cat([xa, xb])
    labels = torch.tensor([4, 7, 4, 7])
    remove_coupling(tiny.model)
    out = _model_eps(tiny, x, torch.tensor(600), labels, 3.0)
    with torch.no_grad():
        t = torch.full((4,), 600)
        cond = tiny.model(x, t, labels).sample
        unc = tiny.model(x, t, torch.full((4,), 10)).sample
    expected = torch.cat([unc[:, :4] + 3.0 * (cond[:, :4] - unc[:, :4]), cond[:, 4:]], 1)
    torch.testing.assert_close(out, expected, **TOL)


def test_schedule_off_after_t_int_equals_protocol_branching(tiny):
    """protocol_one's shared prefix + snapshots must equal full runs with the schedule [g]*t_int + [0]*rest."""
    n, steps, g = 2, 6, 1.5
    rec = protocol_one(tiny, g, t_ints=[0, 2, 4, 6], n_pairs=n, num_steps=steps, seed=9, n_boot=10, eps=0.5)
    xa, xb = antisymmetric_noise(tiny.sample_shape, n, seed=9, eps=0.5)
    set_coupling(tiny.model, 0.0)
    from syncgap.dit_bridge.commitment import scale_agreement
    for i, t_int in enumerate([0, 2, 4, 6]):
        sched = [g] * t_int + [0.0] * (steps - t_int)
        x = sample_pairs(tiny, xa, xb, labels=rec["labels"], seed=9, num_steps=steps, g_schedule=sched).x
        np.testing.assert_allclose(rec["agreement"][:, :, i], scale_agreement(*x.chunk(2), rec["scales"]),
                                   atol=1e-6)
    remove_coupling(tiny.model)
    assert rec["agreement"].shape == (n, 4, 4) and len(rec["per_scale"]) == 4


def test_noise_is_reused_across_g(tiny):
    """t_int = 0 means never coupled: with the same seeds, its outputs cannot depend on g."""
    kw = dict(t_ints=[0, 1, 2, 3], n_pairs=2, num_steps=3, seed=12, n_boot=10)
    lo, hi = protocol_one(tiny, 0.2, **kw), protocol_one(tiny, 5.0, gate="joint", **kw)
    np.testing.assert_array_equal(lo["agreement"][:, :, 0], hi["agreement"][:, :, 0])
    assert not np.allclose(lo["agreement"][:, :, -1], hi["agreement"][:, :, -1])


def test_cloning_variant_is_one_trajectory_until_the_split(tiny):
    rec = protocol_one(tiny, 0.0, t_ints=[0, 2, 4, 5], n_pairs=2, num_steps=5, seed=4, n_boot=10, clone=True)
    np.testing.assert_array_equal(rec["agreement"][:, :, -1], 1.0)  # never split: identical outputs
    assert np.all(rec["agreement"][:, -1, 0] < 0.999)  # split at the start: fine scale differs
    with pytest.raises(InputError, match="ddpm"):
        protocol_one(tiny, 0.0, n_pairs=2, num_steps=4, sampler="ddim", clone=True)


def test_antisymmetric_noise_is_variance_preserving():
    a, b = antisymmetric_noise((1, 32, 32), 64, seed=0, eps=0.6)
    for z in (a, b):
        assert abs(float(z.var()) - 1.0) < 0.02 and abs(float(z.mean())) < 0.02
    d, s = (a - b) / 2, (a + b) / 2
    assert abs(float(d.var()) - 0.36) < 0.01 and abs(float(s.var()) - 0.64) < 0.01
    assert abs(float((d * s).mean())) < 0.01


def test_bad_sampling_input(tiny):
    xa, xb = _noise(2)
    with pytest.raises(InputError, match=r"class label 10 is outside the allowed range \[0, 9\]"):
        sample_pairs(tiny, xa, xb, labels=[1, 10], num_steps=2)
    with pytest.raises(InputError, match="initial noise"):
        sample_pairs(tiny, xa, xb[:1], num_steps=2)
    with pytest.raises(InputError, match="sampler must be one of"):
        sample_pairs(tiny, xa, xb, num_steps=2, sampler="euler")
    with pytest.raises(InputError, match="g schedule values"):
        set_coupling(tiny.model, 0.0)
        try:
            sample_pairs(tiny, xa, xb, num_steps=2, g_schedule=[0.1, float("nan")])
        finally:
            remove_coupling(tiny.model)
    with pytest.raises(InputError, match="g=-1 is outside"):
        protocol_one(tiny, -1.0, n_pairs=2, num_steps=4)
    with pytest.raises(InputError, match="t_int: need at least 4 distinct"):
        protocol_one(tiny, 0.5, t_ints=[0, 1], n_pairs=2, num_steps=4)
