"""Figures of the DiT findings suite, drawn only from a model's analysis.json (matplotlib Agg).

Each `draw_*(analysis_path, png_path)` reads the file, draws one PNG and returns nothing;
`draw_all` draws every figure the file supports and returns their `Figure` records.
"""
from __future__ import annotations

import json
import os

import numpy as np

from syncgap.theory.intervals import read_triple
from syncgap.validation.suites.result import Figure


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, png_path, plt) -> None:
    """Lay out, write at 110 dpi and close: the end of every figure here."""
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)


def _load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _f(x):
    return np.nan if x is None else float(x)


def _iv(record, name):
    """(estimate, low, high) arrays of a quantity `name` of `record` (theory.intervals; one value or one per unit),
    null as NaN."""
    return tuple(np.asarray([_f(v) for v in np.atleast_1d(np.asarray(x, object))], float)
                 for x in read_triple(record, name))


def _err(est, lo, hi):
    ok = np.isfinite(est)
    lo = np.where(np.isfinite(lo), lo, est)
    hi = np.where(np.isfinite(hi), hi, est)
    return ok, np.vstack([np.clip(est - lo, 0, None), np.clip(hi - est, 0, None)])


CHANCE = {"features": (0.5, "chance (independent signs)"), "modes": (0.5, "chance (independent signs)"),
          "scales": (0.0, "chance (independent zero-mean outputs)")}   # agreement of unrelated outputs


def _family_panels(analysis_path):
    """(analysis record, pyplot, figure, [(axes, family name, family record)]): one panel per unit family."""
    a, plt = _load(analysis_path), _plt()
    fams = list(a["families"])
    fig, axes = plt.subplots(1, len(fams), figsize=(5.2 * len(fams), 3.8), squeeze=False)
    return a, plt, fig, [(ax, fam, a["families"][fam]) for ax, fam in zip(axes[0], fams)]


def _band(ax, t, family, k, color):
    """The pointwise 95% band of unit k's mean agreement curve, where the analysis file has one."""
    if family.get("curves_low") is not None:
        lo, hi = (np.asarray([_f(v) for v in family[end][k]], float) for end in ("curves_low", "curves_high"))
        ax.fill_between(t, lo, hi, color=color, alpha=0.18, lw=0)


def draw_intrinsic(analysis_path, png_path):
    """Agreement vs t_int at g = 0 (cloning) per unit, with each unit's commitment step."""
    a, plt, fig, panels = _family_panels(analysis_path)
    for ax, fam, f in panels:
        t = np.asarray(f["t_int"], float)
        for k, (lab, c) in enumerate(zip(f["labels"], f["curves"])):
            line, = ax.plot(t, [_f(v) for v in c], "o-", ms=3, label=lab)
            _band(ax, t, f, k, line.get_color())
            if f["tau"][k] is not None:
                ax.axvline(f["tau"][k], color=line.get_color(), ls=":", lw=1)
        level, text = CHANCE.get(fam, (None, ""))
        if level is not None:
            ax.axhline(level, color="0.5", lw=0.8, ls="--", label=text)
        est, lo, hi = _iv(f, "gap")
        ax.set_title(f"{a['model']}: {fam}, g = 0 cloning; gap {est[0]:.2f} [{lo[0]:.2f}, {hi[0]:.2f}] steps",
                     fontsize=9)
        ax.set_xlabel("t_int (sampler steps cloned)")
        ax.set_ylabel("agreement (band: 95% over pairs)")
        ax.legend(fontsize=7)
    save_figure(fig, png_path, plt)


def draw_gap_vs_g(analysis_path, png_path):
    """Gap against g: measurements with intervals (g = 0 by cloning, marked apart), the exact-analog
    prediction with its intervals (FHGM), and the hypotheses fitted over g > 0 (constant, rho-law);
    residuals of the measurements from the preferred hypothesis."""
    a, plt = _load(analysis_path), _plt()
    gv, comp = a["gap_vs_g"], a.get("comparison") or {}
    g = np.asarray(gv["g"], float)
    est, lo, hi = _iv(gv, "gap")
    fig, (ax, axr) = plt.subplots(2, 1, figsize=(6, 5.6), sharex=True, gridspec_kw={"height_ratios": [3, 1.2]})
    ok, err = _err(est, lo, hi)
    pos = ok & (g > 0)
    ax.errorbar(g[pos], est[pos], yerr=err[:, pos], fmt="o", color="k", capsize=3, label="DiT, Protocol I (95% CI)")
    if ok[0] and g[0] == 0:
        ax.errorbar(g[:1], est[:1], yerr=err[:, :1], fmt="s", mfc="none", color="0.5", capsize=3,
                    label="DiT, g = 0 by cloning (another protocol)")
    ex = a.get("exact_gap_vs_g")
    if ex:
        ge = np.asarray(ex["g"], float)
        e_est, e_lo, e_hi = _iv(ex, "gap")
        e_ok, e_err = _err(e_est, e_lo, e_hi)
        ax.errorbar(ge[e_ok], e_est[e_ok], yerr=e_err[:, e_ok], fmt="D-", color="C2", capsize=3, ms=4,
                    label="equal-g exact analog (FHGM; gate equivalence)")
    from syncgap.theory.routing import predicted_gap_ratio
    gg = np.linspace(min(g[g > 0].min(), 0.05), max(g.max(), 1.2), 200)
    preferred = None
    for h in comp.get("hypotheses", []):
        if h["name"] == "constant":
            curve = np.full_like(gg, h["params"]["c"])
        elif h["name"] == "rho-law (eta = 0)":
            curve = h["params"]["A"] * predicted_gap_ratio(gg, 0.0)
        else:
            continue
        ax.plot(gg, curve, "--", lw=1, label=f"{h['name']} fit over g > 0 (dAIC {h['delta_aic']:.3g})")
    for h in comp.get("hypotheses", []):
        if h["name"] == comp.get("preferred"):
            preferred = h
    if not ok.any():
        ax.text(0.5, 0.5, "no measurable gap at any g\n(a unit's agreement did not rise)", ha="center",
                transform=ax.transAxes)
    ax.axhline(0, color="0.6", lw=0.8, label="no gap")
    ax.axhline(1, color="0.8", lw=0.8, ls="--", label="one sampler step")
    ax.set_xlim(-0.05 * g.max(), 1.05 * g.max())
    ax.set_ylabel("gap (sampler steps)")
    ax.set_title(f"{a['model']}: {a['primary']} gap vs coupling g; preferred over g > 0: "
                 f"{comp.get('preferred') or '-'}", fontsize=9)
    ax.legend(fontsize=7)
    if preferred is not None:
        gp = np.asarray(comp["g"], float)
        idx = [int(np.argmin(np.abs(g - x))) for x in gp]
        r = est[idx] - np.asarray(preferred["fitted"], float)
        axr.errorbar(gp, r, yerr=err[:, idx], fmt="o", color="C1", capsize=3)
    axr.axhline(0, color="0.5", lw=0.8)
    axr.set_ylabel("residual from the preferred hypothesis")
    axr.set_xlabel("coupling g")
    if g.max() > 3:
        ax.set_xscale("symlog", linthresh=1.0)
        axr.set_xticks(g, [f"{x:g}" for x in g])
    save_figure(fig, png_path, plt)


