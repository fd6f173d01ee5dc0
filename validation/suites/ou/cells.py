"""Cells of the OU/theory suite: sizes (`Settings`) and one measurement recipe per cell (docs/science.md §2-4).

Each recipe returns the plain result of one cell (a dict of numbers and lists); `ou_theory.run_cells`
stores it with `validation.store` under out_dir/ou/<name>.json and reuses it on a rerun.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from syncgap.ou_models.estimators import bootstrap, crossing_statistic, gap_statistic
from syncgap.theory.intervals import list_fields, triple_fields

SUBDIR = "ou"
LEVEL = 0.75                 # cloning / agreement level read as "speciation"
DIT_STEPS = 250              # DiT sampler steps for the step-unit gap (P2's DiT-XL/2 sampler)
AMPS_B = (20.0, 4.0)         # layer B: the two features of docs/science.md §4's first data point
CELLS_VERSION = 2            # bump when a cell's measurement changes, so old files are not reused


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Sizes of one run of the suite; the defaults are the full run, `settings_for(quick=True)` the quick one."""

    cloning_dims: tuple = (64, 256)              # base cloning: data dimensions d
    cloning_paths: int = 1000                    # base cloning: paths per cell
    cloning_start_time: float = 7.0              # base cloning: OU time T the reverse process starts at
    cloning_steps: int = 420                     # base cloning: steps of the uniform OU grid
    cloning_branch_times: int = 14               # base cloning: branching times around t_S
    collapse_sizes: tuple = ((100, 8), (300, 16))  # collapse: (training points n, dimension d) per cell
    collapse_paths: int = 400                    # collapse: paths per cell
    layer_a_amplitude: float = 4.0               # layer A: feature amplitude a
    layer_a_couplings: tuple = (0.0, 0.3, 0.6, 0.85, 0.9)  # layer A: drift couplings g (|g| < 1)
    layer_a_paths: int = 1000                    # layer A: paths per cell
    layer_a_steps: int = 350                     # layer A: grid steps per 7 OU time units
    layer_b_paths: int = 1000                    # layer B: paths per cell
    layer_b_start_time: float = 7.0              # layer B: OU time T the reverse process starts at
    layer_b_steps: int = 300                     # layer B: steps of the uniform OU grid
    layer_b_switch_times: int = 14               # layer B: Protocol I switch-off times t_int
    layer_b_couplings: tuple = (0.25, 0.5, 0.75, 0.9, 1.0, 2.0, 10.0)  # Protocol I gates g > 0 (g = 0: cloning)
    layer_b_energy_couplings: tuple = (0.0, 0.5, 2.0)  # difference-energy cells: gates g
    n_boot: int = 300                            # bootstrap resamples per interval
    seed: int = 0                                # noise seed of every cell


QUICK = replace(Settings(), cloning_dims=(256,), cloning_paths=300, cloning_start_time=6.0, cloning_steps=240,
                cloning_branch_times=10, collapse_sizes=((100, 8),), collapse_paths=200,
                layer_a_couplings=(0.0, 0.5, 0.85), layer_a_paths=500, layer_a_steps=280, layer_b_paths=400,
                layer_b_start_time=6.0, layer_b_steps=240, layer_b_switch_times=10,
                layer_b_couplings=(0.5, 1.0, 10.0), layer_b_energy_couplings=(0.0,), n_boot=100)


def settings_for(quick: bool) -> Settings:
    """The quick or the full sizes."""
    return QUICK if quick else Settings()


def _feature_gap(first, second, transform=None):
    """Gap statistic of units (n, B, 2): first(units[..., 0]) - second(units[..., 1]) (estimators.gap_statistic)."""
    return gap_statistic(lambda u: first(u[:, :, 0]), lambda u: second(u[:, :, 1]), transform)


def _boot(stat, units, n_boot, seed=0):
    """[estimate, low, high] of `stat` by the percentile bootstrap over units (estimators.bootstrap)."""
    interval = bootstrap(stat, units, n_boot, seed=seed)
    return [interval.estimate, interval.low, interval.high]


def _curve(r, name, cols=slice(None)):
    """The fields name, name_low, name_high of a measurement's curve, columns `cols` of each."""
    return {f"{name}{end}": r[f"{name}{end}"][:, cols] for end in ("", "_low", "_high")}


def _steps(t):
    from syncgap.theory import schedules
    return float(schedules.ou_time_to_sampler_step(t, DIT_STEPS))


