"""Figures of the depth finding, drawn only from a model's depth.json (validation/suites/dit/depth/finding.py).

    draw_depth_figures(depth_json) -> [(png path, caption), ...]
"""
from __future__ import annotations

import json
import os

import numpy as np

from syncgap.theory.intervals import read_triples

from syncgap.validation.suites.dit.figures import save_figure


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _iv(rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(estimate, low, high) arrays from [[est, lo, hi], ...]; None -> NaN."""
    a = np.asarray([[np.nan if v is None else float(v) for v in r] for r in rows], float).reshape(-1, 3)
    return a[:, 0], a[:, 1], a[:, 2]


def _integer_layers(ax, n_states: int) -> None:
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=min(n_states, 15)))
    ax.set_xlim(-0.5, n_states - 0.5)
    ax.set_xlabel("layer (0 = block input x_t, l = after block l)")


def _line_band(ax, x, rows, label, color, marker="o"):
    est, lo, hi = _iv(rows)
    ax.plot(x, est, marker + "-", ms=3, color=color, label=label)
    ax.fill_between(x, np.where(np.isfinite(lo), lo, est), np.where(np.isfinite(hi), hi, est), color=color,
                    alpha=0.2, lw=0)


def draw_probes(a: dict, png: str) -> None:
    """tau_l(global), tau_l(local); gap_l with P2's claimed region and the first resolved layer; probe gain per feature."""
    plt = _plt()
    n = len(a["gap"])
    x = np.arange(n)
    fig, (ax_t, ax_g, ax_p, ax_b) = plt.subplots(1, 4, figsize=(20, 3.9))
    acc, steps = np.asarray(a["accuracy"], float), np.asarray(a["probe_steps"], float)   # (L + 1, S_p, F)
    for k, lab in enumerate(a["features"]):
        ax_b.plot(steps, acc[0, :, k], "o-", ms=3, color=f"C{k}", label=f"{lab}: layer 0 (x_t)")
        ax_b.plot(steps, acc[-1, :, k], "s:", ms=3, color=f"C{k}", label=f"{lab}: last layer")
        if "bayes_ceiling" in a:
            ax_b.plot(steps, np.asarray(a["bayes_ceiling"], float)[:, k], "--", lw=1.8, color=f"C{k}", alpha=0.6,
                      label=f"{lab}: Bayes ceiling from x_t" if k == 0 else None)
    ax_b.axhline(a["chance"], color="0.5", lw=0.8, ls="--")
    ax_b.set_xlabel("sampler step")
    ax_b.set_ylabel("held-out probe accuracy")
    ax_b.set_title("probes against the Bayes ceiling (dashed): no layer can exceed it", fontsize=9)
    ax_b.legend(fontsize=6, ncol=2)
    coarse, fine = a.get("gap_features") or [a["features"][0], a["features"][-1]]
    _line_band(ax_t, x, read_triples(a, "tau_global"), f"tau_l({coarse}), global", "C0")
    _line_band(ax_t, x, read_triples(a, "tau_local"), f"tau_l({fine}), local", "C3")
    ax_t.set_ylabel(f"commitment step (probe accuracy crosses {a['level']:g})")
    ax_t.set_title(f"{a['model']}: per-layer commitment (bands: 95% over pairs)", fontsize=9)
    _line_band(ax_g, x, read_triples(a, "gap"), "gap_l = tau_l(local) - tau_l(global)", "k")
    if a.get("gap_change"):
        _line_band(ax_g, x, read_triples(a, "gap_change"), "gap_l - gap_0 (change from the input x_t)", "C2", marker="s")
    ax_g.axhline(0, color="0.5", lw=0.8, ls="--", label="no gap")
    pred = a["predicted_first_layer"]
    ax_g.axvspan(pred - 0.5, n - 0.5, color="C1", alpha=0.12, label=f"P2: last ~5 of 28 layers, scaled (>= {pred})")
    first = a["first_resolved_layer"]
    if first is not None:
        ax_g.axvline(first, color="C3", ls=":", label=f"first resolved layer: {first}")
    emerged = first if first is None or first > 0 else a.get("first_changed_layer")
    if emerged is not None and emerged != first:
        ax_g.axvline(emerged, color="C2", ls="-.", label=f"gap first changes from the input's: {emerged}")
    ax_g.set_ylabel("gap (sampler steps)")
    ax_g.set_title("per-layer gap: resolved where the band excludes 0", fontsize=9)
    for k, lab in enumerate(a["features"]):
        _line_band(ax_p, x, [g[k] for g in read_triples(a, "gain")], lab, f"C{k}")
    ax_p.axhline(0, color="0.5", lw=0.8, ls="--", label="no gain over x_t (chance of the gain)")
    ax_p.set_ylabel("accuracy gain over layer 0, mean over probed steps")
    ax_p.set_title(f"probe of each feature's final sign (accuracy chance {a['chance']:g})", fontsize=9)
    for ax in (ax_t, ax_g, ax_p):
        _integer_layers(ax, n)
        ax.legend(fontsize=7)
    save_figure(fig, png, plt)


def draw_increments(a: dict, png: str) -> None:
    """Global share of each block increment's replica difference per layer, per step window, with its chance level."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.9))
    for w, (rows, (s0, s1)) in enumerate(zip(read_triples(a, "share"), a["windows"])):
        _line_band(ax, np.arange(1, len(rows) + 1), rows, f"steps {s0}-{s1}", f"C{w}")
    ax.axhline(a["chance_share"], color="0.3", ls="--", lw=1,
               label=f"chance (isotropic difference): {a['chance_share']:.3g}")
    ax.set_ylim(0, 1)
    _integer_layers(ax, len(a["share"][0]) + 1)
    ax.set_xlim(0.5, len(a["share"][0]) + 0.5)
    ax.set_xlabel("block l (its increment h_out - h_in)")
    ax.set_ylabel("global share of |d_l|^2 (token DCT indices <= 2)")
    ax.set_title(f"{a['model']}: what each block adds to the replica difference (bands: 95% over pairs)", fontsize=9)
    ax.legend(fontsize=7)
    save_figure(fig, png, plt)


def draw_layer_modes(a: dict, png: str) -> None:
    """q against the step for the gap's two features at every state, the exact ends dashed; commitment step and
    gap per state with the exact ends as the points the layers run between."""
    plt = _plt()
    lm = a["layer_modes"]
    states, groups, steps = lm["states"], lm["groups"], np.asarray(lm["steps"], float)
    q = np.asarray([[[np.nan if v is None else v for v in g] for g in st] for st in lm["q"]], float)  # (st, G, S)
    feats = [lm["coarse"]] + ([lm["fine"]] if lm["fine"] else [])
    fig, axes = plt.subplots(1, len(feats) + 2, figsize=(5 * (len(feats) + 2), 3.9))
    cmap = plt.get_cmap("viridis")
    n = len(states) - 4
    for ax, feat in zip(axes, feats):
        g = groups.index(feat)
        for si in range(1, n + 2):
            ax.plot(steps, q[si, g], color=cmap(si / (n + 1)), lw=0.8, label="h_0 .. h_L (colour: depth)"
                    if si == 1 else None)
        ax.plot(steps, q[0, g], "k--", lw=1.5, label="x_t (exact input)")
        ax.plot(steps, q[-2, g], color="C1", lw=1.5, label="network x0_hat")
        ax.plot(steps, q[-1, g], "r--", lw=1.5, label="E[x_0|x_t] (exact output)")
        ax.set_xlabel("sampler step")
        ax.set_ylabel("normalised replica difference q")
        ax.set_title(f"{a['model']}: {feat}'s token modes, every layer", fontsize=9)
        ax.legend(fontsize=7)
    x = np.arange(len(states))
    ax_t, ax_g = axes[-2], axes[-1]
    for k, feat in enumerate(groups[:len(a["features"])]):
        _line_band(ax_t, x, [st[k] for st in read_triples(lm, "tau")], feat, f"C{k}")
    _line_band(ax_g, x, read_triples(lm, "gap"), f"gap tau({lm['fine']}) - tau({lm['coarse']})", "k")
    ax_g.axhline(0, color="0.5", lw=0.8, ls="--")
    pred = a["predicted_first_layer"] + 1   # state index of h_l is l + 1
    for ax in (ax_t, ax_g):
        ax.axvspan(pred - 0.5, n + 1.5, color="C1", alpha=0.1, label="P2: last ~5 of 28, scaled")
        ax.axvline(0, color="k", ls="--", lw=0.8)
        ax.axvline(len(states) - 1, color="r", ls="--", lw=0.8)
        ax.set_xticks([0, 1, n + 1, n + 2, n + 3], ["x_t", "h_0", f"h_{n}", "x0_hat", "exact"], fontsize=7)
        ax.set_xlabel("state (x_t, h_0 .. h_L, network output, exact output)")
        ax.legend(fontsize=7)
    ax_t.set_ylabel("commitment step (logistic midpoint of q)")
    ax_t.set_title("per-layer commitment step (95% over pairs)", fontsize=9)
    ax_g.set_ylabel("gap (sampler steps)")
    ax_g.set_title("per-layer gap between the exact ends" if lm["fine"] else
                   "per-layer gap: no fine feature rises at the exact output", fontsize=9)
    save_figure(fig, png, plt)


def draw_attribution(a: dict, png: str) -> None:
    """Each block's total share (band) and direct share (dashed) of the output difference on the gap's features."""
    plt = _plt()
    at = a["attribution"]
    feats = a.get("gap_features") or [at["features"][0], at["features"][-1]]
    fig, axes = plt.subplots(1, len(feats), figsize=(6.5 * len(feats), 3.9), squeeze=False)
    n = len(at["total"])
    x = np.arange(1, n + 1)
    for ax, feat in zip(axes[0], feats):
        k = at["features"].index(feat)
        _line_band(ax, x, [blk[k] for blk in read_triples(at, "total")], "total share (rest of the network, JVP)", "C0")
        est, _, _ = _iv([blk[k] for blk in read_triples(at, "direct")])
        ax.plot(x, est, "--", color="C3", lw=1, label="direct share (through the head only)")
        clos = read_triples(at, "closure_error")[k]
        ax.axhline(0, color="0.5", lw=0.8)
        pred = a["predicted_first_layer"]
        ax.axvspan(pred - 0.5, n + 0.5, color="C1", alpha=0.12, label="P2: last ~5 of 28, scaled")
        _integer_layers(ax, n + 1)
        ax.set_xlim(0.5, n + 0.5)
        ax.set_xlabel("block l (its increment difference pushed to the output)")
        ax.set_ylabel(f"share of the output difference on {feat}")
        ax.set_title(f"{a['model']}: {feat}; input share {at['input'][k]:.2f}, closure error "
                     f"{clos[0]:.2g} (95% bands over pairs)", fontsize=9)
        ax.legend(fontsize=7)
    save_figure(fig, png, plt)


def draw_ablation(a: dict, png: str) -> None:
    """Per ablated block the effect (-shift of the commitment step / energy removed) with its interval: the last
    k, the first k and the random blocks (the null) in three colours."""
    plt = _plt()
    ab = a["ablation"]
    loc = ab["localisation"]
    n, k = a["n_layers"], loc["k"]
    fig, ax = plt.subplots(figsize=(7, 3.9))
    for b, row in zip(ab["blocks"], read_triples(ab, "effect")):
        if row[0] is None:
            continue
        c = "C3" if b >= n - k else "C0" if b < k else "0.5"
        lo, hi = (row[0] if v is None else v for v in row[1:])
        ax.errorbar([b + 1], [row[0]], yerr=[[row[0] - lo], [hi - row[0]]], fmt="o", color=c, ms=4)
    for c, lab in (("C3", f"last {k}"), ("C0", f"first {k}"), ("0.5", "random blocks (null)")):
        ax.plot([], [], "o", color=c, label=lab)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_xlabel("ablated block")
    ax.set_ylabel("-shift of the commitment step / energy removed")
    ax.set_title(f"{a['model']}: ablation of {ab['feature']}'s band; rule: {loc['answer']}", fontsize=9)
    ax.legend(fontsize=7)
    save_figure(fig, png, plt)


def draw_depth_figures(depth_json: str) -> list[tuple[str, str]]:
    """Both figures next to depth.json; returns (png path, caption) pairs."""
    with open(depth_json, encoding="utf-8") as f:
        a = json.load(f)
    folder = os.path.dirname(depth_json)
    out = []
    for name, draw, cap in (
            ("depth_probes", draw_probes, "gap appears only in the last layers? per-layer probe commitment steps "
             "tau_l(global), tau_l(local), the gap gap_l with P2's claimed layers shaded, and each feature's probe "
             "gain over the block input x_t (95% bands over pairs)"),
            ("depth_increments", draw_increments, "what each block adds to the replica difference: global share of "
             "the increment difference per layer and step window against its chance level (95% bands)"),
            ("depth_layer_modes", draw_layer_modes, "P2's own measure: normalised replica difference of every "
             "layer's hidden state on each feature's token modes against the step, between the exact input x_t and "
             "the exact posterior mean; per-layer commitment steps and gap (95% bands over pairs)"),
            ("depth_attribution", draw_attribution, "attribution: each block's increment difference pushed to the "
             "output by a JVP of the rest of the network, its share of the output difference on the gap's features, "
             "the direct share through the head and the closure error (95% bands over pairs)"),
            ("depth_ablation", draw_ablation, "necessity by ablation: each ablated block's shift of the fine "
             "feature's cloning commitment step per unit of energy removed, the last and first k against random "
             "blocks (95% intervals over pairs)")):
        if name in ("depth_layer_modes", "depth_attribution", "depth_ablation") and name[6:] not in a or (
                name == "depth_ablation" and "localisation" not in a["ablation"]):
            continue
        png = os.path.join(folder, f"{name}.png")
        draw(a, png)
        out.append((png, cap))
    return out


__all__ = ["draw_probes", "draw_increments", "draw_layer_modes", "draw_attribution", "draw_ablation", "draw_depth_figures"]
