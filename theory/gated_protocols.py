"""Theory of the protocol variants (docs/protocols.md) for the exact-score gated analog, derived with SymPy.

Conventions as theory/gated.py (docs/science.md §4): OU time t (reverse runs t down), Delta_t = 1 - e^{-2t},
posterior mean D(x) = E[x_0 | x_t = x], gate D_A <- (D(x_A) + g D(x_B))/(1 + g), rho(g) = (1 - g)/(1 + g).
DDIM (eta = 0) step t -> t' < t, as ou_models/engine.py:  x' = e^{-t'} D + sqrt(Delta'/Delta) (x - e^{-t} D).

Derived here (each by SymPy, each checked against simulation in tests/theory/test_theory_gated_protocols.py):
1. The gate's modes: [[1, g], [g, 1]]/(1 + g) keeps the replica sum (factor 1) and scales the difference
   by rho(g) (docs/science.md §8).
2. The DDIM difference multiplier per step, linearised at a replica-symmetric state, for a mode whose
   posterior-mean slope is e^{-t} D' = e^{-2t} lambda/Gamma (Gaussian data, Gamma = lambda e^{-2t} + Delta):
       m(rho) = (1 - rho) sqrt(Delta'/Delta) + rho m_0,   m_0 = sqrt(Delta'/Delta) + (e^{-t'} - sqrt(Delta'/Delta) e^{-t}) e^{-t} lambda/Gamma,
   linear in rho between the uncoupled multiplier m_0 and sqrt(Delta'/Delta). At g = 1 (rho = 0) it does not
   depend on the data, and the product over steps 0..s telescopes to sqrt(Delta_s/Delta_0) (= sqrt(1 - alpha_bar_s)
   for Delta_0 -> 1): the coupled phase synchronises almost nothing. For general g the product does not
   telescope; its continuous-time limit is
       P(t0 -> t) = (Delta_t/Delta_t0)^{(1-rho)/2} (Gamma_t/Gamma_t0)^{rho/2},
   whose log-derivative in reverse time is theory.gated's r_ODE = e^{-2t}(rho lambda/Gamma - 1)/Delta_t.
3. Release: after release each replica runs alone, so the final sign of a feature is set by its own state at
   release: under the exact stochastic sampler it is a draw from the class posterior
   P(s = +1 | y) = 1/(1 + exp(-2 a e^{-t} y / v_t)), v_t = sigma^2 e^{-2t} + Delta_t, independently per replica;
   under DDIM (a monotone 1-D flow, odd in y) it is sign(y). Agreement after release is E[p_A p_B + q_A q_B]
   (resp. P(sign y_A = sign y_B)) over the joint release state: g acts only through that state.
4. Switch-on: from t_int on the gated step runs to t' = 0, where DDIM and DDPM both return the gated D
   itself; the final difference is rho(g)(D(x_A) - D(x_B)), exactly 0 at g = 1 (agreement 1 at every t_int).
5. The gap ratio of the linear-margin mode model (theory/routing.py's _mode_model) with per-mode margin slopes
   beta_k: exactly (rho + eta_beta)/(1 + eta_beta) with the slope-weighted contrast eta_beta; bounded by
   (|rho| + eta_max)/(1 - eta_max) when |eta_beta| <= eta_max < 1. The unweighted (eta, kappa) admit no bound
   below 1 at g = 1 (the limit b -> inf gives ratio -> 1), which is why routing.gap_ratio_bound is false for
   per-mode slopes. It holds when both modes share one margin curve (slope within a factor kappa between
   the crossings): by the mean value theorem the ratio is (rho + eta)/(1 + eta) mbar_0/mbar_g.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike
import sympy as sp

from .checks import InputError, check_array, check_int, check_positive, check_real
from .formula import Formula
from .gated import routing_factor
from .schedules import delta
from . import symbolic
from .symbolic import g, lam, numeric, rho, t

SECTION = "§4"
tp = sp.Symbol("t'", positive=True)       # the step's target OU time, t' < t


def _delta(x):
    return 1 - sp.exp(-2 * x)


@lru_cache(maxsize=None)
def _gate_modes() -> dict:
    """Eigen-decomposition of the gate: factor on the sum (1, 1) and on the difference (1, -1)."""
    G = sp.Matrix([[1, g], [g, 1]]) / (1 + g)
    s, d = sp.Matrix([1, 1]), sp.Matrix([1, -1])
    f_sum, f_diff = sp.simplify((G * s)[0]), sp.simplify((G * d)[0])
    if sp.simplify(G * s - f_sum * s) != sp.zeros(2, 1) or sp.simplify(G * d - f_diff * d) != sp.zeros(2, 1):
        raise RuntimeError("(1, 1) and (1, -1) are not eigenvectors of the gate")
    return {"sum": f_sum, "difference": f_diff}


@lru_cache(maxsize=None)
def _ddim_multiplier() -> dict:
    """Difference multiplier of one gated DDIM step for a linear posterior mean, and its limits."""
    x_a, x_b = sp.symbols("x_A x_B", real=True)
    Dl, Dn = _delta(t), _delta(tp)
    Gam = lam * sp.exp(-2 * t) + Dl
    D = lambda x: sp.exp(-t) * lam * x / Gam          # E[x_0 | x_t = x] for variance lambda along the mode
    Dg_a = (D(x_a) + g * D(x_b)) / (1 + g)
    Dg_b = (D(x_b) + g * D(x_a)) / (1 + g)
    step = lambda x, Dg: sp.exp(-tp) * Dg + sp.sqrt(Dn / Dl) * (x - sp.exp(-t) * Dg)
    mult = sp.simplify((step(x_a, Dg_a) - step(x_b, Dg_b)) / (x_a - x_b))
    a_k = sp.sqrt(Dn / Dl)
    m0 = a_k + (sp.exp(-tp) - a_k * sp.exp(-t)) * sp.exp(-t) * lam / Gam
    form = (1 - rho) * a_k + rho * m0
    if sp.simplify(mult - form.subs(rho, (1 - g) / (1 + g))) != 0:
        raise RuntimeError("the gated DDIM multiplier is not (1 - rho) sqrt(D'/D) + rho m_0")
    if sp.simplify(mult.subs(g, 1) - a_k) != 0:
        raise RuntimeError("at g = 1 the multiplier is not sqrt(Delta'/Delta)")
    # continuous limit: log P = (1-rho)/2 log Delta_t + rho/2 log Gamma_t (+ const); reverse-time rate
    logP = (1 - rho) / 2 * sp.log(Dl) + rho / 2 * sp.log(Gam)
    rate = sp.simplify(-sp.diff(logP, t))
    r_ode = sp.exp(-2 * t) * (rho * lam / Gam - 1) / Dl
    if sp.simplify(rate - r_ode) != 0:
        raise RuntimeError("the continuous propagator's rate is not theory.gated's r_ODE")
    t0 = sp.Symbol("t_0", positive=True)
    P = (Dl / _delta(t0)) ** ((1 - rho) / 2) * (Gam / Gam.subs(t, t0)) ** (rho / 2)
    return {"multiplier": form, "uncoupled": m0, "g1": a_k, "propagator": P, "rate": r_ode, "t0": t0}


@lru_cache(maxsize=None)
def _slope_model() -> dict:
    """Commitment steps s_k = (b_k - rho chi_k - pi_k)/beta_k of two modes (lo: global, hi: local)."""
    b_lo, b_hi, c_lo, c_hi, p_lo, p_hi = sp.symbols("b_lo b_hi chi_lo chi_hi pi_lo pi_hi", real=True)
    be_lo, be_hi = sp.symbols("beta_lo beta_hi", positive=True)
    commit = lambda b, c, p, be: (b - rho * c - p) / be
    gap = commit(b_hi, c_hi, p_hi, be_hi) - commit(b_lo, c_lo, p_lo, be_lo)
    blind = (b_hi - p_hi) / be_hi - (b_lo - p_lo) / be_lo          # the g-independent part, in steps
    contrast = c_lo / be_lo - c_hi / be_hi                          # the routing contrast, in steps
    eta_b = sp.Symbol("eta_beta", real=True)
    ratio = sp.simplify(gap / gap.subs(rho, 1))
    if sp.simplify(ratio - ((rho + blind / contrast) / (1 + blind / contrast))) != 0:
        raise RuntimeError("the gap ratio is not (rho + eta_beta)/(1 + eta_beta)")
    # equal slopes: eta_beta is the unweighted eta = [(pi_lo - pi_hi) - (b_lo - b_hi)]/(chi_lo - chi_hi)
    be = sp.Symbol("beta", positive=True)
    eta_eq = sp.simplify((blind / contrast).subs({be_lo: be, be_hi: be}))
    eta_unweighted = ((p_lo - p_hi) - (b_lo - b_hi)) / (c_lo - c_hi)
    if sp.simplify(eta_eq - eta_unweighted) != 0:
        raise RuntimeError("with equal slopes eta_beta should reduce to eta")
    # no bound from (eta, kappa): eta = 0 (b and pi equal), chi = (1, 0), beta = (kappa, 1), b -> inf
    kap, bb = sp.Symbol("kappa", positive=True), sp.Symbol("b", positive=True)
    example = {b_lo: bb, b_hi: bb, p_lo: 0, p_hi: 0, c_lo: 1, c_hi: 0, be_lo: kap, be_hi: 1}
    at_g1 = sp.simplify(ratio.subs(example).subs(rho, 0))
    limit = sp.limit(at_g1, bb, sp.oo)
    # one margin curve M(s) shared by both modes (offsets o_k = b_k(0)): M(s_k) = rho chi_k + pi_k - o_k.
    # Mean value theorem: M(s_lo) - M(s_hi) = mbar (s_hi - s_lo), mbar = -M' somewhere between the crossings.
    d_chi, eta, mb0, mbg, gap_sym = sp.symbols("Delta_chi eta mbar_0 mbar_g gap", real=True)
    crossing_diff = rho * (c_lo - c_hi) + (p_lo - p_hi) - (b_lo - b_hi)
    common = {c_lo: c_hi + d_chi, p_lo: p_hi + eta * d_chi + (b_lo - b_hi)}     # eta's definition
    gap_g = sp.solve(sp.Eq(mbg * gap_sym, crossing_diff.subs(common)), gap_sym)[0]
    ratio_common = sp.simplify(gap_g / gap_g.subs({rho: 1, mbg: mb0}))
    if sp.simplify(ratio_common - (rho + eta) / (1 + eta) * mb0 / mbg) != 0:
        raise RuntimeError("common-margin ratio is not (rho + eta)/(1 + eta) mbar_0/mbar_g")
    return {"ratio": (rho + eta_b) / (1 + eta_b), "eta_beta": blind / contrast, "eta_beta_sym": eta_b,
            "ratio_common": ratio_common,
            "example_g1": at_g1, "example_limit": limit,
            "symbols": (b_lo, b_hi, c_lo, c_hi, p_lo, p_hi, be_lo, be_hi)}


@lru_cache(maxsize=None)
def formulas() -> tuple[Formula, ...]:
    """The derived expressions of this module in final form (for docs and `syncgap theory --latex`)."""
    gm, dd, sm = _gate_modes(), _ddim_multiplier(), _slope_model()
    eta_max = sp.Symbol("eta_max", nonnegative=True)
    gate = "gate D_A <- (D(x_A) + g D(x_B))/(1 + g), g >= 0"
    lin = (f"{gate}; one DDIM step t -> t', linearised at x_A = x_B, mode with posterior-mean slope "
           "e^{-2t} lambda/Gamma (Gaussian data), Gamma = lambda e^{-2t} + Delta_t, rho = rho(g)")
    return (
        Formula("gate_sum_factor", gm["sum"], f"{gate}; factor on D(x_A) + D(x_B)", "§8"),
        Formula("gate_difference_factor", gm["difference"], f"{gate}; factor on D(x_A) - D(x_B)", "§8",
                "equal to theory.gated.routing_factor"),
        Formula("ddim_difference_multiplier", dd["multiplier"], lin, SECTION,
                "at g = 1: sqrt(Delta'/Delta) for any data; the product over steps telescopes"),
        Formula("continuous_difference_propagator", dd["propagator"], f"{lin}; continuous-time limit t_0 -> t",
                SECTION, "its reverse-time log-derivative is theory.gated's r_ODE (checked by SymPy)"),
        Formula("gap_ratio_slopes", sm["ratio"], "linear margins b_k - beta_k s - rho chi_k - pi_k; eta_beta = "
                f"{sp.sstr(sm['eta_beta'])} (slope-weighted)", "§5",
                "replaces routing.gap_ratio_bound's hand-typed form; equal slopes give eta_beta = eta"),
        Formula("gap_ratio_common_margin", sm["ratio_common"], "one margin curve M(s) shared by both modes, "
                "offsets b_k(0); mbar_0, mbar_g = -M' at mean-value points between the two crossings at g = 0 "
                "and at g; eta = [(pi_lo - pi_hi) - (b_lo(0) - b_hi(0))]/(chi_lo - chi_hi)", "§5"),
        Formula("gap_ratio_bound_common_margin",
                sp.Symbol("kappa", positive=True) * (sp.Abs(rho) + eta_max) / (1 - eta_max),
                "|gap ratio| <= this for a common margin curve whose slope lies in [beta_min, beta_max] over "
                "both crossing windows, kappa = beta_max/beta_min, |eta| <= eta_max < 1", "§5",
                "routing.gap_ratio_bound's expression, true under these assumptions only; false for per-mode "
                "slopes (b = 10, chi = (1, 0), eta = 0, beta = (2, 1): true ratio 10/11 at g = 1, bound 0)"),
        Formula("gap_ratio_bound_slopes", (sp.Abs(rho) + eta_max) / (1 - eta_max),
                "|gap ratio| <= this when |eta_beta| <= eta_max < 1 (triangle inequality on the exact ratio)", "§5",
                "no bound exists in the unweighted eta and the slope ratio kappa alone"),
    )


def _f(name):
    return next(f for f in formulas() if f.name == name)


# ---------------------------------------------------------------- numeric functions

def gate_factors(g: float) -> tuple[float, float]:
    """(sum factor, difference factor) of the gate: (1, rho(g)) (docs/science.md §8)."""
    gv = check_real("g", g, 0.0, hi_open=True)
    gm = _gate_modes()
    return float(gm["sum"].subs(symbolic.g, gv)), float(numeric(gm["difference"], (symbolic.g,))(gv))


def ddim_difference_multipliers(grid: ArrayLike, g: float, lam: float) -> np.ndarray:
    """(N,) per-step multipliers of the replica difference under gated DDIM on a decreasing OU grid.

    m_k = (1 - rho) sqrt(Delta_{k+1}/Delta_k) + rho m_0,k (`ddim_difference_multiplier`); lam the mode's
    data variance (Gaussian; a sign feature's a^2 + sigma^2 at the undecided point). The last point may be 0.
    """
    grid = check_array("grid", grid, ndim=1)
    if grid.size < 2 or np.any(np.diff(grid) >= 0) or grid[-2] <= 0 or grid[-1] < 0:
        raise InputError("grid must be a strictly decreasing array of OU times, > 0 but for the last (>= 0)")
    r0, lv = routing_factor(g), check_positive("lambda", lam)
    f = numeric(_f("ddim_difference_multiplier").expr, (symbolic.t, tp, rho, symbolic.lam))
    with np.errstate(divide="ignore"):
        return np.asarray(f(grid[:-1], grid[1:], r0, lv), dtype=float)


def ddim_difference_propagator(grid: ArrayLike, g: float, lam: float, steps: int) -> float:
    """Product of the first `steps` multipliers: how much the coupled phase scales the difference."""
    m = ddim_difference_multipliers(grid, g, lam)
    steps = check_int("steps", steps, 0, m.size)
    return float(np.prod(m[:steps]))


def release_synchronisation_g1(grid: ArrayLike, steps: int) -> float:
    """At g = 1 the product telescopes: sqrt(Delta(t_steps)/Delta(t_0)) (= sqrt(1 - alpha_bar) for t_0 >> 1)."""
    grid = check_array("grid", grid, ndim=1)
    steps = check_int("steps", steps, 0, grid.size - 1)
    return float(np.sqrt(delta(grid[steps]) / delta(grid[0])))


def continuous_difference_propagator(t0: float, t: ArrayLike, g: float, lam: float) -> float | np.ndarray:
    """(Delta_t/Delta_t0)^{(1-rho)/2} (Gamma_t/Gamma_t0)^{rho/2}: the ODE's difference propagator t0 -> t."""
    t0 = check_real("t0", t0, 0.0, lo_open=True)
    tt = check_array("t", t)
    if np.any(tt <= 0) or np.any(tt > t0):
        raise InputError(f"t must lie in (0, t0={t0:g}]")
    dd = _ddim_multiplier()
    out = numeric(dd["propagator"], (dd["t0"], symbolic.t, rho, symbolic.lam))(t0, tt, routing_factor(g), check_positive("lambda", lam))
    return float(out) if np.ndim(t) == 0 else np.asarray(out, dtype=float)


def class_posterior(y: ArrayLike, t: float, amplitude: float, noise_std: float = 1.0) -> float | np.ndarray:
    """P(s = +1 | y_t = y) of a sign feature a s + sigma eps at OU time t: 1/(1 + exp(-2 a e^{-t} y / v_t))."""
    y = check_array("y", y)
    tt = check_real("t", t, 0.0, lo_open=True)
    a_, s_ = check_positive("amplitude", amplitude), check_positive("noise_std", noise_std)
    v = s_ * s_ * np.exp(-2 * tt) + float(delta(tt))
    return 0.5 * (1.0 + np.tanh(a_ * np.exp(-tt) * y / v))


def release_agreement(y_a: ArrayLike, y_b: ArrayLike, t: float, amplitude: float, noise_std: float = 1.0,
                      sampler: str = "ddpm") -> float:
    """Predicted agreement of the final signs after release at OU time t from the release states y_a, y_b.

    Stochastic exact sampler: each replica's final sign is an independent draw from the class posterior,
    agreement E[p_A p_B + (1 - p_A)(1 - p_B)]; DDIM: the sign is kept, agreement P(sign y_A = sign y_B).
    """
    y_a, y_b = check_array("y_a", y_a), check_array("y_b", y_b)
    if y_a.shape != y_b.shape:
        raise InputError(f"y_a and y_b must have one shape, got {y_a.shape} and {y_b.shape}")
    if sampler == "ddim":
        return float(np.mean(np.sign(y_a) == np.sign(y_b)))
    if sampler not in ("ddpm", "sde"):
        raise InputError(f"sampler must be 'ddpm', 'sde' or 'ddim', got {sampler!r}")
    p_a, p_b = class_posterior(y_a, t, amplitude, noise_std), class_posterior(y_b, t, amplitude, noise_std)
    return float(np.mean(p_a * p_b + (1 - p_a) * (1 - p_b)))


def switch_on_final_difference_factor(g: float) -> float:
    """Factor on D(x_A) - D(x_B) in the final outputs after switch-on (step to t' = 0 returns the gated D): rho(g)."""
    return gate_factors(g)[1]


def slope_weighted_contrast(b: ArrayLike, chi: ArrayLike, pi: ArrayLike, beta: ArrayLike) -> float:
    """eta_beta = [(b_hi - pi_hi)/beta_hi - (b_lo - pi_lo)/beta_lo] / (chi_lo/beta_lo - chi_hi/beta_hi).

    Each argument a pair (lo, hi): lo the global mode (committing first), hi the local one.
    """
    b, chi, pi, beta = (check_array(n, v, ndim=1) for n, v in (("b", b), ("chi", chi), ("pi", pi), ("beta", beta)))
    if any(x.size != 2 for x in (b, chi, pi, beta)) or np.any(beta <= 0):
        raise InputError("b, chi, pi, beta must each be a pair (lo, hi), beta > 0")
    sm = _slope_model()
    f = numeric(sm["eta_beta"], sm["symbols"])
    den = chi[0] / beta[0] - chi[1] / beta[1]
    if den == 0:
        raise InputError("chi_lo/beta_lo = chi_hi/beta_hi: no routing contrast, the gap does not depend on g")
    return float(f(b[0], b[1], chi[0], chi[1], pi[0], pi[1], beta[0], beta[1]))


def gap_ratio_slopes(g: float, eta_beta: float) -> float:
    """Exact gap(g)/gap(0) = (rho(g) + eta_beta)/(1 + eta_beta) of the linear-margin mode model."""
    e = check_real("eta_beta", eta_beta)
    if e == -1.0:
        raise InputError("eta_beta = -1: the gap at g = 0 is 0, the ratio is undefined")
    return float(numeric(_f("gap_ratio_slopes").expr, (rho, _slope_model()["eta_beta_sym"]))(routing_factor(g), e))


def gap_ratio_bound_common_margin(g: float, eta_max: float = 0.0, kappa: float = 1.0) -> float:
    """kappa (|rho(g)| + eta_max)/(1 - eta_max): bound on |gap ratio| when both modes share one margin curve.

    Assumptions (`gap_ratio_common_margin`): the margins are M(s) + b_k(0) with one decreasing M whose slope
    lies in [beta_min, beta_max] (kappa = beta_max/beta_min) between the crossings, |eta| <= eta_max < 1.
    Per-mode slopes break it; use `gap_ratio_slopes` for per-mode linear margins.
    """
    e = check_real("eta_max", eta_max, 0.0, 1.0, hi_open=True)
    k = check_real("kappa", kappa, 1.0, np.inf)
    f = numeric(_f("gap_ratio_bound_common_margin").expr,
                (rho, sp.Symbol("eta_max", nonnegative=True), sp.Symbol("kappa", positive=True)))
    return float(f(routing_factor(g), e, k))


def gap_ratio_bound_slopes(g: float, eta_max: float) -> float:
    """(|rho(g)| + eta_max)/(1 - eta_max): bound on |gap ratio| under |eta_beta| <= eta_max < 1."""
    e = check_real("eta_max", eta_max, 0.0, 1.0, hi_open=True)
    f = numeric(_f("gap_ratio_bound_slopes").expr, (rho, sp.Symbol("eta_max", nonnegative=True)))
    return float(f(routing_factor(g), e))
