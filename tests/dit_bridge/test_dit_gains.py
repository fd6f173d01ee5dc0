"""Routing/pattern gains (dit_bridge.gains): JVP vs finite differences through the real gated processor,
reduction to theory.attention's single-head operators, ρ(g) scaling, record shapes and bad input."""
import json
import math

import numpy as np
import pytest
import torch
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

from syncgap.dit_bridge.coupling import remove_coupling, set_coupling
from syncgap.theory.gated import routing_factor
from syncgap.dit_bridge.gains import (LayerGains, attention_gains, capture_attn_inputs, channel_probes, dct_token_modes,
                              gains_from_hidden, layer_gains, part_responses, split_attention)
from syncgap.dit_bridge.registry import load_tiny
from syncgap.theory import attention
from syncgap.theory.checks import InputError


@pytest.fixture(scope="module")
def tiny64():
    """Tiny DiT in float64 with sharpened attention (q, k weights x3) so the gains are not all tiny."""
    rec = load_tiny(seed=1, dtype=torch.float64)
    with torch.no_grad():
        for b in rec.model.transformer_blocks:
            b.attn1.to_q.weight.mul_(3.0)
            b.attn1.to_k.weight.mul_(3.0)
    return rec


@pytest.fixture(scope="module")
def hidden64(tiny64):
    return capture_attn_inputs(tiny64, 20, num_steps=30, n_samples=2, seed=0)["hidden"]


def test_dct_modes_orthonormal_low_first():
    u, f = dct_token_modes(4, 5)
    assert np.allclose(u.T @ u, np.eye(20), atol=1e-12)
    assert np.all(np.diff(f) >= 0) and f[0] == 0
    assert np.allclose(u[:, 0], 1 / math.sqrt(20))


def test_split_attention_is_the_stock_attention(tiny64, hidden64):
    attn = tiny64.model.transformer_blocks[1].attn1
    x = hidden64[1]
    attn.set_processor(AttnProcessor2_0())
    with torch.no_grad():
        ref = attn(x)
        got = split_attention(attn, x, x, x)
    assert torch.allclose(got, ref, atol=1e-12, rtol=1e-10)


class _Frozen(torch.nn.Module):
    """Wraps a projection so it sees a fixed input: the part of the difference it feeds is switched off."""

    def __init__(self, lin, x_fixed):
        super().__init__()
        self.lin, self.x_fixed = lin, x_fixed

    def forward(self, x):
        return self.lin(self.x_fixed)


def _coupled_fd(attn, x0, dx, part, eps=1e-4):
    """(Δ(ε) - Δ(-ε))/(4ε), Δ = O_A - O_B of the real gated processor at x0 ± ε dx, only `part` perturbed."""
    pair0 = torch.cat([x0, x0])
    frozen = {"routing": ("to_q",), "pattern": ("to_k", "to_v"), "full": ()}[part]
    saved = {name: getattr(attn, name) for name in frozen}
    for name in frozen:
        setattr(attn, name, _Frozen(saved[name], pair0))
    try:
        def delta(e):
            with torch.no_grad():
                out = attn(torch.cat([x0 + e * dx, x0 - e * dx]))
            m = x0.shape[0]
            return out[:m] - out[m:]
        return (delta(eps) - delta(-eps)) / (4 * eps)
    finally:
        for name, mod in saved.items():
            setattr(attn, name, mod)


@pytest.mark.parametrize("gate", ["paper", "joint"])
def test_jvp_gains_match_finite_differences_of_the_gated_attention(tiny64, hidden64, gate):
    """Real gated processor: Δ/2 = ρ(g) R δx (keys + values only), P δx (queries only), ρ R δx + P δx (all)."""
    layer = 2
    x0 = hidden64[layer][:1]  # (1, T, D)
    u, _ = dct_token_modes(4, 4)
    gen = torch.Generator().manual_seed(5)
    a = torch.randn(x0.shape[-1], generator=gen, dtype=torch.float64)
    a /= a.norm()
    ks = [0, 1, 5, 15]
    probes = a[None]
    jv = attention_gains(tiny64.model.transformer_blocks[layer].attn1, x0, u[:, ks], probes)
    chi, pi = (jv["key"] + jv["value"])[0, :, 0], jv["query"][0, :, 0]  # (K,)
    assert np.abs(chi).max() > 1e-3 and np.abs(pi).max() > 1e-4  # not a vacuous comparison
    for g in (0.0, 0.5, 1.0, 3.0):
        if gate == "joint" and g == 0.0:
            continue
        set_coupling(tiny64.model, g, layers=[layer], gate=gate)
        attn = tiny64.model.transformer_blocks[layer].attn1
        try:
            for j, k in enumerate(ks):
                dx = torch.from_numpy(u[:, k])[None, :, None] * a[None, None, :]  # (1, T, D)
                proj = {p: float((_coupled_fd(attn, x0, dx, p) * dx).sum()) for p in ("routing", "pattern", "full")}
                scale = abs(chi[j]) + abs(pi[j]) + 1e-6
                assert abs(proj["routing"] - routing_factor(g) * chi[j]) < 1e-6 * scale + 1e-9, (g, k, proj, chi[j])
                assert abs(proj["pattern"] - pi[j]) < 1e-6 * scale + 1e-9, (g, k, proj, pi[j])
                assert abs(proj["full"] - (routing_factor(g) * chi[j] + pi[j])) < 1e-6 * scale + 1e-9, (g, k, proj)
        finally:
            remove_coupling(tiny64.model)


