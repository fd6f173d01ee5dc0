"""Measurements on the OU engine: cloning, Protocol I, difference energy, collapse (docs/science.md §2-4).

Each returns a plain dict of numbers and arrays, with percentile bootstrap intervals over
paths (ou_models.estimators). Paths are run in batches; `progress(done, total)` is called
after each batch. Batching never changes results (counter-based noise, see rng.py).
Each entry point checks its arguments once into a ReplicaRun (replica_run.py); what runs it takes that spec.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from syncgap.theory import schedules
from syncgap.theory.checks import InputError, SimulationError, check_choice, check_finite_state, check_int, check_positive, check_real
from syncgap.theory.intervals import interval_fields
from syncgap.theory.resources import check_array_memory

from . import kernels
from .analog import coupled_units
from .engine import feature_model_gauss
from .estimators import agreement_curve_ci, bootstrap, crossing_statistic, fit_sigmoid, gap_statistic
from .replica_run import ReplicaRun, check_variant
from .sampler import run_branches, sample_paths

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import ArrayLike

    from syncgap.theory.data import SignFeatureMixture

    from .engine import FeatureModel, StepTables

P1_WINDOWS = ("release", "switch-on", "clone")   # the windows protocol_one runs (throughout: variants)


def _steps_at_times(grid, times) -> np.ndarray:
    """Indices of the grid points nearest to each time, unique and increasing (= decreasing time)."""
    idx = np.unique(np.array([int(np.argmin(np.abs(grid - t))) for t in np.atleast_1d(times)]))
    if idx.size < 4:
        raise InputError(f"need at least 4 distinct branch times on the grid for a sigmoid fit, got {idx.size}")
    return idx


def speciation_window(grid: np.ndarray, t_spec: ArrayLike, before: float, after: float, num: int = 25) -> np.ndarray:
    """num times from min(t_spec) - before to max(t_spec) + after, clipped to the grid's (0, T].

    t_spec: the speciation times 1/2 log Lambda_k (docs/science.md §2). InputError naming T when the
    window misses the grid, i.e. the reverse process starts too late to see any commitment.
    """
    t_spec = np.atleast_1d(t_spec)
    lo, hi = max(grid[-2], t_spec.min() - before), min(grid[0], t_spec.max() + after)
    if hi - lo < 1e-9 * max(1.0, grid[0]):
        if grid[0] > t_spec.min() - before:   # T is high enough: the grid has no score time inside the window
            raise InputError(f"steps: the time grid is too coarse: its last score time t={grid[-2]:.4g} lies above "
                             f"the commitments near 1/2 log Lambda = {t_spec.min():.4g}..{t_spec.max():.4g}; "
                             "use more steps")
        raise InputError(f"T: the reverse process starts at T={grid[0]:.4g}, but its commitments happen near "
                         f"1/2 log Lambda = {t_spec.min():.4g}..{t_spec.max():.4g}; start above "
                         f"{t_spec.max() + after:.4g} or lower the amplitudes / noise std")
    return np.linspace(lo, hi, num)


def grid_step_of_time(grid: np.ndarray, t: ArrayLike) -> float | np.ndarray:
    """Fractional step index of OU time t on a decreasing grid (step 0 = grid[0])."""
    N = grid.size - 1
    return N - np.interp(t, grid[::-1], np.arange(N + 1, dtype=float))


def _midpoint_stat(x, lo, hi):
    """statistic(units (n, B)) -> fitted sigmoid midpoint of the mean agreement, or None."""
    def stat(units):
        y = units.mean(0)
        if np.ptp(y) < 0.05:
            return None
        f = fit_sigmoid(x, y, lo=lo, hi=hi)
        if abs(f.hi - f.lo) < 0.1:      # no plateau clearly above chance: no commitment to time
            return None
        return f.midpoint if x.min() <= f.midpoint <= x.max() else None
    return stat


def _check_readout(n: int, n_boot: int) -> tuple[int, int]:
    """(paths, bootstrap resamples) of a measurement: a bootstrap over paths needs n >= 2 and n_boot >= 10."""
    return check_int("samples", n, 2, 10**9), check_int("n_boot", n_boot, 10, 10**6)


def cloning(data: SignFeatureMixture | FeatureModel, grid: ArrayLike, n: int, seed: int = 0,
            branch_times: ArrayLike | None = None, *, K: int = 1, drift: ArrayLike | None = None,
            gate: float | ArrayLike | Callable[[float], float] = 0.0, scheme: str = "sde", batch: int = 2000,
            n_boot: int = 300, sign_mixing: ArrayLike | None = None, keep_units: bool = False,
            progress: Callable[[int, int], object] | None = None) -> dict:
    """Cloning (U-turn) agreement phi(t): run to t, clone with fresh noise, compare final signs (docs/science.md §2).

    Observables: the sign of each feature of each replica, and for K > 1 the sign of each
    mode coordinate u_m = v_m . (y_1..y_K) (v_m eigenvectors of the symmetric part of A).
    The speciation time of an observable is where phi crosses 0.75 (halfway from 1 at t -> 0 to
    chance 0.5 at t -> inf): `t_speciation` by linear interpolation of the measured curve (unbiased
    for dense branch times), `t_speciation_sigmoid` from a logistic fit (smoother, but biased where
    the true curve is not logistic: about +0.05/kappa for the base curve).
    """
    n, n_boot = _check_readout(n, n_boot)
    run = ReplicaRun(data, grid, n, seed, K=K, drift=drift, gate=gate, scheme=scheme, sign_mixing=sign_mixing,
                     batch=batch, progress=progress)
    return _cloning(run, branch_times, n_boot, keep_units)


def _cloning(run: ReplicaRun, branch_times: ArrayLike | None, n_boot: int, keep_units: bool) -> dict:
    """`cloning` of a checked run: every path cloned at each branch time on the run's own tables."""
    model, grid, K = run.model, run.grid, run.K
    if branch_times is None:
        branch_times = speciation_window(grid, 0.5 * np.log(model.eigenvalues()), 2.5, 3.5)
    steps = _steps_at_times(grid, branch_times)
    tables = run.tables()
    y_main, y_br = run_branches(run, tables, tables, steps)
    names, agree = _cloning_observables(run, y_main, y_br)
    t = grid[steps]
    curves, lows, highs, t_spec, t_sig = [], [], [], [], []
    for a in agree:
        a = a.astype(float)
        m, l, h = agreement_curve_ci(a, n_boot, seed=run.seed)
        curves.append(m), lows.append(l), highs.append(h)
        interval = bootstrap(crossing_statistic(t, 0.75), a, n_boot, seed=run.seed)
        t_spec.append((interval.estimate, interval.low, interval.high))
        interval = bootstrap(_midpoint_stat(t, 1.0, 0.5), a, n_boot, seed=run.seed)
        t_sig.append((interval.estimate, interval.low, interval.high))
    record = {"observables": names, "t_branch": t, "branch_steps": steps,
              **interval_fields("agreement", np.array(curves).T, np.array(lows).T, np.array(highs).T),
              **interval_fields("t_speciation", *np.array(t_spec).T),
              **interval_fields("t_speciation_sigmoid", *np.array(t_sig).T),
              "samples": run.n, "seed": run.seed, "scheme": run.scheme, "level": 0.75}
    if keep_units:
        record["units"] = np.stack(agree, axis=-1).astype(np.int8)  # (n, B, observables) 0/1 per path
    return record


