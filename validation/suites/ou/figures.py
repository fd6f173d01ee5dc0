"""Figures of the validation report, drawn only from saved data files (JSON), never from memory.

Each `fig_*` function takes the paths of the files it reads and the PNG to write, so any
figure can be redrawn from the report folder alone:

    from syncgap.validation.suites.ou import figures
    figures.fig_gap_vs_g(["runs/demo/ou/gap_law.json"], "gap.png")

Matplotlib runs on the Agg backend; PNGs carry no timestamp, so a redraw is byte-identical.
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from syncgap.theory.gated import routing_factor  # noqa: E402
from syncgap.theory.intervals import read_triple  # noqa: E402
from syncgap.validation.legacy import upgrade_ou_cell  # noqa: E402
from syncgap.validation.suites.result import Figure

_META = {"Software": None}


def _load(path) -> dict:
    """The result of an OU cell file (or the gap law), in today's encoding (validation.legacy)."""
    record = json.loads(Path(path).read_text(encoding="utf-8"))
    return upgrade_ou_cell(Path(path).stem, record.get("result", record))


def _arr(x):
    return np.array([np.nan if v is None else v for v in x], dtype=float) if x is not None else None


def save_figure(fig, png) -> None:
    Path(png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=90, metadata=_META)
    plt.close(fig)


def fig_cloning(sources, png) -> None:
    """Base theory: simulated cloning agreement with its band against theory.base.cloning_agreement, per d."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, s in enumerate(sources):
        c = _load(s)
        t = _arr(c["t_branch"])
        o = np.argsort(t)
        ax.fill_between(t[o], _arr(c["agreement_low"])[o], _arr(c["agreement_high"])[o], color=f"C{i}", alpha=0.25)
        ax.plot(t, _arr(c["agreement"]), "o", ms=4, color=f"C{i}", label=f"simulation, d = {c['d']}")
        ax.plot(t[o], _arr(c["phi_theory"])[o], "-", color=f"C{i}", label=f"exact theory, d = {c['d']}")
        ax.axvline(c["t_S_theory"], color=f"C{i}", ls="--", lw=1)
    ax.axhline(0.75, color="grey", ls=":", lw=1, label="level 0.75 (crossing times read here)")
    ax.axhline(0.5, color="0.5", ls="--", lw=0.8, label="chance (independent replicas)")
    ax.set(xlabel="cloning time t (OU)", ylabel="agreement phi(t) (band: 95%)", title="Cloning; dashed: t_S = 1/2 log d")
    ax.legend(fontsize=8)
    save_figure(fig, png)


def fig_collapse(sources, png) -> None:
    """Collapse: histogram of lock times per (n, d), with Biroli's t_C."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, s in enumerate(sources):
        k = _load(s)
        e, n = _arr(k["hist_edges"]), _arr(k["hist_counts"])
        ax.stairs(n / max(n.sum(), 1), e, label=f"n={k['n_train']}, d={k['d']}", color=f"C{i}")
        ax.axvline(k["t_collapse_theory"], color=f"C{i}", ls="--", lw=1)
    ax.set(xlabel="lock time (OU)", ylabel="fraction of paths", title="Collapse: lock time vs t_C (dashed)")
    ax.legend(fontsize=8)
    save_figure(fig, png)


def fig_layer_a(sources, png) -> None:
    """Layer A: per-mode crossing times against g, measured (bars) and theory (lines)."""
    cells = sorted((_load(s) for s in sources), key=lambda c: c["g"])
    g = np.array([c["g"] for c in cells])
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for m, label in enumerate(("common", "difference")):
        est = np.array([read_triple(c["modes"][m], "t075") for c in cells], dtype=float)
        ax.errorbar(g, est[:, 0], yerr=[est[:, 0] - est[:, 1], est[:, 2] - est[:, 0]], fmt="o", color=f"C{m}",
                    label=f"{label}: sim phi=0.75")
        ax.plot(g, [c["modes"][m]["t075_theory"] for c in cells], "-", color=f"C{m}", label=f"{label}: exact")
        ax.plot(g, [c["modes"][m]["t_S_theory"] for c in cells], "--", color=f"C{m}", label=f"{label}: t_S^m")
    ax.set(xlabel="g", ylabel="OU time", title="Layer A: per-mode speciation")
    ax.legend(fontsize=7)
    gl = [c for c in cells if "gap_level" in c]
    if gl:
        e = np.array([read_triple(c, "gap_level") for c in gl], dtype=float)
        gg = np.array([c["g"] for c in gl])
        ax2.errorbar(gg, e[:, 0], yerr=[e[:, 0] - e[:, 1], e[:, 2] - e[:, 0]], fmt="o", label="simulation")
    ax2.plot(g, [c["gap_t_S_theory"] for c in cells], "-", label="theory.coupled_ou gap")
    ax2.axvline(cells[0]["stability"]["common_speciates_below"], color="k", ls=":", label="stability bound")
    ax2.set(xlabel="g", ylabel="gap (OU time)", title="Layer A: synchronization gap")
    ax2.legend(fontsize=7)
    save_figure(fig, png)


