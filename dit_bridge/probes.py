"""Per-layer linear probes of the FHGM features' final signs, and per-layer commitment steps (docs/science.md §5).

Probe: ridge regression on +-1 targets (a ridge classifier) from one layer's state at one sampler step
to the sign of y_k = phi_k . x_0 of the sample the trajectory ends at, evaluated on held-out pairs
(k-fold cross-validation grouped by pair: both replicas of a pair are always in the same fold). Inputs
are centred on the training fold; the penalty is lambda = alpha * trace(X^T X) / d (scale free: a
rescaled state gives the same predictions). Chance is 0.5 for the FHGM's fair signs.

Commitment of feature k at layer l: tau_l(k) = the first sampler step (linear interpolation between
probe steps) where the held-out accuracy crosses `level` (default 0.75, half way from chance to
certainty; ou_models.estimators.level_crossing); gap_l = tau_l(finest) - tau_l(coarsest). Intervals:
percentile bootstrap over pairs (ou_models.estimators.bootstrap, same seed for every layer, so every
layer sees the same resamples); held-out predictions are resampled, probes are not refitted.
"""
from __future__ import annotations

import numpy as np

from syncgap.ou_models.estimators import bootstrap, level_crossing
from syncgap.theory.checks import InputError, check_int, check_real
from syncgap.theory.intervals import list_fields

LEVEL = 0.75
CHANCE = 0.5


