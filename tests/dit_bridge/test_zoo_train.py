"""Training machinery of the embedded small DiTs (issue 5): data, adaLN-zero init, resume, sampler, CLI."""
from __future__ import annotations

import json
import os
from dataclasses import replace

import numpy as np
import pytest
import torch

from syncgap.dit_bridge.datasets import data_hash, digits_data, fhgm_data, load_data, mixture_from_spec, to_pixels
from syncgap.dit_bridge.train import ZOO_CONFIGS, TrainConfig, alphas_cumprod, build_model, train
from syncgap.dit_bridge.zoo_quality import (ddim_sample, denoiser_error_curve, feature_statistics, load_zoo_model,
                                            quality_gate)
from syncgap.theory.checks import InputError
from syncgap.theory.data import FHGM_AMPLITUDES, flat_frequency_mixture, frequency_hierarchy_mixture
from syncgap.theory.schedules import train_step_ou_times

TINY = TrainConfig(dataset="fhgm", data_kwargs={"num_samples": 64, "seed": 3}, hidden=16, depth=1,
                   heads=2, patch=4, steps=6, batch_size=8, lr=1e-3, warmup=2, checkpoint_every=2,
                   log_every=2, seed=5)


class Stop(Exception):
    """Raised by the progress callback of `stop_at`: an interrupted training run."""


def stop_at(n):
    """A training progress callback that interrupts the run after step n (its checkpoint is written)."""
    def progress(step, total, loss):
        if step == n:
            raise Stop
    return progress


def test_fhgm_data_is_the_shared_mixture_and_hashed():
    d = fhgm_data(num_samples=500, seed=1)
    assert d.images.shape == (500, 1, 16, 16) and d.num_classes == 1
    mix = frequency_hierarchy_mixture()
    ref = mix.sample(500, np.random.default_rng(1)).astype(np.float32)
    np.testing.assert_array_equal(d.images.reshape(500, -1).numpy(), ref)
    assert d.spec["data_hash"] == fhgm_data(num_samples=500, seed=1).spec["data_hash"]
    assert d.spec["data_hash"] != fhgm_data(num_samples=500, seed=2).spec["data_hash"]
    assert d.spec["data_hash"] == data_hash(d.images, d.labels)


def test_flat_control_data_is_its_own_mixture_and_rebuilt_from_its_spec():
    d = fhgm_data(num_samples=500, seed=1, name="fhgm-flat")
    ref = flat_frequency_mixture().sample(500, np.random.default_rng(1)).astype(np.float32)
    np.testing.assert_array_equal(d.images.reshape(500, -1).numpy(), ref)
    assert d.spec["name"] == "fhgm-flat" and "flat_frequency_mixture" in d.spec["source"]
    assert d.spec["data_hash"] != fhgm_data(num_samples=500, seed=1).spec["data_hash"]
    assert load_data("fhgm-flat", num_samples=500, seed=1).spec == d.spec
    # equal amplitudes carrying the FHGM's total signal variance, so the pixel variance is unchanged
    a = np.asarray(d.spec["amplitudes"])
    assert np.ptp(a) == 0 and np.sum(a ** 2) == pytest.approx(np.sum(np.square(FHGM_AMPLITUDES)))
    pixel_var = float(d.images.var())
    assert pixel_var == pytest.approx(float(fhgm_data(num_samples=500, seed=1).images.var()), rel=0.1)
    # the quality measures rebuild the mixture that made the data (an old spec without amplitudes: FHGM)
    np.testing.assert_allclose(mixture_from_spec(d.spec).amplitudes, a)
    np.testing.assert_allclose(mixture_from_spec({"size": 16, "channels": 1}).amplitudes, FHGM_AMPLITUDES)
    with pytest.raises(InputError, match="name must be one of"):
        fhgm_data(num_samples=4, name="fhgm-steep")


def test_flat_control_has_the_fhgm_recipe():
    flat, fhgm = ZOO_CONFIGS["fhgm-flat"], ZOO_CONFIGS["fhgm"]
    assert flat.dataset == "fhgm-flat"
    assert replace(flat, dataset="fhgm") == fhgm


