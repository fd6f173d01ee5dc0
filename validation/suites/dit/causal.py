"""The causal depth test (docs/protocols.md "The causal test"): where coupling acts on the gap.

Per model and coupling g, the pair runs with every layer coupled, with the last k, the first k and
random k-sets (the null) coupled; each run is one resumable cell (validation.store) on the same seeds.
Two windows (dit_bridge.causal):
- switch-on (the default): DDPM, independent noise, the gap on the FHGM features the model generates
  (dit_cells.generated_units): tau(finest) - tau(coarsest) of the agreement curves. The reference is
  every layer coupled at a weak g_ref: uncoupled, nothing synchronises, so gap(none) does not exist.
  A set that synchronises neither gap unit (agreement at t_int = 0 not above t_int = num_steps) has no
  effect on the gap: its shift is 0 by convention (it moves nothing), stated in the analysis.
- throughout: DDIM, shared noise, the onsets of the replica difference; the reference is no layer coupled.
The analysis reads every set's gap and its shift against the reference, bootstrapped jointly over the
same pairs. The test is **empty** where coupling every layer does not move the gap beyond its
interval: then it is reported as such, n/a, and the subsets are not run.

It shows where coupling acts on the gap, never where the gap emerges (the depth suite's question).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass

import numpy as np

from syncgap.theory.intervals import interval_fields, list_fields
from syncgap.validation.checks import NA, Decision, beyond_null, decided
from syncgap.validation.suites.dit.causal_figures import draw
from syncgap.validation.suites.result import Figure, SuiteResult
from syncgap.validation.store import atomic_write_json, compute_cell, numbers_only, to_plain

FINDING = "where coupling acts on the gap (causal depth test)"
P2_CLAIM = "the last ~5 of 28 layers"
WINDOWS = ("switch-on", "throughout")


@dataclass(frozen=True)
class CausalSettings:
    models: tuple = ("fhgm-deep16", "fhgm")   # the deep testbed (validate --full); fhgm (4 blocks) for contrast
    window: str = "switch-on"        # "switch-on" (reference: all layers at g_ref) | "throughout" (reference: none)
    g_grid: tuple = (1.0,)           # switch-on: every layer at g = 1 collapses fhgm-deep's gap (5.4 -> 0.9 steps)
    g_ref: float = 0.25              # switch-on: the weak all-layer coupling the shifts are read against
    ks: tuple | str | None = None    # None: min(5, L - 1) (P2's "last ~5"); "all": every k in 1 .. L - 1
    n_random: int = 5                # random k-sets per k: the null (the check needs MIN_NULL = 5 measured shifts)
    n_pairs: int = 24                # 16 pairs left gap(all) - gap(reference) unresolved on fhgm-deep
    num_steps: int = 20
    t_ints: tuple = (0, 6, 8, 10, 12, 14, 16, 18, 20)   # switch-on grid: 0 (coupled all run) .. num_steps (never)
    seed: int = 0
    n_boot: int = 200
    sampler: str = "ddpm"
    noise: str = "independent"
    eps: float = 0.3


# --dtype auto runs the causal test in fp32: bf16 moved two of its 13 gaps (benchmarks/dit_cpu.py --causal,
# 2026-12-05) by more than 1/4 of their half-width (fhgm-deep every layer -0.27 against 0.27, fhgm last 3
# +0.31 against 0.26), though its verdicts did not change; --dtype bf16 still runs it in bf16.
AUTO_DTYPE = "fp32"

THROUGHOUT = CausalSettings(window="throughout", g_grid=(0.01,), n_random=5, n_pairs=32, num_steps=30,
                            sampler="ddim", noise="shared")


def settings_for(quick: bool, full: bool) -> CausalSettings:
    """Demo and quick: fhgm (4 blocks, k = 3; it has no 3-set between its ends, so its check is n/a and the run shows
    the every-layer, last-3 and first-3 shifts), 24 pairs (quick 8), 20 DDPM steps: 10-14 s in make demo. The
    deep testbed's test runs in `--full` only: at the demo's 24 pairs fhgm-deep16's 9 cells took 100 s of the
    10-minute demo (2026-12-05, 2 threads, quiet) and its check was n/a (4 measured null values of the 5
    needed). Full: fhgm-deep16 and fhgm, every k, 5 random sets of the blocks between the ends (fewer where
    fewer lie between), 64 pairs, 30 steps: 57 cells on fhgm-deep16 (reference and all; k 1..5: last, first and
    5 random sets each; k 6..15: last and first), about 40 s each on 2 threads (projected from the demo's cells
    by rows: 64/24 pairs x 30/20 steps), so about 40 minutes."""
    if full:
        return CausalSettings(ks="all", n_random=5, n_pairs=64, num_steps=30,
                              t_ints=(0, 4, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30))
    return CausalSettings(models=("fhgm",), n_pairs=8 if quick else 24)


def ks_for(n_layers: int, ks) -> list[int]:
    """The subset sizes k run for a model of n_layers: every 1 .. L - 1 ("all"), min(5, L - 1) (None), or `ks`."""
    if ks == "all":
        return list(range(1, n_layers))
    return sorted({k for k in ((min(5, n_layers - 1),) if ks is None else ks) if 1 <= k < n_layers})


def _measure_set(model, g, layers, units, s: CausalSettings, prefix) -> dict:
    """One cell's result: the throughout window's parts, or the switch-on agreement (pairs, features, t_ints);
    prefix() gives the switch-on window's uncoupled branches, computed once per model."""
    from syncgap.dit_bridge.causal import set_agreement, set_parts
    common = dict(n_pairs=s.n_pairs, seed=s.seed, num_steps=s.num_steps, sampler=s.sampler, noise=s.noise, eps=s.eps)
    if s.window == "throughout":
        return {"parts": set_parts(model, g, layers, **common, **units)}
    return {"t_int": list(s.t_ints), "agreement": set_agreement(model, g, layers, s.t_ints, patterns=units["patterns"],
                                                                prefix=prefix(), **common)}


