"""The DiT's gap against g held against independent predictions and competing hypotheses (docs/science.md §8).

Protocol I (release window, the variant the suite measures) has no g -> 0 limit (docs/protocols.md):
at g = 0 nothing is coupled and the agreement curve is flat, so a cloning gap0 is a different
quantity. Everything here therefore uses g > 0 only:

- the **exact analog** (FHGM only): the exact-score gated sampler on the data the DiT was trained
  on, with the DiT's variant, DDPM grid, t_int grid and estimator (dit_cells.exact_protocol_one_record,
  the "features" family of dit_analysis on both): gap(g) with a bootstrap interval over paths;
- a **model comparison** over the measured gaps of three hypotheses: (a) a constant gap c (k = 1),
  (b) P2's ρ-law A ρ(g) with η = 0 (k = 1) and its η variant A (ρ(g) + η)/(1 + η) (k = 2, |η| ≤ 0.95),
  (c) the exact-analog prediction (k = 0). Goodness of fit χ² = Σ (y − f)² / s², s² = sd_obs² +
  sd_pred² + reading sd² (sd = 95% width / 3.92; reading sd = resolution/√3, the grid's), AIC = χ² + 2k; the data prefer the lowest AIC, by
  its margin over the next (Burnham & Anderson: > 10 decisive, 4–10 strong, 2–4 some, < 2 none).
  A fitted parameter at its search bound is reported as null with the reason, not as a value;
- the **headline**: per model and g range ("(0, 1]" as P2 swept it, "(0, g_max]" as an extension)
  the ratio gap(g_hi)/gap(g_lo) (g_lo the smallest g > 0) with a joint bootstrap interval over
  pairs, whether the gap shrinks (interval below 1), whether it collapses (gap at g_hi within one
  sampler step of 0), and whether the exact analog agrees.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import least_squares

from syncgap.theory import routing
from syncgap.theory.intervals import list_fields, read_triple, read_triples, triple_fields

from syncgap.validation.suites.dit import analysis as dit_analysis, joint as dit_joint, readout as dit_readout

if TYPE_CHECKING:
    from syncgap.validation.suites.dit.settings import Settings



def reading_sd(resolution: float) -> float:
    """sd of a step read to ± resolution, uniform: resolution / sqrt(3)."""
    return resolution / math.sqrt(3)


READING_SD = reading_sd(0.5)   # default of compare_hypotheses (the OU suite's law comparison, ou/law.py); the
                               # DiT suite passes its grid's own (dit_settings.Settings.resolution)
ETA_BOUND = 0.95                                       # search bound |η| ≤ ETA_BOUND of the η variant
COLLAPSE_STEPS = 1.0                                   # "collapsed": gap within one sampler step of 0


def sd_of(interval):
    """sd of a 95% interval [est, lo, hi]: (hi − lo)/3.92 (normal approximation); None if not finite."""
    if not interval or interval[0] is None:
        return None
    width = float(interval[2]) - float(interval[1])
    return width / 3.92 if math.isfinite(width) else None


def chi_square(y, f, s) -> float:
    """Σ ((y − f)/s)² over the points."""
    return float(np.sum(((np.asarray(y, float) - np.asarray(f, float)) / np.asarray(s, float)) ** 2))


def fit_constant(y, s) -> float:
    """Weighted mean Σ y/s² / Σ 1/s²: the least-squares constant gap."""
    w = 1.0 / np.asarray(s, float) ** 2
    return float(np.sum(w * np.asarray(y, float)) / np.sum(w))


def fit_rho_law(g, y, s):
    """Least-squares amplitude A of gap = A ρ(g) (P2's law, η = 0): Σ y ρ/s² / Σ ρ²/s²; None if every ρ = 0."""
    rho, w = np.asarray(routing.routing_factor(np.asarray(g, float))), 1.0 / np.asarray(s, float) ** 2
    den = float(np.sum(w * rho ** 2))
    return None if den == 0 else float(np.sum(w * rho * np.asarray(y, float)) / den)


def fit_rho_eta(g, y, s) -> dict:
    """Least squares of gap = A (ρ(g) + η)/(1 + η) over (A, η), |η| ≤ ETA_BOUND; `at_bound` when η ends there."""
    g, y, s = (np.asarray(v, float) for v in (g, y, s))
    r = least_squares(lambda p: (p[0] * np.asarray(routing.predicted_gap_ratio(g, p[1])) - y) / s,
                      x0=[max(float(np.abs(y).max()), 1.0), 0.0], bounds=([-np.inf, -ETA_BOUND], [np.inf, ETA_BOUND]))
    return {"A": float(r.x[0]), "eta": float(r.x[1]), "at_bound": bool(abs(r.x[1]) >= ETA_BOUND - 1e-3)}


def compare_hypotheses(gs, gaps, predicted=None, reading=READING_SD) -> dict:
    """Constant gap, ρ-law (η = 0 and free η) and the exact-analog prediction on the points g > 0.

    gs: g per point; gaps: [est, lo, hi] (95%) or None per g; predicted: [est, lo, hi] or None per g, or None.
    Points used: g > 0 with a measured gap and a finite interval (and a prediction, when one is given).
    """
    used, left = [], []
    for i, g in enumerate(gs):
        sd = sd_of(gaps[i])
        pred = None if predicted is None else predicted[i]
        if g <= 0:
            continue
        if sd is None:
            left.append({"g": g, "reason": "gap not measured or its interval unbounded"})
        elif predicted is not None and (pred is None or pred[0] is None):
            left.append({"g": g, "reason": "no exact-analog prediction at this g"})
        else:
            used.append((g, float(gaps[i][0]), sd, None if pred is None else (float(pred[0]), sd_of(pred) or 0.0)))
    out = {"g": [u[0] for u in used], "left_out": left, "n_points": len(used), "hypotheses": []}
    if len(used) < 2:
        out.update(preferred=None, preferred_reason=f"{len(used)} usable point(s) with g > 0; need 2")
        return out
    g = np.array([u[0] for u in used])
    y = np.array([u[1] for u in used])
    s_obs = np.sqrt(np.array([u[2] for u in used]) ** 2 + reading ** 2)
    hyps = []
    c = fit_constant(y, s_obs)
    hyps.append({"name": "constant", "k": 1, "params": {"c": c}, "fitted": [c] * len(y),
                 "chi2": chi_square(y, c, s_obs)})
    amp = fit_rho_law(g, y, s_obs)
    if amp is not None:
        f = amp * np.asarray(routing.routing_factor(g))
        hyps.append({"name": "rho-law (eta = 0)", "k": 1, "params": {"A": amp}, "fitted": f.tolist(),
                     "chi2": chi_square(y, f, s_obs)})
    if len(y) > 2:
        fit = fit_rho_eta(g, y, s_obs)
        f = fit["A"] * np.asarray(routing.predicted_gap_ratio(g, fit["eta"]))
        params = {"A": fit["A"], "eta": None if fit["at_bound"] else fit["eta"]}
        if fit["at_bound"]:
            params["eta_reason"] = f"at the search bound |eta| = {ETA_BOUND:g}: not an observation"
        hyps.append({"name": "rho-law (eta free)", "k": 2, "params": params, "fitted": f.tolist(),
                     "chi2": chi_square(y, f, s_obs)})
    if predicted is not None:
        p = np.array([u[3][0] for u in used])
        s_all = np.sqrt(s_obs ** 2 + np.array([u[3][1] for u in used]) ** 2)
        hyps.append({"name": "exact analog", "k": 0, "params": {}, "fitted": p.tolist(), "chi2": chi_square(y, p, s_all)})
    for h in hyps:
        h["aic"] = h["chi2"] + 2 * h["k"]
        h["dof"] = len(y) - h["k"]
    best = sorted(hyps, key=lambda h: h["aic"])
    floor = best[0]["aic"]
    weights = np.exp(-0.5 * (np.array([h["aic"] for h in hyps]) - floor))
    for h, w in zip(hyps, weights / weights.sum()):
        h["delta_aic"] = h["aic"] - floor
        h["akaike_weight"] = float(w)
    margin = best[1]["aic"] - floor if len(best) > 1 else None
    out.update(hypotheses=hyps, preferred=best[0]["name"], margin_aic=margin,
               evidence=None if margin is None else dit_joint.evidence(margin))
    return out


def collapse_answer(interval) -> str:
    """'yes' when the whole interval lies within COLLAPSE_STEPS of 0, 'no' when it lies outside, else 'undecided'."""
    if not interval or interval[0] is None:
        return "not measured"
    lo, hi = float(interval[1]), float(interval[2])
    if -COLLAPSE_STEPS <= lo and hi <= COLLAPSE_STEPS:
        return "yes"
    return "no" if lo > COLLAPSE_STEPS or hi < -COLLAPSE_STEPS else "undecided"


def shrink_answer(ratio) -> str:
    """'yes' when the ratio's interval lies below 1, 'no (grows)' above 1, 'not shown' when it holds 1."""
    if not ratio or ratio[0] is None:
        return "not measured"
    return "yes" if ratio[2] < 1 else "no (grows)" if ratio[1] > 1 else "not shown"


def variant_label(variant: dict) -> str:
    """'release' for the suite's default variant; else the window with the sampler and noise that differ."""
    return (variant["window"] + ("" if variant["sampler"] == "ddpm" else f"-{variant['sampler']}")
            + ("" if variant["noise"] == "independent" else f"-{variant['noise']}"))


def direction_of(window: str) -> str:
    """Agreement rises with t_int in the release window (coupled longer), falls in switch-on (coupled shorter)."""
    return "falling" if window == "switch-on" else "rising"


def gap_intervals(cells, n_boot, seed=0, direction="rising") -> dict:
    """{g: [est, lo, hi]}: the gap of each cell [(g, t, a (P, U, T))] with a percentile bootstrap over pairs."""
    return {g: read_triple(dit_analysis.commitment(t, a[:, [0, -1]], n_boot, seed, direction), "gap")
            for g, t, a in cells}


def ratio_interval(cells, g_lo, g_hi, n_boot, seed=0, direction="rising"):
    """gap(g_hi)/gap(g_lo) of cells [(g, t, a (P, U, T))], with a joint percentile bootstrap over pairs."""
    by_g = {c[0]: c for c in cells}
    (_, t0, a0), (_, t1, a1) = by_g[g_lo], by_g[g_hi]
    n = min(a0.shape[0], a1.shape[0])

    def ratio(idx):
        lo, hi = dit_analysis.gap_of(t0, a0[idx], direction), dit_analysis.gap_of(t1, a1[idx], direction)
        return None if lo is None or hi is None or lo == 0 else hi / lo

    rng = np.random.default_rng(seed)
    boots = [ratio(rng.integers(0, n, n)) for _ in range(n_boot)]
    return dit_analysis.percentile_interval(boots, ratio(np.arange(n)))


def g_ranges(gs):
    """[(label, g_lo, g_hi)]: P2's sweep (0, 1] and, when the grid goes past 1, the extension (0, g_max]."""
    pos = sorted(g for g in gs if g > 0)
    if not pos:
        return []
    inside = [g for g in pos if g <= 1]
    out = [("(0, 1]", pos[0], inside[-1] if inside else None)]
    if pos[-1] > 1:
        out.append((f"(0, {pos[-1]:g}]", pos[0], pos[-1]))
    return out


def headline(model, variant: dict, cells, gaps, exact_cells, exact_gaps, settings: Settings) -> list[dict]:
    """One row per g range: ratio with interval, shrink, collapse, and the exact analog's answers beside them.

    cells / exact_cells: [(g, t, a (P, U, T))] of the DiT and of the exact analog (None: none); gaps / exact_gaps:
    {g: [est, lo, hi]}; settings: the bootstrap's n_boot and seed, the reading resolution of the t_int grid.
    A row's intervals (theory.intervals): ratio, gap_g_lo and gap_g_hi (the gaps at its two ends), predicted_ratio
    and predicted_gap_g_hi (the exact analog's).
    """
    n_boot, seed, resolution = settings.n_boot, settings.seed, settings.resolution
    rows = []
    for label, g_lo, g_hi in g_ranges([c[0] for c in cells]):
        row = {"model": model, **variant, "g_range": label, "g_lo": g_lo, "g_hi": g_hi}
        if g_hi is None or g_hi == g_lo:
            rows.append(row | {**triple_fields("ratio", None, "fewer than two g > 0 in this range"),
                               "shrinks": "not measured", "collapses": collapse_answer(gaps.get(g_hi)),
                               "prediction_agrees": None})
            continue
        direction = direction_of(variant["window"])
        ratio = ratio_interval(cells, g_lo, g_hi, n_boot, seed, direction)
        row |= {**triple_fields("ratio", ratio), "shrinks": shrink_answer(ratio),
                **triple_fields("gap_g_lo", gaps.get(g_lo)), **triple_fields("gap_g_hi", gaps.get(g_hi)),
                "collapses": collapse_answer(gaps.get(g_hi))}
        if exact_cells is None:
            rows.append(row | {"prediction_agrees": None, "prediction_agrees_reason": "no exact analog for this model"})
            continue
        pred = ratio_interval(exact_cells, g_lo, g_hi, n_boot, seed, direction)
        gap_lo = gaps.get(g_lo, [None])[0]
        widen = (resolution * (1 + abs(pred[0])) / abs(gap_lo)
                 if pred[0] is not None and gap_lo else 0.0)
        pred_gap = exact_gaps.get(g_hi)
        pred_collapse = (None if not pred_gap or pred_gap[0] is None
                         else "yes" if abs(pred_gap[0]) <= COLLAPSE_STEPS else "no")
        ratio_ok = (pred[0] is not None and ratio[0] is not None
                    and ratio[1] - widen <= pred[0] <= ratio[2] + widen)
        agrees = ratio_ok and (row["collapses"] == "undecided" or pred_collapse == row["collapses"])
        verdict = ("not measured" if ratio[0] is None or pred[0] is None else "yes" if agrees else "no")
        rows.append(row | {**triple_fields("predicted_ratio", pred), **triple_fields("predicted_gap_g_hi", pred_gap),
                           "predicted_collapses": pred_collapse, "ratio_tolerance": widen, "prediction_agrees": verdict})
    return rows


def rho_law_reason(d_aic: float, preferred: str) -> str:
    """Why the rho-law is or is not supported: its AIC distance from the preferred hypothesis."""
    if d_aic <= 2.0:
        return f"the rho-law is {d_aic:.3g} AIC from the preferred hypothesis ({preferred}): not distinguishable"
    return f"the rho-law is {d_aic:.3g} AIC behind the preferred hypothesis ({preferred}), more than 2"


def ratio_reason(row: dict, r) -> str:
    """Why a gap ratio agrees with the exact analog's or not: the ratio inside the band and the collapse answers."""
    if not r:
        return "no ratio measured"
    inside = r[1] - row["ratio_tolerance"] <= row["predicted_ratio"] <= r[2] + row["ratio_tolerance"]
    same = row["collapses"] in ("undecided", row["predicted_collapses"])
    return ("the analog's ratio is " + ("inside" if inside else "outside") + " the DiT's widened interval; collapse "
            + (f"answers agree ({row['collapses']})" if same else
               f"answers differ (DiT {row['collapses']}, analog {row['predicted_collapses']})"))


def _txt(x, digits=3):
    if not x or x[0] is None:
        return "-"
    lo = "-inf" if x[1] is None or not math.isfinite(x[1]) else f"{x[1]:.{digits}g}"   # JSON null: unbounded
    hi = "inf" if x[2] is None or not math.isfinite(x[2]) else f"{x[2]:.{digits}g}"
    return f"{x[0]:.{digits}g} [{lo}, {hi}]"


def headline_table(rows) -> str:
    """The headline rows as a markdown table (report and dit/headline.md)."""
    head = ("| model | window | noise | sampler | eps | g range | gap(g_hi)/gap(g_lo) | shrinks | gap at g_hi "
            "| collapses | exact analog: ratio | collapses | agrees |")
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        lines.append(f"| {r['model']} | {r['window']} | {r['noise']} | {r['sampler']} | {r['eps']:g} | {r['g_range']}"
                     f" (g {r['g_lo']:g} → {_g(r['g_hi'])}) | {_txt(read_triple(r, 'ratio'))} | {r['shrinks']} | "
                     f"{_txt(read_triple(r, 'gap_g_hi'))} | {r['collapses']} | {_txt(read_triple(r, 'predicted_ratio'))} | "
                     f"{r.get('predicted_collapses') or '-'} | {r.get('prediction_agrees') or '-'} |")
    return "\n".join(lines)


def _g(x):
    return "-" if x is None else f"{x:g}"


def comparison_sentence(model, variant, comp) -> str:
    """What the model comparison found, in one sentence with the numbers."""
    tag = f"{model} ({variant['window']}, {variant['sampler']}, noise {variant['noise']})"
    if comp["preferred"] is None:
        return f"{tag}: no model comparison ({comp['preferred_reason']})."
    parts = [f"{h['name']} chi2 = {h['chi2']:.3g} (k = {h['k']}, dAIC = {h['delta_aic']:.3g})" for h in comp["hypotheses"]]
    eta = next((h["params"] for h in comp["hypotheses"] if h["name"] == "rho-law (eta free)"), None)
    note = f"; eta {eta['eta_reason']}" if eta and eta.get("eta") is None else ""
    return (f"{tag}, gap against g over g > 0 ({comp['n_points']} points): {'; '.join(parts)}{note}. "
            f"The data prefer {comp['preferred']} (AIC margin {comp['margin_aic']:.3g}: {comp['evidence']}).")


def predictions(name, recs, gcells, gap_vs_g, settings, family, base_variant: dict) -> dict:
    """Per Protocol I variant of settings.variants: the gaps over g > 0, the exact analog's gap(g) (FHGM,
    cells "exact_<kind>"), the model comparison and the headline rows. recs: {(kind, g): cell record};
    gcells: [(g, t, a)] of the release cells (g = 0 cloning first); gap_vs_g: dit_analysis.gap_curve of them.
    The release variant's comparison and exact gaps also sit at the top level."""
    out = {"variant": dict(base_variant), "variants": {}, "headline": []}
    for window, noise, sampler in settings.variants:
        variant = {**base_variant, "window": window, "noise": noise, "sampler": sampler}
        label = variant_label(variant)
        kind = "p1" if label == "release" else f"p1_{label}"
        direction = direction_of(window)
        if label == "release":                            # no g -> 0 limit: g > 0 only
            pos = [c for c in gcells if c[0] > 0]
            gaps = dict(zip(gap_vs_g["g"], read_triples(gap_vs_g, "gap")))
            missing = dict(zip(gap_vs_g["g"], gap_vs_g.get("missing", [0.0] * len(gap_vs_g["g"]))))
            reasons = {g: dit_readout.null_reason(t, a, direction) for g, t, a in pos}
        else:
            pos = dit_readout.readable_cells(sorted(
                (g, *dit_analysis.family_arrays(r["result"], family)) for (k, g), r in recs.items() if k == kind),
                window, settings.num_steps)
            reads = dit_readout.gap_readings(pos, settings.n_boot, settings.seed, direction)
            gaps = {g: read_triple(r, "gap") for g, r in reads.items()}
            missing, reasons = {g: r["missing"] for g, r in reads.items()}, {g: r.get("gap_reason") for g, r in reads.items()}
        if not pos:
            continue
        exact = dit_readout.readable_cells(sorted(
            (g, *dit_analysis.family_arrays(r["result"], "features")) for (k, g), r in recs.items()
            if k == f"exact_{kind}"), window, settings.num_steps) if family == "features" else []
        exact_reads = dit_readout.gap_readings(exact, settings.n_boot, settings.seed, direction) if exact else None
        exact_gaps = None if exact_reads is None else {g: read_triple(r, "gap") for g, r in exact_reads.items()}
        gs = [c[0] for c in pos]
        calib = (sorted((g, *dit_analysis.family_arrays(r["result"], "features")) for (k, g), r in recs.items()
                        if k == "calib_p1") if label == "release" and family == "features" else None)
        block = {"variant": variant, "gap_vs_g": {"g": gs, **list_fields("gap", [gaps[g] for g in gs],
                                                                         [reasons.get(g) for g in gs]),
                                                  "missing": [missing.get(g) for g in gs]},
                 "comparison": dit_joint.compare_joint(pos, settings.n_boot, settings.seed, direction,
                                                       reading_sd(settings.resolution), calib or None)}
        if exact:
            block["exact_gap_vs_g"] = {"g": list(exact_gaps),
                                       **list_fields("gap", list(exact_gaps.values()),
                                                     [r.get("gap_reason") for r in exact_reads.values()]),
                                       "missing": [r["missing"] for r in exact_reads.values()],
                                       "n_paths": int(exact[0][2].shape[0])}
        out["variants"][label] = block
        out["headline"] += headline(name, variant, pos, gaps, exact or None, exact_gaps, settings)
    release = out["variants"].get("release", {})
    out["comparison"] = release.get("comparison") or {"preferred": None, "preferred_reason": "no release cells",
                                                      "hypotheses": []}
    if "exact_gap_vs_g" in release:
        out["exact_gap_vs_g"] = release["exact_gap_vs_g"]
    return out


__all__ = ["sd_of", "chi_square", "fit_constant", "fit_rho_law", "fit_rho_eta", "compare_hypotheses",
           "collapse_answer", "shrink_answer", "variant_label", "direction_of", "gap_intervals", "ratio_interval",
           "g_ranges", "headline", "headline_table",
           "comparison_sentence", "predictions", "READING_SD", "ETA_BOUND", "COLLAPSE_STEPS"]
