"""Layer A: coupled OU replicas (docs/science.md §3), derived with SymPy.

Convention. K replicas z = (x^1 ... x^K), x^i in R^d, forward process
    dz = -(A (x) I_d) z dt + sqrt(2) dW,
so z_t = (M(t) (x) I_d) z_0 + noise of covariance C(t) (x) I_d with
    M(t) = e^{-A t},   A C + C A^T = 2 (I - M M^T)   (Lyapunov; C = int_0^t 2 e^{-As} e^{-A^T s} ds).
Drifts: symmetric pair A = [[1, -g], [-g, 1]] (|g| < 1); all-to-all A = I + g L, L = K I - 1 1^T
(g > -1/K); anisotropic pair A = [[a, -g12], [-g21, b]].

Joint data model (our choice, docs/science.md leaves it open). Every replica has the same marginal
data law, with covariance Sigma (eigenvalue Lambda along a data direction), and the replicas'
data are cross-correlated: Cov(x^i_0, x^j_0) = R_ij Sigma with R = (1 - c) I + c 1 1^T,
c in (-1/(K-1), 1). c = 0: independent replicas; c -> 1: identical replicas.

Modes. A mode is a unit left eigenvector w_m of A (w_m^T A = kappa_m w_m^T). Its coordinate
u_m = (w_m^T (x) I_d) z obeys du = -kappa_m u dt + sqrt(2) dW' EXACTLY, also for non-normal A,
with data covariance Lambda_m = Lambda w_m^T R w_m along each data direction. The substitution
s = kappa_m t, u~ = sqrt(kappa_m) u turns it into the base OU of §2 with data eigenvalue
kappa_m Lambda_m, so Biroli's criterion (signal variance = stationary noise variance) gives
    t_S^m = log(kappa_m Lambda_m) / (2 kappa_m),
and the same substitution in Biroli's collapse time gives
    t_C^m = log(1 + kappa_m sigma_m^2 / (n^{2/d} - 1)) / (2 kappa_m).
Both reduce to §2 at g = 0 (kappa = 1, Lambda_m = Lambda for c = 0).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike
import scipy.linalg as sla
import sympy as sp

from . import symbolic
from .checks import K_MAX, InputError, check_array, check_int, check_positive, check_real
from .base import over_collapse_scale
from .formula import Formula
from .symbolic import K, Lam, c, g, kappa, n, numeric, d, sigma, t

SECTION = "§3"
a_, b_ = sp.symbols("a b", positive=True)
g12, g21 = sp.symbols("g_12 g_21", real=True)
k1, k2 = sp.symbols("kappa_1 kappa_2", positive=True)


# ----------------------------------------------------------------------------- derivations
def _lyapunov_solve(A: sp.Matrix, M: sp.Matrix) -> sp.Matrix:
    """Solve A C + C A^T = 2 (I - M M^T) for symmetric 2x2 C, symbolically."""
    c11, c12, c22 = sp.symbols("c11 c12 c22")
    C = sp.Matrix([[c11, c12], [c12, c22]])
    eqs = A * C + C * A.T - 2 * (sp.eye(2) - M * M.T)
    sol = sp.solve([eqs[0, 0], eqs[0, 1], eqs[1, 1]], [c11, c12, c22], dict=True)[0]
    return C.subs(sol)


@lru_cache(maxsize=None)
def _symmetric() -> dict:
    """Spectral theorem for the symmetric A: M = sum_m e^{-kappa_m t} w w^T, C = sum_m (1 - e^{-2 kappa_m t})/kappa_m w w^T.

    (tests check M against SymPy's matrix exponential and C against the Lyapunov equation, symbolically.)
    """
    A = sp.Matrix([[1, -g], [-g, 1]])
    vecs = {ev: vs[0] / vs[0].norm() for ev, _, vs in A.eigenvects()}
    common = next(ev for ev, v in vecs.items() if sp.simplify(v[0] - v[1]) == 0)
    rates = [common] + [ev for ev in vecs if ev != common]
    P = [vecs[r] * vecs[r].T for r in rates]
    M = sum((sp.exp(-r * t) * Pm for r, Pm in zip(rates, P)), sp.zeros(2, 2))
    C = sum(((1 - sp.exp(-2 * r * t)) / r * Pm for r, Pm in zip(rates, P)), sp.zeros(2, 2))
    return {"A": A, "rates": sp.Matrix(rates), "vectors": [vecs[r] for r in rates], "M": M, "C": C}


@lru_cache(maxsize=None)
def _anisotropic() -> dict:
    A = sp.Matrix([[a_, -g12], [-g21, b_]])
    disc = sp.sqrt((a_ - b_) ** 2 / 4 + g12 * g21)
    rates = sp.Matrix([(a_ + b_) / 2 - disc, (a_ + b_) / 2 + disc])
    assert all(sp.simplify(A.subs({}).charpoly().as_expr().subs(sp.Symbol("lambda"), r)) == 0 for r in rates)
    # Sylvester's formula for f(A) = e^{-At} with distinct eigenvalues kappa_1 != kappa_2
    I2 = sp.eye(2)
    M_k = (sp.exp(-k1 * t) * (A - k2 * I2) - sp.exp(-k2 * t) * (A - k1 * I2)) / (k1 - k2)
    M = M_k.subs({k1: rates[0], k2: rates[1]})
    m11, m12, m21, m22 = sp.symbols("m11 m12 m21 m22")
    Mgen = sp.Matrix([[m11, m12], [m21, m22]])
    C_gen = _lyapunov_solve(A, Mgen)       # C in terms of M's entries
    C = C_gen.subs({m11: M[0, 0], m12: M[0, 1], m21: M[1, 0], m22: M[1, 1]})
    p = sp.Symbol("p", real=True)                      # p = g12 g21
    x = sp.Symbol("x")
    (p_real,) = sp.solve(sp.expand(sp.discriminant(A.charpoly(x).as_expr(), x).subs(g12, p / g21)), p)
    (p_fwd,) = sp.solve(A.det().subs(g12, p / g21), p)
    return {"A": A, "rates": rates, "M_kappa": M_k, "M": M, "C_gen": C_gen, "Mgen": Mgen, "C": C,
            "product_bounds": (sp.factor(p_real), p_fwd)}


@lru_cache(maxsize=None)
def _mode_criteria() -> dict:
    """Map a mode onto the base OU and solve Biroli's criteria there."""
    s, Lm = sp.symbols("s Lambda_m", positive=True)
    tt = sp.Symbol("t", real=True)
    # variance of u~ = sqrt(kappa) u at time t: kappa (Lambda_m e^{-2 kappa t} + (1 - e^{-2 kappa t})/kappa)
    var_scaled = sp.expand(kappa * (Lm * sp.exp(-2 * kappa * tt) + (1 - sp.exp(-2 * kappa * tt)) / kappa))
    base = (kappa * Lm * sp.exp(-2 * s) + 1 - sp.exp(-2 * s)).subs(s, kappa * tt)
    assert sp.simplify(var_scaled - sp.expand(base)) == 0         # the mode is the base OU in s = kappa t
    (ts,) = sp.solve(sp.Eq(kappa * Lm * sp.exp(-2 * kappa * tt), 1), tt)
    sm = sp.Symbol("sigma_m", positive=True)
    tc = sp.log(1 + kappa * sm**2 / (n ** (2 / d) - 1)) / (2 * kappa)
    return {"Lambda_m": Lm, "sigma_m": sm, "t_S": sp.simplify(ts), "t_C": tc}


@lru_cache(maxsize=None)
def _gap_and_bounds() -> dict:
    crit = _mode_criteria()
    Lm = crit["Lambda_m"]
    tS = crit["t_S"]
    Lplus, Lminus = Lam * (1 + c), Lam * (1 - c)
    # mode factors w^T R w for the pair: common (1,1)/sqrt2 -> 1 + c, difference (1,-1)/sqrt2 -> 1 - c
    R = sp.Matrix([[1, c], [c, 1]])
    sym = _symmetric()
    factors = [sp.simplify((v.T * R * v)[0, 0]) for v in sym["vectors"]]
    assert sp.simplify(factors[0] - (1 + c)) == 0 and sp.simplify(factors[1] - (1 - c)) == 0
    t_common = tS.subs({kappa: sym["rates"][0], Lm: Lplus})
    t_diff = tS.subs({kappa: sym["rates"][1], Lm: Lminus})
    gap = t_common - t_diff
    (g_hi,) = sp.solve(sp.Eq(sym["rates"][0] * Lplus, 1), g)     # common mode stops speciating
    (g_lo,) = sp.solve(sp.Eq(sym["rates"][1] * Lminus, 1), g)    # difference mode starts speciating
    assert sp.simplify(g_lo - (1 / (Lam * (1 - c)) - 1)) == 0
    return {"t_common": t_common, "t_diff": t_diff, "gap": gap, "g_hi": sp.simplify(g_hi),
            "g_lo": 1 / (Lam * (1 - c)) - 1}


@lru_cache(maxsize=None)
def formulas() -> tuple[Formula, ...]:
    """Final forms of layer A (docs/science.md §3)."""
    sym, ani, crit, gb = _symmetric(), _anisotropic(), _mode_criteria(), _gap_and_bounds()
    Lm = crit["Lambda_m"]
    mA, mC, mM = (sp.MatrixSymbol(x, 2, 2) for x in "ACM")
    Kr = sp.Symbol("K", positive=True)
    return (
        Formula("mode_rates_symmetric", sym["rates"],
                "A = [[1, -g], [-g, 1]]; eigenvalues of A: common mode w = (1, 1)/sqrt2 relaxes at 1 - g, "
                "difference mode w = (1, -1)/sqrt2 at 1 + g. Forward stability needs |g| < 1.", SECTION),
        Formula("transition_mean_symmetric", sym["M"],
                "M(t) = e^{-At} for the symmetric pair; z_t = (M (x) I_d) z_0 + noise.", SECTION),
        Formula("transition_cov_symmetric", sym["C"],
                "C(t) solving A C + C A^T = 2 (I - M M^T); noise covariance C (x) I_d. Per mode: "
                "(1 - e^{-2 kappa t})/kappa.", SECTION),
        Formula("mode_rates_all_to_all", sp.Matrix([1, 1 + g * Kr]),
                "A = I + g L, L = K I - 1 1^T (complete graph): common mode 1/sqrt(K) rate 1; K - 1 "
                "difference modes (orthogonal to 1) rate 1 + g K. Forward stability needs g > -1/K.", SECTION),
        Formula("mode_rates_anisotropic", ani["rates"],
                "A = [[a, -g12], [-g21, b]]; real modes need (a - b)^2/4 + g12 g21 >= 0, forward stability "
                "a + b > 0 and a b > g12 g21. Left eigenvectors are not orthogonal when g12 != g21 (non-normal).",
                SECTION),
        Formula("stability_bounds_anisotropic",
                sp.Interval.Ropen(ani["product_bounds"][0], ani["product_bounds"][1]),
                "allowed range of g12 g21 for the anisotropic pair with a + b > 0: lower end from real mode "
                "rates (discriminant of det(A - kappa I) >= 0), upper end from forward stability det A > 0.",
                SECTION),
        Formula("transition_mean_anisotropic", ani["M_kappa"],
                "Sylvester's formula for e^{-At}, kappa_1 < kappa_2 the mode rates above (distinct).", SECTION),
        Formula("transition_cov_lyapunov", sp.Eq(mA * mC + mC * mA.T, 2 * (sp.Identity(2) - mM * mM.T)),
                "C(t) is the unique symmetric solution of this Lyapunov equation (A with positive mode rates). "
                "For any diagonalisable A = V diag(kappa) V^{-1}: "
                "C = V [(2 V^{-1} V^{-T})_{ij} (1 - e^{-(kappa_i + kappa_j) t})/(kappa_i + kappa_j)] V^T.", SECTION),
        Formula("transition_cov_anisotropic", ani["C_gen"],
                "anisotropic pair: the Lyapunov solution in closed form in terms of M(t) = (m_ij) above.", SECTION),
        Formula("mode_eigenvalues_pair", sp.Matrix([Lam * (1 + c), Lam * (1 - c)]),
                "Lambda_m = Lambda w_m^T R w_m, R = [[1, c], [c, 1]]: common mode Lambda(1 + c), difference "
                "mode Lambda(1 - c). All-to-all: common Lambda(1 + (K - 1)c), difference Lambda(1 - c).", SECTION),
        Formula("mode_speciation_time", crit["t_S"],
                "mode of rate kappa > 0 with data eigenvalue Lambda_m: the mode is the base OU in time "
                "s = kappa t with data eigenvalue kappa Lambda_m; Biroli's t_S = 1/2 log(kappa Lambda_m) in s. "
                "Equivalently Lambda_m e^{-2 kappa t} = 1/kappa (signal variance = the mode's stationary noise "
                "variance). <= 0 means the mode does not speciate at t > 0.", SECTION),
        Formula("mode_collapse_time", crit["t_C"],
                "Biroli's t_C for the mode in time s = kappa t: n >= 2 joint training samples, d dims per mode, "
                "isotropic Gaussian data of variance sigma_m^2 = sigma^2 w_m^T R w_m along the mode.", SECTION),
        Formula("synchronization_gap", sp.Eq(sp.Symbol("Delta t_S"), gb["gap"]),
                "symmetric pair: t_S(common) - t_S(difference), kappa = 1 -+ g, Lambda_m = Lambda(1 +- c); "
                "> 0 means the common mode commits first in the reverse process. 0 at g = c = 0.", SECTION),
        Formula("stability_bound_common", sp.Eq(sp.Symbol("g_max"), gb["g_hi"]),
                "symmetric pair: the common mode speciates at t > 0 only for g < g_max (kappa_+ Lambda_+ > 1); "
                "forward stability adds |g| < 1.", SECTION),
        Formula("stability_bound_difference", sp.Eq(sp.Symbol("g_min"), gb["g_lo"]),
                "symmetric pair: the difference mode speciates at t > 0 only for g > g_min "
                "(kappa_- Lambda_- > 1); for g <= g_min it never breaks symmetry (replicas stay synchronised).",
                SECTION),
        Formula("score_gaussian", sp.Eq(sp.MatrixSymbol("s_t", 2, 1), -sp.MatrixSymbol("S_t", 2, 2).I * sp.MatrixSymbol("z", 2, 1)),
                "zero-mean Gaussian data of joint covariance R (x) Sigma: S_t = M R M^T (x) Sigma + C (x) I_d; "
                "Gaussian mixture sum_c w_c N(m_c, S_0): score = sum_c r_c(z) S_t^{-1}((M (x) I) m_c - z) with "
                "r_c the posterior responsibilities under N((M (x) I) m_c, (M (x) I) S_0 (M (x) I)^T + C (x) I).",
                SECTION),
    )


def _f(name: str) -> Formula:
    return next(f for f in formulas() if f.name == name)


# ----------------------------------------------------------------------------- drifts and modes
def drift_symmetric(g: float) -> np.ndarray:
    """A = [[1, -g], [-g, 1]] (docs/science.md §3); |g| < 1 for forward stability."""
    try:
        gv = check_real("g", g, -1.0, 1.0, lo_open=True, hi_open=True)
    except InputError as exc:
        raise InputError(f"{exc} (forward stability: mode rates 1 - g and 1 + g must be > 0)") from None
    return np.array([[1.0, -gv], [-gv, 1.0]])


def drift_all_to_all(K: int, g: float) -> np.ndarray:
    """A = I + g L, L = K I - 1 1^T the complete-graph Laplacian (docs/science.md §3); g > -1/K."""
    k = check_int("K", K, 2, K_MAX)
    try:
        gv = check_real("g", g, -1.0 / k, lo_open=True, hi_open=True)
    except InputError as exc:
        raise InputError(f"{exc} (forward stability: difference-mode rate 1 + g K must be > 0)") from None
    return np.eye(k) + gv * (k * np.eye(k) - np.ones((k, k)))


def drift_anisotropic(a: float, b: float, g_12: float, g_21: float) -> np.ndarray:
    """A = [[a, -g12], [-g21, b]] (docs/science.md §3); needs real modes and positive rates."""
    av, bv = check_real("a", a), check_real("b", b)
    x, y = check_real("g12", g_12), check_real("g21", g_21)
    A = np.array([[av, -x], [-y, bv]])
    _check_drift(A)
    return A


def _unit(A) -> float:
    """The largest |entry| of A (1 for A = 0): eigen-decompositions run on A / unit, rates scale back."""
    top = float(np.abs(A).max()) if A.size else 1.0
    return top if top > 0 else 1.0


def _check_drift(A) -> np.ndarray:
    A = check_array("A", A, ndim=2)
    if A.shape[0] != A.shape[1] or A.shape[0] < 1:
        raise InputError(f"A must be a square matrix, got shape {A.shape}")
    unit = _unit(A)
    As = A / unit                                       # entries in [-1, 1]: no overflow in squares (1e200 entries)
    if A.shape == (2, 2):
        disc = (As[0, 0] - As[1, 1]) ** 2 / 4 + As[0, 1] * As[1, 0]
        if disc < -1e-14:                               # below rounding of a repeated rate at unit scale
            raise InputError(f"g12*g21={A[0, 1] * A[1, 0]:g} is below the bound -(a-b)^2/4="
                             f"{-(A[0, 0] - A[1, 1]) ** 2 / 4:g}: mode rates are complex (no real modes)")
    ev = np.linalg.eigvals(As)
    if np.any(np.abs(ev.imag) > 1e-12 * np.abs(ev).max()):
        raise InputError("A has complex eigenvalues: no real modes")
    if np.any(ev.real <= 0):
        raise InputError(f"A has a mode rate {ev.real.min() * unit:g} <= 0: forward process unstable "
                         "(need every eigenvalue of A > 0; for the pair |g| < 1, all-to-all g > -1/K)")
    return A


def mode_rates(A: ArrayLike, c: float | None = None) -> dict:
    """Mode rates kappa_m and unit left eigenvectors w_m (rows), common mode first (docs/science.md §3).

    Returns {"rates": (K,), "modes": (K, K)} with modes[m] @ A = rates[m] * modes[m]. Mode 0 is the
    mode most aligned with the common direction 1/sqrt(K); the others follow by ascending rate.
    Within a degenerate eigenspace (e.g. g = 0, or the K - 1 difference modes of all-to-all) the
    basis is the null space of A^T - kappa I from an SVD (the eigenvectors that `eig` returns for a
    repeated eigenvalue are nearly dependent, and orthonormalising them mixes in other modes) and, if
    c is given, chosen to diagonalise the replica correlation R, so Lambda_m = Lambda w_m^T R w_m are
    its modes. A repeated rate whose null space is smaller than its multiplicity (a Jordan block,
    e.g. a = b = g12 = 1, g21 = 0) raises InputError: A is not diagonalisable.
    """
    A = _check_drift(A)
    k = A.shape[0]
    unit = _unit(A)
    ev, W = sla.eig(A / unit, left=True, right=False)
    ev, W = ev.real * unit, W.real.T                            # rows are left eigenvectors
    order = np.argsort(ev, kind="stable")
    ev, W = ev[order], W[order]
    R = replica_correlation(k, c) if c is not None else np.eye(k)
    scale = float(np.abs(ev).max())                             # > 0: every rate is > 0 (_check_drift)
    i = 0
    while i < k:                                                # fix bases of degenerate groups
        j = i + 1
        while j < k and abs(ev[j] - ev[i]) < 1e-9 * scale:
            j += 1
        if j - i > 1:
            B = _eigenspace(A / unit, ev[i:j] / unit, scale / unit)   # (j - i, k) orthonormal rows
            _, U = np.linalg.eigh(B @ (R + 1e-3 * np.ones((k, k))) @ B.T)
            W[i:j] = (B.T @ U).T
        i = j
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    if np.linalg.matrix_rank(W, tol=1e-10) < k:
        raise InputError("A is not diagonalisable: modes are not defined")
    common = int(np.argmax(np.abs(W.sum(1))))
    perm = [common] + [m for m in range(k) if m != common]
    W = W[perm] * np.sign(W[perm].sum(1, keepdims=True) + 1e-300)
    return {"rates": ev[perm], "modes": W}


def _eigenspace(A, group, scale) -> np.ndarray:
    """Orthonormal basis (rows) of the left eigenspace of A for a group of numerically equal rates.

    The left eigenspace of kappa is the null space of A^T - kappa I: the right singular vectors of
    its len(group) smallest singular values. If one of those singular values is not ~0, the rate's
    eigenspace is smaller than its multiplicity and A is not diagonalisable.
    """
    m = len(group)
    _, sv, Vh = np.linalg.svd(A.T - group.mean() * np.eye(A.shape[0]))
    if sv[-m:].max() > 1e-7 * scale:
        raise InputError(f"A is not diagonalisable: the rate {group.mean():g} is repeated {m} times but has "
                         f"fewer independent eigenvectors (modes are not defined)")
    return Vh[-m:]


def transition_mean_cov(A: ArrayLike, t: float) -> tuple[np.ndarray, np.ndarray]:
    """(M, C) with z_t = (M (x) I_d) z_0 + N(0, C (x) I_d), for any diagonalisable A (docs/science.md §3).

    M = e^{-At} = V diag(e^{-kappa t}) V^{-1};
    C = V [(2 V^{-1} V^{-T})_ij (1 - e^{-(kappa_i + kappa_j) t})/(kappa_i + kappa_j)] V^T,
    the solution of A C + C A^T = 2 (I - M M^T) (also for non-normal A). t >= 0 in OU time.
    """
    A = _check_drift(A)
    tv = check_real("t", t, 0.0)
    unit = _unit(A)
    kap, V = np.linalg.eig(A / unit)
    kap, V = kap.real * unit, V.real
    Vi = np.linalg.inv(V)
    M = (V * np.exp(-kap * tv)) @ Vi
    s = kap[:, None] + kap[None, :]
    H = -np.expm1(-s * tv) / s
    C = V @ (2 * (Vi @ Vi.T) * H) @ V.T
    return M, 0.5 * (C + C.T)


def transition_symmetric(g: float, t: float) -> tuple[np.ndarray, np.ndarray]:
    """(M, C) of the symmetric pair from the SymPy closed forms (docs/science.md §3)."""
    gv = check_real("g", g, -1.0, 1.0, lo_open=True, hi_open=True)
    tv = check_real("t", t, 0.0, lo_open=True)
    M = numeric(_f("transition_mean_symmetric").expr, (symbolic.g, symbolic.t))(gv, tv)
    C = numeric(_f("transition_cov_symmetric").expr, (symbolic.g, symbolic.t))(gv, tv)
    return np.asarray(M, dtype=float), np.asarray(C, dtype=float)


def transition_anisotropic(a: float, b: float, g_12: float, g_21: float, t: float) -> tuple[np.ndarray, np.ndarray]:
    """(M, C) of the anisotropic pair from the SymPy closed forms (Sylvester + Lyapunov; docs/science.md §3).

    Needs distinct real mode rates ((a - b)^2/4 + g12 g21 > 0) and t > 0.
    """
    A = drift_anisotropic(a, b, g_12, g_21)
    tv = check_real("t", t, 0.0, lo_open=True)
    if (A[0, 0] - A[1, 1]) ** 2 / 4 + A[0, 1] * A[1, 0] <= 0:
        raise InputError("the closed form needs distinct mode rates: (a-b)^2/4 + g12*g21 > 0")
    ani = _anisotropic()
    args = (a_, b_, g12, g21, symbolic.t)
    M = numeric(ani["M"], args)(A[0, 0], A[1, 1], -A[0, 1], -A[1, 0], tv)
    C = numeric(ani["C"], args)(A[0, 0], A[1, 1], -A[0, 1], -A[1, 0], tv)
    return np.asarray(M, dtype=float), np.asarray(C, dtype=float)


# ----------------------------------------------------------------------------- data model and scores
def replica_correlation(K: int, c: float) -> np.ndarray:
    """R = (1 - c) I + c 1 1^T: cross-correlation of the replicas' data; c in (-1/(K-1), 1)."""
    k = check_int("K", K, 2, K_MAX)
    cv = check_real("c", c, -1.0 / (k - 1), 1.0, lo_open=True, hi_open=True)
    return (1 - cv) * np.eye(k) + cv * np.ones((k, k))


# ----------------------------------------------------------------------------- speciation, collapse, gap
def _mode_factors(A, c):
    info = mode_rates(A, c)
    R = replica_correlation(A.shape[0], c)
    W = info["modes"]
    return info["rates"], np.einsum("mi,ij,mj->m", W, R, W)


def mode_speciation_times(A: ArrayLike, Lambda: float, c: float = 0.0) -> dict:
    """t_S^m = log(kappa_m Lambda_m)/(2 kappa_m), Lambda_m = Lambda w_m^T R w_m, per mode (docs/science.md §3).

    Modes as in `mode_rates` (the common mode first, then ascending rate). Lambda > 0 is the
    per-replica data-covariance eigenvalue (scalar: one data direction). Returns {"rates", "Lambda_m",
    "t_S"}; t_S <= 0 means that mode does not speciate at t > 0.
    """
    A = _check_drift(A)
    L = check_positive("Lambda", Lambda)
    rates, fac = _mode_factors(A, c)
    Lm = L * fac
    ts = numeric(_f("mode_speciation_time").expr, (kappa, _mode_criteria()["Lambda_m"]))(rates, Lm)
    return {"rates": rates, "Lambda_m": Lm, "t_S": np.asarray(ts, dtype=float)}


def mode_collapse_times(A: ArrayLike, n_train: int, d_dim: int, noise_std: float, c: float = 0.0) -> dict:
    """t_C^m = log(1 + kappa_m sigma_m^2/(n^{2/d} - 1))/(2 kappa_m), sigma_m^2 = sigma^2 w_m^T R w_m (§3)."""
    A = _check_drift(A)
    nn, dd = check_int("n", n_train, 2), check_int("d", d_dim, 1)
    s = check_positive("noise_std", noise_std)
    rates, fac = _mode_factors(A, c)
    return {"rates": rates, "t_C": np.log1p(over_collapse_scale(rates * s * s * fac, nn, dd)) / (2 * rates)}


def synchronization_gap(A: ArrayLike, Lambda: float, c: float = 0.0) -> float:
    """Gap = t_S(common mode) - min over the other modes of t_S (docs/science.md §3): from the common mode's
    commitment to the last difference mode's; for the pair simply common - difference.

    Closed form for the symmetric pair in `formulas()` ("synchronization_gap").
    """
    r = mode_speciation_times(A, Lambda, c)
    return float(r["t_S"][0] - r["t_S"][1:].min())


def synchronization_gap_symmetric(g: float, Lambda: float, c: float = 0.0) -> float:
    """Closed-form gap of the symmetric pair, lambdified from the SymPy expression (docs/science.md §3)."""
    gv = check_real("g", g, -1.0, 1.0, lo_open=True, hi_open=True)
    L = check_positive("Lambda", Lambda)
    cv = check_real("c", c, -1.0, 1.0, lo_open=True, hi_open=True)
    return float(numeric(_f("synchronization_gap").expr.rhs, (symbolic.g, symbolic.Lam, symbolic.c))(gv, L, cv))


def stability_bounds(Lambda: float, c: float = 0.0, K: int = 2, coupling: str = "symmetric", a: float = 1.0,
                     b: float = 1.0) -> dict:
    """Admissible coupling range (docs/science.md §3) as a record.

    symmetric pair: forward |g| < 1; common mode speciates iff g < 1 - 1/(Lambda(1+c));
    difference mode speciates iff g > 1/(Lambda(1-c)) - 1. all_to_all (A = I + gL): forward g > -1/K;
    common mode (rate 1) speciates iff Lambda(1 + (K-1)c) > 1; differences iff g > (1/(Lambda(1-c)) - 1)/K.
    Both modes speciate (a gap exists) for g in (g_min_difference, g_max_common).
    anisotropic (A = [[a, -g12], [-g21, b]], a + b > 0): real modes need g12 g21 >= -(a-b)^2/4, forward
    stability g12 g21 < a b; each mode then speciates iff kappa_m Lambda_m > 1 (`mode_speciation_times`).
    """
    L = check_positive("Lambda", Lambda)
    k = check_int("K", K, 2, K_MAX)
    cv = check_real("c", c, -1.0 / (k - 1), 1.0, lo_open=True, hi_open=True)
    if coupling == "symmetric":
        if k != 2:
            raise InputError(f"K={k} is outside the allowed range [2, 2] for coupling='symmetric'")
        gb = _gap_and_bounds()
        return {"coupling": coupling, "forward_min": -1.0, "forward_max": 1.0,
                "common_speciates_below": float(gb["g_hi"].subs({symbolic.Lam: L, symbolic.c: cv})),
                "difference_speciates_above": float(gb["g_lo"].subs({symbolic.Lam: L, symbolic.c: cv}))}
    if coupling == "all_to_all":
        return {"coupling": coupling, "forward_min": -1.0 / k, "forward_max": math.inf,
                "common_speciates": bool(L * (1 + (k - 1) * cv) > 1),
                "difference_speciates_above": (1.0 / (L * (1 - cv)) - 1.0) / k}
    if coupling == "anisotropic":
        av, bv = check_real("a", a), check_real("b", b)
        if av + bv <= 0:
            raise InputError(f"a+b={av + bv:g} must be > 0 for a stable anisotropic pair")
        lo, hi = (float(e.subs({a_: av, b_: bv})) for e in _anisotropic()["product_bounds"])
        return {"coupling": coupling, "g12_g21_min_real_modes": lo, "g12_g21_max_forward": hi}
    raise InputError(f"coupling={coupling!r} is not one of 'symmetric', 'all_to_all', 'anisotropic'")
