"""The DiT part of the validation report: P2's four findings measured on the models we can run (docs/science.md §5, §7).

    dit_findings_suite(out_dir, *, quick, progress, model=None, g_grid=None, full=False, runtime=Runtime())

Per model it runs (measure.py: which cells; cells.py: one file each, reused on rerun): Protocol I cloning at g = 0, Protocol I at each g > 0 of
the grid (release window; on the FHGM-DiT also the other variants of Settings.variants: switch-on by default, all
eight with full=True), and for the FHGM-DiT the exact-score sampler of the same data (cloning, and gated Protocol I
with each variant: the independent prediction). From those files alone it writes `analysis.json` (analysis.py,
predictions.py), draws the figures (figures.py) and returns one Check per comparison:

1. intrinsic gap (g = 0): sign of gap = tau(local) - tau(global) (one-sided: passes when its whole
   bootstrap interval is > 0); FHGM: the gap against the exact-score theory of the same data.
2. gap against g, over g > 0 only (release has no g -> 0 limit; docs/protocols.md): FHGM-DiT, per variant and g the gap
   against the exact-score gated sampler's (same variant, DDPM grid, t_int grid, feature estimator), and per g range the
   ratio gap(g_hi)/gap(g_lo) and collapse answer against the analog's; every model: P2's rho-law as one hypothesis of a
   comparison (constant / rho-law / exact analog, chi2 and AIC), passing when within 2 AIC of the preferred. The
   headline table (variant x model: shrinks? collapses? prediction agrees?) goes into the P2.2 verdict.
3. depth: depth/finding.py (per-layer probes of each feature's final sign, tau_l and gap_l, and what each
   block adds to the replica difference on the token DCT modes) against P2's "last ~5 of 28 layers".
4. frequency ordering: Kendall's tau of commitment step against unit order (global -> local),
   predicted +1; FHGM: per-feature commitment step against the exact-score theory.
FHGM models: per-feature commitment of the DiT against the exact-score sampler (ou_models). `progress`: one-line messages.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import replace

import numpy as np

from syncgap.theory.checks import InputError
from syncgap.theory.intervals import read_triple, read_triples
from syncgap.validation.suites.dit import (analysis as dit_analysis, calibrated as dit_calibrated, cells as dit_cells,
                                           joint as dit_joint, power, predictions as dit_predictions)
from syncgap.validation.checks import (NA, Agreement, Check, Decision, anchor_established, decided, ordering,
                                       own_interval, sign)
from syncgap.validation.cell_workers import CellWorkers
from syncgap.validation.suites.result import SuiteResult
from syncgap.validation.store import atomic_write_json, to_plain

from syncgap.validation.suites.dit.depth import finding as dit_depth
from syncgap.validation.suites.dit.measure import (VARIANT, finished, measure_model,  # noqa: F401 (re-exported)
                                                   submit_model)
from syncgap.validation.suites.dit.settings import FULL_VARIANTS, QUICK, Runtime, Settings, settings_for  # noqa: F401 (re-exported)



def _models(model) -> list[str]:
    names = [model] if isinstance(model, str) else list(model) if isinstance(model, (list, tuple)) else None
    if not names or not all(isinstance(m, str) and m for m in names):
        raise InputError(f"model must be a model name or a non-empty list of names, got {model!r}")
    return names


def analyse_model(name, cell_files: dict, settings: Settings, mix, records: dict | None = None) -> dict:
    """analysis.json content for one model from its cell files only (records: theirs, already read and checked)."""
    recs = records if records is not None else {k: dit_cells.read_cell(p) for k, p in cell_files.items()}
    clone = recs[("clone", 0.0)]["result"]
    unit = "features" if mix is not None else "modes"
    fams = [unit, "scales"] if "feature_agreement" in clone else ["scales"]
    out = {"model": name, "families": {}, "primary": fams[0], "num_steps": settings.num_steps,
           "resolution": power.reading_resolution(clone["t_int"], settings.window),   # of the cells' own grid
           "n_pairs": int(np.asarray(clone["agreement"]).shape[0]),
           "cell_files": {f"{k[0]}_g{k[1]:g}": os.path.basename(p) for k, p in cell_files.items()}}
    for fam in fams:
        t, a = dit_analysis.family_arrays(clone, fam)
        labels = ([f"dct{u}{v}" for u, v in _freqs(mix)] if fam == "features" else
                  [f"mode{k + 1}" for k in range(len(clone["feature_agreement"][0]))] if fam == "modes"
                  else [f"pool {s}" for s in clone["scales"]])
        out["families"][fam] = {"labels": labels, "t_int": t, **dit_analysis.commitment(t, a, settings.n_boot, settings.seed)}
    prim = fams[0]
    gcells = [(0.0, *dit_analysis.family_arrays(clone, prim))]
    for (kind, g), r in sorted(recs.items(), key=lambda kv: kv[0][1]):
        if kind == "p1":
            gcells.append((g, *dit_analysis.family_arrays(r["result"], prim)))
    out["gap_vs_g"] = dit_analysis.gap_curve(gcells, settings.n_boot, settings.seed, out["resolution"])
    out.update(dit_predictions.predictions(name, recs, gcells, out["gap_vs_g"], settings, prim, VARIANT))
    if mix is not None:
        out["theory"] = dit_analysis.feature_theory(mix, settings.t_ints, settings.num_steps)
        if ("ou", 0.0) in recs:
            t, a = dit_analysis.family_arrays(recs[("ou", 0.0)]["result"], "features")
            out["exact_sampler"] = {"t_int": t, **dit_analysis.commitment(t, a, settings.n_boot, settings.seed)}
    out["bridge"] = dit_calibrated.bridge_analysis(recs, settings, out["resolution"], prim)
    out["precision"] = precision(out, settings.target_halfwidth)
    return out


def precision(analysis: dict, target) -> dict:
    """Every gap the report gives for this model (cloning per family, each variant and g > 0) against the
    precision target of its sizes (dit_settings; None: not held to one), power.precision_rows."""
    gaps = {f"cloning g = 0, {fam}": read_triple(f, "gap") for fam, f in analysis["families"].items()}
    for label, block in (analysis.get("variants") or {}).items():
        gaps.update({f"{label} g = {g:g}": gap for g, gap in zip(block["gap_vs_g"]["g"], read_triples(block["gap_vs_g"], "gap"))})
    rows = power.precision_rows(gaps, target)
    widths = [r["halfwidth"] for r in rows if r["halfwidth"] is not None]
    return {"target_halfwidth": target, "n_pairs": analysis["n_pairs"], "resolution": analysis["resolution"],
            "gaps": rows,
            "widest": max(widths) if widths else None,
            "meets": None if target is None else all(r["verdict"] != "misses" for r in rows)}


def _freqs(mix):
    return [(int(n[3]), int(n[4])) for n in mix.names]


def _iv(x):
    """[est, lo, hi] of an interval read from a record (theory.intervals.read_triple; None bounds -> unbounded), or None."""
    if not x:
        return None
    return [x[0], -math.inf if x[1] is None else float(x[1]), math.inf if x[2] is None else float(x[2])]


def _observed(obs_ci):
    """(estimate, its own interval) from [est, lo, hi] read from a record; (None, None) when not measured."""
    obs_ci = _iv(obs_ci)
    obs = None if not obs_ci or obs_ci[0] is None else float(obs_ci[0])
    return obs, None if obs is None else own_interval(obs, obs_ci[1], obs_ci[2])


# The findings of the source paper (P2, arXiv 2603.20987), named by what they say.
F1, F2, F3, F4, F5 = ("gap exists without coupling", "gap collapses under strong coupling", dit_depth.FINDING,
                      "global before local", "the network against the exact score")


def checks_for(analysis: dict) -> list[Check]:
    m = analysis["model"]
    cks = []
    boot = "95% percentile bootstrap over pairs"
    res = analysis.get("resolution", dit_analysis.RESOLUTION)   # half the t_int spacing (Settings.resolution)
    wres = f"{boot}, widened by {res:g} sampler step (reading resolution: half the t_int grid's spacing)"
    for fam, f in analysis["families"].items():
        obs, ci = _observed(read_triple(f, "gap"))
        cks.append(decided(f"dit.{m}.intrinsic_gap_sign.{fam}", f"gap at g = 0 (cloning) between {f['labels'][0]} "
                           f"and {f['labels'][-1]} is > 0", None, obs, ci, "sampler steps",
                           sign(obs, ci, expected=1), kind="sign", expects="> 0", model=m, finding=F1,
                           tolerance=f"sign: passes when the whole {boot} of the gap is > 0, fails when it is "
                           "wholly < 0, n/a (not resolved) when it contains 0"))
        obs, ci = _observed(read_triple(f, "kendall"))
        decision = ordering(obs, ci, expected=1)
        gate = analysis.get("quality_gate")
        if m in dit_cells.CONTROLS and gate is not None and not gate["passed"]:
            decision = Decision(NA, "the control model missed its quality gate: " + "; ".join(gate["shortfalls"]))
        control = f" (control, {dit_cells.CONTROLS[m]})" if m in dit_cells.CONTROLS else ""
        cks.append(decided(f"dit.{m}.ordering.{fam}", f"Kendall tau of commitment step vs {fam} order "
                           f"(global -> local) at g = 0{control}", None, obs, ci, "Kendall tau",
                           decision, kind="ordering", expects="> 0 (global first)",
                           model=m, finding=F4, tolerance=f"ordering: passes when the {boot} of tau lies wholly "
                           "above 0, fails when wholly below, n/a (not resolved) when it contains 0"))
    if "theory" in analysis:
        th, f = analysis["theory"], analysis["families"]["features"]
        tg = None if th["tau"][0] is None or th["tau"][-1] is None else th["tau"][-1] - th["tau"][0]
        gap, gap_ci = _observed(read_triple(f, "gap"))
        cks.append(Agreement(
            check_id=f"dit.{m}.intrinsic_gap.theory", description="gap at g = 0 (dct67 - dct01) vs the exact-score "
            "cloning curves of the FHGM (same midpoint estimator)", predicted=tg, observed=gap, interval=gap_ci,
            unit="sampler steps", model=m, finding=F1, tolerance=wres, widen=res).check())
        if "exact_sampler" in analysis:   # the same gap from the exact-score DDPM sampler on the DiT's own grid
            ex = read_triple(analysis["exact_sampler"], "gap")
            half = 0.0 if not ex or ex[0] is None else (_iv(ex)[2] - _iv(ex)[1]) / 2
            cks.append(Agreement(
                check_id=f"dit.{m}.intrinsic_gap.exact", description="gap at g = 0 (dct67 - dct01) vs the "
                "exact-score sampler on the FHGM (ou_models, real DDPM steps on the DiT's grid, same cloning "
                "protocol and estimator)", predicted=None if not ex else ex[0], observed=gap, interval=gap_ci,
                unit="sampler steps", model=m, finding=F1, tolerance=f"{wres} and by the exact sampler's half-width",
                widen=res + (half if math.isfinite(half) else 0.0)).check())
        for k, lab in enumerate(f["labels"]):
            step, step_ci = _observed(read_triples(f, "tau")[k])
            cks.append(Agreement(
                check_id=f"dit.{m}.commit_step.{lab}", description=f"commitment step of {lab} vs exact-score theory "
                f"(pitchfork step {th['pitchfork_step'][k]:.1f})", predicted=th["tau"][k], observed=step,
                interval=step_ci, unit="sampler steps", model=m, finding=F4, tolerance=wres, widen=res).check())
            if "exact_sampler" in analysis:
                cks.append(Agreement(
                    check_id=f"dit.{m}.exact_sampler.{lab}", description=f"DiT commitment step of {lab} vs the "
                    "exact-score sampler (ou_models) on DiT's DDPM grid", predicted=analysis["exact_sampler"]["tau"][k],
                    observed=step, interval=step_ci, unit="sampler steps", model=m, finding=F5,
                    tolerance=f"{wres}, of the DiT", widen=res).check())
    cks += prediction_checks(analysis, wres, res) + dit_calibrated.bridge_checks(analysis, F2)
    return cks


def prediction_checks(analysis: dict, wres: str, res: float) -> list[Check]:
    """Per g > 0 the DiT's gap against the exact analog's (FHGM; the DiT's interval widened by the reading
    resolution and the analog's half-width), and per g range whether the analog's ratio gap(g_hi)/gap(g_lo)
    and collapse answer agree with the DiT's (dit_predictions.headline). The ρ-law is not checked as a
    prediction: it is one of the hypotheses of analysis["comparison"]."""
    m, prim, cks = analysis["model"], analysis["primary"], []
    blocks = analysis.get("variants") or {}
    for window, block in blocks.items():   # keyed by variant label (dit_predictions.variant_label)
        tag = "" if window == "release" else f"{window}."
        gv, ex = block["gap_vs_g"], block.get("exact_gap_vs_g")
        if ex is not None:
            exact = dict(zip(ex["g"], read_triples(ex, "gap")))
            ex_reason = dict(zip(ex["g"], ex.get("gap_reason", [None] * len(ex["g"]))))
            for g, gap, why in zip(gv["g"], read_triples(gv, "gap"), gv.get("gap_reason", [None] * len(gv["g"]))):
                if g > 0 and g in exact:
                    pred = exact[g]
                    half = 0.0 if not pred or pred[0] is None else (pred[2] - pred[1]) / 2
                    why = (f"DiT: {why}" if why else f"exact analog: {ex_reason[g]}" if ex_reason.get(g) else None)
                    observed, interval = _observed(gap)
                    cks.append(Agreement(
                        check_id=f"dit.{m}.gap_exact.{tag}g{g:g}", description=f"{prim} gap at g = {g:g} ({window} "
                        "window) vs the exact-score gated sampler on the FHGM (same variant, DDPM grid, t_int grid, "
                        "estimator; equal g: a check of gate equivalence, not of the network)",
                        predicted=None if not pred else pred[0], observed=observed, interval=interval,
                        unit="sampler steps", model=m, finding=F2,
                        tolerance=f"{wres} and by the exact analog's half-width", widen=res + half,
                        anchor=Decision(NA, why) if why else None).check())
        cks.append(dit_joint.rho_law_check(m, window, block["comparison"], dit_cells.CONTROLS, F2,
                                           f"dit.{m}.rho_law_support{'' if not tag else '.' + window}"))
    for row in analysis.get("headline", []):
        if "predicted_ratio" not in row:    # no exact analog for this model
            continue
        pr, r = read_triple(row, "predicted_ratio"), _iv(read_triple(row, "ratio"))   # JSON null bounds -> unbounded
        r = None if not r or r[0] is None else r
        label = dit_predictions.variant_label(row)
        anchor = _iv(read_triple(row, "gap_g_lo"))   # the ratio's denominator: a ratio over a gap not told from 0 says nothing
        unanchored = r is not None and not (anchor and anchor[0] is not None
                                            and anchor_established(anchor[1], anchor[2]))
        cks.append(Check(f"dit.{m}.gap_ratio.{label}.g{row['g_lo']:g}-{row['g_hi']:g}",
                         f"gap(g = {row['g_hi']:g})/gap(g = {row['g_lo']:g}), {label} variant, vs the exact "
                         f"analog's (collapse: DiT {row['collapses']}, analog {row['predicted_collapses']})",
                         pr[0], None if not r else r[0],
                         None if not r else (r[1], r[2]),
                         "ratio", (row["prediction_agrees"] == "yes") if r and not unanchored else None, m, F2,
                         "joint 95% percentile bootstrap over pairs, widened by the reading resolution "
                         f"({res:g} step) propagated into the ratio; the collapse answers must match",
                         widen=row["ratio_tolerance"] if r else 0.0,
                         reason=(f"anchor not established: gap(g = {row['g_lo']:g}) = {_iv_txt(anchor)} contains 0, "
                                 "so the ratio over it cannot be told from any value") if unanchored
                         else dit_predictions.ratio_reason(row, r)))
    return cks


def _iv_txt(x, unit=""):
    x = _iv(x)
    return "not measurable" if not x or x[0] is None else f"{x[0]:.3g}{unit} [{_fmt(x[1])}, {_fmt(x[2])}]"


def summaries(a: dict) -> dict[str, str]:
    """One sentence per finding for one model's analysis (what was measured, in numbers)."""
    m, prim, gv = a["model"], a["primary"], a["gap_vs_g"]
    fam = a["families"][prim]
    out = {F1: f"{m}: gap at g = 0 ({fam['labels'][-1]} - {fam['labels'][0]}, cloning) "
               f"{_iv_txt(read_triple(fam, 'gap'), ' steps')} of {a['num_steps']}"
               + (f" vs {_fmt(a['theory']['tau'][-1] - a['theory']['tau'][0])} from the exact-score theory"
                  if "theory" in a and None not in (a["theory"]["tau"][0], a["theory"]["tau"][-1]) else "") + "."}
    out[F2] = (f"{m}: gap at g = {', '.join(f'{g:g}' for g in gv['g'])} (g = 0 by cloning, the others "
               f"Protocol I {a['variant']['window']}): " + ", ".join(_iv_txt(x) for x in read_triples(gv, "gap")) + "."
               + (" Exact-score gated sampler on the FHGM, same variant/grid/estimator: "
                  + ", ".join(f"g = {g:g}: {_iv_txt(x)}" for g, x in zip(a["exact_gap_vs_g"]["g"],
                                                                       read_triples(a["exact_gap_vs_g"], "gap"))) + "."
                  if a.get("exact_gap_vs_g") else "")
               + " " + " ".join(dit_predictions.comparison_sentence(m, b["variant"], b["comparison"])
                                for b in (a.get("variants") or {}).values()))
    out[F2] += power.precision_sentence(a.get("precision")) + dit_calibrated.bridge_sentence(a)
    out[F4] = f"{m}: " + "; ".join(
        f"{k}: steps {', '.join(_fmt(t) for t in f['tau'])} ({', '.join(f['labels'])}), Kendall tau "
        f"{_iv_txt(read_triple(f, 'kendall'))}" for k, f in a["families"].items()) + "."
    if "exact_sampler" in a:
        ex = a["exact_sampler"]["tau"]
        out[F5] = (f"{m}: commitment steps per feature: DiT {', '.join(_fmt(t) for t in fam['tau'])}; exact "
                   f"sampler {', '.join(_fmt(t) for t in ex)}; theory {', '.join(_fmt(t) for t in a['theory']['tau'])}.")
    return out


def _verdicts(checks: list[Check], notes: dict[str, list[str]]) -> dict[str, str]:
    out = {}
    for f in (F1, F2, F3, F4, F5):
        cs = [c for c in checks if c.finding == f]
        if not cs:
            continue
        bad = [c for c in cs if c.verdict == "fail"]
        undecided = [c for c in cs if c.verdict == "n/a"]
        models = sorted({c.model for c in cs})
        head = (f"{len(cs) - len(bad) - len(undecided)} of {len(cs)} checks pass on {', '.join(models)}"
                + (f", {len(undecided)} n/a ({'; '.join(sorted({c.reason for c in undecided}))})" if undecided else "")
                + ". "
                + " ".join(notes.get(f, [])))
        if not bad and not undecided:
            out[f] = f"{head} The finding reproduces within the stated intervals."
        elif not bad:
            out[f] = f"{head} Nothing contradicts the finding, but it is not established by these data."
        else:
            lst = "; ".join(f"{c.id}: predicted {_fmt(c.predicted)}, observed {_fmt(c.observed)}"
                            f" [{_fmt(c.ci[0]) if c.ci else '-'}, {_fmt(c.ci[1]) if c.ci else '-'}]"
                            for c in bad[:6])
            out[f] = (f"{head} It does not reproduce in full: {lst}{' ...' if len(bad) > 6 else ''}. "
                      "Failed checks are recorded, not dropped; see the figures for the measured curves.")
    return out


def _fmt(x):
    return "-" if x is None or not np.isfinite(x) else f"{x:.3g}"


DEFAULT_MODELS = ("fhgm", "fhgm-flat", "digits")  # the embedded CPU models (fhgm-flat: the control); --quick: fhgm


def dit_findings_suite(out_dir, *, quick: bool, progress=None, model=None, g_grid=None, full: bool = False,
                       runtime: Runtime = Runtime()) -> SuiteResult:
    """Measure P2's four findings on `model` (a name, a list, "digits", "tiny", DiT-XL/2 or a path).

    model=None runs the embedded CPU models: fhgm, its control fhgm-flat and digits in the full run, FHGM-DiT alone with quick=True.
    runtime: the device, the sign cells' model dtype, torch.compile and the worker processes that compute the
    cells (dit_settings.Runtime; validation.cell_workers: forked, one thread each, on a Linux CPU only).
    """
    from syncgap.dit_bridge.precision import resolve_dtype

    from syncgap.validation.suites.dit import figures as dit_figures
    device, dtype = runtime.device, resolve_dtype(runtime.dtype, runtime.device)
    if runtime.workers > 1:
        from syncgap.validation.cell_workers import usable_workers
        runtime = replace(runtime, workers=usable_workers(runtime.workers, device, runtime.compile))
    names = _models(model if model is not None else list(DEFAULT_MODELS[:1] if quick else DEFAULT_MODELS))
    say = progress if progress is not None else (lambda m: None)
    out_dir = str(out_dir)
    checks, figures, files, notes, rows, facts = [], [], [], {}, [], {}
    runtime = replace(runtime, dtype=dtype)
    # every cell is submitted before the first analysis, the depth cells first: they are the longest, so worker
    # processes (runtime.workers) compute them beside the others instead of after them, and their analysis runs
    # while the models' cells are computed
    with CellWorkers(runtime.workers, say) as pool:
        depth = dit_depth.submit_depth(out_dir, quick=bool(quick), full=bool(full), model=model, device=device,
                                       pool=pool)
        submitted = []
        for name in names:
            t0 = time.time()
            settings = settings_for(bool(quick), g_grid, bool(full), model=name)   # sized to its target (dit_settings)
            submitted.append((t0, settings, submit_model(name, out_dir, settings, runtime, say, pool)))
        depth = dit_depth.finish_depth(depth, out_dir, full=bool(full), say=say, pool=pool)   # its cells come first
        for t0, settings, sub in submitted:
            meas = finished(sub, pool)
            cf = {k: v[0] for k, v in meas["cells"].items()}
            ana = analyse_model(meas["name"], cf, settings, meas["mix"], {k: v[1] for k, v in meas["cells"].items()})
            ana["measure_wall_s"] = round(time.time() - t0, 2)
            ana["quality_gate"] = meas["quality_gate"]
            ana_path = os.path.join(os.path.dirname(next(iter(cf.values()))), "analysis.json")
            atomic_write_json(ana_path, to_plain(ana))
            ana = load_analysis(ana_path)
            cks = checks_for(ana)  # checks from the written file only
            for f, txt in summaries(ana).items():
                notes.setdefault(f, []).append(txt)
            checks += cks
            facts[ana["model"]] = dit_cells.model_facts(ana, meas["layers"], meas["random_weights"], meas["space"])
            rows += ana.get("headline", [])
            files += list(cf.values()) + [ana_path]
            figures += dit_figures.draw_all(ana_path, out_dir)
            say(f"dit {sub['name']}: {sum(c.verdict == 'pass' for c in cks)}/{len(cks)} checks pass, "
                f"{sum(c.verdict == 'n/a' for c in cks)} n/a ({time.time() - t0:.1f} s)")
    checks, figures, files = checks + depth.checks, figures + depth.figures, files + depth.files
    notes.setdefault(F3, []).extend(depth.notes)
    verdicts = _verdicts(checks, notes)
    if rows and F2 in verdicts:
        table = dit_predictions.headline_table(rows)
        head_path = os.path.join(out_dir, "dit", "headline.md")
        with open(head_path, "w", encoding="utf-8") as f:
            f.write(table + "\n")
        files.append(head_path)
        verdicts[F2] += ("\n\nHeadline: does the gap shrink or collapse under coupling (variant x model, g > 0 "
                         "only: Protocol I release has no g -> 0 limit, docs/protocols.md)?\n\n" + table)
    return SuiteResult("dit_findings", checks, figures, verdicts, [os.path.relpath(p, out_dir) for p in files],
                       facts=facts)


def load_analysis(path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


__all__ = ["dit_findings_suite", "settings_for", "Settings", "checks_for", "analyse_model", "measure_model",
           "load_analysis"]