def measure(model, out_dir, s: CausalSettings, say=lambda m: None, dtype: str = "fp32", compile: bool = False) -> dict:
    """Run (or reuse) every cell of one loaded model; returns {"cells": {g: {label: (path, set, result)}}, ...}.
    dtype ("fp32" or "bf16", dit_bridge.precision): the switch-on window's model dtype, part of each cell's key;
    the throughout window reads onsets of small differences and always runs in fp32. compile: torch.compile
    the cells' model (eager where compilation fails)."""
    from syncgap.dit_bridge.causal import layer_sets
    from syncgap.dit_bridge.precision import dtype_config, model_in
    from syncgap.dit_bridge.registry import weights_fingerprint
    from syncgap.theory.checks import InputError, check_choice
    from syncgap.validation.suites.dit.cells import fhgm_mixture, generated_units, unit_scales
    check_choice("window", s.window, WINDOWS)
    name = model.name
    mix = fhgm_mixture(model)   # FHGM models: the gap on its features; others (tiny in tests): on pooled scales
    if mix is None and s.window == "switch-on":
        raise InputError(f"the switch-on causal test reads the gap on FHGM features; {name!r} has none "
                         "(window 'throughout' reads pooled scales)")
    units = {"patterns": mix.patterns} if mix is not None else {"scales": unit_scales(model, None)}
    gen = generated_units(model, mix) if mix is not None else None
    base = {"model": model.name, "weights": weights_fingerprint(model.model), "n_pairs": s.n_pairs,
            "num_steps": s.num_steps, "sampler": s.sampler, "noise": s.noise, "eps": s.eps, "seed": s.seed,
            "window": s.window, "units": "features" if mix is not None else units["scales"]}
    if s.window == "switch-on":
        base["t_ints"] = list(s.t_ints)
    dtype = dtype if s.window == "switch-on" else "fp32"
    base.update(dtype_config(dtype))
    fast = model_in(model, dtype)   # the model the cells run (a bf16 copy, or model itself)
    if compile:
        from syncgap.dit_bridge.sampling import compile_model
        compile_model(fast)
    n = model.num_layers
    sets = layer_sets(n, ks_for(n, s.ks), s.n_random, s.seed)
    every = sets[1]
    reference = ((dict(every, label="reference", kind="reference"), s.g_ref) if s.window == "switch-on"
                 else (sets[0], 0.0))
    shared = []

    def prefix():   # the uncoupled switch-on prefix, the same for every set and g: run once, only if a cell needs it
        from syncgap.dit_bridge.causal import shared_prefix
        if not shared:
            shared.append(shared_prefix(fast, s.t_ints, n_pairs=s.n_pairs, seed=s.seed, num_steps=s.num_steps,
                                        sampler=s.sampler, noise=s.noise, eps=s.eps))
        return shared[0]
    out, stats = {}, {}   # stats: {g: {label: set_stats}} already computed here (analyse reuses them)
    for g in s.g_grid:
        cells = {}

        def run(st, g_run):
            stem = "all" if st["kind"] == "reference" else st["label"]   # the reference is the all-layer cell at g_ref
            path = os.path.join(out_dir, "dit_causal", name.replace("/", "_"), f"g{g_run:g}_{stem}.json")
            r, reused = compute_cell(path, {**base, "g": g_run, "layers": st["layers"]},
                                     lambda: _measure_set(fast, g_run, st["layers"], units, s, prefix),
                                     validate=numbers_only)
            say(f"dit-causal {name} g={g_run:g} {st['label']}: {'reused' if reused else 'done'} "
                f"({r['provenance']['wall_s']:.1f} s)")
            cells[st["label"]] = (path, st, r["result"])
        run(*reference)
        run(every, g)
        stats[g] = {"all": set_stats(cells["all"][2], cells[reference[0]["label"]][2], s, gen)}
        if moves_gap(stats[g]["all"]):
            for st in sets[2:]:       # otherwise the test is empty: no subset is run
                run(st, g)
        out[g] = cells
    return {"name": model.name, "n_layers": n, "cells": out, "features": mix is not None, "generated": gen,
            "reference": reference[0]["label"], "stats": stats,
            "unit_names": list(mix.names) if mix is not None else [f"scale {x}" for x in units["scales"]]}


