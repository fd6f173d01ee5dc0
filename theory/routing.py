"""Spatial routing bounds of the gated attention in the coupled DiT (docs/science.md §5).

Two replicas A, B share one attention layer through a gate of strength g >= 0:

- gate "split" (the paper's, docs/science.md §5): each block normalised on its own,
  O_A = (A_AA V_A + g A_AB V_B) / (1 + g),  A_XY = softmax_row(Q_X K_Y^T / sqrt(d));
- gate "joint": one softmax of A's queries over the 2N keys [K_A; K_B], with log g
  added to the cross logits, O_A = softmax([L_AA, L_AB + log g]) [V_A; V_B].
  At the symmetric point its blocks carry weights 1/(1+g) and g/(1+g).

Linearisation around the replica-symmetric point Q = Q_0 ± δQ, K = K_0 ± δK,
V = V_0 ± δV (upper sign replica A). With L_0 = Q_0 K_0^T / sqrt(d), A_0 = softmax(L_0),
and the row-softmax Jacobian J(X)_ij = (A_0)_ij (X_ij - sum_l (A_0)_il X_il):

    δA_Q = J(δQ K_0^T / sqrt(d))     query-driven pattern change
    δA_K = J(Q_0 δK^T / sqrt(d))     key-driven pattern change
    δA⁺ = δA_Q + δA_K                self-pattern change, A_AA = A_0 + δA⁺ + O(δ²)
    δA⁻ = δA_Q - δA_K                cross-pattern change, A_AB = A_0 + δA⁻ + O(δ²)

SymPy (`_derive`, generic logits and values, N = 2 tokens) gives, for BOTH gates,

    O_A - O_B = 2 ρ(g) (A_0 δV + δA_K V_0) + 2 δA_Q V_0 + O(δ³),   ρ(g) = (1-g)/(1+g)
              = [2(1-g) A_0 δV + 2(δA⁺ + g δA⁻) V_0] / (1+g) + O(δ³).

Agreement with docs/science.md §5: the second line is exactly its formula, with
ξ(g) = 1/(1+g) the factor of (δA⁺ + g δA⁻). Two refinements from the derivation:
(1) the remainder is O(δ³), not O(δ²): swapping A and B flips the sign of every
perturbation, so O_A - O_B is odd in δ; (2) δA⁺ and δA⁻ share the query part, so
regrouped by independent perturbations the key-driven pattern change is routed
with ρ(g) exactly like the values, and only the query-driven change survives at
g = 1, with a g-independent factor 1. The "pattern modulation" term therefore does
not fade like ξ(g); it stays. To first order the joint-softmax gate gives the very
same factors (its block-mass transfer multiplies V_0 in both blocks and cancels).

Mode-wise (our own symbols; docs/science.md's m, μ, c, η, γ were not recovered): a
difference profile δx (N tokens) along fixed channel directions, δQ = δx a_q^T,
δK = δx a_k^T, δV = δx a_v^T, read out along r, gives (O_A - O_B) r = 2 [ρ(g) R + P] δx
with a routing operator R (value + key, built on A_0: smoothing, frequency selective)
and a pattern operator P that is diagonal in token space (frequency blind). On
orthonormal token modes u_k: routing gain χ_k = u_k^T R u_k, pattern gain π_k = u_k^T P u_k.

Mode model and bound (ours; ρ(g) in the printed formulas is `routing_factor`):
- growth rate of the difference on mode k, per sampler step:
  r_k(g) = ρ(g) χ_k + π_k + λ_k^MLP - γ μ_k, with λ_k^MLP the tokenwise MLP gain and γ μ_k
  the frequency-blind restoring rate of a mode of signal amplitude μ_k;
- SNR_k = m_k² μ_k² / (γ μ_k - λ_k^MLP - ρ(g) χ_k - π_k) = 2 × the stationary variance of
  dy = r_k y ds + m_k μ_k dW (Lyapunov), i.e. docs/science.md's form with the pattern factor 1;
- mode k commits at the step s_k where its margin b_k(s) - ρ(g) χ_k - π_k reaches 0, with
  b_k(s) = γμ_k - λ_k^MLP = b_k(0) - β s (common slope β per step). For a global mode "lo"
  and a local mode "hi", Δχ = χ_lo - χ_hi > 0 and the frequency-blind contrast
  η = [(π_lo - π_hi) - (b_lo(0) - b_hi(0))] / Δχ:
      Δs(g)/Δs(0) = (ρ(g) + η)/(1 + η)              (exact for a linear margin)
      |Δs(g)/Δs(0)| <= κ (|ρ(g)| + |η|)/(1 - |η|)     (margin slopes within [β, κβ], |η| < 1)
  i.e. |ρ(g)| + C|η| with C = (1 + |ρ|)/(1 - |η|) at κ = 1. Routing dominance (|η| ≪ 1) gives
  the O(ρ(g)) collapse; the gap vanishes at g_0 = (1+η)/(1-η) (1 at η = 0), and first drops
  below one sampler step at g* = (1+η)(Δs_0 - 1)/((1-η)Δs_0 + 1 + η) ((Δs_0-1)/(Δs_0+1) at η = 0).
  When the mode dependence sits in the frequency-blind part instead (|η| >= 1, as in the OU
  analog of docs/science.md §4, where it comes from the data spectrum), the gate does not collapse
  the gap: the model shows either outcome.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import sympy as sp

from .checks import InputError, check_array, check_positive, check_real
from .formula import Formula
from .gated import routing_factor  # rho(g): one function for the OU and the DiT gate; derived equal here

GATES = ("split", "joint")
_N_SYM = 2  # tokens in the symbolic derivation; the identities are checked numerically for any N in the tests

# ---------------------------------------------------------------- symbols

_g = sp.Symbol("g", nonnegative=True)                  # gate strength
_chi = sp.Symbol(r"\chi_k", real=True)                 # routing gain of mode k (value + key), ours
_pi = sp.Symbol(r"\pi_k", real=True)                  # pattern (query) gain of mode k, ours
_gamma = sp.Symbol(r"\gamma", positive=True)           # restoring rate per unit signal, ours
_mu = sp.Symbol(r"\mu_k", positive=True)               # signal amplitude of mode k, ours
_lam = sp.Symbol(r"\lambda_k^{\mathrm{MLP}}", real=True)  # tokenwise MLP gain on mode k, ours
_m = sp.Symbol("m_k", real=True)                       # readout overlap of mode k (noise forcing), ours
_eta = sp.Symbol(r"\eta", real=True)                   # frequency-blind-to-routing contrast, ours
_kappa = sp.Symbol(r"\kappa", positive=True)           # margin-slope ratio beta_max / beta_min >= 1, ours
_gap0 = sp.Symbol(r"\Delta s_0", positive=True)        # predicted gap at g = 0, in sampler steps
_RHO = sp.Function(r"\rho")(_g)                        # ρ(g) in printed mode formulas = routing_factor


# ---------------------------------------------------------------- the symbolic derivation

def _gated_output(gate, E, P, R, S, V0, dV, eps, sign):
    """Exact gated output of replica A (sign=+1) or B (sign=-1) with logits L_0 + ε(±P ± R) + ε²(±S)."""
    n = E.shape[0]
    # Q_X K_Y^T / sqrt(d) = L_0 + ε(s_X P + s_Y R) + ε² s_X s_Y S,  s_A = +1, s_B = -1
    w_self = sp.Matrix(n, n, lambda i, j: E[i, j] * sp.exp(eps * sign * (P[i, j] + R[i, j]) + eps**2 * S[i, j]))
    w_cross = sp.Matrix(n, n, lambda i, j: E[i, j] * sp.exp(eps * sign * (P[i, j] - R[i, j]) - eps**2 * S[i, j]))
    v_self, v_cross = V0 + sign * eps * dV, V0 - sign * eps * dV
    z_self = [sum(w_self[i, :]) for i in range(n)]
    z_cross = [sum(w_cross[i, :]) for i in range(n)]
    rows = []
    for i in range(n):
        num_s = sum(w_self[i, j] * v_self[j] for j in range(n))
        num_c = sum(w_cross[i, j] * v_cross[j] for j in range(n))
        if gate == "split":
            rows.append((num_s / z_self[i] + _g * num_c / z_cross[i]) / (1 + _g))
        else:  # joint softmax, cross weights multiplied by exp(log g) = g
            rows.append((num_s + _g * num_c) / (z_self[i] + _g * z_cross[i]))
    return sp.Matrix(rows)


def _symbolic_setup(n=_N_SYM):
    """Generic symbols: E = exp(L_0) > 0, first-order logit changes P (query), R (key), S = δQ δK^T / sqrt(d)."""
    E = sp.Matrix(n, n, lambda i, j: sp.Symbol(f"E_{i}{j}", positive=True))
    P = sp.Matrix(n, n, lambda i, j: sp.Symbol(f"P_{i}{j}", real=True))
    R = sp.Matrix(n, n, lambda i, j: sp.Symbol(f"R_{i}{j}", real=True))
    S = sp.Matrix(n, n, lambda i, j: sp.Symbol(f"S_{i}{j}", real=True))
    V0 = sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"v_{i}", real=True))
    dV = sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"dv_{i}", real=True))
    return E, P, R, S, V0, dV, sp.Symbol("epsilon", real=True)


def _difference(gate, order, n=_N_SYM):
    """d^order/dε^order (O_A - O_B) at ε = 0, plus the symbols it is written in."""
    E, P, R, S, V0, dV, eps = _symbolic_setup(n)
    diff = (_gated_output(gate, E, P, R, S, V0, dV, eps, +1)
            - _gated_output(gate, E, P, R, S, V0, dV, eps, -1))
    d = diff.diff(eps, order).subs(eps, 0).applyfunc(sp.cancel)
    return d, (E, P, R, S, V0, dV)


def second_order_vanishes(gate: str = "split") -> bool:
    """True if the ε² term of O_A - O_B is identically zero (SymPy; the remainder is then O(δ³))."""
    _check_gate(gate)
    d2, _ = _difference(gate, 2)
    return all(sp.simplify(x) == 0 for x in d2)


@lru_cache(maxsize=None)
def _derive(gate: str) -> dict:
    """First-order coefficients of O_A - O_B on A_0 δV, δA_K V_0, δA_Q V_0, as functions of g only.

    Each coefficient is the ratio of the derivative with only that perturbation switched on
    to its reference term; it is then checked to depend on g alone and to reproduce the whole
    first-order difference exactly (residual cancels to 0).
    """
    d1, (E, P, R, _S, V0, dV) = _difference(gate, 1)
    n = E.shape[0]
    A0 = sp.Matrix(n, n, lambda i, j: E[i, j] / sum(E[i, :]))

    def jac(X):
        mean = [sum(A0[i, l] * X[i, l] for l in range(n)) for i in range(n)]
        return sp.Matrix(n, n, lambda i, j: A0[i, j] * (X[i, j] - mean[i]))

    refs = {"value": (set(dV), A0 * dV), "key": (set(R), jac(R) * V0), "query": (set(P), jac(P) * V0)}
    pert = set(P) | set(R) | set(dV)
    coef = {}
    for name, (keep, ref) in refs.items():
        only = d1.subs({s: 0 for s in pert - keep})
        c = sp.cancel(only[0] / (2 * ref[0]))
        if not c.free_symbols <= {_g}:
            raise RuntimeError(f"{gate} gate: {name} coefficient depends on more than g: {c}")
        coef[name] = c
    resid = (d1 - 2 * (coef["value"] * refs["value"][1] + coef["key"] * refs["key"][1]
                       + coef["query"] * refs["query"][1])).applyfunc(sp.cancel)
    if any(x != 0 for x in resid):
        raise RuntimeError(f"{gate} gate: first-order difference not reproduced, residual {resid}")
    # docs/science.md grouping: c_K δA_K + c_Q δA_Q = ξ⁺ δA⁺ + ξ⁻ δA⁻ with δA± = δA_Q ± δA_K
    coef["self_pattern"] = sp.cancel((coef["query"] + coef["key"]) / 2)
    coef["cross_pattern"] = sp.cancel((coef["query"] - coef["key"]) / 2)
    return coef


def _linearised_expr(coef):
    n = sp.Symbol("N", integer=True, positive=True)
    A0, dV = sp.MatrixSymbol("A_0", n, n), sp.MatrixSymbol(r"\delta V", n, 1)
    V0 = sp.MatrixSymbol("V_0", n, 1)
    dAQ, dAK = sp.MatrixSymbol(r"\delta A_Q", n, n), sp.MatrixSymbol(r"\delta A_K", n, n)
    lhs = sp.MatrixSymbol("O_A", n, 1) - sp.MatrixSymbol("O_B", n, 1)
    if sp.simplify(coef["key"] - coef["value"]) == 0:  # derived: keys are routed like values
        rhs = sp.MatMul(2 * coef["value"], A0 * dV + dAK * V0, evaluate=False) + 2 * coef["query"] * dAQ * V0
    else:
        rhs = 2 * coef["value"] * A0 * dV + 2 * coef["key"] * dAK * V0 + 2 * coef["query"] * dAQ * V0
    return sp.Eq(lhs, rhs, evaluate=False)


def _as(display, derived):
    """Return `display` (written with ρ(g)) after checking that it equals the derived expression."""
    if sp.simplify(display.subs(_RHO, _derive("split")["value"]) - derived) != 0:
        raise RuntimeError(f"display form {display} differs from derived {derived}")
    return display


def _self_cross_expr(coef):
    """docs/science.md's grouping: (1+g)(O_A - O_B) on A_0 δV, δA⁺ V_0 and δA⁻ V_0."""
    n = sp.Symbol("N", integer=True, positive=True)
    A0, dV = sp.MatrixSymbol("A_0", n, n), sp.MatrixSymbol(r"\delta V", n, 1)
    V0 = sp.MatrixSymbol("V_0", n, 1)
    dAp, dAm = sp.MatrixSymbol(r"\delta A^{+}", n, n), sp.MatrixSymbol(r"\delta A^{-}", n, n)
    lhs = sp.MatMul(1 + _g, sp.MatrixSymbol("O_A", n, 1) - sp.MatrixSymbol("O_B", n, 1), evaluate=False)
    c = {k: sp.cancel((1 + _g) * coef[k]) for k in ("value", "self_pattern", "cross_pattern")}
    rhs = sp.MatMul(2, c["value"] * A0 * dV + (c["self_pattern"] * dAp + c["cross_pattern"] * dAm) * V0,
                    evaluate=False)
    return sp.Eq(lhs, rhs, evaluate=False)


