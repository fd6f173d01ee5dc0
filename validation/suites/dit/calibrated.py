"""The bridge: the DiT's gap predicted from its own measured gate, and P2.2 tested where it can show a collapse.

Cells (FHGM-DiT and its control, beside the Protocol I cells of dit_findings; dit_cells.cell_file names):
- "gate" (g > 0): the DiT's gate response rho_eff(g, feature, step) (dit_bridge.gate_response) on GATE_PAIRS
  pairs of seed GATE_SEED, every sampler step, no smoothing: the rule fixed before any Protocol I cell was read.
- "p1_clone" (g >= 0, every model): the DiT in the coupled-cloning window (dit_bridge.coupled_clone).
- "exact_p1_clone" (g >= 0): the equal-g exact analog in that window (final read-out ungated).
- "calib_p1", "calib_p1_clone" (g > 0): the **calibrated analog**, the exact-score sampler whose gate on feature
  k at step s is the DiT's rho_eff(g, k, s) clipped to [-1, 1] (ou_models.analog.feature_gate_tables), in the
  release and coupled-cloning windows. No Protocol I data enter it: it predicts the DiT's gaps from a one-step
  measurement. (The equal-g analog, gate rho(g) on every feature, checks gate equivalence only.)

Checks (decided by rules fixed before reading any DiT Protocol I cell):
- `dit.<model>.bridge.<window>.g<g>`: passes when the DiT's gap minus the calibrated analog's lies within their
  joint 95% interval, sqrt(h_DiT^2 + h_analog^2) (half-widths of the DiT's bootstrap over pairs and the analog's
  over paths) widened once by the reading resolution; fails outside; n/a where either gap is null (reason).
- `dit.<model>.collapse.clone.g<g>`: P2.2 in the coupled-cloning window, which has a g -> 0 limit (cloning):
  the ratio gap(g)/gap(0) with a joint bootstrap over pairs, its interval widened by the reading resolution
  propagated into the ratio; passes when it lies wholly at or below 1 (the gap shrinks under coupling), fails
  when wholly above 1, n/a when 1 lies inside it or when gap(0) is not established. Whether it collapses (gap(g) within
  one step of 0) and the two analogs' ratios are stated beside it.
- `dit.<model>.collapse.clone_gap.g<g>` (strongest g only): the collapse itself, the DiT's coupled-cloning gap
  within one sampler step of 0 (`within` on its interval widened by the reading resolution): pass
  inside [-1, 1], fail wholly outside, n/a straddling or while gap(0) is not established.
"""
from __future__ import annotations

import math

import numpy as np

from syncgap.theory.gated import routing_factor
from syncgap.theory.intervals import interval_fields, read_interval, read_triple, triple_fields
from syncgap.validation.checks import NA, Check, Decision, agreement, anchor_established, bound, decided, within

from syncgap.validation.suites.dit import (analysis as dit_analysis, joint as dit_joint, predictions as dit_predictions,
                                           readout as dit_readout)

GATE_PAIRS = 64          # pairs of the gate-response reading (demo and full); 4 in --quick
BRIDGE_WINDOWS = ("release", "clone")


def gate_record(model, mix, g, *, num_steps, n_pairs, n_boot) -> dict:
    """The gate-response cell: rho_eff and rho_lin (steps, F) at g on the fixed seed (GATE_SEED)."""
    from syncgap.dit_bridge.gate_response import gate_response
    return gate_response(model, g, mix.patterns, n_pairs=n_pairs, num_steps=num_steps, n_boot=n_boot)


def calibrated_rho(gate: dict) -> tuple[np.ndarray, dict]:
    """rho_eff of a gate cell clipped to [-1, 1] (steps, F), and what was clipped (ou_models.analog.clip_rho)."""
    from syncgap.ou_models.analog import clip_rho
    return clip_rho(np.asarray(gate["rho_eff"], float))