def switch_on_shift(a, ref, t, units, *, n_boot: int = 200, seed: int = 0) -> dict:
    """gap(set) - gap(reference) of two switch-on agreement arrays (pairs, features, t_ints) on the same pairs,
    gap = tau(units[-1]) - tau(units[0]) in sampler steps, with a joint percentile bootstrap over pairs; and
    per gap unit the synchronisation a(t_int = first) - a(t_int = last) (coupled all run minus never coupled).

    A set that synchronises neither gap unit (both synchronisation intervals reach 0) has no effect on the
    gap: `no_effect` True and shift 0 [0, 0] by convention (its own gap has no value: flat curves)."""
    from syncgap.theory.checks import InputError
    from syncgap.validation.suites.dit.analysis import gap_of, percentile_interval
    pick = [units[0], units[-1]]
    a, r, t = np.asarray(a, float)[:, pick], np.asarray(ref, float)[:, pick], np.asarray(t, float)
    if a.shape != r.shape or a.ndim != 3 or a.shape[2] != t.size:
        raise InputError(f"a, ref must be (pairs, features, {t.size}) arrays of one shape, got {a.shape}, {r.shape}")
    n = a.shape[0]

    def stats(idx):
        ga, gr = gap_of(t, a[idx], "falling"), gap_of(t, r[idx], "falling")
        sync = a[idx][:, :, 0].mean(0) - a[idx][:, :, -1].mean(0)   # (2,)
        return ga, gr, None if ga is None or gr is None else ga - gr, sync
    rng = np.random.default_rng(seed)
    est, boots = stats(np.arange(n)), [stats(rng.integers(0, n, n)) for _ in range(n_boot)]
    out = {}
    for i, name in enumerate(("gap", "reference_gap", "shift")):
        v, lo, hi = percentile_interval([b[i] for b in boots], est[i])
        ends = (lo if np.isfinite(lo) else None, hi if np.isfinite(hi) else None) if v is not None else (None, None)
        out |= interval_fields(name, v, *ends)
    sync = [percentile_interval([b[3][u] for b in boots], float(est[3][u])) for u in range(2)]
    out |= list_fields("sync", [[float(x) for x in v] for v in sync])
    out["synchronised"] = [bool(v[1] > 0) for v in sync]
    out["no_effect"] = not any(out["synchronised"])
    if out["no_effect"]:
        out |= interval_fields("shift", 0.0, 0.0, 0.0, "synchronises neither gap unit: no effect on the gap (shift 0 "
                               "by convention)")
    elif out["shift"] is None:
        out["shift_reason"] = ("no reference gap" if out["reference_gap"] is None else
                               "no gap with this set coupled: a gap unit's agreement curve has no midpoint in the window")
    return out