@lru_cache(maxsize=None)
def _mode_model() -> dict:
    """Per-mode growth rate, SNR, predicted gap ratio, bound and critical coupling (SymPy)."""
    c = _derive("split")
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
    ratio = sp.simplify((gap / gap.subs(_g, 0)).subs(nu, _eta * d_chi))
    crit = sp.solve(sp.Eq(_gap0 * ratio, 1), _g)
    collapse = sp.solve(sp.Eq(ratio, 0), _g)
    if len(crit) != 1 or len(collapse) != 1:
        raise RuntimeError(f"expected one root each, got critical {crit}, collapse {collapse}")
    r = _RHO  # printed as ρ(g); `_numeric` substitutes the derived routing factor before lambdify
    return {
        "rate": _as(r * _chi + c["query"] * _pi + _lam - _gamma * _mu, rate),
        "snr": _as(_m**2 * _mu**2 / (_gamma * _mu - _lam - r * _chi - c["query"] * _pi), snr),
        "gap_ratio": _as((r + _eta) / (1 + _eta), ratio),
        "bound": _kappa * (sp.Abs(r) + sp.Abs(_eta)) / (1 - sp.Abs(_eta)),
        "critical": _as((1 + _eta) * (_gap0 - 1) / ((1 - _eta) * _gap0 + 1 + _eta), crit[0]),
        "collapse": _as((1 + _eta) / (1 - _eta), collapse[0]),
    }


