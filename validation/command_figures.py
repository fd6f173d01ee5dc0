"""Figures of single commands (`--plot FILE`), drawn only from the command's own JSON (docs/json.md).

    syncgap ou gap --g 0,0.5,1 --plot gap.png        # writes gap.json (the --json document) and gap.png

Each `plot_*` takes the path of a `--json` document (schema, meta, records, summary) and the PNG to
write, so the figure can be redrawn from that file alone:

    from syncgap.validation.command_figures import redraw
    redraw("gap.json", "gap_again.png")

Same style as the report's figures (validation/suites/ou/figures.py): Agg backend, matplotlib's default
colour cycle, 95% intervals as bands or error bars, no timestamps in the PNG.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from syncgap.theory.gated import routing_factor
from syncgap.validation.suites.ou.figures import save_figure, plt


def _finish(fig, png) -> None:
    fig.tight_layout()
    save_figure(fig, png)


def _doc(path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _rows(doc: dict, kind: str | None = None) -> list[dict]:
    return [r for r in doc["records"] if kind is None or r.get("kind") == kind]


def _num(values) -> np.ndarray:
    """Floats with null as NaN (matplotlib leaves a gap there)."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _errorbar(ax, rows: list[dict], x: str, name: str, **kw) -> None:
    """Points rows[name] against rows[x] with bars from the records' name_low .. name_high (null: no point)."""
    est, lo, hi = (_num([r[key] for r in rows]) for key in (name, f"{name}_low", f"{name}_high"))
    ax.errorbar(_num([r[x] for r in rows]), est, yerr=[np.abs(est - lo), np.abs(hi - est)], fmt="o", capsize=3, **kw)


def plot_ou_cloning(source: str | Path, png: str | Path) -> None:
    """`ou cloning`: agreement phi(t) with its band, the exact curve, the 0.75 level and t_S."""
    doc = _doc(source)
    rows = sorted(_rows(doc), key=lambda r: r["t_branch"])
    t = _num([r["t_branch"] for r in rows])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.fill_between(t, _num([r["ci_low"] for r in rows]), _num([r["ci_high"] for r in rows]), color="C0", alpha=0.25)
    ax.plot(t, _num([r["agreement"] for r in rows]), "o", ms=4, color="C0", label="simulation (95% band)")
    if all("agreement_theory" in r for r in rows):
        ax.plot(t, _num([r["agreement_theory"] for r in rows]), "-", color="C0", label="exact theory")
    s = doc.get("summary", {})
    ax.axhline(s.get("level", 0.75), color="grey", ls=":", lw=1)
    ax.axvline(s["t_S_theory"], color="C1", ls="--", lw=1, label="t_S = 1/2 log Lambda")
    if s.get("t_S_measured") is not None:
        ax.axvline(s["t_S_measured"], color="C2", ls="-.", lw=1, label="measured crossing")
    ax.set(xlabel="cloning time t (OU)", ylabel="agreement phi(t)", title=f"Cloning, d = {doc['meta']['d']}")
    ax.legend(fontsize=8)
    _finish(fig, png)


def plot_throughout(doc: dict, png: str | Path, unit: str, step: str) -> None:
    """Window 'throughout': the normalised replica difference along the run per `unit` (feature or scale)
    with each onset marked, one panel per g, and the gap in sampler steps against g."""
    diff, onsets, gaps = _rows(doc, "difference"), _rows(doc, "onset"), _rows(doc, "gap")
    gs = sorted({r["g"] for r in diff})
    fig, axes = plt.subplots(1, len(gs) + 1, figsize=(4.5 * (len(gs) + 1), 4), squeeze=False)
    for ax, g in zip(axes[0], gs):
        for i, u in enumerate(sorted({r[unit] for r in diff})):
            sel = sorted((r for r in diff if r["g"] == g and r[unit] == u), key=lambda r: r[step])
            ax.plot([r[step] for r in sel], _num([r["normalised_difference"] for r in sel]), "-", color=f"C{i}",
                    label=f"{unit} {u}")
            onset = next((o for o in onsets if o["g"] == g and o[unit] == u), {})
            value = onset.get("onset_dit_steps", onset.get("onset"))
            if value is not None:
                ax.axvline(value, color=f"C{i}", ls=":", lw=1)
        ax.set(xlabel="sampler step", ylabel="normalised replica difference", title=f"coupled throughout, g = {g:g}")
        ax.legend(fontsize=7)
    ax = axes[0][-1]
    _errorbar(ax, gaps, "g", "gap_steps", color="k", label="onset gap (95% CI)")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(xlabel="coupling g", ylabel="gap (sampler steps)", title="Gap between onsets (null: no onset)")
    ax.legend(fontsize=8)
    _finish(fig, png)


