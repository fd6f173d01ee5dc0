"""Run folders written before the one interval encoding (docs/json.md) resume without recomputation and give the
same numbers (validation.legacy).

tests/validation/data holds what the previous code (commit a7d34c1) wrote: the cells of
`syncgap validate --quick --suites ou` with the ou checks of its summary.json, and the --out folders of
`ou gap` (layer B, layer A, window throughout), `dit measure` (Protocol I on fhgm, window throughout on tiny)
and two sweeps (ou.gap, ou.cloning), each with the --json document it printed. Today's code reads them with
every computation disabled and must give every estimate, interval and verdict again, to 1e-12.
"""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from syncgap.theory.intervals import interval_fields, list_fields, read_triple, read_triples
from syncgap.validation import legacy
from syncgap.validation.cli.output import NOT_MEASURABLE
from syncgap.validation.suites.ou import cells as ou_cells, checks as ou_checks, theory as ou_theory

DATA = Path(__file__).parent / "data"
OLD_OU = DATA / "ou_quick_before_one_encoding"
OLD_CLI = DATA / "cli_before_one_encoding"
CELL_KEYS = ("ci_low", "ci_high", "estimate", "low", "high")   # keys of the old shapes, never in today's cells
RECORD_KEYS = ("estimate", "low", "high")   # ci_low/ci_high stay where a record holds one measured value (docs/json.md)


def _close(a, b) -> bool:
    """Equal, numbers to 1e-12 (absolute or relative)."""
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return a == b
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def _numbers(x) -> list[float]:
    """Every number in a JSON value (booleans and nulls left out), sorted."""
    if isinstance(x, dict):
        return sorted(v for item in x.values() for v in _numbers(item))
    if isinstance(x, list):
        return sorted(v for item in x for v in _numbers(item))
    return [] if x is None or isinstance(x, (bool, str)) else [float(x)]


def _leaves(x, path="") -> list[tuple[str, object]]:
    """(path, value) of every leaf of a JSON value, keys in sorted order: its shape and its numbers at once."""
    if isinstance(x, dict):
        return [leaf for k in sorted(x) for leaf in _leaves(x[k], f"{path}.{k}")]
    if isinstance(x, list):
        return [leaf for i, v in enumerate(x) for leaf in _leaves(v, f"{path}[{i}]")]
    return [(path, x)]


def _old_shapes(x, keys=CELL_KEYS, path="") -> list[str]:
    """Where a JSON value still holds an old key, an x_ci pair, an x_lo/x_hi pair or an x_estimate (a sigmoid fit's
    plateaus fit.lo, fit.hi are no interval)."""
    out = []
    if isinstance(x, dict):
        for k, v in x.items():
            pair = k.endswith("_lo") and k[:-3] + "_hi" in x and not k.startswith("fit_")
            if k in keys or k.endswith(("_ci", "_estimate")) or pair:
                out.append(f"{path}.{k}")
            out += _old_shapes(v, keys, f"{path}.{k}")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            out += _old_shapes(v, keys, f"{path}[{i}]")
    return out


# ---------------------------------------------------------------- each old shape

def test_each_old_shape_is_read_into_the_one_encoding():
    want = interval_fields("gap", 2.0, 1.0, 3.0)
    assert legacy.from_triple({"gap": [2.0, 1.0, 3.0]}, "gap") == want                              # [est, lo, hi]
    assert legacy.from_object({"gap": {"estimate": 2.0, "low": 1.0, "high": 3.0}}, "gap") == want   # an object
    assert legacy.from_ci({"gap": 2.0, "gap_ci": [1.0, 3.0]}, "gap") == want                        # x_ci pair
    assert legacy.from_lo_hi({"gap": 2.0, "gap_lo": 1.0, "gap_hi": 3.0}, "gap") == want             # x_lo, x_hi
    assert legacy.from_bare({"scale": 4, "gap": 2.0, "low": 1.0, "high": 3.0}, "gap") == {"scale": 4, **want}
    assert legacy.from_estimate({"gap_estimate": 2.0, "gap_low": 1.0, "gap_high": 3.0}) == want     # x_estimate
    assert legacy.from_band({"agreement": [0.9, 0.6], "ci_low": [0.8, 0.5], "ci_high": [1.0, 0.7]}, "agreement") \
        == interval_fields("agreement", [0.9, 0.6], [0.8, 0.5], [1.0, 0.7])
    assert legacy.from_triples({"tau": [[2.0, 1.0, 3.0], [None, None, None]]}, "tau") \
        == list_fields("tau", [[2.0, 1.0, 3.0], None])
    assert legacy.from_ci({"eta": None, "eta_ci": None}, "eta") == interval_fields("eta", None, None, None)
    assert legacy.renamed({"onset_reason": "r"}, "onset_reason", "onset_dit_steps_reason") == {"onset_dit_steps_reason": "r"}
    for read in (legacy.from_triple, legacy.from_ci, legacy.from_lo_hi, legacy.from_bare, legacy.from_band):
        assert read(want, "gap") == want                       # today's shape is returned as it is