def analog_record(mix, t_ints, *, num_steps, n_paths, seed, window, g=None, rho=None) -> dict:
    """Exact-score analog in `window` ("release" or "clone") on the DiT's DDPM grid: the equal-g analog (gate g,
    final read-out ungated) or, with rho (steps, F), the calibrated one. Per path and t_int the sign agreement
    per feature (n, F, T), the DiT's "features" estimator."""
    from syncgap.ou_models.analog import analog_gate, coupled_cloning, feature_gate_tables
    from syncgap.ou_models.engine import ddpm_grid
    from syncgap.ou_models.measure import protocol_one
    grid = ddpm_grid(num_steps)
    tables = None if rho is None else feature_gate_tables(mix, grid, rho, "ddpm")
    gate = 0.0 if rho is not None else analog_gate(g, num_steps)
    if window == "clone":
        r = coupled_cloning(mix, grid, gate, n_paths, seed, list(t_ints), "ddpm", tables)
        steps, units = r["branch_steps"], r["units"]
    else:
        r = protocol_one(mix, grid, gate, n_paths, seed=seed, t_int_times=grid[np.asarray(t_ints)], scheme="ddpm",
                         window=window, eps=0.3, gate_tables=tables, fit=False)
        steps, units = r["units_t_int_steps"], r["units"]
    return {"t_int": [int(s) for s in steps], "feature_agreement": np.moveaxis(units.astype(float), 2, 1)}


def bridge_cells(cell, record, model, mix, settings, p1: dict, sign_model) -> None:
    """Submit (or reuse) the bridge's cells through dit_findings' `cell(kind, g, compute, **config)`; `record(cell)`
    waits for one and gives its record (the calibrated analog reads the gate's). The coupled-cloning cells read
    signs, so they run the model that `sign_model(kind, g)` gives with its key's dtype entry (dit_findings: bf16
    under --dtype auto on a CPU with native bf16); the gate response stays float32. Every gate is submitted
    before the first is read, so worker processes (validation.cell_workers) never wait on one gate at a time."""
    from syncgap.dit_bridge import protocols
    for g in settings.g_grid:   # g = 0 is the "clone" cell: coupled cloning at g = 0 is cloning (tested)
        if g > 0:
            m, typed = sign_model("p1_clone", g)
            cell("p1_clone", g, lambda g=g, m=m: protocols.protocol_one(m, g, window="clone", fit=False, **p1),
                 window="clone", **typed)
    if mix is None or not settings.bridge:
        return
    ex = dict(num_steps=settings.num_steps, n_paths=settings.ou_paths, seed=settings.seed)
    gates = {}
    for g in settings.g_grid:
        cell("exact_p1_clone", g, lambda g=g: analog_record(mix, settings.t_ints, window="clone", g=g, **ex),
             n_paths=settings.ou_paths, window="clone", gate_final=False)
        if g > 0:
            gates[g] = cell("gate", g, lambda g=g: gate_record(model, mix, g, num_steps=settings.num_steps,
                                                               n_pairs=settings.gate_pairs, n_boot=settings.n_boot),
                            gate_pairs=settings.gate_pairs)
    for g, gate in gates.items():
        rho, _ = calibrated_rho(record(gate)["result"])
        for window in BRIDGE_WINDOWS:
            kind = "calib_p1" if window == "release" else "calib_p1_clone"
            cell(kind, g, lambda w=window, r=rho: analog_record(mix, settings.t_ints, window=w, rho=r, **ex),
                 n_paths=settings.ou_paths, window=window, gate_pairs=settings.gate_pairs)


def _cells(recs, kind, family="features"):
    return sorted((g, *dit_analysis.family_arrays(r["result"], family)) for (k, g), r in recs.items() if k == kind)


def _clone_cells(recs, family="features"):
    """The DiT's coupled-cloning cells, g = 0 from the cloning cell ("clone")."""
    return _cells(recs, "clone", family) + _cells(recs, "p1_clone", family)


def _half(iv):
    return (iv[2] - iv[1]) / 2 if iv and _finite(*iv) else None


