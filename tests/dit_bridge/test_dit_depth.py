"""The depth measurement (dit_bridge.depth, dit_bridge.probes): basis, chance levels, probes, commitment, hooks."""
import numpy as np
import pytest
import torch

from syncgap.dit_bridge.depth import BlockRecorder, depth_run
from syncgap.dit_bridge.probes import (commitment_step, first_resolved_layer, fold_of_groups, layer_commitment,
                                       probe_correct, probe_cv)
from syncgap.dit_bridge.registry import load_model, load_tiny
from syncgap.dit_bridge.sampling import antisymmetric_noise, sample_pairs
from syncgap.dit_bridge.token_modes import (chance_share, feature_token_modes, global_mode_mask, mode_energy, patchify,
                                            token_dct_basis)
from syncgap.theory.checks import InputError
from syncgap.theory.data import frequency_hierarchy_mixture
from syncgap.theory.intervals import read_triples


@pytest.fixture(scope="module")
def tiny():
    return load_tiny(seed=5)


@pytest.mark.parametrize("h,w", [(4, 4), (8, 8), (3, 5)])
def test_token_dct_basis_orthonormal_and_parseval(h, w):
    u, index = token_dct_basis(h, w)
    np.testing.assert_allclose(u.T @ u, np.eye(h * w), atol=1e-12)
    assert index.shape == (h * w, 2) and index[1].tolist() == [0, 1]
    # column (0, 1) is constant in y and a half cosine in x (scipy-free check of DCT-II)
    x = np.arange(w)
    np.testing.assert_allclose(u[:w, 1], np.sqrt(1 / h) * np.sqrt(2 / w) * np.cos(np.pi * (2 * x + 1) / (2 * w)))
    d = torch.randn(6, h * w, 5, dtype=torch.float64)
    e = mode_energy(d, torch.from_numpy(u))
    torch.testing.assert_close(e.sum(-1), d.pow(2).sum((-2, -1)))  # Parseval


def test_chance_share_is_the_isotropic_share_and_structure_moves_it():
    u, index = token_dct_basis(8, 8)
    mask = global_mode_mask(index)
    assert mask.sum() == 9 and chance_share(mask) == 9 / 64
    basis = torch.from_numpy(u)
    iso = torch.randn(4000, 64, 8, dtype=torch.float64)
    e = mode_energy(iso, basis)
    share = float(e[:, torch.from_numpy(mask)].sum() / e.sum())
    assert abs(share - 9 / 64) < 0.005   # sd of the pooled share ~ 0.0006
    # a structured difference: smooth over tokens (indices <= 3 on both axes: 9 global of 16 modes), far from chance
    smooth = basis[:, torch.from_numpy(np.all(index <= 3, 1))]
    low = torch.einsum("tm,nmc->ntc", smooth, torch.randn(500, 16, 8, dtype=torch.float64))
    e = mode_energy(low, basis)
    assert float(e[:, torch.from_numpy(mask)].sum() / e.sum()) == pytest.approx(9 / 16, abs=0.03)


def test_feature_token_modes_cover_the_pattern():
    mix = frequency_hierarchy_mixture()
    u, _ = token_dct_basis(8, 8)
    modes, held = feature_token_modes(mix.patterns[0].reshape(1, 16, 16), u, 2)
    assert modes[0] == 1 and held >= 0.9       # dct01 lives on token mode (0, 1)
    p = patchify(mix.patterns[3].reshape(1, 16, 16), 2)
    assert p.shape == (64, 4) and np.isclose((p ** 2).sum(), 1.0)
    modes, held = feature_token_modes(mix.patterns[3].reshape(1, 16, 16), u, 2, max_modes=2)
    assert len(modes) == 2 and 0.5 < held < 0.9   # the finest feature spreads over token modes
    with pytest.raises(InputError, match="patch"):
        patchify(np.zeros((1, 16, 16)), 3)


def test_probe_recovers_a_planted_signal_and_sits_at_chance_on_noise():
    rng = np.random.default_rng(0)
    n, d = 400, 60
    y = rng.choice([-1.0, 1.0], n)
    x = rng.standard_normal((n, d))
    folds = fold_of_groups(np.arange(n) % 200, 5)
    assert np.mean(probe_cv(x, y, folds)) == pytest.approx(0.5, abs=0.08)
    x[:, 7] += 1.5 * y                     # planted along one direction
    assert np.mean(probe_cv(x, y, folds)) > 0.85
    wide = rng.standard_normal((n, 600))   # d > n: the dual form
    wide[:, 3] += 3 * y
    assert np.mean(probe_cv(wide, y, folds)) > 0.85