# ---------------------------------------------------------------- formulas

_SPLIT = "split gate (docs/science.md §5): O_A = (A_AA V_A + g A_AB V_B)/(1+g), g >= 0"
_JOINT = "joint-softmax gate: one softmax over [K_A; K_B] with log g added to the cross logits, g >= 0"
_LIN = ("replica-symmetric point Q_0 ± δQ, K_0 ± δK, V_0 ± δV; δA_Q = J(δQ K_0^T/√d), "
        "δA_K = J(Q_0 δK^T/√d), J the row-softmax Jacobian at A_0 = softmax(Q_0 K_0^T/√d); remainder O(δ³)")
_GAINS = ("ρ(g) = routing_factor(g); our own constants (docs/science.md's m, μ, c, η, γ were not recovered): "
          "χ_k = u_k^T R u_k routing gain (value + key), π_k = u_k^T P u_k pattern (query) gain, "
          "λ_k^MLP tokenwise MLP gain, γ μ_k the restoring rate of mode k (γ per unit signal amplitude μ_k), "
          "m_k the noise forcing overlap")
_GAP = ("ρ(g) = routing_factor(g); commitment where the margin b_k(s) - ρχ_k - π_k crosses 0, "
        "b_k(s) = b_k(0) - β s with a common slope β per sampler step; Δχ = χ_lo - χ_hi > 0, "
        "η = [(π_lo - π_hi) - (b_lo(0) - b_hi(0))]/Δχ, |η| < 1 (routing dominance)")


