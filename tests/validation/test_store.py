"""The one resumable-cell store: damaged files are recomputed and said on stderr, never a traceback.

Each damage case is driven through a real user of the store (the OU suite's cells, the CLI's
metrics.jsonl resume, the sweep, the DiT cells) and then through the store itself.
"""
import json

import pytest

from syncgap.validation import store
from syncgap.validation.cli.output import NOT_MEASURABLE
from syncgap.validation.cli.main import main
from syncgap.validation.suites.dit import cells as dit_cells
from syncgap.validation.suites.ou import checks as ou_checks, theory as ou_theory

# ---------------------------------------------------------------- the store itself

CONFIG = {"kind": "demo", "g": 0.5}
DAMAGE = {
    "not whole JSON": '{"key": "x", "config": {"kind": "de',
    "NaN": '{"config": {"kind": "demo", "g": 0.5}, "result": {"x": NaN}}',
    "null result": '{"config": {"kind": "demo", "g": 0.5}, "result": null}',
    "string result": '{"config": {"kind": "demo", "g": 0.5}, "result": "oops"}',
    "missing result": '{"config": {"kind": "demo", "g": 0.5}}',
    "string where a number belongs": '{"config": {"kind": "demo", "g": 0.5}, "result": {"x": "1.5"}}',
    "another configuration": '{"config": {"kind": "demo", "g": 0.7}, "result": {"x": 1.0}}',
    "a JSON list": "[1, 2]",
    "empty file": "",
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_cell_is_recomputed_and_said(tmp_path, capsys, case):
    path = tmp_path / "cell.json"
    path.write_text(DAMAGE[case])
    calls = []
    rec, reused = store.compute_cell(path, CONFIG, lambda: calls.append(1) or {"x": 2.0},
                                     validate=store.numbers_only)
    assert not reused and calls == [1] and rec["result"] == {"x": 2.0}
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "recomputing" in err and "Traceback" not in err
    # the file is now whole: the next call reuses it silently
    rec2, reused2 = store.compute_cell(path, CONFIG, lambda: calls.append(1) or {"x": 3.0},
                                       validate=store.numbers_only)
    assert reused2 and rec2["result"] == {"x": 2.0} and calls == [1] and capsys.readouterr().err == ""
    assert json.loads(path.read_text())["key"] == store.cell_key(CONFIG)


def test_missing_cell_is_computed_without_a_line(tmp_path, capsys):
    rec, reused = store.compute_cell(tmp_path / "new.json", CONFIG, lambda: {"x": 1})
    assert not reused and rec["result"] == {"x": 1} and capsys.readouterr().err == ""


def test_jsonl_partial_last_line_is_dropped_said_and_removed(tmp_path, capsys):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"g": 0.0, "v": 1}\n{"g": 0.5, "v": 2}\n{"g": 1.0, "v"')
    rows = store.read_rows(path, "g")
    assert sorted(rows) == [0.0, 0.5]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "line 3" in err and "partial last line" in err
    store.append_row(path, {"g": 1.0, "v": 3})     # the append does not glue onto the broken line
    assert sorted(store.read_rows(path, "g")) == [0.0, 0.5, 1.0] and capsys.readouterr().err == ""


def test_resume_options_damaged_options_json_sets_old_rows_aside(tmp_path, capsys):
    (tmp_path / "options.json").write_text('{"d": 3, "samp')
    (tmp_path / "metrics.jsonl").write_text('{"g": 0.0}\n')
    store.resume_options(tmp_path, {"d": 3})
    err = capsys.readouterr().err
    assert "options.json" in err and "not whole JSON" in err and err.count("\n") == 1
    assert not (tmp_path / "metrics.jsonl").exists() and (tmp_path / "metrics.jsonl.stale").exists()
    assert json.loads((tmp_path / "options.json").read_text()) == {"d": 3}
    with pytest.raises(ValueError):
        store.resume_options(tmp_path, {"d": 4})


# ---------------------------------------------------------------- the CLI's resumable --out folders

OU_GAP = ["ou", "gap", "--d", "3", "--samples", "100", "--steps", "100", "--T", "5", "--boot", "20",
          "--quiet", "--json"]


def _json(capsys, argv):
    assert main(argv) in (0, NOT_MEASURABLE)     # tiny runs may measure nothing: exit status 3 (issue 17)
    return json.loads(capsys.readouterr().out)


def test_ou_gap_resumes_after_a_partial_line_and_a_corrupt_options_json(tmp_path, capsys):
    argv = OU_GAP + ["--out", str(tmp_path), "--g", "10,0"]
    first = _json(capsys, argv)
    metrics = tmp_path / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    metrics.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])     # killed during the second append
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["records"] == first["records"]
    assert "metrics.jsonl" in captured.err and "Traceback" not in captured.err
    assert len(metrics.read_text().splitlines()) == 2
    (tmp_path / "options.json").write_text("{\"d\": ")
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["records"] == first["records"]         # recomputed: same numbers
    assert "options.json" in captured.err and "Traceback" not in captured.err