def test_reduces_to_theory_single_head_operators():
    """One head: χ_k(a, r), π_k(a, r) = theory.attention.mode_gains(attention_difference_operators(...))."""
    torch.manual_seed(0)
    t, d = 6, 5
    attn = Attention(query_dim=d, heads=1, dim_head=d, bias=True, out_bias=True).double()
    with torch.no_grad():
        for lin in (attn.to_q, attn.to_k, attn.to_v, attn.to_out[0]):
            lin.weight.normal_(0, 0.8)
            lin.bias.normal_(0, 0.3)
    x0 = torch.randn(1, t, d, dtype=torch.float64)
    rng = np.random.default_rng(1)
    u = np.linalg.qr(rng.normal(size=(t, t)))[0][:, :4]
    a, r = rng.normal(size=d), rng.normal(size=d)
    a, r = a / np.linalg.norm(a), r / np.linalg.norm(r)
    w = {n: getattr(attn, n).weight.detach().numpy() for n in ("to_q", "to_k", "to_v")}
    b = {n: getattr(attn, n).bias.detach().numpy() for n in ("to_q", "to_k", "to_v")}
    x = x0[0].numpy()
    q0, k0, v0 = (x @ w[n].T + b[n] for n in ("to_q", "to_k", "to_v"))
    wo = attn.to_out[0].weight.detach().numpy()

    def theory(readout):
        ops = attention.attention_difference_operators(q0, k0, v0, w["to_q"] @ a, w["to_k"] @ a, w["to_v"] @ a,
                                                     wo.T @ readout)
        return attention.mode_gains(ops["routing"], ops["pattern"], u)

    # general readout r != a, through the JVP responses
    chi, pi = [], []
    for k in range(u.shape[1]):
        dx = torch.from_numpy(np.outer(u[:, k], a))[None]
        resp = part_responses(attn, x0, dx)
        chi.append(float(u[:, k] @ (resp["key"] + resp["value"])[0].detach().numpy() @ r))
        pi.append(float(u[:, k] @ resp["query"][0].detach().numpy() @ r))
    ref = theory(r)
    assert np.allclose(chi, ref["chi"], atol=1e-10) and np.allclose(pi, ref["pi"], atol=1e-10)
    # readout r = a, the library's gains
    got = attention_gains(attn, x0, u, torch.from_numpy(a)[None])
    ref = theory(a)
    assert np.allclose((got["key"] + got["value"])[0, :, 0], ref["chi"], atol=1e-10)
    assert np.allclose(got["query"][0, :, 0], ref["pi"], atol=1e-10)
    assert np.abs(ref["chi"]).max() > 1e-2 and np.abs(ref["pi"]).max() > 1e-3


def test_channel_average_exact_vs_hutchinson(tiny64, hidden64):
    exact = gains_from_hidden(tiny64, {0: hidden64[0]}, n_modes=4)
    hutch = gains_from_hidden(tiny64, {0: hidden64[0]}, n_modes=4, exact_max=0, n_probes=96, seed=3)
    assert exact.exact_channels and not hutch.exact_channels and hutch.n_probes == 96
    assert np.all(np.abs(hutch.chi - exact.chi) < 5 * hutch.chi_se + 1e-12)
    assert np.all(np.abs(hutch.pi - exact.pi) < 5 * hutch.pi_se + 1e-12)
    assert np.all(np.isnan(hutch.chi_top)) and np.all(exact.chi_top >= exact.chi - 1e-12)


