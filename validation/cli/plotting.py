"""`--plot FILE` of every command, and the pieces its figures share.

    syncgap ou gap --g 0,0.5,1 --plot gap.png        # writes gap.json (the --json document) and gap.png

A command's figure is drawn only from its own `--json` document (docs/json.md), written beside the PNG, so
it can be redrawn from that file alone (`validation.cli.redraw.redraw`). Each command's module holds its
`plot_*(source, png)`; this module holds the flag, the JSON-then-PNG step and the drawing helpers. Same
style as the report's figures (validation/suites/ou/figures.py): Agg backend, matplotlib's default colour cycle, 95%
intervals as bands or error bars, no timestamps in the PNG. matplotlib (the `validation` extra) is imported
only when a figure is drawn, so `syncgap --help` and the commands without --plot run without it.
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from syncgap.theory.checks import InputError

PLOT_HELP = ("draw this command's figure to FILE (.png) from its own --json document, which is written "
             "beside it as FILE with .json (redraw later: validation.cli.redraw.redraw)")


def add_plot_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plot", metavar="FILE", default=None, help=PLOT_HELP)


def check_plot(args: argparse.Namespace) -> None:
    """Fail before any work when --plot names no .png file in a folder that can be written."""
    import os

    path = getattr(args, "plot", None)
    if path is None:
        return
    if not str(path).lower().endswith(".png"):
        raise InputError(f"--plot {path!r}: give a file name ending in .png")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise InputError(f"--plot {path!r}: folder {folder!r} does not exist or is not writable")


def plot_if_asked(args: argparse.Namespace, doc: dict, plot: Callable[[Path, Path], None]) -> None:
    """With --plot FILE: write FILE.json (the document) and draw FILE from it with `plot`; say where on stderr."""
    if getattr(args, "plot", None) is None:
        return
    import sys

    data, png = write_and_plot(doc, args.plot, plot)
    print(f"figure: {png} (drawn from {data})", file=sys.stderr)


def write_and_plot(doc: dict, png: str | Path, plot: Callable[[Path, Path], None]) -> tuple[str, str]:
    """Write `doc` (a --json document) as PNG-name.json beside `png`, then draw the PNG from that file."""
    from syncgap.validation.store import atomic_write_json
    png = Path(png)
    data = png.with_suffix(".json")
    atomic_write_json(data, doc)
    plot(data, png)
    return str(data), str(png)


def pyplot():
    """matplotlib.pyplot on the Agg backend (validation.suites.ou.figures), imported when a figure is drawn."""
    from syncgap.validation.suites.ou.figures import plt
    return plt


def finish(fig, png) -> None:
    """Lay out `fig` and save it to `png` (validation.suites.ou.figures.save_figure: no timestamps)."""
    from syncgap.validation.suites.ou.figures import save_figure
    fig.tight_layout()
    save_figure(fig, png)


def load_doc(path) -> dict:
    """The --json document at `path`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def records_of(doc: dict, kind: str | None = None) -> list[dict]:
    """The document's records, those of `kind` only when given."""
    return [r for r in doc["records"] if kind is None or r.get("kind") == kind]


def as_floats(values) -> np.ndarray:
    """Floats with null as NaN (matplotlib leaves a gap there)."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def errorbar(ax, rows: list[dict], x: str, name: str, **kw) -> None:
    """Points rows[name] against rows[x] with bars from the records' name_low .. name_high (null: no point)."""
    est, lo, hi = (as_floats([r[key] for r in rows]) for key in (name, f"{name}_low", f"{name}_high"))
    ax.errorbar(as_floats([r[x] for r in rows]), est, yerr=[np.abs(est - lo), np.abs(hi - est)], fmt="o", capsize=3, **kw)


def plot_throughout(doc: dict, png: str | Path, unit: str, step: str) -> None:
    """Window 'throughout': the normalised replica difference along the run per `unit` (feature or scale)
    with each onset marked, one panel per g, and the gap in sampler steps against g."""
    plt = pyplot()
    diff, onsets, gaps = records_of(doc, "difference"), records_of(doc, "onset"), records_of(doc, "gap")
    gs = sorted({r["g"] for r in diff})
    fig, axes = plt.subplots(1, len(gs) + 1, figsize=(4.5 * (len(gs) + 1), 4), squeeze=False)
    for ax, g in zip(axes[0], gs):
        for i, u in enumerate(sorted({r[unit] for r in diff})):
            sel = sorted((r for r in diff if r["g"] == g and r[unit] == u), key=lambda r: r[step])
            ax.plot([r[step] for r in sel], as_floats([r["normalised_difference"] for r in sel]), "-", color=f"C{i}",
                    label=f"{unit} {u}")
            onset = next((o for o in onsets if o["g"] == g and o[unit] == u), {})
            value = onset.get("onset_dit_steps", onset.get("onset"))
            if value is not None:
                ax.axvline(value, color=f"C{i}", ls=":", lw=1)
        ax.set(xlabel="sampler step", ylabel="normalised replica difference", title=f"coupled throughout, g = {g:g}")
        ax.legend(fontsize=7)
    ax = axes[0][-1]
    errorbar(ax, gaps, "g", "gap_steps", color="k", label="onset gap (95% CI)")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(xlabel="coupling g", ylabel="gap (sampler steps)", title="Gap between onsets (null: no onset)")
    ax.legend(fontsize=8)
    finish(fig, png)
