"""The scoreboard's claim table and rules (validation/claims/: table.py, rules.py, scoreboard.py): every check a run
can make has a claim and a role, each rule can give each verdict, a finding's badge follows its claim checks only,
every fail says why, and one quantity is shown with one interval."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from syncgap.validation.claims import rules as R
from syncgap.validation.claims.table import ASSIGNMENTS, CLAIMS, ROLES, UNASSIGNED, assign
from syncgap.validation.checks import Check
from syncgap.validation.suites.result import SuiteResult
from syncgap.validation.claims.scoreboard import scoreboard

ROOT = Path(__file__).resolve().parents[2]

# the check ids of `syncgap validate --quick` (ou, dit, dit-causal) as written by it, and of the full demo's extra
# models and variants (fhgm-flat, digits, the switch-on window)
DEMO_IDS = """ou.base.d256.cloning_curve ou.base.d256.t_phi075 ou.base.d256.t_S ou.collapse.n100_d8
ou.A.g0.common.t_phi075 ou.A.g0.common.t_S ou.A.g0.difference.t_phi075 ou.A.g0.difference.t_S ou.A.g0.gap
ou.A.g0.85.gap ou.B.g0.onset.a=20 ou.B.g0.onset.a=4 ou.B.gap_g0 ou.B.gap_g0_steps ou.B.rho_law_support
ou.B.critical_g dit.fhgm.intrinsic_gap_sign.features dit.fhgm.ordering.features dit.fhgm.intrinsic_gap_sign.scales
dit.fhgm.ordering.scales dit.fhgm.intrinsic_gap.theory dit.fhgm.intrinsic_gap.exact dit.fhgm.commit_step.dct01
dit.fhgm.exact_sampler.dct01 dit.fhgm.gap_exact.g0.5 dit.fhgm.gap_exact.switch-on.g2 dit.fhgm.rho_law_support
dit.fhgm.rho_law_support.switch-on dit.fhgm.gap_ratio.release.g0.5-2 dit.fhgm.depth.increment_structure
dit.fhgm.depth.probe_reads_coarse dit.fhgm.depth.gap_emergence_layer dit.fhgm-deep.causal.g1.last5_beyond_random
dit.fhgm-flat.intrinsic_gap_sign.features dit.fhgm-flat.ordering.features dit.digits.intrinsic_gap_sign.scales
dit.digits.ordering.scales dit.fhgm-deep.depth.available dit-causal.error""".split()


def _templates() -> list[str]:
    """Every check id the suites and the report can build: their f-string templates, each {…} as one word."""
    out = []
    for p in sorted((ROOT / "validation" / "suites").rglob("*.py")):
        for lit in re.findall(r'(?:(?:Check|decided|_check|_ci_check)\(\s*|Agreement\(\s*check_id=)f?"((?:ou|dit)\.[^"]+)"',
                              p.read_text(encoding="utf-8")):
            out.append(re.sub(r"\{[^}]*\}", "x1", lit))
    return out


def test_every_check_of_a_demo_like_run_has_a_claim_and_a_role():
    templates = _templates()
    assert len(templates) >= 20, templates          # the scan found the suites' check builders
    for cid in DEMO_IDS + templates:
        claim, role = assign(cid)
        assert role in ROLES, f"{cid}: no role (add its pattern to validation/claims.ASSIGNMENTS)"
        assert claim in CLAIMS or claim == "none", cid
    assert assign("something.new") == ("none", UNASSIGNED)
    assert all(a.claim in CLAIMS or a.claim == "none" for a in ASSIGNMENTS)


def test_roles_of_known_checks_and_the_control_model():
    assert assign("dit.fhgm.intrinsic_gap_sign.features") == ("P2.1", "claim")
    assert assign("dit.fhgm.depth.probe_reads_coarse") == ("P2.3", "instrument")
    assert assign("dit.fhgm.gap_exact.g0.5") == ("P2.2", "theory")
    assert assign("dit.fhgm-flat.ordering.features") == ("P2.4", "control")
    assert assign("dit.fhgm.bridge.clone.g1") == ("P2.2", "claim")          # reserved for coupled cloning
    assert assign("dit.fhgm-flat.depth.control.null") == ("P2.3", "control")
    c = Check("dit.fhgm.ordering.features", "d", None, 0.5, (0.1, 0.9), "tau", True, expects="> 0")
    assert (c.claim, c.role) == ("P2.4", "claim") and c.to_json()["role"] == "claim"


@pytest.mark.parametrize("gap, iv, want", [(4.4, (4.0, 10.4), R.HOLDS), (0.2, (-0.8, 0.9), R.NOT_HOLD),
                                           (-5.0, (-7.0, -2.0), R.NOT_HOLD), (0.5, (-3.0, 9.4), R.UNDECIDED),
                                           (2.0, (1.0, 3.0), R.UNDECIDED), (None, None, R.NOT_TESTABLE)])
def test_gap_without_coupling_gives_each_verdict(gap, iv, want):
    assert R.gap_without_coupling(gap, iv).verdict == want
    assert R.gap_without_coupling(gap, iv, not_testable="control").verdict == R.NOT_TESTABLE


def test_collapse_under_coupling_gives_each_verdict():
    f = R.collapse_under_coupling
    assert f((4, 10), 0.1, (-0.5, 0.6), 0.02, (-0.1, 0.15), g=5).verdict == R.HOLDS
    assert f((4, 10), 6.0, (4.0, 8.0), 1.0, (0.7, 1.3)).verdict == R.NOT_HOLD
    assert f((4, 10), 1.0, (0.2, 2.4), 0.2, (0.0, 0.4)).verdict == R.UNDECIDED      # straddles 1 step
    assert f((4, 10), 0.1, (-0.5, 0.6), 0.2, (0.0, 0.4)).verdict == R.UNDECIDED     # ratio straddles 0.25
    assert f((-1, 10), 0.1, (-0.5, 0.6), 0.0, (0, 0.1)).verdict == R.NOT_TESTABLE   # gap(0) not established
    assert f(None, None, None, None, None, not_testable="not run").verdict == R.NOT_TESTABLE


def test_last_layer_localisation_gives_each_verdict():
    f = R.last_layer_localisation
    assert f([("a", "pass"), ("b", "n/a")]).verdict == R.HOLDS
    assert f([("a", "fail")]).verdict == R.NOT_HOLD
    assert f([("a", "pass"), ("b", "fail")]).verdict == R.UNDECIDED
    assert f([("a", "n/a")]).verdict == R.UNDECIDED
    assert f([]).verdict == R.NOT_TESTABLE
    assert f([("a", "pass")], not_testable="a control fails").verdict == R.NOT_TESTABLE


def test_global_before_local_gives_each_verdict():
    f = R.global_before_local
    assert f(0.8, (0.3, 1.0), n_units=4).verdict == R.HOLDS
    assert f(-0.8, (-1.0, -0.2), n_units=4).verdict == R.NOT_HOLD
    assert f(0.67, (0.0, 1.0), n_units=4).verdict == R.UNDECIDED
    assert f(1.0, (1.0, 1.0), n_units=2).verdict == R.NOT_TESTABLE
    assert f(0.8, (0.3, 1.0), n_units=4, not_testable="gate missed").verdict == R.NOT_TESTABLE


def test_many_checks_allows_only_chance_failures():
    assert [R.chance_allowance(n) for n in (0, 1, 2, 8, 25)] == [0, 0, 1, 2, 3]
    assert R.many_checks(["pass"] * 23 + ["fail"] * 2).verdict == R.HOLDS
    assert R.many_checks(["pass"] * 5 + ["fail"] * 3).verdict == R.NOT_HOLD
    assert R.many_checks(["fail"]).verdict == R.NOT_HOLD
    assert R.many_checks(["n/a", "n/a"]).verdict == R.UNDECIDED
    assert R.many_checks([]).verdict == R.NOT_TESTABLE


def _sign(cid, obs, ci, verdict, **kw):
    return Check(cid, "d", None, obs, ci, "steps", None, verdict=verdict, expects="> 0", reason="by the test", **kw)


def test_section_badge_follows_claim_checks_only(tmp_path, monkeypatch):
    """Instrument checks that pass cannot make a badge green, nor instrument fails make it red."""
    import syncgap.validation.report.run as report
    from syncgap.validation import suites
    checks = [_sign("dit.fhgm.depth.gap_emergence_layer", 1.0, (1.0, 1.0), "fail", model="fhgm", finding="depth"),
              _sign("dit.fhgm.depth.probe_reads_coarse", 1.0, (1.0, 1.0), "pass", model="fhgm", finding="depth"),
              _sign("dit.fhgm.depth.increment_structure", 0.2, (0.1, 0.3), "pass", model="fhgm", finding="depth"),
              _sign("dit.fhgm.intrinsic_gap_sign.features", 4.4, (4.0, 10.4), "pass", model="fhgm", finding="gap"),
              _sign("dit.fhgm.intrinsic_gap.theory", 4.4, (4.0, 10.4), "fail", model="fhgm", finding="gap"),
              _sign("dit.fhgm.depth.available", None, None, "fail", model="fhgm", finding="instruments")]
    monkeypatch.setitem(suites.SUITES, "fake", lambda out_dir, *, quick, progress=None: SuiteResult(
        "fake", checks, [], {}, facts={"fhgm": {"dit": True, "layers": 4, "family": "features",
                                                "units": ["dct01", "dct12", "dct34", "dct67"]}}))
    s = report.run_report(tmp_path, ["fake"], quick=True)
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    badges = dict(re.findall(r"### (\w+)\n\n\*\*Claim checks[^:]*: ([^.]+)\.\*\*", md))
    assert badges == {"depth": "❌ fail", "gap": "✅ pass", "instruments": "no claim check"}
    assert md.index("## Scoreboard") < md.index("## How to read a check")     # the scoreboard comes first
    rows = {(r["claim"], r["model"]): r for r in s["claims"]}
    assert rows[("P2.1", "fhgm")]["verdict"] == R.HOLDS
    assert rows[("P2.3", "fhgm")]["verdict"] == R.NOT_HOLD
    assert rows[("P2.2", "fhgm")]["verdict"] == R.NOT_TESTABLE and "not yet run" in rows[("P2.2", "fhgm")]["why"]
    assert {r["verdict"] for r in s["claims"]} <= set(R.CLAIM_VERDICTS)
    assert s["by_role"]["claim"] == {"passed": 1, "failed": 1, "n/a": 0}
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert all({"claim", "role"} <= set(c) for c in saved["checks"])
    header = (tmp_path / "checks.csv").read_text().splitlines()[0].split(",")
    assert {"claim", "role", "widen"} <= set(header)


def test_a_fail_always_says_why():
    with pytest.raises(ValueError, match="without a reason"):
        Check("x.y", "d", None, None, None, "", False)
    c = Check("x.y", "d", 1.0, 5.0, (4.0, 6.0), "", False, widen=0.5)
    assert c.reason == "prediction outside the interval by 2.5"


def test_scoreboard_p2_2_reads_coupled_cloning_checks_when_they_exist():
    checks = [_sign("dit.fhgm.intrinsic_gap_sign.features", 4.4, (4.0, 10.4), "pass", model="fhgm"),
              _sign("dit.fhgm.collapse.clone_gap.g5", 0.1, (-0.4, 0.5), "pass", model="fhgm"),
              _sign("dit.fhgm.collapse.clone.g5", 0.03, (-0.1, 0.12), "pass", model="fhgm")]
    row = next(r for r in scoreboard(checks) if r["claim"] == "P2.2")
    assert row["verdict"] == R.HOLDS and "dit.fhgm.collapse.clone.g5" in row["checks"]


def test_scoreboard_p2_2_reads_the_dit_gap_not_the_bridge_difference():
    """The bridge check's number is DiT gap minus the calibrated analog's (0.94 here); the collapse is decided on
    the DiT's own coupled-cloning gap (11.8 [9.4, 15.0]): it does not hold. Reading the bridge check instead gave
    'undecided' on the demo's fhgm (found 2026-12-06)."""
    checks = [_sign("dit.fhgm.intrinsic_gap_sign.features", 11.6, (10.0, 13.3), "pass", model="fhgm"),
              _sign("dit.fhgm.bridge.clone.g5", 0.94, (-2.86, 4.74), "pass", model="fhgm"),
              _sign("dit.fhgm.collapse.clone_gap.g5", 11.8, (8.4, 16.0), "fail", model="fhgm"),
              _sign("dit.fhgm.collapse.clone.g5", 1.02, (0.64, 1.45), "n/a", model="fhgm")]
    row = next(r for r in scoreboard(checks) if r["claim"] == "P2.2")
    assert row["verdict"] == R.NOT_HOLD and "11.8" in row["why"] and "dit.fhgm.collapse.clone_gap.g5" in row["checks"]
    no_window = [c for c in checks if ".collapse." not in c.id]
    row = next(r for r in scoreboard(no_window) if r["claim"] == "P2.2")
    assert row["verdict"] == R.NOT_TESTABLE and "not yet run" in row["why"]