def test_top_direction_gains_recomputed_along_a_star(tiny64, hidden64):
    """χ^top, π^top equal the JVP gains along the maximising direction a* (probed directly), and no random
    direction beats χ^top."""
    attn = tiny64.model.transformer_blocks[1].attn1
    x = hidden64[1]
    u, _ = dct_token_modes(4, 4)
    rec = gains_from_hidden(tiny64, {1: x}, n_modes=None)
    d = attn.to_q.in_features
    eye = torch.eye(d, dtype=torch.float64)
    for k in (0, 3, 9):
        g = attention_gains(attn, x, u[:, [k]], eye, readout=True)
        m = (g["key_out"] + g["value_out"]).mean(0)[0].T  # (D out, D in)
        sym = 0.5 * (m + m.T)
        a = np.linalg.eigh(sym)[1][:, -1]
        along = attention_gains(attn, x, u[:, [k]], torch.from_numpy(a)[None])
        assert math.isclose(float((along["key"] + along["value"]).mean()), rec.chi_top[0, k], rel_tol=1e-8,
                            abs_tol=1e-12)
        assert math.isclose(float(along["query"].mean()), rec.pi_top[0, k], rel_tol=1e-8, abs_tol=1e-12)
        rnd = torch.randn(64, d, dtype=torch.float64, generator=torch.Generator().manual_seed(k))
        rnd /= rnd.norm(dim=1, keepdim=True)
        others = attention_gains(attn, x, u[:, [k]], rnd)
        assert (others["key"] + others["value"]).mean(0).max() <= rec.chi_top[0, k] + 1e-12


def test_layer_gains_record(tiny64):
    steps = []
    rec = layer_gains(tiny64, 10, num_steps=20, n_modes=6, n_samples=2, progress=lambda i, n: steps.append(i))
    assert isinstance(rec, LayerGains) and steps == [1, 2, 3]
    n_l, n_k = 3, 6
    for name in ("chi", "pi", "chi_value", "chi_key", "chi_se", "pi_se", "ratio", "chi_top", "pi_top"):
        assert getattr(rec, name).shape == (n_l, n_k), name
    for name in ("dominant", "max_low_ratio", "eta_gain", "delta_chi", "delta_pi", "dominant_top",
                 "max_low_ratio_top", "eta_gain_top"):
        assert getattr(rec, name).shape == (n_l,), name
    assert rec.mode_index[0] == 0 and rec.mode_index[-1] == 15 and np.all(np.diff(rec.frequency) >= 0)
    assert np.allclose(rec.chi, rec.chi_value + rec.chi_key)
    assert np.allclose(rec.ratio, np.abs(rec.pi) / np.abs(rec.chi))
    lo, hi = rec.low_modes, rec.high_modes
    assert lo.sum() == hi.sum() == 1 and lo[0] and hi[-1]
    dchi = rec.chi.sum(0)[lo].mean() - rec.chi.sum(0)[hi].mean()
    dpi = rec.pi.sum(0)[lo].mean() - rec.pi.sum(0)[hi].mean()
    assert math.isclose(rec.eta_gain_network, dpi / dchi, rel_tol=1e-9)
    assert math.isclose(rec.delta_chi_network, dchi, rel_tol=1e-9) and math.isclose(rec.delta_pi_network, dpi,
                                                                                       rel_tol=1e-9)
    assert np.array_equal(rec.dominant, rec.max_low_ratio < rec.threshold)
    assert np.array_equal(rec.dominant_top, rec.max_low_ratio_top < rec.threshold)
    top = rec.chi_top.sum(0), rec.pi_top.sum(0)
    assert math.isclose(rec.eta_gain_top_network, (top[1][lo].mean() - top[1][hi].mean())
                        / (top[0][lo].mean() - top[0][hi].mean()), rel_tol=1e-9)
    assert rec.step == 10 and rec.num_steps == 20 and rec.timestep > 0
    one = layer_gains(tiny64, 10, num_steps=20, n_modes=6, n_samples=2, layers=[1])
    assert np.allclose(one.chi[0], rec.chi[1]) and list(one.layers) == [1]
    assert np.allclose(one.chi_top[0], rec.chi_top[1]) and np.allclose(one.pi_top[0], rec.pi_top[1])


def test_bad_input(tiny64, hidden64):
    with pytest.raises(InputError, match="layer"):
        layer_gains(tiny64, 5, num_steps=10, layers=[3])
    with pytest.raises(InputError, match="n_modes"):
        layer_gains(tiny64, 5, num_steps=10, n_modes=0)
    with pytest.raises(InputError, match="step"):
        layer_gains(tiny64, 10, num_steps=10)
    bad = hidden64[0].clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(InputError, match=r"hidden\[0\]"):
        gains_from_hidden(tiny64, {0: bad})
    with pytest.raises(InputError, match="threshold"):
        gains_from_hidden(tiny64, {0: hidden64[0]}, threshold=0.0)
    with pytest.raises(InputError, match="n_probes"):
        channel_probes(16, exact_max=0, n_probes=0)


