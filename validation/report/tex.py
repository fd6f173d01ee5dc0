"""summary.tex: the report's checks as a LaTeX table for a paper (docs/science.md §7).

    \\usepackage{booktabs, longtable}     % in the paper's preamble
    \\input{summary.tex}

One row per check (the rows of summary.json and checks.csv): id, the claim it bears on and its role
(validation/claims/table.py), model, predicted, observed, the observation's interval, the unit and the
verdict. A longtable, so a long list breaks
across pages. Text is escaped for LaTeX; numbers keep four significant digits, like report.md.
"""
from __future__ import annotations

import math

from syncgap.validation.checks import Check, tally

_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_UNICODE = {"–": "--", "—": "---", "−": "-", "×": r"$\times$", "≤": r"$\le$", "≥": r"$\ge$", "±": r"$\pm$",
            "∞": r"$\infty$", "ρ": r"$\rho$", "η": r"$\eta$", "τ": r"$\tau$", "Λ": r"$\Lambda$", "½": r"1/2",
            "χ": r"$\chi$", "π": r"$\pi$", "σ": r"$\sigma$", "μ": r"$\mu$", "Δ": r"$\Delta$", "φ": r"$\phi$"}


def latex_escape(text: str) -> str:
    """`text` with LaTeX's special characters escaped and common Unicode symbols spelled for LaTeX."""
    out = "".join(_SPECIAL.get(ch, ch) for ch in str(text))
    return "".join(_UNICODE.get(ch, ch) for ch in out)


def latex_number(x: float | None) -> str:
    """A number to four significant digits, '--' for a missing value, $\\pm\\infty$ for an open end."""
    if x is None:
        return "--"
    x = float(x)
    if not math.isfinite(x):
        return r"$\infty$" if x > 0 else r"$-\infty$"
    return f"{x:.4g}".replace("e+0", "e").replace("e-0", "e-")


def render_latex(checks: list[Check], caption: str = "Predicted against observed: the checks of the syncgap validation report.") -> str:
    """The longtable of every check (booktabs rules)."""
    n = tally(checks)
    head = r"Check & Claim & Role & Model & Predicted & Observed & Interval & Unit & Verdict \\"
    lines = ["% syncgap validation report: the checks (written by `syncgap validate`; needs booktabs, longtable)",
             r"\begin{longtable}{llllrrlll}",
             rf"\caption{{{latex_escape(caption)} {n['pass']} of {len(checks)} pass, {n['fail']} fail, {n['n/a']} n/a.}}\label{{tab:syncgap-checks}}\\",
             r"\toprule", head, r"\midrule", r"\endfirsthead",
             r"\toprule", head, r"\midrule", r"\endhead",
             r"\bottomrule", r"\endfoot"]
    for c in checks:
        ci = "--" if c.ci is None else f"[{latex_number(c.ci[0])}, {latex_number(c.ci[1])}]"
        verdict = {"pass": "pass", "fail": r"\textbf{fail}", "n/a": r"n/a"}[c.verdict]
        lines.append(" & ".join([rf"\texttt{{{latex_escape(c.id)}}}", latex_escape(c.claim), latex_escape(c.role),
                                 latex_escape(c.model or "--"),
                                 latex_number(c.predicted), latex_number(c.observed), ci,
                                 latex_escape(c.unit or "--"), verdict]) + r" \\")
    lines.append(r"\end{longtable}")
    return "\n".join(lines) + "\n"


__all__ = ["render_latex", "latex_escape", "latex_number"]
