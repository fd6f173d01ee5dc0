"""Mode model of the coupled DiT's replica difference and its gap against the gate g (docs/science.md §5).

Built on the linearised attention of `theory.attention` (routing gain chi_k, pattern gain pi_k):
    r_k(g) = rho(g) chi_k + pi_k + lambda_k^MLP - gamma mu_k             growth rate of mode k per step
    SNR_k = m_k^2 mu_k^2 / (gamma mu_k - lambda_k^MLP - rho(g) chi_k - pi_k)
    Delta s(g)/Delta s(0) = (rho(g) + eta)/(1 + eta)                     predicted gap ratio
with eta the frequency-blind-to-routing contrast; the bound, the collapse coupling (1+eta)/(1-eta) and
the critical coupling follow. Symbols are ours (docs/science.md's m, mu, c, eta, gamma were not
recovered); the derivation is in docs/derivations.md.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike
import sympy as sp

from .attention import check_gate_strength, first_order_coefficients
from .checks import InputError, check_positive, check_real
from .formula import Formula
from .gated import routing_factor  # noqa: F401  rho(g): one function for both gates
from .symbolic import gate_g

# ---------------------------------------------------------------- symbols (ours)

_chi = sp.Symbol(r"\chi_k", real=True)                 # routing gain of mode k (value + key), ours
_pi = sp.Symbol(r"\pi_k", real=True)                  # pattern (query) gain of mode k, ours
_gamma = sp.Symbol(r"\gamma", positive=True)           # restoring rate per unit signal, ours
_mu = sp.Symbol(r"\mu_k", positive=True)               # signal amplitude of mode k, ours
_lam = sp.Symbol(r"\lambda_k^{\mathrm{MLP}}", real=True)  # tokenwise MLP gain on mode k, ours
_m = sp.Symbol("m_k", real=True)                       # readout overlap of mode k (noise forcing), ours
_eta = sp.Symbol(r"\eta", real=True)                   # frequency-blind-to-routing contrast, ours
_gap0 = sp.Symbol(r"\Delta s_0", positive=True)        # predicted gap at g = 0, in sampler steps
_RHO = sp.Function(r"\rho")(gate_g)                    # ρ(g) in printed mode formulas = routing_factor


# ---------------------------------------------------------------- the mode model

def _as(display, derived):
    """Return `display` (written with ρ(g)) after checking that it equals the derived expression."""
    if sp.simplify(display.subs(_RHO, first_order_coefficients("paper")["value"]) - derived) != 0:
        raise RuntimeError(f"display form {display} differs from derived {derived}")
    return display


@lru_cache(maxsize=None)
def _mode_model() -> dict:
    """Per-mode growth rate, SNR, predicted gap ratio, bound and critical coupling (SymPy)."""
    c = first_order_coefficients("paper")
    rho = c["value"]
    if sp.simplify(c["key"] - rho) != 0:
        raise RuntimeError("key and value routing factors differ; the mode model assumes they agree")
    # attention gain on mode k: u_k^T (ρ R + c_Q P) u_k = ρ χ_k + c_Q π_k; the 2 of (O_A - O_B) = 2(...)δx
    # is the half-difference convention: δx is half the replica difference, as δV is.
    rate = rho * _chi + c["query"] * _pi + _lam - _gamma * _mu
    # stationary variance of dy = r y ds + m μ dW solves the Lyapunov equation 2 r var + m²μ² = 0
    var = sp.Symbol("v", positive=True)
    var_inf = sp.solve(sp.Eq(2 * rate * var + _m**2 * _mu**2, 0), var)[0]
    snr = sp.simplify(2 * var_inf)
    # commitment step s_k where the margin b_k(s) - ρχ_k - c_Q π_k, b_k(s) = b_k(0) - β s, crosses 0.
    s_sym, beta = sp.Symbol("s", real=True), sp.Symbol(r"\beta", positive=True)
    b_lo, b_hi = sp.symbols("b_lo b_hi", real=True)
    chi_lo, chi_hi, pi_lo, pi_hi = sp.symbols("chi_lo chi_hi pi_lo pi_hi", real=True)

    def commit_step(b0, ch, p):
        return sp.solve(sp.Eq(b0 - beta * s_sym - rho * ch - c["query"] * p, 0), s_sym)[0]

    gap = commit_step(b_hi, chi_hi, pi_hi) - commit_step(b_lo, chi_lo, pi_lo)  # local (hi) after global (lo)
    # contrasts: Δχ = χ_lo - χ_hi, ν = (π_lo - π_hi) - (b_lo - b_hi) (frequency-blind part), η = ν / Δχ
    d_chi, nu = sp.symbols(r"\Delta\chi \nu", real=True)
    gap = sp.simplify(gap.subs({chi_lo: chi_hi + d_chi, pi_lo: pi_hi + nu + b_lo - b_hi}))
    ratio = sp.simplify((gap / gap.subs(gate_g, 0)).subs(nu, _eta * d_chi))
    crit = sp.solve(sp.Eq(_gap0 * ratio, 1), gate_g)
    collapse = sp.solve(sp.Eq(ratio, 0), gate_g)
    if len(crit) != 1 or len(collapse) != 1:
        raise RuntimeError(f"expected one root each, got critical {crit}, collapse {collapse}")
    r = _RHO  # printed as ρ(g); `_numeric` substitutes the derived routing factor before lambdify
    return {
        "rate": _as(r * _chi + c["query"] * _pi + _lam - _gamma * _mu, rate),
        "snr": _as(_m**2 * _mu**2 / (_gamma * _mu - _lam - r * _chi - c["query"] * _pi), snr),
        "gap_ratio": _as((r + _eta) / (1 + _eta), ratio),
        "critical": _as((1 + _eta) * (_gap0 - 1) / ((1 - _eta) * _gap0 + 1 + _eta), crit[0]),
        "collapse": _as((1 + _eta) / (1 - _eta), collapse[0]),
    }


# ---------------------------------------------------------------- formulas

_GAINS = ("ρ(g) = routing_factor(g); our own constants (docs/science.md's m, μ, c, η, γ were not recovered): "
          "χ_k = u_k^T R u_k routing gain (value + key), π_k = u_k^T P u_k pattern (query) gain, "
          "λ_k^MLP tokenwise MLP gain, γ μ_k the restoring rate of mode k (γ per unit signal amplitude μ_k), "
          "m_k the noise forcing overlap")
_GAP = ("ρ(g) = routing_factor(g); commitment where the margin b_k(s) - ρχ_k - π_k crosses 0, "
        "b_k(s) = b_k(0) - β s with a common slope β per sampler step; Δχ = χ_lo - χ_hi > 0, "
        "η = [(π_lo - π_hi) - (b_lo(0) - b_hi(0))]/Δχ, |η| < 1 (routing dominance)")


@lru_cache(maxsize=None)
def formulas() -> tuple[Formula, ...]:
    """The mode model's expressions in final form (for docs and `syncgap theory --latex`)."""
    mm = _mode_model()
    return (
        Formula("mode_growth_rate", mm["rate"], f"linear growth rate per sampler step of the difference on mode k; "
                f"{_GAINS}", "§5"),
        Formula("mode_snr", mm["snr"], "SNR_k = 2 × stationary variance of dy = r_k y ds + m_k μ_k dW, "
                f"defined where r_k < 0; {_GAINS}", "§5",
                "docs/science.md's SNR_k form with our constants; the pattern term enters with factor 1, not ξ(g)"),
        Formula("predicted_gap_ratio", mm["gap_ratio"], f"Δs(g)/Δs(0) for a linear margin; {_GAP}", "§5",
                "signed: negative past the collapse coupling means the local mode commits first"),
        Formula("critical_coupling", mm["critical"], "smallest g with Δs_0 · predicted_gap_ratio <= 1, "
                f"for Δs_0 > 1 sampler steps; {_GAP}", "§5",
                "pure routing (η = 0): g* = (Δs_0 - 1)/(Δs_0 + 1)"),
        Formula("collapse_coupling", mm["collapse"], f"g at which the predicted gap is 0; {_GAP}", "§5",
                "g = 1 in the pure-routing limit η = 0"),
    )


