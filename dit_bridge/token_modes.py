"""The token grid's orthonormal 2-D DCT-II modes, and which of them carry an FHGM feature (docs/science.md §5).

A DiT block's hidden state is (tokens T, hidden D) on an h x w token grid (row-major, diffusers' patch
embedding). Its token modes are the columns of the orthonormal 2-D DCT-II basis, u_(i,j)(y, x) = c_i(y) c_j(x);
the global modes are those with both frequency indices <= 2 (the band of the FHGM's coarse features dct01 and
dct12), the rest are local. Used by the depth measurement (depth.py), the per-layer modes (layer_modes.py),
the band ablation (ablation.py) and Protocol II's increment shares (protocols.py).
"""
from __future__ import annotations

import numpy as np
import torch

from syncgap.theory.checks import InputError, check_int, check_real

GLOBAL_MAX_INDEX = 2   # global token modes: both DCT frequency indices <= 2 (dct01, dct12 of the FHGM)


def dct_matrix(n: int) -> np.ndarray:
    """(n freq, n pos) orthonormal DCT-II: c_i(y) = s_i cos(pi i (2y + 1) / (2n)), s_0 = sqrt(1/n), s_i = sqrt(2/n)."""
    n = check_int("n", n, 1)
    k, y = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    c = np.cos(np.pi * k * (2 * y + 1) / (2 * n)) * np.sqrt(2.0 / n)
    c[0] /= np.sqrt(2.0)
    return c


def token_dct_basis(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal 2-D DCT-II basis of an h x w token grid (tokens row-major, as diffusers' patch embedding).

    Returns basis (T, T), column m = c_i(y) c_j(x) with (i, j) = index[m], modes in row-major (i, j) order,
    and index (T, 2).
    """
    cy, cx = dct_matrix(h), dct_matrix(w)
    basis = np.einsum("iy,jx->yxij", cy, cx).reshape(h * w, h * w)  # (tokens, modes)
    index = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij"), -1).reshape(-1, 2)
    return basis, index


def global_mode_mask(index: np.ndarray, max_index: int = GLOBAL_MAX_INDEX) -> np.ndarray:
    """(T,) True for the global (low-frequency) token modes: both DCT indices <= max_index."""
    return np.all(np.asarray(index) <= check_int("max_index", max_index, 0), axis=-1)


def chance_share(mask: np.ndarray) -> float:
    """Global share of an isotropic difference: E|P_G d|^2 / E|d|^2 = |G| / T for an orthonormal basis."""
    mask = np.asarray(mask, bool)
    return float(mask.sum() / mask.size)


def mode_energy(d: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Energy per token mode summed over channels: e_m = sum_c (u_m^T d[:, c])^2; d (..., T, D) -> (..., T).

    With an orthonormal basis sum_m e_m = |d|^2 (Parseval)."""
    coef = torch.einsum("tm,...tc->...mc", basis.to(d.dtype), d)  # (..., modes, D)
    return coef.pow(2).sum(-1)


def patchify(pattern: np.ndarray, patch: int) -> np.ndarray:
    """(C, H, W) image -> (T, C patch^2): one row per token, tokens row-major (diffusers' PatchEmbed order)."""
    c, h, w = pattern.shape
    if h % patch or w % patch:
        raise InputError(f"patch={patch} must divide the image size {h}x{w}")
    x = pattern.reshape(c, h // patch, patch, w // patch, patch)
    return x.transpose(1, 3, 0, 2, 4).reshape((h // patch) * (w // patch), c * patch * patch)


def feature_token_modes(pattern: np.ndarray, basis: np.ndarray, patch: int, coverage: float = 0.9,
                        max_modes: int = 6) -> tuple[list[int], float]:
    """Token modes carrying one feature: the fewest modes (by energy) holding `coverage` of the patchified
    pattern's energy sum_c (u_m^T P[:, c])^2, at most `max_modes`. Returns (mode indices, energy fraction held)."""
    coverage = check_real("coverage", coverage, 0.0, 1.0, lo_open=True)
    max_modes = check_int("max_modes", max_modes, 1)
    p = patchify(np.asarray(pattern, float), patch)  # (T, C p^2)
    e = ((basis.T @ p) ** 2).sum(1)
    order = np.argsort(-e, kind="stable")
    held = np.cumsum(e[order]) / e.sum()
    n = min(int(np.searchsorted(held, coverage - 1e-12) + 1), max_modes)
    return [int(m) for m in order[:n]], float(held[n - 1])


__all__ = ["GLOBAL_MAX_INDEX", "dct_matrix", "token_dct_basis", "global_mode_mask", "chance_share", "mode_energy",
           "patchify", "feature_token_modes"]