def bridge_row(g, dit, calib, exact, resolution) -> dict:
    """One g: the DiT's gap, the calibrated and equal-g analogs' (dit_readout.gap_readings), the difference
    DiT - calibrated with its interval +- its joint 95% half-width sqrt(h_d^2 + h_c^2) + resolution (`halfwidth`),
    and its reason when a gap is null."""
    d, c = read_triple(dit, "gap"), read_triple(calib, "gap")
    row = {"g": g, **triple_fields("dit", d), **triple_fields("calibrated", c),
           **triple_fields("equal_g", read_triple(exact, "gap") if exact else None),
           "dit_missing": dit["missing"], "calibrated_missing": calib["missing"]}
    hd, hc = _half(d), _half(c)
    why = (f"DiT: {dit['gap_reason']}" if dit.get("gap_reason") else
           f"calibrated analog: {calib['gap_reason']}" if calib.get("gap_reason")
           else None if hd is not None and hc is not None else "an interval is unbounded")
    if why:
        return row | interval_fields("difference", None, None, None, why) | {"halfwidth": None}
    diff, half = d[0] - c[0], math.hypot(hd, hc) + resolution
    return row | interval_fields("difference", diff, diff - half, diff + half) | {"halfwidth": half}


def bridge_analysis(recs: dict, settings, resolution: float, family: str = "features") -> dict:
    """analysis.json's "bridge" block: the gate summary, bridge rows per window and the collapse rows."""
    out = {"rule": "DiT gap - calibrated analog gap within sqrt(h_DiT^2 + h_analog^2) + reading resolution",
           "resolution": resolution, "gate": {}, "windows": {}, "collapse": []}
    for (k, g), r in sorted(recs.items(), key=lambda kv: kv[0][1]):
        if k == "gate":
            rho, clip = calibrated_rho(r["result"])
            lin = np.asarray(r["result"]["rho_lin"], float)    # sensitivity only: how far the linear reading lies
            out["gate"][f"{g:g}"] = {"rho_analog": routing_factor(g), "min": rho.min(0).tolist(),
                                     "max": rho.max(0).tolist(), "last_step": rho[-1].tolist(), "clipped": clip,
                                     "rho_eff": rho.tolist(),
                                     "max_abs_lin_minus_eff": np.nanmax(np.abs(lin - rho), axis=0).tolist(),
                                     "n_pairs": r["result"]["n_pairs"], "seed": r["result"]["seed"]}
    n, s = settings.n_boot, settings.seed
    out["collapse"] = collapse_rows(recs, n, s, resolution, family)
    calib = _cells(recs, "calib_p1_clone") if family == "features" else None
    out["comparison"] = dit_joint.compare_joint(_clone_cells(recs, family), n, s, "rising",
                                                dit_predictions.reading_sd(resolution), calib or None)
    for window in BRIDGE_WINDOWS if out["gate"] else ():
        dkind, ckind, ekind = (("p1", "calib_p1", "exact_p1") if window == "release"
                               else ("p1_clone", "calib_p1_clone", "exact_p1_clone"))
        dit = dit_readout.gap_readings(_clone_cells(recs) if window == "clone" else _cells(recs, dkind), n, s)
        calib = dit_readout.gap_readings(_cells(recs, ckind), n, s)
        exact = dit_readout.gap_readings(_cells(recs, ekind), n, s)
        out["windows"][window] = [bridge_row(g, dit[g], calib[g], exact.get(g), resolution)
                                  for g in sorted(calib) if g in dit]
    return out


