"""Layer B: gated replicas of one generative model, exact score (docs/science.md §4), derived with SymPy.

Convention. Two replicas x_A, x_B run the same reverse process (t decreasing; tau = -t) with
the posterior mean D(x) = E[x_0 | x_t = x] shared through the gate
    D_A = (D(x_A) + g D(x_B)) / (1 + g),   D_B = (D(x_B) + g D(x_A)) / (1 + g),   g in [0, inf),
and the score s = (e^{-t} D - x)/Delta_t rebuilt from the gated D (the x_t part is not mixed):
    ODE:  dx_A/dtau = x_A + (e^{-t} D_A - x_A)/Delta_t
    SDE:  dx_A/dtau = x_A + 2 (e^{-t} D_A - x_A)/Delta_t + sqrt(2) dW_A      (independent noises).
The difference delta = x_A - x_B sees D_A - D_B = rho(g) (D(x_A) - D(x_B)), rho(g) = (1-g)/(1+g)
in (-1, 1]. Linearised at a replica-symmetric point x_A = x_B = x:
    d delta/dtau = r(t) delta,  r_ODE = 1 + (rho e^{-t} D'(x) - 1)/Delta_t,
                                r_SDE = 1 + 2 (rho e^{-t} D'(x) - 1)/Delta_t;
r > 0 means the replicas drift apart (the pair breaks symmetry) during generation.
For rho <= 0 (g >= 1) the routing term pulls the replicas together: r < 0 at every t for
Gaussian data and at the undecided point of a sign mixture, so no instability exists.

Results (checked against finite differences of the exact gated drift built from theory/data.py):
- Gaussian data: r_ODE = e^{-2t}(rho lambda/Gamma - 1)/Delta_t exactly, confirming docs/science.md §4's
  hand derivation; r_SDE = 1 + 2(rho lambda e^{-2t}/Gamma - 1)/Delta_t.
- Sign mixture, SDE: the onset t_S,k(g) (r_SDE turns positive) is exactly 1/2 log(2 a_k^2) at g = 0,
  sigma = 1, and ~ 1/2 log(2 rho a_k^2) for large rho a_k^2, so the gap between features is
  g-independent only at leading order; at finite amplitude it moves with g, and a weak feature loses
  its onset altogether when rho(g) is small (docs/science.md §4's claim holds only asymptotically).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike
import sympy as sp

from .checks import InputError, check_array, check_positive, check_real
from . import symbolic
from .formula import Formula
from .symbolic import E, a, gate_g, lam, numeric, rho, sigma, t

SECTION = "§4"
DYNAMICS = ("ode", "sde")
_ROUTING_FACTOR = (1 - gate_g) / (1 + gate_g)               # rho(g), the Formula `routing_factor`
_HAND = E * (rho * lam / (lam * E + 1 - E) - 1) / (1 - E)   # docs/science.md §4 hand derivation (ODE)


def _check_g(g):
    return check_real("g", g, 0.0, hi_open=True)


def _check_times(t):
    """OU times t > 0 (a number or an array) as an array; InputError naming the first bad one."""
    tt = check_array("t", t)
    if np.any(tt <= 0):
        raise InputError(f"t={float(tt[tt <= 0].flat[0]):g} is outside the allowed range (0, inf)")
    return tt


def _check_dynamics(dynamics):
    if dynamics not in DYNAMICS:
        raise InputError(f"dynamics={dynamics!r} is not one of 'ode', 'sde'")
    return dynamics


def _rate(slope, dynamics):
    """Difference rate r from the slope e^{-t} D'(x) of the routed posterior mean (symbols E = e^{-2t})."""
    k = 1 if dynamics == "ode" else 2
    return 1 + k * (rho * slope - 1) / (1 - E)


