"""Input validation shared by every package: one error type, one message shape.

Every public function checks its arguments with these helpers, so bad input
fails early with the argument's name and its allowed range instead of a NaN.
The command line catches `InputError` and exits with status 2, no traceback.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral, Real

import numpy as np
from numpy.typing import ArrayLike


class InputError(ValueError):
    """An argument is outside its allowed range; the message names both."""


def _fmt(x) -> str:
    return "inf" if x == math.inf else "-inf" if x == -math.inf else f"{x:g}"


def check_real(name: str, value: object, lo: float = -math.inf, hi: float = math.inf,
               lo_open: bool = False, hi_open: bool = False) -> float:
    """Return `value` as float if it is a finite real in the interval, else raise InputError."""
    if isinstance(value, bool) or not isinstance(value, (Real, np.floating, np.integer)):
        raise InputError(f"{name} must be a real number, got {value!r}")
    try:
        v = float(value)
    except OverflowError:                              # an int beyond float range (10**400)
        raise InputError(f"{name} must be finite, got an integer of {len(str(abs(int(value))))} digits") from None
    if math.isnan(v):
        raise InputError(f"{name} must be a number, got NaN")
    if not math.isfinite(v):
        raise InputError(f"{name} must be finite, got {_fmt(v)}")
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    below = v <= lo if lo_open else v < lo
    above = v >= hi if hi_open else v > hi
    if below or above:
        raise InputError(f"{name}={v:g} is outside the allowed range {left}{_fmt(lo)}, {_fmt(hi)}{right}")
    return v


K_MAX = 1024        # replicas (coupled_ou): dense K x K drift and correlation matrices, eigen-decompositions
SCALE_MAX = 1e100   # beyond this a positive scale (std, amplitude, eigenvalue, time) overflows its squares
SCALE_MIN = 1e-100  # below this its square underflows towards 0 and ratios such as a / sigma^2 overflow


def check_positive(name: str, value: object, hi: float = SCALE_MAX) -> float:
    """A finite real in [1e-100, hi]; hi = 1e100 by default: squares (and ratios of squares) of scales
    outside [1e-100, 1e100] under- or overflow in float64 (sigma = 1e-300: sigma^2 = 0)."""
    return check_real(name, value, SCALE_MIN, hi)


def check_int(name: str, value: object, lo: int | None = None, hi: int | None = None) -> int:
    """Return `value` as int if it is an integer in [lo, hi], else raise InputError."""
    if isinstance(value, bool) or not isinstance(value, (Integral, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise InputError(f"{name} must be an integer, got {value!r}")
    v = int(value)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = f"[{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
        shown = v if abs(v) < 10**15 else f"{float(v):g}"
        raise InputError(f"{name}={shown} is outside the allowed range {rng}")
    return v


def check_choice(name: str, value: object, allowed: Iterable) -> object:
    """Return `value` if it is one of `allowed` (a sequence, or a mapping's keys), else raise InputError naming the
    argument, the allowed values and the value given."""
    allowed = tuple(allowed)
    try:
        ok = value in allowed
    except (TypeError, ValueError):                    # an array: no truth value of its comparison
        ok = False
    if not ok:
        raise InputError(f"{name} must be one of {', '.join(map(str, allowed))}, got {value!r}")
    return value


def check_array(name: str, value: ArrayLike, ndim: int | None = None, finite: bool = True) -> np.ndarray:
    """Return `value` as a float array; raise InputError on wrong rank or non-finite entries."""
    try:
        if np.asarray(value).dtype.kind in "USV":    # text is not a number, even when it parses as one
            raise TypeError(f"got text {value!r}")
        a = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be a numeric array: {exc}") from None
    if ndim is not None and a.ndim != ndim:
        raise InputError(f"{name} must have {ndim} dimension(s), got shape {a.shape}")
    if finite and not np.all(np.isfinite(a)):
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        raise InputError(f"{name} has {bad} non-finite entr{'y' if bad == 1 else 'ies'} (NaN or inf)")
    return a


def check_decreasing(name: str, grid: ArrayLike) -> np.ndarray:
    """A 1-D finite grid that is strictly decreasing (a reverse-time grid)."""
    a = check_array(name, grid, ndim=1)
    if a.size < 2 or not np.all(np.diff(a) < 0):
        raise InputError(f"{name} must be a strictly decreasing grid of at least 2 times")
    return a


class SimulationError(RuntimeError):
    """A simulation produced NaN or inf; the message says where (step, time, paths or rows)."""


def index_list(idx: Iterable[int], limit: int = 5) -> str:
    """'3, 7, 9' or '3, 7, 9, 12, 15, ... (40 in all)': indices for an error message."""
    idx = [int(i) for i in idx]
    head = ", ".join(map(str, idx[:limit]))
    return head + (f", ... ({len(idx)} in all)" if len(idx) > limit else "")


def check_finite_state(where: str, state: ArrayLike, *, step: int | None = None, time: float | None = None, unit: str = "path", offset: int = 0) -> None:
    """Raise SimulationError if `state` (units along axis 0) holds NaN or inf, naming the units and the step.

    Cheap on the good path: one isfinite over the array; only on failure are the bad units listed.
    """
    a = np.asarray(state)
    if np.isfinite(a).all():
        return
    bad = np.flatnonzero(~np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1)) + offset
    at = "" if step is None else f" at step {int(step)}"
    if time is not None:
        at += f" (t = {float(time):.6g})"
    raise SimulationError(f"{where}: non-finite values (NaN or inf){at} in {unit}s {index_list(bad)}")


def unique_keys(pairs: list) -> dict:
    """json's object_pairs_hook: the object as a dict, InputError when a key appears twice (json.loads alone
    keeps the last value and silently drops the first)."""
    out = {}
    for key, value in pairs:
        if key in out:
            raise InputError(f"key {key!r} appears twice in one object (the second would silently replace the first)")
        out[key] = value
    return out