def collapse_rows(recs, n_boot, seed, resolution, family="features") -> list[dict]:
    """Coupled cloning: per g > 0 the ratio gap(g)/gap(0) of the DiT (joint bootstrap over pairs; `family` its
    units), of the equal-g and of the calibrated analog (its g = 0 is cloning, the equal-g analog's g = 0 cell)."""
    dit, exact = _clone_cells(recs, family), _cells(recs, "exact_p1_clone")
    calib = [c for c in exact if c[0] == 0] + _cells(recs, "calib_p1_clone")
    gaps = {g: read_triple(r, "gap") for g, r in dit_readout.gap_readings(dit, n_boot, seed).items()}
    rows = []
    for g in sorted(x for x in gaps if x > 0):
        if 0.0 not in gaps:
            break
        ratio = dit_predictions.ratio_interval(dit, 0.0, g, n_boot, seed)
        gap0 = gaps[0.0]
        widen = resolution * (1 + abs(ratio[0])) / abs(gap0[0]) if ratio[0] is not None and gap0[0] else 0.0
        row = {"g": g, **triple_fields("gap0", gap0), **triple_fields("gap", gaps[g]), "gap_tolerance": resolution,
               **triple_fields("ratio", ratio),
               "ratio_tolerance": widen, "collapses": dit_predictions.collapse_answer(gaps[g])}
        for name, cells in (("equal_g", exact), ("calibrated", calib)):
            have = {c[0] for c in cells}
            row |= triple_fields(f"{name}_ratio", dit_predictions.ratio_interval(cells, 0.0, g, n_boot, seed)
                                 if {0.0, g} <= have else None)
        rows.append(row)
    return rows


def _established(gap0) -> bool:
    """gap(0) ([est, low, high]) is measured and its interval excludes 0 (anchor_established)."""
    return gap0[0] is not None and anchor_established(gap0[1], gap0[2])


def _finite(*xs) -> bool:
    return all(x is not None and math.isfinite(x) for x in xs)


def _txt(iv):
    """[est, lo, hi] as text; a JSON null bound is unbounded."""
    if not iv or iv[0] is None:
        return "null"
    lo, hi = ("-inf" if not _finite(iv[1]) else f"{iv[1]:.3g}"), ("inf" if not _finite(iv[2]) else f"{iv[2]:.3g}")
    return f"{iv[0]:.3g} [{lo}, {hi}]"


def bridge_sentence(analysis: dict) -> str:
    """The coupled-cloning ratios and the bridge's differences, in numbers, for the P2.2 verdict."""
    b, m = analysis.get("bridge") or {}, analysis["model"]
    parts = []
    if b.get("collapse"):
        parts.append(f" {m}, coupled cloning (g = 0: cloning): gap(0) = {_txt(read_triple(b['collapse'][0], 'gap0'))}; "
                     + "; ".join(f"gap({r['g']:g})/gap(0) = {_txt(read_triple(r, 'ratio'))} (gap "
                                 f"{_txt(read_triple(r, 'gap'))}; equal-g analog {_txt(read_triple(r, 'equal_g_ratio'))}, "
                                 f"calibrated {_txt(read_triple(r, 'calibrated_ratio'))})" for r in b["collapse"]) + ".")
    for window, rows in (b.get("windows") or {}).items():
        parts.append(f" {m}, {window} window, DiT vs calibrated analog (vs equal-g analog): "
                     + "; ".join(f"g = {r['g']:g}: {_txt(read_triple(r, 'dit'))} vs {_txt(read_triple(r, 'calibrated'))} "
                                 f"({_txt(read_triple(r, 'equal_g'))})" for r in rows) + ".")
    return "".join(parts)