@lru_cache(maxsize=None)
def _numeric(name: str, args: tuple):
    expr = {f.name: f.expr for f in formulas()}[name].subs(_RHO, first_order_coefficients("paper")["value"])
    return sp.lambdify(args, expr, modules="numpy")


def _out(x):
    return float(x) if np.ndim(x) == 0 else np.asarray(x, dtype=float)


def _check_eta(value):
    return check_real("eta", value, -1.0, 1.0, lo_open=True, hi_open=True)


# ---------------------------------------------------------------- modes, SNR and the gap

def mode_growth_rate(g: ArrayLike, chi_k: ArrayLike, pi_k: ArrayLike, gamma_mu_k: ArrayLike, lambda_mlp_k: ArrayLike) -> float | np.ndarray:
    """r_k = ρ(g) χ_k + π_k + λ_k^MLP - γ μ_k: linear growth rate of the difference on mode k (per step)."""
    gv = check_gate_strength(g)
    c, p = check_real("chi_k", chi_k), check_real("pi_k", pi_k)
    gm, lm = check_real("gamma_mu_k", gamma_mu_k, 0.0), check_real("lambda_mlp_k", lambda_mlp_k)
    f = _numeric("mode_growth_rate", (gate_g, _chi, _pi, _lam, _gamma, _mu))
    return _out(f(gv, c, p, lm, gm, 1.0))