@lru_cache(maxsize=None)
def formulas() -> tuple[Formula, ...]:
    """The derived expressions of this module in final form (for docs and `syncgap theory --latex`)."""
    s, j, mm = _derive("split"), _derive("joint"), _mode_model()
    return (
        Formula("linearised_difference", _linearised_expr(s), f"{_SPLIT}; {_LIN}", "§5",
                "docs/science.md §5 writes (1+g)(O_A-O_B) = 2(1-g)A_0δV + 2(δA⁺+gδA⁻)V_0 + O(δ²): the same first "
                "order with δA± = δA_Q ± δA_K, but the remainder is O(δ³) (odd under A<->B)"),
        Formula("linearised_difference_self_cross", _self_cross_expr(s), f"{_SPLIT}; {_LIN}; "
                "δA⁺ = δA_Q + δA_K (self), δA⁻ = δA_Q - δA_K (cross)", "§5",
                "docs/science.md §5's form, confirmed at first order; remainder O(δ³), not O(δ²)"),
        Formula("joint_linearised_difference", _linearised_expr(j), f"{_JOINT}; {_LIN}", "§5",
                "identical to the split gate at first order"),
        Formula("routing_factor", s["value"], f"{_SPLIT}; factor of A_0 δV in (O_A - O_B)/2", "§5",
                "agrees with docs/science.md ρ(g) and with the OU analog theory.gated.routing_factor"),
        Formula("key_routing_factor", s["key"], f"{_SPLIT}; factor of δA_K V_0 in (O_A - O_B)/2", "§5",
                "keys are routed like values: equal to ρ(g)"),
        Formula("query_pattern_factor", s["query"], f"{_SPLIT}; factor of δA_Q V_0 in (O_A - O_B)/2", "§5",
                "g-independent: the query-driven pattern modulation does not fade as g -> 1"),
        Formula("pattern_factor", s["self_pattern"], f"{_SPLIT}; factor of δA⁺ V_0, δA⁺ = δA_Q + δA_K", "§5",
                "docs/science.md's ξ(g); the factor of δA⁻ V_0 is g ξ(g)"),
        Formula("cross_pattern_factor", s["cross_pattern"], f"{_SPLIT}; factor of δA⁻ V_0, δA⁻ = δA_Q - δA_K",
                "§5"),
        Formula("joint_routing_factor", j["value"], f"{_JOINT}; factor of A_0 δV in (O_A - O_B)/2", "§5"),
        Formula("joint_key_routing_factor", j["key"], f"{_JOINT}; factor of δA_K V_0", "§5"),
        Formula("joint_query_pattern_factor", j["query"], f"{_JOINT}; factor of δA_Q V_0", "§5"),
        Formula("joint_pattern_factor", j["self_pattern"], f"{_JOINT}; factor of δA⁺ V_0", "§5"),
        Formula("mode_growth_rate", mm["rate"], f"linear growth rate per sampler step of the difference on mode k; "
                f"{_GAINS}", "§5"),
        Formula("mode_snr", mm["snr"], "SNR_k = 2 × stationary variance of dy = r_k y ds + m_k μ_k dW, "
                f"defined where r_k < 0; {_GAINS}", "§5",
                "docs/science.md's SNR_k form with our constants; the pattern term enters with factor 1, not ξ(g)"),
        Formula("predicted_gap_ratio", mm["gap_ratio"], f"Δs(g)/Δs(0) for a linear margin; {_GAP}", "§5",
                "signed: negative past the collapse coupling means the local mode commits first"),
        Formula("gap_ratio_bound", mm["bound"], f"|Δs(g)/Δs(0)| <= this when the margin slope lies in "
                f"[β_min, β_max], κ = β_max/β_min; {_GAP}", "§5"),
        Formula("critical_coupling", mm["critical"], "smallest g with Δs_0 · predicted_gap_ratio <= 1, "
                f"for Δs_0 > 1 sampler steps; {_GAP}", "§5",
                "pure routing (η = 0): g* = (Δs_0 - 1)/(Δs_0 + 1)"),
        Formula("collapse_coupling", mm["collapse"], f"g at which the predicted gap is 0; {_GAP}", "§5",
                "g = 1 in the pure-routing limit η = 0"),
    )


