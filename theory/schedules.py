"""Time conventions: OU time t, DDPM/DiT discrete steps, and the map between them.

Convention (docs/science.md §2): forward OU dx = -x dt + sqrt(2) dW, so
x_t = e^{-t} x_0 + sqrt(Delta_t) z with Delta_t = 1 - e^{-2t}. A DDPM step with
cumulative product alpha_bar is the same marginal at t = -1/2 log(alpha_bar).
DiT (docs/science.md §6) trains on a linear beta schedule 1e-4 ... 0.02 over 1000 steps.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .checks import check_array, check_choice, check_int, check_real

DIT_TRAIN_STEPS = 1000
DIT_BETA_START = 1e-4
DIT_BETA_END = 0.02


def delta(t: ArrayLike) -> np.ndarray:
    """Delta_t = 1 - e^{-2t}: the forward noise variance at OU time t (docs/science.md §2)."""
    return -np.expm1(-2.0 * np.asarray(t, dtype=float))


def euler_step(dt: float | np.ndarray, scheme: str) -> tuple[float | np.ndarray, float | np.ndarray]:
    """(score coefficient, noise std) of one Euler reverse step of length dt = t - t' > 0 (docs/science.md §2).

    Reverse SDE: z' = (I + dt A) z + 2 dt score + sqrt(2 dt) xi   -> (2 dt, sqrt(2 dt));
    probability-flow ODE: z' = (I + dt A) z + dt score            -> (dt, 0).
    The drift part (I + dt A) z (A = I: (1 + dt) x) is the caller's. dt may be an array.
    """
    if scheme == "sde":
        return 2.0 * dt, np.sqrt(2.0 * dt)
    if scheme == "ode":
        return 1.0 * dt, np.zeros_like(dt)
    return check_choice("scheme", scheme, ("sde", "ode"))   # raises: no other Euler step


def ancestral_step(t: float | np.ndarray, t_next: float | np.ndarray,
                   scheme: str) -> tuple[float | np.ndarray, float | np.ndarray, float | np.ndarray]:
    """(x coefficient, denoiser coefficient, noise std) of one DDPM / DDIM step from t to t_next < t.

    x' = c_x x + c_D D + sigma xi with D = E[x_0 | x_t] (docs/science.md §2; Ho et al. 2020, Song et al. 2021):
      DDPM: c_x = e^{-(t-t')} Delta_{t'}/Delta_t, c_D = e^{-t'} Delta_{t-t'}/Delta_t,
            sigma = sqrt(Delta_{t'} Delta_{t-t'}/Delta_t);
      DDIM (eta = 0): c_x = sqrt(Delta_{t'}/Delta_t), c_D = e^{-t'} - c_x e^{-t}, sigma = 0.
    t, t_next may be arrays.
    """
    dt = t - t_next
    dl, d2 = delta(t), delta(t_next)
    if scheme == "ddpm":
        dts = delta(dt)
        return np.exp(-dt) * d2 / dl, np.exp(-t_next) * dts / dl, np.sqrt(d2 * dts / dl)
    if scheme == "ddim":
        r = np.sqrt(d2 / dl)
        return r, np.exp(-t_next) - r * np.exp(-t), np.zeros_like(r)
    return check_choice("scheme", scheme, ("ddpm", "ddim"))   # raises: no other ancestral step


def ou_time_from_alpha_bar(alpha_bar: ArrayLike) -> np.ndarray:
    """t = -1/2 log(alpha_bar): OU time of a DDPM noise level (docs/science.md §2)."""
    a = check_array("alpha_bar", alpha_bar)
    for v in a[(a <= 0) | (a > 1)].flat[:1]:
        check_real("alpha_bar", v, 0.0, 1.0, lo_open=True)
    return -0.5 * np.log(a)


def alpha_bar_from_ou_time(t: ArrayLike) -> np.ndarray:
    """alpha_bar = e^{-2t} (docs/science.md §2)."""
    return np.exp(-2.0 * np.asarray(t, dtype=float))


def linear_betas(num_train_steps: int = DIT_TRAIN_STEPS, beta_start: float = DIT_BETA_START,
                 beta_end: float = DIT_BETA_END) -> np.ndarray:
    """DiT's linear beta schedule, as diffusers' `beta_schedule="linear"`."""
    n = check_int("num_train_steps", num_train_steps, 2)
    b0 = check_real("beta_start", beta_start, 0.0, 1.0, lo_open=True, hi_open=True)
    b1 = check_real("beta_end", beta_end, b0, 1.0, hi_open=True)
    return np.linspace(b0, b1, n, dtype=np.float64)


def train_step_ou_times(num_train_steps: int = DIT_TRAIN_STEPS, beta_start: float = DIT_BETA_START,
                        beta_end: float = DIT_BETA_END) -> np.ndarray:
    """OU time of every training timestep i = 0..N-1: t_i = -1/2 sum_{j<=i} log(1 - beta_j)."""
    betas = linear_betas(num_train_steps, beta_start, beta_end)
    return -0.5 * np.cumsum(np.log1p(-betas))


def sampler_timesteps(num_sampling_steps: int, num_train_steps: int = DIT_TRAIN_STEPS) -> np.ndarray:
    """Training timesteps visited by a sampler of n steps, high noise first.

    Matches diffusers' DDPM/DDIM `set_timesteps` with the default "leading" spacing:
    (arange(n) * (N // n)) reversed.
    """
    n_train = check_int("num_train_steps", num_train_steps, 2)
    n = check_int("num_sampling_steps", num_sampling_steps, 1, n_train)
    ratio = n_train // n
    return (np.arange(n) * ratio).round()[::-1].astype(np.int64)


def sampler_ou_times(num_sampling_steps: int, num_train_steps: int = DIT_TRAIN_STEPS) -> np.ndarray:
    """OU time at each sampler step k = 0..n-1 (decreasing: step 0 is the noisiest)."""
    ts = train_step_ou_times(num_train_steps)
    return ts[sampler_timesteps(num_sampling_steps, num_train_steps)]


def ou_time_to_sampler_step(t: ArrayLike, num_sampling_steps: int, num_train_steps: int = DIT_TRAIN_STEPS) -> np.ndarray:
    """Fractional sampler step index at which OU time t is reached (linear interpolation).

    Step 0 is the first (noisiest) sampler step; a gap in OU time becomes a gap in
    sampler steps by differencing these indices, which is how OU and DiT gaps compare.
    """
    t = np.asarray(t, dtype=float)
    grid = sampler_ou_times(num_sampling_steps, num_train_steps)[::-1]  # increasing
    idx_increasing = np.interp(t, grid, np.arange(grid.size, dtype=float))
    return (grid.size - 1) - idx_increasing


def sampler_step_to_ou_time(step: ArrayLike, num_sampling_steps: int, num_train_steps: int = DIT_TRAIN_STEPS) -> np.ndarray:
    """Inverse of `ou_time_to_sampler_step`: OU time at a (fractional) sampler step."""
    grid = sampler_ou_times(num_sampling_steps, num_train_steps)
    return np.interp(np.asarray(step, dtype=float), np.arange(grid.size, dtype=float), grid)
