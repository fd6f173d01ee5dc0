"""The causal depth test (issue 15 item 3, docs/protocols.md "The causal test"): where coupling acts on the gap.

Per model and coupling g, in the throughout window with the deterministic sampler (the one variant
where the uncoupled pair has a gap: docs/protocols.md), the pair runs with no layer coupled, every
layer coupled, the last k, the first k and random k-sets (the null) coupled; each run's per-pair,
per-feature replica differences are one resumable cell (validation.store). The analysis reads the
gap of every set and its shift against no coupling, bootstrapped jointly over the same pairs
(dit_bridge.causal.gap_shift). The test is **empty** where coupling every layer does not move the gap
beyond its interval: then it is reported as such, n/a, and the subsets are not run.

It shows where coupling acts on the gap, never where the gap emerges.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass

import numpy as np

from syncgap.validation.check_kinds import NA, Decision, beyond_null
from syncgap.validation.records import Figure, SuiteResult, decided
from syncgap.validation.store import atomic_write_json, compute_cell, numbers_only, to_plain

FINDING = "where coupling acts on the gap (causal depth test)"
P2_CLAIM = "the last ~5 of 28 layers"


@dataclass(frozen=True)
class CausalSettings:
    models: tuple = ("fhgm-deep", "fhgm")
    g_grid: tuple = (0.01,)
    ks: tuple | None = None          # None: min(5, L - 1) (P2's "last ~5"); "all": every k in 1 .. L - 1
    n_random: int = 3
    n_pairs: int = 32                # at 16 pairs the uncoupled fhgm's dct67 onset is not read (no gap(none))
    num_steps: int = 30
    seed: int = 0
    n_boot: int = 200
    sampler: str = "ddim"
    noise: str = "shared"
    eps: float = 0.3


def settings_for(quick: bool, full: bool) -> CausalSettings:
    """Demo: fhgm-deep and fhgm, k = 5 (fhgm: 3), 3 random sets; quick: fhgm-deep alone; full: every k, more of all."""
    if full:
        return CausalSettings(g_grid=(0.005, 0.01, 0.02, 0.05), ks="all", n_random=10, n_pairs=64, num_steps=50)
    return CausalSettings(models=("fhgm-deep",)) if quick else CausalSettings()


def ks_for(n_layers: int, ks) -> list[int]:
    """The subset sizes k run for a model of n_layers: every 1 .. L - 1 ("all"), min(5, L - 1) (None), or `ks`."""
    if ks == "all":
        return list(range(1, n_layers))
    return sorted({k for k in ((min(5, n_layers - 1),) if ks is None else ks) if 1 <= k < n_layers})


def measure(name, out_dir, s: CausalSettings, device="cpu", say=lambda m: None) -> dict:
    """Run (or reuse) every cell of one model; returns {"g": {label: (path, set, parts)}}, the model's record."""
    from syncgap.dit_bridge.causal import gap_shift, layer_sets, set_parts
    from syncgap.dit_bridge.registry import load_model, weights_fingerprint
    from syncgap.validation.suites.dit_cells import fhgm_mixture, unit_scales
    rec = load_model(name, device=device)
    mix = fhgm_mixture(rec)   # FHGM models: the gap on its features; others (tiny in tests): on pooled scales
    units = {"patterns": mix.patterns} if mix is not None else {"scales": unit_scales(rec, None)}
    base = {"model": rec.name, "weights": weights_fingerprint(rec.model), "n_pairs": s.n_pairs,
            "num_steps": s.num_steps, "sampler": s.sampler, "noise": s.noise, "eps": s.eps, "seed": s.seed,
            "window": "throughout",
            "units": "features" if mix is not None else units["scales"]}
    sets = layer_sets(rec.num_layers, ks_for(rec.num_layers, s.ks), s.n_random, s.seed)
    out = {}
    for g in s.g_grid:
        cells = {}

        def run(st):
            g_run = g if st["layers"] else 0.0   # no layer coupled: one uncoupled run serves every g
            path = os.path.join(out_dir, "dit_causal", name.replace("/", "_"), f"g{g_run:g}_{st['label']}.json")
            r, reused = compute_cell(path, {**base, "g": g_run, "layers": st["layers"]}, lambda: {"parts": set_parts(
                rec, g_run, st["layers"], n_pairs=s.n_pairs, seed=s.seed, num_steps=s.num_steps, sampler=s.sampler,
                noise=s.noise, eps=s.eps, **units)}, validate=numbers_only)
            say(f"dit-causal {name} g={g:g} {st['label']}: {'reused' if reused else 'done'} "
                f"({r['provenance']['wall_s']:.1f} s)")
            cells[st["label"]] = (path, st, np.asarray(r["result"]["parts"], float))
        run(sets[0])
        run(sets[1])
        ref = cells["none"][2]
        moved = gap_shift(cells["all"][2], ref, n_boot=s.n_boot, seed=s.seed)
        if moves_gap(moved):   # otherwise the test is empty: no subset is run
            for st in sets[2:]:
                run(st)
        out[g] = cells
    return {"name": rec.name, "n_layers": rec.num_layers, "cells": out, "features": mix is not None,
            "unit_names": list(mix.names) if mix is not None else [f"scale {x}" for x in units["scales"]]}


