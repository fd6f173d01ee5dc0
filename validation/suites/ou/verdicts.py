"""Verdicts of the OU/theory suite: one paragraph per finding, written from its checks and the gap law."""
from __future__ import annotations

import math

from syncgap.validation.checks import Check

from syncgap.validation.suites.dit.predictions import comparison_sentence
from syncgap.validation.suites.ou.cells import AMPS_B


def _fmt(x, f=".3g"):
    return "none" if x is None else format(x, f)


def _miss(c: Check) -> float:
    """Distance from the prediction to the check's interval (0 inside); inf when either is missing."""
    if c.predicted is None or c.ci is None:
        return math.inf
    return max(c.ci[0] - c.predicted, c.predicted - c.ci[1], 0.0)


def _large_misses(by: dict) -> list[Check]:
    """Base-theory and layer-A checks that miss by more than their interval's width."""
    return [c for f in ("base theory", "layer A") for c in by.get(f, [])
            if c.verdict == "fail" and not _miss(c) < _width(c)]


def _width(c: Check) -> float:
    return math.inf if c.ci is None else c.ci[1] - c.ci[0]


def verdicts(checks: list[Check], law: dict | None) -> dict:
    """{finding: paragraph}: what passed, what failed and the reading of it."""
    by = {}
    for c in checks:
        by.setdefault(c.finding, []).append(c)
    v = {}

    def tally(f):
        """(passes, checks decided): n/a checks are neither, and said apart by `undecided`."""
        cs = by.get(f, [])
        return sum(c.verdict == "pass" for c in cs), sum(c.verdict != "n/a" for c in cs)

    def undecided(f):
        cs = [c for c in by.get(f, []) if c.verdict == "n/a"]
        return "" if not cs else (f" {len(cs)} more n/a ({'; '.join(sorted({c.reason for c in cs}))}).")

    p, n = tally("base theory")
    v["base theory"] = (f"{p} of {n} decided checks pass. The simulated cloning curve at each d is held against the exact "
                        "agreement of theory.base, and the speciation time against 1/2 log d (exact for the unit-noise "
                        "mixture, 1/2 log Lambda up to 0.002). " + ("Base theory reproduced." if p == n else
                        "Where a check fails, the Euler discretisation of the reverse SDE (grid step in the "
                        "tolerance) and the finite number of paths are the first suspects; the exact curve is "
                        "a quadrature, independent of the simulator."))
    p, n = tally("collapse")
    v["collapse"] = (f"{p} of {n} decided checks pass. The median time at which a path's nearest training point stops changing "
                     "is compared with Biroli et al.'s t_C (zero of the excess entropy); the two are different "
                     "definitions of the same transition, hence the stated 0.03 tolerance.")
    p, n = tally("layer A")
    v["layer A"] = (f"{p} of {n} decided checks pass. Each mode of the drift-coupled pair behaves as the base OU rescaled by "
                    "its rate (the mode reduction of theory.coupled_ou): its 0.75-crossing and its t_S^m are read from "
                    "its own cloning curve, at g up to near the common mode's stability bound. "
                    + ("Layer A reproduced." if p == n else "Failures are listed with their intervals: "
                       + "; ".join(f"{c.id} misses by {_miss(c):.3g} OU time (interval width {_width(c):.3g})"
                                   for c in by["layer A"] if c.verdict == "fail")
                       + ". A miss smaller than the interval's width, in one of many 95% intervals, is the expected "
                       "rate of chance failures (at g = 0 the two modes are the two replicas, identical in law); "
                       "near the stability bound the common mode speciates late and its curve is shallow, so its "
                       "crossing is least precise there."))
    p, n = tally("layer B onsets")
    v["layer B onsets"] = (f"{p} of {n} decided checks pass.{undecided('layer B onsets')} theory.gated linearises the gated pair at the undecided, "
                           "replica-symmetric point, where the posterior-mean slope D' is largest; the simulated "
                           "population contains already-decided paths whose D' is smaller, so its difference starts "
                           "to grow later. The check is therefore one-sided (theory bounds the onset from above); "
                           "for g >= 1 (rho <= 0) theory predicts no onset at all, "
                           "and where none is observed either there is nothing to compare (n/a). A bound that holds "
                           "is consistent with theory, not an estimate of the onset: how far it lies from the "
                           "observation is stated per check."
                           + "".join(f" {c.id}: theory predicts an onset at t = {c.predicted:.3g} but the simulated "
                                     "difference never grows on average (consistent with the bound, not a confirmation)."
                                     for c in by.get("layer B onsets", []) if c.observed is None and c.predicted is not None))
    p, n = tally("layer B gap")
    if law is not None:
        coll = law.get("critical_g")
        eta = law.get("eta")
        gaps = ", ".join(f"g={g:g}: {x:.1f}" for g, x in zip(law["g"], law["gap"]))
        v["layer B gap"] = (f"{p} of {n} decided checks pass. At g = 0 the exact sampler commits the strong feature "
                            f"{_fmt(law['gap0'], '.1f')} DiT sampler steps before the weak one (log(a1/a2) = "
                            f"{math.log(AMPS_B[0] / AMPS_B[1]):.3f} in OU time by theory.gated). This g = 0 gap "
                            "comes from cloning (Protocol I with g = 0 never synchronises the SDE pair, whose noises "
                            "are independent): another protocol, so it does not anchor the Protocol I gaps below, "
                            "which are compared over g > 0 only.")
        p2, n2 = tally("layer B gap vs g")
        collapsed = coll is not None
        v["layer B gap vs g"] = (
            f"{p2} of {n2} decided checks pass.{undecided('layer B gap vs g')} Protocol I gap in DiT steps against g "
            f"({gaps}); P2's routing law with the cloning gap0 would put the collapse at "
            f"g* = {_fmt(law.get('critical_g_theory'))}. "
            + (f"Fitted eta (cloning-anchored) = {_fmt(eta)} (interval {_fmt(law['eta_low'])} to "
               f"{_fmt(law['eta_high'])}). " if eta is not None
               else f"Fitted eta (cloning-anchored): none ({law.get('eta_reason', 'not fitted')}). ")
            + (comparison_sentence("gated OU", {"window": "release", "sampler": "sde", "noise": "independent"},
                                   law["comparison"]) + " " if law.get("comparison") else "")
            + (f"The measured gap falls below one step at g = {coll:.3g}." if collapsed else
               f"The measured gap does NOT collapse: it stays above one sampler step up to g = {max(law['g']):g} "
               f"(smallest measured gap {min(law['gap']):.1f} steps), so the routing law fails in this exact-score analog. This is the theory's own finding "
               "(docs/theory.md, theory.gated): in the OU analog the mode dependence comes from the data spectrum, "
               "i.e. the frequency-blind part (|eta| >= 1), and for g >= 1 the gated difference never grows, so the "
               "gaps Protocol I measures come from the independent part of the protocol after t_int, not from the "
               "gated instability."
               + (" The simulation is not at fault: the same engine reproduces the base theory and layer A above"
                  " (any miss there is smaller than its own interval's width, i.e. within chance)."
                  if not _large_misses(by) else
                  " Some base-theory or layer-A checks miss by more than their interval's width as well, so a "
                  "simulation problem is not excluded.")))
    return v
