"""The OU/theory part of the validation report: layers A and B and the base theory against simulation.

    ou_theory_suite(out_dir, *, quick, progress=None) -> SuiteResult

Every measurement is one *cell*: a JSON file under `out_dir/ou/` holding its configuration and
result (written atomically; a rerun with the same configuration reuses it, so an interrupted
report resumes). Checks, figures and verdicts are then made from those files alone:

- base theory (docs/science.md §2): the cloning curve phi(t) at d = 64 and 256 (quick: 256) against
  `theory.base.cloning_agreement`; the phi = 0.75 crossing against the exact curve's crossing; the
  speciation time t_S = 1/2 log a^2 (`pitchfork_speciation_time`, = 1/2 log d for sigma = 1;
  1/2 log Lambda = 1/2 log(d + 1) differs by 0.002) read as the time at which the measured
  curve reaches the exact curve's level at t_S;
- collapse (§2): lock time of the empirical-score sampler against `theory.base.collapse_time`;
- layer A (§3): per-mode cloning of the drift-coupled pair at several g up to near the stability
  bound: each mode's phi = 0.75 crossing against the mode-reduced exact curve, its t_S^m
  (`theory.coupled_ou.mode_speciation_times`) read as above, and the gap
  (`theory.coupled_ou.synchronization_gap`);
- layer B (§4): the difference-energy growth onset per feature against `theory.gated`
  (a one-sided check: the linearisation at the undecided point bounds the onset from above),
  the gap at g = 0 (cloning per feature) against `theory.gated.gated_gap`, and Protocol I's
  gap against g up to strong coupling, with the routing law gap0 rho(g) (`theory.routing`),
  a fitted law gap0 (rho + eta)/(1 + eta), its residuals, and the observed critical g (gap below
  one DiT sampler step, `theory.schedules`). The measured gap may or may not collapse; the
  checks record whichever happens.
`progress`, when given, is called with one-line messages (str).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from syncgap.theory.checks import InputError
from syncgap.validation.records import Check, Figure, SuiteResult, within
from syncgap.validation.sweep.store import atomic_write_json, canonical_json, to_plain

SUBDIR = "ou"
LEVEL = 0.75                 # cloning / agreement level read as "speciation"
DIT_STEPS = 250              # DiT sampler steps for the step-unit gap (P2's DiT-XL/2 sampler)
AMPS_B = (20.0, 4.0)         # layer B: the two features of docs/science.md §4's first data point
CELLS_VERSION = 2            # bump when a cell's measurement changes, so old files are not reused


@dataclass(frozen=True)
class Settings:
    """Sizes of one run of the suite."""

    clone_d: tuple             # dimensions of the base cloning cells
    clone_n: int
    clone_T: float
    clone_steps: int
    clone_branches: int
    collapse: tuple            # ((n_train, d), ...)
    collapse_n: int
    a_amp: float
    a_g: tuple
    a_n: int
    a_steps: int
    b_n: int
    b_T: float
    b_steps: int
    b_tint: int
    b_g: tuple                 # Protocol I couplings (g > 0; g = 0 is the cloning cell)
    b_energy_g: tuple
    n_boot: int
    seed: int = 0


def settings(quick: bool) -> Settings:
    if quick:
        return Settings((256,), 300, 6.0, 240, 10, ((100, 8),), 200, 4.0, (0.0, 0.5, 0.85), 500, 280,
                        400, 6.0, 240, 10, (0.5, 1.0, 10.0), (0.0,), 100)
    return Settings((64, 256), 1000, 7.0, 420, 14, ((100, 8), (300, 16)), 400, 4.0, (0.0, 0.3, 0.6, 0.85, 0.9),
                    1000, 350, 1000, 7.0, 300, 14, (0.25, 0.5, 0.75, 0.9, 1.0, 2.0, 10.0), (0.0, 0.5, 2.0), 300)


# ----------------------------------------------------------------------------- cells

def _cell(root: Path, name: str, config: dict, compute, say) -> dict:
    """Load `root/name.json` when it holds this config, else compute, write atomically and return it."""
    path = root / f"{name}.json"
    cfg = to_plain(config)
    if path.is_file():
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            rec = None
        if rec is not None and canonical_json(rec.get("config", {})) == canonical_json(cfg):
            say(f"ou: reused {name}.json")
            return rec
    say(f"ou: computing {name} ...")
    t0 = time.time()
    rec = {"config": cfg, "result": to_plain(compute()), "wall_s": round(time.time() - t0, 2)}
    atomic_write_json(path, rec)
    say(f"ou: computed {name} ({rec['wall_s']:.1f} s)")
    return rec


def _crossing(t, units, level):
    """statistic(units (n, B)) -> time where the mean agreement first falls to `level` going up in t."""
    from syncgap.ou_models.estimators import level_crossing
    order = np.argsort(t)
    ts = np.asarray(t)[order]

    def stat(u):
        return level_crossing(ts, u.mean(0)[order], level)
    return stat


def _feature_gap(first, second, transform=None):
    """Gap statistic of units (n, B, 2): first(units[..., 0]) - second(units[..., 1]) (estimators.gap_statistic)."""
    from syncgap.ou_models.estimators import gap_statistic
    return gap_statistic(lambda u: first(u[:, :, 0]), lambda u: second(u[:, :, 1]), transform)


def _boot(stat, units, n_boot, seed=0):
    from syncgap.ou_models.estimators import bootstrap
    iv = bootstrap(stat, units, n_boot, seed=seed)
    return [iv.estimate, iv.low, iv.high]


def _steps(t):
    from syncgap.theory import schedules
    return float(schedules.ou_time_to_sampler_step(t, DIT_STEPS))


def _base_cloning(st: Settings, d: int):
    from syncgap.ou_models import engine, measure
    from syncgap.theory import base
    from syncgap.theory.data import two_gaussian_mixture
    data = two_gaussian_mixture(d)
    amp = math.sqrt(d)
    ts = base.pitchfork_speciation_time(amp, 1.0)
    grid = engine.ou_grid(st.clone_T, st.clone_steps)
    times = np.linspace(ts - 1.8, ts + 2.2, st.clone_branches)
    r = measure.cloning(data, grid, st.clone_n, st.seed, branch_times=times, n_boot=st.n_boot, keep_units=True)
    u = r["units"][:, :, 0].astype(float)
    t = np.asarray(r["t_branch"])
    level_ts = float(base.cloning_agreement(ts, amp, 1.0))
    return {"d": d, "t_branch": t, "agreement": r["agreement"][:, 0], "ci_low": r["ci_low"][:, 0],
            "ci_high": r["ci_high"][:, 0], "phi_theory": base.cloning_agreement(t, amp, 1.0),
            "t075": _boot(_crossing(t, u, LEVEL), u, st.n_boot),
            "t075_theory": measure.cloning_crossing_theory(1.0, amp, 1.0),
            "t_S_theory": ts, "t_S_half_log_lambda": base.speciation_time(d + 1.0),
            "level_at_t_S": level_ts, "t_level": _boot(_crossing(t, u, level_ts), u, st.n_boot),
            "dt": float(grid[0] - grid[1])}


def _collapse(st: Settings, n_train, d):
    from syncgap.ou_models import engine, measure
    from syncgap.theory import base
    r = measure.collapse(n_train, d, engine.ou_grid(3.0, 600), st.collapse_n, st.seed, n_boot=st.n_boot)
    counts, edges = np.histogram(r["t_lock"], bins=30)
    return {"n_train": n_train, "d": d, "t_lock_median": r["t_lock_median"],
            "t_collapse_theory": base.collapse_time(n_train, d, 1.0), "hist_counts": counts, "hist_edges": edges,
            "grid_dt": 3.0 / 600}


def _layer_a(st: Settings, g):
    from syncgap.ou_models import engine, measure
    from syncgap.theory import base, coupled_ou
    from syncgap.theory.data import SignFeatureMixture
    amp = st.a_amp
    data = SignFeatureMixture(np.eye(4)[:1], np.array([amp]), 1.0, (4,))
    A = coupled_ou.drift_symmetric(g)
    rates, V = np.linalg.eigh(A)                     # ascending: mode 0 slow (common), mode 1 fast
    th = coupled_ou.mode_speciation_times(coupled_ou.drift_symmetric(g), amp * amp + 1.0)
    t_S = [float(x) for x in np.sort(th["t_S"])[::-1]]   # slow mode commits first (largest t)
    lam = amp * amp + 1.0
    scales = [np.log(max(k * lam, 1.5)) / (2 * k) for k in rates]
    T = 7.0 if g < 0.8 else 9.0 + 2.0 * (g >= 0.88)
    grid = engine.ou_grid(T, int(st.a_steps * T / 7.0))
    times = np.clip(np.concatenate([np.linspace(0.45 * x, 2.1 * x, 10) for x in scales]), grid[-2], grid[0])
    r = measure.cloning(data, grid, st.a_n, st.seed, times, drift=A, n_boot=st.n_boot, sign_mixing=V,
                        keep_units=True)
    t = np.asarray(r["t_branch"])
    modes = []
    for m, name in enumerate(("mode0.0", "mode1.0")):
        j = r["observables"].index(name)
        u = r["units"][:, :, j].astype(float)
        k = float(rates[m])
        curve = lambda x: base.cloning_agreement(k * np.asarray(x), math.sqrt(k) * amp, math.sqrt(k))
        lvl = float(curve(t_S[m])) if t_S[m] > 0 else None
        modes.append({"rate": k, "agreement": r["agreement"][:, j], "ci_low": r["ci_low"][:, j],
                      "ci_high": r["ci_high"][:, j], "phi_theory": curve(t),
                      "t075": _boot(_crossing(t, u, LEVEL), u, st.n_boot),
                      "t075_theory": measure.cloning_crossing_theory(k, amp, 1.0),
                      "t_S_theory": t_S[m], "level_at_t_S": lvl,
                      "t_level": _boot(_crossing(t, u, lvl), u, st.n_boot) if lvl is not None else None})
    j0, j1 = r["observables"].index("mode0.0"), r["observables"].index("mode1.0")
    units = r["units"][:, :, [j0, j1]].astype(float)
    gap = _feature_gap(_crossing(t, units[:, :, 0], LEVEL), _crossing(t, units[:, :, 1], LEVEL))
    out = {"g": g, "amplitude": amp, "t_branch": t, "modes": modes, "gap075": _boot(gap, units, st.n_boot),
           "gap075_theory": modes[0]["t075_theory"] - modes[1]["t075_theory"],
           "gap_t_S_theory": coupled_ou.synchronization_gap(coupled_ou.drift_symmetric(g), lam),
           "stability": coupled_ou.stability_bounds(lam)}
    if modes[0]["level_at_t_S"] is not None and modes[1]["level_at_t_S"] is not None:
        gap_level = _feature_gap(_crossing(t, units[:, :, 0], modes[0]["level_at_t_S"]),
                                 _crossing(t, units[:, :, 1], modes[1]["level_at_t_S"]))
        out["gap_level"] = _boot(gap_level, units, st.n_boot)
    return out


def _b_data():
    from syncgap.theory.data import SignFeatureMixture
    return SignFeatureMixture(np.eye(4)[:2], np.array(AMPS_B), 1.0, (4,))


def _b_grid(st):
    from syncgap.ou_models import engine
    return engine.ou_grid(st.b_T, st.b_steps)


def _b_cloning0(st: Settings):
    """g = 0: the independent exact sampler's per-feature commitment (cloning), gap strong - weak."""
    from syncgap.ou_models import measure
    from syncgap.theory import base, gated
    grid = _b_grid(st)
    times = np.linspace(0.15, 5.0, 2 * st.b_tint)
    r = measure.cloning(_b_data(), grid, st.b_n, st.seed, times, n_boot=st.n_boot, keep_units=True)
    t = np.asarray(r["t_branch"])
    u = r["units"].astype(float)
    s = [_crossing(t, u[:, :, k], LEVEL) for k in range(2)]
    g_ou = _boot(_feature_gap(s[0], s[1]), u, st.n_boot)
    g_st = _boot(_feature_gap(s[0], s[1], _steps), u, st.n_boot)
    theory_curve = base.cloning_agreement_features(t, list(AMPS_B), 1.0)
    cross = [measure.cloning_crossing_theory(1.0, a, 1.0) for a in AMPS_B]
    return {"g": 0.0, "t_branch": t, "agreement": r["agreement"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
            "phi_theory": theory_curve, "tau": [_boot(x, u[:, :, k], st.n_boot) for k, x in enumerate(s)],
            "gap": g_ou, "gap_dit_steps": [-g_st[0], -g_st[2], -g_st[1]],
            "gap075_theory": cross[0] - cross[1],
            "gap075_theory_dit_steps": _steps(cross[1]) - _steps(cross[0]),
            "gap_onset_theory": gated.gated_gap(0.0, list(AMPS_B), 1.0, "sde")["gap"]}


def _b_protocol1(st: Settings, g):
    from syncgap.ou_models import measure
    from syncgap.theory import gated
    grid = _b_grid(st)
    r = measure.protocol_one(_b_data(), grid, g, st.b_n, st.seed, t_int_times=np.linspace(0.1, 5.0, st.b_tint),
                             n_boot=st.n_boot, dit_sampling_steps=DIT_STEPS)
    th = gated.gated_gap(g, list(AMPS_B), 1.0, "sde")
    return {"g": g, "t_int": r["t_int"], "agreement": r["agreement"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
            "tau": r["tau_spec"], "gap": r["gap"][0], "gap_dit_steps": r["gap_dit_steps"][0],
            "onset_theory": th["t_S"], "gap_onset_theory": th["gap"]}


def _b_energy(st: Settings, g):
    from syncgap.ou_models import measure
    from syncgap.theory import gated
    e = measure.difference_energy(_b_data(), _b_grid(st), g, st.b_n, st.seed, record_every=4, n_boot=st.n_boot)
    th = gated.gated_gap(g, list(AMPS_B), 1.0, "sde")
    return {"g": g, "t": e["t"], "rate_drift": e["rate_drift"][:, :2], "rate_drift_ci": e["rate_drift_ci"][:, :, :2],
            "onset_theory": th["t_S"], "features": ["a=%g" % a for a in AMPS_B]}


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


# ----------------------------------------------------------------------------- the law of the gap against g

def law_ratio(g, eta):
    """(rho(g) + eta)/(1 + eta), rho = theory.routing.routing_factor; eta outside (-1, 1) allowed for the fit."""
    from syncgap.theory.routing import routing_factor
    rho = np.array([routing_factor(float(x)) for x in np.atleast_1d(g)])
    return (rho + eta) / (1.0 + eta)


def _fit_eta(g, gap, w, gap0):
    from scipy.optimize import minimize_scalar
    f = lambda e: float(np.sum(w * (gap - gap0 * law_ratio(g, e)) ** 2))
    # eta in (-0.95, 1e3): eta -> inf is a g-independent gap, eta = 0 pure routing
    res = minimize_scalar(lambda x: f(-0.95 + math.exp(x)), bounds=(-6.0, math.log(1e3)), method="bounded")
    return -0.95 + math.exp(res.x)


def gap_law(cells: list[dict], n_boot: int, seed: int = 0) -> dict:
    """From the g = 0 cloning cell and the Protocol I cells: law, fit of eta, residuals, critical g (DiT steps)."""
    from syncgap.theory.routing import critical_coupling
    c0 = cells[0]
    gap0, lo0, hi0 = c0["gap_dit_steps"]
    rows = [c for c in cells[1:] if c["gap_dit_steps"][0] is not None]
    g = np.array([c["g"] for c in rows], float)
    est = np.array([c["gap_dit_steps"][0] for c in rows], float)
    lo = np.array([c["gap_dit_steps"][1] if c["gap_dit_steps"][1] is not None else -np.inf for c in rows], float)
    hi = np.array([c["gap_dit_steps"][2] if c["gap_dit_steps"][2] is not None else np.inf for c in rows], float)
    sd = np.where(np.isfinite(hi - lo), (hi - lo) / 3.92, np.nan)
    sd = np.where(np.isfinite(sd) & (sd > 0), sd, np.nanmax(np.append(sd, 1.0)))
    out = {"gap0": gap0, "gap0_ci": [lo0, hi0], "g": g, "gap": est, "gap_lo": lo, "gap_hi": hi,
           "predicted": gap0 * law_ratio(g, 0.0) if g.size else []}
    if gap0 is None or g.size < 2:
        return out | {"eta": None, "eta_ci": None, "fitted": None, "residuals": None, "critical_g": None,
                      "critical_g_ci": None, "critical_g_theory": None}
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
    return out | {"eta": eta, "eta_ci": [float(v) for v in np.quantile(boots, [0.025, 0.975])], "fitted": fitted,
                  "residuals": est - fitted, "residuals_routing": est - out["predicted"],
                  "critical_g": crit(est), "critical_g_ci": [c_lo, c_hi],
                  "critical_g_theory": critical_coupling(gap0, 0.0) if gap0 > 0 else None}


# ----------------------------------------------------------------------------- checks

def _num(x):
    return None if x is None or not np.isfinite(float(x)) else float(x)


def _ci(lo, hi, tol=0.0):
    lo = -math.inf if lo is None else float(lo) - tol
    hi = math.inf if hi is None else float(hi) + tol
    return (lo, hi)


def _check(id_, desc, pred, obs, ci, unit, finding, tol, passed=None):
    pred, obs = _num(pred), _num(obs)
    ok = within(pred, ci) if passed is None else passed
    return Check(id_, desc, pred, obs, ci, unit, bool(ok and obs is not None), finding=finding, tolerance=tol)


def checks_from_files(root: Path) -> tuple[list[Check], dict]:
    """Every check of the suite, from the cell files under `root` only; also the law analysis (or None)."""
    cells = {p.stem: json.loads(p.read_text(encoding="utf-8"))["result"] for p in sorted(root.glob("*.json"))
             if p.stem != "gap_law"}
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
    ci_hw = float(np.max(np.array(c["ci_high"]) - np.array(c["ci_low"]))) / 2
    dev = float(np.max(np.abs(np.array(c["agreement"]) - np.array(c["phi_theory"]))))
    out.append(_check(f"ou.base.d{d}.cloning_curve", f"max |phi_sim - phi_theory| over {len(c['t_branch'])} cloning "
                      f"times, d = {c['d']} (theory.base.cloning_agreement)", 0.0, dev,
                      (dev - 1.5 * ci_hw, dev + 1.5 * ci_hw), "agreement", "base theory",
                      "1.5 x the widest pointwise 95% bootstrap half-width (several points compared)"))
    t, lo, hi = c["t075"]
    out.append(_check(f"ou.base.d{d}.t_phi075", f"time where cloning agreement = {LEVEL}, d = {c['d']}",
                      c["t075_theory"], t, _ci(lo, hi, c["dt"]), "OU time", "base theory",
                      "95% bootstrap interval widened by one grid step"))
    t, lo, hi = c["t_level"]
    out.append(_check(f"ou.base.d{d}.t_S", f"speciation time t_S = 1/2 log a^2 = 1/2 log d (d = {c['d']}), read where "
                      f"the measured curve reaches the exact level phi(t_S) = {c['level_at_t_S']:.3f}",
                      c["t_S_theory"], t, _ci(lo, hi, c["dt"]), "OU time", "base theory",
                      "95% bootstrap interval widened by one grid step"))
    return out


def _rest_checks(cells: dict) -> list[Check]:
    out = []
    for name in sorted(k for k in cells if k.startswith("collapse_")):
        k = cells[name]
        t, lo, hi = k["t_lock_median"]
        out.append(_check(f"ou.collapse.n{k['n_train']}_d{k['d']}", f"collapse time of the empirical-score sampler, "
                          f"n = {k['n_train']}, d = {k['d']}: median lock time vs theory.base.collapse_time",
                          k["t_collapse_theory"], t, _ci(lo, hi, 0.03), "OU time", "collapse",
                          "95% bootstrap interval of the median widened by 0.03 (lock time is not the "
                          "excess-entropy zero itself)"))
    for name in sorted((k for k in cells if k.startswith("layer_a_")), key=lambda s: cells[s]["g"]):
        a = cells[name]
        g = a["g"]
        for m, label in enumerate(("common", "difference")):
            md = a["modes"][m]
            t, lo, hi = md["t075"]
            dt = float(a["t_branch"][0] - a["t_branch"][1]) if len(a["t_branch"]) > 1 else 0.0
            out.append(_check(f"ou.A.g{g:g}.{label}.t_phi075", f"layer A g = {g:g}: {label} mode (rate {md['rate']:.3g}) "
                              f"phi = {LEVEL} crossing vs the mode-reduced exact curve", md["t075_theory"], t,
                              _ci(lo, hi, 0.01), "OU time", "layer A", "95% bootstrap interval widened by 0.01"))
            if md["t_level"] is not None:
                t, lo, hi = md["t_level"]
                out.append(_check(f"ou.A.g{g:g}.{label}.t_S", f"layer A g = {g:g}: {label}-mode speciation time "
                                  f"t_S^m = log(kappa Lambda_m)/(2 kappa) (theory.coupled_ou), read at the exact level "
                                  f"{md['level_at_t_S']:.3f}", md["t_S_theory"], t, _ci(lo, hi, 0.01), "OU time",
                                  "layer A", "95% bootstrap interval widened by 0.01"))
        if "gap_level" in a:
            t, lo, hi = a["gap_level"]
            out.append(_check(f"ou.A.g{g:g}.gap", f"layer A g = {g:g}: gap t_S(common) - t_S(difference) "
                              f"(theory.coupled_ou.synchronization_gap; stability bound g < "
                              f"{a['stability']['common_speciates_below']:.3f})", a["gap_t_S_theory"], t,
                              _ci(lo, hi, 0.02), "OU time", "layer A", "95% joint bootstrap interval widened by 0.02"))
    for name in sorted((k for k in cells if k.startswith("layer_b_energy_")), key=lambda s: cells[s]["g"]):
        e = cells[name]
        rd, ci = np.array(e["rate_drift"], float), np.array(e["rate_drift_ci"], float)
        for k, feat in enumerate(e["features"]):
            obs = onset(e["t"], rd[:, k])
            early = onset(e["t"], ci[1, :, k])          # upper band turns positive earliest (largest t)
            pred = e["onset_theory"][k]
            step = abs(e["t"][0] - e["t"][1])
            if pred is None:
                passed, ci_k = obs is None, None
            else:
                ci_k = (-math.inf if early is None else early - step, math.inf)
                passed = obs is not None and within(pred, ci_k)
            out.append(Check(f"ou.B.g{e['g']:g}.onset.{feat}", f"layer B g = {e['g']:g}, feature {feat}: the "
                             "replica difference starts to grow (drift rate of the difference energy turns > 0) no "
                             "earlier than the undecided-point onset of theory.gated.gated_speciation_time",
                             _num(pred), _num(obs), ci_k, "OU time", bool(passed), finding="layer B onsets",
                             tolerance="one-sided: the prediction must be >= the earliest onset within the 95% band "
                             "minus one record step (D' is largest at the undecided point, so it bounds the "
                             "population's onset from above); both None when no onset is predicted"))
    return out


def _gap_checks(b0: dict, law: dict) -> list[Check]:
    out = []
    gt, glo, ghi = b0["gap"]
    out.append(_check("ou.B.gap_g0", f"gated OU, g = 0: gap tau(a={AMPS_B[0]:g}) - tau(a={AMPS_B[1]:g}) of the exact "
                      "sampler (cloning, phi = 0.75) vs theory.gated.gated_gap onsets (log a1/a2)",
                      b0["gap_onset_theory"], gt, _ci(glo, ghi, 0.05), "OU time", "layer B gap",
                      "95% bootstrap interval widened by 0.05 (onset vs 0.75-crossing)"))
    out.append(_check("ou.B.gap_g0_steps", f"gated OU, g = 0: the same gap in DiT sampler steps ({DIT_STEPS}-step "
                      "DDPM grid) vs the exact curves' 0.75 crossings", b0["gap075_theory_dit_steps"],
                      b0["gap_dit_steps"][0], _ci(b0["gap_dit_steps"][1], b0["gap_dit_steps"][2], 1.0),
                      "DiT sampler steps", "layer B gap", "95% bootstrap interval widened by 1 step"))
    gap0 = law["gap0"]
    half0 = (law["gap0_ci"][1] - law["gap0_ci"][0]) / 2
    from syncgap.theory.routing import routing_factor
    for gi, est, lo, hi, pred in zip(law["g"], law["gap"], law["gap_lo"], law["gap_hi"], law["predicted"]):
        widen = abs(routing_factor(float(gi))) * half0
        out.append(_check(f"ou.B.protocol1.g{gi:g}", f"gated OU Protocol I, g = {gi:g}: gap vs the routing law "
                          "gap0 rho(g) (theory.routing.predicted_gap_ratio, eta = 0)", pred, est,
                          _ci(lo, hi, widen), "DiT sampler steps", "layer B gap vs g",
                          "95% bootstrap interval widened by |rho(g)| x the g = 0 gap's half-width"))
    if law["eta"] is not None:
        out.append(_check("ou.B.fit_eta", "fitted frequency-blind contrast eta of gap(g) = gap0 (rho + eta)/(1 + eta); "
                          "routing dominance predicts eta = 0", 0.0, law["eta"], tuple(law["eta_ci"]), "",
                          "layer B gap vs g", "95% parametric bootstrap of the fit (eta searched in (-0.95, 1000))"))
        cg = law["critical_g"]
        clo, chi = law["critical_g_ci"]
        out.append(Check("ou.B.critical_g", "coupling where the gap first drops below one DiT sampler step: observed "
                         "(interpolated on the g grid) vs theory.routing.critical_coupling(gap0, eta = 0)",
                         _num(law["critical_g_theory"]), _num(cg),
                         None if cg is None else _ci(clo, chi), "g",
                         bool(cg is not None and within(_num(law["critical_g_theory"]), _ci(clo, chi))),
                         finding="layer B gap vs g",
                         tolerance="interval from the bootstrap band's curves; None observed = the gap never "
                         "fell below one step on the grid (fails)"))
    return out


# ----------------------------------------------------------------------------- verdicts

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
            if not c.passed and not _miss(c) < _width(c)]


def _width(c: Check) -> float:
    return math.inf if c.ci is None else c.ci[1] - c.ci[0]


def verdicts(checks: list[Check], law: dict | None) -> dict:
    by = {}
    for c in checks:
        by.setdefault(c.finding, []).append(c)
    v = {}

    def tally(f):
        cs = by.get(f, [])
        return sum(c.passed for c in cs), len(cs)

    p, n = tally("base theory")
    v["base theory"] = (f"{p}/{n} checks pass. The simulated cloning curve at each d is held against the exact "
                        "agreement of theory.base, and the speciation time against 1/2 log d (exact for the unit-noise "
                        "mixture, 1/2 log Lambda up to 0.002). " + ("Base theory reproduced." if p == n else
                        "Where a check fails, the Euler discretisation of the reverse SDE (grid step in the "
                        "tolerance) and the finite number of paths are the first suspects; the exact curve is "
                        "a quadrature, independent of the simulator."))
    p, n = tally("collapse")
    v["collapse"] = (f"{p}/{n} checks pass. The median time at which a path's nearest training point stops changing "
                     "is compared with Biroli et al.'s t_C (zero of the excess entropy); the two are different "
                     "definitions of the same transition, hence the stated 0.03 tolerance.")
    p, n = tally("layer A")
    v["layer A"] = (f"{p}/{n} checks pass. Each mode of the drift-coupled pair behaves as the base OU rescaled by "
                    "its rate (the mode reduction of theory.coupled_ou): its 0.75-crossing and its t_S^m are read from "
                    "its own cloning curve, at g up to near the common mode's stability bound. "
                    + ("Layer A reproduced." if p == n else "Failures are listed with their intervals: "
                       + "; ".join(f"{c.id} misses by {_miss(c):.3g} OU time (interval width {_width(c):.3g})"
                                   for c in by["layer A"] if not c.passed)
                       + ". A miss smaller than the interval's width, in one of many 95% intervals, is the expected "
                       "rate of chance failures (at g = 0 the two modes are the two replicas, identical in law); "
                       "near the stability bound the common mode speciates late and its curve is shallow, so its "
                       "crossing is least precise there."))
    p, n = tally("layer B onsets")
    v["layer B onsets"] = (f"{p}/{n} checks pass. theory.gated linearises the gated pair at the undecided, "
                           "replica-symmetric point, where the posterior-mean slope D' is largest; the simulated "
                           "population contains already-decided paths whose D' is smaller, so its difference starts "
                           "to grow later. The check is therefore one-sided (theory bounds the onset from above); "
                           "for g >= 1 (rho <= 0) theory predicts no onset at all."
                           + "".join(f" {c.id}: theory predicts an onset at t = {c.predicted:.3g} but the simulated "
                                     "difference never grows on average (consistent with the bound, not a confirmation)."
                                     for c in by.get("layer B onsets", []) if c.observed is None and c.predicted is not None))
    p, n = tally("layer B gap")
    if law is not None:
        coll = law.get("critical_g")
        eta = law.get("eta")
        gaps = ", ".join(f"g={g:g}: {x:.1f}" for g, x in zip(law["g"], law["gap"]))
        v["layer B gap"] = (f"{p}/{n} checks pass. At g = 0 the exact sampler commits the strong feature "
                            f"{_fmt(law['gap0'], '.1f')} DiT sampler steps before the weak one (log(a1/a2) = "
                            f"{math.log(AMPS_B[0] / AMPS_B[1]):.3f} in OU time by theory.gated). This g = 0 gap "
                            "comes from cloning (Protocol I with g = 0 never synchronises the SDE pair, whose noises "
                            "are independent) and anchors the law gap0 rho(g) below.")
        p2, n2 = tally("layer B gap vs g")
        collapsed = coll is not None
        v["layer B gap vs g"] = (
            f"{p2}/{n2} checks pass. Protocol I gap in DiT steps against g ({gaps}); routing law gap0 rho(g) "
            f"predicts collapse at g* = {_fmt(law.get('critical_g_theory'))}. Fitted eta = {_fmt(eta)}"
            + (" (at the search bound 1000: a g-independent gap)" if eta is not None and eta > 900 else "")
            + f" (interval {_fmt(law['eta_ci'][0]) if law.get('eta_ci') else 'none'} to "
            f"{_fmt(law['eta_ci'][1]) if law.get('eta_ci') else 'none'}). "
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


# ----------------------------------------------------------------------------- the suite

def run_cells(out_dir, quick: bool, say) -> Path:
    """Measure (or reuse) every cell; returns the folder holding them."""
    st = settings(bool(quick))
    root = Path(out_dir) / SUBDIR
    root.mkdir(parents=True, exist_ok=True)
    common = {"version": CELLS_VERSION, "quick": bool(quick), "seed": st.seed, "n_boot": st.n_boot}
    for d in st.clone_d:
        _cell(root, f"base_cloning_d{d}", common | {"d": d, "n": st.clone_n, "T": st.clone_T,
              "steps": st.clone_steps, "branches": st.clone_branches}, lambda: _base_cloning(st, d), say)
    for n_train, d in st.collapse:
        _cell(root, f"collapse_n{n_train}_d{d}", common | {"n_train": n_train, "d": d, "n": st.collapse_n},
              lambda: _collapse(st, n_train, d), say)
    for g in st.a_g:
        _cell(root, f"layer_a_g{g:g}", common | {"g": g, "amp": st.a_amp, "n": st.a_n, "steps": st.a_steps},
              lambda: _layer_a(st, g), say)
    bcfg = common | {"amps": list(AMPS_B), "n": st.b_n, "T": st.b_T, "steps": st.b_steps, "t_int": st.b_tint}
    for g in st.b_energy_g:
        _cell(root, f"layer_b_energy_g{g:g}", bcfg | {"g": g}, lambda: _b_energy(st, g), say)
    _cell(root, "layer_b_cloning_g0", bcfg, lambda: _b_cloning0(st), say)
    for g in st.b_g:
        _cell(root, f"layer_b_p1_g{g:g}", bcfg | {"g": g}, lambda: _b_protocol1(st, g), say)
    # a cell left over from a run with other settings must not enter the checks
    keep = {f"{n}.json" for n in ["layer_b_cloning_g0", "gap_law"] + [f"base_cloning_d{d}" for d in st.clone_d]
            + [f"collapse_n{a}_d{b}" for a, b in st.collapse] + [f"layer_a_g{g:g}" for g in st.a_g]
            + [f"layer_b_energy_g{g:g}" for g in st.b_energy_g] + [f"layer_b_p1_g{g:g}" for g in st.b_g]}
    for p in root.glob("*.json"):
        if p.name not in keep:
            p.rename(p.with_suffix(".json.stale"))
    return root


def ou_theory_suite(out_dir, *, quick: bool, progress=None) -> SuiteResult:
    """Measure (or reuse) the OU cells, then checks, figures and verdicts from the files alone."""
    from syncgap.validation import figures as fig
    say = progress if progress is not None else (lambda m: None)
    out_dir = Path(out_dir)
    root = run_cells(out_dir, quick, say)
    checks, law = checks_from_files(root)
    if law is not None:
        atomic_write_json(root / "gap_law.json", to_plain(law))
    figures = fig.draw_ou(root, out_dir)
    files = sorted(str(p.relative_to(out_dir)) for p in root.glob("*.json"))
    say(f"ou: {sum(c.passed for c in checks)}/{len(checks)} checks pass")
    return SuiteResult("ou_theory", checks, figures, verdicts(checks, law), files)


__all__ = ["ou_theory_suite", "settings", "Settings", "checks_from_files", "gap_law", "law_ratio", "onset",
           "verdicts", "run_cells"]
