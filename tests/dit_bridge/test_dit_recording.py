"""Protocol II recording (dit_bridge.recording) and per-scale commitment (dit_bridge.commitment)."""
import numpy as np
import pytest
import torch

from syncgap.dit_bridge.commitment import commitment_fits, default_scales, scale_agreement
from syncgap.dit_bridge.coupling import remove_coupling, set_coupling
from syncgap.dit_bridge.protocols import protocol_two
from syncgap.dit_bridge.recording import PairRecorder
from syncgap.dit_bridge.registry import load_tiny
from syncgap.dit_bridge.sampling import antisymmetric_noise, sample_pairs
from syncgap.ou_models.estimators import sigmoid


@pytest.fixture(scope="module")
def tiny():
    return load_tiny(seed=21)


def test_recording_leaves_outputs_unchanged(tiny):
    xa, xb = antisymmetric_noise(tiny.sample_shape, 2, seed=1)
    set_coupling(tiny.model, 0.6)
    kw = dict(labels=[3, 5], seed=2, num_steps=5, guidance_scale=2.0)
    plain = sample_pairs(tiny, xa, xb, **kw).x
    with PairRecorder(tiny.model, n_bands=3) as rec:
        recorded = sample_pairs(tiny, xa, xb, recorder=rec, **kw).x
    remove_coupling(tiny.model)
    assert torch.equal(plain, recorded)
    assert not any(b._forward_hooks for b in tiny.model.transformer_blocks)  # detached
    r = rec.result()
    assert r["diff"].shape == (5, 3, 2) and r["bands"].shape == (5, 3, 2, 3) and "modes" not in r


def _reduce_one(rec, h, m, layer):
    """The recorder's statistics (P, 2 + bands) of block output h, fed to every layer's hook."""
    rec.begin_step(0, m)
    for i in range(rec.n_layers):
        rec._hook(i)(None, None, h)
    return rec.records[0][layer].numpy()


def test_reductions_match_direct_computation(tiny):
    """Energies and band shares against a NumPy DFT of captured block outputs."""
    h = torch.randn(8, 16, 12, dtype=torch.float64).float()  # rows [A_c, A_u ; B_c, B_u] of 2 pairs, 4x4 grid
    rec = PairRecorder(tiny.model, n_bands=3)  # edges clear of the 4x4 lattice
    out = _reduce_one(rec, h, m=2, layer=1)
    a, b = h[:2].double().numpy(), h[4:6].double().numpy()
    d, c = (a - b) / np.sqrt(2), (a + b) / np.sqrt(2)
    np.testing.assert_allclose(out[:, 0], (c ** 2).mean((1, 2)), rtol=1e-5)
    np.testing.assert_allclose(out[:, 1], (d ** 2).mean((1, 2)), rtol=1e-5)
    np.testing.assert_allclose(out[:, 0] + out[:, 1], (a ** 2 + b ** 2).mean((1, 2)) / 2 * 2, rtol=1e-5)
    f = np.fft.fftfreq(4)
    r = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2).ravel()
    low = r < np.sqrt(0.5) / 3
    power = (np.abs(np.fft.fft2(d.reshape(2, 4, 4, 12), axes=(1, 2))) ** 2).sum(-1).reshape(2, 16) / 16
    share_low = power[:, low].sum(1) / (d ** 2).sum((1, 2))
    np.testing.assert_allclose(out[:, 2], share_low, rtol=1e-5)
    np.testing.assert_allclose(out[:, 2:5].sum(1), 1.0, rtol=1e-5)
    assert out.shape == (2, 5)


def test_protocol_two_record(tiny):
    r = protocol_two(tiny, 0.5, n_pairs=2, num_steps=4, n_bands=2, seed=3)
    assert r["common"].shape == (4, 3, 2) and r["increment_share"].shape == (4, 3, 2)
    np.testing.assert_allclose(r["bands"].sum(-1), 1.0, rtol=1e-4)
    assert np.all((r["increment_share"] >= 0) & (r["increment_share"] <= 1 + 1e-6))
    assert r["increment_chance"] == 9 / 16   # 4x4 token grid: DCT indices <= 2 on both axes
    assert np.all((r["diff_fraction"] >= 0) & (r["diff_fraction"] <= 1))
    assert r["final_agreement"].shape == (2, 4)


