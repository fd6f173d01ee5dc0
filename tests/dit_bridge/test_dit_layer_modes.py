"""P2's per-layer measure (dit_bridge.layer_modes): exact endpoints, group energies, commitment fits, recorder."""
import itertools

import numpy as np
import pytest
import torch

from syncgap.dit_bridge.depth import depth_run
from syncgap.dit_bridge.layer_modes import (commitment_fit, group_energies, layer_mode_commitment, mode_groups,
                                            normalised_difference, posterior_mean_at, state_names)
from syncgap.dit_bridge.registry import load_tiny
from syncgap.dit_bridge.token_modes import patchify, token_dct_basis
from syncgap.dit_bridge.train import alphas_cumprod
from syncgap.theory.checks import InputError
from syncgap.theory.data import frequency_hierarchy_mixture
from syncgap.theory.intervals import read_triples


@pytest.fixture(scope="module")
def tiny():
    return load_tiny(seed=5)


def posterior_mean_by_enumeration(mix, x, e):
    """E[x_0 | x_t] by Bayes' rule over the 2^K sign configurations (independent of the tanh closed form):
    given signs s, x_0 = mu_s + sigma xi and x_t = e x_0 + sqrt(1 - e^2) z, so x_t | s ~ N(e mu_s, G I),
    G = sigma^2 e^2 + 1 - e^2, and E[x_0 | x_t, s] = mu_s + (sigma^2 e / G)(x_t - e mu_s)."""
    sig2, gam = mix.noise_std ** 2, mix.noise_std ** 2 * e * e + 1 - e * e
    signs = np.array(list(itertools.product([-1.0, 1.0], repeat=mix.num_features)))     # (2^K, K)
    mus = (signs * mix.amplitudes) @ mix.patterns                                          # (2^K, D)
    logw = -((x[:, None, :] - e * mus[None]) ** 2).sum(-1) / (2 * gam)                    # (N, 2^K)
    w = np.exp(logw - logw.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    cond = mus[None] + (sig2 * e / gam) * (x[:, None, :] - e * mus[None])                 # (N, 2^K, D)
    return np.einsum("ns,nsd->nd", w, cond)


@pytest.mark.parametrize("timestep", [50, 300, 600, 950])
def test_posterior_mean_endpoint_against_enumeration(timestep):
    mix = frequency_hierarchy_mixture(size=8, channels=1)
    rng = np.random.default_rng(timestep)
    e = float(np.sqrt(alphas_cumprod()[timestep].item()))
    x = e * mix.sample(64, rng) + np.sqrt(1 - e * e) * rng.standard_normal((64, mix.dim))
    np.testing.assert_allclose(posterior_mean_at(mix, x, timestep), posterior_mean_by_enumeration(mix, x, e),
                               atol=1e-9, rtol=1e-9)


def test_posterior_mean_endpoint_against_monte_carlo():
    """E[x_0 | x_t] against a self-normalised Monte Carlo average over prior draws x_0^i weighted by the
    likelihood N(x_t; e x_0^i, (1 - e^2) I) (a 4-dim mixture, where the weights do not degenerate)."""
    from syncgap.theory.data import SignFeatureMixture
    mix = SignFeatureMixture(np.eye(4)[:2], np.array([2.0, 1.0]), 0.5, (1, 2, 2))
    timestep = 400
    e = float(np.sqrt(alphas_cumprod()[timestep].item()))
    rng = np.random.default_rng(0)
    x0 = mix.sample(400_000, rng)
    for point in (np.array([0.4, -0.3, 0.1, 0.0]), np.array([-1.2, 0.8, 0.5, -0.7])):
        logw = -((point - e * x0) ** 2).sum(1) / (2 * (1 - e * e))
        w = np.exp(logw - logw.max())
        w /= w.sum()
        mc = w @ x0
        se = np.sqrt(w ** 2 @ (x0 - mc) ** 2)      # delta-method standard error of the weighted mean
        exact = posterior_mean_at(mix, point[None], timestep)[0]
        assert np.all(np.abs(mc - exact) < 4 * se + 1e-3)


def test_group_energies_parseval_and_spread():
    basis, index = token_dct_basis(4, 4)
    mix = frequency_hierarchy_mixture(size=8, channels=4)
    names, masks = mode_groups(mix, 4, 4, 2)
    assert names[-2:] == ["global", "local"] and masks.shape == (6, 16)
    np.testing.assert_array_equal(masks[-2] | masks[-1], True)
    s = torch.randn(10, 16, 7, dtype=torch.float64)     # 5 pairs, rows [A; B]
    e = group_energies(s, torch.from_numpy(basis), torch.from_numpy(masks))
    assert e.shape == (5, 6, 2)
    d = s[:5] - s[5:]
    torch.testing.assert_close(e[:, -2, 0] + e[:, -1, 0], d.pow(2).sum((1, 2)))   # global + local = |d|^2
    c = s - s.mean(0)
    torch.testing.assert_close(e[:, -2, 1] + e[:, -1, 1], c[:5].pow(2).sum((1, 2)) + c[5:].pow(2).sum((1, 2)))
    # independent replicas: q near 1; identical replicas: q = 0
    big = torch.randn(4000, 16, 7, dtype=torch.float64)
    q = normalised_difference(group_energies(big, torch.from_numpy(basis), torch.from_numpy(masks)).numpy()
                              .transpose(1, 0, 2))
    np.testing.assert_allclose(q, 1.0, atol=0.05)
    same = torch.cat([big[:10], big[:10]])
    same_diff = normalised_difference(group_energies(same, torch.from_numpy(basis), torch.from_numpy(masks))
                                      .numpy().transpose(1, 0, 2))
    np.testing.assert_allclose(same_diff, 0.0, atol=1e-20)   # identical replicas: zero up to rounding (1e-33 seen)


def u_curve(steps, mid, width, rise, start=0.2, decay=2.0):
    return start * np.exp(-steps / decay) + rise / (1 + np.exp(-(steps - mid) / width))


def test_commitment_fit_reads_the_rise_after_the_minimum():
    steps = np.arange(30.0)
    mid, sharp = commitment_fit(steps, u_curve(steps, 17.0, 1.5, 0.3))
    assert mid == pytest.approx(17.0, abs=0.2) and sharp == pytest.approx(1 / 1.5, rel=0.1)
    assert commitment_fit(steps, u_curve(steps, 17.0, 1.5, 0.01)) == (None, None)   # rises too little
    assert commitment_fit(steps, 0.3 * np.exp(-steps / 3)) == (None, None)           # only contracts
    assert commitment_fit(steps, np.full(30, np.nan)) == (None, None)
    # a small rise counts when it is a tenth of the fall before it: fhgm-deep's dct01 at the exact output
    # (128 shared-noise pairs, eps = 0.3, 20 DDPM steps; measured)
    q = [0.214, 0.113, 0.045, 0.025, 0.015, 0.012, 0.011, 0.017, 0.035, 0.042, 0.045, 0.045, 0.045, 0.045, 0.045,
         0.045, 0.045, 0.044, 0.044, 0.044]
    mid, _ = commitment_fit(np.arange(20.0), q)
    assert 7 < mid < 9


def test_layer_mode_commitment_gap_and_intervals():
    rng = np.random.default_rng(1)
    steps = np.arange(20.0)
    n_pairs, n_states = 60, 3
    e = np.zeros((20, n_states, n_pairs, 2, 2))
    e[..., 1] = 1.0                                        # spread 1: q = mean of diff
    mids = [[8, 8], [8, 12], [8, 15]]                      # per state: coarse, fine midpoints
    for si, (mc, mf) in enumerate(mids):
        for g, m in enumerate((mc, mf)):
            e[:, si, :, g, 0] = u_curve(steps, m, 1.0, 0.4)[:, None] * rng.uniform(0.5, 1.5, n_pairs)
    r = layer_mode_commitment(steps, e, coarse=0, fine=1, n_boot=60)
    assert r["q"].shape == (3, 2, 20)
    gaps = read_triples(r, "gap")
    for si, (mc, mf) in enumerate(mids):
        est, lo, hi = gaps[si]
        assert est == pytest.approx(mf - mc, abs=0.5) and lo <= est <= hi
    assert gaps[0][1] < 0.5 and gaps[2][1] > 5               # state 0 no gap, state 2 a resolved gap
    with pytest.raises(InputError, match="energies"):
        layer_mode_commitment(steps, e[..., 0], coarse=0, fine=1)


def test_state_recorder_in_depth_run_on_tiny(tiny):
    mix = frequency_hierarchy_mixture(size=8, channels=4)
    r = depth_run(tiny, mix, n_pairs=4, num_steps=5, n_probe_steps=2, seed=3)
    e = r["state_energies"]
    assert e.shape == (5, len(state_names(3)), 4, 6, 2) and r["mode_groups"][-1] == "local"
    assert np.all(e >= 0) and np.all(np.isfinite(e))
    # the first state at step 0 is the start x_T: its difference is the antisymmetric split (2 eps zeta)
    from syncgap.dit_bridge.pair_run import PairRun
    x = PairRun(tiny, n_pairs=4, seed=3, eps=0.3, noise="shared").start().x
    basis, _ = token_dct_basis(4, 4)
    p = np.stack([patchify(v, 2) for v in x.double().numpy()])
    d = p[:4] - p[4:]
    np.testing.assert_allclose(e[0, 0, :, -2:, 0].sum(-1), (d ** 2).sum((1, 2)), rtol=1e-9)
    assert list(r["timesteps"])[0] > list(r["timesteps"])[-1]
    # eps = 0: both replicas identical at every state, the exact ends included
    r0 = depth_run(tiny, mix, n_pairs=3, num_steps=3, n_probe_steps=2, seed=3, eps=0.0)
    assert np.all(r0["state_energies"][..., 0] == 0)


def test_bayes_accuracy_against_simulation():
    """E[max(p, 1 - p)] over x_t equals the hit rate of sign(p - 1/2) on simulated (s, x_t) (independent check)."""
    from syncgap.dit_bridge.layer_modes import bayes_accuracy
    mix = frequency_hierarchy_mixture(size=8, channels=1)
    rng = np.random.default_rng(3)
    timestep = 700
    e = float(np.sqrt(alphas_cumprod()[timestep].item()))
    x0, s = mix.sample(20000, rng, return_signs=True)
    xt = e * x0 + np.sqrt(1 - e * e) * rng.standard_normal(x0.shape)
    hit = (np.sign(mix.project(xt)) == s).mean(0)           # the Bayes rule is sign(y_k) for fair signs
    np.testing.assert_allclose(bayes_accuracy(mix, xt, timestep), hit, atol=0.012)   # sd <= 0.0035
    assert np.all(np.diff(bayes_accuracy(mix, xt, timestep)) < 0)   # weaker features are harder to read