def _cloning_observables(run: ReplicaRun, y_main: np.ndarray, y_br: np.ndarray) -> tuple[list, list]:
    """(names, per-path sign agreement (n, B) of each): every replica's features, and for K > 1 every mode's."""
    K, F = run.K, run.model.num_features
    names, agree = [], []
    for i in range(K):
        for k in range(F):
            names.append(f"x{i}.{k}" if K > 1 else f"feature{k}")
            agree.append(np.sign(y_main[:, None, i, k]) == np.sign(y_br[:, :, i, k]))
    if K > 1:
        A = np.eye(K) if run.drift is None else run.drift
        ev, V = np.linalg.eigh(0.5 * (A + A.T))
        for m in range(K):
            for k in range(F):
                names.append(f"mode{m}.{k}")
                agree.append(np.sign(y_main[:, :, k] @ V[:, m])[:, None] == np.sign(y_br[:, :, :, k] @ V[:, m]))
    return names, agree


def cloning_crossing_theory(rate: float, amplitude: float, noise_std: float, level: float = 0.75) -> float:
    """OU time where a mode of rate kappa has exact cloning agreement `level` (theory.base curve, rescaled).

    A mode coordinate obeys du = -kappa u dt + sqrt(2) dW (theory.coupled_ou), i.e. the base OU in time
    kappa t with data amplitude and noise scaled by sqrt(kappa); the exact phi of theory.base then gives
    the crossing that the measured phi = 0.75 time estimates (t_S^m is only its scale).
    """
    from scipy.optimize import brentq

    from syncgap.theory.base import cloning_agreement
    k = check_real("rate", rate, 0.0, lo_open=True)
    f = lambda t: cloning_agreement(k * t, np.sqrt(k) * amplitude, np.sqrt(k) * noise_std) - level
    hi = 1.0 / k
    while f(hi) > 0:
        hi *= 2.0
    return float(brentq(f, 1e-9, hi, xtol=1e-10))


