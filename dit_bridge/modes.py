"""Empirical modes: units for a model whose data has no known features (docs/science.md §5).

    modes = empirical_modes(loaded, 4)          # the 4 leading principal directions of the model's own outputs
    modes["patterns"]                        # (K, C*H*W) orthonormal, ordered by radial spatial frequency

The K leading principal directions (by variance) of N outputs the model generates itself (uncoupled DDPM from
independent noise), then ordered by their radial spatial frequency, lowest (global) first, because P2.4 is
about frequency, not variance. A pair's agreement on a mode is the sign agreement of its two outputs'
projections on the direction after removing the outputs' mean, (x - mean)·φ, as for the FHGM's features.
The modes live in the space the model samples in: its VAE's latents where it has one, else pixels. Computed
once per (weights, K, N, seed, steps) and cached as .npz under $SYNCGAP_CACHE (default ~/.cache/syncgap).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from syncgap.theory.checks import InputError, check_int

from .pair_run import pair_labels
from .registry import LoadedDiT, weights_fingerprint
from .sampling import sample_pairs


def radial_frequency(direction: np.ndarray) -> float:
    """Power-weighted mean radial frequency (cycles per pixel) of a (C, H, W) pattern: sum |k| P(k) / sum P(k),
    with P the 2-D DFT power summed over channels (numpy.fft.fftfreq frequencies)."""
    d = np.asarray(direction, float)
    power = (np.abs(np.fft.fft2(d, axes=(-2, -1))) ** 2).sum(0)        # (H, W)
    ky, kx = np.meshgrid(np.fft.fftfreq(d.shape[-2]), np.fft.fftfreq(d.shape[-1]), indexing="ij")
    return float((np.hypot(ky, kx) * power).sum() / power.sum())


def principal_directions(samples: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean (D,), the k leading principal directions (k, D) orthonormal, their share of the variance (k,)) of
    samples (N, D), from the SVD of the centred samples."""
    x = np.asarray(samples, float)
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    var = s ** 2
    return mean, vt[:k], var[:k] / var.sum()


def generated_outputs(loaded: LoadedDiT, n: int, *, seed: int = 0, num_steps: int = 30) -> torch.Tensor:
    """(n, C, H, W) outputs of the model, uncoupled DDPM from independent noise (n rounded up to even)."""
    m = (n + 1) // 2
    gen = torch.Generator().manual_seed(seed)
    x_a, x_b = (torch.randn((m, *loaded.sample_shape), generator=gen) for _ in range(2))
    lab = pair_labels(loaded, None, m, seed)
    return sample_pairs(loaded, x_a, x_b, lab, seed=seed, num_steps=num_steps).x[:n]


def cache_dir() -> Path:
    """Where empirical modes are cached: $SYNCGAP_CACHE/modes, else ~/.cache/syncgap/modes."""
    return Path(os.environ.get("SYNCGAP_CACHE") or Path.home() / ".cache" / "syncgap") / "modes"


def empirical_modes(loaded: LoadedDiT, k: int, *, n_samples: int = 256, seed: int = 0, num_steps: int = 30) -> dict:
    """{"patterns" (K, D), "offsets" (K,) = mean·φ, "frequency" (K,), "variance_share" (K,), "labels", "space",
    "cached"}: the K leading principal directions of the model's outputs, ordered by radial frequency."""
    c, h, w = loaded.sample_shape
    k = check_int("modes", k, 2, min(64, c * h * w))
    n_samples = check_int("n_samples", n_samples, k + 1, 10**5)
    path = cache_dir() / f"{weights_fingerprint(loaded.model)}-k{k}-n{n_samples}-s{seed}-t{num_steps}.npz"
    cached = path.is_file()
    if cached:
        with np.load(path) as f:
            mean, dirs, share = f["mean"], f["directions"], f["share"]
    else:
        x = generated_outputs(loaded, n_samples, seed=seed, num_steps=num_steps).reshape(n_samples, -1).double().numpy()
        if not np.isfinite(x).all():
            raise InputError(f"model {loaded.name} generated non-finite outputs: no empirical modes")
        mean, dirs, share = principal_directions(x, k)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, mean=mean, directions=dirs, share=share)
        os.replace(tmp, path)
    freq = np.array([radial_frequency(d.reshape(c, h, w)) for d in dirs])
    order = np.argsort(freq, kind="stable")
    return {"patterns": dirs[order], "offsets": dirs[order] @ mean, "frequency": freq[order],
            "variance_share": share[order], "labels": [f"mode{i + 1}" for i in range(k)],
            "space": "latent" if loaded.latent_scale is not None else "pixel", "cached": cached, "path": str(path)}


__all__ = ["radial_frequency", "principal_directions", "generated_outputs", "cache_dir", "empirical_modes"]
