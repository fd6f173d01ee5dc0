"""Store integrity (validation/store.py): a number beyond float range (1e999 parses as inf) is refused
on read as NaN is on write; every record carries a content hash of its config and result, so a record
whose numbers were edited or replaced by another cell's is recomputed; a record written before hashes
existed is accepted once and sealed."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from syncgap.validation.store import (DamagedRecord, compute_cell, content_hash, load_cell, parse_json,
                                      read_json)


def _store(tmp_path, name, x):
    path = tmp_path / f"{name}.json"
    compute_cell(path, {"cell": name}, lambda: {"x": x, "y": [x, 2 * x]})
    return path


@pytest.mark.parametrize("text", ["1e999", "-1e999", "[1, 2e400]", '{"a": {"b": 1E+999}}'])
def test_numbers_beyond_float_range_are_damage(text):
    with pytest.raises(DamagedRecord, match="beyond float range"):
        parse_json(text)


def test_cell_holding_1e999_is_recomputed(tmp_path, capsys):
    path = _store(tmp_path, "a", 1.5)
    path.write_text(path.read_text().replace('"x": 1.5', '"x": 1e999'))
    calls = []
    rec, reused = compute_cell(path, {"cell": "a"}, lambda: calls.append(1) or {"x": 1.5, "y": [1.5, 3.0]})
    assert not reused and calls == [1] and rec["result"]["x"] == 1.5
    assert "beyond float range" in capsys.readouterr().err


def test_result_replaced_by_another_cells_is_recomputed(tmp_path, capsys):
    a, b = _store(tmp_path, "a", 1.0), _store(tmp_path, "b", 7.0)
    rec_a, rec_b = json.loads(a.read_text()), json.loads(b.read_text())
    rec_a["result"] = rec_b["result"]                     # the probe's swap: valid JSON, right config, wrong numbers
    a.write_text(json.dumps(rec_a))
    assert load_cell(a, {"cell": "a"}) is None
    assert "does not match its content hash" in capsys.readouterr().err


def test_edited_number_is_recomputed(tmp_path):
    a = _store(tmp_path, "a", 1.0)
    a.write_text(a.read_text().replace('"x": 1.0', '"x": 1.25'))
    assert load_cell(a, {"cell": "a"}) is None


def test_record_without_a_hash_is_accepted_once_and_sealed(tmp_path):
    a = _store(tmp_path, "a", 1.0)
    rec = json.loads(a.read_text())
    del rec["content_hash"]                                # a folder written before hashes existed
    a.write_text(json.dumps(rec))
    assert load_cell(a, {"cell": "a"})["result"]["x"] == 1.0
    stored = read_json(a)
    assert stored["content_hash"] == content_hash(stored)  # sealed: a later edit is caught
    a.write_text(a.read_text().replace('"x": 1.0', '"x": 2.0'))
    assert load_cell(a, {"cell": "a"}) is None


def test_old_sweep_cells_resume_and_get_a_hash(tmp_path):
    from syncgap.validation.sweep.cell_files import cell_path, is_done
    path = cell_path(tmp_path, "0123456789abcdef")
    rec = {"config": {"x": 1}, "result": {"y": 2.0}, "provenance": {}}
    from syncgap.validation.store import cell_key
    path = cell_path(tmp_path, cell_key(rec["config"]))
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"key": cell_key(rec["config"]), **rec}))
    assert is_done(tmp_path, cell_key(rec["config"]))
    assert "content_hash" in read_json(path)


FLOATS = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(xs=st.lists(FLOATS, min_size=1, max_size=4), i=st.integers(0, 3), new=FLOATS | st.just(1e308 * 10))
def test_fuzz_any_changed_number_is_caught(tmp_path_factory, xs, i, new):
    """Change one stored number (or write one beyond float range): the store never returns the changed record."""
    folder = tmp_path_factory.mktemp("s")
    path = folder / "c.json"
    compute_cell(path, {"cell": 1}, lambda: {"v": xs})
    rec = json.loads(path.read_text())
    i %= len(xs)
    same = new == xs[i] or (new != new)
    text = json.dumps(rec["result"]["v"][i])
    rec["result"]["v"][i] = "@@"
    path.write_text(json.dumps(rec).replace('"@@"', "1e999" if new == float("inf") else repr(float(new))))
    got = load_cell(path, {"cell": 1})
    if same:
        assert got is not None and json.dumps(got["result"]["v"][i]) == text
    else:
        assert got is None
