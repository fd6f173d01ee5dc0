"""The shipped small DiTs (issue 5): contract, offline loading, integrity, and quality that can fail.

Tolerances (stated once, here and in dit_bridge/zoo/README.md):
- FHGM-DiT denoiser: excess ratio E||x0_hat - E[x0|xt]||^2 / E||x0 - E[x0|xt]||^2 <= EXCESS_MAX at
  every tested DDPM step (fresh samples, not the training pool);
- FHGM-DiT samples: P(y_k > 0) within SIGN_TOL of 1/2 for every feature, mean |y_k| within AMP_RTOL
  of a_k for the three strongest features, and the residual per-pixel variance within RESID_RTOL of
  sigma^2. The weakest feature misses AMP_RTOL (under-committed): that check is a strict xfail;
- FHGM-flat-DiT (the equal-amplitude control): the same denoiser bound; mean |y_k| within AMP_RTOL of a_k
  for all four features; its shipped quality.json's gate (2048 samples, dit_bridge.zoo_quality.quality_gate)
  is the one its card states and recomputes from its own feature statistics. Its measured dct67 sign
  balance 0.534 misses the gate's 0.03 (stated on its card), within this file's looser SIGN_TOL;
- FHGM-deep-DiT (28 blocks, patch 2; issue 15): loads offline by name, weights <= 25 MB (the issue's limit;
  the 4-layer models stay under 10 MB), its card states the gate of its own >= 2000-sample statistics, and
  `syncgap dit measure --model fhgm-deep` runs Protocols I and II on CPU (tiny settings);
- Digits-DiT: a logistic regression trained on the digits labels guided samples (scale 4) as the
  requested class at least 80% of the time.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from syncgap.dit_bridge.datasets import load_data
from syncgap.dit_bridge.train_files import file_sha256
from syncgap.dit_bridge.zoo_quality import (ddim_sample, denoiser_error_curve, digit_classifier,
                                    digit_guidance_accuracy, feature_statistics, load_zoo_model, quality_gate)

ZOO = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "dit_bridge", "zoo")
TESTBED = ("fhgm-deep16", "fhgm-deep16-pos", "fhgm-deep16-neg")   # the deep testbed and its depth controls
NAMES = ("fhgm", "fhgm-flat", "fhgm-deep", "digits", *TESTBED)
FHGM_LIKE = ("fhgm", "fhgm-flat")
DATASET = {"fhgm": "fhgm", "fhgm-flat": "fhgm-flat", "fhgm-deep": "fhgm", "digits": "digits",
           **{name: "fhgm" for name in TESTBED}}
LAYERS = {"fhgm": 4, "fhgm-flat": 4, "fhgm-deep": 28, "digits": 4, **{name: 16 for name in TESTBED}}
MAX_BYTES = {"fhgm-deep": 25_000_000}   # the others: 10 MB
EXCESS_MAX = 0.5
SIGN_TOL, AMP_RTOL, RESID_RTOL = 0.15, 0.1, 0.2
DIGITS_MIN_ACCURACY = 0.8


@pytest.fixture(scope="module", autouse=True)
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(old)


def _meta(name):
    with open(os.path.join(ZOO, name, "training.json")) as f:
        return json.load(f)


@pytest.mark.parametrize("name", NAMES)
def test_shipped_files_follow_the_contract(name):
    d = os.path.join(ZOO, name)
    for f in ("config.json", "diffusion_pytorch_model.safetensors", "training.json", "model_card.md",
              "samples.png"):
        assert os.path.isfile(os.path.join(d, f)), f
    meta = _meta(name)
    w = os.path.join(d, "diffusion_pytorch_model.safetensors")
    assert os.path.getsize(w) < MAX_BYTES.get(name, 10_000_000)
    assert meta["weights"]["sha256"] == file_sha256(w)
    assert meta["scheduler"] == {"num_train_timesteps": 1000, "beta_start": 1e-4, "beta_end": 0.02,
                                 "beta_schedule": "linear", "prediction_type": "epsilon"}
    assert meta["sample_shape"] == [1, 16, 16] and meta["learned_sigma"] is False
    assert meta["command"].startswith(f"syncgap dit train {name}")
    assert meta["final_loss"] > 0 and meta["training_seconds"] > 0
    with open(os.path.join(d, "config.json")) as f:
        config = json.load(f)
    assert config["num_embeds_ada_norm"] == meta["num_classes"] == (10 if name == "digits" else 1)
    assert meta["null_class_id"] == (10 if name == "digits" else None)
    assert config["num_layers"] == LAYERS[name]
    assert config["out_channels"] == config["in_channels"] == 1
    # the data hash pins the training data: regenerating it gives the same bytes
    data = load_data(meta["dataset"]["name"], **meta["config"]["data_kwargs"])
    assert data.spec["data_hash"] == meta["dataset"]["data_hash"]


@pytest.mark.parametrize("name", NAMES)
def test_loads_offline_with_plain_diffusers(name, monkeypatch):
    from diffusers import DiTTransformer2DModel

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = DiTTransformer2DModel.from_pretrained(os.path.join(ZOO, name))
    n = model.transformer_blocks[0].norm1.emb.class_embedder.embedding_table.num_embeddings
    assert n == _meta(name)["num_classes"] + 1                       # the null row
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        out = model(x, timestep=torch.tensor([10, 900]), class_labels=torch.tensor([0, 0])).sample
    assert out.shape == x.shape and torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_loads_by_registry_name_offline(name, monkeypatch):
    from syncgap.dit_bridge.registry import load_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rec = load_model(name)
    assert rec.info["dataset"]["name"] == DATASET[name] and rec.sample_shape == (1, 16, 16)
    assert rec.num_layers == LAYERS[name] and rec.num_classes == _meta(name)["num_classes"]


@pytest.mark.parametrize("name", FHGM_LIKE)
def test_fhgm_denoiser_close_to_exact_posterior_mean(name):
    model, meta = load_zoo_model(os.path.join(ZOO, name))
    curve = denoiser_error_curve(model, meta, levels=(10, 100, 300, 500, 700, 900), n=128, seed=11)
    ratios = [r["excess_ratio"] for r in curve["rows"]]
    assert max(ratios) <= EXCESS_MAX, ratios


def _stats(name):
    """Feature statistics of 128 DDIM samples (50 steps) of a shipped FHGM-like DiT."""
    model, meta = load_zoo_model(os.path.join(ZOO, name))
    x = ddim_sample(model, torch.zeros(128, dtype=torch.int64), (1, 16, 16), num_steps=50, seed=3)
    return feature_statistics(x.numpy(), meta)


@pytest.fixture(scope="module")
def fhgm_stats():
    """Feature statistics of the shipped FHGM-DiT, drawn once."""
    return _stats("fhgm")


@pytest.mark.slow
def test_fhgm_samples_reproduce_feature_statistics(fhgm_stats):
    fs = fhgm_stats
    np.testing.assert_allclose(fs["positive_fraction"], 0.5, atol=SIGN_TOL)
    np.testing.assert_allclose(fs["mean_abs"][:3], fs["amplitudes"][:3], rtol=AMP_RTOL)
    assert abs(fs["residual_pixel_var"] / fs["expected_residual_pixel_var"] - 1) < RESID_RTOL


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="known deficit of the shipped FHGM-DiT (10000 steps): the weakest "
                   "feature dct67 (a=1.5) is under-committed, mean |y_k| about 0.87 a_k (model_card.md); "
                   "strict, so a retrained model that meets AMP_RTOL flags this")
def test_fhgm_samples_reproduce_weakest_feature_amplitude(fhgm_stats):
    fs = fhgm_stats
    np.testing.assert_allclose(fs["mean_abs"][3:], fs["amplitudes"][3:], rtol=AMP_RTOL)


@pytest.mark.slow
def test_digits_guided_samples_are_their_class():
    model, meta = load_zoo_model(os.path.join(ZOO, "digits"))
    clf = digit_classifier(load_data("digits", **meta["config"]["data_kwargs"]))
    acc = digit_guidance_accuracy(model, meta, clf, guidances=(4.0,), per_class=8, num_steps=20, seed=5)
    assert acc["rows"][0]["accuracy"] >= DIGITS_MIN_ACCURACY, acc


@pytest.mark.slow
def test_flat_control_samples_reproduce_every_feature_amplitude():
    fs = _stats("fhgm-flat")
    assert np.ptp(fs["amplitudes"]) == 0                              # the control: equal amplitudes
    np.testing.assert_allclose(fs["positive_fraction"], 0.5, atol=SIGN_TOL)
    np.testing.assert_allclose(fs["mean_abs"], fs["amplitudes"], rtol=AMP_RTOL)
    assert abs(fs["residual_pixel_var"] / fs["expected_residual_pixel_var"] - 1) < RESID_RTOL


@pytest.mark.parametrize("name", ("fhgm-flat", "fhgm-deep", *TESTBED))
def test_gated_card_states_the_gate_of_its_own_statistics(name):
    with open(os.path.join(ZOO, name, "quality.json")) as f:
        quality = json.load(f)
    fs = quality["feature_statistics"]
    assert quality["model"] == name
    assert fs["n"] >= 2000 and quality["quality_gate"] == quality_gate(fs)
    with open(os.path.join(ZOO, name, "model_card.md")) as f:
        card = f.read()
    verdict = "passed" if quality["quality_gate"]["passed"] else "missed"
    assert f"Quality gate: {verdict} (" in card
    missed_words = {"fhgm-flat": "ordering check is n/a", "fhgm-deep": "reported with this shortfall"}.get(
        name, "n/a with this shortfall as the reason")
    assert (missed_words in card) is (verdict == "missed")
    if name == "fhgm-deep":
        assert card.startswith("# FHGM-deep-DiT (28 blocks)") and "training time: " in card
    for line in quality["quality_gate"]["shortfalls"]:
        assert line in card


@pytest.mark.slow
def test_fhgm_deep_measures_both_protocols_on_cpu(capsys):
    """`syncgap dit measure --model fhgm-deep`, Protocol I and II, tiny settings (seconds on one CPU thread)."""
    from syncgap.validation.cli.main import main
    from syncgap.validation.cli.output import NOT_MEASURABLE

    base = ["dit", "measure", "--model", "fhgm-deep", "--steps", "4", "--pairs", "2", "--g", "0.5", "--quiet",
            "--json"]
    assert main(base + ["--protocol", "I", "--t-int", "0,1,2,4", "--n-boot", "10"]) in (0, NOT_MEASURABLE)
    rec = json.loads(capsys.readouterr().out)
    gaps = [r for r in rec["records"] if r["kind"] == "gap"]
    assert len(gaps) == 1 and gaps[0]["g"] == 0.5
    assert rec["meta"]["model"]["name"] == "fhgm-deep" and rec["meta"]["model"]["num_layers"] == 28
    assert main(base + ["--protocol", "II", "--layers", "0,27"]) == 0
    rows = json.loads(capsys.readouterr().out)["records"]
    layers = {r["layer"] for r in rows if "layer" in r}
    assert layers == set(range(28)), layers                         # every block of the 28 recorded
