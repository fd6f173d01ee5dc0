"""Figures redrawn from a sweep's roll-up table (results.json), never from a run's memory.

`aggregate` averages a result column over the rows that share the `by` columns (seeds, say),
with the standard error of the mean; `line_figure` draws y against x, one line per group.

    rows = load_table("runs/sweeps/cloning-demo")
    line_figure(aggregate(rows, ["d", "t_clone"], "agreement"), "t_clone", "agreement", group="d",
                yerr="agreement_sem", path="cloning.png")
"""
from __future__ import annotations

import math
from pathlib import Path

from syncgap.theory.checks import InputError


def _column(rows, name):
    if not any(name in r for r in rows):
        cols = sorted({k for r in rows for k in r})
        raise InputError(f"column {name!r} is not in the table (columns: {', '.join(cols)})")


def aggregate(rows: list[dict], by: list[str], value: str) -> list[dict]:
    """Mean, standard error of the mean and count of `value` per distinct `by` tuple (rows lacking it skipped)."""
    for c in (*by, value):
        _column(rows, c)
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        if r.get(value) is None or not all(c in r for c in by):
            continue
        groups.setdefault(tuple(r[c] for c in by), []).append(float(r[value]))
    out = []
    for key, vals in groups.items():
        n = len(vals)
        mean = sum(vals) / n
        sem = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1) / n) if n > 1 else None
        out.append({**dict(zip(by, key)), value: mean, f"{value}_sem": sem, "n": n})
    return out


def line_figure(rows: list[dict], x: str, y: str, group: str | None = None, yerr: str | None = None,
                path=None, title: str | None = None):
    """y against x, one line per value of `group`, error bars from the `yerr` column; saved to `path` if given."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for c in (x, y) + ((group,) if group else ()) + ((yerr,) if yerr else ()):
        _column(rows, c)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    keys = sorted({r.get(group) for r in rows}, key=str) if group else [None]
    for k in keys:
        pts = sorted((r for r in rows if (group is None or r.get(group) == k)
                      and r.get(x) is not None and r.get(y) is not None), key=lambda r: r[x])
        xs, ys = [r[x] for r in pts], [r[y] for r in pts]
        err = [r.get(yerr) or 0.0 for r in pts] if yerr else None
        ax.errorbar(xs, ys, yerr=err, marker="o", ms=3, capsize=2, label=f"{group}={k}" if group else None)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if title:
        ax.set_title(title)
    if group:
        ax.legend(frameon=False)
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