def mode_gap(data: SignFeatureMixture | FeatureModel, grid: ArrayLike, g: float, n: int, seed: int = 0,
             branch_times: ArrayLike | None = None, *, scheme: str = "sde", batch: int = 2000, n_boot: int = 300,
             progress: Callable[[int, int], object] | None = None) -> dict:
    """Layer A gap of the symmetric pair A = [[1, -g], [-g, 1]] from per-mode cloning (docs/science.md §3).

    Replica data are mode-clean (sign mixing T = eigenvectors of A: each mode coordinate carries its own
    sign), so each mode's speciation is read from its own cloning curve; gap = t(slow mode) - t(fast mode),
    both read where phi = 0.75, with a joint bootstrap interval over paths. Feature 0 only.
    """
    from syncgap.theory.coupled_ou import drift_symmetric   # SymPy: imported where it is used
    A = drift_symmetric(g)
    n, n_boot = _check_readout(n, n_boot)
    run = ReplicaRun(data, grid, n, seed, drift=A, scheme=scheme, sign_mixing=np.linalg.eigh(A)[1], batch=batch,
                     progress=progress)
    return _mode_gap(run, g, branch_times, n_boot)


def _mode_gap(run: ReplicaRun, g: float, branch_times: ArrayLike | None, n_boot: int) -> dict:
    """`mode_gap` of a checked run whose drift is the symmetric pair of coupling g."""
    ev, V = np.linalg.eigh(run.drift)
    if branch_times is None:   # dense around each mode's scale log(kappa Lambda)/(2 kappa) (docs/science.md §3)
        lam = float(run.model.eigenvalues()[0])
        scales = [np.log(max(k * lam, 1.5)) / (2 * k) for k in ev]
        branch_times = np.clip(np.concatenate([np.linspace(0.5 * x, 1.6 * x, 12) for x in scales]),
                               run.grid[-2], run.grid[0])
    r = _cloning(run, branch_times, n_boot, keep_units=True)
    j0, j1 = r["observables"].index("mode0.0"), r["observables"].index("mode1.0")
    crossing = crossing_statistic(r["t_branch"], 0.75)
    gap = gap_statistic(lambda u: crossing(u[:, :, j0].astype(float)), lambda u: crossing(u[:, :, j1].astype(float)))
    interval = bootstrap(gap, r.pop("units"), n_boot, seed=run.seed)
    return r | {"g": g, "rates": ev, "modes": V.T,
                **interval_fields("t_mode", *(r[f"t_speciation{end}"][[j0, j1]] for end in ("", "_low", "_high"))),
                **interval_fields("gap", interval.estimate, interval.low, interval.high)}


