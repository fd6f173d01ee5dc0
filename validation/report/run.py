"""The validation report: run suites in order, then write summary.json and report.md (docs/science.md §7).

    run_report(out_dir, ["ou", "dit"], quick=False, progress=print, options={"dit": {"model": ...}})

Layout of `out_dir`:
    summary.json      {"claims": [scoreboard rows], "checks": [Check.to_json() ...], "models": {facts},
                      "suites": [...], "passed", "failed", "n/a", "by_role", "quick"}
                      (each check has "verdict": "pass" | "fail" | "n/a", n/a counted apart, and its
                      "claim" and "role", validation/claims/table.py; each claims row a verdict word of
                      validation/claims/rules.py; "suite_errors": {suite: why} for each suite that did
                      not finish)
    report.md         (report/markdown.py) the scoreboard (claims x models, then P1's block and the caveats), how to read a
                      check, a glossary, then per suite and finding: the claim checks' badge, a
                      one-paragraph verdict, the checks as a table (claim and role, predicted,
                      observed, interval, tolerance, unit, verdict, why), and every figure (PNG)
    report.html       report.md as one self-contained page: figures embedded as base64, a table of
                      contents, sortable tables, verdicts coloured (report/html.py)
    checks.csv        the same checks as one CSV table
    summary.tex       the same checks as a LaTeX longtable for a paper (report/tex.py)
    progress.log      every progress line of every run, appended (shows what a rerun reused)
    <suite folders>   each suite's raw per-cell data (JSON/CSV) and its figures, drawn from those files

Resume: suites keep their finished cells on disk and reuse them, so rerunning the same command
after an interruption recomputes only what is missing. A suite that fails with an unexpected error
is recorded as a failed check naming the error, never dropped, and its finished cells stay in the
report (their files, and the checks made from them where the suite can: suites.PARTIAL_CHECKS); `syncgap validate` then exits 1 (also an InputError raised inside a suite, e.g. a model not shipped in this checkout); the
CLI validates the user's arguments before any suite runs, so bad input still exits 2.
"""
from __future__ import annotations

import csv
import io
import json
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from syncgap.theory.checks import InputError
from syncgap.validation.checks import Check, tally
from syncgap.validation.claims.scoreboard import scoreboard
from syncgap.validation.claims.table import ROLES, UNASSIGNED
from syncgap.validation.report.html import render_html
from syncgap.validation.report.markdown import render_markdown
from syncgap.validation.report.tex import render_latex
from syncgap.validation.store import (DamagedRecord, atomic_write_json, atomic_write_text, check_record,
                                      is_storage_error, read_json)
from syncgap.validation.suites import DATA_FOLDERS, PARTIAL_CHECKS, SUITES
from syncgap.validation.suites.result import SuiteResult


def check_out_dir(out_dir: str | Path) -> Path:
    """The report folder: created if missing; an existing file there is an error."""
    p = Path(out_dir)
    if p.exists() and not p.is_dir():
        raise InputError(f"--out {str(out_dir)!r} is a file, not a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {str(out_dir)!r} cannot be created: {exc.strerror}") from None
    return p


def finished_cells(out_dir: Path, name: str) -> list[str]:
    """Paths (relative to out_dir) of the whole cell records in suite `name`'s folder (suites.DATA_FOLDERS)."""
    folder = DATA_FOLDERS.get(name)
    if folder is None or not (out_dir / folder).is_dir():
        return []
    kept = []
    for p in sorted((out_dir / folder).rglob("*.json")):
        try:
            if p.is_file():
                check_record(read_json(p))
                kept.append(str(p.relative_to(out_dir)))
        except (DamagedRecord, OSError):
            continue
    return kept


def _crashed_suite(name: str, out_dir: Path, message: str, say: Callable[[str], None]) -> SuiteResult:
    """A suite that stopped part way: one failed check naming why, then the checks of its finished cells
    (suites.PARTIAL_CHECKS, where the suite has them) and those cells as its data files."""
    cells = finished_cells(out_dir, name)
    partial = []
    if name in PARTIAL_CHECKS:
        try:
            partial = list(PARTIAL_CHECKS[name](out_dir / DATA_FOLDERS[name]))
        except Exception as exc:   # the checks of the kept cells failed too: say so, keep the cells listed
            say(f"{name}: the checks of its finished cells failed too: {type(exc).__name__}: {exc}")
    text = f"{message}; the suite stopped there: {len(cells)} finished cell files kept" + (
        f", {len(partial)} checks made from them" if partial else "") + "; a rerun resumes"
    head = Check(f"{name}.error", text, None, None, None, "", False, finding="suite", reason=text)
    return SuiteResult(name, [head, *partial], [], {"suite": text}, cells, error=message)


def run_suite(name: str, out_dir: Path, quick: bool, say: Callable[[str], None], options: dict | None = None,
              log: Callable[[str], None] | None = None) -> tuple[SuiteResult, float]:
    """Run one registered suite (suites.SUITES); a crashed one becomes a failed check naming the error plus what
    its finished cells give (`_crashed_suite`); the result's `error` says why. The traceback goes to `log`
    (default: `say`)."""
    t0 = time.time()
    func = SUITES[name]
    say(f"{name}: running{' (quick)' if quick else ''}")
    try:
        res = func(out_dir, quick=quick, progress=say, **(options or {}))
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a crash (or a model missing here) is a finding that did not reproduce: keep it
        if is_storage_error(exc):   # a full or read-only disk stops the run (the CLI says so): no finding
            raise
        (log or say)(traceback.format_exc(limit=6))
        message = f"suite raised {type(exc).__name__}: {exc}"
        say(f"{name}: suite failed: {type(exc).__name__}: {exc}")
        res = _crashed_suite(name, Path(out_dir), message, say)
    return res, time.time() - t0