def test_one_quantity_one_interval():
    """The g = 0 gap is shown with the same interval by its sign check and by its theory checks; the tolerance
    each comparison allows is its own column (`widen`), not a second interval."""
    from syncgap.theory.intervals import list_fields, triple_fields
    from syncgap.validation.suites.dit.findings import checks_for
    labels = ["dct01", "dct12", "dct34", "dct67"]
    analysis = {"model": "fhgm", "primary": "features", "resolution": 1.0,
           "families": {"features": {"labels": labels, **triple_fields("gap", [4.4, 2.4, 6.35]),
                                     **triple_fields("kendall", [0.67, 0.0, 1.0]),
                                     **list_fields("tau", [[3.6, 1.0, 6.0], [8.0, 5.0, 12.0], [10.6, 8.0, 12.0],
                                                           [8.0, 6.0, 12.0]])}},
           "theory": {"tau": [3.0, 7.0, 9.0, 10.5], "pitchfork_step": [3.0, 7.0, 9.0, 10.5]},
           "exact_sampler": {**triple_fields("gap", [8.2, 6.0, 10.0]), **list_fields("tau", [[3.0, 2.0, 4.0]] * 4)}}
    cks = {c.id: c for c in checks_for(analysis)}
    gaps = [cks[f"dit.fhgm.{k}"] for k in ("intrinsic_gap_sign.features", "intrinsic_gap.theory", "intrinsic_gap.exact")]
    assert {c.ci for c in gaps} == {(2.4, 6.35)}
    assert [c.widen for c in gaps] == [0.0, 1.0, 3.0]                  # resolution; resolution + exact half-width
    assert cks["dit.fhgm.intrinsic_gap.exact"].verdict == "pass"       # 8.2 inside [2.4 - 3, 6.35 + 3]