def plot_ou_gap(source: str | Path, png: str | Path) -> None:
    """`ou gap`: commitment time per feature (layer B) or per mode (layer A) against g, and the gap."""
    doc = _doc(source)
    if _rows(doc, "difference"):
        return plot_throughout(doc, png, "feature", "dit_step")
    layer_a = doc["meta"].get("layer") == "A"
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    groups = ("mode", "t_mode") if layer_a else ("commitment", "tau_spec")
    per = {}
    for r in _rows(doc, groups[0]):
        per.setdefault(r["mode" if layer_a else "feature"], []).append(r)
    for i, (k, rows) in enumerate(sorted(per.items())):
        name = groups[1]
        label = f"mode {k}" if layer_a else f"feature {k} (a = {rows[0]['amplitude']:g})"
        _errorbar(ax, rows, "g", name, color=f"C{i}", label=label)
        theory = "t_mode_theory" if layer_a else "onset_theory"
        if all(r.get(theory) is not None for r in rows):
            ax.plot(_num([r["g"] for r in rows]), _num([r[theory] for r in rows]), "--", color=f"C{i}", lw=1,
                    label=f"{label}: theory")
    ax.set(xlabel="coupling g", ylabel="commitment time (OU)", title="Commitment per " + ("mode" if layer_a else "feature"))
    ax.legend(fontsize=8)
    gaps = _rows(doc, "gap")
    steps = not layer_a and all("gap_dit_steps" in r for r in gaps)
    name = "gap_dit_steps" if steps else "gap"
    _errorbar(ax2, gaps, "g", name, color="k", label="measured (95% CI)")
    if layer_a and all("gap_theory" in r for r in gaps):
        ax2.plot(_num([r["g"] for r in gaps]), _num([r["gap_theory"] for r in gaps]), "--", color="C1", label="theory")
    ax2.axhline(0, color="grey", lw=0.8)
    ax2.set(xlabel="coupling g", ylabel="gap (DiT sampler steps)" if steps else "gap (OU time)", title="Synchronization gap")
    ax2.legend(fontsize=8)
    _finish(fig, png)


def plot_dit_measure(source: str | Path, png: str | Path) -> None:
    """`dit measure`: Protocol I agreement against t_int per scale and tau per scale; Protocol II per-layer shares."""
    doc = _doc(source)
    if _rows(doc, "difference"):
        return plot_throughout(doc, png, "scale", "step")
    if _rows(doc, "layer"):
        rows = _rows(doc, "layer")
        last = max(r["step"] for r in rows)
        fig, ax = plt.subplots(figsize=(6, 4))
        for i, g in enumerate(sorted({r["g"] for r in rows})):
            sel = sorted((r for r in rows if r["g"] == g and r["step"] == last), key=lambda r: r["layer"])
            ax.plot([r["layer"] for r in sel], _num([r["diff_fraction"] for r in sel]), "o-", color=f"C{i}", label=f"g = {g:g}")
        ax.set(xlabel="layer", ylabel="diff / (common + diff)", title=f"Protocol II, last recorded step {last}")
        ax.legend(fontsize=8)
        _finish(fig, png)
        return
    agreement, commitment = _rows(doc, "agreement"), _rows(doc, "commitment")
    gs = sorted({r["g"] for r in agreement})
    fig, axes = plt.subplots(1, len(gs) + 1, figsize=(4.5 * (len(gs) + 1), 4), squeeze=False)
    for ax, g in zip(axes[0], gs):
        for i, scale in enumerate(sorted({r["scale"] for r in agreement})):
            sel = sorted((r for r in agreement if r["g"] == g and r["scale"] == scale), key=lambda r: r["t_int"])
            ax.plot([r["t_int"] for r in sel], _num([r["agreement"] for r in sel]), "o-", ms=3, color=f"C{i}",
                    label=f"pool {scale}")
        ax.set(xlabel="t_int (sampler steps)", ylabel="agreement", title=f"Protocol I, g = {g:g}")
        ax.legend(fontsize=7)
    ax = axes[0][-1]
    for i, g in enumerate(gs):
        sel = sorted((r for r in commitment if r["g"] == g), key=lambda r: r["scale"])
        _errorbar(ax, sel, "scale", "tau", color=f"C{i}", label=f"g = {g:g}")
    if all(r["tau"] is None for r in commitment):
        ax.text(0.5, 0.5, "tau is null at every scale:\n" + commitment[0].get("tau_reason", "no value").replace(" (", "\n("),
                ha="center", va="center", transform=ax.transAxes, fontsize=8, wrap=True)
    ax.set_xscale("log", base=2)
    ax.set(xlabel="pool k (outputs pooled to k x k: 1 coarsest, largest finest)", ylabel="commitment tau (sampler steps)",
           title="tau per scale (95% CI)")
    ax.legend(fontsize=7)
    _finish(fig, png)


