"""Quality of the embedded small DiTs (dit_bridge/zoo/, docs/science.md §6): load with an integrity check, sample, measure.

- `load_zoo_model(dir)`: DiTTransformer2DModel.from_pretrained + training.json, after checking the
  weights file against the size and sha256 recorded at training time (clear InputError if not).
- `ddim_sample`: deterministic DDIM (eta = 0) on DiT's linear schedule with classifier-free guidance,
  eps = eps(x, null) + s (eps(x, y) - eps(x, null)) (DiT's sample.py convention; s = 1: no guidance).
- `denoiser_error_curve` (FHGM and its equal-amplitude control fhgm-flat): learned x0_hat = (x_i - sqrt(1 - abar_i) eps_theta) / sqrt(abar_i)
  against the exact posterior mean E[x_0 | x_i] of theory.data at OU time t_i = -1/2 log abar_i,
  relative to the Bayes error E||x_0 - E[x_0|x_i]||^2 (excess-risk ratio).
- `feature_statistics` (FHGM, fhgm-flat): per feature y_k = phi_k . x of samples: sign balance, mean |y_k| vs a_k,
  spread of |y_k| vs sigma, off-mode fraction; residual per-pixel variance vs sigma^2.
- `digit_guidance_accuracy` (digits): a logistic regression trained on the training images labels
  class-conditional samples; accuracy per guidance scale.
All return plain dicts of numbers and lists.
"""
from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import numpy as np
import torch

from syncgap.theory.checks import InputError, check_int, check_real

from .datasets import mixture_from_spec
from .train_files import WEIGHTS_FILE as WEIGHTS
from .train import alphas_cumprod
from .train_files import file_sha256

if TYPE_CHECKING:
    from collections.abc import Sequence

    from diffusers import DiTTransformer2DModel
    from numpy.typing import ArrayLike
    from sklearn.linear_model import LogisticRegression

    from .datasets import TrainingData


def load_zoo_model(model_dir: str) -> tuple[DiTTransformer2DModel, dict]:
    """(model in eval mode, training.json dict) of a trained zoo folder; InputError if damaged."""
    from diffusers import DiTTransformer2DModel

    meta_path = os.path.join(model_dir, "training.json")
    wpath = os.path.join(model_dir, WEIGHTS)
    for p in (meta_path, wpath, os.path.join(model_dir, "config.json")):
        if not os.path.isfile(p):
            raise InputError(f"model folder {model_dir!r} lacks {os.path.basename(p)}")
    with open(meta_path) as f:
        meta = json.load(f)
    want = meta.get("weights")
    if want:
        size = os.path.getsize(wpath)
        if size != want["bytes"]:
            raise InputError(f"weights file {wpath} is {size} bytes, expected {want['bytes']}: "
                             "truncated or replaced; restore it from the package")
        if file_sha256(wpath) != want["sha256"]:
            raise InputError(f"weights file {wpath} fails its sha256 check: corrupted; "
                             "restore it from the package")
    try:
        model = DiTTransformer2DModel.from_pretrained(model_dir, torch_dtype=torch.float32,
                                                      low_cpu_mem_usage=False)
    except Exception as exc:  # diffusers/safetensors raise several types for a bad file
        raise InputError(f"cannot load the DiT in {model_dir!r}: {type(exc).__name__}: {exc}") from None
    return model.eval(), meta


def _eps(model, x, steps, labels, null_id, guidance):
    """Guided epsilon prediction for a batch at integer DDPM steps."""
    if guidance == 1.0 or null_id is None:
        return model(x, timestep=steps, class_labels=labels).sample[:, : x.shape[1]]
    xx = torch.cat([x, x])
    ll = torch.cat([labels, torch.full_like(labels, null_id)])
    out = model(xx, timestep=torch.cat([steps, steps]), class_labels=ll).sample[:, : x.shape[1]]
    cond, unc = out.chunk(2)
    return unc + guidance * (cond - unc)


