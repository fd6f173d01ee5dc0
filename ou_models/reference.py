"""Plain NumPy baselines of the engine's updates: the reference for tests and the benchmark.

Written from the formulas, not from the kernel's folded tables: the gated reverse SDE uses
theory.data's posterior mean directly, the coupled score enumerates sign states explicitly.
Noise is either the engine's counter-based stream (`noise="counter"`, same numbers as the
kernel) or NumPy's own generator (`noise="numpy"`, the fastest vectorised baseline).
"""
from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import numpy as np

from syncgap.theory import schedules

from .engine import transition
from .rng import normals_np, stream_key_np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from syncgap.theory.data import SignFeatureMixture

    from .engine import FeatureModel


def _noise(noise, seed, path_ids, s, shape, gen):
    if noise == "numpy":
        return gen.standard_normal(shape)
    n, K, D = shape
    return np.stack([normals_np(stream_key_np(seed, int(p), 0), s * K * D, K * D).reshape(K, D) for p in path_ids])


def gated_reverse_sde(mixture: SignFeatureMixture, grid: np.ndarray, z0: ArrayLike, g: float, seed: int = 0,
                      noise: str = "counter", path_offset: int = 0) -> np.ndarray:
    """Euler-Maruyama reverse SDE of a gated pair (K = 2, docs/science.md §4) with data.posterior_mean.

    D_A <- (D(x_A) + g D(x_B)) / (1 + g); score = (e^{-t} D - x) / Delta_t; x' = x + dt (x + 2 score) + sqrt(2 dt) xi.
    """
    z = np.array(z0, dtype=float)  # (n, K, D)
    n, K, _ = z.shape
    ids = path_offset + np.arange(n)
    gen = np.random.default_rng(seed)
    for s in range(grid.size - 1):
        t, dt = grid[s], grid[s] - grid[s + 1]
        Dm = mixture.posterior_mean(z, t)
        Dm = (Dm + g * Dm.sum(1, keepdims=True) - g * Dm) / (1.0 + g) if K == 2 else Dm
        score = (np.exp(-t) * Dm - z) / schedules.delta(t)
        z = z + dt * (z + 2.0 * score) + np.sqrt(2.0 * dt) * _noise(noise, seed, ids, s, z.shape, gen)
    return z


def coupled_score(model: FeatureModel, A: ArrayLike, t: float, z: np.ndarray) -> np.ndarray:
    """Exact score of K replicas under dz = -(A ⊗ I) z dt + sqrt(2) dW, z (n, K, D), by explicit enumeration.

    y_k ~ sum_s 2^-K N(a_k M s, v_k M M^T + S) per feature, N(0, sigma^2 M M^T + S) on the rest.
    """
    M, S = transition(np.asarray(A, float), t)
    MM = M @ M.T
    P = model.patterns
    y = np.einsum("kd,nid->nik", P, z)                       # (n, K, F)
    Cp = np.linalg.inv(model.noise_std ** 2 * MM + S)
    perp = z - np.einsum("nik,kd->nid", y, P)
    out = -np.einsum("ij,njd->nid", Cp, perp)
    states = np.array(list(itertools.product((-1.0, 1.0), repeat=A.shape[0])))
    for k in range(P.shape[0]):
        Ci = np.linalg.inv(model.variances[k] * MM + S)
        mu = model.amplitudes[k] * states @ M.T                 # (C, K) component means
        r = y[:, None, :, k] - mu[None]                          # (n, C, K)
        logw = -0.5 * np.einsum("nci,ij,ncj->nc", r, Ci, r)
        w = np.exp(logw - logw.max(1, keepdims=True))
        w /= w.sum(1, keepdims=True)
        grad = -np.einsum("nc,ij,ncj->ni", w, Ci, r)             # (n, K)
        out += grad[:, :, None] * P[k]
    return out


def coupled_log_density(model: FeatureModel, A: ArrayLike, t: float, z: np.ndarray) -> float:
    """log p_t(z) for one state z (K, D) under the coupled forward process (for finite differences)."""
    M, S = transition(np.asarray(A, float), t)
    K, D = z.shape
    states = np.array(list(itertools.product((-1.0, 1.0), repeat=K)))
    P = model.patterns
    F = P.shape[0]
    Q = np.vstack([P, _complement(P)])                          # (D, D) orthonormal basis
    c = z @ Q.T                                                  # (K, D) coordinates
    lp = 0.0
    for j in range(D):
        if j < F:
            C = model.variances[j] * M @ M.T + S
            comps = [_mvn_logpdf(c[:, j], model.amplitudes[j] * M @ s, C) for s in states]
            lp += np.logaddexp.reduce(comps) - K * np.log(2.0)
        else:
            lp += _mvn_logpdf(c[:, j], np.zeros(K), model.noise_std ** 2 * M @ M.T + S)
    return lp