# ---------------------------------------------------------------- the OU/theory suite's cells

def _old_cells():
    return sorted(p for p in OLD_OU.glob("*.json") if p.name != "checks.json")


@pytest.mark.parametrize("path", _old_cells(), ids=lambda p: p.stem)
def test_old_ou_cell_is_read_with_every_number_it_holds(path):
    """The reader only moves numbers: the same numbers before and after, no old shape left, and the cell's own
    validation (the one the store applies) accepts it."""
    old = json.loads(path.read_text())["result"]
    new = legacy.upgrade_ou_cell(path.stem, old)
    assert new != old                                           # every old cell held an old shape
    assert _old_shapes(new) == [] and _numbers(new) == _numbers(old)
    ou_checks.validate_cell(path.stem, new)
    assert legacy.upgrade_ou_cell(path.stem, new) == new        # reading today's shape changes nothing


def test_old_intervals_land_where_today_writes_them():
    cell = lambda name: json.loads((OLD_OU / f"{name}.json").read_text())["result"]
    old, new = cell("layer_b_p1_g1"), legacy.upgrade_ou_cell("layer_b_p1_g1", cell("layer_b_p1_g1"))
    assert read_triple(new, "gap_dit_steps") == old["gap_dit_steps"] and read_triples(new, "tau") == old["tau"]
    assert new["agreement_low"] == old["ci_low"] and new["agreement_high"] == old["ci_high"]
    old, new = cell("layer_b_energy_g0"), legacy.upgrade_ou_cell("layer_b_energy_g0", cell("layer_b_energy_g0"))
    assert [new["rate_drift_low"], new["rate_drift_high"]] == old["rate_drift_ci"]
    old, new = cell("layer_a_g0.85"), legacy.upgrade_ou_cell("layer_a_g0.85", cell("layer_a_g0.85"))
    assert [read_triple(m, "t075") for m in new["modes"]] == [m["t075"] for m in old["modes"]]
    assert read_triple(new, "gap075") == old["gap075"]


def _copy_old_run(tmp_path) -> Path:
    (tmp_path / "ou").mkdir()
    for p in _old_cells():
        shutil.copy(p, tmp_path / "ou" / p.name)
    return tmp_path


