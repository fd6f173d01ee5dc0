"""Models and devices are checked before anything runs, alike in `dit measure`, `validate` and `sweep`.

A folder whose config names another class, whose tensors do not match its config, or whose weights
are truncated, and `--device cuda` where no GPU is visible: one line, exit 2, no output written.
An original DiT file runs end to end through `dit measure`. Also: torch.compile keeps g a tensor.
"""
import json

import pytest
import torch

from syncgap.dit_bridge.coupling import remove_coupling, set_coupling, set_g
from syncgap.dit_bridge.registry import TINY, build_dit, load_model
from syncgap.dit_bridge.sampling import compile_model
from syncgap.validation.cli.main import main

from test_dit_checkpoints import original_dit_forward, random_original_state

NO_CUDA = not torch.cuda.is_available()


def _bad_folders(tmp_path):
    good = tmp_path / "good"
    build_dit(TINY).save_pretrained(good)
    cfg = json.loads((good / "config.json").read_text())
    weights = (good / "diffusion_pytorch_model.safetensors").read_bytes()
    out = {}
    for name, config, data in (("unet", {**cfg, "_class_name": "UNet2DModel"}, weights),
                               ("deeper", {**cfg, "num_layers": 4}, weights),
                               ("truncated", cfg, weights[:-64])):
        d = tmp_path / name
        d.mkdir()
        (d / "config.json").write_text(json.dumps(config))
        (d / "diffusion_pytorch_model.safetensors").write_bytes(data)
        out[name] = d
    return out


MESSAGES = {"unet": "class 'UNet2DModel' is not a DiT transformer", "deeper": "'transformer_blocks.3.",
            "truncated": "truncated"}


def _one_line_exit_2(argv, capsys, message):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_bad_models_refused_by_every_command(tmp_path, capsys):
    for name, folder in _bad_folders(tmp_path).items():
        msg = MESSAGES[name]
        _one_line_exit_2(["dit", "measure", "--model", str(folder), "--steps", "4", "--pairs", "2", "--quiet"],
                         capsys, msg)
        report = tmp_path / f"report-{name}"
        _one_line_exit_2(["validate", "--out", str(report), "--quick", "--suites", "ou", "dit", "--model", "tiny",
                          str(folder), "--quiet"], capsys, msg)
        assert not report.exists()  # checked before the OU suite (first in order) could start
        cfg = tmp_path / f"sweep-{name}.json"
        cfg.write_text(json.dumps({"kind": "dit.protocol1", "base": {"model": str(folder), "num_steps": 4,
                                                                     "n_pairs": 2, "n_t_int": 4},
                                   "grid": {"g": [0.0, 1.0], "seed": [0]}}))
        _one_line_exit_2(["sweep", str(cfg), "--out", str(tmp_path / f"out-{name}"), "--workers", "1"], capsys, msg)
        assert not (tmp_path / f"out-{name}").exists()


@pytest.mark.skipif(not NO_CUDA, reason="needs a machine without CUDA")
def test_unavailable_device_refused_before_anything_runs(tmp_path, capsys):
    _one_line_exit_2(["dit", "measure", "--device", "cuda", "--steps", "4", "--pairs", "2"], capsys, "--device cuda")
    _one_line_exit_2(["validate", "--out", str(tmp_path / "r"), "--suites", "ou", "dit", "--device", "cuda",
                      "--quick"], capsys, "--device cuda")
    assert not (tmp_path / "r").exists()
    cfg = tmp_path / "cuda.json"
    cfg.write_text(json.dumps({"kind": "dit.protocol1.cuda", "base": {"model": "tiny"},
                               "grid": {"g": [0.0], "seed": [0]}}))
    _one_line_exit_2(["sweep", str(cfg), "--out", str(tmp_path / "o"), "--workers", "1"], capsys, "device cuda")


def test_dit_measure_runs_an_original_checkpoint(tmp_path, capsys):
    path = tmp_path / "DiT-S-2.pt"
    torch.save(random_original_state(384, 6, 1, 2, 8, classes=1000), path)
    assert main(["dit", "measure", "--model", str(path), "--protocol", "II", "--g", "0.5", "--steps", "3",
                 "--pairs", "1", "--quiet", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["meta"]["model"]["timestep_embedding"] == "original" and rec["meta"]["model"]["num_layers"] == 1
    assert rec["meta"]["model"]["sample_shape"] == [4, 8, 8] and not rec["meta"]["model"]["random_weights"]


@pytest.mark.slow
def test_compiled_forward_does_not_recompile_when_g_changes():
    rec = load_model("tiny")
    x, t, y = torch.randn(4, 4, 8, 8), torch.full((4,), 500), torch.tensor([1, 2, 1, 2])
    set_coupling(rec.model, 0.5)
    with torch.no_grad():
        eager = rec.model(x, t, y).sample
        compile_model(rec, backend="eager")  # dynamo's graph capture and guards, without a C++ toolchain
        first = rec.model(x, t, y).sample
        set_g(rec.model, 0.9)
        with torch._dynamo.config.patch(error_on_recompile=True):
            second = rec.model(x, t, y).sample
        remove_coupling(rec.model)  # Protocol I's independent tail: the second (and last) graph
        rec.model(x, t, y)
        with torch._dynamo.config.patch(error_on_recompile=True):
            for _ in range(2):  # branch after branch: gate installed and removed again, nothing recompiled
                set_coupling(rec.model, 0.5)
                rec.model(x, t, y)
                remove_coupling(rec.model)
                rec.model(x, t, y)
    assert torch.equal(first, eager) and not torch.allclose(second, first)


def test_original_forward_helper_is_a_real_reference():
    """Guard the reference itself: a changed weight changes its output (it reads the state dict)."""
    s = random_original_state(384, 6, 1, 2, 8)
    x, t, y = torch.randn(1, 4, 8, 8), torch.tensor([3]), torch.tensor([1])
    a = original_dit_forward(s, x, t, y, 6)
    s["blocks.0.attn.qkv.weight"] = s["blocks.0.attn.qkv.weight"].flip(0)
    assert not torch.allclose(a, original_dit_forward(s, x, t, y, 6))


def test_validate_with_unreachable_dit_xl_exits_2_before_running(tmp_path, capsys, monkeypatch):
    from syncgap.dit_bridge import registry
    monkeypatch.delenv(registry.DIT_XL_ENV, raising=False)
    monkeypatch.setattr(registry, "_hub_cached_dit_xl", lambda: None)  # no local copy, whatever this machine has
    _one_line_exit_2(["validate", "--out", str(tmp_path / "xl"), "--suites", "ou", "dit", "--model",
                      "facebook/DiT-XL-2-256", "--quick"], capsys, "weights are not reachable")
    assert not (tmp_path / "xl").exists()
