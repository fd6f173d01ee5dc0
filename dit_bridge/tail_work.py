"""Does a deep DiT's tail work? The slope of its denoiser on the finest feature, with and without its last blocks.

At the DDPM step i* where feature k commits under the exact score (OU time t_k = 1/2 log(a_k^2 + sigma^2),
abar_{i*} closest to e^{-2 t_k} = 1/Lambda_k, docs/science.md §2), draw x_0 from the model's own mixture and
x_i* = sqrt(abar) x_0 + sqrt(1 - abar) eps, and regress the network's feature read-out
u = phi_k . x0_hat(x_i*) on the exact one v = phi_k . E[x_0 | x_i*]:

    slope = cov(u, v) / var(v)                                   (1 for the Bayes denoiser)

`tail_work` reports the slope of the full network and of the network whose last `skip` blocks are
replaced by the identity (their residual increments removed), and the change between them: a tail that
does the finest feature's work moves the slope when it is skipped.
"""
from __future__ import annotations

import numpy as np
import torch

from syncgap.theory.checks import check_int
from syncgap.theory.data import SignFeatureMixture

from .recording import HookSet
from .train import alphas_cumprod


def commit_step(mix: SignFeatureMixture, k: int) -> int:
    """The DDPM step whose abar is closest to 1 / Lambda_k = 1 / (a_k^2 + sigma^2): feature k's exact speciation."""
    k = check_int("k", k, 0, mix.num_features - 1)
    abar = alphas_cumprod().numpy()
    return int(np.argmin(np.abs(np.log(abar) + np.log(mix.eigenvalues()[k]))))


class SkipLastBlocks(HookSet):
    """Context manager: the last `skip` transformer blocks return their input (identity) while active."""

    def __init__(self, model: torch.nn.Module, skip: int):
        self.blocks = list(model.transformer_blocks)[len(model.transformer_blocks) - skip:] if skip else []
        self.handles = []

    def __enter__(self):
        for b in self.blocks:
            self.handles.append(b.register_forward_hook(lambda m, args, kwargs, out: args[0] if args
                                                        else kwargs["hidden_states"], with_kwargs=True))
        return self


@torch.no_grad()
def feature_slope(model: torch.nn.Module, mix: SignFeatureMixture, k: int, step: int, n: int = 1024,
                  seed: int = 0, skip: int = 0) -> float:
    """cov(u, v) / var(v) of the network's phi_k . x0_hat against the exact phi_k . E[x_0 | x_step] (n draws)."""
    n = check_int("n", n, 8)
    a = float(alphas_cumprod()[check_int("step", step, 0, 999)])
    rng = np.random.default_rng(check_int("seed", seed, 0))
    x0 = mix.sample(n, rng)                                                   # (n, D)
    xt = np.sqrt(a) * x0 + np.sqrt(1 - a) * rng.standard_normal(x0.shape)     # (n, D)
    v = mix.project(mix.posterior_mean(xt, -0.5 * np.log(a)))[:, k]           # (n,)
    xt_t = torch.from_numpy(xt.astype(np.float32)).reshape(n, *mix.shape)    # (n, C, H, W)
    with SkipLastBlocks(model, skip):
        eps = model(xt_t, timestep=torch.full((n,), step), class_labels=torch.zeros(n, dtype=torch.int64)
                    ).sample[:, : mix.shape[0]].reshape(n, -1).double().numpy()   # (n, D)
    u = mix.project((xt - np.sqrt(1 - a) * eps) / np.sqrt(a))[:, k]          # (n,)
    vc = v - v.mean()
    return float(np.dot(u - u.mean(), vc) / np.dot(vc, vc))


def tail_work(model: torch.nn.Module, mix: SignFeatureMixture, skip: int = 5, n: int = 1024,
              seed: int = 0) -> dict:
    """The finest feature's (the last) slope at its commit step, full and with the last `skip` blocks skipped."""
    k = mix.num_features - 1
    step = commit_step(mix, k)
    full = feature_slope(model, mix, k, step, n, seed)
    cut = feature_slope(model, mix, k, step, n, seed, skip=skip)
    return {"feature": mix.names[k], "step": step, "n": n, "seed": seed, "skip": skip,
            "slope": full, "slope_without_tail": cut, "change": full - cut}