def plot_dit_gains(source: str | Path, png: str | Path) -> None:
    """`dit gains`: routing gain chi and pattern gain pi per mode frequency, one line per layer; predicted gap ratio."""
    doc = _doc(source)
    modes = _rows(doc, "mode")
    layers = sorted({r["layer"] for r in modes})
    fig, (ax, ax2, ax3) = plt.subplots(1, 3, figsize=(14, 4))
    for i, layer in enumerate(layers):
        sel = sorted((r for r in modes if r["layer"] == layer), key=lambda r: r["frequency"])
        f = _num([r["frequency"] for r in sel])
        ax.plot(f, _num([r["chi"] for r in sel]), "o-", ms=3, color=f"C{i % 10}", label=f"layer {layer}")
        ax2.plot(f, _num([r["pi"] for r in sel]), "o-", ms=3, color=f"C{i % 10}", label=f"layer {layer}")
    ax.set(xlabel="mode frequency", ylabel="routing gain chi", title="Routing gain per mode")
    ax2.set(xlabel="mode frequency", ylabel="pattern gain pi", title="Pattern gain per mode")
    ax.legend(fontsize=7)
    for i, direction in enumerate(("network", "top")):
        sel = sorted((r for r in _rows(doc, "prediction") if r["direction"] == direction), key=lambda r: r["g"])
        if sel:
            ax3.plot([r["g"] for r in sel], _num([r["gap_ratio"] for r in sel]), "o-", color=f"C{i}", label=direction)
    g = np.linspace(0, max([1.0] + [r["g"] for r in _rows(doc, "prediction")]), 100)
    ax3.plot(g, routing_factor(g), ":", color="grey", label="rho(g), eta = 0")
    ax3.axhline(0, color="grey", lw=0.8)
    ax3.set(xlabel="coupling g", ylabel="predicted gap(g) / gap(0)", title="Predicted gap ratio")
    ax3.legend(fontsize=7)
    _finish(fig, png)


def plot_dit_gate(source: str | Path, png: str | Path) -> None:
    """`dit gate`: rho_eff per feature against the sampler step (95% band), one panel per g, with the exact
    analog's rho(g) (dashed) and the small-perturbation reading rho_lin (dotted)."""
    doc = _doc(source)
    rows = _rows(doc, "response")
    gs = sorted({r["g"] for r in rows})
    feats = list(dict.fromkeys(r["feature"] for r in rows))
    fig, axes = plt.subplots(1, len(gs), figsize=(3.2 * len(gs), 3.4), squeeze=False, sharey=True)
    for ax, g in zip(axes[0], gs):
        for i, f in enumerate(feats):
            sel = sorted((r for r in rows if r["g"] == g and r["feature"] == f), key=lambda r: r["step"])
            s = [r["step"] for r in sel]
            ax.fill_between(s, _num([r["rho_eff_low"] for r in sel]), _num([r["rho_eff_high"] for r in sel]),
                            color=f"C{i}", alpha=0.2)
            ax.plot(s, _num([r["rho_eff"] for r in sel]), "-", color=f"C{i}", label=f)
            ax.plot(s, _num([r["rho_lin"] for r in sel]), ":", color=f"C{i}", lw=1)
        ax.axhline(routing_factor(g), color="grey", ls="--", lw=1, label="analog rho(g)")
        ax.set(xlabel="sampler step", title=f"g = {g:g}")
    axes[0][0].set_ylabel("rho_eff (gate on vs off)")
    axes[0][0].legend(fontsize=7)
    _finish(fig, png)


PLOTS = {"syncgap.dit.gate/1": plot_dit_gate, "syncgap.ou.cloning/1": plot_ou_cloning, "syncgap.ou.cloning/2": plot_ou_cloning,
         "syncgap.ou.gap/1": plot_ou_gap, "syncgap.ou.gap/2": plot_ou_gap,
         "syncgap.dit.measure/1": plot_dit_measure, "syncgap.dit.measure/2": plot_dit_measure,
         "syncgap.dit.gains/1": plot_dit_gains}


def redraw(source: str | Path, png: str | Path) -> None:
    """Draw the figure of any `--json` document that has one (chosen by its schema)."""
    schema = _doc(source)["schema"]
    if schema not in PLOTS:
        raise ValueError(f"no figure for schema {schema!r}; known: {', '.join(PLOTS)}")
    PLOTS[schema](source, png)


def write_and_plot(doc: dict, png: str | Path) -> tuple[str, str]:
    """Write `doc` (a --json document) as PNG-name.json beside `png`, then draw the PNG from that file."""
    from syncgap.validation.store import atomic_write_json
    png = Path(png)
    data = png.with_suffix(".json")
    atomic_write_json(data, doc)
    redraw(data, png)
    return str(data), str(png)


__all__ = ["plot_ou_cloning", "plot_ou_gap", "plot_dit_measure", "plot_dit_gains", "plot_dit_gate", "redraw", "write_and_plot", "PLOTS"]