@lru_cache(maxsize=None)
def _derive() -> dict:
    """Derive the difference rates from the gated drift of the pair, by differentiation."""
    xA, xB, m, dl, y = sp.symbols("x_A x_B m delta y", real=True)
    tt = sp.Symbol("t", positive=True)
    e, Dt = sp.exp(-tt), 1 - sp.exp(-2 * tt)
    # Gaussian data N(0, lambda): E[x_0 | x_t] = Cov(x_0, x_t)/Var(x_t) x = lambda e^{-t} x / Gamma
    D_gauss = lambda x: lam * e / (lam * e**2 + Dt) * x
    # sign mixture a s + sigma eps along one feature (theory/data.py posterior mean)
    gam = sigma**2 * e**2 + Dt
    cc = sigma**2 * e / gam

    def D_mix(x):
        mm = sp.tanh(a * e * x / gam)
        return a * mm + cc * (x - e * a * mm)

    out = {}
    gg = sp.Symbol("g", nonnegative=True)
    for name, D in (("gauss", D_gauss), ("mix", D_mix)):
        for dyn, k in (("ode", 1), ("sde", 2)):
            DA = (D(xA) + gg * D(xB)) / (1 + gg)
            DB = (D(xB) + gg * D(xA)) / (1 + gg)
            fA = xA + k * (e * DA - xA) / Dt
            fB = xB + k * (e * DB - xB) / Dt
            diff = (fA - fB).subs({xA: m + dl / 2, xB: m - dl / 2})
            r = sp.diff(diff, dl).subs(dl, 0)                 # exact linearisation at x_A = x_B = m
            r = r.subs(gg, (1 - rho) / (1 + rho))             # express through rho(g)
            r = r.subs(tt, -sp.log(E) / 2)
            out[(name, dyn)] = sp.simplify(r) if name == "gauss" else r.subs(m, 0)
    return out


@lru_cache(maxsize=None)
def _rates() -> dict:
    der = _derive()
    gam = lam * E + 1 - E
    r_ode = E * (rho * lam / gam - 1) / (1 - E)
    r_sde = 1 + 2 * (rho * lam * E / gam - 1) / (1 - E)
    assert sp.simplify(der[("gauss", "ode")] - r_ode) == 0
    assert sp.simplify(der[("gauss", "sde")] - r_sde) == 0
    assert sp.simplify(r_ode - _HAND) == 0                       # docs/science.md §4 hand form verified
    # undecided point of the sign mixture: slope e^{-t} D'(0) = sigma^2 E/Gamma + a^2 E Delta/Gamma^2
    gm = sigma**2 * E + 1 - E
    slope = sigma**2 * E / gm + a**2 * E * (1 - E) / gm**2
    mix = {dyn: _rate(slope, dyn) for dyn in DYNAMICS}
    for dyn in DYNAMICS:
        check = sp.simplify(der[("mix", dyn)] - mix[dyn])
        assert check == 0 or abs(float(check.subs({E: 0.3, a: 2.1, sigma: 0.7, rho: 0.4}))) < 1e-12
    # sign changes for Gaussian data, solved in E = e^{-2t}
    (E_ode,) = sp.solve(sp.numer(sp.together(r_ode / E)), E)
    quad = sp.expand(-sp.numer(sp.together(r_sde)))
    E_sde = sp.solve(quad, E)
    # the pitchfork of the gated score field on the difference direction: rho e^{-t} D'(0) = 1
    pitch = sp.expand(sp.numer(sp.together(rho * slope - 1)))
    poly = {"ode": sp.Poly(pitch, E),
            "sde": sp.Poly(sp.expand(sp.numer(sp.together(mix["sde"]))), E)}
    return {"r_ode": r_ode, "r_sde": r_sde, "E_ode": sp.simplify(E_ode), "quad_sde": quad, "E_sde": E_sde,
            "slope": slope, "mix": mix, "poly": poly, "pitch": pitch}


