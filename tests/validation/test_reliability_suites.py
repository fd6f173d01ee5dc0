"""A suite that crashes inside `syncgap validate` fails the run (exit 1), its finished cells stay in
the report and the failure is named (README: status 1 = the run failed)."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from syncgap.validation import suites
from syncgap.validation.cli.main import main
from syncgap.validation.checks import Check
from syncgap.validation.store import compute_cell


def _crashing_suite(n_cells: int, exc: Exception):
    """A suite that stores `n_cells` cells under out/fake/ (the store's records), then raises `exc`."""
    def suite(out_dir, *, quick, progress=None):
        for i in range(n_cells):
            compute_cell(out_dir / "fake" / f"cell{i}.json", {"i": i}, lambda i=i: {"x": float(i)})
        raise exc
    return suite


def _partial(root):
    """Checks from the finished cells alone, as ou_theory.partial_checks does for the OU suite."""
    cells = sorted(root.glob("*.json"))
    return [Check(f"fake.{p.stem}", "a check of a finished cell", 1.0, 1.0, (0.0, 2.0), "", True) for p in cells]


@pytest.fixture
def fake_suite(monkeypatch):
    """Register suite `fake` (folder fake/, partial checks `_partial`); returns a setter for its behaviour."""
    behaviour = {}

    def fake(out_dir, **options):
        return behaviour["suite"](out_dir, **options)
    monkeypatch.setitem(suites.SUITES, "fake", fake)
    monkeypatch.setitem(suites.DATA_FOLDERS, "fake", "fake")
    monkeypatch.setitem(suites.PARTIAL_CHECKS, "fake", _partial)
    return behaviour


def test_crashed_suite_exits_1_keeps_finished_cells_and_names_the_error(tmp_path, capsys, fake_suite):
    fake_suite["suite"] = _crashing_suite(24, ValueError("weights hold NaN"))
    out = tmp_path / "r"
    assert main(["validate", "--out", str(out), "--suites", "fake", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "suite fake failed" in err and "ValueError: weights hold NaN" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["suite_errors"] == {"fake": "suite raised ValueError: weights hold NaN"}
    ids = [c["id"] for c in summary["checks"]]
    assert ids[0] == "fake.error" and len(ids) == 1 + 24       # the error, then one check per finished cell
    assert len(summary["suites"][0]["data_files"]) == 24
    md = (out / "report.md").read_text()
    assert "weights hold NaN" in md and "fake/cell23.json" in md
    assert "Traceback" in (out / "progress.log").read_text()   # the trace is kept, in the log


def test_suite_with_a_cell_replaced_by_a_folder(tmp_path, capsys, fake_suite):
    """The probe's case: one cell path is a folder, so the store cannot write it; the 2 intact cells stay."""
    out = tmp_path / "r"
    (out / "fake" / "cell2.json").mkdir(parents=True)
    fake_suite["suite"] = _crashing_suite(4, RuntimeError("unreached"))
    assert main(["validate", "--out", str(out), "--suites", "fake", "--quiet"]) == 1
    summary = json.loads((out / "summary.json").read_text())
    assert "IsADirectoryError" in summary["suite_errors"]["fake"]
    assert summary["suites"][0]["data_files"] == ["fake/cell0.json", "fake/cell1.json"]


def test_finished_suite_still_exits_0(tmp_path, fake_suite):
    def fine(out_dir, *, quick, progress=None):
        from syncgap.validation.suites.result import SuiteResult
        return SuiteResult("fake", [Check("fake.ok", "ok", 1.0, 1.0, (0.0, 2.0), "", True)], [], {})
    fake_suite["suite"] = fine
    assert main(["validate", "--out", str(tmp_path / "r"), "--suites", "fake", "--quiet"]) == 0
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["suite_errors"] == {}


def test_ou_partial_checks_read_the_cells_alone(tmp_path):
    from syncgap.validation.suites.ou.theory import partial_checks
    assert partial_checks(tmp_path) == []      # nothing finished: no checks, no crash


@settings(max_examples=15, deadline=None)
@given(n=st.integers(0, 6), kind=st.sampled_from([ValueError, RuntimeError, OSError, ZeroDivisionError, KeyError]))
def test_fuzz_any_crash_point_fails_the_run_and_keeps_what_finished(tmp_path_factory, n, kind):
    saved = dict(suites.SUITES), dict(suites.DATA_FOLDERS), dict(suites.PARTIAL_CHECKS)
    suites.SUITES["fake"] = _crashing_suite(n, kind("boom"))
    suites.DATA_FOLDERS["fake"] = "fake"
    suites.PARTIAL_CHECKS["fake"] = _partial
    try:
        out = tmp_path_factory.mktemp("r")
        assert main(["validate", "--out", str(out), "--suites", "fake", "--quiet"]) == 1
        summary = json.loads((out / "summary.json").read_text())
        assert kind.__name__ in summary["suite_errors"]["fake"]
        assert len(summary["suites"][0]["data_files"]) == n and len(summary["checks"]) == n + 1
    finally:
        for table, old in zip((suites.SUITES, suites.DATA_FOLDERS, suites.PARTIAL_CHECKS), saved):
            table.clear()
            table.update(old)
