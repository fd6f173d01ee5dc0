"""Built-in cell kinds: plain functions `fn(**params) -> dict`, each with a `*_params` check.

- theory.routing: the DiT gate's predicted gap ratio and critical couplings (theory.routing, docs/science.md §5);
- mc.cloning: Monte Carlo of the cloning (U-turn) protocol on the two-Gaussian mixture with
  its exact score (docs/science.md §2); its numbers depend only on its parameters and seed;
- debug.sleep: sleeps, then returns one seeded draw (tests and cluster smoke checks).
The `*_params` functions validate and normalise arguments; the driver runs them on every
cell before a sweep starts, and the cell function runs them again where it executes.
"""
from __future__ import annotations

import math
import time

import numpy as np

from syncgap.theory.checks import InputError, check_int, check_positive, check_real


# ---------------------------------------------------------------- theory.routing

def routing_params(g, eta=0.0, gap0_steps=40.0) -> dict:
    """g >= 0 the gate strength, |eta| < 1 the frequency-blind contrast, gap0_steps > 0 the gap at g = 0."""
    return {"g": check_real("g", g, 0.0), "eta": check_real("eta", eta, -1.0, 1.0, True, True),
            "gap0_steps": check_positive("gap0_steps", gap0_steps)}


def routing_cell(g, eta=0.0, gap0_steps=40.0) -> dict:
    """Predicted gap of the coupled DiT at gate strength g (theory.routing, docs/science.md §5).

    gap_steps = gap0_steps · (ρ(g) + η)/(1 + η), ρ(g) = (1-g)/(1+g); critical_coupling is the
    smallest g with a gap of at most one sampler step, collapse_coupling the g with zero gap.
    """
    from syncgap.theory import routing   # SymPy derivation on first use: import where the cell runs

    p = routing_params(g, eta, gap0_steps)
    ratio = routing.predicted_gap_ratio(p["g"], p["eta"])
    return {"rho": routing.routing_factor(p["g"]), "gap_ratio": ratio,
            "gap_steps": p["gap0_steps"] * ratio,
            "critical_coupling": routing.critical_coupling(p["gap0_steps"], p["eta"]),
            "collapse_coupling": routing.collapse_coupling(p["eta"])}


# ---------------------------------------------------------------- mc.cloning

def cloning_params(d, t_clone, seed, n_samples=1000, T=8.0, dt=0.01, noise_std=1.0) -> dict:
    """d >= 1 dimension, 0 < t_clone < T OU times, seed >= 0, n_samples >= 1, 0 < dt <= t_clone."""
    T = check_positive("T", T)
    t_clone = check_real("t_clone", t_clone, 0.0, T, lo_open=True, hi_open=True)
    return {"d": check_int("d", d, 1, 1_000_000), "t_clone": t_clone,
            "seed": check_int("seed", seed, 0, 2**63 - 1),
            "n_samples": check_int("n_samples", n_samples, 1, 10_000_000), "T": T,
            "dt": check_real("dt", dt, 0.0, t_clone, lo_open=True),
            "noise_std": check_positive("noise_std", noise_std)}


def cloning_cost(d, t_clone, seed, n_samples=1000, T=8.0, dt=0.01, noise_std=1.0) -> float:
    """Relative run time: n_samples · d · (T + t_clone) / dt (one path to t_clone, two after it)."""
    return n_samples * d * (T + t_clone) / dt


def _reverse_sde(mix, x, rng, t_hi, t_lo, dt_max):
    """Euler–Maruyama for dx = [x + 2 score(x, t)] dτ + √2 dW̄ from t_hi down to t_lo (docs/science.md §2)."""
    n = max(1, math.ceil((t_hi - t_lo) / dt_max - 1e-9))
    h = (t_hi - t_lo) / n
    for i in range(n):
        t = t_hi - i * h
        x = x + h * (x + 2.0 * mix.score(x, t)) + math.sqrt(2.0 * h) * rng.standard_normal(x.shape)
    return x, n


def cloning_cell(d, t_clone, seed, n_samples=1000, T=8.0, dt=0.01, noise_std=1.0) -> dict:
    """Cloning protocol φ(t_clone) on the two-Gaussian mixture ±μ, ||μ||² = d (docs/science.md §2).

    x_T is drawn from the exact forward marginal, run down to t_clone with the exact score,
    copied into two clones with independent noise, and both run to time 0 (the last Euler
    step ends at 0; the score is never evaluated there). agreement = fraction of pairs whose
    classes sign(μ·x) agree; agreement_se its binomial standard error; t_speciation =
    ½ log Λ with Λ = d + σ² the largest covariance eigenvalue (≈ ½ log d of §2).
    """
    from syncgap.theory.data import two_gaussian_mixture
    from syncgap.theory.schedules import delta

    p = cloning_params(d, t_clone, seed, n_samples, T, dt, noise_std)
    mix = two_gaussian_mixture(p["d"], p["noise_std"])
    rng = np.random.default_rng(p["seed"])
    n, T = p["n_samples"], p["T"]
    x0 = mix.sample(n, rng)                                                 # (n, d)
    x = math.exp(-T) * x0 + math.sqrt(float(delta(T))) * rng.standard_normal(x0.shape)
    x, steps_before = _reverse_sde(mix, x, rng, T, p["t_clone"], p["dt"])
    pair = np.stack([x, x])                                                 # (2, n, d)
    pair, steps_after = _reverse_sde(mix, pair, rng, p["t_clone"], 0.0, p["dt"])
    cls = mix.feature_signs(pair)[..., 0]                                   # (2, n)
    agree = float(np.mean(cls[0] == cls[1]))
    return {"agreement": agree, "agreement_se": math.sqrt(agree * (1.0 - agree) / n),
            "class_balance": float(np.mean(cls > 0)),
            "t_speciation": 0.5 * math.log(float(mix.eigenvalues()[0])),
            "steps_before_clone": steps_before, "steps_after_clone": steps_after}


# ---------------------------------------------------------------- debug.sleep

def sleep_params(seconds, seed=0) -> dict:
    """0 <= seconds <= 3600, seed >= 0."""
    return {"seconds": check_real("seconds", seconds, 0.0, 3600.0), "seed": check_int("seed", seed, 0)}


def sleep_cell(seconds, seed=0) -> dict:
    """Sleep `seconds`, then return one standard normal draw of `seed` (tests, cluster smoke checks)."""
    p = sleep_params(seconds, seed)
    time.sleep(p["seconds"])
    return {"seed": p["seed"], "draw": float(np.random.default_rng(p["seed"]).standard_normal())}


__all__ = ["InputError", "cloning_cell", "cloning_cost", "cloning_params", "routing_cell", "routing_params",
           "sleep_cell", "sleep_params"]
