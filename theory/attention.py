"""Linearised gated attention of the coupled DiT at the replica-symmetric point (docs/science.md §5).

Two replicas share one attention layer through a gate of strength g >= 0 ("paper": blocks normalised
separately, O_A = (A_AA V_A + g A_AB V_B)/(1 + g); "joint": one softmax over [K_A; K_B] with log g on
the cross logits). SymPy derives the first-order difference O_A - O_B for both gates:
    O_A - O_B = 2 rho(g) (A_0 dV + dA_K V_0) + 2 dA_Q V_0 + O(d^3),   rho(g) = (1-g)/(1+g),
and this module evaluates it numerically, with the routing and pattern operators R, P on a token
profile and their mode gains chi_k, pi_k. The derivation and its comparison with docs/science.md §5
are in docs/derivations.md; the mode/gap model built on these gains is `theory.routing`.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike
import sympy as sp

from .checks import InputError, check_array, check_choice, check_real
from .formula import Formula
from .gated import routing_factor  # rho(g): one function for both gates; the derivation here finds it
from .symbolic import gate_g

GATES = ("paper", "joint")
_N_SYM = 2  # tokens in the symbolic derivation; the identities are checked numerically for any N in the tests


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
        if gate == "paper":
            rows.append((num_s / z_self[i] + gate_g * num_c / z_cross[i]) / (1 + gate_g))
        else:  # joint softmax, cross weights multiplied by exp(log g) = g
            rows.append((num_s + gate_g * num_c) / (z_self[i] + gate_g * z_cross[i]))
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


def second_order_vanishes(gate: str = "paper") -> bool:
    """True if the ε² term of O_A - O_B is identically zero (SymPy; the remainder is then O(δ³))."""
    _check_gate(gate)
    d2, _ = _difference(gate, 2)
    return all(sp.simplify(x) == 0 for x in d2)


@lru_cache(maxsize=None)
def first_order_coefficients(gate: str) -> dict:
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
        if not c.free_symbols <= {gate_g}:
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


def _self_cross_expr(coef):
    """docs/science.md's grouping: (1+g)(O_A - O_B) on A_0 δV, δA⁺ V_0 and δA⁻ V_0."""
    n = sp.Symbol("N", integer=True, positive=True)
    A0, dV = sp.MatrixSymbol("A_0", n, n), sp.MatrixSymbol(r"\delta V", n, 1)
    V0 = sp.MatrixSymbol("V_0", n, 1)
    dAp, dAm = sp.MatrixSymbol(r"\delta A^{+}", n, n), sp.MatrixSymbol(r"\delta A^{-}", n, n)
    lhs = sp.MatMul(1 + gate_g, sp.MatrixSymbol("O_A", n, 1) - sp.MatrixSymbol("O_B", n, 1), evaluate=False)
    c = {k: sp.cancel((1 + gate_g) * coef[k]) for k in ("value", "self_pattern", "cross_pattern")}
    rhs = sp.MatMul(2, c["value"] * A0 * dV + (c["self_pattern"] * dAp + c["cross_pattern"] * dAm) * V0,
                    evaluate=False)
    return sp.Eq(lhs, rhs, evaluate=False)


# ---------------------------------------------------------------- formulas

_PAPER = "paper gate (docs/science.md §5): O_A = (A_AA V_A + g A_AB V_B)/(1+g), g >= 0"
_JOINT = "joint-softmax gate: one softmax over [K_A; K_B] with log g added to the cross logits, g >= 0"
_LIN = ("replica-symmetric point Q_0 ± δQ, K_0 ± δK, V_0 ± δV; δA_Q = J(δQ K_0^T/√d), "
        "δA_K = J(Q_0 δK^T/√d), J the row-softmax Jacobian at A_0 = softmax(Q_0 K_0^T/√d); remainder O(δ³)")

@lru_cache(maxsize=None)
def formulas() -> tuple[Formula, ...]:
    """The derived linearisation in final form (for docs and `syncgap theory --latex`)."""
    s, j = first_order_coefficients("paper"), first_order_coefficients("joint")
    return (
        Formula("linearised_difference", _linearised_expr(s), f"{_PAPER}; {_LIN}", "§5",
                "docs/science.md §5 writes (1+g)(O_A-O_B) = 2(1-g)A_0δV + 2(δA⁺+gδA⁻)V_0 + O(δ²): the same first "
                "order with δA± = δA_Q ± δA_K, but the remainder is O(δ³) (odd under A<->B)"),
        Formula("linearised_difference_self_cross", _self_cross_expr(s), f"{_PAPER}; {_LIN}; "
                "δA⁺ = δA_Q + δA_K (self), δA⁻ = δA_Q - δA_K (cross)", "§5",
                "docs/science.md §5's form, confirmed at first order; remainder O(δ³), not O(δ²)"),
        Formula("joint_linearised_difference", _linearised_expr(j), f"{_JOINT}; {_LIN}", "§5",
                "identical to the paper gate at first order"),
        Formula("routing_factor", s["value"], f"{_PAPER}; factor of A_0 δV in (O_A - O_B)/2", "§5",
                "agrees with docs/science.md ρ(g) and with the OU analog theory.gated.routing_factor"),
        Formula("key_routing_factor", s["key"], f"{_PAPER}; factor of δA_K V_0 in (O_A - O_B)/2", "§5",
                "keys are routed like values: equal to ρ(g)"),
        Formula("query_pattern_factor", s["query"], f"{_PAPER}; factor of δA_Q V_0 in (O_A - O_B)/2", "§5",
                "g-independent: the query-driven pattern modulation does not fade as g -> 1"),
        Formula("pattern_factor", s["self_pattern"], f"{_PAPER}; factor of δA⁺ V_0, δA⁺ = δA_Q + δA_K", "§5",
                "docs/science.md's ξ(g); the factor of δA⁻ V_0 is g ξ(g)"),
        Formula("cross_pattern_factor", s["cross_pattern"], f"{_PAPER}; factor of δA⁻ V_0, δA⁻ = δA_Q - δA_K",
                "§5"),
        Formula("joint_routing_factor", j["value"], f"{_JOINT}; factor of A_0 δV in (O_A - O_B)/2", "§5"),
        Formula("joint_key_routing_factor", j["key"], f"{_JOINT}; factor of δA_K V_0", "§5"),
        Formula("joint_query_pattern_factor", j["query"], f"{_JOINT}; factor of δA_Q V_0", "§5"),
        Formula("joint_pattern_factor", j["self_pattern"], f"{_JOINT}; factor of δA⁺ V_0", "§5"),
    )