@torch.no_grad()
def ddim_sample(model: torch.nn.Module, labels: ArrayLike | torch.Tensor, shape: Sequence[int], num_steps: int = 50,
                guidance: float = 1.0, null_id: int | None = None,
                seed: int = 0) -> torch.Tensor:
    """DDIM (eta = 0) samples, one per label, from N(0, I) at step 999 'leading' spacing."""
    num_steps = check_int("num_steps", num_steps, 1, 1000)
    guidance = check_real("guidance", guidance, 0.0)
    labels = torch.as_tensor(labels, dtype=torch.int64)
    abar = alphas_cumprod().to(torch.float64)
    gen = torch.Generator().manual_seed(check_int("seed", seed, 0))
    x = torch.randn((labels.numel(), *shape), generator=gen, dtype=torch.float32)
    ratio = 1000 // num_steps
    steps = (np.arange(num_steps) * ratio)[::-1]             # 'leading' spacing, as diffusers
    for k, i in enumerate(steps):
        a = abar[i].item()
        a_prev = abar[steps[k + 1]].item() if k + 1 < len(steps) else 1.0
        ts = torch.full((labels.numel(),), int(i), dtype=torch.int64)
        eps = _eps(model, x, ts, labels, null_id, guidance)
        x0 = (x - (1 - a) ** 0.5 * eps) / a ** 0.5
        x = a_prev ** 0.5 * x0 + (1 - a_prev) ** 0.5 * eps
    return x


DEFAULT_LEVELS = (10, 50, 100, 200, 300, 400, 500, 600, 700, 800, 900, 990)


@torch.no_grad()
def denoiser_error_curve(model: torch.nn.Module, meta: dict, levels: Sequence[int] = DEFAULT_LEVELS, n: int = 256,
                         seed: int = 1) -> dict:
    """Learned denoiser vs exact posterior mean of the FHGM at DDPM steps `levels` (fresh samples)."""
    n = check_int("n", n, 2)
    spec = meta["dataset"]
    mix = mixture_from_spec(spec)    # the FHGM or its equal-amplitude control, as trained
    rng = np.random.default_rng(check_int("seed", seed, 0))
    abar = alphas_cumprod().numpy()
    rows = []
    for i in levels:
        i = check_int("level", i, 0, 999)
        a = float(abar[i])
        t = -0.5 * np.log(a)
        x0 = mix.sample(n, rng)                                           # (n, D)
        xt = np.sqrt(a) * x0 + np.sqrt(1 - a) * rng.standard_normal(x0.shape)
        exact = mix.posterior_mean(xt, t)                                 # (n, D)
        xt_t = torch.from_numpy(xt.astype(np.float32)).reshape(n, *mix.shape)
        eps = model(xt_t, timestep=torch.full((n,), i), class_labels=torch.zeros(n, dtype=torch.int64)
                    ).sample[:, : mix.shape[0]].reshape(n, -1).double().numpy()
        learned = (xt - np.sqrt(1 - a) * eps) / np.sqrt(a)
        err = np.mean(np.sum((learned - exact) ** 2, 1))
        bayes = np.mean(np.sum((x0 - exact) ** 2, 1))
        feat = (mix.project(learned) - mix.project(exact)) / mix.amplitudes   # (n, K)
        rows.append({"step": i, "ou_time": t,
                     "rmse_vs_exact": float(np.sqrt(err / mix.dim)),
                     "bayes_rmse": float(np.sqrt(bayes / mix.dim)),
                     "excess_ratio": float(err / bayes),
                     "feature_rmse_over_amplitude": np.sqrt(np.mean(feat ** 2, 0)).tolist()})
    return {"n": n, "seed": seed, "feature_names": list(mix.names), "rows": rows}


def feature_statistics(samples: ArrayLike, meta: dict) -> dict:
    """FHGM feature statistics of samples (n, C, H, W) against the mixture's exact values."""
    spec = meta["dataset"]
    mix = mixture_from_spec(spec)    # the FHGM or its equal-amplitude control, as trained
    x = np.asarray(samples, dtype=float).reshape(len(samples), -1)          # (n, D)
    y = mix.project(x)                                                       # (n, K)
    resid = x - y @ mix.patterns
    dev = np.abs(np.abs(y) - mix.amplitudes)
    return {"n": int(x.shape[0]), "feature_names": list(mix.names),
            "amplitudes": mix.amplitudes.tolist(), "noise_std": mix.noise_std,
            "positive_fraction": np.mean(y > 0, 0).tolist(),
            "mean_abs": np.mean(np.abs(y), 0).tolist(),
            "std_abs": np.std(np.abs(y), 0).tolist(),
            "off_mode_fraction": np.mean(dev > 3 * mix.noise_std, 0).tolist(),
            "residual_pixel_var": float(np.mean(np.var(resid, 0)) * mix.dim / (mix.dim - mix.num_features)),
            "expected_residual_pixel_var": mix.noise_std ** 2}


AMPLITUDE_TOLERANCE = 0.10  # the gate: |mean |y_k| / a_k - 1| <= 10% for every feature
SIGN_TOLERANCE = 0.03       # and |P(y_k > 0) - 1/2| <= 0.03 (about 2.7 binomial errors at n = 2048)


