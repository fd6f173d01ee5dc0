"""Coupled OU replicas with exact scores: time grids, per-step tables and exact starts (run by sampler.py).

Conventions (docs/science.md §2-4; theory/schedules.py): forward dz = -(A ⊗ I_d) z dt + sqrt(2) dW
for K replicas z = (x^1..x^K); A = I is K independent copies of the base OU process.
Reverse time tau runs down a strictly decreasing grid t_0 > ... > t_N >= 0.
- Reverse SDE (Euler-Maruyama): z' = z + dtau [(A ⊗ I) z + 2 score] + sqrt(2 dtau) xi.
- Probability-flow ODE (Euler):  z' = z + dtau [(A ⊗ I) z + score].
- DDPM ancestral / DDIM (eta = 0) steps from t to t' (A = I only), with D = E[x_0 | x_t]:
  DDPM x' = e^{-(t-t')} Delta_{t'}/Delta_t x + e^{-t'} Delta_{t-t'}/Delta_t D + sqrt(Delta_{t'} Delta_{t-t'}/Delta_t) xi,
  DDIM x' = e^{-t'} D + sqrt(Delta_{t'}/Delta_t) (x - e^{-t} D).
Data: every replica draws x_0 independently from a `FeatureModel` (sign features, Gaussian
features, isotropic rest). Under the coupled forward process z_t = (M_t ⊗ I) z_0 + noise with
M_t = expm(-A t) and noise covariance S_t ⊗ I, S_t = ∫_0^t e^{-Au} 2 e^{-A^T u} du (Van Loan).
Along feature k the replicas' data coordinates are a_k T s + noise (s ∈ {±1}^K uniform, T = I for
independent replicas, see `check_sign_mixing`), so at time t they are a mixture over s of
N(a_k M_t T s, C_k), C_k = v_k M_t M_t^T + S_t, and with B = M_t T the exact score is
    d log p / d y_k = -C_k^{-1} y_k + a_k C_k^{-1} B E[s | y_k],
    log w_s = a_k s^T B^T C_k^{-1} y_k - a_k^2 s^T B^T C_k^{-1} B s / 2,
and -(sigma^2 M M^T + S_t)^{-1} z_perp on the orthogonal rest. For A = I this is data.py's score.
Gate of layer B (docs/science.md §4, A = I only): D_i <- (D_i + g mean_{j≠i} D_j) / (1 + g), i.e.
score_i <- sum_j G_ij score_j + sum_j (G - I)_ij z_j / Delta_t with G = (I + g (J - I)/(K-1)) / (1 + g).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.linalg import expm, solve_continuous_lyapunov

from syncgap.theory import schedules
from syncgap.theory.checks import InputError, check_array, check_choice, check_decreasing, check_int, check_real
from syncgap.theory.data import SignFeatureMixture

from . import kernels

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import ArrayLike

SCHEMES = ("sde", "ode", "ddpm", "ddim")


@dataclass(frozen=True)
class FeatureModel:
    """Data for the exact score: x_0 = sum_k phi_k (a_k s_k + sqrt(v_k) eps_k) + sigma eps_perp.

    Sign feature: a_k > 0, v_k = sigma^2 (SignFeatureMixture); Gaussian feature: a_k = 0, v_k = lambda_k.
    """

    patterns: np.ndarray    # (F, D) orthonormal rows
    amplitudes: np.ndarray  # (F,)
    variances: np.ndarray   # (F,)
    noise_std: float        # sigma on the orthogonal complement

    @property
    def dim(self) -> int:
        return self.patterns.shape[1]

    @property
    def num_features(self) -> int:
        return self.patterns.shape[0]

    def eigenvalues(self) -> np.ndarray:
        """Data covariance eigenvalue along each feature: a_k^2 + v_k."""
        return self.amplitudes ** 2 + self.variances


def feature_model(data: SignFeatureMixture | FeatureModel) -> FeatureModel:
    """FeatureModel of a theory.data.SignFeatureMixture (or a FeatureModel, returned as is)."""
    if isinstance(data, FeatureModel):
        return data
    if not isinstance(data, SignFeatureMixture):
        raise InputError(f"data must be a SignFeatureMixture or FeatureModel, got {type(data).__name__}")
    s2 = data.noise_std ** 2
    return FeatureModel(data.patterns, data.amplitudes, np.full(data.num_features, s2), float(data.noise_std))


def gaussian_model(patterns: ArrayLike, variances: ArrayLike, noise_std: float = 1.0) -> FeatureModel:
    """Gaussian data: variance lambda_k along orthonormal pattern k, sigma^2 elsewhere."""
    p = check_array("patterns", patterns, ndim=2)
    v = check_array("variances", variances, ndim=1)
    if v.size != p.shape[0] or np.any(v <= 0):
        raise InputError("variances must be positive, one per pattern row")
    if not np.allclose(p @ p.T, np.eye(p.shape[0]), atol=1e-8):
        raise InputError("patterns must be orthonormal rows")
    s = check_real("noise_std", noise_std, 0.0, lo_open=True)
    return FeatureModel(p, np.zeros(v.size), v, s)


# ---------------------------------------------------------------- time grids

def ou_grid(T: float = 10.0, steps: int = 1000, t_end: float = 0.0) -> np.ndarray:
    """Uniform reverse grid T = t_0 > ... > t_N = t_end in OU time (docs/science.md §2: T = 10, 1000 steps)."""
    T = check_real("T", T, 0.0, 1000.0, lo_open=True)    # beyond T ~ 50 the OU state is pure noise
    steps = check_int("steps", steps, 1, 10**7)
    t_end = check_real("t_end", t_end, 0.0, T, hi_open=True)
    return np.linspace(T, t_end, steps + 1)


def ddpm_grid(num_sampling_steps: int = 1000, num_train_steps: int = schedules.DIT_TRAIN_STEPS) -> np.ndarray:
    """DiT's sampler steps mapped to OU time t = -1/2 log alpha_bar, then t = 0 (the clean sample)."""
    return np.append(schedules.sampler_ou_times(num_sampling_steps, num_train_steps), 0.0)