def test_quality_gate_fails_on_each_shortfall():
    stats = {"n": 2048, "feature_names": ["lo", "hi"], "amplitudes": [6.0, 6.0], "mean_abs": [6.1, 5.7],
             "positive_fraction": [0.51, 0.49]}
    ok = quality_gate(stats)
    assert ok["passed"] and ok["shortfalls"] == [] and ok["n"] == 2048
    weak = quality_gate(stats | {"mean_abs": [6.1, 5.3]})           # 0.88 a_k
    assert not weak["passed"] and weak["shortfalls"] == ["hi mean abs(y_k) = 0.88 a_k (outside 10%: under-committed)"]
    strong = quality_gate(stats | {"mean_abs": [6.7, 5.7]})         # 1.12 a_k
    assert not strong["passed"] and "lo mean abs(y_k) = 1.12 a_k" in strong["shortfalls"][0]
    tilted = quality_gate(stats | {"positive_fraction": [0.5, 0.54]})
    assert not tilted["passed"] and tilted["shortfalls"] == ["hi P(y_k > 0) = 0.540 (outside 1/2 +- 0.03)"]


def test_digits_data_unit_variance_and_invertible():
    from sklearn.datasets import load_digits

    d = digits_data()
    assert d.images.shape == (1797, 1, 16, 16) and d.num_classes == 10
    assert abs(float(d.images.mean())) < 1e-4 and abs(float(d.images.std()) - 1) < 1e-4
    np.testing.assert_array_equal(d.labels.numpy(), load_digits().target)
    # 2x2 average pooling of the bilinear upsample returns close to the 8x8 originals
    px = torch.nn.functional.avg_pool2d(to_pixels(d.images, d.spec), 2)[:, 0].numpy()
    assert np.corrcoef(px.ravel(), load_digits().images.ravel())[0, 1] > 0.95
    with pytest.raises(InputError, match="dataset"):
        load_data("mnist")


def test_adaln_zero_init_and_null_class_row():
    torch.manual_seed(0)
    digits = replace(TINY, dataset="digits", data_kwargs={"size": 16})
    model = build_model(digits, digits_data())
    for block in model.transformer_blocks:
        assert torch.count_nonzero(block.norm1.linear.weight) == 0
        # diffusers appends the null row (id = num_classes) because its label dropout is > 0
        table = block.norm1.emb.class_embedder.embedding_table
        assert table.num_embeddings == 11
        assert block.norm1.emb.class_embedder.num_classes == 10
    x = torch.randn(3, 1, 16, 16)
    out = model(x, timestep=torch.tensor([1, 500, 999]), class_labels=torch.tensor([0, 10, 9])).sample
    assert out.shape == (3, 1, 16, 16) and torch.count_nonzero(out) == 0   # adaLN-zero: zero output


def test_train_writes_contract_and_resumes_exactly(tmp_path):
    full = tmp_path / "full"
    rec = train(TINY, str(full), command="test")
    for f in ("config.json", "diffusion_pytorch_model.safetensors", "training.json"):
        assert (full / f).is_file()
    assert not (full / "checkpoint.pt").exists()
    meta = json.loads((full / "training.json").read_text())
    for key in ("dataset", "num_classes", "null_class_id", "sample_shape", "learned_sigma", "scheduler",
                "seed", "steps", "batch_size", "final_loss", "training_seconds", "command", "weights"):
        assert key in meta
    assert meta["scheduler"]["beta_schedule"] == "linear" and meta["learned_sigma"] is False
    assert [r["step"] for r in rec["loss_log"]] == [2, 4, 6]

    part = tmp_path / "part"
    with pytest.raises(Stop):
        train(TINY, str(part), progress=stop_at(4))
    assert (part / "checkpoint.pt").is_file()
    assert json.loads((part / "training.json").read_text())["steps_done"] == 4   # the weights-only snapshot
    seen = []
    train(TINY, str(part), progress=lambda s, n, l: seen.append(s))
    assert seen == [6]                                     # finished steps were not redone
    a, _ = load_zoo_model(str(full))
    b, _ = load_zoo_model(str(part))
    for (k, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6, msg=k)
    with pytest.raises(InputError, match="another config"):
        torch.save({"config": {}}, part / "checkpoint.pt")
        train(TINY, str(part))


