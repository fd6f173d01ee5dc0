"""Original DiT checkpoints (dit_bridge.checkpoints): conversion against an independent forward, refusals.

`original_dit_forward` re-implements facebookresearch/DiT models.py (DiT.forward) in plain torch from
the paper's architecture: patch embedding + fixed 2-D sin-cos positions, sinusoidal timestep MLP,
label table, adaLN-Zero blocks (modulate, gated attention and MLP), final adaLN layer, unpatchify.
It shares no code with diffusers or with the conversion.
"""
import argparse
import math
import os
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from syncgap.dit_bridge import checkpoints
from syncgap.dit_bridge.registry import TINY, build_dit, check_model, load_model
from syncgap.theory.checks import InputError


def sincos_2d(hidden: int, side: int) -> torch.Tensor:
    """get_2d_sincos_pos_embed of the original (from MAE): (side^2, hidden); first half embeds grid[0] (the w index)."""
    def one_d(dim, pos):
        omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)
    grid = np.meshgrid(np.arange(side, dtype=np.float32), np.arange(side, dtype=np.float32))  # w first
    emb = np.concatenate([one_d(hidden // 2, grid[0]), one_d(hidden // 2, grid[1])], axis=1)
    return torch.from_numpy(emb).float()


def random_original_state(hidden, heads, depth, patch, side, in_ch=4, learned_sigma=True, classes=10, seed=0):
    """An original DiT state dict with every tensor random (adaLN and final layer too: not zero-initialised)."""
    gen = torch.Generator().manual_seed(seed)
    out_ch = 2 * in_ch if learned_sigma else in_ch

    def w(*shape, fan_in=None):
        scale = 1.0 / math.sqrt(fan_in if fan_in else shape[-1])
        return torch.randn(*shape, generator=gen) * scale

    s = {"x_embedder.proj.weight": w(hidden, in_ch, patch, patch, fan_in=in_ch * patch * patch),
         "x_embedder.proj.bias": w(hidden, fan_in=10), "pos_embed": sincos_2d(hidden, side // patch)[None],
         "t_embedder.mlp.0.weight": w(hidden, 256), "t_embedder.mlp.0.bias": w(hidden, fan_in=10),
         "t_embedder.mlp.2.weight": w(hidden, hidden), "t_embedder.mlp.2.bias": w(hidden, fan_in=10),
         "y_embedder.embedding_table.weight": w(classes + 1, hidden, fan_in=1)}
    for i in range(depth):
        b = f"blocks.{i}."
        s |= {b + "attn.qkv.weight": w(3 * hidden, hidden), b + "attn.qkv.bias": w(3 * hidden, fan_in=10),
              b + "attn.proj.weight": w(hidden, hidden), b + "attn.proj.bias": w(hidden, fan_in=10),
              b + "mlp.fc1.weight": w(4 * hidden, hidden), b + "mlp.fc1.bias": w(4 * hidden, fan_in=10),
              b + "mlp.fc2.weight": w(hidden, 4 * hidden), b + "mlp.fc2.bias": w(hidden, fan_in=10),
              b + "adaLN_modulation.1.weight": w(6 * hidden, hidden),
              b + "adaLN_modulation.1.bias": w(6 * hidden, fan_in=10)}
    s |= {"final_layer.linear.weight": w(patch * patch * out_ch, hidden),
          "final_layer.linear.bias": w(patch * patch * out_ch, fan_in=10),
          "final_layer.adaLN_modulation.1.weight": w(2 * hidden, hidden),
          "final_layer.adaLN_modulation.1.bias": w(2 * hidden, fan_in=10)}
    return s


def original_dit_forward(s, x, t, y, heads):
    """DiT.forward(x, t, y) of facebookresearch/DiT (eval mode), from the state dict s. x (N, C, H, W)."""
    n, _, side, _ = x.shape
    hidden, _, p, _ = s["x_embedder.proj.weight"].shape
    depth = 1 + max(int(k.split(".")[1]) for k in s if k.startswith("blocks."))

    def modulate(h, shift, scale):
        return h * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)

    def ln(h):
        return F.layer_norm(h, (hidden,), eps=1e-6)

    def lin(h, name):
        return F.linear(h, s[name + ".weight"], s[name + ".bias"])

    tok = F.conv2d(x, s["x_embedder.proj.weight"], s["x_embedder.proj.bias"], stride=p)  # (N, H, h, w)
    h = tok.flatten(2).transpose(1, 2) + s["pos_embed"]  # (N, T, H)
    half = 128
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    temb = torch.cat([torch.cos(args), torch.sin(args)], -1)  # (N, 256)
    c = lin(F.silu(lin(temb, "t_embedder.mlp.0")), "t_embedder.mlp.2") + s["y_embedder.embedding_table.weight"][y]
    d = hidden // heads
    for i in range(depth):
        b = f"blocks.{i}."
        sh1, sc1, g1, sh2, sc2, g2 = lin(F.silu(c), b + "adaLN_modulation.1").chunk(6, dim=1)
        a = modulate(ln(h), sh1, sc1)
        qkv = lin(a, b + "attn.qkv").reshape(n, -1, 3, heads, d).permute(2, 0, 3, 1, 4)  # (3, N, heads, T, d)
        att = torch.softmax(qkv[0] @ qkv[1].transpose(-2, -1) / math.sqrt(d), dim=-1) @ qkv[2]
        h = h + g1.unsqueeze(1) * lin(att.transpose(1, 2).reshape(n, -1, hidden), b + "attn.proj")
        m = modulate(ln(h), sh2, sc2)
        h = h + g2.unsqueeze(1) * lin(F.gelu(lin(m, b + "mlp.fc1"), approximate="tanh"), b + "mlp.fc2")
    shift, scale = lin(F.silu(c), "final_layer.adaLN_modulation.1").chunk(2, dim=1)
    out = lin(modulate(ln(h), shift, scale), "final_layer.linear")  # (N, T, p*p*C_out)
    g = side // p
    c_out = out.shape[-1] // (p * p)
    out = out.reshape(n, g, g, p, p, c_out)
    return torch.einsum("nhwpqc->nchpwq", out).reshape(n, c_out, g * p, g * p)


@pytest.mark.parametrize("hidden,heads,patch,side", [(384, 6, 2, 8), pytest.param(1152, 16, 2, 8, marks=pytest.mark.slow),
                                                     (384, 6, 4, 16)])
def test_conversion_matches_independent_original_forward(tmp_path, hidden, heads, patch, side):
    state = random_original_state(hidden, heads, depth=2, patch=patch, side=side, seed=hidden + patch)
    path = str(tmp_path / "DiT-test.pt")
    torch.save(state, path)
    rec = load_model(path)
    assert rec.timestep_embedding == "original" and rec.num_layers == 2 and rec.learned_sigma
    assert rec.model.config.num_attention_heads == heads and rec.sample_shape == (4, side, side)
    assert not any(t.is_meta for t in list(rec.model.parameters()) + list(rec.model.buffers()))
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(3, 4, side, side, generator=gen)
    t, y = torch.tensor([0, 417, 999]), torch.tensor([3, 10, 0])  # label 10 = the null (CFG) class
    with torch.no_grad():
        ref = original_dit_forward(state, x, t, y, heads)
        got = rec.model(x, t, y).sample
    assert ref.abs().max() > 0.1  # the output is not trivially zero: adaLN and the final layer are random
    assert torch.allclose(got, ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max())), float((got - ref).abs().max())
    # diffusers' own timestep frequencies (shift 1) give a different model: the conversion's choice matters
    with torch.no_grad():
        other = load_model(path, timestep_embedding="diffusers").model(x, t, y).sample
    assert not torch.allclose(other, ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))


def test_training_checkpoint_uses_ema_by_default_and_allows_namespace(tmp_path):
    ema = random_original_state(384, 6, 1, 2, 8, seed=1)
    raw = random_original_state(384, 6, 1, 2, 8, seed=2)
    ckpt = {"model": raw, "ema": ema, "opt": {"state": {}, "param_groups": [{"lr": 1e-4}]},
            "args": argparse.Namespace(model="DiT-S/2", image_size=64, global_seed=0)}
    path = str(tmp_path / "0001000.pt")
    torch.save(ckpt, path)
    x, t, y = torch.randn(2, 4, 8, 8), torch.tensor([5, 600]), torch.tensor([1, 2])
    with torch.no_grad():
        for weights, state in (("ema", ema), ("model", raw)):
            got = load_model(path, weights=weights).model(x, t, y).sample
            ref = original_dit_forward(state, x, t, y, 6)
            assert torch.allclose(got, ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))