def check_grid(grid: ArrayLike) -> np.ndarray:
    """A strictly decreasing grid of OU times >= 0 (scores are evaluated at all but the last)."""
    g = check_decreasing("t grid", grid)
    if g[-1] < 0:
        raise InputError(f"t grid must end at an OU time >= 0, got {g[-1]:g}")
    return g


# ---------------------------------------------------------------- couplings

def check_drift(A: ArrayLike) -> np.ndarray:
    """A K x K drift whose eigenvalues all have positive real part (a stable forward process)."""
    A = check_array("drift A", A, ndim=2)
    if A.shape[0] != A.shape[1] or A.shape[0] < 1:
        raise InputError(f"drift A must be square K x K, got shape {A.shape}")
    if A.shape[0] > 8:
        raise InputError(f"drift A has K={A.shape[0]} replicas; at most 8 are supported (2^K sign states)")
    ev = np.linalg.eigvals(A)
    if np.min(ev.real) <= 0:
        raise InputError(f"drift A is outside the stability bound: eigenvalues need Re > 0, "
                         f"smallest is {np.min(ev.real):.4g} (for [[1,-g],[-g,1]]: |g| < 1)")
    return A


def gate_matrix(g: float, K: int) -> np.ndarray:
    """G = (I + g (J - I)/(K-1)) / (1 + g): the gated denoiser mix of layer B (docs/science.md §4)."""
    if K == 1:
        return np.eye(1)
    return (np.eye(K) + g / (K - 1) * (np.ones((K, K)) - np.eye(K))) / (1.0 + g)


def gate_schedule(gate: float | ArrayLike | Callable[[float], float], grid: np.ndarray) -> np.ndarray:
    """Gate strength at each step: a number, an array of N values, or a function g(t); all g >= 0."""
    N = grid.size - 1
    if callable(gate):
        g = np.array([gate(float(t)) for t in grid[:-1]], dtype=float)
    else:
        g = check_array("gate g", gate)
        g = np.broadcast_to(g, (N,)) if g.ndim == 0 else g
    g = check_array("gate g", g, ndim=1)
    if g.size != N:
        raise InputError(f"gate g has {g.size} values but the grid has {N} steps")
    if np.any(g < 0):
        raise InputError(f"gate g={g.min():g} is outside the allowed range [0, inf) (rho(g) = (1-g)/(1+g))")
    return g.copy()


# ---------------------------------------------------------------- exact transition