def _complement(P):
    q, _ = np.linalg.qr(np.vstack([P, np.eye(P.shape[1])]).T)
    return q[:, P.shape[0]:P.shape[1]].T


def _mvn_logpdf(x, m, C):
    r = x - m
    return -0.5 * (r @ np.linalg.solve(C, r) + np.linalg.slogdet(2 * np.pi * C)[1])


def coupled_reverse_sde(model: FeatureModel, A: np.ndarray, grid: np.ndarray, z0: ArrayLike, seed: int = 0,
                        noise: str = "counter") -> np.ndarray:
    """Euler-Maruyama reverse SDE z' = z + dt [(A ⊗ I) z + 2 score] + sqrt(2 dt) xi with `coupled_score`."""
    z = np.array(z0, dtype=float)
    gen = np.random.default_rng(seed)
    ids = np.arange(z.shape[0])
    for s in range(grid.size - 1):
        t, dt = grid[s], grid[s] - grid[s + 1]
        drift = np.einsum("ij,njd->nid", A, z) + 2.0 * coupled_score(model, A, t, z)
        z = z + dt * drift + np.sqrt(2.0 * dt) * _noise(noise, seed, ids, s, z.shape, gen)
    return z


def ou_steps(z: np.ndarray, dt: float, steps: int, gen: np.random.Generator) -> np.ndarray:
    """Plain reverse OU step of standard normal data (score = -x): z' = z + dt (z - 2 z) + sqrt(2 dt) xi."""
    for _ in range(steps):
        z = (1.0 - dt) * z + np.sqrt(2.0 * dt) * gen.standard_normal(z.shape)
    return z


def bounded_sigmoid_search(x: ArrayLike, y: ArrayLike, pad: float = 0.25,
                           ceiling: float | None = None) -> tuple[float, float, float, float, float]:
    """(lo, hi, mid, width, rms) of estimators.fit_sigmoid_bounded's grid search, with whole-grid NumPy arrays.

    Written from the formulas, not from the kernel (sigmoid_search): each cell's logistic is computed with its
    own clipped exp, u = 1 - s, (lo, hi) from the 2 x 2 normal equations, the residual summed by NumPy, the best
    cell by argmin; the grid (61 x 16, then three 13 x 13 refinements) and the box are fit_sigmoid_bounded's.
    """
    order = np.argsort(x)
    x, y = np.asarray(x, float)[order], np.asarray(y, float)[order]
    span, y_range = x[-1] - x[0], y.max() - y.min()
    box = (y.min() - pad * y_range, y.max() + pad * y_range)
    if ceiling is not None:
        box = (box[0], max(min(box[1], ceiling), y.max()))
    mid_box, lw_box = (x[0] - span / 4, x[-1] + span / 4), (np.log(span / 200), np.log(span / 2))
    mids, lws = np.linspace(*mid_box, 61), np.linspace(*lw_box, 16)
    for _ in range(4):
        z = np.clip((x[None, None] - mids[:, None, None]) / np.exp(lws)[None, :, None], -60, 60)
        s = 1 / (1 + np.exp(-z))                                               # (M, W, T)
        u = 1 - s
        suu, sus, sss = (u * u).sum(-1), (u * s).sum(-1), (s * s).sum(-1)     # (M, W) each
        suy, ssy = (u * y).sum(-1), (s * y).sum(-1)
        det = suu * sss - sus ** 2
        ok = det > 1e-12 * np.maximum(suu * sss, 1e-300)                       # singular cells never win
        lo = np.clip((sss * suy - sus * ssy) / np.where(ok, det, 1.0), *box)
        hi = np.clip((ssy - lo * sus) / np.maximum(sss, 1e-300), *box)
        lo = np.clip((suy - hi * sus) / np.maximum(suu, 1e-300), *box)
        sse = np.where(ok, ((y - lo[..., None] * u - hi[..., None] * s) ** 2).sum(-1), np.inf)
        i, j = np.unravel_index(np.argmin(sse), sse.shape)
        best = lo[i, j], hi[i, j], mids[i], lws[j], sse[i, j]
        d_mid, d_lw = mids[1] - mids[0], lws[1] - lws[0]
        mids = np.clip(np.linspace(mids[i] - 1.5 * d_mid, mids[i] + 1.5 * d_mid, 13), *mid_box)
        lws = np.clip(np.linspace(lws[j] - 1.5 * d_lw, lws[j] + 1.5 * d_lw, 13), *lw_box)
    lo, hi, mid, lw, sse = best
    return float(lo), float(hi), float(mid), float(np.exp(lw)), float(np.sqrt(sse / x.size))

