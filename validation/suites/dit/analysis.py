"""Analysis of the DiT cells: commitment per unit, gap against g, the rho(g) law, ordering (depth: depth/finding.py).

Pure functions of the cell records (validation/suites/dit/cells.py) returning plain dicts; the
suite writes their output as `analysis.json`, the figures read it. Units are ordered global ->
local: pooling sizes ascending, FHGM features by DCT frequency ascending. The gap of a family is
tau(last unit) - tau(first unit) in sampler steps (> 0: local commits after global). Intervals are
percentile bootstraps over pairs; pairs share seeds across g, so one resample of pair indices is
applied to every g at once (joint bootstrap of the gap curve, its fit and its critical g).
"""
from __future__ import annotations

import math

import numpy as np
from scipy.optimize import least_squares
from scipy.stats import kendalltau

from syncgap.dit_bridge.commitment import commitment_time
from syncgap.theory import routing
from syncgap.theory.gated import gate_for_routing_factor
from syncgap.theory.intervals import interval_fields, list_fields, triple_fields

LEVEL = 0.95
RESOLUTION = 1.5  # sampler steps: reading resolution of the pilot grid (t_int every 3 steps: half its spacing);
                  # a run's own is dit_settings.Settings.resolution (validation.suites.dit.power.reading_resolution)


def family_arrays(res, family):
    """(t_int, agreement (P, U, T)) of a cell result: the FHGM "features" or empirical "modes" (sign agreement of
    the projections), or the pooled "scales"."""
    a = np.asarray(res["feature_agreement"] if family in ("features", "modes") else res["agreement"], float)
    return np.asarray(res["t_int"], float), a


def unit_taus(t, a, direction="rising"):
    """tau per unit of mean curves; a (P, U, T). A midpoint outside the measured t_int range is None.
    direction: "rising" (release window) or "falling" (switch-on window), dit_bridge.commitment.commitment_time."""
    m = np.asarray(a).mean(0)
    out = []
    for c in m:
        x = commitment_time(t, c, direction=direction)
        out.append(x if x is not None and t[0] <= x <= t[-1] else None)
    return out


def gap_of(t, a, direction="rising"):
    """tau(last unit) - tau(first unit) of a (P, U, T); None when either does not commit in the window."""
    taus = unit_taus(t, a[:, [0, -1]], direction)
    return None if taus[0] is None or taus[1] is None else taus[1] - taus[0]


MAX_MISSING = 0.10   # a midpoint interval with more resamples than this without a midpoint is n/a (unbounded)


def missing_fraction(samples) -> float:
    """Fraction of bootstrap resamples with no value (None or NaN: e.g. no midpoint in the t_int range)."""
    n = len(samples)
    return 0.0 if n == 0 else sum(x is None or not np.isfinite(x) for x in samples) / n


def _ci(samples, est, max_missing=0.5):
    s = np.asarray([x for x in samples if x is not None and np.isfinite(x)], float)
    if est is None or s.size < 5 or missing_fraction(samples) > max_missing:
        return [est, -math.inf, math.inf]
    q = (1 - LEVEL) / 2
    return [est, float(np.quantile(s, q)), float(np.quantile(s, 1 - q))]


def percentile_interval(samples, est, max_missing=MAX_MISSING):
    """[est, lo, hi]: the LEVEL percentile interval of the bootstrap samples (None/NaN dropped); unbounded
    (n/a) when more than `max_missing` of them have no value (`missing_fraction`, reported beside it)."""
    return _ci(samples, est, max_missing)


def kendall(taus):
    """Kendall tau of the unit order (global -> local) against the commitment steps; None if < 2 units."""
    ok = [(i, x) for i, x in enumerate(taus) if x is not None]
    if len(ok) < 2:
        return None
    k = kendalltau([i for i, _ in ok], [x for _, x in ok]).statistic
    return None if not np.isfinite(k) else round(float(k), 9)  # 1 - 1e-16 is 1: an exact ordering