def transition(A: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """(M_t, S_t): mean map expm(-A t) and noise covariance S_t = ∫_0^t e^{-Au} 2 e^{-A^T u} du.

    Van Loan's block exponential (1978) while t * max|eig A| < 4; beyond, where its blocks grow like
    e^{kappa t} and cancel, the Lyapunov equation A S + S A^T = 2 (I - M M^T) (A stable).
    """
    K = A.shape[0]
    if np.allclose(A, np.eye(K)):
        return np.exp(-t) * np.eye(K), float(schedules.delta(t)) * np.eye(K)
    M = expm(-A * t)
    if t * np.max(np.abs(np.linalg.eigvals(A))) < 4.0:
        blk = np.zeros((2 * K, 2 * K))
        blk[:K, :K] = A
        blk[:K, K:] = 2.0 * np.eye(K)
        blk[K:, K:] = -A.T
        E = expm(blk * t)
        S = E[K:, K:].T @ E[:K, K:]
    else:
        S = solve_continuous_lyapunov(A, 2.0 * (np.eye(K) - M @ M.T))
    return M, 0.5 * (S + S.T)


def sign_states(K: int) -> np.ndarray:
    """The 2^K sign vectors s in {-1, +1}^K, in the kernels' order: (2^K, K)."""
    return np.array(list(itertools.product((-1.0, 1.0), repeat=K)))  # (2^K, K)


@dataclass
class StepTables:
    """Per-step tables of the kernel (see kernels.py); N steps, K replicas, F features."""

    L: np.ndarray     # (N, K, K)
    Wy: np.ndarray    # (N, F, K, K)
    Ws: np.ndarray    # (N, F, K, K)
    Bt: np.ndarray    # (N, F, K, K)
    cst: np.ndarray   # (N, F, 2^K)
    sig: np.ndarray   # (N,)

    def args(self) -> tuple[np.ndarray, ...]:
        return self.L, self.Wy, self.Ws, self.Bt, self.cst, self.sig


def check_coupling(grid: ArrayLike, drift: ArrayLike | None, gate: float | ArrayLike | Callable[[float], float],
                   scheme: str, K: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grid, A, g per step) of a run: scheme in SCHEMES; drift A stable (None: A = I_K, 1 <= K <= 8); the gate
    (g >= 0 per step) and DDPM/DDIM only with independent forward processes (A = I)."""
    grid = check_grid(grid)
    check_choice("scheme", scheme, SCHEMES)
    if drift is None:
        K = check_int("K", 2 if K is None else K, 1, 8)
        A = np.eye(K)
    else:
        A = check_drift(drift)
        K = A.shape[0]
    independent = np.allclose(A, np.eye(K))
    gs = gate_schedule(gate, grid)
    if not independent and np.any(gs > 0):
        raise InputError("the gate (layer B) needs independent forward processes: use drift=None with gate > 0")
    if scheme in ("ddpm", "ddim") and not independent:
        raise InputError(f"scheme {scheme!r} needs A = I; use 'sde' or 'ode' for a coupled drift")
    if grid[-2] <= 0:
        raise InputError("t grid must stay > 0 until its last point (the score diverges at t = 0)")
    return grid, A, gs


def step_tables(model: FeatureModel, grid: ArrayLike, drift: ArrayLike | None = None,
                gate: float | ArrayLike | Callable[[float], float] = 0.0, scheme: str = "sde", K: int | None = None,
                sign_mixing: ArrayLike | None = None) -> StepTables:
    """Fold score, gate and integrator of every step of `grid` into the kernel's affine tables."""
    grid, A, gs = check_coupling(grid, drift, gate, scheme, K)
    K = A.shape[0]
    N, F = grid.size - 1, model.num_features
    Tm = check_sign_mixing(sign_mixing, K)
    signs = sign_states(K)
    I = np.eye(K)
    tables = StepTables(np.zeros((N, K, K)), np.zeros((N, F, K, K)), np.zeros((N, F, K, K)),
                    np.zeros((N, F, K, K)), np.zeros((N, F, signs.shape[0])), np.zeros(N))
    s2 = model.noise_std ** 2
    for s in range(N):
        t, t2 = grid[s], grid[s + 1]
        dt = t - t2
        M, S = transition(A, t)
        MM = M @ M.T
        MT = M @ Tm
        Sp = -np.linalg.inv(s2 * MM + S)
        dl = float(schedules.delta(t))
        if scheme in ("sde", "ode"):
            score_coef, tables.sig[s] = schedules.euler_step(dt, scheme)
            Lz, Ls = I + dt * A, score_coef * I
        else:   # denoiser form x' = c_x x + c_D D, D = e^t (x + Delta_t score): score form below
            cx, cd, tables.sig[s] = schedules.ancestral_step(t, t2, scheme)
            Lz, Ls = (cx + cd * np.exp(t)) * I, cd * np.exp(t) * dl * I
        G = gate_matrix(gs[s], K)
        Lz = Lz + Ls @ (G - I) / dl
        Ls = Ls @ G
        tables.L[s] = Lz + Ls @ Sp
        for k in range(F):
            Ci = np.linalg.inv(model.variances[k] * MM + S)
            a = model.amplitudes[k]
            tables.Wy[s, k] = Ls @ (-Ci - Sp)
            tables.Ws[s, k] = Ls @ (a * Ci @ MT)
            tables.Bt[s, k] = a * MT.T @ Ci
            Q = a * a * MT.T @ Ci @ MT
            tables.cst[s, k] = -0.5 * np.einsum("ci,ij,cj->c", signs, Q, signs)
    return tables


INIT_STREAM = 1 << 20


def check_sign_mixing(T: ArrayLike | None, K: int) -> np.ndarray:
    """Sign mixing T (K x K, invertible): replica data along feature k is a_k T s, s ∈ {±1}^K uniform.

    T = I (default): independent replicas. T = W^{-1} for the modes W of a symmetric drift: every
    mode coordinate carries its own independent sign (a clean two-point mixture per mode).
    """
    if T is None:
        return np.eye(K)
    T = check_array("sign_mixing", T, ndim=2)
    if T.shape != (K, K) or abs(np.linalg.det(T)) < 1e-12:
        raise InputError(f"sign_mixing must be an invertible {K} x {K} matrix, got shape {T.shape}")
    return T


def initial_state(model: FeatureModel, n: int, K: int, T: float, drift: ArrayLike | None = None, seed: int = 0,
                  path_offset: int = 0, sign_mixing: ArrayLike | None = None) -> np.ndarray:
    """z_T (n, K, D): fresh data noised to OU time T by the exact transition (M_T ⊗ I) z_0 + N(0, S_T ⊗ I).

    Path p uses counter-based stream (seed, path_offset + p, INIT_STREAM): any batch split gives the same draws.
    """
    return initial_for_ids(model, path_offset + np.arange(n, dtype=np.int64), K, T, drift, seed, sign_mixing)


def initial_for_ids(model: FeatureModel, ids: ArrayLike, K: int, T: float, drift: ArrayLike | None, seed: int,
                    sign_mixing: ArrayLike | None) -> np.ndarray:
    """z_T (len(ids), K, D) of the given path ids (the same draws as in any batch)."""
    A = np.eye(K) if drift is None else check_drift(drift)
    M, S = transition(A, T)
    z = np.empty((len(ids), K, model.dim))
    kernels.init_paths(z, np.asarray(ids, dtype=np.int64), seed, INIT_STREAM, model.patterns,
                       model.amplitudes, np.sqrt(model.variances), model.noise_std,
                       check_sign_mixing(sign_mixing, K), M, np.linalg.cholesky(S))
    return z


def forward_sample(model: SignFeatureMixture | FeatureModel, n: int, t: float, K: int = 1,
                   drift: ArrayLike | None = None, seed: int = 0, sign_mixing: ArrayLike | None = None) -> np.ndarray:
    """n exact samples of the coupled forward process at OU time t >= 0 (t = 0: the data itself), (n, K, D)."""
    model = feature_model(model)
    n = check_int("samples", n, 1)
    t = check_real("t", t, 0.0)
    if drift is not None:
        K = check_drift(drift).shape[0]
    if t == 0:
        z = np.empty((n, K, model.dim))
        kernels.init_paths(z, np.arange(n, dtype=np.int64), check_int("seed", seed, 0), INIT_STREAM,
                           model.patterns, model.amplitudes, np.sqrt(model.variances), model.noise_std,
                           check_sign_mixing(sign_mixing, K), np.eye(K), np.zeros((K, K)))
        return z
    return initial_state(model, n, K, t, drift, check_int("seed", seed, 0), 0, sign_mixing)


def feature_model_gauss(d: int) -> FeatureModel:
    """An isotropic unit Gaussian model in d dims (no features), used for initial noise."""
    return FeatureModel(np.zeros((0, d)), np.zeros(0), np.zeros(0), 1.0)