def draw_frequency(analysis_path, png_path):
    """Commitment step per unit (global -> local) at g = 0, with theory for the FHGM features."""
    a, plt, fig, panels = _family_panels(analysis_path)
    for ax, fam, f in panels:
        est, lo, hi = _iv(f, "tau")
        x = np.arange(est.size)
        ok, err = _err(est, lo, hi)
        ax.errorbar(x[ok], est[ok], yerr=err[:, ok], fmt="o", color="k", capsize=3, label="DiT (95% interval)")
        if fam == "features" and "theory" in a:
            ax.plot(x, [_f(v) for v in a["theory"]["tau"]], "s--", color="C0", label="exact-score theory")
            ax.plot(x, a["theory"]["pitchfork_step"], "^:", color="C2", label="speciation step t_S (pitchfork)")
        kt, klo, khi = (_f(v) for v in read_triple(f, "kendall"))
        ax.set_xticks(x, f["labels"], fontsize=7)
        ax.set_ylabel("commitment step (sampler steps)")
        ax.set_title(f"{a['model']}: {fam}, Kendall tau {_f(kt):.2f} [{klo:.2f}, {khi:.2f}] (chance 0)", fontsize=9)
        ax.legend(fontsize=7)
    save_figure(fig, png_path, plt)


def draw_exact_comparison(analysis_path, png_path):
    """FHGM: per feature, cloning agreement of the theory, the exact-score sampler and the learned DiT."""
    a, plt = _load(analysis_path), _plt()
    f, th, ex = a["families"]["features"], a["theory"], a["exact_sampler"]
    n = len(f["labels"])
    fig, axes = plt.subplots(1, n, figsize=(3.4 * n, 3.2), sharey=True)
    for k, ax in enumerate(np.atleast_1d(axes)):
        t = np.asarray(f["t_int"], float)
        ax.plot(t, th["curves"][k], "-", color="C0", label="theory")
        ax.plot(ex["t_int"], ex["curves"][k], "s--", ms=3, color="C2", label="exact-score sampler")
        _band(ax, np.asarray(ex["t_int"], float), ex, k, "C2")
        ax.plot(t, f["curves"][k], "o-", ms=3, color="k", label="DiT")
        _band(ax, t, f, k, "k")
        ax.axhline(0.5, color="0.5", lw=0.8, ls="--", label="chance")
        for tau, col in ((th["tau"][k], "C0"), (ex["tau"][k], "C2"), (f["tau"][k], "k")):
            if tau is not None:
                ax.axvline(tau, color=col, ls=":", lw=1)
        ax.set_title(f["labels"][k], fontsize=9)
        ax.set_xlabel("t_int (sampler steps)")
    np.atleast_1d(axes)[0].set_ylabel("sign agreement (band: 95%)")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    save_figure(fig, png_path, plt)


FIGURES = (("intrinsic", draw_intrinsic, "gap exists without coupling: agreement of the two replicas against t_int "
                                          "at g = 0 (cloning), 95% bands over pairs, dotted: each unit's commitment step"),
           ("gap_vs_g", draw_gap_vs_g, "gap collapses under strong coupling? gap against g > 0 with 95% intervals, "
                                       "the suite's prediction (exact-score gated sampler on the FHGM), the hypotheses "
                                       "fitted over g > 0 and the residuals from the preferred one"),
           ("frequency", draw_frequency, "global before local: commitment step per unit, ordered global -> local, "
                                         "with 95% intervals"),
           ("exact", draw_exact_comparison, "the network against the exact score: agreement per FHGM feature from "
                                            "theory, the exact-score sampler and the DiT (95% bands)"))


def draw_all(analysis_path, out_dir) -> list[Figure]:
    """Every figure the analysis file supports, as PNGs next to it; paths relative to out_dir."""
    a = _load(analysis_path)
    folder = os.path.dirname(analysis_path)
    figs = []
    for name, fn, cap in FIGURES:
        if name == "exact" and "exact_sampler" not in a:
            continue
        png = os.path.join(folder, f"{name}.png")
        fn(analysis_path, png)
        figs.append(Figure(os.path.relpath(png, out_dir), f"{a['model']}: {cap}",
                           [os.path.relpath(analysis_path, out_dir)]))
    return figs
