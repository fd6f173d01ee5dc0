"""Model files are checked field by field before anything is built (dit_bridge/model_files.py): a
safetensors header entry that is not an object of (floating dtype, shape, in-file offsets), a config.json
or training.json field of the wrong type or contradicting the tensors, a tensor that is not floating point,
`random:DiT-S/0` and shapes that cannot fit in memory are refused in one line naming the file and the
field (InputError, exit 2), never a TypeError, a ZeroDivisionError or a crash inside torch."""
from __future__ import annotations

import json
import shutil
import struct

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from syncgap.dit_bridge import registry
from syncgap.dit_bridge.registry import ZOO_DIR, check_model
from syncgap.theory.checks import InputError
from syncgap.validation.cli.main import main

from test_dit_checkpoints import random_original_state

WEIGHTS = "diffusion_pytorch_model.safetensors"


def _copy(tmp_path, name="m"):
    d = tmp_path / name
    shutil.copytree(f"{ZOO_DIR}/fhgm", d, ignore=shutil.ignore_patterns("*.png", "*.npz"))
    return d


def _edit_header(folder, edit):
    p = folder / WEIGHTS
    b = p.read_bytes()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    edit(header, next(k for k in header if k != "__metadata__"))
    hb = json.dumps(header).encode()
    hb += b" " * (-len(hb) % 8)
    p.write_bytes(struct.pack("<Q", len(hb)) + hb + b[8 + n:])


def _edit_json(folder, file, edit):
    p = folder / file
    data = json.loads(p.read_text())
    edit(data)
    p.write_text(json.dumps(data))


HEADER_CASES = {   # the probe's entries, and what the message must say
    "entry is a string": (lambda h, k: h.__setitem__(k, "x"), "is a JSON string"),
    "entry is a list": (lambda h, k: h.__setitem__(k, [1, 2]), "is a JSON array"),
    "offsets are text": (lambda h, k: h[k].__setitem__("data_offsets", ["a", "b"]), "data_offsets must be two integers"),
    "offsets are floats": (lambda h, k: h[k].__setitem__("data_offsets", [0.5, 3]), "data_offsets must be two integers"),
    "three offsets": (lambda h, k: h[k].__setitem__("data_offsets", [0, 1, 2]), "data_offsets must be two integers"),
    "offsets past the end": (lambda h, k: h[k].__setitem__("data_offsets", [0, 10**12]), "truncated"),
    "bytes do not fit the shape": (lambda h, k: h[k].__setitem__("shape", [3]), "need 12"),
    "negative shape": (lambda h, k: h[k].__setitem__("shape", [-1]), "non-negative integers"),
    "bool dtype": (lambda h, k: h[k].__setitem__("dtype", "BOOL"), "not floating point"),
    "complex dtype": (lambda h, k: h[k].__setitem__("dtype", "C64"), "not floating point"),
    "dtype not a string": (lambda h, k: h[k].__setitem__("dtype", 4), "dtype must be a string"),
}


@pytest.mark.parametrize("case", list(HEADER_CASES))
def test_bad_safetensors_header_entries_are_named(tmp_path, case):
    d = _copy(tmp_path)
    edit, words = HEADER_CASES[case]
    _edit_header(d, edit)
    with pytest.raises(InputError, match=words) as e:
        check_model(str(d))
    assert WEIGHTS in str(e.value)


JSON_CASES = {   # file, edit, the words of the message
    "in_channels contradicts the tensors": ("config.json", lambda c: c.update(in_channels=2), "out_channels=1 must be at least in_channels=2"),
    "norm_eps is text": ("config.json", lambda c: c.update(norm_eps="x"), "norm_eps='x' must be a number"),
    "sample_size not a multiple of the patch": ("config.json", lambda c: c.update(sample_size=18),
                                                "not a multiple of patch_size"),
    "learned_sigma contradicts config": ("training.json", lambda c: c.update(learned_sigma=True),
                                         "learned_sigma=True must be false or"),
    "sample_shape contradicts config": ("training.json", lambda c: c.update(sample_shape=[3, 16, 16]),
                                        "sample_shape=[3, 16, 16] must be"),
    "no classes": ("training.json", lambda c: c.update(num_classes=0), "num_classes=0 must be an integer in [1, 1]"),
    "class label outside the classes": ("training.json", lambda c: c.update(class_label=5), "class_label=5"),
    "scheduler of one step": ("training.json", lambda c: c["scheduler"].update(num_train_timesteps=1),
                              "num_train_timesteps=1 must be"),
    "scheduler not an object": ("training.json", lambda c: c.update(scheduler=[1]), "scheduler must be an object"),
    "betas reversed": ("training.json", lambda c: c["scheduler"].update(beta_start=0.5, beta_end=0.1),
                       "beta_start=0.5 must be below"),
    "norm_eps null (found by the fuzz test)": ("config.json", lambda c: c.update(norm_eps=None), "norm_eps=None must be"),
    "num_layers null": ("config.json", lambda c: c.update(num_layers=None), "num_layers=None is outside"),
    "unknown schedule": ("training.json", lambda c: c["scheduler"].update(beta_schedule="cosine"), "beta_schedule"),
}


