"""Numba kernels: one reverse step of K coupled replicas under an exact feature-mixture score.

Every scheme (Euler reverse SDE / probability-flow ODE with any K x K drift, DDPM and
DDIM steps, the gate of layer B) is affine in the state given the feature posteriors,
so `engine.py` folds it into per-step tables and one kernel serves all:

    y_ik   = phi_k . z_i                                   (feature coordinates)
    E_k    = E[s | y_k] = sum_c w_c s_c,  w_c ∝ exp(s_c . (Bt_k y_k) + cst_kc), s_c ∈ {±1}^K
    z'_i   = sum_l L_il z_l + sum_k phi_k W_ik + sig * xi_i,  W_k = Wy_k y_k + Ws_k E_k

Shapes: z (K, D); tables stacked over steps: L (N, K, K), Wy/Ws/Bt (N, F, K, K),
cst (N, F, C), sig (N,); signs (C, K) with C = 2^K. Paths run in `prange`; path p's
noise is stream (seed, path_ids[p], stream) with counter step * K * D + i * D + j.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .rng import fill_normals, normal, stream_key


@njit(cache=True)
def _project(z, P, y):
    """y[i, k] = P[k] . z[i]."""
    K, D = z.shape
    for i in range(K):
        for k in range(P.shape[0]):
            acc = 0.0
            for j in range(D):
                acc += P[k, j] * z[i, j]
            y[i, k] = acc


@njit(cache=True)
def _feature_drive(s, y, Wy, Ws, Bt, cst, signs, signed, W, by, lg, E):
    """W[:, k] = Wy_k y_k + Ws_k E[s | y_k] for every feature k at step s."""
    K = y.shape[0]
    C = signs.shape[0]
    for k in range(y.shape[1]):
        for i in range(K):
            acc = 0.0
            for l in range(K):
                acc += Wy[s, k, i, l] * y[l, k]
            W[i, k] = acc
        if not signed[k]:
            continue
        for i in range(K):
            acc = 0.0
            for l in range(K):
                acc += Bt[s, k, i, l] * y[l, k]
            by[i] = acc
        mx = -np.inf
        for c in range(C):
            acc = cst[s, k, c]
            for i in range(K):
                acc += signs[c, i] * by[i]
            lg[c] = acc
            mx = max(mx, acc)
        tot = 0.0
        for i in range(K):
            E[i] = 0.0
        for c in range(C):
            w = math.exp(lg[c] - mx)
            tot += w
            for i in range(K):
                E[i] += w * signs[c, i]
        for i in range(K):
            E[i] /= tot
        for i in range(K):
            acc = 0.0
            for l in range(K):
                acc += Ws[s, k, i, l] * E[l]
            W[i, k] += acc


@njit(cache=True)
def _step(z, zn, y, W, by, lg, E, P, s, L, Wy, Ws, Bt, cst, sig, signs, signed, key, shared):
    """Advance one path's state z (K, D) by step s in place (zn is scratch).

    shared: every replica draws replica 0's normals (the same per-step noise, docs/protocols.md).
    """
    K, D = z.shape
    _project(z, P, y)
    _feature_drive(s, y, Wy, Ws, Bt, cst, signs, signed, W, by, lg, E)
    sg = sig[s]
    base = s * K * D
    for i in range(K):
        a = L[s, i, 0]
        if sg > 0.0:
            fill_normals(key, base + (0 if shared else i) * D, zn[i])
            for j in range(D):
                zn[i, j] = sg * zn[i, j] + a * z[0, j]
        else:
            for j in range(D):
                zn[i, j] = a * z[0, j]
        for l in range(1, K):
            a = L[s, i, l]
            if a != 0.0:
                for j in range(D):
                    zn[i, j] += a * z[l, j]
        for k in range(P.shape[0]):
            w = W[i, k]
            for j in range(D):
                zn[i, j] += w * P[k, j]
    for i in range(K):
        for j in range(D):
            z[i, j] = zn[i, j]


@njit(cache=True)
def _scratch(K, D, F, C):
    """Per-path work arrays of `_step`: zn (K, D), y and W (K, F), by and E (K,), lg (C,)."""
    return np.empty((K, D)), np.empty((K, F)), np.empty((K, F)), np.empty(K), np.empty(K), np.empty(C)


@njit(cache=True)
def _gram(z, y, out):
    """out[i, l] = z_i . z_l - sum_k y_ik y_lk: the Gram matrix of the parts orthogonal to the features."""
    K, D = z.shape
    for i in range(K):
        for l in range(K):
            acc = 0.0
            for j in range(D):
                acc += z[i, j] * z[l, j]
            for k in range(y.shape[1]):
                acc -= y[i, k] * y[l, k]
            out[i, l] = acc


@njit(parallel=True, cache=True)
def run_paths(z: np.ndarray, path_ids: np.ndarray, seed: int, stream: int, P: np.ndarray, L: np.ndarray,
              Wy: np.ndarray, Ws: np.ndarray, Bt: np.ndarray, cst: np.ndarray, sig: np.ndarray, signs: np.ndarray,
              signed: np.ndarray, s_begin: int, s_end: int, record_every: int, y_rec: np.ndarray,
              gram_rec: np.ndarray, shared_noise: bool = False) -> None:
    """Run steps s_begin..s_end-1 on every path in place; record features and Gram every `record_every`.

    z (n, K, D); y_rec (n, R, K, F) and gram_rec (n, R, K, K) with R = number of
    recorded states (s_begin, s_begin + record_every, ..., and s_end); R = 0 records nothing.
    shared_noise: all K replicas of a path draw the same per-step noise (replica 0's counters).
    """
    n, K, D = z.shape
    F = P.shape[0]
    C = signs.shape[0]
    R = y_rec.shape[1]
    for p in prange(n):
        key = stream_key(seed, path_ids[p], stream)
        zp = z[p]
        zn, y, W, by, E, lg = _scratch(K, D, F, C)
        r = 0
        for s in range(s_begin, s_end + 1):
            if R > 0 and r < R and ((s - s_begin) % record_every == 0 or s == s_end):
                _project(zp, P, y)
                y_rec[p, r] = y
                _gram(zp, y, gram_rec[p, r])
                r += 1
            if s < s_end:
                _step(zp, zn, y, W, by, lg, E, P, s, L, Wy, Ws, Bt, cst, sig, signs, signed, key, shared_noise)


@njit(parallel=True, cache=True)
def branch_paths(z: np.ndarray, path_ids: np.ndarray, seed: int, P: np.ndarray, L: np.ndarray, Wy: np.ndarray,
                 Ws: np.ndarray, Bt: np.ndarray, cst: np.ndarray, sig: np.ndarray, L2: np.ndarray, Wy2: np.ndarray,
                 Ws2: np.ndarray, Bt2: np.ndarray, cst2: np.ndarray, sig2: np.ndarray, signs: np.ndarray,
                 signed: np.ndarray, branch_steps: np.ndarray, y_main: np.ndarray, y_branch: np.ndarray,
                 shared_noise: bool = False) -> None:
    """Main trajectory with tables 1; at each step in branch_steps (sorted) a copy continues to the end with tables 2.

    The copy made at branch_steps[b] uses noise stream b + 1 (the main path uses stream 0).
    Cloning (U-turn): tables 2 = tables 1. Protocol I: tables 1 coupled, tables 2 independent.
    Outputs the final feature coordinates: y_main (n, K, F), y_branch (n, B, K, F); z ends final.
    shared_noise: all K replicas draw the same per-step noise (each stream's replica-0 counters).
    """
    n, K, D = z.shape
    F = P.shape[0]
    C = signs.shape[0]
    N = sig.shape[0]
    B = branch_steps.shape[0]
    for p in prange(n):
        key = stream_key(seed, path_ids[p], 0)
        zp = z[p]
        zb = np.empty((K, D))
        zn, y, W, by, E, lg = _scratch(K, D, F, C)
        b = 0
        for s in range(N + 1):
            while b < B and branch_steps[b] == s:
                kb = stream_key(seed, path_ids[p], b + 1)
                zb[:, :] = zp
                for s2 in range(s, N):
                    _step(zb, zn, y, W, by, lg, E, P, s2, L2, Wy2, Ws2, Bt2, cst2, sig2, signs, signed, kb, shared_noise)
                _project(zb, P, y)
                y_branch[p, b] = y
                b += 1
            if s < N:
                _step(zp, zn, y, W, by, lg, E, P, s, L, Wy, Ws, Bt, cst, sig, signs, signed, key, shared_noise)
        _project(zp, P, y)
        y_main[p] = y


@njit(parallel=True, cache=True)
def empirical_paths(x: np.ndarray, path_ids: np.ndarray, seed: int, X: np.ndarray, e_t: np.ndarray,
                    delta_t: np.ndarray, a_x: np.ndarray, a_d: np.ndarray, sig: np.ndarray, nn_rec: np.ndarray) -> None:
    """Reverse steps of one replica under the empirical score of training set X (M, D).

    Posterior weights w_m ∝ exp((e^{-t} x.X_m - e^{-2t}|X_m|^2 / 2) / Delta_t); D = sum_m w_m X_m;
    x' = a_x x + a_d D + sig xi. nn_rec[p, s] = argmax_m w_m (nearest e^{-t} X_m) before step s.
    """
    n, D = x.shape
    M = X.shape[0]
    N = sig.shape[0]
    half_sq = np.empty(M)
    for m in range(M):
        acc = 0.0
        for j in range(D):
            acc += X[m, j] * X[m, j]
        half_sq[m] = 0.5 * acc
    for p in prange(n):
        key = stream_key(seed, path_ids[p], 0)
        xp = x[p]
        lg = np.empty(M)
        Dm = np.empty(D)
        for s in range(N):
            e = e_t[s]
            mx = -np.inf
            best = 0
            for m in range(M):
                acc = 0.0
                for j in range(D):
                    acc += xp[j] * X[m, j]
                v = (e * acc - e * e * half_sq[m]) / delta_t[s]
                lg[m] = v
                if v > mx:
                    mx = v
                    best = m
            nn_rec[p, s] = best
            for j in range(D):
                Dm[j] = 0.0
            tot = 0.0
            for m in range(M):
                w = math.exp(lg[m] - mx)
                tot += w
                if w > 1e-300:
                    for j in range(D):
                        Dm[j] += w * X[m, j]
            base = s * D
            for j in range(D):
                xp[j] = a_x[s] * xp[j] + a_d[s] * Dm[j] / tot + sig[s] * normal(key, base + j)


@njit(parallel=True, cache=True)
def init_paths(z: np.ndarray, path_ids: np.ndarray, seed: int, stream: int, P: np.ndarray, amp: np.ndarray,
               sd_along: np.ndarray, sigma: float, T: np.ndarray, M: np.ndarray, chol: np.ndarray) -> None:
    """Exact forward noising of fresh data: z[p] = M x_0 + chol xi (K replicas, one path).

    x_0^i = sigma eps_i + sum_k phi_k (a_k (T s_k)_i + (sd_k - sigma) phi_k.eps_i), s_k ∈ {±1}^K
    uniform; counters: eps [0, KD), xi [KD, 2KD), signs 2KD + k K + i (sign of that normal).
    """
    n, K, D = z.shape
    F = P.shape[0]
    for p in prange(n):
        key = stream_key(seed, path_ids[p], stream)
        x0 = np.empty((K, D))
        sg = np.empty(K)
        for i in range(K):
            for j in range(D):
                x0[i, j] = sigma * normal(key, i * D + j)
        for k in range(F):
            for i in range(K):
                sg[i] = 1.0 if normal(key, 2 * K * D + k * K + i) > 0.0 else -1.0
            for i in range(K):
                acc = 0.0
                for j in range(D):
                    acc += P[k, j] * x0[i, j]
                ts = 0.0
                for l in range(K):
                    ts += T[i, l] * sg[l]
                c = amp[k] * ts + (sd_along[k] / sigma - 1.0) * acc
                for j in range(D):
                    x0[i, j] += c * P[k, j]
        for i in range(K):
            for j in range(D):
                acc = 0.0
                for l in range(K):
                    acc += M[i, l] * x0[l, j] + chol[i, l] * normal(key, K * D + l * D + j)
                z[p, i, j] = acc