def crossing(gs, gaps, level):
    """Smallest g where the gap curve first reaches <= level; None if never.

    Between grid points the gap is interpolated linearly in rho(g) (theory.gated.routing_factor, the variable in
    which theory.routing's law is linear; a monotone reparametrisation of g), then mapped back
    (theory.gated.gate_for_routing_factor).
    """
    pts = [(g, y) for g, y in zip(gs, gaps) if y is not None]
    for (g0, y0), (g1, y1) in zip(pts, pts[1:]):
        if y0 <= level:
            return g0
        if y1 <= level:
            r0, r1 = routing.routing_factor(g0), routing.routing_factor(g1)
            r = r0 + (r1 - r0) * (y0 - level) / (y0 - y1)
            return gate_for_routing_factor(r)   # rho^{-1}(r), rho's own formula (r may be < 0 here)
    if pts and pts[0][1] <= level:
        return pts[0][0]
    return None


def law(g, gap0, eta):
    """gap(g) = gap0 (rho(g) + eta)/(1 + eta): theory.routing.predicted_gap_ratio times gap0."""
    g = float(g) if np.ndim(g) == 0 else np.asarray(g, float)  # theory checks take a float or a 1-d array
    return gap0 * np.asarray(routing.predicted_gap_ratio(g, float(eta)))


def fit_law(gs, gaps, sds):
    """Weighted least squares of `law` over (gap0, eta), |eta| < 0.95; None with < 3 points."""
    pts = [(g, y, s) for g, y, s in zip(gs, gaps, sds) if y is not None]
    if len(pts) < 3:
        return None
    g, y, s = (np.asarray(v, float) for v in zip(*pts))
    s = np.maximum(np.nan_to_num(s, nan=1.0, posinf=1e3), 0.5)
    r = least_squares(lambda p: (law(g, p[0], p[1]) - y) / s, x0=[max(y[0], 1.0), 0.0],
                      bounds=([-np.inf, -0.95], [np.inf, 0.95]))
    return {"gap0": float(r.x[0]), "eta": float(r.x[1])}


def gap_curve(cells, n_boot, seed=0, resolution=RESOLUTION):
    """cells: [(g, t, a (P, U, T))] sorted by g, g = 0 first (cloning). Joint bootstrap over pairs;
    `resolution`: the reading resolution of the t_int grid (sampler steps)."""
    gs = [c[0] for c in cells]
    n = min(c[2].shape[0] for c in cells)
    est = [gap_of(t, a[:n]) for _, t, a in cells]
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        boots.append([gap_of(t, a[idx]) for _, t, a in cells])
    ci = [_ci([b[i] for b in boots], est[i], MAX_MISSING) for i in range(len(gs))]
    sds = [(c[2] - c[1]) / 3.92 if np.isfinite(c[2] - c[1]) else 10.0 for c in ci]
    fit = fit_law(gs, est, sds)
    fits = [fit_law(gs, b, sds) for b in boots]
    crit = [crossing(gs, b, 1.0) for b in boots]
    coll = [crossing(gs, b, 0.0) for b in boots]
    gap0 = est[0]
    out = {"g": gs, **list_fields("gap", ci), **triple_fields("gap0", ci[0]),
           "missing": [missing_fraction([b[i] for b in boots]) for i in range(len(gs))],
           "predicted": None if gap0 is None else [float(law(g, gap0, 0.0)) for g in gs],
           "fit": fit, **triple_fields("eta", _ci([f["eta"] if f else None for f in fits], fit["eta"] if fit else None)),
           "fitted": None if fit is None else [float(law(g, fit["gap0"], fit["eta"])) for g in gs],
           **triple_fields("critical_observed", _ci(crit, crossing(gs, est, 1.0))),
           **triple_fields("collapse_observed", _ci(coll, crossing(gs, est, 0.0))),
           "critical_predicted": None if gap0 is None or gap0 <= 0 else routing.critical_coupling(gap0, 0.0),
           "collapse_predicted": routing.collapse_coupling(0.0)}
    # resolution: commitment steps are read to half the t_int spacing (`resolution`); in g and eta
    # that is resolution / |d gap / d g| at the predicted crossing and resolution / |gap0|
    out["resolution"] = resolution
    if gap0 is not None and gap0 > 0:
        out["tolerance_g"] = {k: 0.0 if out[k] is None else resolution * (1 + out[k]) ** 2 / (2 * gap0)
                              for k in ("critical_predicted", "collapse_predicted")}
        out["tolerance_eta"] = resolution / gap0
    else:
        out["tolerance_g"], out["tolerance_eta"] = {"critical_predicted": 0.0, "collapse_predicted": 0.0}, 0.0
    out["residuals"] = None if fit is None else [None if y is None else y - f
                                                 for y, f in zip(est, out["fitted"])]
    # propagate the uncertainty of gap0 into each predicted point: |rho(g)| x half-width of gap0's interval
    half = (ci[0][2] - ci[0][1]) / 2 if gap0 is not None else math.inf
    out["predicted_halfwidth"] = [float(abs(routing.routing_factor(g)) * half) for g in gs]
    return out


