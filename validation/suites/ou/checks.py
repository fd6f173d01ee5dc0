"""Checks of the OU/theory suite, made from its cell files alone (docs/science.md §2-4).

Each check holds a theory prediction against a measured value with its interval (validation.checks.Check).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from syncgap.theory.intervals import read_triple
from syncgap.validation.checks import (FAIL, NA, Agreement, Check, Decision, anchor_established, bound, decided,
                                       own_interval)
from syncgap.validation.legacy import upgrade_ou_cell
from syncgap.validation.store import DamagedRecord, check_record, numbers_only, read_json, report_damage

from syncgap.validation.suites.ou.cells import AMPS_B, DIT_STEPS, LEVEL
from syncgap.validation.suites.ou.law import gap_law, onset


def _num(x):
    return None if x is None or not np.isfinite(float(x)) else float(x)


def _onset_decision(pred, obs, interval, step) -> Decision:
    """Theory bounds the onset from above (observed <= predicted); no predicted onset means none may be observed."""
    if pred is None:
        if obs is None:
            return Decision(NA, "no onset predicted and none observed: nothing to compare")
        return Decision(FAIL, "an onset observed where theory predicts none")
    return bound(pred, obs, interval, side="below", slack=step)


def validate_cell(name: str, result: dict) -> None:
    """Raise KeyError, IndexError, TypeError or ValueError unless `result` can feed this cell's checks.

    The store calls it on every cell it reads (validation.store.check_record): a cell that fails is
    damaged and recomputed.
    """
    numbers_only(result, labels=("features", "coupling"))   # the only text fields of OU cells
    if name.startswith("base_cloning_d"):
        _base_checks(result)
    elif name.startswith(("collapse_", "layer_a_", "layer_b_energy_")):
        _rest_checks({name: result})
    elif name == "layer_b_cloning_g0":
        _gap_checks(result, gap_law([result], 10))
    elif name.startswith("layer_b_p1_"):
        float(result["g"])
        for end in ("", "_low", "_high"):
            if np.ndim(result[f"gap_dit_steps{end}"]) != 0 or len(result[f"tau{end}"]) != len(AMPS_B):
                raise ValueError("gap_dit_steps must be one interval and tau one interval per feature")


def read_cells(root: Path) -> dict:
    """{name: result} of every whole cell file under `root`; a damaged one is skipped with a line on stderr."""
    cells = {}
    for p in sorted(root.glob("*.json")):
        if p.stem == "gap_law":
            continue
        try:
            cells[p.stem] = check_record(read_json(p), validate=lambda r, n=p.stem: validate_cell(n, r),
                                         upgrade=lambda r, n=p.stem: upgrade_ou_cell(n, r))["result"]
        except DamagedRecord as exc:
            report_damage(p, str(exc), "leaving it out of the checks")
    return cells


def checks_from_files(root: Path) -> tuple[list[Check], dict]:
    """Every check of the suite, from the cell files under `root` only; also the law analysis (or None)."""
    cells = read_cells(Path(root))
    out = []
    for name in sorted((k for k in cells if k.startswith("base_cloning_d")), key=lambda k: cells[k]["d"]):
        out += _base_checks(cells[name])
    out += _rest_checks(cells)
    b0 = cells.get("layer_b_cloning_g0")
    p1 = sorted((cells[k] for k in cells if k.startswith("layer_b_p1_")), key=lambda r: r["g"])
    law = None
    if b0 is not None:
        law = gap_law([b0] + p1, 200)
        out += _gap_checks(b0, law)
    return out, law


def _base_checks(c: dict) -> list[Check]:
    out, d = [], c["d"]
    ci_hw = float(np.max(np.array(c["agreement_high"]) - np.array(c["agreement_low"]))) / 2
    dev = float(np.max(np.abs(np.array(c["agreement"]) - np.array(c["phi_theory"]))))
    out.append(Agreement(
        check_id=f"ou.base.d{d}.cloning_curve", description=f"max |phi_sim - phi_theory| over "
        f"{len(c['t_branch'])} cloning times, d = {c['d']} (theory.base.cloning_agreement)",
        predicted=0.0, observed=dev, interval=(dev - 1.5 * ci_hw, dev + 1.5 * ci_hw), unit="agreement",
        finding="base theory",
        tolerance="1.5 x the widest pointwise 95% bootstrap half-width (several points compared)").check())
    t, lo, hi = read_triple(c, "t075")
    out.append(Agreement(
        check_id=f"ou.base.d{d}.t_phi075", description=f"time where cloning agreement = {LEVEL}, d = {c['d']}",
        predicted=c["t075_theory"], observed=t, interval=(lo, hi), unit="OU time", finding="base theory",
        tolerance="95% bootstrap interval widened by one grid step", widen=c["dt"]).check())
    t, lo, hi = read_triple(c, "t_level")
    out.append(Agreement(
        check_id=f"ou.base.d{d}.t_S", description=f"speciation time t_S = 1/2 log a^2 = 1/2 log d (d = {c['d']}), "
        f"read where the measured curve reaches the exact level phi(t_S) = {c['level_at_t_S']:.3f}",
        predicted=c["t_S_theory"], observed=t, interval=(lo, hi), unit="OU time", finding="base theory",
        tolerance="95% bootstrap interval widened by one grid step", widen=c["dt"]).check())
    return out


def _rest_checks(cells: dict) -> list[Check]:
    out = []
    for name in sorted(k for k in cells if k.startswith("collapse_")):
        k = cells[name]
        t, lo, hi = read_triple(k, "t_lock_median")
        out.append(Agreement(
            check_id=f"ou.collapse.n{k['n_train']}_d{k['d']}", description="collapse time of the empirical-score "
            f"sampler, n = {k['n_train']}, d = {k['d']}: median lock time vs theory.base.collapse_time",
            predicted=k["t_collapse_theory"], observed=t, interval=(lo, hi), unit="OU time", finding="collapse",
            tolerance="95% bootstrap interval of the median widened by 0.03 (lock time is not the "
            "excess-entropy zero itself)", widen=0.03).check())
    for name in sorted((k for k in cells if k.startswith("layer_a_")), key=lambda s: cells[s]["g"]):
        a = cells[name]
        g = a["g"]
        for m, label in enumerate(("common", "difference")):
            md = a["modes"][m]
            t, lo, hi = read_triple(md, "t075")
            out.append(Agreement(
                check_id=f"ou.A.g{g:g}.{label}.t_phi075", description=f"layer A g = {g:g}: {label} mode "
                f"(rate {md['rate']:.3g}) phi = {LEVEL} crossing vs the mode-reduced exact curve",
                predicted=md["t075_theory"], observed=t, interval=(lo, hi), unit="OU time", finding="layer A",
                tolerance="95% bootstrap interval widened by 0.01", widen=0.01).check())
            if "t_level" in md:
                t, lo, hi = read_triple(md, "t_level")
                out.append(Agreement(
                    check_id=f"ou.A.g{g:g}.{label}.t_S", description=f"layer A g = {g:g}: {label}-mode speciation "
                    "time t_S^m = log(kappa Lambda_m)/(2 kappa) (theory.coupled_ou), read at the exact level "
                    f"{md['level_at_t_S']:.3f}", predicted=md["t_S_theory"], observed=t, interval=(lo, hi),
                    unit="OU time", finding="layer A", tolerance="95% bootstrap interval widened by 0.01",
                    widen=0.01).check())
        if "gap_level" in a:
            t, lo, hi = read_triple(a, "gap_level")
            out.append(Agreement(
                check_id=f"ou.A.g{g:g}.gap", description=f"layer A g = {g:g}: gap t_S(common) - t_S(difference) "
                f"(theory.coupled_ou.synchronization_gap; stability bound g < "
                f"{a['stability']['common_speciates_below']:.3f})", predicted=a["gap_t_S_theory"], observed=t,
                interval=(lo, hi), unit="OU time", finding="layer A",
                tolerance="95% joint bootstrap interval widened by 0.02", widen=0.02).check())
    for name in sorted((k for k in cells if k.startswith("layer_b_energy_")), key=lambda s: cells[s]["g"]):
        e = cells[name]
        rd, low, high = (np.array(x, float) for x in read_triple(e, "rate_drift"))
        for k, feat in enumerate(e["features"]):
            obs = onset(e["t"], rd[:, k])
            late = onset(e["t"], low[:, k])             # lower band turns positive latest (smallest t)
            early = onset(e["t"], high[:, k])           # upper band turns positive earliest (largest t)
            pred = _num(e["onset_theory"][k])
            step = abs(e["t"][0] - e["t"][1])
            interval = None if obs is None else own_interval(obs, late, early)
            out.append(decided(f"ou.B.g{e['g']:g}.onset.{feat}", f"layer B g = {e['g']:g}, feature {feat}: the "
                               "replica difference starts to grow (drift rate of the difference energy turns > 0) "
                               "no earlier than the undecided-point onset of theory.gated.gated_speciation_time",
                               pred, _num(obs), interval, "OU time", _onset_decision(pred, obs, interval, step),
                               kind="bound", expects="" if pred is None else f"observed <= {pred:.4g}",
                               finding="layer B onsets",
                               tolerance="one-sided, observed <= predicted: the observation's 95% band interval "
                               "must lie wholly below the prediction plus one record step (D' is largest at the "
                               "undecided point, so theory bounds the population's onset from above); n/a when "
                               "the bound falls inside the interval or when no onset is predicted nor observed"))
    return out


def _gap_checks(b0: dict, law: dict) -> list[Check]:
    out = []
    gt, glo, ghi = read_triple(b0, "gap")
    steps, steps_lo, steps_hi = read_triple(b0, "gap_dit_steps")
    out.append(Agreement(
        check_id="ou.B.gap_g0", description=f"gated OU, g = 0: gap tau(a={AMPS_B[0]:g}) - tau(a={AMPS_B[1]:g}) of "
        "the exact sampler (cloning, phi = 0.75) vs theory.gated.gated_gap onsets (log a1/a2)",
        predicted=b0["gap_onset_theory"], observed=gt, interval=(glo, ghi), unit="OU time", finding="layer B gap",
        tolerance="95% bootstrap interval widened by 0.05 (onset vs 0.75-crossing)", widen=0.05).check())
    out.append(Agreement(
        check_id="ou.B.gap_g0_steps", description=f"gated OU, g = 0: the same gap in DiT sampler steps "
        f"({DIT_STEPS}-step DDPM grid) vs the exact curves' 0.75 crossings",
        predicted=b0["gap075_theory_dit_steps"], observed=steps, interval=(steps_lo, steps_hi),
        unit="DiT sampler steps", finding="layer B gap", tolerance="95% bootstrap interval widened by 1 step",
        widen=1.0).check())
    # no point checks of gap0 rho(g) with a cloning gap0 (another protocol: Protocol I has no
    # g -> 0 limit) and no eta fitted with that anchor; P2's law is compared as a hypothesis over g > 0 only
    rho = next((h for h in (law.get("comparison") or {}).get("hypotheses", []) if h["name"] == "rho-law (eta = 0)"),
               None)
    if rho is not None:
        from syncgap.validation.suites.dit.predictions import rho_law_reason   # lazily: it imports torch through dit_analysis
        d_aic, comp = rho["delta_aic"], law["comparison"]
        out.append(Check("ou.B.rho_law_support", "gated OU Protocol I over g > 0: the rho-law gap = A rho(g) (eta = 0) "
                         f"within 2 AIC of the preferred hypothesis (preferred: {comp['preferred']}; compared: "
                         f"{', '.join(h['name'] for h in comp['hypotheses'])})", 0.0, d_aic, (d_aic - 2.0, d_aic),
                         "delta AIC", bool(d_aic <= 2.0), finding="layer B gap vs g",
                         tolerance="AIC margin <= 2 (Burnham & Anderson: not distinguishable from the preferred)",
                         reason=rho_law_reason(d_aic, comp["preferred"])))
    if law.get("fitted") is not None:
        anchor = _anchor(b0)
        cg, clo, chi = read_triple(law, "critical_g")
        # stated, never decided: g* = critical_coupling(gap0) anchors Protocol I's release gaps on the g = 0
        # cloning gap, the comparison docs/protocols.md rules out (release has no g -> 0 limit, cannot collapse)
        out.append(Agreement(
            check_id="ou.B.critical_g", description="coupling where the gap first drops below one DiT sampler "
            "step: observed (interpolated on the g grid) beside theory.routing.critical_coupling(gap0, eta = 0)",
            predicted=law["critical_g_theory"], observed=cg, interval=None if cg is None else (clo, chi), unit="g",
            finding="layer B gap vs g", tolerance="interval from the bootstrap band's curves; None observed = the "
            "gap never fell below one step on the grid", anchor=anchor or Decision(NA, RELEASE_ANCHOR)).check())
    return out


RELEASE_ANCHOR = ("not decided: g* anchors the release window's gaps on the g = 0 cloning gap, another protocol "
                  "(release has no g -> 0 limit and cannot collapse the gap, docs/protocols.md); observed and "
                  "predicted are stated only")


def _anchor(b0: dict) -> Decision | None:
    """None when the g = 0 gap (the law's anchor) is established; else the n/a decision of the checks resting on it."""
    _, lo, hi = read_triple(b0, "gap_dit_steps")
    if anchor_established(lo, hi):
        return None
    return Decision(NA, "anchor not established: the g = 0 gap's interval contains 0")