def moves_gap(shift: dict) -> bool:
    """Coupling every layer moves the gap: the joint interval of gap(all) - gap(none) excludes 0."""
    lo, hi = shift.get("shift_low"), shift.get("shift_high")
    return lo is not None and hi is not None and (lo > 0 or hi < 0)


def analyse(meas: dict, s: CausalSettings) -> dict:
    """analysis.json of one model: per g the gap and shift of every set (joint bootstrap against no coupling)."""
    from syncgap.dit_bridge.causal import gap_shift
    from syncgap.dit_bridge.protocols import unit_onset
    rows = []
    for g, cells in meas["cells"].items():
        ref = cells["none"][2]
        sets = []
        for label, (_, st, parts) in cells.items():
            sets.append({"label": label, "kind": st["kind"], "k": st["k"], "layers": st["layers"],
                         "onsets": [unit_onset(parts, i) for i in range(parts.shape[2])],   # None: no onset
                         **gap_shift(parts, ref, n_boot=s.n_boot, seed=s.seed)})
        every = next(x for x in sets if x["label"] == "all")
        rows.append({"g": g, "moves": moves_gap(every), "sets": sets,
                     "empty_reason": None if moves_gap(every) else (
                         "empty: coupling all layers does not move the gap beyond its interval" if every["shift"]
                         is not None else f"empty: gap(all) - gap(none) has no value ({every['reason']})")})
    return {"model": meas["name"], "n_layers": meas["n_layers"], "settings": asdict(s), "window": "throughout",
            "sampler": s.sampler, "noise": s.noise,
            "units": "FHGM features (gap = onset(dct67) - onset(dct01))" if meas["features"] else
                     "pooled scales (gap = onset(finest) - onset(coarsest))", "unit_names": meas["unit_names"],
            "rows": rows}


def last_k_decision(row: dict, k: int) -> Decision:
    """Coupling the last k layers moves the gap more than random k-sets (beyond the random-set null's range)."""
    if not row["moves"]:
        return Decision(NA, row["empty_reason"])
    by = {x["label"]: x for x in row["sets"]}
    every, last = by["all"], by.get(f"last{k}")
    if last is None:
        return Decision(NA, f"no last-{k} set measured")
    if every["shift"] is None:
        return Decision(NA, "gap(all) - gap(none) has no value: no direction to move in")
    null = [x["shift"] for x in row["sets"] if x["kind"] == "random" and x["k"] == k]
    return beyond_null(last["shift"], (last["shift_low"], last["shift_high"]) if last["shift"] is not None else None,
                       null, direction=1 if every["shift"] > 0 else -1)


