"""bf16 sign-agreement cells (dit_bridge/precision.py): the model runs in bf16, every state, difference and
projection stays float32; dtype is part of a cell's key (fp32 keeps the key it had before cells had a dtype),
and the fp32 cells are bit-identical to the direct computation."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from syncgap.dit_bridge import precision
from syncgap.dit_bridge.branches import protocol_one_branches
from syncgap.dit_bridge.pair_run import PairRun
from syncgap.dit_bridge.protocols import protocol_one
from syncgap.dit_bridge.registry import load_model
from syncgap.theory.checks import InputError
from syncgap.validation.store import cell_key
from syncgap.validation.suites.dit.findings import Settings, measure_model

SMALL = Settings(num_steps=6, n_pairs=2, t_ints=(0, 3, 6), g_grid=(0.0, 0.5), n_boot=10, ou_paths=10,
                 variants=(("release", "independent", "ddpm"),))


def test_auto_is_bf16_only_on_a_cpu_with_native_bf16(monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda: True)
    assert precision.resolve_dtype("auto", "cpu") == "bf16"
    assert precision.resolve_dtype("auto", "cuda") == "fp32"
    assert precision.resolve_dtype("fp32", "cpu") == "fp32" and precision.resolve_dtype("bf16", "cuda") == "bf16"
    monkeypatch.setattr(precision, "native_bf16", lambda: False)
    assert precision.resolve_dtype("auto", "cpu") == "fp32"
    with pytest.raises(InputError, match="dtype must be one of auto, fp32, bf16"):
        precision.resolve_dtype("fp16", "cpu")
    with pytest.raises(InputError, match="fp32 or bf16"):
        precision.dtype_config("auto")


def test_bf16_runs_the_model_in_bf16_and_keeps_states_and_differences_in_float32():
    rec = load_model("tiny")
    fast = precision.model_in(rec, "bf16")
    assert next(fast.model.parameters()).dtype == torch.bfloat16
    assert next(rec.model.parameters()).dtype == torch.float32          # the fp32 record is left as it is
    assert precision.model_in(rec, "fp32") is rec
    kw = dict(g=0.5, n_pairs=3, seed=0, num_steps=6, eps=0.3)
    out32 = list(protocol_one_branches(PairRun(rec, **kw), [0, 3]))
    out16 = list(protocol_one_branches(PairRun(fast, **kw), [0, 3]))
    for (_, _, a, b), (_, _, a32, b32) in zip(out16, out32):
        assert a.dtype == b.dtype == torch.float32
        d = a - b                                                         # the replica difference, in float32
        assert not torch.equal(d, d.to(torch.bfloat16).float())           # not on bf16's 8-bit grid
        assert not torch.equal(a, a32)                                    # the model did run in bf16 ...
        assert float((a - a32).abs().max()) < 0.1 * float(a32.abs().max())   # ... close to the fp32 run


def _cell(out, kind="p1", g=0.5):
    with open(os.path.join(out, "dit", "tiny", f"{kind}_g{g:g}.json")) as f:
        return json.load(f)


def test_dtype_is_part_of_the_cell_key_and_fp32_cells_are_bit_identical(tmp_path):
    out = str(tmp_path)
    msgs = []
    measure_model("tiny", out, SMALL, say=msgs.append, dtype="fp32")
    rec32 = _cell(out)
    assert "dtype" not in rec32["config"]                                 # the key fp32 cells always had
    assert "dtype" not in _cell(out, "p1_clone", 0.5)["config"]           # coupled cloning too (a sign cell)
    legacy = {k: v for k, v in rec32["config"].items()}
    assert rec32["key"] == cell_key(legacy)
    ref = protocol_one(load_model("tiny"), 0.5, list(SMALL.t_ints), n_pairs=2, seed=0, num_steps=6,
                       scales=rec32["result"]["scales"], fit=False)
    assert np.array_equal(np.asarray(rec32["result"]["agreement"]), ref["agreement"])   # bit for bit
    msgs.clear()
    measure_model("tiny", out, SMALL, say=msgs.append, dtype="bf16")
    rec16 = _cell(out)
    assert rec16["config"]["dtype"] == "bf16" and rec16["key"] != rec32["key"]
    assert {k: v for k, v in rec16["config"].items() if k != "dtype"} == rec32["config"]
    assert _cell(out, "p1_clone", 0.5)["config"]["dtype"] == "bf16"
    assert not any("reused" in m for m in msgs if " p1 " in m or " clone " in m)   # never resumed across dtypes
    msgs.clear()
    measure_model("tiny", out, SMALL, say=msgs.append, dtype="bf16")
    cells = [m for m in msgs if "empirical modes" not in m]               # (the modes cache says its own line)
    assert cells and all("reused" in m for m in cells)                    # the same dtype resumes


def _pair_run(rec, n_pairs=3):
    from syncgap.dit_bridge.sampling import antisymmetric_noise, sample_pairs
    xa, xb = antisymmetric_noise(rec.sample_shape, n_pairs, seed=1)
    return sample_pairs(rec, xa, xb, seed=1, num_steps=3).x


@pytest.mark.parametrize("where", ["torch.compile", "first call"])
def test_a_failed_compilation_falls_back_to_eager_with_one_line(monkeypatch, capsys, where):
    from syncgap.dit_bridge import sampling
    ref = _pair_run(load_model("tiny"))
    rec = load_model("tiny")

    def broken_compile(fn, **kw):
        if where == "torch.compile":
            raise RuntimeError("no C++ compiler\nsecond line")

        def call(*a, **k):
            raise RuntimeError("inductor: compilation failed")
        return call
    monkeypatch.setattr(torch, "compile", broken_compile)
    assert sampling.compile_model(rec) is (where != "torch.compile")
    got = _pair_run(rec)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("torch.compile failed (RuntimeError") and "eager" in err[0]
    if where == "torch.compile":
        assert torch.equal(got, ref)                                 # eager: the same numbers as never compiled
    else:                                                            # the failed first call was padded
        torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)
        assert rec.model.syncgap_compiled is False


@pytest.mark.slow
def test_compiled_calls_are_padded_to_a_few_batch_sizes(monkeypatch, tmp_path):
    from syncgap.dit_bridge import sampling
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert sampling.inductor_cache_dir() == str(tmp_path / "syncgap" / "inductor")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "mine"))
    assert sampling.inductor_cache_dir() == str(tmp_path / "mine")
    ref = _pair_run(load_model("tiny"), n_pairs=5)
    rec = load_model("tiny")
    assert sampling.compile_model(rec, backend="eager")             # dynamo's graph capture, no C++ toolchain
    seen = []
    rec.model.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[0]))
    got = _pair_run(rec, n_pairs=5)
    assert set(seen) == {2 * sampling.padded_pairs(5)} == {16}      # 5 pairs padded to 8: rows [A + 3; B + 3]
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)      # padding rows change nothing but rounding


def test_cells_listed_fp32_stay_fp32_under_bf16(tmp_path):
    from dataclasses import replace

    from syncgap.validation.suites.dit.settings import DEMO_FP32_CELLS, settings_for
    assert settings_for(False, model="fhgm").fp32_cells == DEMO_FP32_CELLS["fhgm"]
    assert settings_for(False, model="digits").fp32_cells == () and settings_for(True, model="fhgm").fp32_cells == ()
    out = str(tmp_path)
    measure_model("tiny", out, replace(SMALL, fp32_cells=(("p1", 0.5), ("p1_clone", 0.5))), dtype="bf16")
    assert "dtype" not in _cell(out)["config"] and _cell(out, "clone", 0.0)["config"]["dtype"] == "bf16"
    assert "dtype" not in _cell(out, "p1_clone", 0.5)["config"]
    msgs = []
    measure_model("tiny", out, SMALL, say=msgs.append, dtype="fp32")   # the fp32 cell resumes as the fp32 cell
    assert [m for m in msgs if " p1 " in m][0].split()[-3] == "reused"
