"""The causal depth test's figure (validation/suites/dit/causal.py), drawn from its analysis.json only."""
from __future__ import annotations

import json

import numpy as np


def _drawn_gap(x: dict, reference_gap):
    """The gap drawn for a set: its own; the reference's for a set with no effect (shift 0); None without one."""
    return reference_gap if x.get("no_effect") else x["gap"]


def draw(ana_path: str, png_path: str) -> None:
    """gap(k) for last-k and first-k with the random-set null, the reference and every-layer gaps as lines;
    a set with no effect is drawn hollow at the reference gap (its shift is 0 by convention)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    with open(ana_path, encoding="utf-8") as f:
        ana = json.load(f)
    rows = ana["rows"]
    fig, axes = plt.subplots(1, len(rows), figsize=(5.2 * len(rows), 3.8), squeeze=False)
    for ax, row in zip(axes[0], rows):
        by = {x["label"]: x for x in row["sets"]}
        ref = by.get("reference", by.get("none"))
        ks = sorted({x["k"] for x in row["sets"] if x["kind"] == "random"})
        if ks:
            null = [[v for x in row["sets"] if x["kind"] == "random" and x["k"] == k
                     if (v := _drawn_gap(x, ref["gap"])) is not None] for k in ks]
            lo = [min(v) if v else np.nan for v in null]
            hi = [max(v) if v else np.nan for v in null]
            if ks == list(range(ks[0], ks[0] + len(ks))) and len(ks) > 3:   # every k: a band
                ax.fill_between(ks, lo, hi, color="0.85", label="random k-sets (range)")
            else:                                                          # a few k: one bar each
                ax.vlines(ks, lo, hi, color="0.75", lw=8, label="random k-sets (range)")
            for k, v in zip(ks, null):
                ax.plot([k] * len(v), v, ".", color="0.4", ms=4)
        for kind, colour, dx in (("last", "C3", 0.08), ("first", "C0", -0.08)):
            pts = [x for x in row["sets"] if x["kind"] == kind and _drawn_gap(x, ref["gap"]) is not None]
            if pts:
                y = np.array([_drawn_gap(x, ref["gap"]) for x in pts])
                err = np.array([[0.0, 0.0] if x.get("no_effect") else
                                [y[i] - (x["gap_low"] if x["gap_low"] is not None else y[i]),
                                 (x["gap_high"] if x["gap_high"] is not None else y[i]) - y[i]]
                                for i, x in enumerate(pts)]).T
                ax.errorbar([x["k"] + dx for x in pts], y, yerr=err, fmt="none", ecolor=colour, capsize=3)
                ax.scatter([x["k"] + dx for x in pts], y, s=30, label=f"{kind} k coupled", zorder=3,
                           facecolors=["none" if x.get("no_effect") else colour for x in pts], edgecolors=colour)
        for x, style, label in ((ref, ":", f"gap, {ana['reference']}"), (by["all"], "--", "gap, every layer")):
            if x["gap"] is not None:
                ax.axhline(x["gap"], color="k", ls=style, lw=1, label=label)
        ax.set_xlim(0, ana["n_layers"] + 1)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_xlabel(f"k (layers coupled, of {ana['n_layers']}); hollow: no effect")
        ax.set_ylabel("gap (sampler steps)")
        ax.set_title(f"{ana['model']}, {ana['window']}, g = {row['g']:g}" + ("" if row["moves"] else " (empty test)"),
                     fontsize=9)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no gap to draw: a unit has no value", transform=ax.transAxes, ha="center")
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)


__all__ = ["draw"]