def bridge_checks(analysis: dict, finding: str) -> list[Check]:
    """The bridge and collapse checks of one model's analysis (module docstring)."""
    m, b, cks = analysis["model"], analysis.get("bridge") or {}, []
    for window, rows in (b.get("windows") or {}).items():
        for r in rows:
            d, lo, hi, why = read_interval(r, "difference")
            ci = None if d is None else (lo, hi)
            decision = (Decision(NA, why) if why else agreement(0.0, d, ci))
            cks.append(decided(f"dit.{m}.bridge.{window}.g{r['g']:g}",
                               f"DiT gap at g = {r['g']:g} ({window} window) {_txt(read_triple(r, 'dit'))} minus the "
                               f"calibrated analog's {_txt(read_triple(r, 'calibrated'))} (exact score driven by the "
                               f"DiT's measured gate); equal-g analog {_txt(read_triple(r, 'equal_g'))} (gate "
                               "equivalence only)",
                               0.0, d, ci, "sampler steps", decision, kind="agreement", model=m, finding=finding,
                               tolerance=b.get("rule", "")))
    if b.get("comparison") is not None:
        from syncgap.validation.suites.dit.cells import CONTROLS
        cks.append(dit_joint.rho_law_check(m, "clone", b["comparison"], CONTROLS, finding,
                                           f"dit.{m}.rho_law_support.clone"))
    for r in b.get("collapse") or []:
        ratio, gap0 = read_triple(r, "ratio"), read_triple(r, "gap0")
        ci = (ratio[1] - r["ratio_tolerance"], ratio[2] + r["ratio_tolerance"]) if _finite(*ratio) else None
        if not _established(gap0):
            decision = Decision(NA, f"gap(0) = {_txt(gap0)} is not established: a ratio over it says nothing")
        elif not _finite(*ratio):
            decision = Decision(NA, "ratio not measurable (a gap has no midpoint in too many resamples)")
        else:   # pass: whole widened interval <= 1; fail: whole interval > 1; n/a: 1 inside it
            decision = bound(1.0, ratio[0], ci, side="below")
        cks.append(decided(f"dit.{m}.collapse.clone.g{r['g']:g}",
                           f"coupled cloning: gap(g = {r['g']:g})/gap(0) = {_txt(ratio)} (gap {_txt(read_triple(r, 'gap'))}, "
                           f"gap(0) {_txt(gap0)}; collapses: {r['collapses']}); equal-g analog "
                           f"{_txt(read_triple(r, 'equal_g_ratio'))}, calibrated analog "
                           f"{_txt(read_triple(r, 'calibrated_ratio'))}",
                           1.0, ratio[0], ci, "ratio", decision, kind="bound", model=m, finding=finding,
                           expects="< 1 (P2.2: the gap shrinks under coupling)",
                           tolerance="joint 95% bootstrap over pairs, widened by the reading resolution propagated "
                                     "into the ratio"))
    if b.get("collapse"):
        cks.append(collapse_gap_check(m, max(b["collapse"], key=lambda r: r["g"]), finding))
    return cks


def collapse_gap_check(m: str, r: dict, finding: str) -> Check:
    """P2.2's collapse itself: the DiT's coupled-cloning gap at the strongest g within one sampler step of 0
    (its bootstrap interval widened by the reading resolution); n/a while gap(0) is not established."""
    gap, gap0, res = read_triple(r, "gap"), read_triple(r, "gap0"), r.get("gap_tolerance", 0.0)
    ci = (gap[1] - res, gap[2] + res) if _finite(*gap) else None
    if not _established(gap0):
        decision = Decision(NA, f"gap(0) = {_txt(gap0)} is not established: no gap to collapse")
    else:
        decision = within(gap[0], ci, half_width=dit_predictions.COLLAPSE_STEPS)
    return decided(f"dit.{m}.collapse.clone_gap.g{r['g']:g}",
                   f"coupled cloning at the strongest g = {r['g']:g}: the gap {_txt(gap)} steps (gap(0) {_txt(gap0)}) "
                   f"within {dit_predictions.COLLAPSE_STEPS:g} sampler step of 0 (P2.2: the gap collapses)",
                   0.0, gap[0], ci, "sampler steps", decision, kind="within", model=m,
                   finding=finding, expects=f"|gap| <= {dit_predictions.COLLAPSE_STEPS:g} step",
                   tolerance="95% bootstrap over pairs, widened by the reading resolution")


__all__ = ["gate_record", "calibrated_rho", "analog_record", "bridge_cells", "bridge_analysis", "collapse_rows",
           "bridge_row", "bridge_checks", "collapse_gap_check", "bridge_sentence", "GATE_PAIRS",
           "BRIDGE_WINDOWS"]