@lru_cache(maxsize=None)
def formulas() -> tuple[Formula, ...]:
    """Final forms of layer B (docs/science.md §4)."""
    R = _rates()
    et = sp.exp(-2 * t)
    to_t = {E: et}
    return (
        Formula("routing_factor", _ROUTING_FACTOR,
                "rho(g) = (1 - g)/(1 + g): the factor the gate puts on D(x_A) - D(x_B); g in [0, inf), "
                "rho in (-1, 1]; rho <= 0 for g >= 1.", SECTION),
        Formula("difference_growth_rate_ode", R["r_ode"].subs(to_t),
                "probability-flow ODE, Gaussian data with covariance eigenvalue lambda on mode k, reverse "
                "time; exact (the gated drift is linear). Agrees with docs/science.md §4's hand derivation "
                "r_k = e^{-2t}(rho lambda_k/Gamma_k - 1)/Delta_t, Gamma_k = lambda_k e^{-2t} + Delta_t.", SECTION,
                note="verified: SymPy reproduces the hand-derived r_k of docs/science.md §4 exactly."),
        Formula("difference_growth_rate_sde", R["r_sde"].subs(to_t),
                "reverse SDE (drift x + 2 s), Gaussian data, linear drift of the mean difference; "
                "the noise adds 4 dtau to Var(delta) per unit reverse time.", SECTION),
        Formula("growth_sign_change_time_ode", sp.log(1 / R["E_ode"]) / 2,
                "ODE, Gaussian data: r_k = 0 at this t (> 0 only for lambda > 1, rho lambda > 1 and "
                "rho < 1); r_k > 0 before it (larger t) and < 0 after. No sign change at g = 0.", SECTION),
        Formula("growth_sign_change_equation_sde", sp.Eq(R["quad_sde"].subs(E, sp.Symbol("E")), 0),
                "SDE, Gaussian data: r_k = 0 where E = e^{-2t} solves this quadratic, roots "
                "E = [lambda(2 rho - 1) -+ sqrt(lambda^2 (2 rho - 1)^2 - 4 (lambda - 1))]/(2(lambda - 1)) "
                "in (0, 1). At g = 0: t = 1/2 log(lambda - 1) (lambda > 2).", SECTION),
        Formula("undecided_slope", R["slope"].subs(to_t),
                "sign mixture a s phi + sigma eps: e^{-t} dD/dy at y = phi.x = 0 (the undecided, "
                "replica-symmetric point), from the exact posterior mean of theory/data.py.", SECTION),
        Formula("gated_pitchfork", sp.Eq(sp.Symbol("rho") * sp.Symbol("J_k"), 1),
                "pitchfork of the gated score field on the difference direction at the undecided point "
                "(J_k = undecided_slope): at g = 0 it is Biroli's kappa_k = a_k^2 e^{-2t}/Gamma_t = 1 "
                "(u = kappa tanh u). Used as the ODE speciation criterion, because the ODE's own linearised "
                "rate E(rho J_k/E - 1)/Delta_t is positive at all large t when rho Lambda_k > 1 (no finite "
                "onset). Root: the smallest E in (0, 1) of the polynomial below (a documented numeric root).",
                SECTION),
        Formula("gated_pitchfork_polynomial", sp.Eq(R["pitch"], 0),
                "numerator of rho J_k - 1 in E = e^{-2t}; roots by numpy.roots, the onset is the smallest "
                "root in (0, 1) (largest t).", SECTION),
        Formula("gated_onset_sde_polynomial", sp.Eq(R["poly"]["sde"].as_expr(), 0),
                "reverse SDE, sign mixture: the difference rate r_SDE at the undecided point vanishes where "
                "this cubic in E = e^{-2t} does; the onset (r turns positive going down in t) is its "
                "smallest root in (0, 1). For large a and sigma = 1, t ~ 1/2 log(2 rho a^2): each feature "
                "shifts by the same 1/2 log(2 rho), so the gap in OU time is g-independent at leading order.",
                SECTION,
                note="partly disagrees with docs/science.md §4: the 1/2 log(2 rho) shift is exact only at g = 0 "
                     "and asymptotic for large rho a^2; at finite amplitude the gap moves with g and a feature "
                     "can lose its onset (rho(g) too small). Worked numbers: docs/derivations.md."),
    )


def _f(name):
    return next(f for f in formulas() if f.name == name)


def routing_factor(g: ArrayLike) -> float | np.ndarray:
    """rho(g) = (1 - g)/(1 + g), the factor the gate puts on a replica difference (docs/science.md §4-5).

    g in [0, inf) (a number or an array), rho in (-1, 1]. The one numeric rho(g) of the package (OU gate, DiT gate, fits),
    generated from this module's `routing_factor` Formula. The map x -> (1 - x)/(1 + x) is its own inverse
    (an involution: rho(rho(g)) = g), so g from rho is the same formula: `gate_for_routing_factor`.
    """
    if np.ndim(g) == 0:
        return float(numeric(_ROUTING_FACTOR, (gate_g,))(_check_g(g)))
    gv = check_array("g", g)
    if np.any(gv < 0):
        raise InputError(f"g={gv[gv < 0].flat[0]:g} is outside the allowed range [0, inf)")
    return np.asarray(numeric(_ROUTING_FACTOR, (gate_g,))(gv), dtype=float)


