"""A replica pair run to the end with branches split off on the way: the engine of cloning, Protocol I, its
variants (ou_models.measure, ou_models.variants) and coupled cloning (ou_models.analog), with the variants'
choices of docs/protocols.md (window, noise, start) and their check.

`run_branches` runs the main path of n paths with the step tables `main` and, from each branch step, a copy
on the tables `branch` with fresh noise (kernels.branch_paths); `antisymmetric_start` gives the pair's start.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from syncgap.theory.checks import InputError, check_real
from syncgap.theory.resources import check_array_memory

from . import kernels
from .engine import initial_for_ids, initial_state, locate_nonfinite, sign_states

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from numpy.typing import ArrayLike

    from .engine import FeatureModel

WINDOWS = ("release", "switch-on", "throughout", "clone")
NOISES = ("independent", "shared")


def check_variant(window: str, noise: str, eps: float | None,
                  windows: Sequence[str] = WINDOWS) -> tuple[str, str, float | None]:
    """(window, noise, eps) checked: window in `windows`, noise in NOISES, eps None or in [0, 1]."""
    if window not in windows:
        raise InputError(f"window must be one of {', '.join(windows)}, got {window!r}")
    if noise not in NOISES:
        raise InputError(f"noise must be one of {', '.join(NOISES)}, got {noise!r}")
    if eps is not None:
        eps = check_real("eps", eps, 0.0, 1.0)
    return window, noise, eps


def antisymmetric_start(z: np.ndarray, eps: float | None) -> np.ndarray:
    """z (n, 2, D) of two independent draws -> sqrt(1 - eps^2) z_0 +- eps z_1 (eps None: z unchanged).

    Variance preserving: each replica has the covariance of one draw, exactly in law when the start
    marginal is Gaussian (T well above 1/2 log of the largest data eigenvalue); A - B = 2 eps z_1.
    """
    if eps is None:
        return z
    if z.ndim != 3 or z.shape[1] != 2:
        raise InputError(f"an antisymmetric start needs a pair (n, 2, D), got shape {z.shape}")
    base, pert = np.sqrt(1.0 - eps * eps) * z[:, 0], eps * z[:, 1]
    return np.stack([base + pert, base - pert], axis=1)


def run_branches(model: FeatureModel, grid: np.ndarray, n: int, seed: int, K: int, main: tuple, branch: tuple,
                 steps: np.ndarray, batch: int, progress: Callable[[int, int], object] | None,
                 sign_mixing: ArrayLike | None = None, shared_noise: bool = False,
                 eps: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Main + branch final feature coordinates for n paths: (n, K, F), (n, B, K, F).

    shared_noise: both replicas draw the same per-step noise; eps: antisymmetric start
    (`antisymmetric_start`), None = independent draws (docs/protocols.md).
    """
    F = model.num_features
    check_array_memory(f"{n} paths x {steps.size} branch times", (n, K, F), (n, steps.size, K, F), (batch, K, model.dim))
    y_main = np.empty((n, K, F))
    y_br = np.empty((n, steps.size, K, F))
    signs = sign_states(K)
    signed = model.amplitudes > 0
    for lo in range(0, n, batch):
        hi = min(n, lo + batch)
        z = antisymmetric_start(initial_state(model, hi - lo, K, grid[0], main[1], seed, lo, sign_mixing), eps)
        kernels.branch_paths(z, np.arange(lo, hi, dtype=np.int64), seed, model.patterns,
                             *main[0].args(), *branch[0].args(), signs, signed,
                             steps.astype(np.int64), y_main[lo:hi], y_br[lo:hi], shared_noise)
        _check_branches(model, grid, seed, K, main, branch, steps, lo, y_main[lo:hi], y_br[lo:hi], sign_mixing)
        if progress is not None:
            progress(hi, n)
    return y_main, y_br


def _check_branches(model, grid, seed, K, main, branch, steps, lo, y_main, y_br, sign_mixing):
    """SimulationError naming the first non-finite step and its paths (main run first, then the branches)."""
    bad_main = ~np.isfinite(y_main).reshape(len(y_main), -1).all(axis=1)
    bad_br = ~np.isfinite(y_br).all(axis=(2, 3))                    # (b, B)
    if not (bad_main.any() or bad_br.any()):
        return
    N = grid.size - 1
    if bad_main.any():
        rows = np.flatnonzero(bad_main)
        segs = [(main[0], 0, 0, N)]
    else:
        b = int(np.flatnonzero(bad_br.any(axis=0))[0])              # the earliest branch that failed
        rows = np.flatnonzero(bad_br[:, b])
        segs = [(main[0], 0, 0, int(steps[b])), (branch[0], b + 1, int(steps[b]), N)]
    ids = lo + rows
    start = initial_for_ids(model, ids, K, grid[0], main[1], seed, sign_mixing)
    where = "main run" if bad_main.any() else f"branch from step {segs[1][2]}"
    locate_nonfinite(where, model, grid, start, ids, seed, segs)


__all__ = ["WINDOWS", "NOISES", "check_variant", "antisymmetric_start", "run_branches"]
