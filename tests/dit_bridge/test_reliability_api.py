"""The library API is as strict and as correct as the CLI: `checkpoints.load_original` gives the original
DiT's outputs on its own (its timestep embedding set), `store.cell_key` raises InputError naming a NaN or a
non-JSON value, and `load_model` takes a dtype by name ('fp32', 'bf16') or refuses it with InputError."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from syncgap.dit_bridge import checkpoints
from syncgap.dit_bridge.registry import load_model
from syncgap.theory.checks import InputError
from syncgap.validation.store import cell_key

from test_dit_checkpoints import original_dit_forward, random_original_state


def test_load_original_alone_matches_the_original_forward(tmp_path):
    state = random_original_state(384, 6, depth=2, patch=2, side=8, seed=3)
    path = str(tmp_path / "DiT.pt")
    torch.save(state, path)
    model, _ = checkpoints.load_original(path)          # not through the registry
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    t, y = torch.tensor([5, 800]), torch.tensor([1, 10])
    with torch.no_grad():
        ref = original_dit_forward(state, x, t, y, 6)
        got = model(x, t, y).sample
    assert torch.allclose(got, ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max())), float((got - ref).abs().max())


@pytest.mark.parametrize("config, words", [({"g": math.nan}, "NaN"), ({"g": math.inf}, "NaN or infinite"),
                                           ({"g": {1, 2}}, "a set"), ({"g": b"x"}, "a bytes")])
def test_cell_key_refuses_non_json_with_input_error(config, words):
    with pytest.raises(InputError, match=words):
        cell_key(config)


@pytest.mark.parametrize("name, dtype", [("fp32", torch.float32), ("bf16", torch.bfloat16), ("float32", torch.float32),
                                         (torch.float32, torch.float32)])
def test_load_model_takes_a_dtype_by_name(name, dtype):
    rec = load_model("tiny", dtype=name)
    assert next(rec.model.parameters()).dtype == dtype


@pytest.mark.parametrize("bad", ["fp8", "int8", torch.int64, 3, None])
def test_load_model_refuses_other_dtypes(bad):
    with pytest.raises(InputError, match="dtype must be a floating torch dtype"):
        load_model("tiny", dtype=bad)


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4)
                       | st.binary(max_size=2) | st.frozensets(st.integers(), max_size=2),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                    max_size=3), max_leaves=8)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(config=st.dictionaries(st.text(max_size=3), JSONISH, max_size=4))
def test_fuzz_cell_key_is_a_key_or_input_error(config):
    try:
        key = cell_key(config)
    except InputError as exc:
        assert "plain JSON" in str(exc)
    else:
        assert len(key) == 16 and int(key, 16) >= 0


@settings(max_examples=20, deadline=None)
@given(dtype=st.sampled_from([torch.float64, torch.float16, torch.int32, torch.bool, torch.complex64])
       | st.text(max_size=8) | st.integers() | st.none())
def test_fuzz_load_model_dtype(dtype):
    try:
        rec = load_model("tiny", dtype=dtype)
    except InputError:
        return
    assert next(rec.model.parameters()).dtype.is_floating_point