@lru_cache(maxsize=None)
def _numeric(name: str):
    expr = {f.name: f.expr for f in formulas()}[name]
    return sp.lambdify((gate_g,), expr, modules="numpy")


# ---------------------------------------------------------------- input checks

def _check_gate(gate):
    return check_choice("gate", gate, GATES)


def check_gate_strength(value: ArrayLike, name: str = "g") -> float | np.ndarray:
    if np.ndim(value) == 0:
        return check_real(name, value, 0.0, math.inf)
    a = check_array(name, value)
    if np.any(a < 0):
        raise InputError(f"{name}={a[a < 0].flat[0]:g} is outside the allowed range [0, inf)")
    return a


def _out(x):
    return float(x) if np.ndim(x) == 0 else np.asarray(x, dtype=float)


def _factor(name, g_value):
    x = check_gate_strength(g_value)
    return _out(np.broadcast_to(_numeric(name)(x), np.shape(x)))


# ---------------------------------------------------------------- gate factors

def key_routing_factor(g: ArrayLike) -> float | np.ndarray:
    """Factor of the key-driven pattern change δA_K V_0 in (O_A-O_B)/2, paper gate; derived equal to ρ(g)."""
    return _factor("key_routing_factor", g)


def query_pattern_factor(g: ArrayLike) -> float | np.ndarray:
    """Factor of the query-driven pattern change δA_Q V_0 in (O_A-O_B)/2, paper gate; derived equal to 1."""
    return _factor("query_pattern_factor", g)


def pattern_factor(g: ArrayLike) -> float | np.ndarray:
    """ξ(g) = 1/(1+g): factor of the self-pattern change δA⁺ V_0 in (O_A-O_B)/2, paper gate (§5)."""
    return _factor("pattern_factor", g)


def cross_pattern_factor(g: ArrayLike) -> float | np.ndarray:
    """g ξ(g) = g/(1+g): factor of the cross-pattern change δA⁻ V_0 in (O_A-O_B)/2, paper gate."""
    return _factor("cross_pattern_factor", g)


def joint_routing_factor(g: ArrayLike) -> float | np.ndarray:
    """Factor of A_0 δV in (O_A-O_B)/2 for the joint-softmax gate; derived equal to ρ(g)."""
    return _factor("joint_routing_factor", g)


def joint_key_routing_factor(g: ArrayLike) -> float | np.ndarray:
    """Factor of δA_K V_0 in (O_A-O_B)/2 for the joint-softmax gate; derived equal to ρ(g)."""
    return _factor("joint_key_routing_factor", g)


def joint_query_pattern_factor(g: ArrayLike) -> float | np.ndarray:
    """Factor of δA_Q V_0 in (O_A-O_B)/2 for the joint-softmax gate; derived equal to 1."""
    return _factor("joint_query_pattern_factor", g)


def joint_pattern_factor(g: ArrayLike) -> float | np.ndarray:
    """Factor of δA⁺ V_0 in (O_A-O_B)/2 for the joint-softmax gate; derived equal to ξ(g) = 1/(1+g)."""
    return _factor("joint_pattern_factor", g)


# ---------------------------------------------------------------- numeric linearisation

def _softmax_rows(x):
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def _softmax_jacobian(a0, x):
    """J(X)_ij = (A_0)_ij (X_ij - sum_l (A_0)_il X_il): first-order change of softmax rows."""
    return a0 * (x - (a0 * x).sum(axis=-1, keepdims=True))


def linearised_difference(q0: ArrayLike, k0: ArrayLike, v0: ArrayLike, dq: ArrayLike, dk: ArrayLike,
                          dv: ArrayLike, g: float, gate: str = "paper") -> dict:
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
    pre = "" if gate == "paper" else "joint_"
    rho = routing_factor(gv) if gate == "paper" else _factor("joint_routing_factor", gv)
    value = 2 * rho * a0 @ dv  # (N, dv)
    key = 2 * _factor(f"{pre}key_routing_factor", gv) * da_k @ v0  # (N, dv)
    query = 2 * _factor(f"{pre}query_pattern_factor", gv) * da_q @ v0  # (N, dv)
    return {"difference": value + key + query, "value_routing": value, "key_routing": key,
            "query_pattern": query, "a0": a0, "da_query": da_q, "da_key": da_k}


def attention_difference_operators(q0: ArrayLike, k0: ArrayLike, v0: ArrayLike, a_q: ArrayLike, a_k: ArrayLike,
                                   a_v: ArrayLike, readout: ArrayLike) -> dict:
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


def mode_gains(routing: ArrayLike, pattern: ArrayLike, modes: ArrayLike) -> dict:
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