def protocol_one(data: SignFeatureMixture | FeatureModel, grid: ArrayLike,
                 g: float | ArrayLike | Callable[[float], float], n: int, seed: int = 0,
                 t_int_times: ArrayLike | None = None, *, drift: ArrayLike | None = None, scheme: str = "sde",
                 batch: int = 2000, n_boot: int = 300, dit_sampling_steps: int = 250,
                 progress: Callable[[int, int], object] | None = None, window: str = "release",
                 noise: str = "independent", eps: float | None = None, keep_units: bool = False,
                 gate_tables: StepTables | None = None, fit: bool = True) -> dict:
    """Protocol I: a pair coupled (gate g, or drift A) until OU time t_int, then independent (docs/science.md §4-5).

    With `drift` (layer A) the pair runs the coupled exact reverse process until t_int and the
    independent one after: the state at t_int is not a sample of the independent marginal, so
    this is a protocol, not an exact sampler. Agreement of the two replicas' final sign, per
    feature, against the switch-off time t_int
    (small t_int: coupled almost to the end; t_int = T: never coupled, chance 0.5). tau_spec per
    feature is the midpoint of a sigmoid fitted from its plateau down to 0.5; gap = tau_0 - tau_k.
    Times are reported in OU time, in steps of `grid`, and in DiT sampler steps (`dit_sampling_steps`).
    Variants (docs/protocols.md): window "switch-on" runs independent until t_int and coupled after
    (agreement then falls from synchronised to chance as t_int nears 0); noise "shared" gives both
    replicas the same per-step noise; eps starts the pair from sqrt(1-eps^2) z_0 +- eps z_1.
    The "throughout" window has no t_int: see ou_models.variants.throughout. Window "clone" is coupled
    cloning (ou_models.analog.coupled_cloning): agreement of replica A with its coupled copy cloned at t_int.
    keep_units=True adds "units": the per-path final sign agreement (n, B, F) of every t_int and feature.
    gate_tables (K = 2, e.g. ou_models.analog.feature_gate_tables) replace the gate g's tables where coupled.
    fit=False: the units and their steps only ("units", "units_t_int_steps"), no fits, no intervals.
    """
    check_variant(window, noise, eps, P1_WINDOWS)
    n, n_boot = _check_readout(n, n_boot)
    run = ReplicaRun(data, grid, n, seed, K=2, drift=drift, gate=g if drift is None else 0.0, scheme=scheme,
                     window=window, noise=noise, eps=eps, gate_tables=gate_tables, batch=batch, progress=progress)
    return {"g": g if np.ndim(g) == 0 else None} | _protocol_one(run, t_int_times, n_boot, dit_sampling_steps,
                                                                 keep_units, fit)


