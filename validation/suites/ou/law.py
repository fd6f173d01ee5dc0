"""The law of the Protocol I gap against g, fitted on the OU/theory suite's cells (docs/science.md §4-5).

gap(g) = gap0 (rho(g) + eta)/(1 + eta): `theory.routing.predicted_gap_ratio` times the g = 0 gap,
with eta fitted (null with `eta_reason` when the fit sits at its search bound); the comparison of a
constant gap with the rho-law over g > 0 (dit_predictions.compare_hypotheses: the g = 0 gap comes from
cloning, another protocol); the observed critical g (gap below one DiT sampler step) and the onset reader.
"""
from __future__ import annotations

import math

import numpy as np

from syncgap.theory.intervals import interval_fields, read_triple


def law_ratio(g, eta):
    """(rho(g) + eta)/(1 + eta): theory.routing's predicted_gap_ratio Formula for eta > -1 (the fit).

    rho = theory.gated.routing_factor. Written out here because the fit searches eta up to 1000 (a
    g-independent gap), which predicted_gap_ratio refuses: there |eta| < 1 is routing dominance.
    """
    from syncgap.theory.gated import routing_factor
    rho = np.array([routing_factor(float(x)) for x in np.atleast_1d(g)])
    return (rho + eta) / (1.0 + eta)


ETA_SEARCH = (-0.95 + math.exp(-6.0), -0.95 + 1e3)   # the fit's search interval for eta


def eta_at_bound(eta: float) -> bool:
    """True when a fitted eta sits at (within 0.1% of) an end of ETA_SEARCH: a bound, not an observation."""
    lo, hi = ETA_SEARCH
    return eta <= lo + 1e-3 or eta >= hi * 0.999


def _fit_eta(g, gap, w, gap0):
    from scipy.optimize import minimize_scalar
    f = lambda e: float(np.sum(w * (gap - gap0 * law_ratio(g, e)) ** 2))
    # eta in (-0.95, 1e3): eta -> inf is a g-independent gap, eta = 0 pure routing
    res = minimize_scalar(lambda x: f(-0.95 + math.exp(x)), bounds=(-6.0, math.log(1e3)), method="bounded")
    return -0.95 + math.exp(res.x)


def gap_law(cells: list[dict], n_boot: int, seed: int = 0) -> dict:
    """From the g = 0 cloning cell and the Protocol I cells: law, fit of eta, residuals, critical g (DiT steps)."""
    from syncgap.theory.routing import critical_coupling
    gap0, lo0, hi0 = read_triple(cells[0], "gap_dit_steps")
    steps = [read_triple(c, "gap_dit_steps") for c in cells[1:]]
    rows = [(c, s) for c, s in zip(cells[1:], steps) if s[0] is not None]
    g = np.array([c["g"] for c, _ in rows], float)
    est = np.array([s[0] for _, s in rows], float)
    lo = np.array([s[1] if s[1] is not None else -np.inf for _, s in rows], float)
    hi = np.array([s[2] if s[2] is not None else np.inf for _, s in rows], float)
    sd = np.where(np.isfinite(hi - lo), (hi - lo) / 3.92, np.nan)
    sd = np.where(np.isfinite(sd) & (sd > 0), sd, np.nanmax(np.append(sd, 1.0)))
    out = {**interval_fields("gap0", gap0, lo0, hi0), "g": g, **interval_fields("gap", est, lo, hi),
           "predicted": gap0 * law_ratio(g, 0.0) if g.size else []}
    if gap0 is None or g.size < 2:
        return out | {**interval_fields("eta", None, None, None), "fitted": None, "residuals": None,
                      **interval_fields("critical_g", None, None, None), "critical_g_theory": None}
    w = 1.0 / sd ** 2
    eta = _fit_eta(g, est, w, gap0)
    rng = np.random.default_rng(seed)
    sd0 = (hi0 - lo0) / 3.92 if hi0 is not None and lo0 is not None else 0.0
    boots = [_fit_eta(g, est + sd * rng.standard_normal(g.size), w, gap0 + sd0 * rng.standard_normal())
             for _ in range(max(50, n_boot // 3))]
    fitted = gap0 * law_ratio(g, eta)

    def crit(y):
        """Smallest g where the curve y(g) (with g = 0 -> gap0) falls to <= 1 step, interpolated."""
        gg, yy = np.append(0.0, g), np.append(gap0, y)
        for i in range(gg.size):
            if yy[i] <= 1.0:
                if i == 0:
                    return 0.0
                return float(gg[i - 1] + (gg[i] - gg[i - 1]) * (yy[i - 1] - 1.0) / (yy[i - 1] - yy[i]))
        return None
    c_lo, c_hi = crit(lo), crit(hi)
    from syncgap.validation.suites.dit.predictions import compare_hypotheses
    out["comparison"] = compare_hypotheses(list(g), [[e, a, b] for e, a, b in zip(est, lo, hi)])  # g > 0 only
    if eta_at_bound(eta):   # a bound is not an observation (docs/science.md §8)
        out |= {"eta_at_bound": eta, "eta_reason": f"the fit sits at its search bound {ETA_SEARCH[0]:.3g} .. "
                f"{ETA_SEARCH[1]:.4g} (a g-independent gap when at the top): not an observation"}
        eta_report, eta_ci = None, [None, None]
    else:
        eta_report, eta_ci = eta, [float(v) for v in np.quantile(boots, [0.025, 0.975])]
    return out | {**interval_fields("eta", eta_report, *eta_ci), "fitted": fitted,
                  "residuals": est - fitted, "residuals_routing": est - out["predicted"],
                  **interval_fields("critical_g", crit(est), c_lo, c_hi),
                  "critical_g_theory": critical_coupling(gap0, 0.0) if gap0 > 0 else None}


def onset(t, rate):
    """Largest t at which `rate` turns from <= 0 (larger t) to > 0 (smaller t), interpolated; None if never."""
    t, r = np.asarray(t, float), np.asarray(rate, float)
    order = np.argsort(t)[::-1]                      # decreasing t = generation order
    t, r = t[order], r[order]
    ok = np.isfinite(r)
    t, r = t[ok], r[ok]
    for i in range(r.size - 1):
        if r[i] <= 0 < r[i + 1]:
            return float(t[i] + (t[i + 1] - t[i]) * (0 - r[i]) / (r[i + 1] - r[i]))
    return None
