"""Nothing executes from a file (issue 17): training checkpoints load with weights_only=True, sweep
configs run only registered kinds unless --allow-code-kinds, and `dit train` never overwrites the
shipped weights by default."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from syncgap.dit_bridge.train import load_checkpoint, train
from syncgap.theory.checks import InputError
from syncgap.validation.cli.main import main
from syncgap.validation.sweep import expand

from test_zoo_train import TINY, Stop, stop_at  # noqa: E402  (every tests/ folder is on sys.path: tests/conftest.py)


class _Evil:
    """Pickles to a call of os.system: what a hostile checkpoint holds."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _one_error_line(capsys, *needles):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def test_a_pickle_that_runs_code_is_refused_and_never_run(tmp_path, capsys):
    marker, evil = tmp_path / "pwned", tmp_path / "evil.pt"
    torch.save({"config": {}, "payload": _Evil(marker)}, evil)
    with pytest.raises(InputError, match="refused"):
        load_checkpoint(str(evil))
    with pytest.raises(InputError, match="refused"):
        train(TINY, str(tmp_path / "o"), checkpoint_path=str(evil))
    rc = main(["dit", "train", "fhgm", "--steps", "1", "--out", str(tmp_path / "cli"), "--checkpoint", str(evil)])
    assert rc == 2
    _one_error_line(capsys, "evil.pt", "refused")
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"not a zip", b"PK\x03\x04 truncated"])
def test_a_damaged_checkpoint_is_one_line(tmp_path, content):
    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(content)
    with pytest.raises(InputError, match="checkpoint"):
        train(TINY, str(tmp_path), checkpoint_path=str(bad))
    torch.save({"config": {"dataset": "fhgm"}, "step": 1}, bad)       # plain data, but not a checkpoint of TINY
    with pytest.raises(InputError, match="checkpoint"):
        train(TINY, str(tmp_path), checkpoint_path=str(bad))


def test_an_interrupted_training_resumes_from_a_weights_only_checkpoint(tmp_path):
    with pytest.raises(Stop):
        train(TINY, str(tmp_path), progress=stop_at(2))
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)    # tensors and containers only
    assert state["step"] == 2 and state["gen"].dtype == torch.uint8
    seen = []
    train(TINY, str(tmp_path), progress=lambda s, n, l: seen.append(s))
    assert seen == [4, 6]


def test_every_torch_load_in_the_package_is_weights_only():
    import ast
    root = Path(__file__).resolve().parents[2]
    calls = 0
    for folder in ("theory", "ou_models", "dit_bridge", "validation"):
        for path in (root / folder).rglob("*.py"):
            text = path.read_text()
            tree = ast.parse(text)
            for fn in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.Module))]:
                for node in ast.walk(fn):
                    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                            and node.func.attr == "load" and getattr(node.func.value, "id", "") == "torch"):
                        continue
                    calls += 1
                    named = {k.arg: k.value for k in node.keywords if k.arg}
                    if "weights_only" in named:
                        assert getattr(named["weights_only"], "value", None) is True, f"{path}:{node.lineno}"
                    else:                                   # **kw: the function builds kw with weights_only=True
                        assert any(k.arg is None for k in node.keywords), f"{path}:{node.lineno}: no weights_only"
                        segment = text if isinstance(fn, ast.Module) else ast.get_source_segment(text, fn)
                        assert "weights_only=True" in segment, f"{path}:{node.lineno}"
    assert calls >= 1


def test_a_config_kind_naming_a_function_is_refused_without_the_flag(tmp_path, capsys, monkeypatch):
    module = tmp_path / "hostile_kind_mod.py"
    marker = tmp_path / "imported"
    module.write_text(f"open({str(marker)!r}, 'w').close()\ndef cell(x=0):\n    return {{'x': x}}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(InputError, match="--allow-code-kinds"):
        expand({"kind": "hostile_kind_mod:cell", "grid": {"x": [1]}})
    assert not marker.exists()                                   # not even imported
    cfg = tmp_path / "c.json"
    cfg.write_text('{"kind": "os:system", "base": {"command": "true"}}')
    assert main(["sweep", str(cfg), "--out", str(tmp_path / "o")]) == 2
    _one_error_line(capsys, "--allow-code-kinds")
    cfg.write_text('{"kind": "hostile_kind_mod:cell", "grid": {"x": [1, 2]}}')
    assert main(["sweep", str(cfg), "--out", str(tmp_path / "o2"), "--workers", "1", "--allow-code-kinds"]) == 0
    assert marker.exists()


def test_the_code_flag_says_that_it_executes_code(capsys):
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--allow-code-kinds" in out and "EXECUTES CODE FROM THE CONFIG" in out


def test_dit_train_without_out_does_not_touch_the_shipped_weights(capsys):
    from syncgap.validation.cli.dit.train import ZOO_DIR
    weights = Path(ZOO_DIR) / "fhgm" / "diffusion_pytorch_model.safetensors"
    before = weights.stat().st_mtime_ns
    assert main(["dit", "train", "fhgm", "--steps", "1"]) == 2
    _one_error_line(capsys, "--out", "--overwrite-shipped")
    assert weights.stat().st_mtime_ns == before and not (weights.parent / "checkpoint.pt").exists()