def test_safetensors_with_original_keys_and_heads_override(tmp_path):
    from safetensors.torch import save_file
    state = random_original_state(256, 4, 1, 2, 8, seed=3)  # hidden 256: no DiT family
    path = str(tmp_path / "odd.safetensors")
    save_file(state, path)
    with pytest.raises(InputError, match=r"hidden size 256 is not a DiT family's.*--heads"):
        load_model(path)
    x, t, y = torch.randn(1, 4, 8, 8), torch.tensor([10]), torch.tensor([4])
    with torch.no_grad():
        got = load_model(path, heads=4).model(x, t, y).sample
    assert torch.allclose(got, original_dit_forward(state, x, t, y, 4), rtol=1e-4, atol=1e-4)


class Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickled_code_is_never_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open("evil.pt", "wb") as f:
        pickle.dump({"x_embedder.proj.weight": Exploit()}, f)
    with pytest.raises(InputError, match=r"evil.pt: cannot be read as a DiT checkpoint") as exc:
        load_model("evil.pt")
    assert "\n" not in str(exc.value) and not os.path.exists("pwned")


@pytest.mark.parametrize("mutate,message", [
    (lambda s: s.pop("blocks.0.attn.proj.bias"), r"tensor 'blocks.0.attn.proj.bias' is missing"),
    (lambda s: s.__setitem__("blocks.0.mlp.fc1.weight", torch.zeros(100, 384)),
     r"'blocks.0.mlp.fc1.weight' has shape \(100, 384\), the config implies \(1536, 384\)"),
    (lambda s: s.__setitem__("blocks.0.extra", torch.zeros(1)), r"unexpected tensor 'blocks.0.extra'"),
    (lambda s: s.pop("pos_embed"), r"not an original DiT state dict: tensor 'pos_embed' is missing"),
])
def test_mismatched_original_files_are_refused(tmp_path, mutate, message):
    state = random_original_state(384, 6, 1, 2, 8)
    mutate(state)
    path = str(tmp_path / "bad.pt")
    torch.save(state, path)
    for fn in (load_model, check_model):
        with pytest.raises(InputError, match=message) as exc:
            fn(path)
        assert str(exc.value).startswith(path) and "\n" not in str(exc.value)


