"""The record every theory module exposes for LaTeX output and docs/theory.md.

Each module defines `formulas() -> tuple[Formula, ...]` (cached, since SymPy work
is not free), returning its derived expressions in final form. The docs generator
and `syncgap theory --latex` read only these records, so the documentation is
generated from the same SymPy objects the numeric functions are lambdified from.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp


@dataclass(frozen=True)
class Formula:
    """A derived quantity in final symbolic form, with its assumptions and source."""

    name: str           # the numeric function's name, e.g. "speciation_time"
    expr: sp.Basic      # final form (an Expr, Eq, or Matrix)
    assumptions: str    # conventions and domain, in words
    section: str        # docs/science.md section, e.g. "§3"
    note: str = ""      # where our derivation departs from docs/science.md, etc.

    def latex(self) -> str:
        return sp.latex(self.expr)
