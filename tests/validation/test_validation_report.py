"""syncgap validate: the report (summary.json schema, report.md, figures redrawn from data, resume),
bad input, failed checks kept, and the tutorial docs/tutorial.md executed end to end (docs/science.md §7)."""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from syncgap.validation.cli.main import build_parser, main
from syncgap.theory.checks import InputError
from syncgap.validation.checks import Check
from syncgap.validation.suites.result import Figure, SuiteResult

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"
CHECK_KEYS = {"id", "description", "predicted", "observed", "ci_low", "ci_high", "unit", "passed"}


def _blocks(text: str):
    """(language, body) of every fenced block of the tutorial."""
    return re.findall(r"```(\w+)\n(.*?)```", text, flags=re.S)


@pytest.fixture(scope="module")
def tutorial(executed_tutorial):
    """The tutorial's run folder (its notebook executed once per session, tests/tutorial_run.py) and the
    files its blocks claim to produce there."""
    from tutorial_run import produced_files
    folder = executed_tutorial[0]
    return folder, [str(folder / f) for f in produced_files(TUTORIAL.read_text(encoding="utf-8"))]


@pytest.mark.slow
def test_tutorial_runs_and_produces_its_files(tutorial):
    tmp, produced = tutorial
    assert produced, "the tutorial claims no files"
    missing = [p for p in produced if not Path(p).is_file()]
    assert not missing
    # blocks that CI cannot run (weights, GPU) must at least be valid command lines
    parser = build_parser()
    for lang, body in _blocks(TUTORIAL.read_text(encoding="utf-8")):
        for ln in body.splitlines():
            if lang == "text" and ln.startswith("syncgap "):
                parser.parse_args(shlex.split(ln)[1:])


@pytest.mark.slow
def test_summary_schema_and_report(tutorial):
    out = tutorial[0] / "runs" / "tutorial"
    s = json.loads((out / "summary.json").read_text())
    assert s["checks"] and s["quick"] is True
    for c in s["checks"]:
        assert CHECK_KEYS <= set(c)
        assert c["verdict"] in ("pass", "fail", "n/a") and isinstance(c["id"], str) and c["description"]
        assert c["passed"] is {"pass": True, "fail": False, "n/a": None}[c["verdict"]]   # n/a is never a pass
        assert "ci" not in c and all(v is None or isinstance(v, float) for v in (c["ci_low"], c["ci_high"]))
        lo, hi = c["ci_low"], c["ci_high"]                # an open end or no interval: null
        if c["observed"] is not None:                    # an observation lies in its own interval
            assert (lo is None or lo <= c["observed"]) and (hi is None or c["observed"] <= hi), c["id"]
        if c["passed"] and c["kind"] == "agreement":   # passed only where the prediction is inside the interval
            # widened by the stated tolerance on each side
            assert c["predicted"] is not None and c["observed"] is not None
            assert (lo is None or lo - c["widen"] <= c["predicted"]) and (hi is None or c["predicted"] <= hi + c["widen"])
        assert c["role"] in ("claim", "theory", "instrument", "control"), c["id"]
        if c["passed"] and c["kind"] in ("sign", "ordering"):  # decided on the interval, not the estimate
            assert c["ci_low"] is not None and c["ci_low"] > 0, c["id"]
    ids = {c["id"] for c in s["checks"]}
    for want in ("ou.base.d256.t_S", "ou.base.d256.cloning_curve", "ou.A.g0.5.gap", "ou.B.gap_g0",
                 "ou.B.rho_law_support", "ou.B.critical_g"):
        assert want in ids
    # issue 13: P2's law is a hypothesis compared over g > 0, no point check anchored by the cloning gap0
    assert not any(i.startswith(("ou.B.protocol1.", "ou.B.fit_eta")) for i in ids)
    assert s["passed"] + s["failed"] + s["n/a"] == len(s["checks"])
    assert {r["claim"] for r in s["claims"]} == {"P1.A", "P1.B"}    # the OU suite alone: P1's block only
    assert all(r["verdict"] in ("holds", "does not hold", "undecided", "not testable here") for r in s["claims"])
    md = (out / "report.md").read_text()
    pngs = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", md)
    assert len(pngs) >= 5
    assert all((out / p).is_file() for p in pngs)
    for f in ("base theory", "layer A", "layer B gap vs g"):
        assert f"### {f}" in md
    assert md.count("**Verdict.**") >= 5
    assert (out / "checks.csv").read_text().count("\n") == len(s["checks"]) + 1