def quality_gate(stats: dict) -> dict:
    """The zoo's quality gate on `feature_statistics`: every feature's mean |y_k| within
    AMPLITUDE_TOLERANCE of a_k and its sign balance P(y_k > 0) within SIGN_TOLERANCE of 1/2.

    Returns {"passed": bool, "shortfalls": [one line per missed condition], "n": samples}.
    """
    short = []
    for nm, a, m, p in zip(stats["feature_names"], stats["amplitudes"], stats["mean_abs"],
                           stats["positive_fraction"]):
        if abs(m / a - 1) > AMPLITUDE_TOLERANCE:
            short.append(f"{nm} mean abs(y_k) = {m / a:.2f} a_k (outside {AMPLITUDE_TOLERANCE:.0%}: "
                         f"{'under' if m < a else 'over'}-committed)")
        if abs(p - 0.5) > SIGN_TOLERANCE:
            short.append(f"{nm} P(y_k > 0) = {p:.3f} (outside 1/2 +- {SIGN_TOLERANCE:g})")
    return {"passed": not short, "shortfalls": short, "n": int(stats["n"]),
            "amplitude_tolerance": AMPLITUDE_TOLERANCE, "sign_tolerance": SIGN_TOLERANCE}


GENERATED_MIN = 0.5  # a feature counts as generated when its samples reach mean |y_k| >= half its amplitude a_k


def generated_features(stats: dict, min_ratio: float = GENERATED_MIN) -> list[int]:
    """Indices of the features the model generates: mean |y_k| / a_k >= min_ratio on its samples
    (`feature_statistics`). A feature below it (fhgm-deep's dct67 at 0.27 a_k) is noise-sized in every
    sample, so no coupling can synchronise its sign and a gap read on it measures nothing."""
    min_ratio = check_real("min_ratio", min_ratio, 0.0, 1.0)
    return [k for k, (a, m) in enumerate(zip(stats["amplitudes"], stats["mean_abs"])) if m / a >= min_ratio]


def digit_classifier(data: TrainingData) -> LogisticRegression:
    """Multinomial logistic regression on the flattened training images (sklearn)."""
    from sklearn.linear_model import LogisticRegression

    x = data.images.reshape(data.images.shape[0], -1).numpy()
    return LogisticRegression(max_iter=3000, C=0.1).fit(x, data.labels.numpy())


def digit_guidance_accuracy(model: torch.nn.Module, meta: dict, clf: LogisticRegression,
                            guidances: Sequence[float] = (1.0, 4.0), per_class: int = 10,
                            num_steps: int = 25, seed: int = 0) -> dict:
    """Fraction of class-conditional samples the classifier labels as the requested class."""
    per_class = check_int("per_class", per_class, 1)
    labels = torch.arange(10).repeat_interleave(per_class)
    shape = tuple(meta["sample_shape"])
    rows = []
    for s in guidances:
        x = ddim_sample(model, labels, shape, num_steps, s, meta["null_class_id"], seed)
        pred = clf.predict(x.reshape(x.shape[0], -1).numpy())
        ok = pred == labels.numpy()
        rows.append({"guidance": float(s), "accuracy": float(ok.mean()),
                     "per_class": [float(ok[labels.numpy() == c].mean()) for c in range(10)]})
    return {"per_class_samples": per_class, "num_steps": num_steps, "seed": seed, "rows": rows}


def exact_fhgm_loss(meta: dict, n: int = 20000, seed: int = 2) -> float:
    """Training loss E_i,x0,eps ||eps*(x_i, i) - eps||^2 / D of the exact FHGM denoiser (Monte Carlo).

    eps*(x_i, i) = (x_i - sqrt(abar_i) E[x0|x_i]) / sqrt(1 - abar_i): the floor a perfect model reaches.
    """
    n = check_int("n", n, 1)
    spec = meta["dataset"]
    mix = mixture_from_spec(spec)    # the FHGM or its equal-amplitude control, as trained
    rng = np.random.default_rng(check_int("seed", seed, 0))
    abar = alphas_cumprod().numpy()
    steps = rng.integers(0, abar.size, n)
    total = 0.0
    for i in np.unique(steps):
        k = int(np.sum(steps == i))
        a = abar[i]
        x0, eps = mix.sample(k, rng), rng.standard_normal((k, mix.dim))
        xt = np.sqrt(a) * x0 + np.sqrt(1 - a) * eps
        pred = (xt - np.sqrt(a) * mix.posterior_mean(xt, -0.5 * np.log(a))) / np.sqrt(1 - a)
        total += np.sum((pred - eps) ** 2)
    return float(total / (n * mix.dim))