def _protocol_one(run: ReplicaRun, t_int_times: ArrayLike | None, n_boot: int, dit_sampling_steps: int,
                  keep_units: bool, fit: bool) -> dict:
    """`protocol_one` of a checked pair run (its window release, switch-on or clone), less its "g"."""
    grid, F, seed = run.grid, run.model.num_features, run.seed
    if t_int_times is None:
        t_int_times = speciation_window(grid, 0.5 * np.log(run.model.eigenvalues()), 2.5, 2.5)
    steps = _steps_at_times(grid, t_int_times)
    units = _pair_agreement(run, steps)                                             # (n, B, F)
    if not fit:
        return {"units": units, "units_t_int_steps": steps}
    # switch-on at the last grid point never couples (chance by construction): not read (docs/protocols.md)
    read = steps < grid.size - 1 if run.window == "switch-on" else np.ones(steps.size, bool)
    agree, t = units[:, read], grid[steps[read]]
    mean, low, high, tau = [], [], [], []
    # chance 0.5 where the pair ran independent longest: large t_int (release), small t_int (switch-on)
    midpoint = _midpoint_stat(t, *((None, 0.5) if run.window == "release" else (0.5, None)))
    for k in range(F):
        m, l, h = agreement_curve_ci(agree[:, :, k], n_boot, seed=seed)
        mean.append(m), low.append(l), high.append(h)
        interval = bootstrap(midpoint, agree[:, :, k], n_boot, seed=seed)
        tau.append((interval.estimate, interval.low, interval.high))
    gaps, gaps_steps = _feature_gaps(agree, midpoint, n_boot, seed, dit_sampling_steps)
    tau = np.array(tau)
    dit_steps = np.asarray(schedules.ou_time_to_sampler_step(np.nan_to_num(tau, nan=0.0), dit_sampling_steps))
    dit_steps[~np.isfinite(tau)] = np.nan
    grid_steps, dit_steps = grid_step_of_time(grid, tau)[:, [0, 2, 1]], dit_steps[:, [0, 2, 1]]
    return {"t_int": t, "t_int_steps": steps[read],
            **interval_fields("agreement", np.array(mean).T, np.array(low).T, np.array(high).T),
            **interval_fields("tau_spec", *tau.T), **interval_fields("tau_spec_grid_steps", *grid_steps.T),
            **interval_fields("tau_spec_dit_steps", *dit_steps.T),           # (features,) each
            "dit_sampling_steps": dit_sampling_steps, **interval_fields("gap", *gaps.T),   # (features - 1,) each
            **interval_fields("gap_dit_steps", *gaps_steps.T),
            "features": list(getattr(run.data, "names", [f"feature{k}" for k in range(F)])),
            "samples": run.n, "seed": seed, "scheme": run.scheme, "window": run.window, "noise": run.noise,
            "eps": run.eps, **({"units": units, "units_t_int_steps": steps} if keep_units else {})}


def _pair_agreement(run: ReplicaRun, steps: np.ndarray) -> np.ndarray:
    """Per path, t_int and feature whether the pair's final signs agree, (n, B, F) in {0., 1.}: the pair coupled
    before steps[b] and independent after (release), the reverse (switch-on), or its coupled clone (clone)."""
    if run.window == "clone":
        return coupled_units(run, steps).astype(float)
    coupled, uncoupled = run.tables(), run.independent().tables()
    main, branch = (uncoupled, coupled) if run.window == "switch-on" else (coupled, uncoupled)
    _, y_br = run_branches(run, main, branch, steps)
    return (np.sign(y_br[:, :, 0, :]) == np.sign(y_br[:, :, 1, :])).astype(float)