def test_scale_agreement_limits():
    a = torch.randn(3, 2, 8, 8)
    checker = torch.ones(8, 8)
    checker[::2, 1::2] = checker[1::2, ::2] = -1.0  # zero mean at every pooled scale < 8
    b = a + 0.5 * checker
    np.testing.assert_allclose(scale_agreement(a, a, [1, 8]), 1.0)
    np.testing.assert_allclose(scale_agreement(a, -a, [1, 8]), -1.0)
    agr = scale_agreement(a, b, default_scales(8))
    np.testing.assert_allclose(agr[:, :3], 1.0, atol=1e-12)  # the difference is invisible when pooled
    assert np.all(agr[:, 3] < 1.0)


def test_commitment_fits_recover_known_midpoints():
    rng = np.random.default_rng(0)
    t = np.arange(0, 51, 5.0)
    taus = [10.0, 20.0, 35.0]
    curves = np.stack([sigmoid(t, 0.1, 0.9, tau, 4.0) for tau in taus])  # (3, 11)
    agree = curves[None] + rng.normal(0, 0.05, (16, 3, t.size))
    fits = commitment_fits(t, agree, [1, 2, 8], n_boot=40)
    for p, tau in zip(fits["per_scale"], taus):
        assert abs(p["tau"] - tau) < 2.0 and p["tau_low"] <= tau + 2.0 and p["tau_high"] >= tau - 2.0
    assert abs(fits["gap"] - 25.0) < 3.0 and fits["gap_low"] < fits["gap_high"]
    flat = commitment_fits(t, 0.5 + rng.normal(0, 0.01, (8, 3, t.size)), [1, 2, 8], n_boot=10)
    assert flat["gap"] is None or np.isnan(flat["gap"])


def test_batched_step_reduction_matches_numpy(tiny):
    """The hooks' once-per-step batched reduction of all layers against NumPy."""
    torch.manual_seed(4)
    n_layers = len(tiny.model.transformer_blocks)
    rec = PairRecorder(tiny.model, n_bands=3)
    hs = [torch.randn(6, 16, 12) for _ in range(n_layers)]  # rows [A_0..A_2 ; B_0..B_2], no CFG
    rec.begin_step(7, 2)  # record 2 of the 3 pairs
    for layer, h in enumerate(hs):
        rec._hook(layer)(None, None, h)
    out = rec.result()
    assert list(out["steps"]) == [7]
    f = np.fft.fftfreq(4)
    r = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2).ravel()
    band = np.clip(np.searchsorted(np.linspace(0, np.sqrt(0.5) * (1 + 1e-9), 4), r, side="right") - 1, 0, 2)
    for layer, h in enumerate(hs):
        a, b = h[:2].double().numpy(), h[3:5].double().numpy()
        d, c = (a - b) / np.sqrt(2), (a + b) / np.sqrt(2)
        e = (d ** 2).sum((1, 2))
        np.testing.assert_allclose(out["common"][0, layer], (c ** 2).mean((1, 2)), rtol=1e-5)
        np.testing.assert_allclose(out["diff"][0, layer], (d ** 2).mean((1, 2)), rtol=1e-5)
        power = (np.abs(np.fft.fft2(d.reshape(2, 4, 4, 12), axes=(1, 2))) ** 2).sum(-1).reshape(2, 16) / 16
        bands = np.stack([power[:, band == k].sum(1) for k in range(3)], 1) / e[:, None]
        np.testing.assert_allclose(out["bands"][0, layer], bands, rtol=1e-5, atol=1e-7)
    assert "modes" not in out


def test_in_place_change_of_a_recorded_output_is_caught(tiny):
    rec = PairRecorder(tiny.model, n_bands=2)
    hs = [torch.randn(4, 16, 12) for _ in tiny.model.transformer_blocks]
    rec.begin_step(0, 2)
    rec._hook(0)(None, None, hs[0])
    hs[0].mul_(2.0)  # a later module rewriting a block output in place would corrupt the record
    for layer in range(1, len(hs) - 1):
        rec._hook(layer)(None, None, hs[layer])
    with pytest.raises(RuntimeError, match="in place"):
        rec._hook(len(hs) - 1)(None, None, hs[-1])
