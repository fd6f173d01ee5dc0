"""Measurement estimators shared by the OU engine and the DiT bridge (docs/architecture.md).

Agreement curves are fitted with a logistic sigmoid and read at a level crossing;
uncertainties are percentile bootstrap intervals over independent units (pairs
of trajectories, seeds). OU and DiT numbers go through these same functions.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from syncgap.theory.checks import InputError, check_array, check_int, check_real

from .sigmoid_search import bounded_sigmoid_search

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import ArrayLike

    Statistic = Callable[[np.ndarray], float | None]


def sigmoid(x: ArrayLike, lo: float, hi: float, mid: float, width: float) -> np.ndarray:
    """lo + (hi - lo) / (1 + exp(-(x - mid) / width)); width < 0 gives a decreasing curve."""
    z = np.clip(-(np.asarray(x, dtype=float) - mid) / width, -60.0, 60.0)
    return lo + (hi - lo) / (1.0 + np.exp(z))


@dataclass(frozen=True)
class SigmoidFit:
    """Parameters of a fitted sigmoid and its root-mean-square residual."""

    lo: float
    hi: float
    midpoint: float
    width: float
    rms_residual: float

    def level_crossing(self, level: float) -> float | None:
        """x at which the fitted curve crosses `level`, or None if it never does."""
        f = (level - self.lo) / (self.hi - self.lo) if self.hi != self.lo else np.nan
        if not 0.0 < f < 1.0:
            return None
        return float(self.midpoint + self.width * np.log(f / (1.0 - f)))


def fit_sigmoid(x: ArrayLike, y: ArrayLike, lo: float | None = None, hi: float | None = None) -> SigmoidFit:
    """Least-squares logistic fit of y(x); `lo`/`hi` fix the asymptotes when given.

    With both asymptotes free the result is canonical: width > 0, `lo` the left
    (x -> -inf) asymptote. The midpoint is the x where y is halfway between the asymptotes: the commitment
    time of an agreement curve when lo = chance level and hi = 1.

    A curve that jumps between two neighbouring x (a step) pins the midpoint only to that interval and
    its fit is not bitwise reproducible (docs/derivations.md, "Numerical notes"); sample x finely enough
    that the transition spans several points (tests/dit_bridge/test_determinism.py).
    """
    x = check_array("x", x, ndim=1)
    y = check_array("y", y, ndim=1)
    if x.size != y.size or x.size < 4:
        raise InputError(f"x and y must have the same length >= 4, got {x.size} and {y.size}")
    order = np.argsort(x)
    x, y = x[order], y[order]
    lo0 = float(y[:2].mean()) if lo is None else lo
    hi0 = float(y[-2:].mean()) if hi is None else hi
    half = 0.5 * (lo0 + hi0)
    cross = np.nonzero(np.diff(np.sign(y - half)))[0]
    mid0 = float(x[cross[0]]) if cross.size else float(np.median(x))
    rising = (y[-2:].mean() - y[:2].mean()) * (hi0 - lo0) >= 0  # does y run from lo to hi?
    w0 = ((x[-1] - x[0]) / 10.0 or 1.0) * (1.0 if rising else -1.0)

    free = [lo is None, hi is None]

    def model(xx, *p):
        it = iter(p)
        a = next(it) if free[0] else lo
        b = next(it) if free[1] else hi
        return sigmoid(xx, a, b, next(it), next(it))

    p0 = [v for v, f in zip((lo0, hi0), free) if f] + [mid0, w0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        try:
            p, _ = curve_fit(model, x, y, p0=p0, maxfev=20000)
        except RuntimeError:
            p = np.asarray(p0, dtype=float)
    it = iter(p)
    a = float(next(it)) if free[0] else float(lo)
    b = float(next(it)) if free[1] else float(hi)
    mid, w = float(next(it)), float(next(it))
    if lo is None and hi is None and w < 0:  # same curve; report it with width > 0
        a, b, w = b, a, -w
    rms = float(np.sqrt(np.mean((model(x, *p) - y) ** 2)))
    return SigmoidFit(a, b, mid, w, rms)


ASYMPTOTE_PAD = 0.25   # fit_sigmoid_bounded: asymptotes may lie this fraction of the data's range beyond it


def fit_sigmoid_bounded(x: ArrayLike, y: ArrayLike, pad: float = ASYMPTOTE_PAD,
                        ceiling: float | None = None) -> SigmoidFit:
    """Least-squares logistic fit of y(x) with all four parameters fitted inside a bounded box.

    y ~ lo + (hi - lo) s(x), s = 1 / (1 + exp(-(x - mid) / width)), width > 0, so `lo` is the left and `hi`
    the right asymptote (hi < lo: a falling curve). Box: lo, hi within [min y - pad R, max y + pad R]
    (R = max y - min y) and at most `ceiling` (the largest value y can take, e.g. 1 for an agreement),
    mid within the x range widened by a quarter of its span on each side, width in [span / 200, span / 2]. The box keeps the fit well posed whether the curve saturates inside the range
    (the plateaus fix the asymptotes) or not (they cannot run away), unlike free asymptotes (curve_fit);
    unlike asymptotes fixed at the end values it does not inherit the noise of two single points.
    Method: for fixed (mid, width) the model is linear in (lo, hi), solved in closed form (variable
    projection, Golub & Pereyra 1973; a bound that binds is held and the other coordinate re-solved);
    (mid, width) by a grid search (width log-spaced) refined three times around the best cell (to
    ~0.001 of the span in mid), in the Numba kernel `sigmoid_search.bounded_sigmoid_search`. Deterministic.
    """
    x = check_array("x", x, ndim=1)
    y = check_array("y", y, ndim=1)
    pad = check_real("pad", pad, 0.0, 10.0)
    if x.size != y.size or x.size < 4:
        raise InputError(f"x and y must have the same length >= 4, got {x.size} and {y.size}")
    order = np.argsort(x)
    x, y = x[order], y[order]
    span = float(x[-1] - x[0])
    if span <= 0:
        raise InputError("x must take at least two distinct values")
    y_range = float(y.max() - y.min())
    box = (float(y.min()) - pad * y_range, float(y.max()) + pad * y_range)
    if ceiling is not None:
        box = (box[0], max(min(box[1], check_real("ceiling", ceiling)), float(y.max())))
    x, y = np.ascontiguousarray(x, dtype=float), np.ascontiguousarray(y, dtype=float)   # one kernel signature
    lo, hi, mid, log_w, sse = bounded_sigmoid_search(x, y, *box, x[0] - span / 4, x[-1] + span / 4,
                                                     np.log(span / 200), np.log(span / 2))
    return SigmoidFit(lo, hi, mid, float(np.exp(log_w)), float(np.sqrt(sse / x.size)))


def level_crossing(x: ArrayLike, y: ArrayLike, level: float) -> float | None:
    """First x at which the piecewise-linear curve y(x) crosses `level`, or None."""
    x = check_array("x", x, ndim=1)
    y = check_array("y", y, ndim=1) - level
    for i in range(x.size - 1):
        if y[i] == 0.0:
            return float(x[i])
        if y[i] * y[i + 1] < 0.0:
            return float(x[i] + (x[i + 1] - x[i]) * y[i] / (y[i] - y[i + 1]))
    return float(x[-1]) if y[-1] == 0.0 else None


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile bootstrap interval."""

    estimate: float
    low: float
    high: float
    n_boot: int
    level: float


