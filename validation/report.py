"""The validation report: run suites in order, then write summary.json and report.md (docs/science.md §7).

    run_report(out_dir, ["ou", "dit"], quick=False, progress=print, options={"dit": {"model": ...}})

Layout of `out_dir`:
    summary.json      {"claims": [scoreboard rows], "checks": [Check.to_json() ...], "models": {facts},
                      "suites": [...], "passed", "failed", "n/a", "by_role", "quick"}
                      (each check has "verdict": "pass" | "fail" | "n/a", n/a counted apart, and its
                      "claim" and "role", validation/claims.py; each claims row a verdict word of
                      validation/claim_rules.py; "suite_errors": {suite: why} for each suite that did
                      not finish)
    report.md         the scoreboard (claims x models, then P1's block and the caveats), how to read a
                      check, a glossary, then per suite and finding: the claim checks' badge, a
                      one-paragraph verdict, the checks as a table (claim and role, predicted,
                      observed, interval, tolerance, unit, verdict, why), and every figure (PNG)
    report.html       report.md as one self-contained page: figures embedded as base64, a table of
                      contents, sortable tables, verdicts coloured (report_html.py)
    checks.csv        the same checks as one CSV table
    summary.tex       the same checks as a LaTeX longtable for a paper (report_tex.py)
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
import math
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from syncgap.theory.checks import InputError
from syncgap.validation.records import Check, SuiteResult, tally
from syncgap.validation.store import DamagedRecord, check_record, is_storage_error, read_json
from syncgap.validation.sweep.store import atomic_write_json, atomic_write_text

from .claim_rules import chance_allowance, section_badge
from .claims import ROLES, UNASSIGNED
from .report_glossary import GLOSSARY, HOW_TO_READ, SOURCE_PAPER, SUITE_TITLES
from .report_html import render_html
from .report_tex import render_latex
from .scoreboard import scoreboard, scoreboard_markdown
from .suites import DATA_FOLDERS, PARTIAL_CHECKS, SUITES


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


def _fmt(x) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        if not math.isfinite(x):
            return "∞" if x > 0 else "−∞"
        return f"{x:.4g}"
    return str(x)


MARKS = {"pass": "✅", "fail": "❌", "n/a": "➖"}   # report_html reads these marks back


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _ci_text(ci) -> str:
    return "–" if ci is None else f"[{_fmt(ci[0])}, {_fmt(ci[1])}]"


def role_counts(checks) -> str:
    """'claim: 4 pass, 5 fail, 10 n/a; theory: …' over the roles present (validation.claims.ROLES)."""
    parts = []
    for role in (*ROLES, UNASSIGNED):
        k = tally([c for c in checks if c.role == role])
        if sum(k.values()):
            parts.append(f"{role} {k['pass']} pass, {k['fail']} fail, {k['n/a']} n/a")
    return "; ".join(parts)


BADGE_WORDS = {"pass": "✅ pass", "fail": "❌ fail", "n/a": "➖ n/a", None: "no claim check"}


def badge_line(checks) -> str:
    """A finding's badge: its claim checks' verdict (claim_rules.section_badge), with the counts per role."""
    mine = [c for c in checks if c.role == "claim"]
    claims = sorted({c.claim for c in checks if c.claim != "none"})
    k = tally(mine)
    badge = section_badge([c.verdict for c in mine])
    detail = (f"{k['pass']} pass, {k['fail']} fail, {k['n/a']} n/a"
              + (f", within the {chance_allowance(k['pass'] + k['fail'])} failures chance explains at 95%"
                 if badge == "pass" and k["fail"] else "") if mine else "none of these checks decides a claim")
    return (f"**Claim checks{' (' + ', '.join(claims) + ')' if claims else ''}: {BADGE_WORDS[badge]}.** {detail}. "
            f"All checks by role: {role_counts(checks)}.")


def render_markdown(results: list[tuple[SuiteResult, float]], quick: bool, out_dir: Path,
                    notes: list[str] | None = None, board: list[dict] | None = None) -> str:
    """report.md from the suites' records: the scoreboard (`board`, validation.scoreboard) first, then `notes`
    (warnings), how to read a check, the glossary and each suite's findings; figures embedded by relative path."""
    checks = [c for r, _ in results for c in r.checks]
    n = tally(checks)
    lines = ["# syncgap validation report", "",
             f"Does each finding of {SOURCE_PAPER} (P2) hold on the models run here? The scoreboard answers first; "
             f"the {len(checks)} checks below it{' (quick settings)' if quick else ''} are the evidence, by role: "
             f"{role_counts(checks)} (in all {n['pass']} pass, {n['fail']} fail, {n['n/a']} n/a). Only *claim* "
             "checks decide the scoreboard; *theory* checks hold this repository's own predictions against the "
             "models, *instrument* checks show that a measurement works, *control* checks run where a claim should "
             "not show. Findings that do not reproduce are listed as failed, not dropped. Raw per-cell data sit "
             "next to each figure, which is redrawn from them alone.", ""]
    lines += [f"**Note.** {note}\n" for note in notes or []]
    lines += scoreboard_markdown(board if board is not None else scoreboard(checks))
    lines += ["## How to read a check", "", HOW_TO_READ, "", "## Glossary", "",
              "| term | meaning |", "|---|---|"] + [f"| {term} | {_cell(text)} |" for term, text in GLOSSARY] + [""]
    for res, wall in results:
        cs = res.checks
        k = tally(cs)
        title = SUITE_TITLES.get(res.name)
        lines += [f"## Suite `{res.name}`{': ' + title if title else ''}", "",
                  f"{len(cs)} checks ({k['pass']} pass, {k['fail']} fail, {k['n/a']} n/a); by role: {role_counts(cs)}; "
                  f"{wall:.1f} s this run.", ""]
        findings = list(dict.fromkeys([c.finding or "other" for c in cs] + list(res.verdicts)))
        for f in findings:
            fc = [c for c in cs if (c.finding or "other") == f]
            lines += [f"### {f}", "", badge_line(fc), ""]
            if f in res.verdicts:
                lines += [f"**Verdict.** {res.verdicts[f]}", ""]
            if fc:
                lines += ["| check | claim · role | predicted | observed | interval | ± | unit | verdict | why |",
                          "|---|---|---|---|---|---|---|---|---|"]
                for c in fc:
                    lines.append(f"| `{c.id}`{(' (' + c.model + ')') if c.model else ''}: {_cell(c.description)} | "
                                 f"{c.claim} · {c.role} | {_cell(c.expects) if c.expects else _fmt(c.predicted)} | "
                                 f"{_fmt(c.observed)} | {_ci_text(c.ci)} | {_fmt(c.widen) if c.widen else '–'} | "
                                 f"{_cell(c.unit)} | {MARKS[c.verdict]} | {_cell(c.reason) or '–'} |")
                lines.append("")
                tols = sorted({c.tolerance for c in fc if c.tolerance})
                if tols:
                    lines += ["Intervals: the observation's own; ± is the tolerance the prediction may lie beyond "
                              "them. " + "; ".join(tols) + ".", ""]
        for fig in res.figures:
            if (out_dir / fig.path).is_file():
                lines += [f"![{fig.caption}]({fig.path})", "", f"*{fig.caption}* Drawn from: "
                          + ", ".join(f"`{s}`" for s in fig.sources) + ".", ""]
            else:
                lines += [f"*(figure {fig.path} missing: {fig.caption})*", ""]
        if res.data_files:
            lines += ["Data files: " + ", ".join(f"`{p}`" for p in res.data_files) + ".", ""]
    return "\n".join(lines)


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


def run_report(out_dir: str | Path, suites: list[str], *, quick: bool = False,
               progress: Callable[[str], None] | None = None, options: dict | None = None,
               notes: list[str] | None = None) -> dict:
    """Run `suites` (registered names) in order; write summary.json, report.md, report.html, checks.csv, summary.tex.

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
    results = [run_suite(name, out, quick, say, (options or {}).get(name), log=to_log) for name in suites]
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