def test_dit_measure_resumes_after_a_partial_line(tmp_path, capsys):
    argv = ["dit", "measure", "--model", "tiny", "--steps", "4", "--pairs", "2", "--quiet", "--g", "0,2",
            "--protocol", "I", "--t-int", "0,1,2,3,4", "--n-boot", "10", "--json", "--out", str(tmp_path)]
    first = _json(capsys, argv)
    metrics = tmp_path / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    metrics.write_text(lines[0] + "\n" + lines[1][:40])
    assert main(argv) == NOT_MEASURABLE       # the random tiny model commits nothing: exit status 3 (issue 17)
    captured = capsys.readouterr()
    assert json.loads(captured.out)["records"] == first["records"]
    assert "metrics.jsonl" in captured.err and "line 2" in captured.err and "Traceback" not in captured.err


# ---------------------------------------------------------------- the validation suites' cells

def _ou_cell(tmp_path, name, result):
    rec = {"config": {"version": 0}, "result": result}
    (tmp_path / f"{name}.json").write_text(json.dumps(rec, allow_nan=True))


COLLAPSE = {"n_train": 100, "d": 8, "t_lock_median": 0.2, "t_lock_median_low": 0.16, "t_lock_median_high": 0.26,
            "t_collapse_theory": 0.19}


@pytest.mark.parametrize("result", [None, "text", {"d": 8}, {**COLLAPSE, "t_lock_median": "a"}])
def test_ou_suite_cells_validate_what_they_read(tmp_path, capsys, result):
    name = "collapse_n100_d8"
    _ou_cell(tmp_path, name, result)
    checks, law = ou_checks.checks_from_files(tmp_path)       # skipped with a line, no traceback
    assert checks == [] and law is None
    err = capsys.readouterr().err
    assert name in err and "Traceback" not in err
    calls = []
    rec = ou_theory._cell(tmp_path, name, {"version": 0}, lambda: calls.append(1) or COLLAPSE, lambda message: None)
    assert calls == [1] and rec["result"] == COLLAPSE
    assert "recomputing" in capsys.readouterr().err
    checks, _ = ou_checks.checks_from_files(tmp_path)         # the recomputed cell feeds its check
    assert [c.id for c in checks] == ["ou.collapse.n100_d8"] and capsys.readouterr().err == ""


def test_a_fresh_result_that_fails_validation_is_a_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match="freshly computed cell has a null result"):
        store.compute_cell(tmp_path / "c.json", CONFIG, lambda: None)
    assert not (tmp_path / "c.json").exists()


def test_dit_cell_with_nan_is_recomputed(tmp_path, capsys):
    path = tmp_path / "clone_g0.json"
    config = {"kind": "clone", "g": 0.0}
    path.write_text(json.dumps({"key": store.cell_key(config), "config": config, "result": {"agreement": [1.0]},
                                "provenance": {}}).replace("1.0]", "NaN]"))
    rec, reused = dit_cells.run_cell(str(path), config, lambda: {"agreement": [0.5]})
    assert not reused and rec["result"] == {"agreement": [0.5]}
    assert "NaN" in capsys.readouterr().err
    with pytest.raises(ValueError):
        path.write_text('{"key": "0", "config": {}, "result": null}')
        dit_cells.read_cell(str(path))


def test_sweep_is_done_says_what_is_damaged(tmp_path, capsys):
    from syncgap.validation.sweep import cell_files as sweep_store
    key = store.cell_key(CONFIG)
    path = sweep_store.cell_path(tmp_path, key)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"key": key, "config": CONFIG, "result": None}))
    assert not sweep_store.is_done(tmp_path, key)
    err = capsys.readouterr().err
    assert key in err and "null result" in err and err.count("\n") == 1


def test_fast_paths_of_the_canonical_form_and_numbers_only_match_their_definitions():
    """Flat number lists skip the per-leaf recursion; the canonical form (so every cell key and content hash)
    and numbers_only's verdicts stay those of the recursive definitions, types included."""
    import math

    from syncgap.validation import store

    def reference(obj):
        if isinstance(obj, dict):
            return {str(k): reference(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [reference(v) for v in obj]
        return int(obj) if isinstance(obj, float) and math.isfinite(obj) and obj.is_integer() else obj
    cases = [[1.0, 2.5, 3], [True, 1.0], [None, 2.0], [[1.0], [2.5, 4.0]], (1.0, 2.0), [float("inf"), 1.0],
             [-0.0, 1e300], [], {"a": [1.0, 2.0], "b": [[3.0]]}]
    for c in cases:
        got, want = store._canonical(c), reference(c)
        assert got == want and repr(got) == repr(want), c
    store.numbers_only({"x": [1.0, 2, None, True], "y": [[1.5], []]})
    for bad in ([1.0, "a"], [1.0, [2.0, "b"]], [{1, 2}]):
        with pytest.raises(TypeError, match="where a number belongs"):
            store.numbers_only({"x": bad})