@lru_cache(maxsize=None)
def _numeric(name: str, args: tuple):
    expr = {f.name: f.expr for f in formulas()}[name].subs(_RHO, _derive("split")["value"])
    return sp.lambdify(args, expr, modules="numpy")


# ---------------------------------------------------------------- input checks

def _check_gate(gate):
    if gate not in GATES:
        raise InputError(f"gate must be one of {GATES}, got {gate!r}")
    return gate


def _check_g(value, name="g"):
    if np.ndim(value) == 0:
        return check_real(name, value, 0.0, math.inf)
    a = check_array(name, value)
    if np.any(a < 0):
        raise InputError(f"{name}={a[a < 0].flat[0]:g} is outside the allowed range [0, inf)")
    return a


def _check_eta(value):
    return check_real("eta", value, -1.0, 1.0, lo_open=True, hi_open=True)


def _out(x):
    return float(x) if np.ndim(x) == 0 else np.asarray(x, dtype=float)


def _factor(name, g_value):
    x = _check_g(g_value)
    return _out(np.broadcast_to(_numeric(name, (_g,))(x), np.shape(x)))


# ---------------------------------------------------------------- gate factors

def key_routing_factor(g):
    """Factor of the key-driven pattern change δA_K V_0 in (O_A-O_B)/2, split gate; derived equal to ρ(g)."""
    return _factor("key_routing_factor", g)