def test_checkpoint_from_before_the_newer_options_resumes_under_their_defaults(tmp_path):
    out = tmp_path / "old"
    with pytest.raises(Stop):
        train(TINY, str(out), progress=stop_at(2))
    ck = torch.load(out / "checkpoint.pt", weights_only=False)
    for k in ("lr_schedule", "step_focus", "min_snr_gamma"):                  # as written by older code
        del ck["config"][k]
    torch.save(ck, out / "checkpoint.pt")
    with pytest.raises(InputError, match="another config"):
        train(replace(TINY, min_snr_gamma=5.0), str(out))
    assert train(TINY, str(out))["steps"] == TINY.steps


def test_cosine_schedule_warms_up_then_halves_its_area(tmp_path):
    from syncgap.dit_bridge.train import _lr_at
    cfg = replace(TINY, lr=1e-3, warmup=10, steps=1010, lr_schedule="cosine")
    lrs = np.array([_lr_at(cfg, s) for s in range(cfg.steps)])
    assert lrs[9] == pytest.approx(1e-3) and lrs[510] == pytest.approx(5e-4) and lrs[-1] < 1e-8
    assert np.all(np.diff(lrs[10:]) <= 0)
    assert lrs[10:].sum() == pytest.approx(0.5 * 1e-3 * 1000, rel=2e-3)     # the mean of a half cosine is 1/2
    assert [_lr_at(replace(cfg, lr_schedule="constant"), s) for s in (9, 510, 1009)] == [1e-3] * 3
    with pytest.raises(InputError, match="lr_schedule"):
        train(replace(TINY, lr_schedule="linear"), str(tmp_path / "bad"))
    short = replace(TINY, lr_schedule="cosine")
    with pytest.raises(Stop):
        train(short, str(tmp_path / "c"), progress=stop_at(2))
    with pytest.raises(InputError, match="another config"):   # more steps would bend the cosine mid-run
        train(replace(short, steps=short.steps + 2), str(tmp_path / "c"))


def test_step_focus_draws_the_stated_share_of_steps_and_none_is_the_dit_recipe():
    from syncgap.dit_bridge.train import diffusion_loss

    class Spy(torch.nn.Module):
        def forward(self, x, timestep, class_labels):
            self.steps = timestep.clone()
            return type("Out", (), {"sample": torch.zeros_like(x)})()

    spy, abar, x0, lab = Spy(), alphas_cumprod(), torch.zeros(20000, 1, 2, 2), torch.zeros(20000, dtype=torch.long)
    diffusion_loss(spy, x0, lab, abar, torch.Generator().manual_seed(0), 1,
                   replace(TINY, class_dropout=0.0, step_focus=(100, 600, 0.4)))
    inside = ((spy.steps >= 100) & (spy.steps < 600)).float().mean().item()
    assert inside == pytest.approx(0.4 + 0.6 * 0.5, abs=0.015)               # 4 sd of a binomial share
    assert spy.steps.min() >= 0 and spy.steps.max() < 1000
    diffusion_loss(spy, x0, lab, abar, torch.Generator().manual_seed(0), 1,
                   replace(TINY, class_dropout=0.0, step_focus=None))
    assert torch.equal(spy.steps, torch.randint(0, 1000, (20000,), generator=torch.Generator().manual_seed(0)))
    with pytest.raises(InputError, match="step_focus hi"):
        replace(TINY, step_focus=(500, 400, 0.5)).validate()