def set_stats(result: dict, reference: dict, s: CausalSettings, generated) -> dict:
    """The gap of one cell's result and its shift against the reference cell's (the window's own reading)."""
    from syncgap.dit_bridge.causal import gap_shift
    if s.window == "throughout":
        return gap_shift(np.asarray(result["parts"], float), np.asarray(reference["parts"], float),
                         n_boot=s.n_boot, seed=s.seed)
    return switch_on_shift(result["agreement"], reference["agreement"], result["t_int"], generated,
                           n_boot=s.n_boot, seed=s.seed)


def moves_gap(shift: dict) -> bool:
    """Coupling every layer moves the gap: the joint interval of gap(all) - gap(reference) excludes 0."""
    lo, hi = shift.get("shift_low"), shift.get("shift_high")
    return not shift.get("no_effect", False) and lo is not None and hi is not None and (lo > 0 or hi < 0)


def _unit_times(result: dict, window: str) -> list:
    """Per unit: the onset (throughout) or the switch-on commitment step; None where it has no value."""
    if window == "throughout":
        from syncgap.dit_bridge.throughout import unit_onset
        parts = np.asarray(result["parts"], float)
        return [unit_onset(parts, i) for i in range(parts.shape[2])]
    from syncgap.validation.suites.dit.analysis import unit_taus
    return unit_taus(np.asarray(result["t_int"], float), np.asarray(result["agreement"], float), "falling")


def analyse(meas: dict, s: CausalSettings) -> dict:
    """analysis.json of one model: per g the gap and shift of every set (joint bootstrap against the reference)."""
    rows = []
    for g, cells in meas["cells"].items():
        ref, done = cells[meas["reference"]][2], meas.get("stats", {}).get(g, {})
        sets = [{"label": label, "kind": st["kind"], "k": st["k"], "layers": st["layers"],
                 "unit_times": _unit_times(res, s.window),
                 **(done[label] if label in done else set_stats(res, ref, s, meas["generated"]))}
                for label, (_, st, res) in cells.items()]
        every = next(x for x in sets if x["label"] == "all")
        rows.append({"g": g, "moves": moves_gap(every), "sets": sets,
                     "empty_reason": None if moves_gap(every) else (
                         "empty: coupling all layers does not move the gap beyond its interval" if every["shift"]
                         is not None else f"empty: gap(all) - gap(reference) has no value ({every['shift_reason']})")})
    gen = meas["generated"]
    if s.window == "switch-on":
        names = meas["unit_names"]
        units = f"generated FHGM features (gap = tau({names[gen[-1]]}) - tau({names[gen[0]]}), switch-on agreement)"
        reference = f"every layer coupled at g_ref = {s.g_ref:g}"
    else:
        units = ("FHGM features (gap = onset(dct67) - onset(dct01))" if meas["features"] else
                 "pooled scales (gap = onset(finest) - onset(coarsest))")
        reference = "no layer coupled"
    left_out = [nm for i, nm in enumerate(meas["unit_names"]) if gen is not None and i not in gen]
    return {"model": meas["name"], "n_layers": meas["n_layers"], "settings": asdict(s), "window": s.window,
            "sampler": s.sampler, "noise": s.noise, "units": units, "unit_names": meas["unit_names"],
            "reference": reference, "not_generated": left_out, "rows": rows}


MIN_NULL = 5   # measured random-set shifts the last-k check needs (fewer: n/a)