def query_pattern_factor(g):
    """Factor of the query-driven pattern change δA_Q V_0 in (O_A-O_B)/2, split gate; derived equal to 1."""
    return _factor("query_pattern_factor", g)


def pattern_factor(g):
    """ξ(g) = 1/(1+g): factor of the self-pattern change δA⁺ V_0 in (O_A-O_B)/2, split gate (§5)."""
    return _factor("pattern_factor", g)


def cross_pattern_factor(g):
    """g ξ(g) = g/(1+g): factor of the cross-pattern change δA⁻ V_0 in (O_A-O_B)/2, split gate."""
    return _factor("cross_pattern_factor", g)


def joint_routing_factor(g):
    """Factor of A_0 δV in (O_A-O_B)/2 for the joint-softmax gate; derived equal to ρ(g)."""
    return _factor("joint_routing_factor", g)


def joint_key_routing_factor(g):
    """Factor of δA_K V_0 in (O_A-O_B)/2 for the joint-softmax gate; derived equal to ρ(g)."""
    return _factor("joint_key_routing_factor", g)


def joint_query_pattern_factor(g):
    """Factor of δA_Q V_0 in (O_A-O_B)/2 for the joint-softmax gate; derived equal to 1."""
    return _factor("joint_query_pattern_factor", g)


def joint_pattern_factor(g):
    """Factor of δA⁺ V_0 in (O_A-O_B)/2 for the joint-softmax gate; derived equal to ξ(g) = 1/(1+g)."""
    return _factor("joint_pattern_factor", g)


# ---------------------------------------------------------------- numeric linearisation

def _softmax_rows(x):
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def _softmax_jacobian(a0, x):
    """J(X)_ij = (A_0)_ij (X_ij - sum_l (A_0)_il X_il): first-order change of softmax rows."""
    return a0 * (x - (a0 * x).sum(axis=-1, keepdims=True))


