"""Numba kernel of the bounded logistic fit's grid search (estimators.fit_sigmoid_bounded).

For a cell (mid, width) of the grid the model y ~ lo u + hi s, with

    e_t = exp(-(x_t - mid) / width),   s_t = 1 / (1 + e_t),   u_t = 1 - s_t = e_t s_t,

is linear in (lo, hi): the normal equations

    [suu sus] [lo]   [suy]
    [sus sss] [hi] = [ssy],      suu = sum u^2, sus = sum u s, sss = sum s^2, suy = sum u y, ssy = sum s y,

give (lo, hi) in closed form (variable projection, Golub & Pereyra 1973); a bound of the box that binds is
held and the other coordinate re-solved; the cell's cost is the residual sum of squares sum (y - lo u - hi s)^2.
The best cell of a 61 x 16 grid (mid linear, width log-spaced) is refined three times on a 13 x 13 grid
4 x finer around it. A cell whose 2 x 2 system is singular (det <= 1e-12 suu sss) is never best.

e_t is factored as exp((mid - c) / w) exp(-(x_t - c) / w) with c the middle of the x range: one exp per
width and point, one per cell, none per cell and point. Both factors stay below exp(150) inside the box
(|mid - c| <= 3/4 span, w >= span / 200), so the product cannot overflow. u_t = e_t s_t is computed
directly, not as 1 - s_t, so a saturated cell (s_t = 1 - 1e-12) keeps its u-sums. Ties go to the first
cell in (mid, width) order. Shapes: x, y (T,) sorted by x.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

COARSE_GRID = (61, 16)   # (mids, widths) of the first search
FINE_GRID = 13           # mids and widths of each refinement, spanning 3 coarse cells
REFINEMENTS = 3


@njit(cache=True)
def _linspace(a, b, n):
    """n points from a to b inclusive (the last one exactly b), as numpy.linspace."""
    out = np.empty(n)
    step = (b - a) / (n - 1)
    for i in range(n):
        out[i] = a + i * step
    out[n - 1] = b
    return out


@njit(cache=True)
def _cell(x, y, em, ex, s, u, box_lo, box_hi):
    """(lo, hi, sse) of one cell with e_t = em * ex[t]; sse = inf when its normal equations are singular."""
    T = x.size
    suu = sus = sss = suy = ssy = 0.0
    for t in range(T):
        e = em * ex[t]
        s[t] = 1.0 / (1.0 + e)
        u[t] = e * s[t]
        suu += u[t] * u[t]
        sus += u[t] * s[t]
        sss += s[t] * s[t]
        suy += u[t] * y[t]
        ssy += s[t] * y[t]
    det = suu * sss - sus * sus
    if not det > 1e-12 * max(suu * sss, 1e-300):
        return 0.0, 0.0, np.inf
    lo = min(max((sss * suy - sus * ssy) / det, box_lo), box_hi)
    hi = min(max((ssy - lo * sus) / max(sss, 1e-300), box_lo), box_hi)   # hi given the (possibly held) lo
    lo = min(max((suy - hi * sus) / max(suu, 1e-300), box_lo), box_hi)   # lo given the (possibly held) hi
    sse = 0.0
    for t in range(T):
        r = y[t] - lo * u[t] - hi * s[t]
        sse += r * r
    return lo, hi, sse


@njit(cache=True)
def bounded_sigmoid_search(x: np.ndarray, y: np.ndarray, box_lo: float, box_hi: float, mid_lo: float,
                           mid_hi: float, log_w_lo: float, log_w_hi: float) -> tuple[float, float, float, float, float]:
    """(lo, hi, mid, log width, sse) of the best cell after the grid search and its refinements.

    box_lo/box_hi bound lo and hi; mid_lo/mid_hi bound mid; log_w_lo/log_w_hi bound log width.
    sse = inf (and lo = hi = mid = log width = nan) only when every cell was singular.
    """
    T = x.size
    c = 0.5 * (x[0] + x[T - 1])
    s = np.empty(T)
    u = np.empty(T)
    mids = _linspace(mid_lo, mid_hi, COARSE_GRID[0])
    log_ws = _linspace(log_w_lo, log_w_hi, COARSE_GRID[1])
    best = (np.nan, np.nan, np.nan, np.nan, np.inf)
    for _ in range(REFINEMENTS + 1):
        W = log_ws.size
        ex = np.empty((W, T))
        inv_w = np.empty(W)
        for j in range(W):
            inv_w[j] = 1.0 / math.exp(log_ws[j])
            for t in range(T):
                ex[j, t] = math.exp(-(x[t] - c) * inv_w[j])
        best_sse = np.inf
        for i in range(mids.size):
            for j in range(W):
                lo, hi, sse = _cell(x, y, math.exp((mids[i] - c) * inv_w[j]), ex[j], s, u, box_lo, box_hi)
                if sse < best_sse:
                    best_sse = sse
                    best = (lo, hi, mids[i], log_ws[j], sse)
        if not best_sse < np.inf:
            return best
        d_mid, d_log_w = mids[1] - mids[0], log_ws[1] - log_ws[0]
        mids = np.minimum(np.maximum(_linspace(best[2] - 1.5 * d_mid, best[2] + 1.5 * d_mid, FINE_GRID), mid_lo),
                          mid_hi)
        log_ws = np.minimum(np.maximum(_linspace(best[3] - 1.5 * d_log_w, best[3] + 1.5 * d_log_w, FINE_GRID),
                                       log_w_lo), log_w_hi)
    return best
