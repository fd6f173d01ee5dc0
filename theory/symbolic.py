"""Shared SymPy symbols and the cached lambdify step every theory module uses.

A numeric function is generated from the very Formula expression that the docs and `--latex`
print, so the two cannot drift (a test checks numeric == symbolic). The exceptions are named in
their docstrings: a closed form rewritten for floating point (theory.base.collapse_time with
expm1/log1p) or evaluated by quadrature / root finding; each is tested against its Formula.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import sympy as sp

# Symbols (positive where the domain allows, so SymPy simplifies logs and roots).
t = sp.Symbol("t", positive=True)              # OU time
g = sp.Symbol("g", real=True)                  # coupling strength (layer A drift; may be negative)
gate_g = sp.Symbol("g", nonnegative=True)      # gate strength g >= 0 (layer B and the DiT gate)
Lam = sp.Symbol("Lambda", positive=True)       # covariance eigenvalue of the data
c = sp.Symbol("c", real=True)                  # cross-correlation of replica data
kappa = sp.Symbol("kappa", positive=True)      # a mode's relaxation rate
K = sp.Symbol("K", integer=True, positive=True)  # number of replicas
n = sp.Symbol("n", positive=True)              # number of training points
d = sp.Symbol("d", positive=True)              # dimension
sigma = sp.Symbol("sigma", positive=True)      # noise std of the data
a = sp.Symbol("a", positive=True)              # feature amplitude
lam = sp.Symbol("lambda", positive=True)       # covariance eigenvalue (layer B)
rho = sp.Symbol("rho", real=True)              # routing factor (1-g)/(1+g)
E = sp.Symbol("E", positive=True)              # e^{-2t}


def numeric(expr: sp.Basic, args: tuple) -> Callable:
    """NumPy function of `args` (a tuple of symbols) lambdified once from `expr` (cached)."""
    if isinstance(expr, sp.MatrixBase):
        expr = sp.ImmutableMatrix(expr)
    return _numeric(expr, tuple(args))


def numeric_stable(expr: sp.Basic, args: tuple) -> Callable:
    """Like `numeric`, after rewriting exp(x) - 1 as expm1(x) and log(1 + x) as log1p(x) (C99 rewrites).

    For formulas with 1 - e^{-2t}: at t = 1e-17 that difference is 0 in float64, expm1 keeps it.
    """
    return _numeric_stable(expr, tuple(args))


@lru_cache(maxsize=None)
def _numeric_stable(expr: sp.Basic, args: tuple):
    from sympy.codegen.rewriting import optimize, optims_c99
    return sp.lambdify(args, optimize(expr, optims_c99), modules=["scipy", "numpy"])


@lru_cache(maxsize=None)
def _numeric(expr: sp.Basic, args: tuple):
    return sp.lambdify(args, expr, modules=["scipy", "numpy"])
