"""Model registry (dit_bridge.registry): tiny, local save_pretrained directories, zoo and DiT-XL/2 errors."""
import json
import math

import pytest
import torch

from syncgap.dit_bridge import registry
from syncgap.dit_bridge.registry import TINY, build_dit, load_model, set_timestep_embedding
from syncgap.theory.checks import InputError


def test_tiny_record_and_seeding():
    a, b, c = load_model("tiny", seed=1), load_model("tiny", seed=1), load_model("tiny", seed=2)
    assert a.num_layers == 3 and a.num_classes == 10 and a.null_class == 10
    assert a.sample_shape == (4, 8, 8) and a.learned_sigma and a.latent_scale is None
    wa, wb, wc = (r.model.pos_embed.proj.weight for r in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_local_directory_with_training_json(tmp_path):
    cfg = {**TINY, "out_channels": 4, "in_channels": 1, "num_embeds_ada_norm": 3}
    model = build_dit(cfg, seed=7)
    model.save_pretrained(tmp_path)
    training = {"num_classes": 3, "null_class_id": 3, "sample_shape": [1, 8, 8], "learned_sigma": False,
                "scheduler": {"num_train_timesteps": 1000, "beta_start": 1e-4, "beta_end": 0.02,
                              "beta_schedule": "linear", "prediction_type": "epsilon"}}
    (tmp_path / "training.json").write_text(json.dumps(training))
    rec = load_model(str(tmp_path))
    assert (rec.num_classes, rec.null_class, rec.sample_shape, rec.learned_sigma) == (3, 3, (1, 8, 8), False)
    x = torch.randn(2, 1, 8, 8)
    t, y = torch.tensor([3, 900]), torch.tensor([0, 2])
    with torch.no_grad():
        assert torch.equal(rec.model(x, t, y).sample, model(x, t, y).sample)


def test_zoo_model_missing_says_how_to_train(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "ZOO_DIR", str(tmp_path))
    with pytest.raises(InputError, match=r"not shipped in this checkout.*syncgap dit train digits") as exc:
        load_model("digits")
    assert "\n" not in str(exc.value)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_dit_xl_unreachable_gives_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv(registry.DIT_XL_ENV, raising=False)
    with pytest.raises(InputError) as exc:
        load_model("facebook/DiT-XL-2-256")
    msg = str(exc.value)
    assert "\n" not in msg and "--model /path/to/local/copy" in msg and registry.DIT_XL_ENV in msg


def test_dit_xl_from_env_directory(tmp_path, monkeypatch):
    sub = tmp_path / "transformer"  # a pipeline-layout copy: <dir>/transformer/config.json
    build_dit(TINY, seed=0).save_pretrained(sub)
    monkeypatch.setenv(registry.DIT_XL_ENV, str(tmp_path))
    rec = load_model("facebook/DiT-XL-2-256")
    assert rec.null_class == 1000 and rec.latent_scale == pytest.approx(0.18215) and rec.source == str(sub)


def test_missing_path_and_unknown_names():
    with pytest.raises(InputError, match="model directory 'no/such/dir' does not exist"):
        load_model("no/such/dir")
    with pytest.raises(InputError, match="unknown model 'dit-s'"):
        load_model("dit-s")
    with pytest.raises(InputError, match="timestep_embedding must be one of"):
        load_model("tiny", timestep_embedding="edm")


def test_original_timestep_embedding_matches_dit_formula():
    """facebookresearch/DiT TimestepEmbedder: freqs exp(-log(1e4) i / half), [cos, sin]."""
    rec = load_model("tiny", timestep_embedding="original")
    t = torch.tensor([0.0, 1.0, 37.0, 999.0])
    half = 128
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / half)
    args = t.double()[:, None] * freqs[None]
    expected = torch.cat([torch.cos(args), torch.sin(args)], -1)
    proj = rec.model.transformer_blocks[2].norm1.emb.time_proj
    torch.testing.assert_close(proj(t).double(), expected, atol=2e-4, rtol=0)  # float32 arguments up to ~1e3
    set_timestep_embedding(rec.model, "diffusers")
    assert not torch.allclose(proj(t).double(), expected, atol=1e-2)


def test_dit_xl_2_architecture_matches_published_size():
    """DiT-XL/2 (Peebles & Xie 2023, Table 1): 675M parameters; diffusers repeats the t/y embedder per block."""
    from diffusers import DiTTransformer2DModel
    with torch.device("meta"):
        model = DiTTransformer2DModel(**registry.DIT_XL_2)
    n = sum(p.numel() for p in model.parameters())
    per_block_embedder = sum(p.numel() for p in model.transformer_blocks[0].norm1.emb.parameters())
    assert len(model.transformer_blocks) == 28 and model.inner_dim == 1152
    assert abs((n - 27 * per_block_embedder) / 675e6 - 1) < 0.005
    assert model.transformer_blocks[0].norm1.emb.class_embedder.embedding_table.num_embeddings == 1001
