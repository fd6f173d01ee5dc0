"""Quantities that do not exist are never printed as numbers (issue 17): text says "does not speciate" /
"not measurable", JSON has null with a `<name>_reason` (docs/json.md), and a run that measured nothing
asked for exits with NOT_MEASURABLE (3), distinct from 1 (failure) and 2 (bad input)."""
from __future__ import annotations

import json

import pytest
from syncgap.validation.cli.main import main

from syncgap.validation.cli.output import NOT_MEASURABLE


def _run(capsys, *argv):
    rc = main(list(argv))
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_a_mode_that_does_not_speciate_is_named_not_a_negative_time(capsys):
    rc, out, err = _run(capsys, "theory", "gap", "--g", "0.995")
    assert rc == NOT_MEASURABLE == 3 and "does not speciate" in out and "-69" not in out
    assert len(err.strip().splitlines()) == 1 and "nothing measurable" in err
    rc, out, _ = _run(capsys, "theory", "gap", "--g", "0.995,0.3", "--json")
    rows = json.loads(out)["records"]
    assert rc == 0                                                  # one g gives a gap: something measured
    assert rows[0]["t_S_common"] is None and rows[0]["t_S_common_reason"] == "does not speciate"
    assert rows[0]["gap"] is None and "common mode does not speciate" in rows[0]["gap_reason"]
    assert rows[1]["gap"] > 0 and "gap_reason" not in rows[1]


@pytest.mark.parametrize("argv,field", [
    (["theory", "speciation", "--g", "0.99999999"], "t_S"),
    (["theory", "speciation", "--coupling", "all_to_all", "--K", "3", "--g", "-0.3333333333"], "t_S"),
    (["theory", "spectrum", "--g", "0.9999"], "t_S_common"),
    (["theory", "gated", "--g", "10"], "gap")])
def test_no_negative_or_placeholder_times_in_json(capsys, argv, field):
    rc, out, _ = _run(capsys, *argv, "--json")
    rows = json.loads(out)["records"]
    assert rc in (0, NOT_MEASURABLE)
    assert any(r[field] is None for r in rows)
    for r in rows:
        for k, v in r.items():
            if k.startswith(("t_S", "gap")) and not k.endswith("_reason"):
                assert v is None or v > 0 or k == "gap", (k, v)
            if v is None:
                assert r[f"{k}_reason"], k
            assert v != "none"


def test_a_too_coarse_ou_grid_measures_nothing_and_says_so(capsys):
    rc, out, err = _run(capsys, "ou", "gap", "--g", "0", "--samples", "50", "--steps", "20", "--boot", "10", "--quiet")
    assert rc == NOT_MEASURABLE and ("not measurable" in out or "never" in out) and "nan" not in out.lower()
    assert "nothing measurable" in err


def test_demo_json_is_json_and_latex_survives_json(capsys):
    rc, out, _ = _run(capsys, "theory", "demo", "--json")
    d = json.loads(out)
    assert rc == 0 and {r["kind"] for r in d["records"]} == {"gap", "bounds", "gated"} and d["meta"]["latex"]
    rc, out, _ = _run(capsys, "theory", "gap", "--g", "0.3", "--latex", "--json")
    assert rc == 0 and "synchronization_gap" in json.loads(out)["meta"]["latex"]


def test_protocol_two_with_only_undefined_fractions_counts_as_nothing_measured():
    from syncgap.validation.cli.dit.measure import _any_number
    assert not _any_number([[[None, None]], [[float("nan"), None]]]) and _any_number([[[None, 0.25]]])


def test_ou_layer_a_theory_gap_is_null_where_a_mode_does_not_speciate(capsys):
    rc, out, _ = _run(capsys, "ou", "gap", "--layer", "A", "--g", "0.999", "--samples", "40", "--steps", "60",
                      "--boot", "10", "--amplitudes", "3", "--quiet", "--json")
    records = json.loads(out)["records"]
    gap = next(r for r in records if r["kind"] == "gap")
    modes = sorted((r for r in records if r["kind"] == "mode"), key=lambda r: r["mode"])
    assert gap["gap_theory"] is None and gap["gap_theory_reason"] == "a mode does not speciate"
    assert modes[-1]["t_mode_theory"] is None and modes[-1]["t_mode_theory_reason"] == "does not speciate"
    assert modes[0]["t_mode_theory"] > 0