def checks_for(ana: dict) -> list:
    out = []
    n = ana["n_layers"]
    for row in ana["rows"]:
        ks = sorted({x["k"] for x in row["sets"] if x["kind"] == "last"}) or [min(5, n - 1)]
        by = {x["label"]: x for x in row["sets"]}
        for k in ks:
            last = by.get(f"last{k}", {})
            obs = last.get("shift")
            out.append(decided(f"dit.{ana['model']}.causal.g{row['g']:g}.last{k}_beyond_random",
                               f"coupling only the last {k} of {n} layers moves the gap more than random "
                               f"{k}-layer sets (throughout, {ana['sampler']})", None, obs,
                               (last.get("shift_low"), last.get("shift_high")) if obs is not None else None,
                               "steps", last_k_decision(row, k), kind="beyond_null", model=ana["model"],
                               finding=FINDING, claim="beyond the random-set null"))
    return out


def p2_verdict(ana: dict, checks) -> str:
    """P2's "last ~5 of 28" against the last-5 check: reproduced (pass), not reproduced (fail), not resolved."""
    if ana["n_layers"] < 28:
        return f"n/a: {ana['n_layers']} layers (P2's claim is about 28)"
    five = [c for c in checks if c.id.endswith(".last5_beyond_random")]
    if any(c.verdict == "pass" for c in five):
        return "reproduced"
    if any(c.verdict == "fail" for c in five):
        return "not reproduced"
    return "not resolved"


def _fmt_gap(x, lo, hi):
    if x is None:
        return "none"
    return f"{x:.3g} [{'-' if lo is None else f'{lo:.3g}'}, {'-' if hi is None else f'{hi:.3g}'}]"


def finding_text(ana: dict, checks) -> str:
    parts = []
    for row in ana["rows"]:
        by = {x["label"]: x for x in row["sets"]}
        head = (f"{ana['model']} ({ana['n_layers']} layers), g = {row['g']:g}: gap(none) = "
                f"{_fmt_gap(by['none']['gap'], by['none']['gap_low'], by['none']['gap_high'])}, gap(all) = "
                f"{_fmt_gap(by['all']['gap'], by['all']['gap_low'], by['all']['gap_high'])} steps")
        if not row["moves"]:
            silent = {lab: [nm for nm, o in zip(ana["unit_names"], by[lab]["onsets"]) if o is None]
                      for lab in ("none", "all")}
            where = "; ".join(f"no onset of {', '.join(v)} with {lab} coupled" for lab, v in silent.items() if v)
            parts.append(f"{head}; the causal test is {row['empty_reason']} (n/a){f' ({where})' if where else ''}.")
            continue
        ks = sorted({x["k"] for x in row["sets"] if x["kind"] == "last"})
        per_k = "; ".join(
            f"k = {k}: last {_fmt_gap(by[f'last{k}']['gap'], by[f'last{k}']['gap_low'], by[f'last{k}']['gap_high'])}"
            f", first {_fmt_gap(by[f'first{k}']['gap'], by[f'first{k}']['gap_low'], by[f'first{k}']['gap_high'])}"
            f", random {', '.join(_fmt_gap(x['gap'], None, None) for x in row['sets'] if x['kind'] == 'random' and x['k'] == k)}"
            for k in ks)
        parts.append(f"{head}; {per_k}.")
    return (" ".join(parts) + f" This locates where coupling acts on the gap, not where the gap emerges. "
            f"Against P2's \"{P2_CLAIM}\": {p2_verdict(ana, checks)}.")