def ridge_scores(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Ridge predictions for x_test (m, d) from (x_train (n, d), y_train (n,)), intercept by centring.

    w = (X^T X + lam I)^{-1} X^T y = X^T (X X^T + lam I)^{-1} y (the dual form when d > n),
    lam = alpha * trace(X^T X) / d.
    """
    mu, ym = x_train.mean(0), y_train.mean()
    x, xt, y = x_train - mu, x_test - mu, y_train - ym
    lam = check_real("alpha", alpha, 0.0, lo_open=True) * float((x * x).sum()) / x.shape[1] + 1e-12
    if x.shape[1] > x.shape[0]:
        coef = np.linalg.solve(x @ x.T + lam * np.eye(x.shape[0]), y)  # (n,)
        return xt @ (x.T @ coef) + ym
    w = np.linalg.solve(x.T @ x + lam * np.eye(x.shape[1]), x.T @ y)  # (d,)
    return xt @ w + ym


def fold_of_groups(groups: np.ndarray, n_folds: int, seed: int = 0) -> np.ndarray:
    """(n,) fold index per row; all rows of a group share a fold, groups shuffled by `seed`."""
    uniq = np.unique(groups)
    n_folds = check_int("n_folds", n_folds, 2, uniq.size)
    perm = np.random.default_rng(seed).permutation(uniq.size)
    fold = dict(zip(uniq[perm].tolist(), (np.arange(uniq.size) % n_folds).tolist()))
    return np.asarray([fold[g] for g in groups.tolist()])


def probe_cv(x: np.ndarray, y: np.ndarray, folds: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """(n,) bool: held-out correctness of the ridge probe sign(score) == y; x (n, d), y (n,) in {-1, +1}."""
    x, y = np.asarray(x, float).reshape(len(y), -1), np.asarray(y, float)
    correct = np.zeros(len(y), bool)
    for f in np.unique(folds):
        test = folds == f
        train_y = y[~test]
        if np.all(train_y == train_y[0]):  # one class in training: predict it
            correct[test] = y[test] == train_y[0]
            continue
        correct[test] = np.sign(ridge_scores(x[~test], train_y, x[test], alpha)) == y[test]
    return correct


def probe_correct(run: dict, n_folds: int = 5, alpha: float = 1.0, seed: int = 0) -> np.ndarray:
    """Held-out correctness (P, 2, L + 1, S_p, F) of every (layer, probe step, feature) probe of a depth_run record.

    Rows are trajectories [A of all pairs; B of all pairs]; feature k's input is the state projected on its
    token modes (run["feature_modes"][k]), flattened over (modes, channels).
    """
    y = np.where(np.asarray(run["final_projection"]) >= 0, 1.0, -1.0)  # (2P, F) final signs
    n = y.shape[0]
    if n % 2:
        raise InputError(f"final_projection needs rows [A; B] (an even count), got {n}")
    pairs = np.arange(n) % (n // 2)
    folds = fold_of_groups(pairs, n_folds, seed)
    steps = list(run["probe_steps"])
    first = np.asarray(run["probe_inputs"][steps[0]])
    n_layers, n_feat = first.shape[1], y.shape[1]
    out = np.zeros((n, n_layers, len(steps), n_feat), bool)
    for j, s in enumerate(steps):
        z = np.asarray(run["probe_inputs"][s], float)  # (2P, L + 1, K, D)
        for k, modes in enumerate(run["feature_modes"]):
            for layer in range(n_layers):
                out[:, layer, j, k] = probe_cv(z[:, layer, modes].reshape(n, -1), y[:, k], folds, alpha)
    return out.reshape(2, n // 2, n_layers, len(steps), n_feat).transpose(1, 0, 2, 3, 4)


def commitment_step(steps: np.ndarray, accuracy: np.ndarray, level: float = LEVEL) -> float | None:
    """First sampler step where the accuracy curve (S_p,) crosses `level`, linearly interpolated; None if never."""
    return level_crossing(np.asarray(steps, float), np.asarray(accuracy, float), level)


def _iv(interval) -> list:
    """[estimate, low, high] with None for a missing estimate or an unbounded end."""
    est = None if not np.isfinite(interval.estimate) else float(interval.estimate)
    if est is None:
        return [None, None, None]
    return [est] + [float(v) if np.isfinite(v) else None for v in (interval.low, interval.high)]


def layer_commitment(steps: np.ndarray, correct: np.ndarray, *, coarse: int = 0, fine: int = -1,
                     level: float = LEVEL, n_boot: int = 200, seed: int = 0) -> dict:
    """Per layer: tau_l(global) (feature `coarse`), tau_l(local) (feature `fine`), gap_l, its change from the
    input gap_l - gap_0, and the accuracy gain over layer 0 averaged over the probe steps, per feature; each
    with its interval (bootstrap over pairs), one list per layer (theory.intervals.list_fields: name, name_low,
    name_high).

    correct: (P, 2, L + 1, S_p, F) held-out correctness. Also the first layer whose gap interval excludes 0
    (`first_resolved_layer`) and the first whose gap change does (`first_changed_layer`: the layers alter
    the gap that the input x_t already shows).
    """
    correct = np.asarray(correct, float)
    if correct.ndim != 5:
        raise InputError(f"correct must be (pairs, 2, layers + 1, probe steps, features), got {correct.shape}")
    level = check_real("level", level, CHANCE, 1.0, lo_open=True, hi_open=True)
    n_feat = correct.shape[-1]
    ends = [coarse % n_feat, fine % n_feat]
    acc = correct.mean(1)  # (P, L + 1, S_p, F): per pair, the mean over its two replicas (equal weights)
    out = {"tau_global": [], "tau_local": [], "gap": [], "gap_change": [], "gain": [],
           "accuracy": correct.mean((0, 1)), "level": level, "chance": CHANCE}

    def tau(u):  # u (P, S_p) -> tau of the mean curve
        return commitment_step(steps, u.mean(0), level)

    def gap(u):  # u (P, S_p, 2) [coarse, fine] -> tau(fine) - tau(coarse)
        a, b = tau(u[..., 1]), tau(u[..., 0])
        return None if a is None or b is None else a - b

    def change(u):  # u (P, 2, S_p, 2) [layer 0, layer] -> gap(layer) - gap(0)
        a, b = gap(u[:, 1]), gap(u[:, 0])
        return None if a is None or b is None else a - b
    for layer in range(acc.shape[1]):  # each bootstrap resamples the same pair indices (same seed, same P)
        out["tau_global"].append(_iv(bootstrap(tau, acc[:, layer, :, ends[0]], n_boot, seed=seed)))
        out["tau_local"].append(_iv(bootstrap(tau, acc[:, layer, :, ends[1]], n_boot, seed=seed)))
        out["gap"].append(_iv(bootstrap(gap, acc[:, layer][..., ends], n_boot, seed=seed)))
        out["gap_change"].append(_iv(bootstrap(change, acc[:, [0, layer]][..., ends], n_boot, seed=seed)))
        gains = (acc[:, layer] - acc[:, 0]).mean(1)  # (P, F): gain over layer 0, mean over probed steps
        out["gain"].append([_iv(bootstrap(lambda u: float(u.mean()), gains[:, k], n_boot, seed=seed))
                            for k in range(n_feat)])
    out["first_resolved_layer"] = first_resolved_layer(out["gap"])
    out["first_changed_layer"] = first_resolved_layer(out["gap_change"])
    per_layer = ("tau_global", "tau_local", "gap", "gap_change", "gain")
    return {k: v for k, v in out.items() if k not in per_layer} | {
        k: v for name in per_layer for k, v in list_fields(name, out[name]).items()}


def first_resolved_layer(gaps: list) -> int | None:
    """Index of the first [estimate, low, high] whose interval excludes 0 (both ends finite, same sign); else None."""
    for i, (est, lo, hi) in enumerate(gaps):
        if est is not None and lo is not None and hi is not None and (lo > 0 or hi < 0):
            return i
    return None


__all__ = ["LEVEL", "CHANCE", "ridge_scores", "fold_of_groups", "probe_cv", "probe_correct", "commitment_step",
           "layer_commitment", "first_resolved_layer"]