def last_k_decision(row: dict, k: int) -> Decision:
    """Coupling the last k layers moves the gap more than random k-sets (beyond the random-set null's range).

    Only measured shifts are compared: a set that synchronises neither gap unit has no gap and its shift 0 is
    a convention, so it is left out of the null, and a last-k set without effect is n/a (no measured shift);
    fewer than MIN_NULL measured null values is n/a."""
    if not row["moves"]:
        return Decision(NA, row["empty_reason"])
    by = {x["label"]: x for x in row["sets"]}
    every, last = by["all"], by.get(f"last{k}")
    if last is None:
        return Decision(NA, f"no last-{k} set measured")
    if every["shift"] is None:
        return Decision(NA, "gap(all) - gap(reference) has no value: no direction to move in")
    randoms = [x for x in row["sets"] if x["kind"] == "random" and x["k"] == k]
    null = [x["shift"] for x in randoms if x["shift"] is not None and not x.get("no_effect")]
    left = len(randoms) - len(null)
    notes = [f"{left} of {len(randoms)} random sets have no measured shift (no gap, or no effect: left out of the "
             "null)"] if left else []
    if last.get("no_effect"):
        return Decision(NA, "; ".join([f"the last {k} synchronise neither gap unit: no measured shift to compare "
                                       "(its 0 is a convention)", *notes]))
    d = beyond_null(last["shift"], (last["shift_low"], last["shift_high"]) if last["shift"] is not None else None,
                    null, direction=1 if every["shift"] > 0 else -1, min_null=MIN_NULL)
    return Decision(d.verdict, "; ".join([*notes, d.reason]))


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
                               f"{k}-layer sets ({ana['window']}, {ana['sampler']}; against {ana['reference']})",
                               None, obs, (last.get("shift_low"), last.get("shift_high")) if obs is not None else None,
                               "steps", last_k_decision(row, k), kind="beyond_null", model=ana["model"],
                               finding=FINDING, expects="beyond the random-set null"))
    return out


def p2_verdict(ana: dict, checks) -> str:
    """P2's "last ~5 of 28" read causally, from the last-5 check: reproduced (pass), not reproduced (fail),
    not resolved (n/a)."""
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


def _fmt_set(x: dict, names) -> str:
    """One set in words: no effect, its gap and shift, or why it has no gap."""
    if x.get("no_effect"):
        return "no effect (synchronises neither gap unit)"
    if x["gap"] is None:
        sync = [nm for nm, ok in zip(names, x.get("synchronised") or []) if ok]
        return f"no gap ({'synchronises ' + ' and '.join(sync) + ' only' if sync else x.get('shift_reason')})"
    return (f"gap {_fmt_gap(x['gap'], x['gap_low'], x['gap_high'])}, shift "
            f"{_fmt_gap(x['shift'], x['shift_low'], x['shift_high'])}")


def finding_text(ana: dict, checks) -> str:
    parts = []
    gap_names = [u for u in ana["unit_names"] if u not in ana.get("not_generated", [])]
    names = [gap_names[0], gap_names[-1]] if gap_names else []
    for row in ana["rows"]:
        by = {x["label"]: x for x in row["sets"]}
        ref = by.get("reference", by.get("none"))
        head = (f"{ana['model']} ({ana['n_layers']} layers), {ana['window']} window, g = {row['g']:g}: gap with "
                f"{ana['reference']} = {_fmt_gap(ref['gap'], ref['gap_low'], ref['gap_high'])}, every layer coupled "
                f"{_fmt_set(by['all'], names)} steps")
        if not row["moves"]:
            silent = {lab: [nm for nm, o in zip(ana["unit_names"], by[lab]["unit_times"]) if o is None]
                      for lab in (("none" if "none" in by else "reference"), "all")}
            where = "; ".join(f"no value for {', '.join(v)} with {lab}" for lab, v in silent.items() if v)
            parts.append(f"{head}; the causal test is {row['empty_reason']} (n/a){f' ({where})' if where else ''}.")
            continue
        ks = sorted({x["k"] for x in row["sets"] if x["kind"] == "last"})
        per_k = "; ".join(
            f"k = {k}: last {k}: {_fmt_set(by[f'last{k}'], names)}; first {k}: {_fmt_set(by[f'first{k}'], names)}; "
            f"random {k}-sets: " + ", ".join(f"{x['layers']} {_fmt_set(x, names)}" for x in row["sets"]
                                             if x["kind"] == "random" and x["k"] == k) for k in ks)
        parts.append(f"{head}; {per_k}.")
    left = ana.get("not_generated") or []
    return (" ".join(parts) + (f" The gap leaves out {', '.join(left)}: the model does not generate it (below half "
                               "its amplitude on the model card), so nothing can synchronise its sign." if left else "")
            + " This locates where coupling acts on the gap, not where the gap emerges (the depth section's question)."
            f" P2's \"{P2_CLAIM}\" read causally (does coupling act through them more than through random sets?): "
            f"{p2_verdict(ana, checks)}.")