def mode_snr(g: float, chi_k: float, pi_k: float, gamma_k: float, mu_k: float, lambda_mlp_k: float, m_k: float) -> float:
    """SNR_k = m_k² μ_k² / (γ μ_k - λ_k^MLP - ρ(g) χ_k - π_k), finite while that margin is > 0 (§5)."""
    gv = check_real("g", g, 0.0, math.inf)
    c, p = check_real("chi_k", chi_k), check_real("pi_k", pi_k)
    ga, mk = check_real("gamma_k", gamma_k, 0.0, lo_open=True), check_real("mu_k", mu_k, 0.0, lo_open=True)
    lm, mm = check_real("lambda_mlp_k", lambda_mlp_k), check_real("m_k", m_k)
    rate = mode_growth_rate(gv, c, p, ga * mk, lm)
    if rate >= 0:
        raise InputError(f"mode is unstable (growth rate {rate:g} >= 0): the SNR is defined only for a "
                         "positive margin γμ_k - λ_k^MLP - ρ(g)χ_k - π_k")
    f = _numeric("mode_snr", (gate_g, _chi, _pi, _lam, _gamma, _mu, _m))
    return float(f(gv, c, p, lm, ga, mk, mm))


def predicted_gap_ratio(g: ArrayLike, eta: float = 0.0) -> float | np.ndarray:
    """Δs(g)/Δs(0) = (ρ(g) + η)/(1 + η) for a linear margin; η the frequency-blind contrast, |η| < 1.

    η = 0 (pure routing) gives ρ(g): the gap scales as O(ρ(g)) and vanishes at g = 1.
    """
    gv, e = check_gate_strength(g), _check_eta(eta)
    return _out(_numeric("predicted_gap_ratio", (gate_g, _eta))(gv, e))


def collapse_coupling(eta: float = 0.0) -> float:
    """g at which the predicted gap vanishes: (1 + η)/(1 - η); 1 in the pure-routing limit."""
    e = _check_eta(eta)
    return float(_numeric("collapse_coupling", (_eta,))(e))


def critical_coupling(gap0_steps: float, eta: float = 0.0) -> float:
    """Smallest g with predicted gap Δs_0 (ρ(g)+η)/(1+η) <= 1 sampler step (closed form).

    g* = (1+η)(Δs_0 - 1)/((1-η)Δs_0 + 1 + η); pure routing: g* = (Δs_0 - 1)/(Δs_0 + 1); 0 if Δs_0 <= 1.
    """
    d0 = check_positive("gap0_steps", gap0_steps)
    e = _check_eta(eta)
    if d0 <= 1.0:
        return 0.0
    return float(_numeric("critical_coupling", (_gap0, _eta))(d0, e))
