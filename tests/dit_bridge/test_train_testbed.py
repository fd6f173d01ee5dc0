"""Training levers of the deep testbed: the exact (Bayes) epsilon target, another amplitude ladder,
frozen blocks for the depth controls, and the weights-only resume between sessions."""
from __future__ import annotations

import json
import os
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from syncgap.dit_bridge.datasets import fhgm_data, mixture_from_spec
from syncgap.dit_bridge.train import ZOO_CONFIGS, TrainConfig, exact_eps_target, train
from syncgap.dit_bridge.train_files import WEIGHTS_FILE
from syncgap.theory.checks import InputError
from syncgap.theory.data import FHGM_AMPLITUDES

LADDER = [12.0, 6.0, 4.0, 3.0]
TINY = TrainConfig(dataset="fhgm", data_kwargs={"num_samples": 64, "seed": 3, "amplitudes": LADDER},
                   hidden=16, depth=3, heads=2, patch=4, steps=6, batch_size=8, lr=1e-3, warmup=2,
                   checkpoint_every=2, log_every=1, seed=5, target="exact")


def test_exact_eps_target_is_minus_sqrt_one_minus_abar_times_the_score_by_finite_differences():
    """E[eps | x_i] = -sqrt(1 - abar) grad log p_i(x_i): checked against central differences of the exact
    log density (theory.data.log_density), not against the closed-form posterior mean it is built from."""
    mix = mixture_from_spec(fhgm_data(num_samples=8, seed=0, amplitudes=LADDER).spec)
    rng = np.random.default_rng(0)
    for abar in (0.9, 0.3, 0.02):
        t = -0.5 * np.log(abar)
        x0 = mix.sample(3, rng)
        xt = np.sqrt(abar) * x0 + np.sqrt(1 - abar) * rng.standard_normal(x0.shape)     # (3, D)
        h = 1e-5
        grad = np.zeros_like(xt)
        for j in range(xt.shape[1]):
            e = np.zeros(xt.shape[1])
            e[j] = h
            grad[:, j] = (mix.log_density(xt + e, t) - mix.log_density(xt - e, t)) / (2 * h)
        want = -np.sqrt(1 - abar) * grad
        got = exact_eps_target(mix, torch.from_numpy(xt).reshape(3, *mix.shape),
                               torch.full((3, 1, 1, 1), abar, dtype=torch.float64))
        np.testing.assert_allclose(got.reshape(3, -1).numpy(), want, rtol=1e-5, atol=1e-6)


def test_a_ladder_is_stored_in_the_spec_and_rebuilt_by_mixture_from_spec():
    d = fhgm_data(num_samples=200, seed=1, amplitudes=LADDER)
    mix = mixture_from_spec(d.spec)
    assert mix.amplitudes.tolist() == LADDER and list(FHGM_AMPLITUDES) != LADDER
    np.testing.assert_allclose(np.abs(mix.project(d.images.reshape(200, -1).double().numpy())).mean(0),
                               LADDER, rtol=0.1)
    base = fhgm_data(num_samples=50, seed=1, amplitudes=[12.0, 6.0], frequencies=[[0, 1], [1, 2]])
    assert mixture_from_spec(base.spec).names == ("dct01", "dct12")
    with pytest.raises(InputError, match="amplitudes has 3 entries"):
        fhgm_data(num_samples=5, amplitudes=[1.0, 2.0, 3.0], frequencies=[[0, 1], [1, 2]])
    with pytest.raises(InputError, match="only be set for the 'fhgm'"):
        fhgm_data(num_samples=5, name="fhgm-flat", amplitudes=LADDER)


def test_exact_target_needs_a_closed_form_mixture():
    with pytest.raises(InputError, match="target='exact'"):
        train(replace(TINY, dataset="digits", data_kwargs={"size": 16}), "/nonexistent-never-made")


def test_weights_only_resume_continues_from_the_snapshot_with_a_fresh_warm_up(tmp_path):
    out = str(tmp_path / "run")
    ck = str(tmp_path / "ck.pt")

    class Stop(Exception):
        pass

    def stop_at_4(step, total, loss):
        if step == 4:
            raise Stop

    with pytest.raises(Stop):
        train(TINY, out, ck, progress=stop_at_4)
    snap = json.load(open(os.path.join(out, "training.json")))
    assert snap["steps_done"] == 4 and "unfinished" in snap["notes"]
    os.remove(ck)                                    # only the small snapshot survives between sessions
    rec = train(TINY, out, ck)
    assert rec["steps"] == 6 and [r["step"] for r in rec["loss_log"]] == [1, 2, 3, 4, 5, 6]
    assert "steps_done" not in json.load(open(os.path.join(out, "training.json")))
    with pytest.raises(InputError, match="partial run of another config"):
        with open(os.path.join(out, "training.json"), "w") as f:
            json.dump({**snap, "config": {**snap["config"], "lr": 0.5}}, f)
        train(TINY, out, ck)


def test_trainable_blocks_change_only_those_blocks_and_init_from_must_fit(tmp_path):
    base = str(tmp_path / "base")
    train(replace(TINY, steps=2), base)
    ctl = str(tmp_path / "ctl")
    train(replace(TINY, steps=3, init_from=base, trainable_blocks=(2,)), ctl)
    before, after = load_file(os.path.join(base, WEIGHTS_FILE)), load_file(os.path.join(ctl, WEIGHTS_FILE))
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("transformer_blocks.2.") for k in changed)
    with pytest.raises(InputError, match="do not fit this architecture"):
        train(replace(TINY, depth=2, steps=1, init_from=base), str(tmp_path / "bad"))
    with pytest.raises(InputError, match="trainable_blocks entry"):
        replace(TINY, trainable_blocks=(3,)).validate()


