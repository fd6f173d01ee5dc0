"""The validation report: run suites in order, then write summary.json and report.md (docs/science.md §7).

    run_report(out_dir, ["ou", "dit"], quick=False, progress=print, options={"dit": {"model": ...}})

Layout of `out_dir`:
    summary.json      {"checks": [Check.to_json() ...], "suites": [...], "passed", "failed", "quick"}
    report.md         per suite and finding: a one-paragraph verdict, the checks as a table
                      (predicted, observed, interval, unit, pass), and every figure embedded (PNG)
    report.html       report.md as one self-contained page: figures embedded as base64, a table of
                      contents, sortable tables, verdicts coloured (report_html.py)
    checks.csv        the same checks as one CSV table
    summary.tex       the same checks as a LaTeX longtable for a paper (report_tex.py)
    progress.log      every progress line of every run, appended (shows what a rerun reused)
    <suite folders>   each suite's raw per-cell data (JSON/CSV) and its figures, drawn from those files

Resume: suites keep their finished cells on disk and reuse them, so rerunning the same command
after an interruption recomputes only what is missing. A suite that cannot run (module missing
in this checkout) or that fails with an unexpected error is recorded as a failed check, never
dropped (also an InputError raised inside a suite, e.g. a model not shipped in this checkout); the
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
from syncgap.validation.records import Check, SuiteResult
from syncgap.validation.sweep.store import atomic_write_json, atomic_write_text

from .report_html import render_html
from .report_tex import render_latex
from .suites import SuiteUnavailable, resolve


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


def _failed_suite(name: str, cid: str, message: str) -> SuiteResult:
    c = Check(f"{name}.{cid}", message, None, None, None, "", False, finding="suite")
    return SuiteResult(name, [c], [], {"suite": message})


def run_suite(name: str, out_dir: Path, quick: bool, say: Callable[[str], None], options: dict | None = None) -> tuple[SuiteResult, float]:
    """Run one registered suite; unavailable or crashed suites become one failed check."""
    t0 = time.time()
    try:
        func = resolve(name)
    except SuiteUnavailable as exc:
        say(f"{name}: suite unavailable ({exc})")
        return _failed_suite(name, "unavailable", f"suite unavailable: {exc}"), time.time() - t0
    say(f"{name}: running{' (quick)' if quick else ''}")
    try:
        res = func(out_dir, quick=quick, progress=say, **(options or {}))
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a crash (or a model missing here) is a finding that did not reproduce: keep it
        trace = traceback.format_exc(limit=6)
        say(f"{name}: suite failed: {type(exc).__name__}: {exc}\n{trace}")
        res = _failed_suite(name, "error", f"suite raised {type(exc).__name__}: {exc}")
    return res, time.time() - t0


def _fmt(x) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        if not math.isfinite(x):
            return "∞" if x > 0 else "−∞"
        return f"{x:.4g}"
    return str(x)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _ci_text(ci) -> str:
    return "–" if ci is None else f"[{_fmt(ci[0])}, {_fmt(ci[1])}]"


def render_markdown(results: list[tuple[SuiteResult, float]], quick: bool, out_dir: Path,
                    notes: list[str] | None = None) -> str:
    """report.md from the suites' records (and `notes`, warnings shown first); figures embedded by relative path."""
    checks = [c for r, _ in results for c in r.checks]
    npass = sum(c.passed for c in checks)
    lines = ["# syncgap validation report", "",
             f"{npass} of {len(checks)} checks pass{' (quick settings)' if quick else ''}. "
             "A check passes only where the prediction lies in the stated interval around the observation; "
             "findings that do not reproduce are listed as failed, not dropped. Raw per-cell data sit next to "
             "each figure, which can be redrawn from them alone (`validation.figures`). Most intervals are 95% "
             "bootstrap intervals, so among many checks about one in twenty can miss by chance alone; a miss by "
             "much more than its interval's width is a real disagreement.", ""]
    lines += [f"**Note.** {n}\n" for n in notes or []]
    for res, wall in results:
        cs = res.checks
        lines += [f"## Suite `{res.name}`", "",
                  f"{sum(c.passed for c in cs)} of {len(cs)} checks pass; {wall:.1f} s this run.", ""]
        findings = list(dict.fromkeys([c.finding or "other" for c in cs] + list(res.verdicts)))
        for f in findings:
            fc = [c for c in cs if (c.finding or "other") == f]
            lines += [f"### {f}", ""]
            if f in res.verdicts:
                lines += [f"**Verdict.** {res.verdicts[f]}", ""]
            if fc:
                lines += ["| check | predicted | observed | interval | unit | pass |", "|---|---|---|---|---|---|"]
                for c in fc:
                    mark = "✅" if c.passed else "❌"
                    lines.append(f"| `{c.id}`{(' (' + c.model + ')') if c.model else ''}: {_cell(c.description)} | "
                                 f"{_fmt(c.predicted)} | {_fmt(c.observed)} | {_ci_text(c.ci)} | {_cell(c.unit)} | {mark} |")
                lines.append("")
                tols = sorted({c.tolerance for c in fc if c.tolerance})
                if tols:
                    lines += ["Intervals: " + "; ".join(tols) + ".", ""]
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
    cols = ["id", "finding", "model", "description", "predicted", "observed", "ci_low", "ci_high", "unit",
            "passed", "tolerance"]
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    for c in checks:
        d = c.to_json()
        ci = d.pop("ci") or [None, None]
        w.writerow({k: d.get(k) for k in cols if k in d} | {"ci_low": ci[0], "ci_high": ci[1]})
    return buf.getvalue()


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

    def say(msg: str) -> None:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {msg}\n")
        if progress is not None:
            progress(msg)
    say(f"report: suites {', '.join(suites)}{' (quick)' if quick else ''} -> {out}")
    t0 = time.time()
    results = [run_suite(name, out, quick, say, (options or {}).get(name)) for name in suites]
    checks = [c for r, _ in results for c in r.checks]
    summary = {"checks": [c.to_json() for c in checks],
               "suites": [{"name": n, "suite": r.name, "wall_s": round(w, 2), "passed": sum(c.passed for c in r.checks),
                           "failed": sum(not c.passed for c in r.checks), "figures": [{"path": f.path, "caption": f.caption, "sources": list(f.sources)} for f in r.figures],
                           "data_files": list(r.data_files), "verdicts": dict(r.verdicts)}
                          for n, (r, w) in zip(suites, results)],
               "passed": sum(c.passed for c in checks), "failed": sum(not c.passed for c in checks),
               "quick": bool(quick), "notes": list(notes or []), "wall_s": round(time.time() - t0, 2)}
    atomic_write_json(out / "summary.json", summary)
    atomic_write_text(out / "checks.csv", _checks_csv(checks))
    atomic_write_text(out / "summary.tex", render_latex(checks))
    markdown = render_markdown(results, quick, out, notes)
    atomic_write_text(out / "report.md", markdown)
    atomic_write_text(out / "report.html", render_html(markdown, out))
    say(f"report: {summary['passed']}/{len(checks)} checks pass; wrote summary.json, report.md, report.html, "
        "checks.csv, summary.tex "
        f"({summary['wall_s']:.1f} s)")
    return summary


def load_summary(out_dir: str | Path) -> dict:
    return json.loads((Path(out_dir) / "summary.json").read_text(encoding="utf-8"))


__all__ = ["run_report", "run_suite", "render_markdown", "check_out_dir", "load_summary"]