def gate_for_routing_factor(rho: ArrayLike) -> float | np.ndarray:
    """g(rho) = (1 - rho)/(1 + rho), the gate whose routing factor is rho (docs/science.md §4-5).

    rho in (-1, 1] (a number or an array), g in [0, inf). rho(g) = (1 - g)/(1 + g) is its own inverse, so this is
    `routing_factor`'s Formula evaluated at rho; its own range check, since rho < 0 (g > 1) is allowed here.
    """
    if np.ndim(rho) == 0:
        return float(numeric(_ROUTING_FACTOR, (gate_g,))(check_real("rho", rho, -1.0, 1.0, lo_open=True)))
    rv = check_array("rho", rho)
    if np.any((rv <= -1) | (rv > 1)):
        raise InputError(f"rho={rv[(rv <= -1) | (rv > 1)].flat[0]:g} is outside the allowed range (-1, 1]")
    return np.asarray(numeric(_ROUTING_FACTOR, (gate_g,))(rv), dtype=float)


def difference_growth_rate(t: ArrayLike, g: float, lam: float, dynamics: str = "ode") -> float | np.ndarray:
    """r_k(t; g) of the replica difference for Gaussian data, covariance eigenvalue lambda (docs/science.md §4).

    ODE: r = e^{-2t}(rho lambda/Gamma - 1)/Delta_t; SDE: r = 1 + 2(rho lambda e^{-2t}/Gamma - 1)/Delta_t,
    Gamma = lambda e^{-2t} + Delta_t, rho = (1-g)/(1+g), reverse time (r > 0: replicas separate).
    t > 0 (OU time, array allowed), g >= 0, lambda > 0.
    """
    tt = _check_times(t)
    r0 = routing_factor(g)
    lv = check_positive("lambda", lam)
    expr = _f(f"difference_growth_rate_{_check_dynamics(dynamics)}").expr
    out = numeric(expr, (symbolic.t, symbolic.rho, symbolic.lam))(tt, r0, lv)
    return float(out) if np.ndim(t) == 0 else np.asarray(out, dtype=float)


def growth_sign_change_time(g: float, lam: float, dynamics: str = "ode") -> float | None:
    """First t (largest, i.e. earliest in generation) where r_k(t; g) changes sign; None if never (§4).

    ODE: t* = 1/2 log((lambda - 1)/(rho lambda - 1)), defined for lambda > 1, rho lambda > 1, g > 0.
    SDE: roots E = e^{-2t} in (0, 1) of (lambda - 1) E^2 + lambda (1 - 2 rho) E + 1 = 0.
    """
    r0 = routing_factor(g)
    lv = check_positive("lambda", lam)
    R = _rates()
    if _check_dynamics(dynamics) == "ode":
        if not (lv > 1 and r0 * lv > 1 and r0 < 1):
            return None
        return float(numeric(_f("growth_sign_change_time_ode").expr, (symbolic.rho, symbolic.lam))(r0, lv))
    coeffs = [float(cf.subs({symbolic.rho: r0, symbolic.lam: lv})) for cf in sp.Poly(R["quad_sde"], symbolic.E).all_coeffs()]
    roots = [z.real for z in np.roots(coeffs) if abs(z.imag) < 1e-12 and 1e-300 < z.real < 1 - 1e-12]
    return 0.5 * math.log(1.0 / min(roots)) if roots else None


def undecided_growth_rate(t: ArrayLike, g: float, amplitude: float, noise_std: float,
                          dynamics: str = "sde") -> float | np.ndarray:
    """r(t; g) of the replica difference at the undecided point y = 0 of a sign mixture (docs/science.md §4).

    r = 1 + k (rho J(t) - 1)/Delta_t, k = 1 (ODE) or 2 (SDE), J = e^{-t} D'(0) the `undecided_slope`
    sigma^2 e^{-2t}/Gamma_t + a^2 e^{-2t} Delta_t/Gamma_t^2. t > 0 (OU time, array allowed), g >= 0.
    """
    tt = _check_times(t)
    r0 = routing_factor(g)
    amp = check_positive("amplitude", amplitude)
    s = check_positive("noise_std", noise_std)
    expr = _rates()["mix"][_check_dynamics(dynamics)].subs(symbolic.E, sp.exp(-2 * symbolic.t))
    out = numeric(expr, (symbolic.t, symbolic.rho, symbolic.a, symbolic.sigma))(tt, r0, amp, s)
    return float(out) if np.ndim(t) == 0 else np.asarray(out, dtype=float)


