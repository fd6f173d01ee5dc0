"""Training data of the embedded small DiTs (docs/science.md §6) as torch tensors, with a data hash.

- "fhgm": the frequency-hierarchy Gaussian mixture of `theory.data.frequency_hierarchy_mixture`
  (the very distribution the exact-score OU sampler uses), a fixed pool of samples drawn from a
  seed, shape (N, C, H, W), one class (label 0).
- "fhgm-flat": its control with equal amplitudes (`theory.data.flat_frequency_mixture`), drawn the
  same way: under the exact score every feature commits at the same time.
- "digits": scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes, no download),
  bilinearly upsampled to 16x16 and standardised with one global mean and std so the pixels have
  unit variance: x = (upsample(pixels) - mean) / std. `to_pixels` undoes it.

The hash is sha256 over the float32 images and int64 labels, so a model card pins its data.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from syncgap.theory.checks import InputError, check_choice, check_int
from syncgap.theory.data import (FHGM_AMPLITUDES, FHGM_FREQUENCIES, SignFeatureMixture,
                                 flat_frequency_mixture, frequency_hierarchy_mixture)

# FHGM-like datasets: name -> (mixture constructor, its name in the spec's "source").
FHGM_MIXTURES = {"fhgm": (frequency_hierarchy_mixture, "frequency_hierarchy_mixture"),
                 "fhgm-flat": (flat_frequency_mixture, "flat_frequency_mixture")}
DATASETS = ("fhgm", "fhgm-flat", "digits")


@dataclass
class TrainingData:
    """Images (N, C, H, W) float32, labels (N,) int64, and how they were made."""

    images: torch.Tensor      # (N, C, H, W)
    labels: torch.Tensor      # (N,)
    num_classes: int
    spec: dict = field(default_factory=dict)

    @property
    def sample_shape(self) -> tuple:
        return tuple(int(s) for s in self.images.shape[1:])


def data_hash(images: torch.Tensor, labels: torch.Tensor) -> str:
    """sha256 hex digest of the float32 images and int64 labels (C-contiguous bytes)."""
    h = hashlib.sha256()
    h.update(images.detach().to(torch.float32).contiguous().numpy().tobytes())
    h.update(labels.detach().to(torch.int64).contiguous().numpy().tobytes())
    return h.hexdigest()


def fhgm_data(num_samples: int = 32768, seed: int = 0, size: int = 16, channels: int = 1,
              name: str = "fhgm", amplitudes: list | None = None,
              frequencies: list | None = None) -> TrainingData:
    """A fixed pool of samples x_0 = sum_k a_k s_k phi_k + sigma eps of an FHGM-like mixture
    ("fhgm" or its equal-amplitude control "fhgm-flat", theory.data defaults).

    `amplitudes` / `frequencies` (FHGM only) replace the default ladder / DCT frequencies; they are
    stored in the spec, so every consumer rebuilds this mixture with `mixture_from_spec`.
    """
    check_choice("name", name, FHGM_MIXTURES)
    n = check_int("num_samples", num_samples, 1)
    seed = check_int("seed", seed, 0)
    make, source = FHGM_MIXTURES[name]
    if amplitudes is None and frequencies is None:
        mix = make(size=size, channels=channels)
    elif name != "fhgm":
        raise InputError(f"amplitudes/frequencies can only be set for the 'fhgm' dataset, not {name!r}")
    else:
        freqs = [tuple(f) for f in (frequencies if frequencies is not None else FHGM_FREQUENCIES)]
        amps = amplitudes if amplitudes is not None else [float(a) for a in FHGM_AMPLITUDES[:len(freqs)]]
        if len(amps) != len(freqs):
            raise InputError(f"amplitudes has {len(amps)} entries but frequencies has {len(freqs)}")
        mix = frequency_hierarchy_mixture(size=size, channels=channels, frequencies=freqs, amplitudes=amps)
        source = "frequency_hierarchy_mixture"
    x = mix.sample(n, np.random.default_rng(seed))                        # (N, D)
    images = torch.from_numpy(x.astype(np.float32)).reshape(n, *mix.shape)  # (N, C, H, W)
    labels = torch.zeros(n, dtype=torch.int64)
    spec = {"name": name, "num_samples": n, "seed": seed, "size": size, "channels": channels,
            "frequencies": [[int(u), int(v)] for u, v in (frequencies or FHGM_FREQUENCIES)],
            "amplitudes": mix.amplitudes.tolist(), "noise_std": mix.noise_std,
            "source": f"syncgap.theory.data.{source}(size, channels{', frequencies, amplitudes' if amplitudes or frequencies else ''}), sample(n, default_rng(seed))"}
    spec["data_hash"] = data_hash(images, labels)
    return TrainingData(images, labels, 1, spec)


def mixture_from_spec(spec: dict) -> SignFeatureMixture:
    """The mixture an FHGM-like training spec was drawn from, rebuilt from its stored frequencies,
    amplitudes and noise std (a spec without them, written before they were stored, is the FHGM)."""
    return frequency_hierarchy_mixture(
        size=spec["size"], channels=spec["channels"],
        frequencies=[tuple(f) for f in spec.get("frequencies", FHGM_FREQUENCIES)],
        **{k: spec[k] for k in ("amplitudes", "noise_std") if k in spec})


def model_mixture(info: dict, sample_shape: tuple, name: str = "") -> SignFeatureMixture | None:
    """The FHGM-like mixture a loaded model was trained on (None for other data).

    Rebuilt from the training spec in `info["dataset"]` (`mixture_from_spec`: its own frequencies,
    amplitude ladder and noise std), so a model trained on another ladder is never read on the default
    FHGM; a model without a spec dict but named like an FHGM dataset gets that dataset's defaults at
    its sample shape (C, H, W).
    """
    ds = info.get("dataset")
    if isinstance(ds, dict) and ds.get("name") in FHGM_MIXTURES and "size" in ds and "channels" in ds:
        return mixture_from_spec(ds)
    key = ds if isinstance(ds, str) and ds in FHGM_MIXTURES else name
    if key not in FHGM_MIXTURES:
        return None
    c, h = int(sample_shape[0]), int(sample_shape[1])
    return FHGM_MIXTURES[key][0](size=h, channels=c)


def digits_data(size: int = 16) -> TrainingData:
    """sklearn's 8x8 digits, bilinearly upsampled to size x size, standardised to unit variance."""
    from sklearn.datasets import load_digits

    size = check_int("size", size, 8, 64)
    d = load_digits()
    px = torch.from_numpy(d.images.astype(np.float32))[:, None]             # (N, 1, 8, 8), 0..16
    if size != 8:
        px = F.interpolate(px, size=(size, size), mode="bilinear", align_corners=False)
    mean, std = float(px.mean()), float(px.std())
    images = (px - mean) / std                                               # (N, 1, size, size)
    labels = torch.from_numpy(d.target.astype(np.int64))
    spec = {"name": "digits", "num_samples": int(images.shape[0]), "size": size,
            "source": "sklearn.datasets.load_digits(), bilinear upsample (align_corners=False)",
            "pixel_mean": mean, "pixel_std": std}
    spec["data_hash"] = data_hash(images, labels)
    return TrainingData(images, labels, 10, spec)


def to_pixels(images: torch.Tensor | np.ndarray, spec: dict) -> torch.Tensor | np.ndarray:
    """Undo the digits standardisation: pixels = images * std + mean (0..16 scale)."""
    return images * spec["pixel_std"] + spec["pixel_mean"]


def load_data(name: str, **kwargs: object) -> TrainingData:
    """Dataset by name: 'fhgm', 'fhgm-flat' or 'digits'."""
    if name in FHGM_MIXTURES:
        return fhgm_data(name=name, **kwargs)
    if name == "digits":
        return digits_data(**kwargs)
    check_choice("dataset", name, DATASETS)
