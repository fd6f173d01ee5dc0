"""report.md: the scoreboard, how to read a check, the glossary, then each suite's findings with their checks
and figures (docs/science.md §7).

    markdown = render_markdown(results, quick, out_dir, notes, board)   # results: [(SuiteResult, wall seconds)]
"""
from __future__ import annotations

import math
from pathlib import Path

from syncgap.validation.checks import tally
from syncgap.validation.claims.rules import chance_allowance, section_badge
from syncgap.validation.claims.scoreboard import scoreboard, scoreboard_markdown
from syncgap.validation.claims.table import ROLES, UNASSIGNED
from syncgap.validation.report.glossary import GLOSSARY, HOW_TO_READ, SOURCE_PAPER, SUITE_TITLES
from syncgap.validation.suites.result import SuiteResult


def _fmt(x) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        if not math.isfinite(x):
            return "∞" if x > 0 else "−∞"
        return f"{x:.4g}"
    return str(x)


MARKS = {"pass": "✅", "fail": "❌", "n/a": "➖"}   # report/html.py reads these marks back


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _ci_text(ci) -> str:
    return "–" if ci is None else f"[{_fmt(ci[0])}, {_fmt(ci[1])}]"


def role_counts(checks) -> str:
    """'claim: 4 pass, 5 fail, 10 n/a; theory: …' over the roles present (validation.claims.table.ROLES)."""
    parts = []
    for role in (*ROLES, UNASSIGNED):
        k = tally([c for c in checks if c.role == role])
        if sum(k.values()):
            parts.append(f"{role} {k['pass']} pass, {k['fail']} fail, {k['n/a']} n/a")
    return "; ".join(parts)


BADGE_WORDS = {"pass": "✅ pass", "fail": "❌ fail", "n/a": "➖ n/a", None: "no claim check"}


def badge_line(checks) -> str:
    """A finding's badge: its claim checks' verdict (validation.claims.rules.section_badge), with the counts per role."""
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
    """report.md from the suites' records: the scoreboard (`board`, validation.claims.scoreboard) first, then `notes`
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
