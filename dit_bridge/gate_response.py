"""The DiT's gate response: what the coupling does to the denoiser difference, per feature and sampler step.

The exact-score analog's gate multiplies the replicas' posterior-mean difference by rho(g) = (1-g)/(1+g) on
every feature and step (ou_models.engine). The DiT's gate acts inside attention, so its effect on the
denoiser output D_hat = (x_t - sqrt(1 - abar_t) eps_hat)/sqrt(abar_t) is measured, not assumed:

    rho_eff(g, k, s) = sum_p d_on d_off / sum_p d_off^2,   d = phi_k . (D_hat_A - D_hat_B)

the least-squares slope through 0, over pairs p, of feature k's denoiser difference with the gate on (g)
against off (uncoupled), both evaluated on the same pair states x_s (one model call each). The states are
the DiT's own: the pair coupled at g from a start sqrt(1 - eps^2) z +- eps zeta (eps = 0.3) with
independent per-step noise, advanced by the gated output. Intervals: percentile bootstrap over pairs.

Beside it, the small-perturbation (linear-response) reading rho_lin: the same slope on states
x_A, x_A + delta (x_B - x_A) with delta = LINEAR_DELTA, i.e. at the replica-symmetric point. It is a
sensitivity check only: the calibrated analog (ou_models.analog.feature_gate_tables) is driven by
rho_eff, which sees the pair's actual, finite difference.

Seeds: the suite reads rho_eff on GATE_SEED, a seed no Protocol I cell uses (their seed is 0), so the
calibration shares no noise with the gaps it predicts.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from syncgap.theory.checks import InputError, check_int, check_real
from syncgap.theory.gated import routing_factor

from .pair_run import PAIRS_MAX, PairRun
from .sampling import StepHooks

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from diffusers import DDPMScheduler
    from numpy.typing import ArrayLike

    from .registry import LoadedDiT

GATE_SEED = 7          # the suite's gate-response seed: disjoint from every Protocol I cell (seed 0)
LINEAR_DELTA = 1e-3    # the small-perturbation reading's fraction of the pair difference


def denoiser(loaded: LoadedDiT, scheduler: DDPMScheduler, x: torch.Tensor, step: int,
             labels: torch.Tensor) -> torch.Tensor:
    """D_hat = (x - sqrt(1 - abar) eps_hat)/sqrt(abar) of rows x (R, C, H, W) at sampler step `step` (no guidance)."""
    t = scheduler.timesteps[step]
    p = next(loaded.model.parameters())
    with torch.no_grad():
        out = loaded.model(x.to(p.device, p.dtype), torch.full((x.shape[0],), int(t), device=p.device),
                           labels.to(p.device)).sample.float().cpu()
    return denoised(scheduler, x, step, out)


def denoised(scheduler: DDPMScheduler, x: torch.Tensor, step: int, out: torch.Tensor) -> torch.Tensor:
    """D_hat of rows x (R, C, H, W) from the model's output `out` (R, C or 2C, H, W) at sampler step `step`."""
    t = scheduler.timesteps[step]
    eps = out[:, :x.shape[1]]
    abar = float(scheduler.alphas_cumprod[int(t)])
    return (x - (1.0 - abar) ** 0.5 * eps) / abar ** 0.5


def feature_difference_slope(d_on: np.ndarray, d_off: np.ndarray) -> np.ndarray:
    """(F,): sum_p d_on d_off / sum_p d_off^2 per feature, d_* (P, F); NaN where d_off is 0 for every pair."""
    den = (d_off ** 2).sum(0)
    return np.where(den > 0, (d_on * d_off).sum(0) / np.where(den > 0, den, 1.0), np.nan)


def _pair_diff(run: PairRun, scheduler: DDPMScheduler, x: torch.Tensor, step: int, phi: np.ndarray) -> np.ndarray:
    """phi . (D_hat_A - D_hat_B) per pair (P, F) of rows x = [A; B] with the model's current processors."""
    return _feature_difference(denoiser(run.loaded, scheduler, x, step, run.row_labels), phi)


def _feature_difference(d: torch.Tensor, phi: np.ndarray) -> np.ndarray:
    """phi . (d_A - d_B) per pair (P, F) of denoiser rows d = [A; B]."""
    a, b = d.chunk(2)
    return (a - b).reshape(a.shape[0], -1).double().numpy() @ phi.T


