"""The exact-score analog of the gated DiT: its gate per step (and per feature), and coupled cloning.

- **Final read-out ungated by default** (`analog_gate`). The last DDPM or DDIM step to t' = 0 returns
  the (gated) posterior mean itself (theory.schedules.ancestral_step: c_x = 0, sigma = 0 there), so a
  gated last step leaves the replicas' outputs differing by exactly rho(g) (D(x_A) - D(x_B))
  (theory.gated_protocols.switch_on_final_difference_factor): at g = 1 (rho = 0) both outputs are
  identical whatever came before (the **one-step identity**). A "collapse" read from it is that identity,
  not the dynamics, and the DiT's own gate has no effect there (its measured factor is 1 in the last
  steps, docs/protocols.md). The analog therefore gates steps 0 .. N-2 and leaves step N-1 ungated unless
  gate_final=True.
- **Per-feature gate** (`feature_gate_tables`): the calibrated analog drives each feature k at step s with
  its own difference factor rho[s, k] (the DiT's measured response, dit_bridge.gate_response), folded
  into that feature's rows of the kernel's step tables; the orthogonal rest keeps the common gate
  (it never reaches a feature coordinate). rho in [-1, 1]; g = (1 - rho)/(1 + rho).
- **Coupled cloning** (`coupled_cloning`): the coupled pair runs from one start (eps = 0) with independent
  per-step noise to step t_int; there the pair is cloned and the copy continues, still coupled, on fresh
  noise; the per-feature sign agreement of replica A with its copy A' against t_int measures when the
  coupled system commits. At g = 0 it is cloning of one replica (bit for bit, `measure.cloning` with K = 2).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from syncgap.theory.checks import InputError, check_array, check_int, check_real
from syncgap.theory.gated import gate_for_routing_factor

from .engine import StepTables, check_grid, feature_model, step_tables
from .replica_run import ReplicaRun
from .sampler import run_branches

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import ArrayLike

    from syncgap.theory.data import SignFeatureMixture

    from .engine import FeatureModel

RHO_FLOOR = -1.0 + 1e-9   # rho = -1 is g = inf: read as g = (1 - RHO_FLOOR)/(1 + RHO_FLOOR) (a swap to 1e-9)


def analog_gate(g: float, n_steps: int, gate_final: bool = False) -> np.ndarray:
    """(n_steps,): g on every step but the last, which is gated only with gate_final (the one-step identity above)."""
    g = check_real("g", g, 0.0)
    n_steps = check_int("n_steps", n_steps, 1)
    out = np.full(n_steps, g)
    if not gate_final:
        out[-1] = 0.0
    return out


def g_of_rho(rho: ArrayLike) -> np.ndarray:
    """g = (1 - rho)/(1 + rho), the inverse of rho(g) = (1 - g)/(1 + g) (its own inverse); rho in [-1, 1]."""
    r = check_array("rho", rho)
    if np.any(r < -1.0) or np.any(r > 1.0):
        raise InputError(f"rho must lie in [-1, 1] (clip it first), got {r.min():.4g}..{r.max():.4g}")
    return np.asarray(gate_for_routing_factor(np.maximum(r, RHO_FLOOR)), dtype=float)


def clip_rho(rho: ArrayLike) -> tuple[np.ndarray, dict]:
    """rho clipped to [-1, 1] and what was clipped: {"n_clipped", "n", "min", "max"} (of rho before clipping: its
    range, not an interval)."""
    r = np.asarray(rho, dtype=float)
    if not np.all(np.isfinite(r)):
        raise InputError("rho has non-finite entries: measure the gate response again")
    bad = (r < -1.0) | (r > 1.0)
    return np.clip(r, -1.0, 1.0), {"n_clipped": int(bad.sum()), "n": int(r.size),
                                   "min": float(r.min()), "max": float(r.max())}


def feature_gate_tables(data: SignFeatureMixture | FeatureModel, grid: ArrayLike, rho: ArrayLike,
                        scheme: str = "ddpm", rest_gate: float | ArrayLike = 0.0) -> StepTables:
    """Step tables of a replica pair (K = 2) whose gate multiplies feature k's posterior-mean difference by
    rho[s, k] at step s (rho (N, F) in [-1, 1]); the orthogonal rest is gated by `rest_gate`.

    Along feature k the kernel advances y'_k = (L + Wy_k) y_k + Ws_k E_k (kernels.py); the tables of a
    uniform gate g_k = g(rho[:, k]) give feature k's exact update, so Wy_k := L^(k) + Wy^(k)_k - L and
    Ws_k := Ws^(k)_k carry it into tables whose common part L is the rest's (Bt and cst do not depend on
    the gate). With rho[s, k] = rho(g) for every k this is step_tables(gate=g) (tested)."""
    model = feature_model(data)
    grid = check_grid(grid)
    N, F = grid.size - 1, model.num_features
    r = check_array("rho", rho, ndim=2)
    if r.shape != (N, F):
        raise InputError(f"rho must have shape (steps, features) = ({N}, {F}), got {r.shape}")
    base = step_tables(model, grid, None, rest_gate, scheme, 2)
    for k in range(F):
        tk = step_tables(model, grid, None, g_of_rho(r[:, k]), scheme, 2)
        base.Wy[:, k] = tk.L + tk.Wy[:, k] - base.L
        base.Ws[:, k] = tk.Ws[:, k]
    return base


def coupled_cloning(data: SignFeatureMixture | FeatureModel, grid: ArrayLike, g: float | ArrayLike, n: int,
                    seed: int = 0, branch_steps: ArrayLike | None = None, scheme: str = "ddpm",
                    tables: StepTables | None = None, *, batch: int = 2000,
                    progress: Callable[[int, int], object] | None = None) -> dict:
    """Coupled cloning on the exact score: per path and branch step the sign agreement of replica A's final
    feature coordinates with its copy's, "units" (n, B, F) in {0, 1}, and the branch steps.

    The pair starts at one point (eps = 0), runs gated by g (a number, or one value per step, e.g.
    `analog_gate`) with independent noise; at each branch step a copy of the pair continues with the same
    gate on fresh noise (kernels.branch_paths: stream b + 1). `tables` (e.g. `feature_gate_tables`) replace
    the uniform gate. At g = 0 replica A's agreement is measure.cloning's (K = 2, x0.k) bit for bit."""
    n = check_int("samples", n, 2, 10**9)
    run = ReplicaRun(data, grid, n, seed, K=2, gate=g, scheme=scheme, window="clone", gate_tables=tables,
                     batch=batch, progress=progress)
    steps = np.arange(run.N + 1) if branch_steps is None else np.asarray(branch_steps)
    steps = np.unique([check_int("branch step", int(s), 0, run.N) for s in steps]).astype(np.int64)
    if steps.size < 4:
        raise InputError(f"need at least 4 distinct branch steps for a sigmoid fit, got {steps.size}")
    return {"units": coupled_units(run, steps), "branch_steps": steps, "scheme": run.scheme, "samples": run.n,
            "seed": run.seed}


def coupled_units(run: ReplicaRun, steps: np.ndarray) -> np.ndarray:
    """(n, B, F) int8: whether replica A's final sign of each feature agrees with that of its copy cloned at
    steps[b], both coupled by the run's tables from one start (a "clone" window run: eps = 0)."""
    if run.window != "clone":
        raise InputError(f"coupled cloning needs a run of window 'clone', got {run.window!r}")
    tables = run.tables()
    y_main, y_br = run_branches(run, tables, tables, steps)
    return (np.sign(y_main[:, None, 0, :]) == np.sign(y_br[:, :, 0, :])).astype(np.int8)   # (n, B, F)


__all__ = ["analog_gate", "g_of_rho", "clip_rho", "feature_gate_tables", "coupled_cloning", "coupled_units",
           "RHO_FLOOR"]