def test_min_snr_objective_is_the_x0_space_loss_weighted_by_min_snr_gamma():
    """||eps_hat - eps||^2 = SNR ||x0_hat - x0||^2, so the objective must equal mean_i min(SNR_i, g) e0_i."""
    from syncgap.dit_bridge.train import diffusion_loss

    class Guess(torch.nn.Module):                 # a fixed, wrong epsilon guess; records what it saw
        def forward(self, x, timestep, class_labels):
            self.xt, self.steps = x.clone(), timestep.clone()
            return type("Out", (), {"sample": 0.3 * x + 0.1})()

    g, abar = 5.0, alphas_cumprod()
    x0 = torch.randn(4000, 1, 2, 2, generator=torch.Generator().manual_seed(1))
    lab = torch.zeros(4000, dtype=torch.long)
    model = Guess()
    obj, mse = diffusion_loss(model, x0, lab, abar, torch.Generator().manual_seed(0), 1,
                              replace(TINY, class_dropout=0.0, min_snr_gamma=g))
    a = abar[model.steps].double().view(-1, 1, 1, 1)
    x0_hat = (model.xt.double() - (1 - a).sqrt() * (0.3 * model.xt.double() + 0.1)) / a.sqrt()
    e0 = (x0_hat - x0.double()).square().flatten(1).mean(1)                     # x0-space error per sample
    snr = (a / (1 - a)).view(-1)
    assert obj.item() == pytest.approx(torch.minimum(snr, torch.tensor(g)).mul(e0).mean().item(), rel=1e-4)
    assert mse.item() == pytest.approx(snr.mul(e0).mean().item(), rel=1e-4)    # the logged loss is the plain MSE
    plain, plain_mse = diffusion_loss(model, x0, lab, abar, torch.Generator().manual_seed(0), 1,
                                      replace(TINY, class_dropout=0.0, min_snr_gamma=None))
    assert plain.item() == plain_mse.item() == pytest.approx(mse.item(), rel=1e-6)
    assert obj.item() < mse.item()                                              # the clean steps are damped
    with pytest.raises(InputError, match="min_snr_gamma"):
        replace(TINY, min_snr_gamma=0.0).validate()


def test_bad_training_config_is_input_error(tmp_path):
    with pytest.raises(InputError, match="divisible"):
        train(replace(TINY, hidden=15), str(tmp_path))
    with pytest.raises(InputError, match="class_dropout"):
        train(replace(TINY, class_dropout=1.5), str(tmp_path))


def test_damaged_weights_give_clear_error(tmp_path):
    out = tmp_path / "m"
    train(TINY, str(out))
    w = out / "diffusion_pytorch_model.safetensors"
    raw = w.read_bytes()
    w.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError, match="truncated"):
        load_zoo_model(str(out))
    w.write_bytes(raw[:100] + bytes(b ^ 0xFF for b in raw[100:108]) + raw[108:])
    with pytest.raises(InputError, match="sha256"):
        load_zoo_model(str(out))
    # without the recorded checksum the loader still turns the diffusers error into an InputError
    meta = json.loads((out / "training.json").read_text())
    meta.pop("weights")
    (out / "training.json").write_text(json.dumps(meta))
    w.write_bytes(raw[:1000])
    with pytest.raises(InputError, match="cannot load"):
        load_zoo_model(str(out))
    os.remove(w)
    with pytest.raises(InputError, match="lacks"):
        load_zoo_model(str(out))


