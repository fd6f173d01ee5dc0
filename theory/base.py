"""Single-replica base theory (Biroli, Bonnaire, de Bortoli, Mezard 2024, arXiv 2402.18491; docs/science.md §2).

Convention: forward OU dx = -x dt + sqrt(2) dW, x_t = e^{-t} x_0 + sqrt(Delta_t) z,
Delta_t = 1 - e^{-2t}; t is OU time, the reverse process runs from large t down to 0.
Every coupled formula (layers A, B) reduces to these at g = 0 (tests).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike
import sympy as sp

from .checks import SCALE_MAX, SCALE_MIN, InputError, check_array, check_int, check_positive
from .formula import Formula
from .symbolic import E, Lam, a, d, n, numeric, numeric_stable, sigma, t

SECTION = "§2"


@lru_cache(maxsize=None)
def _pitchfork_root() -> sp.Expr:
    """Solve kappa_t = a^2 e^{-2t} / Gamma_t = 1 for t (Gamma_t = sigma^2 e^{-2t} + Delta_t)."""
    gamma = sigma**2 * E + 1 - E
    (root,) = sp.solve(sp.Eq(a**2 * E, gamma), E)           # e^{-2t} at the bifurcation
    return sp.log(sp.simplify(1 / root)) / 2


@lru_cache(maxsize=None)
def _cloning_posterior() -> sp.Expr:
    """P(phi.x_0 > 0 | y_t = y) for the one-feature sign mixture, derived by Bayes' rule."""
    y, s = sp.symbols("y s", real=True)
    e = sp.exp(-t)
    delta, gamma = 1 - e**2, sigma**2 * e**2 + 1 - e**2
    # y_t | s ~ N(s a e^{-t}, Gamma_t): posterior of the sign is a logistic in y
    p_plus = (1 + sp.tanh(a * e * y / gamma)) / 2
    # y_0 | s, y_t: prior N(s a, sigma^2) times likelihood N(y_t; e^{-t} y_0, Delta_t)
    prec = 1 / sigma**2 + e**2 / delta
    mean = (s * a / sigma**2 + e * y / delta) / prec
    Phi = lambda z: (1 + sp.erf(z / sp.sqrt(2))) / 2
    expr = p_plus * Phi(mean.subs(s, 1) * sp.sqrt(prec)) + (1 - p_plus) * Phi(mean.subs(s, -1) * sp.sqrt(prec))
    return expr


@lru_cache(maxsize=None)
def formulas() -> tuple[Formula, ...]:
    """Final forms of the base theory (docs/science.md §2)."""
    y = sp.Symbol("y", real=True)
    return (
        Formula("speciation_time", sp.log(Lam) / 2,
                "Lambda > 0 the largest eigenvalue of the data covariance; Biroli's criterion "
                "Lambda e^{-2t} = 1 (signal variance of the top direction equals the stationary noise "
                "variance). t_S <= 0 (Lambda <= 1) means no speciation at t > 0.", SECTION),
        Formula("pitchfork_speciation_time", _pitchfork_root(),
                "one-feature sign mixture x_0 = a s phi + sigma eps: the stationary points of log p_t "
                "along phi solve u = kappa_t tanh u with kappa_t = a^2 e^{-2t}/Gamma_t, "
                "Gamma_t = sigma^2 e^{-2t} + Delta_t; the pitchfork kappa_t = 1. With Lambda = a^2 + sigma^2 this is "
                "1/2 log(Lambda - 2 sigma^2 + 1): exactly 1/2 log a^2 for sigma = 1 (Biroli's mixture, "
                "1/2 log d for ||mu||^2 = d) and -> 1/2 log Lambda for a >> max(sigma, 1).", SECTION),
        Formula("collapse_time", sp.log(1 + sigma**2 / (n**(2 / d) - 1)) / 2,
                "Biroli's collapse time of the empirical-score sampler: n >= 2 training points of "
                "Gaussian data N(0, sigma^2 I_d), zero of the excess entropy.", SECTION),
        Formula("cloning_class_posterior", _cloning_posterior().subs(sp.Symbol("y", real=True), y),
                "P_+(y) = P(phi.x_0 > 0 | phi.x_t = y) for the one-feature sign mixture at OU time t > 0; "
                "the cloning agreement is phi(t) = E_{y ~ p_t}[P_+(y)^2 + (1 - P_+(y))^2] because, with the "
                "exact score, the reverse SDE from x_t samples p(x_0 | x_t), so two clones are independent "
                "draws given x_t.", SECTION),
    )


def _f(name: str):
    return next(f for f in formulas() if f.name == name)


def speciation_time(Lambda: ArrayLike) -> float | np.ndarray:
    """t_S = 1/2 log Lambda (docs/science.md §2): Lambda > 0 the top data-covariance eigenvalue; OU time."""
    lam = check_array("Lambda", Lambda)
    if np.any(lam <= 0):
        raise InputError(f"Lambda={float(lam[lam <= 0].flat[0]):g} is outside the allowed range (0, inf)")
    out = numeric(_f("speciation_time").expr, (Lam,))(lam)
    return float(out) if lam.ndim == 0 else out