def _no_computation(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a cell of the old run folder was recomputed")
    for name in ("base_cloning", "collapse", "layer_a", "layer_b_cloning", "layer_b_protocol_one", "layer_b_energy"):
        monkeypatch.setattr(ou_cells, name, refuse)


# checks whose decision rule changed after the old folder was written (its numbers are still compared):
# ou.B.critical_g is stated, never decided (its g* anchors release gaps on the cloning gap, docs/protocols.md)
DECIDED_DIFFERENTLY = {"ou.B.critical_g": "n/a"}


@pytest.mark.slow
def test_a_resumed_ou_run_of_the_previous_code_gives_its_checks(tmp_path, monkeypatch):
    """`validate --suites ou --quick` on the old run folder: every cell reused, every check as the old report
    had it (estimate, interval, verdict, reason)."""
    out = _copy_old_run(tmp_path)
    _no_computation(monkeypatch)
    said = []
    result = ou_theory.ou_theory_suite(out, quick=True, progress=said.append)
    assert sum("reused" in m for m in said) == len(_old_cells())
    want = {c["id"]: c for c in json.loads((OLD_OU / "checks.json").read_text())["checks"]}
    got = {c.id: c.to_json() for c in result.checks}
    assert got.keys() == want.keys()
    for cid, w in want.items():
        g = got[cid]
        for key in ("predicted", "observed", "widen", "verdict", "reason"):
            if cid in DECIDED_DIFFERENTLY and key in ("verdict", "reason"):
                assert g["verdict"] == DECIDED_DIFFERENTLY[cid], cid   # a rule changed since, not the numbers
                continue
            assert _close(g[key], w[key]), (cid, key, g[key], w[key])
        assert all(_close(a, b) for a, b in zip((g["ci_low"], g["ci_high"]), w["ci"] or [None, None])), cid


@pytest.mark.slow
@pytest.mark.parametrize("name,compute", [
    ("layer_b_cloning_g0", lambda s: ou_cells.layer_b_cloning(s)),
    ("layer_b_p1_g1", lambda s: ou_cells.layer_b_protocol_one(s, 1.0)),
    ("layer_a_g0", lambda s: ou_cells.layer_a(s, 0.0)),
])
def test_today_computes_what_the_old_cell_reads_as(name, compute):
    """The same cell computed by today's code equals the old cell read into today's encoding, field by field."""
    from syncgap.validation.store import to_plain
    fresh = json.loads(json.dumps(to_plain(compute(ou_cells.settings_for(True)))))
    read = legacy.upgrade_ou_cell(name, json.loads((OLD_OU / f"{name}.json").read_text())["result"])
    got, want = _leaves(fresh), _leaves(read)
    assert [p for p, _ in got] == [p for p, _ in want]          # the same fields, lists of the same lengths
    assert all(_close(a, b) for (_, a), (_, b) in zip(got, want)), [(p, a, b) for (p, a), (_, b) in zip(got, want)
                                                                    if not _close(a, b)][:5]


# ---------------------------------------------------------------- the command line's --out folders and sweeps

OU = ["--samples", "60", "--steps", "60", "--boot", "10", "--quiet", "--json"]
RUNS = {   # folder: (command line without --out, exit status then)
    "ougap_b": (["ou", "gap", "--d", "3", "--g", "0,10", *OU], 0),
    "ougap_a": (["ou", "gap", "--layer", "A", "--d", "4", "--g", "0.5", *OU], 0),
    "ougap_t": (["ou", "gap", "--d", "3", "--g", "0,1", "--window", "throughout", "--scheme", "ode", *OU], 0),
    "ditm_f": (["dit", "measure", "--model", "fhgm", "--protocol", "I", "--g", "1", "--steps", "10", "--pairs", "4",
                "--t-int", "0,2,4,6,8,10", "--n-boot", "20", "--quiet", "--json"], 0),
    "ditm_t": (["dit", "measure", "--window", "throughout", "--g", "0,1", "--model", "tiny", "--steps", "4", "--pairs",
                "2", "--n-boot", "10", "--quiet", "--json"], NOT_MEASURABLE),
}
RENAMED = {"ougap_t": {"onset_reason": "onset_dit_steps_reason"}}   # a reason named after its quantity (ou.gap/2)


def _same_record(old: dict, new: dict, renamed: dict | None = None) -> None:
    """Every field of the old record in the new one (renamed where the encoding renamed it), nothing else set."""
    keys = {}
    for k, v in old.items():
        k2 = (renamed or {}).get(k, k[:-len("_estimate")] if k.endswith("_estimate") else k)
        keys[k2] = v
        assert _close(new.get(k2), v), (k, v, new.get(k2))
    assert not [k for k, v in new.items() if k not in keys and v is not None], new


def _refuse(*args, **kwargs):
    raise AssertionError("a row of the old --out folder was recomputed")


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RUNS))
def test_an_old_out_folder_resumes_with_the_same_records(name, tmp_path, monkeypatch, capsys):
    from syncgap.dit_bridge import protocols
    from syncgap.ou_models import measure, variants
    from syncgap.validation.cli.main import main
    for module, attr in ((variants, "run_protocol"), (measure, "mode_gap"), (protocols, "protocol_one")):
        monkeypatch.setattr(module, attr, _refuse)
    out = tmp_path / name
    shutil.copytree(OLD_CLI / name, out)
    argv, status = RUNS[name]
    assert main(argv + ["--out", str(out)]) == status
    new = json.loads(capsys.readouterr().out)
    old = json.loads((OLD_CLI / name / "expected.json").read_text())
    rows = [r for r in new["records"] if r.get("kind") != "difference"]   # the stored document leaves them out
    assert len(rows) == len(old["records"])
    for a, b in zip(old["records"], rows):
        _same_record(a, b, RENAMED.get(name))
    assert _old_shapes(new["records"], RECORD_KEYS) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sweep_ougap", "sweep_oucloning"])
def test_an_old_sweep_rolls_up_with_the_same_rows(name, tmp_path, capsys):
    from syncgap.validation.cli.main import main
    out = tmp_path / "out"
    shutil.copytree(OLD_CLI / name / "cells", out / "cells")
    assert main(["sweep", str(OLD_CLI / name / "sweep.json"), "--out", str(out), "--workers", "1", "--json"]) == 0
    new = json.loads(capsys.readouterr().out)
    assert new["summary"]["skipped"] == 1 and new["summary"]["done"] == 0       # the old cell, not recomputed
    old = json.loads((OLD_CLI / name / "expected.json").read_text())
    assert len(new["records"]) == len(old["records"]) == 1
    _same_record(old["records"][0], new["records"][0])