def gate_response(loaded: LoadedDiT, g: float, patterns: ArrayLike, *, n_pairs: int = 32, seed: int = GATE_SEED,
                  num_steps: int = 30, eps: float = 0.3, n_boot: int = 200, gate: str = "paper",
                  layers: Sequence[int] | None = None, progress: Callable[[int, int], object] | None = None) -> dict:
    """rho_eff (steps, F) with its bootstrap interval and rho_lin (steps, F) on the DiT's coupled pair states at g.

    patterns (F, C*H*W): the features phi_k (e.g. the FHGM's, theory.data.frequency_hierarchy_mixture). DDPM."""
    n_pairs = check_int("n_pairs", n_pairs, 2, PAIRS_MAX)          # a slope over pairs
    eps = check_real("eps", eps, 0.0, 1.0, lo_open=True)           # a pair difference to respond to
    run = PairRun(loaded, g=g, n_pairs=n_pairs, num_steps=num_steps, seed=seed, eps=eps, gate=gate, layers=layers)
    phi = np.asarray(patterns, dtype=float)
    if phi.ndim != 2 or phi.shape[1] != int(np.prod(loaded.sample_shape)):
        raise InputError(f"patterns must be (F, {int(np.prod(loaded.sample_shape))}), got {phi.shape}")
    return _response_record(run, n_boot, _differences(run, phi, progress))


def _differences(run: PairRun, phi: np.ndarray, progress: Callable[[int, int], object] | None) -> tuple:
    """(on, off, lin_on, lin_off), each (steps, P, F): the pair's feature differences of the denoiser with the gate
    on and off, on the coupled run's states and on the small-perturbation states (module docstring)."""
    num_steps = run.num_steps
    scheduler = run.scheduler()
    scheduler.set_timesteps(num_steps)
    state = run.start()
    on, off, lin_on, lin_off = (np.empty((num_steps, run.n_pairs, phi.shape[0])) for _ in range(4))
    gated = {}   # the gated model output at each step: the advancing call's (run_pairs' model_output hook)
    hooks = StepHooks(model_output=lambda k, x, out: gated.__setitem__(k, out))
    try:
        for s in range(num_steps):
            x = state.x
            a, b = x.chunk(2)
            x_lin = torch.cat([a, a + LINEAR_DELTA * (b - a)])
            run.couple()
            lin_on[s] = _pair_diff(run, scheduler, x_lin, s, phi)
            run.couple(False)
            off[s], lin_off[s] = _pair_diff(run, scheduler, x, s, phi), _pair_diff(run, scheduler, x_lin, s, phi)
            run.couple()
            run.advance(scheduler, state, s + 1, hooks=hooks)   # its model call is the gated reading of x
            on[s] = _feature_difference(denoised(scheduler, x, s, gated.pop(s)), phi)
            if progress is not None:
                progress(s + 1, num_steps)
    finally:
        run.couple(False)
    return on, off, lin_on, lin_off


def _response_record(run: PairRun, n_boot: int, differences: tuple) -> dict:
    """The record of `gate_response` from `_differences`: rho_eff with its bootstrap interval over pairs, rho_lin."""
    on, off, lin_on, lin_off = differences
    g, n_pairs, num_steps, seed = run.g, run.n_pairs, run.num_steps, run.seed
    rho = np.stack([feature_difference_slope(on[s], off[s]) for s in range(num_steps)])          # (S, F)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, n_pairs, n_pairs)
        boots.append([feature_difference_slope(on[s][idx], off[s][idx]) for s in range(num_steps)])
    boots = np.asarray(boots)                                                                      # (B, S, F)
    return {"g": g, "num_steps": num_steps, "n_pairs": n_pairs, "seed": seed, "eps": run.eps, "n_boot": n_boot,
            "rho_analog": routing_factor(g), "rho_eff": rho,
            "rho_eff_low": np.nanquantile(boots, 0.025, axis=0), "rho_eff_high": np.nanquantile(boots, 0.975, axis=0),
            "rho_lin": np.stack([feature_difference_slope(lin_on[s], lin_off[s]) for s in range(num_steps)]),
            "linear_delta": LINEAR_DELTA}


__all__ = ["gate_response", "denoiser", "feature_difference_slope", "GATE_SEED", "LINEAR_DELTA"]