def linearised_difference(q0, k0, v0, dq, dk, dv, g, gate: str = "split") -> dict:
    """First-order O_A - O_B at Q_0 ± δQ, K_0 ± δK, V_0 ± δV: 2ρ(A_0δV + δA_K V_0) + 2c_Q δA_Q V_0.

    Shapes: q0, dq (N, d); k0, dk (M, d); v0, dv (M, dv). Returns the difference and its three parts
    (value routing, key routing, query pattern), each already multiplied by its gate factor.
    """
    _check_gate(gate)
    q0, dq = check_array("q0", q0, ndim=2), check_array("dq", dq, ndim=2)
    k0, dk = check_array("k0", k0, ndim=2), check_array("dk", dk, ndim=2)
    v0, dv = check_array("v0", v0, ndim=2), check_array("dv", dv, ndim=2)
    gv = check_real("g", g, 0.0, math.inf)
    if dq.shape != q0.shape or dk.shape != k0.shape or dv.shape != v0.shape:
        raise InputError("dq, dk, dv must have the shapes of q0, k0, v0")
    if q0.shape[1] != k0.shape[1] or k0.shape[0] != v0.shape[0]:
        raise InputError(f"q0 (N, d), k0 (M, d), v0 (M, dv) disagree: {q0.shape}, {k0.shape}, {v0.shape}")
    scale = 1.0 / math.sqrt(q0.shape[1])
    a0 = _softmax_rows(scale * q0 @ k0.T)  # (N, M)
    da_q = _softmax_jacobian(a0, scale * dq @ k0.T)  # (N, M)
    da_k = _softmax_jacobian(a0, scale * q0 @ dk.T)  # (N, M)
    pre = "" if gate == "split" else "joint_"
    value = 2 * _factor(f"{pre}routing_factor", gv) * a0 @ dv  # (N, dv)
    key = 2 * _factor(f"{pre}key_routing_factor", gv) * da_k @ v0  # (N, dv)
    query = 2 * _factor(f"{pre}query_pattern_factor", gv) * da_q @ v0  # (N, dv)
    return {"difference": value + key + query, "value_routing": value, "key_routing": key,
            "query_pattern": query, "a0": a0, "da_query": da_q, "da_key": da_k}


def attention_difference_operators(q0, k0, v0, a_q, a_k, a_v, readout) -> dict:
    """Routing R and pattern P operators on a token profile δx: (O_A - O_B)·r = 2[ρ(g) R + c_Q P] δx.

    The difference enters along fixed channel directions, δQ = δx a_q^T, δK = δx a_k^T, δV = δx a_v^T,
    and is read out along r. With v = V_0 r, q = Q_0 a_k/√d, k = K_0 a_q/√d:
        R = (a_v·r) A_0 + diag(q) [A_0 diag(v) - diag(A_0 v) A_0]        (value + key routing)
        P = diag( A_0 (k ⊙ v) - (A_0 k) ⊙ (A_0 v) )                      (query pattern, diagonal)
    P is the attention-weighted covariance of key score and value at each query: diagonal in
    token space, hence frequency blind; R is built on A_0, hence frequency selective. Self-attention
    (N = M) only.
    """
    q0, k0 = check_array("q0", q0, ndim=2), check_array("k0", k0, ndim=2)
    v0 = check_array("v0", v0, ndim=2)
    a_q, a_k = check_array("a_q", a_q, ndim=1), check_array("a_k", a_k, ndim=1)
    a_v, r = check_array("a_v", a_v, ndim=1), check_array("readout", readout, ndim=1)
    n, d = q0.shape
    if k0.shape != (n, d) or v0.shape[0] != n or a_q.size != d or a_k.size != d or a_v.size != v0.shape[1] \
            or r.size != v0.shape[1]:
        raise InputError(f"shapes disagree: q0 {q0.shape}, k0 {k0.shape}, v0 {v0.shape}, a_q {a_q.shape}, "
                         f"a_k {a_k.shape}, a_v {a_v.shape}, readout {r.shape}")
    scale = 1.0 / math.sqrt(d)
    a0 = _softmax_rows(scale * q0 @ k0.T)  # (N, N)
    v, q, k = v0 @ r, scale * q0 @ a_k, scale * k0 @ a_q  # (N,)
    routing = float(a_v @ r) * a0 + q[:, None] * (a0 * v[None, :] - (a0 @ v)[:, None] * a0)  # (N, N)
    pattern = np.diag(a0 @ (k * v) - (a0 @ k) * (a0 @ v))  # (N, N)
    return {"routing": routing, "pattern": pattern, "a0": a0}