def pitchfork_speciation_time(amplitude: float, noise_std: float) -> float:
    """t = 1/2 log(a^2 - sigma^2 + 1): the pitchfork kappa_t = a^2 e^{-2t}/Gamma_t = 1 (docs/science.md §2).

    Exact for the one-feature sign mixture (Biroli's u = kappa tanh u); a value <= 0 means no
    bifurcation at t > 0. Requires a^2 - sigma^2 + 1 > 0.
    """
    amp = check_positive("amplitude", amplitude)
    s = check_positive("noise_std", noise_std)
    if amp**2 - s**2 + 1 <= 0:
        raise InputError(f"amplitude={amp:g} must exceed sqrt(noise_std^2 - 1) = {math.sqrt(s*s - 1):g}")
    return float(numeric(_f("pitchfork_speciation_time").expr, (a, sigma))(amp, s))


def collapse_time(n_train: int, d_dim: int, noise_std: float) -> float:
    """t_C = 1/2 log(1 + sigma^2/(n^{2/d} - 1)) (Biroli et al., docs/science.md §2); n >= 2, d >= 1, sigma > 0.

    The Formula `collapse_time` written with expm1/log1p (stable for large d); the one t_C of the package.
    """
    nn = check_int("n", n_train, 2)
    dd = check_int("d", d_dim, 1)
    s = check_positive("noise_std", noise_std)
    return float(0.5 * math.log1p(over_collapse_scale(s * s, nn, dd)))


def over_collapse_scale(v: float | np.ndarray, n_train: int, d_dim: int) -> float | np.ndarray:
    """v / (n^{2/d} - 1), the ratio inside every collapse time (Biroli et al., docs/science.md §2, §3).

    n^{2/d} - 1 = expm1(2 log n / d): stable for large d; for 2 log n / d > 700 (n of hundreds of digits)
    expm1 overflows, and v / (n^{2/d} - 1) = v e^{-2 log n / d} to double precision, computed in log space.
    math.log takes Python integers of any size."""
    x = 2.0 * math.log(n_train) / d_dim
    return v / math.expm1(x) if x < 700.0 else v * math.exp(-x)


_GH_X, _GH_W = np.polynomial.hermite.hermgauss(160)


def _check_times(name, times):
    """OU times in [1e-100, 1e100] (SCALE_MIN, SCALE_MAX): at t = 5e-324, 1 - e^{-2t} is denormal and the
    posterior's ratios overflow to inf/inf."""
    arr = check_array(name, times)
    bad = (arr < SCALE_MIN) | (arr > SCALE_MAX)
    if np.any(bad):
        raise InputError(f"{name}={float(arr[bad].flat[0]):g} is outside the allowed range [{SCALE_MIN:g}, {SCALE_MAX:g}]")
    return arr


def cloning_agreement(t_clone: ArrayLike, amplitude: float, noise_std: float) -> float | np.ndarray:
    """Exact cloning (U-turn) agreement phi(t) of a one-feature sign mixture (docs/science.md §2).

    phi(t) = E_{y_t}[P_+(y_t)^2 + P_-(y_t)^2], y_t = phi.x_t ~ 1/2 N(+-a e^{-t}, Gamma_t), with
    P_+(y) = P(phi.x_0 > 0 | y_t = y) the `cloning_class_posterior` formula; the class is read as
    sign(phi.x_0). By the y -> -y symmetry the expectation is over N(a e^{-t}, Gamma_t) only,
    computed by 160-point Gauss-Hermite quadrature. t > 0 (OU time, scalar or array).
    """
    tt = _check_times("t", t_clone)
    amp = check_positive("amplitude", amplitude)
    s = check_positive("noise_std", noise_std)
    post = numeric_stable(_f("cloning_class_posterior").expr, (sp.Symbol("y", real=True), t, a, sigma))
    e = np.exp(-tt)[..., None]
    gam = s * s * e * e + 1 - e * e
    y = amp * e + np.sqrt(2 * gam) * _GH_X                   # (..., nodes)
    p = np.clip(post(y, tt[..., None], amp, s), 0.0, 1.0)
    phi = (_GH_W * (p * p + (1 - p) ** 2)).sum(-1) / math.sqrt(math.pi)
    return float(phi) if np.ndim(t_clone) == 0 else phi


def cloning_agreement_features(t_clone: ArrayLike, amplitudes: ArrayLike, noise_std: float) -> np.ndarray:
    """Per-feature cloning agreement for a multi-feature SignFeatureMixture, shape (len(t), K).

    Features on orthonormal patterns with isotropic noise are independent under the OU process,
    so feature k agrees with probability cloning_agreement(t, a_k, sigma) and all features agree
    with the product of these (docs/science.md §2, §4).
    """
    tt = np.atleast_1d(_check_times("t", t_clone))
    amps = check_array("amplitudes", amplitudes, ndim=1)
    if amps.size == 0 or np.any(amps <= 0):
        raise InputError("amplitudes must be a non-empty list of numbers > 0")
    return np.stack([cloning_agreement(tt, float(ak), noise_std) for ak in amps], axis=-1)
