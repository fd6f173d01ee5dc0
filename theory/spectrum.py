"""The data side: covariance spectra from real samples, turned into predicted times (docs/science.md §2, §3).

A researcher passes an array of samples (n, ...) or a .npy path, or names a built-in dataset,
and gets the sorted eigenvalues Lambda_j of the per-replica data covariance and, for a coupling
g, the per-mode speciation times t_S^m = log(kappa_m Lambda_j w_m^T R w_m)/(2 kappa_m) and gaps.
"""
from __future__ import annotations

import os

import numpy as np
from numpy.typing import ArrayLike

from .checks import SCALE_MAX, SCALE_MIN, InputError, check_array, check_choice, check_int, check_real
from .coupled_ou import drift_all_to_all, drift_symmetric, mode_speciation_times

BUILTIN = ("fhgm", "two_gaussian", "digits")


def builtin_samples(name: str, n: int = 4000, seed: int = 0, d: int = 64) -> np.ndarray:
    """Samples (n, D) of a built-in dataset: 'fhgm', 'two_gaussian' (d dims) or 'digits' (sklearn 8x8).

    'digits' returns all 1797 images scaled to [-1, 1] (x/8 - 1), the range diffusion models train on;
    the spectrum, and so every predicted time, depends on this scaling (t_S shifts by log of the scale).
    """
    n = check_int("n", n, 2)
    if name == "fhgm":
        from .data import frequency_hierarchy_mixture
        return frequency_hierarchy_mixture().sample(n, np.random.default_rng(seed))
    if name == "two_gaussian":
        from .data import two_gaussian_mixture
        return two_gaussian_mixture(check_int("d", d, 1)).sample(n, np.random.default_rng(seed))
    if name == "digits":
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise InputError("dataset 'digits' needs scikit-learn (pip install scikit-learn)") from None
        x = load_digits().data.astype(float)
        return x / 8.0 - 1.0                              # pixel values in [-1, 1], as diffusion models see them
    return check_choice("dataset", name, BUILTIN)   # not a built-in dataset: raises, naming them


def builtin_spectrum(name: str) -> np.ndarray:
    """Exact covariance eigenvalues where known ('fhgm', 'two_gaussian'), else the sample spectrum."""
    if name == "fhgm":
        from .data import frequency_hierarchy_mixture
        mix = frequency_hierarchy_mixture()
        return np.sort(np.concatenate([mix.eigenvalues(), np.full(mix.dim - mix.num_features,
                                                                  mix.noise_std ** 2)]))[::-1]
    if name == "two_gaussian":
        from .data import two_gaussian_mixture
        mix = two_gaussian_mixture(64)
        return np.sort(np.concatenate([mix.eigenvalues(), np.full(mix.dim - 1, mix.noise_std ** 2)]))[::-1]
    return covariance_spectrum(builtin_samples(name))


def covariance_spectrum(samples_or_path: ArrayLike | str | os.PathLike) -> np.ndarray:
    """Eigenvalues of the sample covariance of (n, ...) samples, sorted descending (docs/science.md §2).

    Accepts an array or a path to a .npy file; each sample is flattened. Needs n >= 2 finite samples.
    Unbiased covariance (divides by n - 1); with n <= D the trailing n..D eigenvalues are 0.
    """
    x = samples_or_path
    if isinstance(x, (str, os.PathLike)):
        path = os.fspath(x)
        if not path.endswith(".npy"):
            raise InputError(f"samples path {path!r} must be a .npy file")
        if not os.path.exists(path):
            raise InputError(f"samples path {path!r} does not exist")
        if not os.path.isfile(path):
            raise InputError(f"samples path {path!r} is not a file (a folder?)")
        try:
            x = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:            # pickled, truncated, empty, unreadable
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise InputError(f"could not read {path!r} as a numeric .npy array: {first}") from None
    if np.iscomplexobj(x):
        raise InputError("samples must be real numbers, got a complex array")
    x = check_array("samples", x)
    if x.size and np.abs(x).max() > SCALE_MAX:
        raise InputError(f"samples has entries up to {np.abs(x).max():g} in magnitude; the covariance needs "
                         f"their squares: rescale the data to within {SCALE_MAX:g}")
    if x.ndim < 2:
        raise InputError(f"samples must have shape (n, ...) with n samples, got {x.shape}")
    x = x.reshape(x.shape[0], -1)
    if x.shape[0] < 2:
        raise InputError(f"samples has n={x.shape[0]} samples; need at least 2")
    xc = x - x.mean(0)
    if x.shape[0] < x.shape[1]:                     # Gram trick: same nonzero spectrum, cheaper
        ev = np.linalg.eigvalsh(xc @ xc.T / (x.shape[0] - 1))
        ev = np.concatenate([ev, np.zeros(x.shape[1] - ev.size)])
    else:
        ev = np.linalg.eigvalsh(xc.T @ xc / (x.shape[0] - 1))
    if not np.all(np.isfinite(ev)) or ev.max() > SCALE_MAX:
        raise InputError(f"samples: the covariance has an eigenvalue {ev.max():g}, beyond the {SCALE_MAX:g} that "
                         "the predicted times accept; rescale the data")
    return np.sort(np.clip(ev, 0.0, None))[::-1]


def predicted_times(spectrum: ArrayLike, g: float, c: float = 0.0, K: int = 2, coupling: str = "symmetric",
                    top: int = 10) -> dict:
    """Per-mode speciation times and the gap for the `top` leading eigenvalues (docs/science.md §3).

    Returns {"Lambda": (top,), "rates": (K,), "t_S": (top, K), "t_S_base": (top,), "gap": (top,)} with
    t_S_base = 1/2 log Lambda (g = 0, §2) and gap = t_S(common mode) - min t_S(other modes) per eigenvalue.
    Eigenvalues below 1e-100 (SCALE_MIN) are dropped: no signal in those directions, and no mode
    speciates there. Eigenvalues above 1e100 are refused (InputError).
    """
    lam = check_array("spectrum", spectrum, ndim=1)
    top = check_int("top", top, 1)
    lam = np.sort(lam[lam >= SCALE_MIN])[::-1][:top]
    if lam.size == 0:
        raise InputError(f"spectrum has no eigenvalue >= {SCALE_MIN:g}")
    if coupling == "symmetric":
        A = drift_symmetric(g)
    elif coupling == "all_to_all":
        A = drift_all_to_all(K, g)
    else:
        raise InputError(f"coupling={coupling!r} is not one of 'symmetric', 'all_to_all'")
    recs = [mode_speciation_times(A, float(L), c) for L in lam]
    ts = np.array([r["t_S"] for r in recs])
    return {"g": check_real("g", g), "c": float(c), "coupling": coupling, "Lambda": lam,
            "rates": recs[0]["rates"], "t_S": ts, "t_S_base": 0.5 * np.log(lam), "gap": ts[:, 0] - ts[:, 1:].min(1)}