def _checks_csv(checks: list[Check]) -> str:
    buf = io.StringIO()
    cols = ["id", "claim", "role", "finding", "model", "description", "predicted", "expects", "observed", "ci_low",
            "ci_high", "widen", "unit", "verdict", "passed", "kind", "reason", "tolerance"]
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    for c in checks:
        d = c.to_json()
        w.writerow({k: d.get(k) for k in cols if k in d})
    return buf.getvalue()


def _counts(checks) -> dict:
    """summary.json's counts: "passed", "failed" and "n/a" (n/a is never a pass nor a fail), and the same per role."""
    n = tally(checks)
    roles = {role: tally([c for c in checks if c.role == role]) for role in (*ROLES, UNASSIGNED)}
    return {"passed": n["pass"], "failed": n["fail"], "n/a": n["n/a"],
            "by_role": {r: {"passed": k["pass"], "failed": k["fail"], "n/a": k["n/a"]} for r, k in roles.items()
                        if sum(k.values())}}


def merged_facts(results) -> dict[str, dict]:
    """Every suite's facts per model, merged: a later suite adds to an earlier one's; within a dict-valued fact
    ("untestable": claim -> reason) the earlier suite's entry stays."""
    out: dict[str, dict] = {}
    for r, _ in results:
        for model, f in (r.facts or {}).items():
            mine = out.setdefault(model, {})
            for k, v in f.items():
                mine[k] = {**v, **mine[k]} if isinstance(v, dict) and isinstance(mine.get(k), dict) else v
    return out


def _run_suites(suites: list[str], beside: set[str], run_one: Callable[[str], tuple]) -> list[tuple]:
    """run_one(name) of every suite, in the order of `suites`: those in `beside` in forked processes started first."""
    from syncgap.validation.cell_workers import ForkedCall
    forked = {name: ForkedCall(lambda name=name: run_one(name)) for name in suites if name in beside}
    try:
        here = {name: run_one(name) for name in suites if name not in forked}
        return [forked[name].result() if name in forked else here[name] for name in suites]
    finally:
        for call in forked.values():
            call.close()


def run_report(out_dir: str | Path, suites: list[str], *, quick: bool = False,
               progress: Callable[[str], None] | None = None, options: dict | None = None,
               notes: list[str] | None = None, beside: Sequence[str] = ()) -> dict:
    """Run `suites` (registered names) in order; write summary.json, report.md, report.html, checks.csv, summary.tex.

    `beside`: suites that run in forked processes of one thread each (validation.cell_workers.ForkedCall), started
    first, while the others run in order here; the report keeps the order of `suites` whatever finishes first.
    `progress(message)` gets one line per step; messages also go to out_dir/progress.log.
    `options[name]` holds extra keyword arguments of one suite (e.g. {"dit": {"model": "fhgm"}}).
    `notes`: sentences the reader must see first (e.g. that a model has random weights): top of
    report.md and summary.json's "notes".
    Returns the summary record (what summary.json holds).
    """
    out = check_out_dir(out_dir)
    log = out / "progress.log"

    def to_log(msg: str) -> None:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {msg}\n")

    def say(msg: str) -> None:
        to_log(msg)
        if progress is not None:
            progress(msg)
    say(f"report: suites {', '.join(suites)}{' (quick)' if quick else ''} -> {out}")
    t0 = time.time()
    results = _run_suites(suites, set(beside), lambda name: run_suite(name, out, quick, say, (options or {}).get(name),
                                                                     log=to_log))
    checks = [c for r, _ in results for c in r.checks]
    facts = merged_facts(results)
    board = scoreboard(checks, facts)
    summary = {"claims": board, "checks": [c.to_json() for c in checks], "models": facts,
               "suites": [{"name": n, "suite": r.name, "wall_s": round(w, 2), **_counts(r.checks), "figures": [{"path": f.path, "caption": f.caption, "sources": list(f.sources)} for f in r.figures],
                           "data_files": list(r.data_files), "verdicts": dict(r.verdicts), "error": r.error or None}
                          for n, (r, w) in zip(suites, results)],
               **_counts(checks),
               "suite_errors": {n: r.error for n, (r, _) in zip(suites, results) if r.error},
               "quick": bool(quick), "notes": list(notes or []), "wall_s": round(time.time() - t0, 2)}
    atomic_write_json(out / "summary.json", summary)
    atomic_write_text(out / "checks.csv", _checks_csv(checks))
    atomic_write_text(out / "summary.tex", render_latex(checks))
    markdown = render_markdown(results, quick, out, notes, board)
    atomic_write_text(out / "report.md", markdown)
    atomic_write_text(out / "report.html", render_html(markdown, out))
    say(f"report: {summary['passed']}/{len(checks)} checks pass, {summary['failed']} fail, {summary['n/a']} n/a; wrote summary.json, report.md, report.html, "
        "checks.csv, summary.tex "
        f"({summary['wall_s']:.1f} s)")
    return summary


def load_summary(out_dir: str | Path) -> dict:
    return json.loads((Path(out_dir) / "summary.json").read_text(encoding="utf-8"))


__all__ = ["run_report", "run_suite", "render_markdown", "check_out_dir", "load_summary"]