def base_cloning(settings: Settings, d: int):
    """Base theory (§2): cloning curve at dimension d, its 0.75 crossing and t_S against theory.base."""
    from syncgap.ou_models import engine, measure
    from syncgap.theory import base
    from syncgap.theory.data import two_gaussian_mixture
    data = two_gaussian_mixture(d)
    amp = math.sqrt(d)
    ts = base.pitchfork_speciation_time(amp, 1.0)
    grid = engine.ou_grid(settings.cloning_start_time, settings.cloning_steps)
    times = np.linspace(ts - 1.8, ts + 2.2, settings.cloning_branch_times)
    r = measure.cloning(data, grid, settings.cloning_paths, settings.seed, branch_times=times,
                        n_boot=settings.n_boot, keep_units=True)
    u = r["units"][:, :, 0].astype(float)
    t = np.asarray(r["t_branch"])
    level_ts = float(base.cloning_agreement(ts, amp, 1.0))
    return {"d": d, "t_branch": t, **_curve(r, "agreement", 0), "phi_theory": base.cloning_agreement(t, amp, 1.0),
            **triple_fields("t075", _boot(crossing_statistic(t, LEVEL), u, settings.n_boot)),
            "t075_theory": measure.cloning_crossing_theory(1.0, amp, 1.0),
            "t_S_theory": ts, "t_S_half_log_lambda": base.speciation_time(d + 1.0),
            "level_at_t_S": level_ts, **triple_fields("t_level", _boot(crossing_statistic(t, level_ts), u, settings.n_boot)),
            "dt": float(grid[0] - grid[1])}


def collapse(settings: Settings, n_train, d):
    """Collapse (§2): lock times of the empirical-score sampler against theory.base.collapse_time."""
    from syncgap.ou_models import engine, measure
    from syncgap.theory import base
    r = measure.collapse(n_train, d, engine.ou_grid(3.0, 600), settings.collapse_paths, settings.seed,
                         n_boot=settings.n_boot)
    counts, edges = np.histogram(r["t_lock"], bins=30)
    return {"n_train": n_train, "d": d, **{k: r[k] for k in ("t_lock_median", "t_lock_median_low", "t_lock_median_high")},
            "t_collapse_theory": base.collapse_time(n_train, d, 1.0), "hist_counts": counts, "hist_edges": edges,
            "grid_dt": 3.0 / 600}


def layer_a(settings: Settings, g):
    """Layer A (§3): per-mode cloning of the drift-coupled pair at coupling g, and the mode gap."""
    from syncgap.ou_models import engine, measure
    from syncgap.theory import base, coupled_ou
    from syncgap.theory.data import SignFeatureMixture
    amp = settings.layer_a_amplitude
    data = SignFeatureMixture(np.eye(4)[:1], np.array([amp]), 1.0, (4,))
    A = coupled_ou.drift_symmetric(g)
    rates, V = np.linalg.eigh(A)                     # ascending: mode 0 slow (common), mode 1 fast
    th = coupled_ou.mode_speciation_times(coupled_ou.drift_symmetric(g), amp * amp + 1.0)
    t_S = [float(x) for x in np.sort(th["t_S"])[::-1]]   # slow mode commits first (largest t)
    lam = amp * amp + 1.0
    scales = [np.log(max(k * lam, 1.5)) / (2 * k) for k in rates]
    T = 7.0 if g < 0.8 else 9.0 + 2.0 * (g >= 0.88)
    grid = engine.ou_grid(T, int(settings.layer_a_steps * T / 7.0))
    times = np.clip(np.concatenate([np.linspace(0.45 * x, 2.1 * x, 10) for x in scales]), grid[-2], grid[0])
    r = measure.cloning(data, grid, settings.layer_a_paths, settings.seed, times, drift=A, n_boot=settings.n_boot,
                        sign_mixing=V,
                        keep_units=True)
    t = np.asarray(r["t_branch"])
    modes = []
    for m, name in enumerate(("mode0.0", "mode1.0")):
        j = r["observables"].index(name)
        u = r["units"][:, :, j].astype(float)
        k = float(rates[m])
        curve = lambda x: base.cloning_agreement(k * np.asarray(x), math.sqrt(k) * amp, math.sqrt(k))
        lvl = float(curve(t_S[m])) if t_S[m] > 0 else None
        modes.append({"rate": k, **_curve(r, "agreement", j), "phi_theory": curve(t),
                      **triple_fields("t075", _boot(crossing_statistic(t, LEVEL), u, settings.n_boot)),
                      "t075_theory": measure.cloning_crossing_theory(k, amp, 1.0),
                      "t_S_theory": t_S[m], "level_at_t_S": lvl,   # t_level: only where the mode has an exact level
                      **(triple_fields("t_level", _boot(crossing_statistic(t, lvl), u, settings.n_boot))
                         if lvl is not None else {})})
    j0, j1 = r["observables"].index("mode0.0"), r["observables"].index("mode1.0")
    units = r["units"][:, :, [j0, j1]].astype(float)
    crossing = crossing_statistic(t, LEVEL)
    gap = _feature_gap(crossing, crossing)
    out = {"g": g, "amplitude": amp, "t_branch": t, "modes": modes, **triple_fields("gap075", _boot(gap, units, settings.n_boot)),
           "gap075_theory": modes[0]["t075_theory"] - modes[1]["t075_theory"],
           "gap_t_S_theory": coupled_ou.synchronization_gap(coupled_ou.drift_symmetric(g), lam),
           "stability": coupled_ou.stability_bounds(lam)}
    if modes[0]["level_at_t_S"] is not None and modes[1]["level_at_t_S"] is not None:
        gap_level = _feature_gap(crossing_statistic(t, modes[0]["level_at_t_S"]),
                                 crossing_statistic(t, modes[1]["level_at_t_S"]))
        out |= triple_fields("gap_level", _boot(gap_level, units, settings.n_boot))
    return out