def dit_causal_suite(out_dir, *, quick: bool, progress=None, full: bool = False, model=None,
                     device="cpu", dtype: str = "auto", compile: bool = False) -> SuiteResult:
    """The causal depth test on fhgm-deep16 (and fhgm for contrast); see the module docstring. dtype: the switch-on
    cells' model dtype, "auto" (AUTO_DTYPE: fp32), "fp32" or "bf16"; compile:
    torch.compile the cells' model."""
    from syncgap.dit_bridge.precision import resolve_dtype
    dtype = AUTO_DTYPE if dtype == "auto" else resolve_dtype(dtype, device)
    s = settings_for(bool(quick), bool(full))
    if model is not None:
        from dataclasses import replace
        s = replace(s, models=tuple([model] if isinstance(model, str) else model))
    say = progress if progress is not None else (lambda m: None)
    out_dir = str(out_dir)
    checks, figures, files, notes, facts = [], [], [], [], {}
    from syncgap.dit_bridge.registry import load_model
    from syncgap.validation.suites.dit.cells import fhgm_mixture
    for name in s.models:
        t0 = time.time()
        loaded = load_model(name, device=device)
        if s.window == "switch-on" and fhgm_mixture(loaded) is None:
            why = "not trained on the FHGM, no features to read the switch-on gap on: causal test not run"
            notes.append(f"{loaded.name}: {why}.")
            facts[loaded.name] = {"dit": True, "layers": int(loaded.num_layers), "untestable": {"P2.3": why}}
            continue
        meas = measure(loaded, out_dir, s, say, dtype, compile)
        ana = analyse(meas, s)
        ana["wall_s"] = round(time.time() - t0, 2)
        folder = os.path.join(out_dir, "dit_causal", name.replace("/", "_"))
        ana_path = os.path.join(folder, "analysis.json")
        atomic_write_json(ana_path, to_plain(ana))
        with open(ana_path, encoding="utf-8") as f:
            ana = json.load(f)   # checks from the written file only
        cks = checks_for(ana)
        checks += cks
        facts[ana["model"]] = {"dit": True, "layers": int(ana["n_layers"])}
        notes.append(finding_text(ana, cks))
        png = os.path.join(folder, "gap_vs_k.png")
        draw(ana_path, png)   # dit_causal_figures: from analysis.json only
        figures.append(Figure(os.path.relpath(png, out_dir), f"{ana['model']}: the gap with only k layers coupled "
                              "(last k, first k; random k-sets as the null), the reference and every-layer gaps "
                              "as lines",
                              [os.path.relpath(ana_path, out_dir)]))
        files += [p for cells in meas["cells"].values() for p, _, _ in cells.values()] + [ana_path]
        say(f"dit-causal {name}: {sum(c.verdict == 'pass' for c in cks)}/{len(cks)} checks pass "
            f"({time.time() - t0:.1f} s)")
    return SuiteResult("dit_causal", checks, figures, {FINDING: " ".join(notes)},
                       [os.path.relpath(p, out_dir) for p in files], facts=facts)


__all__ = ["CausalSettings", "THROUGHOUT", "WINDOWS", "settings_for", "measure", "switch_on_shift", "set_stats",
           "moves_gap", "analyse", "checks_for", "last_k_decision", "MIN_NULL",
           "finding_text", "p2_verdict", "dit_causal_suite"]