def test_the_testbed_configs_validate_and_say_what_they_train():
    deep = ZOO_CONFIGS["fhgm-deep16"].validate()
    assert deep.depth >= 12 and deep.patch == 2 and deep.target == "exact"
    base = ZOO_CONFIGS["fhgm-deep16-base"].validate()
    assert len(base.data_kwargs["amplitudes"]) == 3 and [6, 7] not in base.data_kwargs["frequencies"]
    pos, neg = ZOO_CONFIGS["fhgm-deep16-pos"].validate(), ZOO_CONFIGS["fhgm-deep16-neg"].validate()
    assert pos.trainable_blocks == tuple(range(deep.depth - 5, deep.depth)) and neg.trainable_blocks == tuple(range(5))
    for ctl in (pos, neg):      # same architecture and data as the testbed, started from stage 1
        assert (ctl.depth, ctl.hidden, ctl.patch, ctl.data_kwargs) == (deep.depth, deep.hidden, deep.patch,
                                                                       deep.data_kwargs)
        assert ctl.init_from == "zoo:fhgm-deep16-base"
    from syncgap.dit_bridge.train_files import model_folder
    assert model_folder("zoo:fhgm").endswith(os.path.join("dit_bridge", "zoo", "fhgm")) and model_folder("/x") == "/x"


class _BayesDenoiser(torch.nn.Module):
    """The exact epsilon of a mixture, shaped as a DiT (no blocks): the Bayes answer a slope of 1 describes."""

    def __init__(self, mix):
        super().__init__()
        self.mix, self.transformer_blocks = mix, torch.nn.ModuleList()

    def forward(self, x, timestep, class_labels):
        from types import SimpleNamespace

        from syncgap.dit_bridge.train import alphas_cumprod
        a = alphas_cumprod()[timestep].view(-1, 1, 1, 1)
        return SimpleNamespace(sample=exact_eps_target(self.mix, x.double(), a).float())


def test_tail_work_slope_is_one_for_the_bayes_denoiser_and_skipping_equals_zeroed_adaln():
    from syncgap.dit_bridge.tail_work import commit_step, feature_slope, tail_work
    from syncgap.dit_bridge.train import alphas_cumprod, build_model

    mix = mixture_from_spec(fhgm_data(num_samples=8, seed=0).spec)
    step = commit_step(mix, 3)
    assert abs(float(alphas_cumprod()[step]) * (1.5 ** 2 + 0.5 ** 2) - 1) < 0.01     # abar = 1 / Lambda
    assert 250 <= step <= 350                                                        # dct67 (a = 1.5) near 300
    assert feature_slope(_BayesDenoiser(mix), mix, 3, step, n=2048) == pytest.approx(1.0, abs=1e-3)
    # a tiny random DiT: skipping its last 2 blocks = zeroing their adaLN modulation (identity blocks)
    torch.manual_seed(0)
    data = fhgm_data(num_samples=8, seed=0)
    model = build_model(replace(TINY, depth=3, patch=2), data).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    rec = tail_work(model, mix, skip=2, n=256)
    ident = build_model(replace(TINY, depth=3, patch=2), data).eval()
    ident.load_state_dict(model.state_dict())
    for b in ident.transformer_blocks[1:]:
        torch.nn.init.zeros_(b.norm1.linear.weight)
        torch.nn.init.zeros_(b.norm1.linear.bias)
    assert rec["slope_without_tail"] == pytest.approx(feature_slope(ident, mix, 3, rec["step"], n=256), rel=1e-5)
    assert rec["change"] == pytest.approx(rec["slope"] - rec["slope_without_tail"])
    assert abs(rec["change"]) > 1e-6                                           # the random tail does something


def test_every_consumer_reads_a_model_on_its_own_ladder_never_the_default_fhgm(tmp_path, monkeypatch):
    """A model trained on another ladder: the suites' mixture (dit_cells.fhgm_mixture), the card's quality
    measures and the tail-work slope all rebuild its mixture; the default FHGM constructor is made to fail
    so that any path that still rebuilds it breaks this test."""
    import syncgap.dit_bridge.datasets as datasets
    from syncgap.dit_bridge.registry import load_model
    from syncgap.dit_bridge.tail_work import tail_work
    from syncgap.dit_bridge.zoo_quality import denoiser_error_curve, exact_fhgm_loss, feature_statistics
    from syncgap.theory import data as theory_data
    from syncgap.validation.suites.dit.cells import fhgm_mixture

    out = str(tmp_path / "ladder")
    train(replace(TINY, steps=1, depth=2), out)
    real = theory_data.frequency_hierarchy_mixture

    def no_default(*args, **kwargs):
        if list(kwargs.get("amplitudes", FHGM_AMPLITUDES)) == list(FHGM_AMPLITUDES):
            raise AssertionError("the default FHGM was rebuilt for a model of another ladder")
        return real(*args, **kwargs)

    monkeypatch.setattr(datasets, "frequency_hierarchy_mixture", no_default)
    monkeypatch.setitem(datasets.FHGM_MIXTURES, "fhgm", (no_default, "frequency_hierarchy_mixture"))
    rec = load_model(out)
    mix = fhgm_mixture(rec)
    assert mix.amplitudes.tolist() == LADDER
    meta = json.load(open(os.path.join(out, "training.json")))
    assert denoiser_error_curve(rec.model, meta, levels=(300,), n=8)["rows"][0]["step"] == 300
    stats = feature_statistics(np.zeros((4, 1, 16, 16)), meta)
    assert stats["amplitudes"] == LADDER
    assert np.isfinite(exact_fhgm_loss(meta, n=64))
    assert tail_work(rec.model, mix, skip=1, n=16)["feature"] == "dct67"