def test_cli_gains_json(capsys, tmp_path):
    from syncgap.validation.cli.main import main
    assert main(["dit", "gains", "--model", "tiny", "--step", "5", "--num-steps", "10", "--modes", "4",
                 "--samples", "1", "--json", "--quiet", "--out", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    modes = [r for r in out["records"] if r["kind"] == "mode"]
    with open(tmp_path / "gains.json") as f:                 # the run folder keeps the full record
        chi = json.load(f)["gains"]["chi"]
    assert [r["chi"] for r in modes] == [c for layer in chi for c in layer]
    assert len(chi) == 3 and len(chi[0]) == 4 and len(modes) == 12
    assert "eta_gain_network" in out["summary"] and any(r["kind"] == "prediction" for r in out["records"])
    # the margins are not measured: no predicted number anywhere, each null carries its reason
    preds = [r for r in out["records"] if r["kind"] == "prediction"]
    assert preds and all(r["gap_ratio"] is None and "margin" in r["gap_ratio_reason"] for r in preds)
    assert out["summary"]["collapse_coupling"] is None and out["summary"]["collapse_coupling_reason"]
    assert main(["dit", "gains", "--model", "tiny", "--step", "5", "--num-steps", "10", "--modes", "4",
                 "--samples", "1", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "predicted gap ratio, collapse and critical coupling: none (margin contrast not measured" in text
    assert main(["dit", "gains", "--model", "tiny", "--step", "12", "--num-steps", "10", "--json"]) == 2


def test_closed_forms_on_a_real_multihead_layer(tiny64, hidden64):
    """Independent checks: on the constant mode, rows of A_0 summing to 1 give χ_value = tr(W_o W_v)/D and
    χ_key = 0 for any hidden state; the query response at token t is u_k(t) times a token-local map
    (P is diagonal in token space: frequency blind)."""
    attn = tiny64.model.transformer_blocks[2].attn1
    rec = gains_from_hidden(tiny64, {2: hidden64[2]}, n_modes=None)
    d = attn.to_q.in_features
    tr = float(torch.trace(attn.to_out[0].weight @ attn.to_v.weight).detach()) / d
    assert math.isclose(rec.chi_value[0, 0], tr, rel_tol=1e-9)
    assert abs(rec.chi_key[0, 0]) < 1e-12 * (1 + abs(rec.chi_key[0]).max())
    assert abs(rec.chi_key[0]).max() > 1e-4  # keys do route the non-constant modes
    u, _ = dct_token_modes(4, 4)
    a = torch.zeros(d, dtype=torch.float64)
    a[3] = 1.0
    x0 = hidden64[2][:1]
    ys = [part_responses(attn, x0, torch.from_numpy(u[:, k])[None, :, None] * a)["query"][0] for k in (1, 6)]
    local = [y / torch.from_numpy(u[:, k])[:, None] for y, k in zip(ys, (1, 6))]  # (T, D) each
    ok = (np.abs(u[:, 1]) > 1e-3) & (np.abs(u[:, 6]) > 1e-3)
    assert ok.sum() >= 8
    assert torch.allclose(local[0][ok], local[1][ok], atol=1e-10, rtol=1e-8)


def test_gains_prediction_silenced_by_contradicting_or_missing_inputs():
    from syncgap.validation.cli.dit.gains import gains_prediction
    # the fhgm case of issue 13: delta_chi <= 0, margins unmeasured -> no number, both reasons named
    p = gains_prediction(-0.08, -0.01, [0.5, 1.0], gap0=10.0)
    assert p["gap_ratio"] is None and p["collapse_coupling"] is None and p["critical_coupling"] is None
    assert p["eta"] is None and "delta_chi" in p["gap_ratio_reason"] and "margin" in p["gap_ratio_reason"]
    # measured margins but the wrong routing order: still no number
    assert gains_prediction(0.1, -0.2, [1.0], margin_contrast=0.0)["gap_ratio"] is None
    # |eta| >= 1 once the margins are added: outside routing dominance
    q = gains_prediction(0.5, 0.3, [1.0], margin_contrast=0.6)
    assert q["gap_ratio"] is None and "|eta| >= 1" in q["gap_ratio_reason"]
    # consistent, measured inputs: the law's numbers; at g = 1 (rho = 0) the ratio is eta/(1 + eta)
    r = gains_prediction(0.1, 0.3, [0.0, 1.0], gap0=10.0, margin_contrast=0.1)
    assert math.isclose(r["eta"], 0.2) and math.isclose(r["gap_ratio"]["1"], 0.2 / 1.2)
    assert math.isclose(r["gap_ratio"]["0"], 1.0) and r["collapse_coupling"] is None or r["collapse_coupling"] > 1