def _b_data():
    from syncgap.theory.data import SignFeatureMixture
    return SignFeatureMixture(np.eye(4)[:2], np.array(AMPS_B), 1.0, (4,))


def _b_grid(settings):
    from syncgap.ou_models import engine
    return engine.ou_grid(settings.layer_b_start_time, settings.layer_b_steps)


def layer_b_cloning(settings: Settings):
    """Layer B, g = 0: the independent exact sampler's per-feature commitment (cloning), gap strong - weak."""
    from syncgap.ou_models import measure
    from syncgap.theory import base, gated
    grid = _b_grid(settings)
    times = np.linspace(0.15, 5.0, 2 * settings.layer_b_switch_times)
    r = measure.cloning(_b_data(), grid, settings.layer_b_paths, settings.seed, times, n_boot=settings.n_boot,
                        keep_units=True)
    t = np.asarray(r["t_branch"])
    u = r["units"].astype(float)
    crossing = crossing_statistic(t, LEVEL)
    g_ou = _boot(_feature_gap(crossing, crossing), u, settings.n_boot)
    g_st = _boot(_feature_gap(crossing, crossing, _steps), u, settings.n_boot)
    theory_curve = base.cloning_agreement_features(t, list(AMPS_B), 1.0)
    cross = [measure.cloning_crossing_theory(1.0, a, 1.0) for a in AMPS_B]
    return {"g": 0.0, "t_branch": t, **_curve(r, "agreement"), "phi_theory": theory_curve,
            **list_fields("tau", [_boot(crossing, u[:, :, k], settings.n_boot) for k in range(2)]),
            **triple_fields("gap", g_ou), **triple_fields("gap_dit_steps", [-g_st[0], -g_st[2], -g_st[1]]),
            "gap075_theory": cross[0] - cross[1],
            "gap075_theory_dit_steps": _steps(cross[1]) - _steps(cross[0]),
            "gap_onset_theory": gated.gated_gap(0.0, list(AMPS_B), 1.0, "sde")["gap"]}


def layer_b_protocol_one(settings: Settings, g):
    """Layer B (§4): Protocol I of the gated pair at gate g > 0 (gap in OU time and DiT steps)."""
    from syncgap.ou_models import measure
    from syncgap.theory import gated
    grid = _b_grid(settings)
    r = measure.protocol_one(_b_data(), grid, g, settings.layer_b_paths, settings.seed,
                             t_int_times=np.linspace(0.1, 5.0, settings.layer_b_switch_times),
                             n_boot=settings.n_boot, dit_sampling_steps=DIT_STEPS)
    th = gated.gated_gap(g, list(AMPS_B), 1.0, "sde")
    first = {f"{name}{end}": r[f"{name}{end}"][0] for name in ("gap", "gap_dit_steps") for end in ("", "_low", "_high")}
    return {"g": g, "t_int": r["t_int"], **_curve(r, "agreement"),
            **{f"tau{end}": r[f"tau_spec{end}"] for end in ("", "_low", "_high")}, **first,
            "onset_theory": th["t_S"], "gap_onset_theory": th["gap"]}


def layer_b_energy(settings: Settings, g):
    """Layer B (§4): drift rate of the replica-difference energy per feature at gate g."""
    from syncgap.ou_models import measure
    from syncgap.theory import gated
    e = measure.difference_energy(_b_data(), _b_grid(settings), g, settings.layer_b_paths, settings.seed, record_every=4,
                                  n_boot=settings.n_boot)
    th = gated.gated_gap(g, list(AMPS_B), 1.0, "sde")
    return {"g": g, "t": e["t"], **_curve(e, "rate_drift", slice(0, 2)),
            "onset_theory": th["t_S"], "features": ["a=%g" % a for a in AMPS_B]}