def gated_speciation_time(g: float, amplitude: float, noise_std: float, dynamics: str = "sde") -> float | None:
    """Per-feature onset t_S,k(g) for the gated pair on a sign mixture a s phi + sigma eps (docs/science.md §4).

    Linearisation at the undecided, replica-symmetric point (y = phi.x = 0), slope J = e^{-t} D'(0).
    sde: the largest t where r_SDE = 1 + 2(rho J - 1)/Delta_t turns positive (root of a cubic in e^{-2t}).
    ode: the gated pitchfork rho J = 1 (Biroli's kappa = 1 at g = 0; see `formulas()` for why the
    ODE's own rate gives no finite onset). Returns None when there is no onset (e.g. rho <= 0, g >= 1).
    """
    r0 = routing_factor(g)
    amp = check_positive("amplitude", amplitude)
    s = check_positive("noise_std", noise_std)
    poly = _rates()["poly"][_check_dynamics(dynamics)]
    if r0 <= 0:                  # rho J - 1 < 0 for every t (J >= 0): r_SDE < 1 - 2/Delta < -1 and the ODE never turns
        return None
    # Balance the cubic in E = c u before going to floats (in 30-digit arithmetic): at large a or sigma
    # its coefficients span hundreds of decades (sigma^6) and the onset root E = e^{-2t} is tiny.
    exact = [sp.N(cf.subs({symbolic.rho: r0, symbolic.a: amp, symbolic.sigma: s}), 30) for cf in poly.all_coeffs()]
    while exact and exact[0] == 0:
        exact.pop(0)
    n = len(exact) - 1
    c = (abs(exact[-1] / exact[0])) ** (sp.Integer(1) / n) if n > 0 and exact[-1] != 0 else sp.Integer(1)
    scaled = [cf * c ** (n - i) for i, cf in enumerate(exact)]
    top = max(abs(cf) for cf in scaled) if scaled else 1
    coeffs = [float(cf / top) for cf in scaled]
    cf_ = float(c)
    roots = sorted(cf_ * z.real for z in np.roots(coeffs)
                   if abs(z.imag) < 1e-9 * max(1.0, abs(z)) and 0 < cf_ * z.real < 1 - 1e-12)
    rate = numeric(_f("undecided_slope").expr, (symbolic.t, symbolic.a, symbolic.sigma))
    if dynamics == "sde":
        f = lambda x, j: 1 + 2 * (r0 * j - 1) / (-np.expm1(-2 * x))
    else:
        f = lambda x, j: r0 * j - 1
    for e2 in roots:                                   # smallest E first = largest t
        tt = 0.5 * math.log(1 / e2)
        lo, hi = tt * (1 + 1e-6) + 1e-9, max(tt * (1 - 1e-6) - 1e-9, 1e-12)
        j_lo, j_hi = rate(lo, amp, s), rate(hi, amp, s)   # crossing must go from stable to unstable
        if f(lo, j_lo) < 0 <= f(hi, j_hi):
            return tt
    return _onset_by_bracketing(lambda x: f(x, rate(x, amp, s)), math.log(max(amp, s, 1.0)) + 30.0)


def _onset_by_bracketing(f, t_max: float, n: int = 4000):
    """Largest t in (0, t_max] where f turns from < 0 (larger t) to >= 0, by a log grid and brentq; else None.

    The fallback of `gated_speciation_time` when float roots of its cubic miss a tiny E = e^{-2t}
    (amplitudes or noise beyond ~1e20, where the coefficients span hundreds of decades).
    """
    from scipy.optimize import brentq

    ts = np.geomspace(1e-9, t_max, n)
    with np.errstate(all="ignore"):
        vals = np.asarray(f(ts), dtype=float) * np.ones(n)     # f is vectorised over t
    for i in range(n - 1, 0, -1):
        if vals[i] < 0 <= vals[i - 1]:
            return float(brentq(lambda x: float(f(x)), ts[i - 1], ts[i], xtol=1e-14, rtol=1e-13))
    return None


def gated_gap(g: float, amplitudes: ArrayLike, noise_std: float, dynamics: str = "sde") -> dict:
    """Per-feature onsets and the gap t_S(strongest) - t_S(weakest) in OU time (docs/science.md §4).

    Returns {"g", "rho", "t_S" (list, None where no onset), "gap" (None if either end has none)}.
    """
    amps = check_array("amplitudes", amplitudes, ndim=1)
    if amps.size < 2 or np.any(amps <= 0):
        raise InputError("amplitudes must list at least 2 numbers > 0")
    ts = [gated_speciation_time(g, float(x), noise_std, dynamics) for x in amps]
    i, j = int(np.argmax(amps)), int(np.argmin(amps))
    gap = None if ts[i] is None or ts[j] is None else ts[i] - ts[j]
    return {"g": float(g), "rho": routing_factor(g), "dynamics": dynamics, "amplitudes": amps.tolist(),
            "t_S": ts, "gap": gap}