def mode_gains(routing, pattern, modes) -> dict:
    """χ_k = u_k^T R u_k (routing gain) and π_k = u_k^T P u_k (pattern gain) on orthonormal columns u_k."""
    r = check_array("routing", routing, ndim=2)
    p = check_array("pattern", pattern, ndim=2)
    u = check_array("modes", modes, ndim=2)
    n = r.shape[0]
    if r.shape != (n, n) or p.shape != (n, n) or u.shape[0] != n:
        raise InputError(f"routing, pattern must be (N, N) and modes (N, K): {r.shape}, {p.shape}, {u.shape}")
    if not np.allclose(u.T @ u, np.eye(u.shape[1]), atol=1e-8):
        raise InputError("modes must have orthonormal columns")
    return {"chi": np.einsum("ik,ij,jk->k", u, r, u), "pi": np.einsum("ik,ij,jk->k", u, p, u)}


# ---------------------------------------------------------------- modes, SNR and the gap

def mode_growth_rate(g, chi_k, pi_k, gamma_mu_k, lambda_mlp_k):
    """r_k = ρ(g) χ_k + π_k + λ_k^MLP - γ μ_k: linear growth rate of the difference on mode k (per step)."""
    gv = _check_g(g)
    c, p = check_real("chi_k", chi_k), check_real("pi_k", pi_k)
    gm, lm = check_real("gamma_mu_k", gamma_mu_k, 0.0), check_real("lambda_mlp_k", lambda_mlp_k)
    f = _numeric("mode_growth_rate", (_g, _chi, _pi, _lam, _gamma, _mu))
    return _out(f(gv, c, p, lm, gm, 1.0))


def mode_snr(g, chi_k, pi_k, gamma_k, mu_k, lambda_mlp_k, m_k):
    """SNR_k = m_k² μ_k² / (γ μ_k - λ_k^MLP - ρ(g) χ_k - π_k), finite while that margin is > 0 (§5)."""
    gv = check_real("g", g, 0.0, math.inf)
    c, p = check_real("chi_k", chi_k), check_real("pi_k", pi_k)
    ga, mk = check_real("gamma_k", gamma_k, 0.0, lo_open=True), check_real("mu_k", mu_k, 0.0, lo_open=True)
    lm, mm = check_real("lambda_mlp_k", lambda_mlp_k), check_real("m_k", m_k)
    rate = mode_growth_rate(gv, c, p, ga * mk, lm)
    if rate >= 0:
        raise InputError(f"mode is unstable (growth rate {rate:g} >= 0): the SNR is defined only for a "
                         "positive margin γμ_k - λ_k^MLP - ρ(g)χ_k - π_k")
    f = _numeric("mode_snr", (_g, _chi, _pi, _lam, _gamma, _mu, _m))
    return float(f(gv, c, p, lm, ga, mk, mm))


def predicted_gap_ratio(g, eta: float = 0.0):
    """Δs(g)/Δs(0) = (ρ(g) + η)/(1 + η) for a linear margin; η the frequency-blind contrast, |η| < 1.

    η = 0 (pure routing) gives ρ(g): the gap scales as O(ρ(g)) and vanishes at g = 1.
    """
    gv, e = _check_g(g), _check_eta(eta)
    return _out(_numeric("predicted_gap_ratio", (_g, _eta))(gv, e))


def gap_ratio_bound(g, eta_max: float = 0.0, slope_ratio: float = 1.0):
    """|Δs(g)/Δs(0)| <= κ (|ρ(g)| + η_max)/(1 - η_max) for |η| <= η_max < 1 and margin slopes within κ."""
    gv = _check_g(g)
    e = check_real("eta_max", eta_max, 0.0, 1.0, hi_open=True)
    k = check_real("slope_ratio", slope_ratio, 1.0, math.inf)
    return _out(_numeric("gap_ratio_bound", (_g, _eta, _kappa))(gv, e, k))


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