@pytest.mark.slow
def test_report_html_embeds_every_figure_and_summary_tex_every_check(tutorial):
    from test_report_html import check_html_against_markdown
    out = tutorial[0] / "runs" / "tutorial"
    page = check_html_against_markdown(out)
    s = json.loads((out / "summary.json").read_text())
    assert len(page.row_classes) >= len(s["checks"])
    assert page.row_classes.count("fail") == s["failed"]
    tex = (out / "summary.tex").read_text()
    assert sum(ln.startswith(r"\texttt{") for ln in tex.splitlines()) == len(s["checks"])


@pytest.mark.slow
def test_figures_redraw_identically_from_data_files(tutorial, tmp_path):
    from syncgap.validation.suites.ou import figures
    out = tutorial[0] / "runs" / "tutorial"
    s = json.loads((out / "summary.json").read_text())
    figs = [f for suite in s["suites"] for f in suite["figures"]]
    assert len(figs) >= 5
    for f in figs:
        name = Path(f["path"]).name
        again = tmp_path / name
        figures.FIGURES[name]([str(out / p) for p in f["sources"]], str(again))
        assert again.read_bytes() == (out / f["path"]).read_bytes(), name


@pytest.mark.slow
def test_rerun_reuses_every_data_file(tutorial):
    # the tutorial ran the same validate command twice: the second run computed nothing
    out = tutorial[0] / "runs" / "tutorial"
    log = (out / "progress.log").read_text().splitlines()
    starts = [i for i, ln in enumerate(log) if "report: suites" in ln]
    assert len(starts) == 2
    second = log[starts[1]:]
    assert any("reused" in ln for ln in second)
    assert not any("computing" in ln for ln in second)
    first = log[starts[0]:starts[1]]
    assert sum("computed" in ln for ln in first) == sum("reused" in ln for ln in second)


@pytest.mark.slow
def test_gated_gap_outcome_is_recorded_not_forced(tutorial):
    s = json.loads((tutorial[0] / "runs" / "tutorial" / "summary.json").read_text())
    c = {x["id"]: x for x in s["checks"]}["ou.B.critical_g"]
    # stated, never decided (its g* anchors release gaps on the cloning gap): n/a whatever it shows
    assert c["verdict"] == "n/a" and c["passed"] is None and c["reason"]
    law = json.loads((tutorial[0] / "runs" / "tutorial" / "ou" / "gap_law.json").read_text())
    assert len(law["g"]) == len(law["gap"]) == len(law["residuals"])


def _fake(checks):
    def suite(out_dir, *, quick, progress=None):
        return SuiteResult("fake", checks, [Figure("nofig.png", "absent")], {"fake": "one verdict"})
    return suite


def test_failing_check_kept_and_crashed_suites_recorded(tmp_path, monkeypatch):
    import syncgap.validation.report.run as report
    from syncgap.validation import suites
    bad = Check("fake.bad", "a finding that does not reproduce", 1.0, 5.0, (4.0, 6.0), "s", False, finding="fake")
    good = Check("fake.good", "a finding that does", 5.0, 5.0, (4.0, 6.0), "s", True, finding="fake")

    def boom(out_dir, *, quick, progress=None):
        raise RuntimeError("kaput")

    def nomodel(out_dir, *, quick, progress=None):
        raise InputError("model 'fhgm' is not shipped in this checkout")
    for name, suite in (("fake", _fake([bad, good])), ("boom", boom), ("nomodel", nomodel)):
        monkeypatch.setitem(suites.SUITES, name, suite)
    s = report.run_report(tmp_path, ["fake", "boom", "nomodel"], quick=True)
    by = {c["id"]: c for c in s["checks"]}
    assert by["fake.bad"]["passed"] is False and by["fake.bad"]["observed"] == 5.0
    assert by["fake.good"]["passed"] is True
    assert by["boom.error"]["passed"] is False and "kaput" in by["boom.error"]["description"]
    assert by["nomodel.error"]["passed"] is False and "not shipped" in by["nomodel.error"]["description"]
    assert s["failed"] == 3 and s["passed"] == 1
    md = (tmp_path / "report.md").read_text()
    assert "fake.bad" in md and "❌" in md and "one verdict" in md and "missing" in md


@pytest.mark.parametrize("argv, words", [
    (["--suites", "nope"], "--suites must be one of ou, dit, dit-causal, got 'nope'"),
    (["--suites", "dit", "--model", "no-such-model"], "unknown model"),
    (["--suites", "ou", "--model", "fhgm"], "--model"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, argv, words):
    assert main(["validate", "--out", str(tmp_path / "r"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("syncgap validate: error:") and words in err
    assert not (tmp_path / "r" / "summary.json").exists()


def test_out_pointing_at_a_file_exits_2(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("x")
    assert main(["validate", "--out", str(f), "--suites", "ou"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is a file" in err


def test_bad_device_is_an_argparse_error(tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["validate", "--out", str(tmp_path), "--device", "tpu"])
    assert e.value.code == 2
