"""One spec for a run of coupled OU replicas (`ReplicaRun`): checked once, passed down whole.

A run is n paths of K replicas of one data law, started at OU time T = grid[0] from the forward marginal
of the process that runs first, and run down the grid by one sampler; the replicas are coupled by a drift
A (layer A) or a gate g (layer B) inside a window of the run, with independent or shared per-step noise
and an independent or antisymmetric start (the protocol space of docs/protocols.md). Variants of a run
are `dataclasses.replace` of it; `independent` is the same run uncoupled.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from syncgap.theory.checks import InputError, check_choice, check_int, check_real

from .engine import (FeatureModel, StepTables, check_coupling, check_sign_mixing, feature_model, initial_for_ids,
                     step_tables)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from numpy.typing import ArrayLike

    from syncgap.theory.data import SignFeatureMixture

WINDOWS = ("release", "switch-on", "throughout", "clone")
NOISES = ("independent", "shared")
SEED_MAX = 2 ** 63 - 1


def check_variant(window: str, noise: str, eps: float | None,
                  windows: Sequence[str] = WINDOWS) -> tuple[str, str, float | None]:
    """(window, noise, eps) checked: window in `windows`, noise in NOISES, eps None or in [0, 1]."""
    check_choice("window", window, windows)
    check_choice("noise", noise, NOISES)
    if eps is not None:
        eps = check_real("eps", eps, 0.0, 1.0)
    return window, noise, eps


def antisymmetric_start(z: np.ndarray, eps: float | None) -> np.ndarray:
    """z (n, 2, D) of two independent draws -> sqrt(1 - eps^2) z_0 +- eps z_1 (eps None: z unchanged).

    Variance preserving: each replica has the covariance of one draw, exactly in law when the start
    marginal is Gaussian (T well above 1/2 log of the largest data eigenvalue); A - B = 2 eps z_1.
    """
    if eps is None:
        return z
    if z.ndim != 3 or z.shape[1] != 2:
        raise InputError(f"an antisymmetric start needs a pair (n, 2, D), got shape {z.shape}")
    base, pert = np.sqrt(1.0 - eps * eps) * z[:, 0], eps * z[:, 1]
    return np.stack([base + pert, base - pert], axis=1)


@dataclass(frozen=True, eq=False)
class ReplicaRun:
    """Everything one run of coupled OU replicas needs; checked on construction (InputError naming the field)."""

    data: SignFeatureMixture | FeatureModel  # the data law of every replica (its `names` label the features)
    grid: np.ndarray                  # (N + 1,) reverse OU times T = t_0 > ... > t_N >= 0, strictly decreasing
    n: int                            # paths (pairs in the two-replica protocols), integer in [1, 10^9]
    seed: int = 0                     # noise seed in [0, 2^63 - 1]: path p draws the streams (seed, p, .) of rng.py
    K: int = 1                        # replicas per path, 1..8; a drift's size when one is given
    drift: np.ndarray | None = None   # K x K drift A of the coupled forward process (layer A, Re eig > 0); None: I
    gate: float | ArrayLike | Callable[[float], float] = 0.0   # gate g >= 0 of layer B (A = I): number, N values, g(t)
    scheme: str = "sde"               # sampler: "sde", "ode", "ddpm" or "ddim" (engine.SCHEMES; DDPM/DDIM need A = I)
    sign_mixing: np.ndarray | None = None   # K x K invertible T: replica data along feature k is a_k T s; None: I
    window: str = "throughout"        # where the coupling acts: "throughout", "release" (until t_int), "switch-on"
    #                                   (from t_int) or "clone" (coupled cloning), docs/protocols.md
    noise: str = "independent"        # per-step noise: "independent" per replica, or "shared" by the K replicas
    eps: float | None = None          # pair start sqrt(1 - eps^2) z_0 +- eps z_1, eps in [0, 1]; None: independent
    gate_tables: StepTables | None = None   # (N steps, K x K) tables replacing the gate's where the pair is coupled
    #                                         (e.g. analog.feature_gate_tables); needs A = I
    batch: int = 2000                 # paths per kernel call, integer >= 1 (results never depend on it)
    progress: Callable[[int, int], object] | None = None   # progress(done, n), called after each batch
    model: FeatureModel = field(init=False)   # `data` as the engine's FeatureModel (engine.feature_model)

    def __post_init__(self) -> None:
        self._set("model", feature_model(self.data))
        grid, A, _ = check_coupling(self.grid, self.drift, self.gate, self.scheme, self.K)
        self._set("grid", grid)
        self._set("K", A.shape[0])
        self._set("drift", None if self.drift is None else A)
        self._set("n", check_int("samples", self.n, 1, 10**9))
        self._set("seed", check_int("seed", self.seed, 0, SEED_MAX))
        if self.sign_mixing is not None:
            self._set("sign_mixing", check_sign_mixing(self.sign_mixing, self.K))
        self._check_variant()
        self._check_gate_tables()
        self._set("batch", check_int("batch", self.batch, 1))
        if self.progress is not None and not callable(self.progress):
            raise InputError(f"progress must be a function progress(done, total) or None, got {self.progress!r}")

    def _set(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)

    def _check_variant(self) -> None:
        window, noise, eps = check_variant(self.window, self.noise, self.eps)
        if window == "clone":
            if self.drift is not None or noise != "independent" or eps not in (None, 0.0):
                raise InputError("window 'clone' (coupled cloning) starts both replicas at one point (eps 0) with "
                                 "independent noise under the gate: drop drift, noise and eps")
            eps = 0.0
        if eps is not None and self.K != 2:
            raise InputError(f"eps: an antisymmetric start needs a pair of replicas (K = 2), got K={self.K}")
        self._set("eps", eps)

    def _check_gate_tables(self) -> None:
        tables = self.gate_tables
        if tables is None:
            return
        if self.drift is not None:
            raise InputError("gate_tables replace the gate's tables (independent forward processes): drop drift")
        shape = getattr(getattr(tables, "L", None), "shape", None)
        if not isinstance(tables, StepTables) or shape != (self.N, self.K, self.K):
            raise InputError(f"gate_tables must be StepTables of {self.N} steps of {self.K} x {self.K} replicas "
                             f"(engine.step_tables on this grid), got {type(tables).__name__} with L of shape {shape}")

    @property
    def N(self) -> int:
        """Steps of the run: the grid's points less one."""
        return self.grid.size - 1

    def tables(self) -> StepTables:
        """Step tables of the coupled run: `gate_tables` where given, else those of the drift or gate."""
        if self.gate_tables is not None:
            return self.gate_tables
        return step_tables(self.model, self.grid, self.drift, self.gate, self.scheme, self.K, self.sign_mixing)

    def independent(self) -> ReplicaRun:
        """The same run with the replicas uncoupled (A = I, g = 0): the independent part of a window."""
        return replace(self, drift=None, gate=0.0, gate_tables=None)

    def start(self, lo: int, hi: int) -> np.ndarray:
        """z_T (hi - lo, K, D) of paths lo..hi-1 (`start_of`)."""
        return self.start_of(np.arange(lo, hi, dtype=np.int64))

    def start_of(self, ids: ArrayLike) -> np.ndarray:
        """z_T (len(ids), K, D) of the given paths: the exact forward marginal at T of the process that runs first
        (uncoupled in a "switch-on" window), then the antisymmetric start when eps is set; the same in any batch."""
        drift = None if self.window == "switch-on" else self.drift
        z = initial_for_ids(self.model, ids, self.K, self.grid[0], drift, self.seed, self.sign_mixing)
        return antisymmetric_start(z, self.eps)

    def batches(self) -> Iterator[tuple[int, int]]:
        """Path ranges (lo, hi) of at most `batch` paths covering 0..n-1; progress(hi, n) after each."""
        for lo in range(0, self.n, self.batch):
            hi = min(self.n, lo + self.batch)
            yield lo, hi
            if self.progress is not None:
                self.progress(hi, self.n)


__all__ = ["WINDOWS", "NOISES", "check_variant", "antisymmetric_start", "ReplicaRun"]