@pytest.mark.parametrize("case", list(JSON_CASES))
def test_config_and_training_fields_typed_and_consistent(tmp_path, capsys, case):
    d = _copy(tmp_path)
    file, edit, words = JSON_CASES[case]
    _edit_json(d, file, edit)
    assert main(["dit", "measure", "--model", str(d), "--g", "0", "--pairs", "2", "--steps", "4", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and file in err and words in err, err
    assert "--class-label" not in err and "--steps" not in err   # never blamed on a flag the user did not give


def test_original_checkpoint_with_a_bool_tensor_is_refused(tmp_path):
    state = random_original_state(64, 2, 2, 2, 8)
    state["blocks.0.attn.proj.bias"] = state["blocks.0.attn.proj.bias"] > 0
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    with pytest.raises(InputError, match=r"'blocks.0.attn.proj.bias' has dtype bool, not floating point"):
        check_model(str(path))


@pytest.mark.parametrize("name, words", [
    ("random:DiT-S/0", "the patch must be >= 1"),
    ("random:DiT-S/2-65536", "needs about"),
    ("random:DiT-XL/1-65536-d64", "needs about"),
])
def test_random_shapes_refused_up_front(name, words):
    with pytest.raises(InputError, match=words) as e:
        check_model(name)
    assert name in str(e.value)
    if words == "needs about":
        assert "GiB" in str(e.value) and "available" in str(e.value)


def test_absurd_folder_refused_with_the_memory_it_needs(tmp_path, capsys):
    d = _copy(tmp_path)
    _edit_json(d, "config.json", lambda c: c.update(sample_size=4096, patch_size=1))
    assert main(["dit", "measure", "--model", str(d), "--g", "0", "--pairs", "2", "--steps", "4", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "config.json" in err and "needs about" in err and "GiB" in err


def test_build_refused_when_the_model_cannot_fit(monkeypatch):
    monkeypatch.setattr("syncgap.theory.resources.available_memory", lambda: 1000)
    with pytest.raises(InputError, match="needs about"):
        registry.build_dit(registry.TINY)


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                        max_size=3), max_leaves=6)
ENTRY_KEYS = st.sampled_from(["dtype", "shape", "data_offsets"])


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=ENTRY_KEYS, value=JSON_VALUES, whole=st.booleans())
def test_fuzz_header_entries_give_input_error_or_pass(tmp_path_factory, key, value, whole):
    """Any JSON in place of a header entry or one of its fields: a clean InputError or a valid model."""
    d = _copy(tmp_path_factory.mktemp("f"))
    _edit_header(d, lambda h, k: h.__setitem__(k, value) if whole else h[k].__setitem__(key, value))
    try:
        check_model(str(d))
    except InputError as exc:
        assert WEIGHTS in str(exc)


TRAINING_KEYS = st.sampled_from(["num_classes", "null_class_id", "class_label", "sample_shape", "learned_sigma",
                                 "scheduler"])
CONFIG_KEYS = st.sampled_from(["in_channels", "out_channels", "sample_size", "patch_size", "num_layers",
                               "num_embeds_ada_norm", "norm_eps", "attention_bias", "norm_type"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(file=st.sampled_from(["config.json", "training.json"]), data=st.data())
def test_fuzz_model_json_fields_refused_or_loadable(tmp_path_factory, file, data):
    """Any JSON value in a field the loader reads: InputError naming the file, or a model that loads and runs."""
    key = data.draw(CONFIG_KEYS if file == "config.json" else TRAINING_KEYS)
    value = data.draw(JSON_VALUES | st.integers(0, 40))
    d = _copy(tmp_path_factory.mktemp("f"))
    _edit_json(d, file, lambda c: c.__setitem__(key, value))
    try:
        check_model(str(d))
    except InputError as exc:
        assert str(d) in str(exc)
        return
    from syncgap.dit_bridge.sampling import check_labels, make_scheduler
    rec = registry.load_model(str(d))
    make_scheduler(rec)
    labels = check_labels(rec, None, 1)
    c, h, w = rec.sample_shape
    out = rec.model(torch.zeros(1, c, h, w), timestep=torch.tensor([10]), class_labels=labels).sample
    assert out.shape[1] == c * (2 if rec.learned_sigma else 1)