def _synthetic_correct(acc, n_pairs=40, seed=0):
    """(P, 2, L+1, S, F) 0/1 with exactly round(acc * 2P) correct entries per (layer, step, feature), shuffled jointly."""
    acc = np.asarray(acc)  # (L+1, S, F)
    n = 2 * n_pairs
    rank = np.random.default_rng(seed).permutation(n)
    out = (rank[:, None, None, None] < np.round(acc * n)[None]).astype(float)
    return out.reshape(2, n_pairs, *acc.shape).transpose(1, 0, 2, 3, 4)


def test_tau_and_gap_on_synthetic_curves():
    steps = np.arange(0, 20, 2.0)
    ramp = lambda mid: np.clip(0.5 + (steps - mid) / 8, 0.5, 1.0)   # crosses 0.75 at step mid + 2
    assert commitment_step(steps, ramp(6)) == pytest.approx(8.0)
    acc = np.stack([np.stack([ramp(6), ramp(6 + shift)], -1) for shift in (0, 0, 6, 6)])  # layers 0..3
    res = layer_commitment(steps, _synthetic_correct(acc), n_boot=60)
    tau_global, gap, change, gain = (read_triples(res, k) for k in ("tau_global", "gap", "gap_change", "gain"))
    assert tau_global[0][0] == pytest.approx(8.0, abs=0.3)
    assert gap[0] == [0.0, 0.0, 0.0]                       # identical curves: gap exactly 0 in every resample
    assert gap[2][0] == pytest.approx(6.0, abs=0.3) and gap[2][1] > 0
    assert res["first_resolved_layer"] == 2 and res["first_changed_layer"] == 2
    assert change[0] == [0.0, 0.0, 0.0] and change[3][1] > 0
    assert gain[2][1][0] < -0.05 and gain[1][1][0] == 0.0   # later commitment: lower accuracy
    assert first_resolved_layer([[1.0, -0.5, 2.0], [None, None, None]]) is None


def test_hooks_record_increments_that_sum_to_the_residual_stream(tiny):
    u, index = token_dct_basis(4, 4)
    xa, xb = antisymmetric_noise(tiny.sample_shape, 3, seed=1)
    with BlockRecorder(tiny.model, global_mode_mask(index), probe_modes=[0, 1], probe_steps=[2],
                       keep_states=True) as rec:
        sample_pairs(tiny, xa, xb, labels=[1, 2, 3], num_steps=4, recorder=rec)
    assert not any(b._forward_hooks or b._forward_pre_hooks for b in tiny.model.transformer_blocks)
    h_in, h_out = rec.states[2]                      # (L, N, T, D)
    torch.testing.assert_close(h_in[1:], h_out[:-1])  # block l+1 reads block l's output
    torch.testing.assert_close((h_out - h_in).sum(0), h_out[-1] - h_in[0], atol=1e-5, rtol=0)
    inc = h_out - h_in
    e = mode_energy(inc[:, :3] - inc[:, 3:], torch.from_numpy(u).float())
    torch.testing.assert_close(rec.increments[2][..., 1], e.sum(-1))
    assert rec.probe_inputs[2].shape == (6, 4, 2, 16) and set(rec.probe_inputs) == {2}


def test_depth_run_end_to_end_on_tiny(tiny):
    mix = frequency_hierarchy_mixture(size=8, channels=4)
    r = depth_run(tiny, mix, n_pairs=6, num_steps=6, n_probe_steps=3, seed=2)
    assert r["increments"].shape == (6, 3, 6, 2) and r["chance_share"] == 9 / 16
    assert np.all(r["increments"][..., 0] <= r["increments"][..., 1] * (1 + 1e-6))
    c = probe_correct(r, n_folds=3)
    assert c.shape == (6, 2, 4, 3, 4)
    with pytest.raises(InputError, match="mixture"):
        depth_run(tiny, frequency_hierarchy_mixture(), n_pairs=2)


@pytest.mark.slow
def test_depth_run_on_the_shipped_fhgm_reads_the_coarse_feature():
    rec = load_model("fhgm")
    r = depth_run(rec, frequency_hierarchy_mixture(), n_pairs=24, num_steps=12, n_probe_steps=4, seed=0)
    share = r["increments"][..., 0].sum() / r["increments"][..., 1].sum()
    assert share > r["chance_share"] + 0.1        # trained increments are structured, not isotropic
    res = layer_commitment(r["probe_steps"], probe_correct(r, n_folds=4), n_boot=30)
    assert res["accuracy"][-1, -1, 0] > 0.9       # last layer, last step: dct01's final sign is read
    assert res["accuracy"][0, 0, 0] < 0.75        # pure noise at step 0
