"""Redraw the figure of any command's `--json` document, chosen by its schema (docs/json.md).

    from syncgap.validation.cli.redraw import redraw
    redraw("gap.json", "gap_again.png")          # gap.json: written by `syncgap ou gap ... --plot gap.png`
"""
from __future__ import annotations

from pathlib import Path

from .dit.gains import plot_gains
from .dit.gate import plot_gate
from .dit.measure import plot_measure
from .ou.cloning import plot_cloning
from .ou.gap import plot_gap
from .plotting import load_doc

# schema of a --json document -> the function that draws its figure (source JSON, PNG)
PLOTS = {"syncgap.dit.gate/1": plot_gate, "syncgap.ou.cloning/1": plot_cloning, "syncgap.ou.cloning/2": plot_cloning,
         "syncgap.ou.gap/1": plot_gap, "syncgap.ou.gap/2": plot_gap,
         "syncgap.dit.measure/1": plot_measure, "syncgap.dit.measure/2": plot_measure,
         "syncgap.dit.gains/1": plot_gains}


def redraw(source: str | Path, png: str | Path) -> None:
    """Draw the figure of any `--json` document that has one (chosen by its schema)."""
    schema = load_doc(source)["schema"]
    if schema not in PLOTS:
        raise ValueError(f"no figure for schema {schema!r}; known: {', '.join(PLOTS)}")
    PLOTS[schema](source, png)