def draw(ana_path: str, png_path: str) -> None:
    """gap(k) for last-k and first-k with the random-set null as a band, gap(none) and gap(all) as lines."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    with open(ana_path, encoding="utf-8") as f:
        ana = json.load(f)
    rows = ana["rows"]
    fig, axes = plt.subplots(1, len(rows), figsize=(5.2 * len(rows), 3.8), squeeze=False)
    for ax, row in zip(axes[0], rows):
        by = {x["label"]: x for x in row["sets"]}
        ks = sorted({x["k"] for x in row["sets"] if x["kind"] == "random"})
        if ks:
            null = [[x["gap"] for x in row["sets"] if x["kind"] == "random" and x["k"] == k and x["gap"] is not None]
                    for k in ks]
            lo = [min(v) if v else np.nan for v in null]
            hi = [max(v) if v else np.nan for v in null]
            if ks == list(range(ks[0], ks[0] + len(ks))) and len(ks) > 3:   # every k: a band
                ax.fill_between(ks, lo, hi, color="0.85", label="random k-sets (range)")
            else:                                                          # a few k: one bar each
                ax.vlines(ks, lo, hi, color="0.75", lw=8, label="random k-sets (range)")
            for k, v in zip(ks, null):
                ax.plot([k] * len(v), v, ".", color="0.4", ms=4)
        for kind, colour, dx in (("last", "C3", 0.08), ("first", "C0", -0.08)):
            pts = [x for x in row["sets"] if x["kind"] == kind and x["gap"] is not None]
            if pts:
                y = np.array([x["gap"] for x in pts])
                err = np.array([[y[i] - (x["gap_low"] if x["gap_low"] is not None else y[i]),
                                 (x["gap_high"] if x["gap_high"] is not None else y[i]) - y[i]]
                                for i, x in enumerate(pts)]).T
                ax.errorbar([x["k"] + dx for x in pts], y, yerr=err, fmt="o", color=colour, capsize=3,
                            label=f"{kind} k coupled")
        for label, style in (("none", ":"), ("all", "--")):
            if by[label]["gap"] is not None:
                ax.axhline(by[label]["gap"], color="k", ls=style, lw=1, label=f"gap({label})")
        ax.set_xlim(0, ana["n_layers"] + 1)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_xlabel(f"k (layers coupled, of {ana['n_layers']})")
        ax.set_ylabel("gap (sampler steps)")
        ax.set_title(f"{ana['model']}, g = {row['g']:g}" + ("" if row["moves"] else " (empty test)"), fontsize=9)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no gap to draw: a unit has no onset", transform=ax.transAxes, ha="center")
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)


def dit_causal_suite(out_dir, *, quick: bool, progress=None, full: bool = False, model=None,
                     device="cpu") -> SuiteResult:
    """The causal depth test on fhgm-deep (and fhgm for contrast); see the module docstring."""
    s = settings_for(bool(quick), bool(full))
    if model is not None:
        from dataclasses import replace
        s = replace(s, models=tuple([model] if isinstance(model, str) else model))
    say = progress if progress is not None else (lambda m: None)
    out_dir = str(out_dir)
    checks, figures, files, notes = [], [], [], []
    for name in s.models:
        t0 = time.time()
        meas = measure(name, out_dir, s, device, say)
        ana = analyse(meas, s)
        ana["wall_s"] = round(time.time() - t0, 2)
        folder = os.path.join(out_dir, "dit_causal", name.replace("/", "_"))
        ana_path = os.path.join(folder, "analysis.json")
        atomic_write_json(ana_path, to_plain(ana))
        with open(ana_path, encoding="utf-8") as f:
            ana = json.load(f)   # checks from the written file only
        cks = checks_for(ana)
        checks += cks
        notes.append(finding_text(ana, cks))
        png = os.path.join(folder, "gap_vs_k.png")
        draw(ana_path, png)
        figures.append(Figure(os.path.relpath(png, out_dir), f"{ana['model']}: the gap with only k layers coupled "
                              "(last k, first k; random k-sets as the null band), gap(none) and gap(all) as lines",
                              [os.path.relpath(ana_path, out_dir)]))
        files += [p for cells in meas["cells"].values() for p, _, _ in cells.values()] + [ana_path]
        say(f"dit-causal {name}: {sum(c.verdict == 'pass' for c in cks)}/{len(cks)} checks pass "
            f"({time.time() - t0:.1f} s)")
    return SuiteResult("dit_causal", checks, figures, {FINDING: " ".join(notes)},
                       [os.path.relpath(p, out_dir) for p in files])


__all__ = ["CausalSettings", "settings_for", "measure", "analyse", "checks_for", "last_k_decision",
           "finding_text", "p2_verdict", "draw", "dit_causal_suite"]
