"""Configs are parsed strictly (validation/sweep/safe_load.py): a key given twice is refused in YAML and
JSON (not silently dropped), a YAML anchor bomb is refused before it is expanded, a FIFO or a device given
as a config is refused instead of blocking; model config.json files refuse duplicate keys too."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings, strategies as st

from syncgap.theory.checks import InputError
from syncgap.validation.cli.main import main
from syncgap.validation.sweep.config import load_config, parse_config_text
from syncgap.validation.sweep.safe_load import MAX_ALIASES, MAX_NODES

yaml = pytest.importorskip("yaml")


def _bomb(width: int, depth: int) -> str:
    lines = ["kind: theory.routing", "grid: {g: [0.1]}", "base: &a0 {x: [" + ",".join(["1"] * width) + "]}"]
    for k in range(1, depth + 1):
        lines.append(f"a{k}: &a{k} [" + ",".join([f"*a{k - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def _sweep(tmp_path, name, text, capsys):
    cfg = tmp_path / name
    cfg.write_text(text)
    status = main(["sweep", str(cfg), "--out", str(tmp_path / "o")])
    return status, capsys.readouterr().err.strip()


@pytest.mark.parametrize("name, text, words", [
    ("dup.yaml", "kind: theory.routing\ngrid: {g: [0.1]}\ngrid: {g: [0.2, 0.3]}\n", "key 'grid' appears twice"),
    ("nested.yaml", "kind: theory.routing\ngrid:\n  g: [0.1]\n  g: [0.2]\n", "key 'g' appears twice"),
    ("dup.json", '{"kind": "theory.routing", "grid": {"g": [0.1]}, "grid": {"g": [0.2]}}', "key 'grid' appears twice"),
    ("nested.json", '{"kind": "theory.routing", "grid": {"g": [0.1], "g": [0.2]}}', "key 'g' appears twice"),
])
def test_duplicate_keys_are_refused(tmp_path, capsys, name, text, words):
    status, err = _sweep(tmp_path, name, text, capsys)
    assert status == 2 and words in err and len(err.splitlines()) == 1, err


def test_anchor_bomb_is_refused_at_once():
    text = _bomb(9, 9)      # 9^9 = 387 million nodes once expanded, from about 300 bytes
    t0 = time.monotonic()
    with pytest.raises(InputError, match="anchor bomb"):
        parse_config_text(text, "yaml")
    assert time.monotonic() - t0 < 10


def test_anchor_bomb_through_the_cli_does_not_hang(tmp_path):
    cfg = tmp_path / "bomb.yaml"
    cfg.write_text(_bomb(9, 9).replace("base: &a0", "zero: &a0") + "base: {eta: *a9}\n")   # the probe's: in base
    r = subprocess.run([sys.executable, "-m", "syncgap.validation.cli.main", "sweep", str(cfg), "--out",
                        str(tmp_path / "o")], capture_output=True, text=True, timeout=90)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "refused" in r.stderr, r.stderr


def test_too_many_aliases_are_refused():
    text = "kind: theory.routing\nv: &v 1\nlist: [" + ",".join(["*v"] * (MAX_ALIASES + 1)) + "]\n"
    with pytest.raises(InputError, match="aliases"):
        parse_config_text(text, "yaml")


def test_a_few_aliases_still_work(tmp_path):
    cfg = tmp_path / "ok.yaml"
    cfg.write_text("kind: theory.routing\ngs: &gs [0.1, 0.2]\ngrid: {g: *gs}\n")
    with pytest.raises(InputError, match="gs"):          # an unknown top-level key: aliases parsed, config checked
        load_config(cfg)
    assert parse_config_text("a: &x [1, 2]\nb: *x\n", "yaml") == {"a": [1, 2], "b": [1, 2]}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_fifo_config_is_refused_without_blocking(tmp_path, capsys):
    fifo = tmp_path / "c.yaml"
    os.mkfifo(fifo)
    assert main(["sweep", str(fifo), "--out", str(tmp_path / "o")]) == 2
    assert "is a FIFO, not a regular file" in capsys.readouterr().err


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_device_config_is_refused(tmp_path, capsys):
    assert main(["sweep", "/dev/zero", "--out", str(tmp_path / "o")]) == 2
    assert "is a device" in capsys.readouterr().err


def test_model_config_json_with_a_duplicate_key(tmp_path):
    from syncgap.dit_bridge.checkpoints import read_json_object
    p = tmp_path / "config.json"
    p.write_text('{"num_layers": 2, "num_layers": 28}')
    with pytest.raises(InputError, match="'num_layers' appears twice"):
        read_json_object(str(p), "config")


KEYS = st.sampled_from(["a", "b", "grid", "base", "kind"])


@settings(max_examples=80, deadline=None)
@given(pairs=st.lists(st.tuples(KEYS, st.integers(-5, 5)), min_size=1, max_size=5), fmt=st.sampled_from(["yaml", "json"]))
def test_fuzz_duplicates_never_silently_dropped(pairs, fmt):
    if fmt == "json":
        text = "{" + ", ".join(f'"{k}": {v}' for k, v in pairs) + "}"
    else:
        text = "".join(f"{k}: {v}\n" for k, v in pairs)
    keys = [k for k, _ in pairs]
    if len(set(keys)) == len(keys):
        assert parse_config_text(text, fmt) == dict(pairs)
    else:
        with pytest.raises(InputError, match="appears twice"):
            parse_config_text(text, fmt)


@settings(max_examples=30, deadline=None)
@given(width=st.integers(1, 12), depth=st.integers(1, 12))
def test_fuzz_alias_nesting_is_parsed_or_refused_quickly(width, depth):
    """Any nesting of aliases: parsed when it expands to few nodes, refused otherwise, never a hang."""
    text = _bomb(width, depth)
    t0 = time.monotonic()
    try:
        out = parse_config_text(text, "yaml")
    except InputError as exc:
        assert "alias" in str(exc) or "anchor bomb" in str(exc)
        assert width * depth > MAX_ALIASES or (width + 1) ** depth > MAX_NODES / 10
    else:
        assert json.dumps(out) and width ** depth <= MAX_NODES
    assert time.monotonic() - t0 < 5