def test_ddim_sample_matches_diffusers_ddim_scheduler():
    from diffusers import DDIMScheduler

    torch.manual_seed(0)
    model = build_model(replace(TINY, dataset="digits"), digits_data()).eval()
    for p in model.parameters():                    # leave adaLN-zero so the output is not trivially 0
        torch.nn.init.normal_(p, std=0.05)
    labels = torch.tensor([1, 7])
    ours = ddim_sample(model, labels, (1, 16, 16), num_steps=10, guidance=3.0, null_id=10, seed=4)
    sch = DDIMScheduler(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule="linear",
                        clip_sample=False, set_alpha_to_one=True, prediction_type="epsilon")
    sch.set_timesteps(10)
    x = torch.randn((2, 1, 16, 16), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        for t in sch.timesteps:
            ts = torch.full((4,), int(t))
            out = model(torch.cat([x, x]), timestep=ts, class_labels=torch.tensor([1, 7, 10, 10])).sample
            c, u = out.chunk(2)
            x = sch.step(u + 3.0 * (c - u), t, x).prev_sample
    torch.testing.assert_close(ours, x, rtol=1e-4, atol=1e-4)


def test_alphas_cumprod_is_the_ou_time_schedule():
    t = -0.5 * np.log(alphas_cumprod().numpy())
    np.testing.assert_allclose(t, train_step_ou_times(), rtol=1e-12)


class ExactDenoiser(torch.nn.Module):
    """Stand-in 'model' whose epsilon comes from the exact FHGM posterior mean."""

    def __init__(self):
        super().__init__()
        self.mix = frequency_hierarchy_mixture()
        self.abar = alphas_cumprod().numpy()

    def forward(self, x, timestep, class_labels):
        a = float(self.abar[int(timestep[0])])
        xf = x.reshape(x.shape[0], -1).double().numpy()
        m = self.mix.posterior_mean(xf, -0.5 * np.log(a))
        eps = (xf - np.sqrt(a) * m) / np.sqrt(1 - a)
        return type("Out", (), {"sample": torch.from_numpy(eps).float().reshape(x.shape)})()


def test_denoiser_curve_and_feature_statistics_on_the_exact_model():
    meta = {"dataset": {"name": "fhgm", "size": 16, "channels": 1}}
    model = ExactDenoiser()
    curve = denoiser_error_curve(model, meta, levels=(20, 300, 900), n=200)
    for r in curve["rows"]:
        assert r["excess_ratio"] < 1e-3                # float32 round trip only
        assert 0 < r["bayes_rmse"] < 1.01
    # the exact denoiser sampled with DDIM reproduces the mixture's feature statistics
    x = ddim_sample(model, torch.zeros(400, dtype=torch.int64), (1, 16, 16), num_steps=50)
    fs = feature_statistics(x.numpy(), meta)
    np.testing.assert_allclose(fs["positive_fraction"], 0.5, atol=0.1)
    np.testing.assert_allclose(fs["mean_abs"], fs["amplitudes"], rtol=0.1)
    assert abs(fs["residual_pixel_var"] - 0.25) < 0.05


def test_cli_rejects_unknown_model_and_records_command(tmp_path, capsys):
    from syncgap.validation.cli.dit.train import main

    assert main(["resnet"]) == 2
    assert "name must be one of" in capsys.readouterr().err
    out = tmp_path / "cli"
    assert main(["digits", "--out", str(out), "--steps", "2", "--skip-card", "--threads", "1"]) == 0
    meta = json.loads((out / "training.json").read_text())
    assert meta["command"].startswith("syncgap dit train digits --out")
    assert meta["steps"] == 2 and meta["null_class_id"] == 10


@pytest.mark.slow
def test_model_card_states_the_recipe_and_the_measured_limits(tmp_path):
    from syncgap.dit_bridge.zoo_card import write_model_card

    out = tmp_path / "m"
    train(replace(TINY, min_snr_gamma=5.0, lr_schedule="cosine"), str(out), command="syncgap dit train fhgm")
    quality = write_model_card(str(out))
    card = (out / "model_card.md").read_text()
    assert "cosine lr, Min-SNR-5 loss weighting" in card and "syncgap dit train fhgm" in card
    fs = quality["feature_statistics"]
    off = [nm for nm, a, m in zip(fs["feature_names"], fs["amplitudes"], fs["mean_abs"]) if abs(m / a - 1) > 0.1]
    assert off, "a 6-step model cannot reproduce the feature amplitudes"
    limits = card.split("Known limitation: ")[1].split("\n")[0]
    assert [nm for nm in fs["feature_names"] if f"{nm} mean abs" in limits] == off
    for f in ("samples.png", "denoiser_error.png", "quality.json", "samples.npz"):
        assert (out / f).is_file(), f


@pytest.mark.slow
def test_control_card_states_its_gate_and_when_its_ordering_check_is_void(tmp_path, monkeypatch):
    from syncgap.dit_bridge import zoo_card

    monkeypatch.setitem(zoo_card.FEATURE_SAMPLES, "fhgm-flat", 64)
    out = tmp_path / "flat"
    train(replace(TINY, dataset="fhgm-flat"), str(out), command="syncgap dit train fhgm-flat")
    quality = zoo_card.write_model_card(str(out))
    assert quality["model"] == "fhgm-flat" and quality["sampler"]["n"] == 64
    assert quality["feature_statistics"]["amplitudes"] == pytest.approx([6.914658] * 4, rel=1e-6)
    gate = quality["quality_gate"]
    assert not gate["passed"] and gate["shortfalls"], "a 6-step model cannot pass the gate"
    card = (out / "model_card.md").read_text()
    assert card.startswith("# FHGM-flat-DiT (equal-amplitude control)") and "1.936" in card
    assert "Known limitation: " + "; ".join(gate["shortfalls"]) in card
    assert "Quality gate: missed" in card and "ordering check is n/a" in card
    for f in ("samples.png", "denoiser_error.png", "samples.npz"):
        assert (out / f).is_file(), f