def test_a_model_says_why_a_claim_is_not_testable_on_it():
    """Facts from the suites name why a claim cannot be tested (no FHGM features, random weights); decisive checks
    of a trained model still decide."""
    gap = _sign("dit.own.intrinsic_gap_sign.scales", 4.4, (4.0, 10.4), "pass", model="own")
    facts = {"own": {"dit": True, "layers": 2, "family": "scales", "space": "pixel",
                     "untestable": {"P2.3": "not trained on the FHGM"}}}
    rows = {r["claim"]: r for r in scoreboard([gap], facts)}
    assert rows["P2.3"]["verdict"] == R.NOT_TESTABLE and rows["P2.3"]["why"] == "not trained on the FHGM"
    assert rows["P2.1"]["verdict"] == R.HOLDS and "scales, pixel space" in rows["P2.1"]["why"]
    facts["own"] |= {"random_weights": True, "untestable": dict.fromkeys(("P2.1", "P2.2", "P2.3", "P2.4"), "random")}
    rows = {r["claim"]: r for r in scoreboard([gap], facts)}
    assert all(rows[c]["verdict"] == R.NOT_TESTABLE and rows[c]["why"] == "random" for c in ("P2.1", "P2.4"))


def test_validate_model_reaches_every_dit_suite(tmp_path, monkeypatch):
    """`validate --model X` runs the DiT suites on X only: the causal test gets X too, never its zoo defaults."""
    import syncgap.validation.report.run as report
    from syncgap.validation.cli.main import main
    seen = {}

    def fake_run_report(out, suites, *, quick, progress, options, notes, beside=()):
        seen.update(options)
        return {"checks": [], "claims": [], "passed": 0, "failed": 0, "n/a": 0, "quick": quick, "suites": [], "suite_errors": {},
                "wall_s": 0.0}
    monkeypatch.setattr(report, "run_report", fake_run_report)
    assert main(["validate", "--quick", "--suites", "dit", "dit-causal", "--model", "digits", "--out",
                 str(tmp_path / "r"), "--quiet"]) == 0
    assert seen["dit"]["model"] == "digits" and seen["dit-causal"]["model"] == "digits"
