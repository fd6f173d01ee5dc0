"""Exact scores and densities of the coupled forward marginal for Gaussian and sign-mixture data (docs/science.md §3).

Replica-major layout: z has shape (..., K, d), flattened to K d with replica i in block i. The
forward process and its transition (M, C) are `theory.coupled_ou`'s; the joint data model (replica
cross-correlation R = (1 - c) I + c 1 1^T) is `coupled_ou.replica_correlation`.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import logsumexp

from .checks import InputError, check_array, check_int, check_positive, check_real
from .coupled_ou import replica_correlation, transition_mean_cov


def _check_z(z, K, d):
    z = check_array("z", z)
    if z.shape[-2:] != (K, d):
        raise InputError(f"z must have shape (..., K={K}, d={d}), got {z.shape}")
    return z


def score_gaussian(z: ArrayLike, t: float, A: ArrayLike, data_cov: ArrayLike, c: float = 0.0) -> np.ndarray:
    """Exact score of the coupled forward marginal for zero-mean Gaussian replica data (docs/science.md §3).

    z_0 ~ N(0, R (x) Sigma) (replica-major), S_t = M R M^T (x) Sigma + C (x) I_d, score = -S_t^{-1} z.
    z has shape (..., K, d); data_cov is Sigma (d, d) symmetric positive definite.
    """
    A = check_array("A", A, ndim=2)   # validated in full by transition_mean_cov
    S = check_array("data_cov", data_cov, ndim=2)
    k, dd = A.shape[0], S.shape[0]
    z = _check_z(z, k, dd)
    St = _joint_cov(A, t, S, replica_correlation(k, c))
    flat = z.reshape(z.shape[:-2] + (k * dd,))
    return -np.linalg.solve(St, flat[..., None])[..., 0].reshape(z.shape)


def _joint_cov(A, t, S, R):
    if S.shape != (S.shape[0], S.shape[0]) or np.any(np.linalg.eigvalsh(0.5 * (S + S.T)) <= 0):
        raise InputError("data_cov must be a symmetric positive-definite (d, d) matrix")
    M, C = transition_mean_cov(A, t)
    return np.kron(M @ R @ M.T, S) + np.kron(C, np.eye(S.shape[0]))


def replica_sign_mixture(K: int, amplitude: float, pattern: ArrayLike, noise_std: float, c: float = 0.0) -> dict:
    """Joint replica data for a one-feature sign mixture: means (2^K, K d), covariance, weights.

    x^i_0 = a s_i phi + sigma eps_i, eps_i independent; the sign vector s in {+-1}^K is, with
    probability c, one common sign, and with probability 1 - c independent signs (E[s_i s_j] = c,
    c in [0, 1]). Each sign configuration is one Gaussian component N(s (x) a phi, sigma^2 I).
    """
    k = check_int("K", K, 2, 12)
    amp = check_positive("amplitude", amplitude)
    phi = check_array("pattern", pattern, ndim=1)
    if abs(np.linalg.norm(phi) - 1) > 1e-8:
        raise InputError("pattern must have unit norm")
    s = check_positive("noise_std", noise_std)
    cv = check_real("c", c, 0.0, 1.0)
    signs = np.array(np.meshgrid(*[[-1.0, 1.0]] * k, indexing="ij")).reshape(k, -1).T   # (2^K, K)
    equal = np.all(signs == signs[:, :1], axis=1)
    w = (1 - cv) / 2**k + cv * equal / 2
    means = np.einsum("ck,d->ckd", signs, amp * phi).reshape(len(w), -1)
    return {"means": means, "cov": s * s * np.eye(k * phi.size), "weights": w}


def _mixture_terms(z, t, A, means, cov, weights):
    A = check_array("A", A, ndim=2)   # validated in full by transition_mean_cov
    k = A.shape[0]
    means = check_array("means", means, ndim=2)
    w = check_array("weights", weights, ndim=1)
    if np.any(w < 0) or abs(w.sum() - 1) > 1e-9 or w.size != means.shape[0]:
        raise InputError("weights must be >= 0, sum to 1 and match the number of means")
    if means.shape[1] % k:
        raise InputError(f"means must have K*d columns (K={k}), got {means.shape[1]}")
    dd = means.shape[1] // k
    z = _check_z(z, k, dd)
    M, C = transition_mean_cov(A, t)
    MI = np.kron(M, np.eye(dd))
    St = MI @ check_array("cov", cov, ndim=2) @ MI.T + np.kron(C, np.eye(dd))
    mt = means @ MI.T                                                   # (C, Kd)
    diff = z.reshape(z.shape[:-2] + (1, k * dd)) - mt                   # (..., C, Kd)
    sol = np.linalg.solve(St, np.moveaxis(diff, -1, 0).reshape(k * dd, -1)).reshape(
        (k * dd,) + diff.shape[:-1])
    sol = np.moveaxis(sol, 0, -1)
    _, logdet = np.linalg.slogdet(St)
    logp = np.log(np.maximum(w, 1e-300)) - 0.5 * (diff * sol).sum(-1) - 0.5 * (logdet + k * dd * math.log(2 * math.pi))
    return z, sol, logp


def score_gaussian_mixture(z: ArrayLike, t: float, A: ArrayLike, means: ArrayLike, cov: ArrayLike,
                           weights: ArrayLike) -> np.ndarray:
    """Exact score of the coupled forward marginal for joint Gaussian-mixture data (docs/science.md §3).

    z_0 ~ sum_c w_c N(m_c, S_0) in R^{K d} (replica-major); z_t ~ sum_c w_c N((M (x) I) m_c, S_t),
    S_t = (M (x) I) S_0 (M (x) I)^T + C (x) I; score = -sum_c r_c(z) S_t^{-1}(z - (M (x) I) m_c).
    """
    z, sol, logp = _mixture_terms(z, t, A, means, cov, weights)
    r = np.exp(logp - logsumexp(logp, axis=-1, keepdims=True))
    return -(r[..., None] * sol).sum(-2).reshape(z.shape)


def log_density_gaussian_mixture(z: ArrayLike, t: float, A: ArrayLike, means: ArrayLike, cov: ArrayLike,
                                 weights: ArrayLike) -> float | np.ndarray:
    """log p_t(z) of the same mixture under the coupled forward process."""
    _, _, logp = _mixture_terms(z, t, A, means, cov, weights)
    return logsumexp(logp, axis=-1)