def commitment(t, a, n_boot, seed=0, direction="rising"):
    """tau per unit, the gap and Kendall's ordering statistic, each with its interval (theory.intervals), one cell."""
    n = a.shape[0]
    taus = unit_taus(t, a, direction)
    rng = np.random.default_rng(seed)
    boots = [unit_taus(t, a[rng.integers(0, n, n)], direction) for _ in range(n_boot)]
    gaps = [None if b[0] is None or b[-1] is None else b[-1] - b[0] for b in boots]
    return {**list_fields("tau", [_ci([b[u] for b in boots], taus[u], MAX_MISSING) for u in range(len(taus))]),
            **triple_fields("gap", _ci(gaps, None if taus[0] is None or taus[-1] is None else taus[-1] - taus[0],
                                       MAX_MISSING)),
            "missing": {"tau": [missing_fraction([b[u] for b in boots]) for u in range(len(taus))],
                        "gap": missing_fraction(gaps)},
            **triple_fields("kendall", _ci([kendall(b) for b in boots], kendall(taus))),
            **interval_fields("curves", a.mean(0), *curve_band(a))}


def curve_band(a):
    """(2, U, T) pointwise 95% band of the mean agreement curves, mean -/+ 1.96 standard errors over pairs (P, U, T)."""
    a = np.asarray(a, float)
    half = 1.96 * a.std(0, ddof=1) / math.sqrt(a.shape[0]) if a.shape[0] > 1 else np.full(a.shape[1:], np.inf)
    return np.stack([a.mean(0) - half, a.mean(0) + half])


def feature_theory(mix, t_ints, num_steps):
    """Exact-score cloning curves per feature on the t_int grid and their midpoints (same estimator)."""
    from syncgap.theory.base import cloning_agreement_features, pitchfork_speciation_time
    from syncgap.theory.schedules import ou_time_to_sampler_step, sampler_ou_times
    ou = sampler_ou_times(num_steps)
    times = np.asarray([ou[t] if t < num_steps else 0.0 for t in t_ints])
    curves = np.ones((len(t_ints), len(mix.amplitudes)))
    pos = times > 0
    curves[pos] = cloning_agreement_features(times[pos], mix.amplitudes, mix.noise_std)
    pitch = [pitchfork_speciation_time(a, mix.noise_std) for a in mix.amplitudes]
    return {"curves": curves.T, "tau": [commitment_time(np.asarray(t_ints, float), c) for c in curves.T],
            "pitchfork_ou_time": pitch,
            "pitchfork_step": [float(ou_time_to_sampler_step(x, num_steps)) for x in pitch]}