def _feature_gaps(agree: np.ndarray, midpoint: Callable, n_boot: int, seed: int,
                  dit_sampling_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap [estimate, low, high] of tau_0 - tau_k per feature k >= 1: in OU time, and in DiT sampler steps."""
    def to_steps(x):
        return float(schedules.ou_time_to_sampler_step(x, dit_sampling_steps))

    gaps, gaps_steps = [], []
    for k in range(1, agree.shape[2]):
        first, other = (lambda u: midpoint(u[:, :, 0])), (lambda u, k=k: midpoint(u[:, :, k]))
        interval = bootstrap(gap_statistic(first, other), agree, n_boot, seed=seed)
        gaps.append((interval.estimate, interval.low, interval.high))
        interval = bootstrap(gap_statistic(first, other, to_steps), agree, n_boot, seed=seed)
        # a later commitment is a larger step index, so the step gap is tau_k's step - tau_0's step
        gaps_steps.append((-interval.estimate, -interval.high, -interval.low))
    return np.array(gaps).reshape(-1, 3), np.array(gaps_steps).reshape(-1, 3)


def difference_energy(data: SignFeatureMixture | FeatureModel, grid: ArrayLike,
                      g: float | ArrayLike | Callable[[float], float], n: int, seed: int = 0, *,
                      record_every: int = 10, drift: ArrayLike | None = None, scheme: str = "sde", batch: int = 2000,
                      n_boot: int = 300, progress: Callable[[int, int], object] | None = None) -> dict:
    """Replica-difference energy per feature, E_k(t) = <(phi_k.(x_A - x_B))^2>, and its growth rate (Protocol II analog).

    Rate r_k = -1/2 d log E_k / dt: the growth rate of the difference amplitude as the reverse
    process runs (t decreasing); for the reverse SDE also `rate_drift` = (dE/dtau - 4)/(2E), the
    rate of the drift alone with the injected noise taken out (compare with r_SDE of theory.gated).
    Also the orthogonal part's energy per dimension (no such observable when d equals the number of features).
    """
    n, n_boot = _check_readout(n, n_boot)
    record_every = check_int("record_every", record_every, 1, 10**9)
    run = ReplicaRun(data, grid, n, seed, K=2, drift=drift, gate=g if drift is None else 0.0, scheme=scheme,
                     batch=batch, progress=progress)
    e, t = _pair_energies(run, record_every)
    return _energy_record(run, e, t, n_boot)


def _pair_energies(run: ReplicaRun, record_every: int) -> tuple[np.ndarray, np.ndarray]:
    """Per path the pair's squared difference per feature (and per orthogonal dimension), (n, R, F[+1]), and t (R,)."""
    F, D = run.model.num_features, run.model.dim
    parts = []
    for lo, hi in run.batches():
        r = sample_paths(run, lo, hi, record_every)
        dy = r["y"][:, :, 0, :] - r["y"][:, :, 1, :]
        gm = r["gram"]
        perp = (gm[:, :, 0, 0] + gm[:, :, 1, 1] - 2 * gm[:, :, 0, 1]) / max(D - F, 1)
        parts.append(np.concatenate([dy ** 2, perp[:, :, None]], axis=2) if D > F else dy ** 2)  # (b, R, F[+1])
        t = r["t"]
    return np.concatenate(parts), t


def _energy_record(run: ReplicaRun, e: np.ndarray, t: np.ndarray, n_boot: int) -> dict:
    """`difference_energy`'s record from the per-path energies e (n, R, F[+1]) at times t: means, rates, intervals."""
    F, D, n = run.model.num_features, run.model.dim, run.n
    names = [f"feature{k}" for k in range(F)] + (["orthogonal"] if D > F else [])   # d = F: no orthogonal part
    est = e.mean(0)
    _check_energies(est, t, names)
    rng = np.random.default_rng(run.seed)
    boots = np.empty((n_boot,) + e.shape[1:])
    for b in range(n_boot):
        boots[b] = e[rng.integers(0, n, n)].mean(0)

    def rate(E):
        return -0.5 * np.gradient(np.log(E), t, axis=-2)

    def rate_drift(E):
        # reverse SDE: E' = 2 r E + 4 per unit reverse time (two independent noises of variance 2 dtau each)
        return (-np.gradient(E, t, axis=-2) - 4.0) / (2.0 * E)
    q = [0.025, 0.975]
    record = {"t": t, "observables": names, **interval_fields("energy", est, *np.quantile(boots, q, axis=0)),
              **interval_fields("rate", rate(est), *np.quantile(rate(boots), q, axis=0)),
              "samples": n, "seed": run.seed, "scheme": run.scheme}
    if run.scheme == "sde":
        record |= interval_fields("rate_drift", rate_drift(est), *np.quantile(rate_drift(boots), q, axis=0))
    return record


def _check_energies(est, t, names) -> None:
    """SimulationError unless every mean energy is a positive number that float64 resolves.

    The orthogonal energy is |z_A - z_B|^2 minus the feature part, so its rounding error is a few
    eps times the feature part; below 1e-12 of it (~0.1 % error and worse) it is not a measurement
    (amplitudes far above the noise), and at 0 its log-rate is NaN.
    """
    bad = ~np.isfinite(est) | (est <= 0)
    if names[-1] == "orthogonal":
        bad[:, -1] |= est[:, -1] <= 1e-12 * est[:, :-1].sum(axis=1)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise SimulationError(
            f"difference energy of {names[c]} is {est[r, c]:.3g} at t={t[r]:.4g} against {est[r, :-1].sum():.3g} "
            "in the features: float64 cannot resolve it (amplitudes too large relative to the noise std)")


def collapse(n_train: int, d: int, grid: ArrayLike, n: int, seed: int = 0, sigma: float = 1.0, train_seed: int = 0,
             *, scheme: str = "sde", batch: int = 2000, n_boot: int = 300,
             progress: Callable[[int, int], object] | None = None) -> dict:
    """Collapse under the empirical score of n_train Gaussian points N(0, sigma^2 I_d).

    Lock time of a path: the OU time from which its nearest training point (nearest e^{-t} X_m,
    the argmax posterior weight) never changes again. Compared with t_C of `theory.base.collapse_time`.
    """
    n_train = check_int("n_train", n_train, 2, 10**8)
    d = check_int("d", d, 1, 10**6)
    sigma = check_positive("sigma", sigma)
    check_choice("scheme", scheme, ("sde", "ode", "ddpm"))   # the collapse run's samplers
    n, n_boot = _check_readout(n, n_boot)
    run = ReplicaRun(feature_model_gauss(d), grid, n, seed, scheme=scheme, batch=batch, progress=progress)
    return _collapse(run, n_train, sigma, train_seed, n_boot)


def _collapse(run: ReplicaRun, n_train: int, sigma: float, train_seed: int, n_boot: int) -> dict:
    """`collapse` of a checked one-replica run on isotropic unit Gaussian data (its start at T)."""
    from syncgap.theory.base import collapse_time
    n, d, grid = run.n, run.model.dim, run.grid
    check_array_memory(f"the collapse run (n_train={n_train}, d={d}, {n} paths, {run.N} steps)",
                       (n_train, d), (n, run.N), (n, d), (min(n, run.batch), d))
    X = sigma * np.random.default_rng(train_seed).standard_normal((n_train, d))
    nn, xf = _nearest_points(run, X)
    changed = nn[:, 1:] != nn[:, :-1]                       # (n, N-1): index changed going to step s+1
    last = np.where(changed.any(1), run.N - 1 - np.argmax(changed[:, ::-1], axis=1), 0)
    lock_t = grid[last]
    dist = np.sqrt(((xf[:, None, :] - X[None]) ** 2).sum(-1).min(1)) if n * n_train * d < 5e8 else None
    interval = bootstrap(lambda u: float(np.median(u)), lock_t, n_boot, seed=run.seed)
    mean_interval = bootstrap(lambda u: float(np.mean(u)), lock_t, n_boot, seed=run.seed)
    return {**interval_fields("t_lock_median", interval.estimate, interval.low, interval.high),
            **interval_fields("t_lock_mean", mean_interval.estimate, mean_interval.low, mean_interval.high),
            "t_collapse_theory": collapse_time(n_train, d, sigma),
            "t_lock": lock_t, "final_nn_distance": dist, "n_train": n_train, "d": d, "sigma": sigma,
            "samples": n, "seed": run.seed, "scheme": run.scheme}


def _nearest_points(run: ReplicaRun, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each path's nearest training point (of X (n_train, d)) after every step, (n, N), and its final state (n, d)."""
    grid, n, N = run.grid, run.n, run.N
    t, t2 = grid[:-1], grid[1:]
    dt = t - t2
    dl = schedules.delta(t)
    if run.scheme in ("sde", "ode"):   # score = (e^{-t} D - x)/Delta_t turns the Euler step into denoiser form
        score_coef, sig = schedules.euler_step(dt, run.scheme)
        a_x = 1.0 + dt - score_coef / dl
        a_d = score_coef * np.exp(-t) / dl
    else:
        a_x, a_d, sig = schedules.ancestral_step(t, t2, run.scheme)
    nn = np.empty((n, N), dtype=np.int64)
    xf = np.empty((n, X.shape[1]))
    for lo, hi in run.batches():
        x = run.start(lo, hi)[:, 0]
        kernels.empirical_paths(x, np.arange(lo, hi, dtype=np.int64), run.seed, X, np.exp(-t), dl, a_x, a_d,
                                sig, nn[lo:hi])
        xf[lo:hi] = x
        check_finite_state("collapse run (empirical score)", x, unit="path", offset=lo)
    return nn, xf