def bootstrap(statistic: Statistic, units: ArrayLike, n_boot: int = 1000, level: float = 0.95,
              seed: int = 0) -> Interval:
    """Percentile bootstrap of `statistic(units)` resampling the rows of `units` with replacement.

    `statistic` maps an array with the shape of `units` to a float; resamples where it
    returns None or NaN (e.g. a curve that never crosses its level) are dropped, and
    if more than half are dropped the interval is reported as unbounded (inf).
    """
    units = np.asarray(units)
    n = check_int("units (rows)", units.shape[0] if units.ndim else 0, 2)
    n_boot = check_int("n_boot", n_boot, 10, 10**6)
    level = check_real("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    est = statistic(units)
    est = np.nan if est is None else float(est)
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n_boot):
        v = statistic(units[rng.integers(0, n, n)])
        if v is not None and np.isfinite(v):
            vals.append(float(v))
    if len(vals) < n_boot / 2:
        return Interval(est, -np.inf, np.inf, n_boot, level)
    q = (1.0 - level) / 2.0
    lo, hi = np.quantile(vals, [q, 1.0 - q])
    return Interval(est, float(lo), float(hi), n_boot, level)


def mean_ci(samples: ArrayLike, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> Interval:
    """Bootstrap interval of the mean of each column; samples (n,) -> Interval."""
    return bootstrap(lambda u: float(np.mean(u)), np.asarray(samples, dtype=float), n_boot, level, seed)


def agreement_curve_ci(agree: ArrayLike, n_boot: int = 1000, level: float = 0.95,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Agreement and its bootstrap band at each time: agree is (n_pairs, n_times) of 0/1.

    Returns (mean, low, high), each (n_times,). Resamples pairs, so the band is
    simultaneous in the sense that every time point uses the same resampled pairs.
    """
    a = check_array("agree", agree, ndim=2)
    n = check_int("agree (pairs)", a.shape[0], 2)
    rng = np.random.default_rng(seed)
    boots = np.empty((check_int("n_boot", n_boot, 10), a.shape[1]))
    for b in range(n_boot):
        boots[b] = a[rng.integers(0, n, n)].mean(0)
    q = (1.0 - level) / 2.0
    lo, hi = np.quantile(boots, [q, 1.0 - q], axis=0)
    return a.mean(0), lo, hi


def gap_statistic(first: Statistic, second: Statistic,
                  transform: Callable[[float], float] | None = None) -> Statistic:
    """Bootstrap statistic of a gap: units -> f(first(units)) - f(second(units)), None when either is None.

    `first`, `second`: statistics of the same resampled units (e.g. the commitment time of two features);
    `transform` f: a change of unit applied to both before the difference (identity by default).
    """
    def gap(units):
        a, b = first(units), second(units)
        if a is None or b is None:
            return None
        return a - b if transform is None else transform(a) - transform(b)
    return gap


def crossing_statistic(x: ArrayLike, level: float) -> Statistic:
    """Bootstrap statistic of units (n, B) -> first x, going up, where their mean curve falls to `level`.

    The mean over units of an agreement curve sampled at x (B,), read by `level_crossing`; None if never.
    """
    x = np.asarray(x)
    order = np.argsort(x)
    xs = x[order]

    def stat(units):
        return level_crossing(xs, units.mean(0)[order], level)
    return stat