def test_truncated_files_are_refused(tmp_path):
    state = random_original_state(384, 6, 1, 2, 8)
    path = tmp_path / "whole.pt"
    torch.save(state, path)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputError, match="cut.pt: cannot be read"):
        check_model(str(cut))
    folder = tmp_path / "folder"
    build_dit(TINY).save_pretrained(folder)
    weights = folder / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    for fn in (load_model, check_model):
        with pytest.raises(InputError, match=r"diffusion_pytorch_model.safetensors: truncated"):
            fn(str(folder))


def test_folder_of_wrong_class_or_mismatched_weights_is_refused(tmp_path):
    import json
    folder = tmp_path / "unet"
    build_dit(TINY).save_pretrained(folder)
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "_class_name": "UNet2DModel"}))
    with pytest.raises(InputError, match=r"config.json: class 'UNet2DModel' is not a DiT transformer"):
        load_model(str(folder))
    # config says 4 layers, the weights hold 3: the first missing tensor is named, nothing runs on random weights
    (folder / "config.json").write_text(json.dumps({**cfg, "num_layers": 4}))
    with pytest.raises(InputError, match=r"safetensors: tensor 'transformer_blocks.3.\S+' is missing"):
        load_model(str(folder))
    (folder / "config.json").write_text(json.dumps({**cfg, "num_attention_heads": 4}))
    with pytest.raises(InputError, match=r"has shape .*, the config implies"):
        check_model(str(folder))


def test_random_names():
    rec = load_model("random:DiT-S/2-64-d2")
    assert rec.num_layers == 2 and rec.sample_shape == (4, 8, 8) and rec.info["random_weights"]
    assert rec.model.config.num_attention_heads == 6 and rec.null_class == 1000
    assert check_model("random:DiT-XL/2") == {"name": "random:DiT-XL/2", "random_weights": True}
    assert checkpoints.random_config("random:DiT-XL/2")["num_layers"] == 28
    with pytest.raises(InputError, match="random:DiT-<S|B|L|XL>"):
        check_model("random:DiT-M/2")


@pytest.mark.parametrize("config_text,message", [
    ("", "unreadable config"), ("[1, 2]", "not a JSON object"),
    ('{"_class_name": "DiTTransformer2DModel", "num_layers": 1000000000}', r"num_layers=1000000000 is outside"),
    ('{"_class_name": "DiTTransformer2DModel", "patch_size": "2"}', r"patch_size='2' is outside"),
])
def test_malformed_configs_are_one_line_errors(tmp_path, config_text, message):
    folder = tmp_path / "m"
    build_dit(TINY).save_pretrained(folder)
    (folder / "config.json").write_text(config_text)
    with pytest.raises(InputError, match=message) as exc:
        check_model(str(folder))
    assert "\n" not in str(exc.value)


def test_malformed_training_record_is_one_line_error(tmp_path):
    build_dit(TINY).save_pretrained(tmp_path)
    (tmp_path / "training.json").write_text("{broken")
    with pytest.raises(InputError, match="training.json: unreadable training record"):
        load_model(str(tmp_path))


def test_hub_style_transformer2d_config_is_accepted(tmp_path):
    """facebook/DiT-XL-2-256's transformer/config.json names Transformer2DModel (ada_norm_zero), with extra keys."""
    import json
    build_dit(TINY).save_pretrained(tmp_path)
    cfg = {**json.loads((tmp_path / "config.json").read_text()), "_class_name": "Transformer2DModel",
           "cross_attention_dim": None, "num_vector_embeds": None, "only_cross_attention": False,
           "use_linear_projection": False}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    assert check_model(str(tmp_path))["random_weights"] is False and load_model(str(tmp_path)).num_layers == 3
    (tmp_path / "config.json").write_text(json.dumps({**cfg, "norm_type": "layer_norm"}))
    with pytest.raises(InputError, match="class 'Transformer2DModel' is not a DiT transformer"):
        check_model(str(tmp_path))