def fig_layer_b_onsets(sources, png) -> None:
    """Layer B: drift growth rate of the replica difference per feature, with theory's onsets."""
    cells = sorted((_load(s) for s in sources), key=lambda c: c["g"])
    fig, axes = plt.subplots(1, len(cells), figsize=(5 * len(cells), 4), squeeze=False)
    for ax, c in zip(axes[0], cells):
        t = _arr(c["t"])
        rd = np.array(c["rate_drift"], dtype=float)
        low, high = np.array(c["rate_drift_low"], dtype=float), np.array(c["rate_drift_high"], dtype=float)
        for k, f in enumerate(c["features"]):
            ax.plot(t, rd[:, k], color=f"C{k}", label=f"{f}: simulation")
            ax.fill_between(t, low[:, k], high[:, k], color=f"C{k}", alpha=0.2)
            if c["onset_theory"][k] is not None:
                ax.axvline(c["onset_theory"][k], color=f"C{k}", ls="--", lw=1, label=f"{f}: theory onset")
        ax.axhline(0, color="k", lw=0.8)
        ax.set(xlabel="t (OU)", ylabel="drift rate of difference", title=f"Layer B onsets, g = {c['g']:g}",
               ylim=(-6, 3))
        ax.legend(fontsize=7)
    save_figure(fig, png)


def fig_gap_vs_g(sources, png) -> None:
    """Layer B: Protocol I gap against g, routing law, fitted law, residuals and critical g (gap_law.json)."""
    L = _load(sources[0])
    g, est = _arr(L["g"]), _arr(L["gap"])
    lo, hi = _arr(L["gap_low"]), _arr(L["gap_high"])
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(7, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    x = np.concatenate([[0.0], g])
    ax.errorbar(x, np.concatenate([[L["gap0"]], est]),
                yerr=[np.concatenate([[L["gap0"] - L["gap0_low"]], np.nan_to_num(est - lo)]),
                      np.concatenate([[L["gap0_high"] - L["gap0"]], np.nan_to_num(hi - est)])],
                fmt="o", color="k", label="measured (g=0: cloning; g>0: Protocol I)")
    gg = np.geomspace(1e-3, max(x.max(), 1.0), 200)
    rho = routing_factor(gg)                                   # (200,)
    ax.plot(gg, L["gap0"] * rho, "-", color="C0", label="routing law gap0 rho(g)")
    if L.get("eta") is not None:
        e = L["eta"]
        ax.plot(gg, L["gap0"] * (rho + e) / (1 + e), "--", color="C1", label=f"fitted, eta = {e:.3g}")
    ax.axhline(1.0, color="grey", ls=":", label="one sampler step")
    if L.get("critical_g") is not None:
        ax.axvline(L["critical_g"], color="C3", ls="-.", label=f"observed critical g = {L['critical_g']:.3g}")
    if L.get("critical_g_theory") is not None:
        ax.axvline(L["critical_g_theory"], color="C0", ls=":", label=f"predicted g* = {L['critical_g_theory']:.3g}")
    ax.set(ylabel="gap (DiT sampler steps)", xscale="symlog", title="Gated OU: gap against coupling g")
    ax.set_xscale("symlog", linthresh=0.1)
    ax.legend(fontsize=7)
    if L.get("residuals") is not None:
        ax2.plot(g, _arr(L["residuals"]), "o", color="C1", label="measured - fitted")
        ax2.plot(g, _arr(L["residuals_routing"]), "x", color="C0", label="measured - routing law")
        ax2.legend(fontsize=7)
    ax2.axhline(0, color="k", lw=0.8)
    ax2.set(xlabel="g", ylabel="residual (steps)")
    save_figure(fig, png)


def draw_ou(root, out_dir) -> list[Figure]:
    """Draw the OU suite's figures from the cell files under `root`; paths relative to `out_dir`."""
    root, out_dir = Path(root), Path(out_dir)
    rel = lambda p: str(Path(p).relative_to(out_dir))
    figs = []

    def one(func, sources, name, caption):
        sources = [p for p in sources if Path(p).is_file()]
        if not sources:
            return
        png = root / name
        func([str(p) for p in sources], str(png))
        figs.append(Figure(rel(png), caption, [rel(p) for p in sources]))

    one(fig_cloning, sorted(root.glob("base_cloning_d*.json"), key=lambda p: int(p.stem.split("_d")[-1])),
        "fig_cloning.png", "Base theory: cloning agreement phi(t), simulation (band: 95%) vs exact theory, per d; "
        "t_S = 1/2 log d dashed.")
    one(fig_collapse, sorted(root.glob("collapse_*.json")), "fig_collapse.png",
        "Collapse: lock times of the empirical-score sampler; dashed: theory.base.collapse_time.")
    one(fig_layer_a, sorted(root.glob("layer_a_*.json")), "fig_layer_a.png",
        "Layer A: per-mode phi = 0.75 crossings against g (bars: simulation; lines: exact, dashed: t_S^m) and the gap.")
    one(fig_layer_b_onsets, sorted(root.glob("layer_b_energy_*.json")), "fig_layer_b_onsets.png",
        "Layer B: drift growth rate of the replica difference per feature (band: 95%), theory.gated onsets dashed; "
        "generation runs from right (large t) to left.")
    one(fig_gap_vs_g, [root / "gap_law.json"], "fig_gap_vs_g.png",
        "Gated OU: gap against g in DiT sampler steps, the routing law gap0 rho(g), the fitted law, residuals "
        "and the critical g.")
    return figs


FIGURES = {"fig_cloning.png": fig_cloning, "fig_collapse.png": fig_collapse, "fig_layer_a.png": fig_layer_a,
           "fig_layer_b_onsets.png": fig_layer_b_onsets, "fig_gap_vs_g.png": fig_gap_vs_g}

__all__ = ["fig_cloning", "fig_collapse", "fig_layer_a", "fig_layer_b_onsets", "fig_gap_vs_g", "draw_ou", "FIGURES"]
