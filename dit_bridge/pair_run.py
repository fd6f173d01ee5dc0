"""One replica-pair run of a coupled DiT, specified once: `PairRun` (docs/science.md §5, docs/protocols.md).

Every pair measurement (Protocols I and II, the causal test, the depth run, the gate response, the band
ablation) runs the same thing: n_pairs pairs of replicas, rows [A; B] of one loaded DiT (coupling.py's
layout), started from x_A,B = sqrt(1 - eps^2) z +- eps zeta of one draw (z, zeta) per pair
(sampling.antisymmetric_noise), sampled for num_steps steps with per-row generators seeded from `seed`,
coupled through `gate` at strength g on `layers` in a Protocol I `window`. PairRun holds these settings,
checks them once (InputError naming the argument and its allowed range) and is passed down whole;
`dataclasses.replace(run, ...)` makes a variant (checked again).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import torch

from syncgap.theory.checks import InputError, check_choice, check_int, check_real

from .coupling import attention_layers, check_g, check_gate, check_layers, remove_coupling, set_coupling
from .sampling import (PairState, StepHooks, antisymmetric_noise, check_guidance, check_labels, check_sampler,
                       make_scheduler, row_generators, run_pairs)

if TYPE_CHECKING:
    from diffusers import DDIMScheduler, DDPMScheduler
    from numpy.typing import ArrayLike

    from .registry import LoadedDiT

WINDOWS = ("release", "switch-on", "throughout", "clone")
NOISES = ("independent", "shared")
PAIRS_MAX = 10**6      # replica pairs of one run
STEPS_MAX = 1000       # sampler steps (the DDPM training grid has 1000)


def pair_labels(loaded: LoadedDiT, labels: torch.Tensor | ArrayLike | None, n_pairs: int,
                seed: int) -> torch.Tensor:
    """Class labels of both replicas, (2 n_pairs,): one class per pair (random from `seed` when none given)."""
    if labels is None and loaded.default_class is None and loaded.num_classes > 1:
        labels = np.random.default_rng(seed).integers(0, loaded.num_classes, n_pairs)  # one class per pair
    lab = check_labels(loaded, labels, n_pairs)
    return torch.cat([lab, lab])  # both replicas of a pair share its class


@dataclass(frozen=True)
class PairRun:
    """What one replica-pair run needs (module docstring); checked once, in __post_init__."""

    loaded: LoadedDiT                      # the loaded DiT (registry.load_model); its weights' dtype is the run's
    g: float = 0.0                         # coupling strength in [0, 1e12] (coupling.check_g); 0: independent replicas
    n_pairs: int = 8                       # replica pairs, 1 .. PAIRS_MAX (a batch holds 2 n_pairs rows [A; B])
    num_steps: int = 50                    # sampler steps, 2 .. STEPS_MAX
    seed: int = 0                          # >= 0: the start draws, the per-row generators, random class labels
    sampler: str = "ddpm"                  # "ddpm" (stochastic; learned-range variance if learned) or "ddim" (eta 0)
    guidance_scale: float = 1.0            # classifier-free guidance in [1, 1000]; 1 is off (else needs a null class)
    eps: float = 0.3                       # the start's antisymmetric split in [0, 1]
    gate: str = "paper"                    # coupling.GATES: "paper" or "joint"
    layers: tuple[int, ...] | None = None  # coupled block indices (negative: from the end); None: every block
    window: str = "release"                # Protocol I window, one of WINDOWS (docs/protocols.md)
    noise: str = "independent"             # B's per-step noise: its own ("independent") or a copy of A's ("shared")
    clone: bool = False                    # cloning (g -> 0): eps 0, B shares A's noise until t_int, then its own
    batched: bool = True                   # Protocol I: every t_int's tail in one batch (False: one after another)
    labels: torch.Tensor | ArrayLike | None = None   # one class per pair (or one for all); None: the model's
    #                                                  own class, else random per pair from seed

    def __post_init__(self) -> None:
        put = object.__setattr__   # frozen: the checked values replace the given ones once, here
        put(self, "g", check_g("g", self.g))
        put(self, "num_steps", check_int("num_steps", self.num_steps, 2, STEPS_MAX))
        put(self, "n_pairs", check_int("n_pairs", self.n_pairs, 1, PAIRS_MAX))
        put(self, "seed", check_int("seed", self.seed, 0))
        put(self, "guidance_scale", check_guidance(self.loaded, self.guidance_scale))
        put(self, "eps", check_real("eps", self.eps, 0.0, 1.0))
        check_sampler(self.sampler)
        check_gate(self.gate)
        self._check_variant()
        if self.layers is not None:
            put(self, "layers", tuple(self.layers))
            check_layers(self.layers, len(attention_layers(self.loaded.model)))
        self.row_labels   # noqa: B018 -- computed (and so checked) once, then cached

    def _check_variant(self) -> None:
        check_choice("window", self.window, WINDOWS)
        check_choice("noise", self.noise, NOISES)
        if self.clone and (self.window != "release" or self.noise != "independent"):
            raise InputError("clone=True is its own variant: use it with window='release', noise='independent'")
        if self.window == "clone" and self.noise != "independent":
            raise InputError("window 'clone' (coupled cloning) runs with independent noise: drop noise='shared'")
        if (self.clone or self.window == "clone") and self.sampler != "ddpm":
            raise InputError("cloning needs the stochastic ddpm sampler (deterministic clones never split)")

    @cached_property
    def row_labels(self) -> torch.Tensor:
        """(2 n_pairs,) class labels of the rows [A; B] (`pair_labels`)."""
        return pair_labels(self.loaded, self.labels, self.n_pairs, self.seed)

    @property
    def dtype(self) -> torch.dtype:
        """The weights' dtype the model runs in (a bf16 copy from precision.model_in, or float32)."""
        return next(self.loaded.model.parameters()).dtype

    @property
    def layer_list(self) -> list[int] | None:
        """The coupled layers as given (a list), None for every block: the records' "layers" field."""
        return None if self.layers is None else list(self.layers)

    def start(self) -> PairState:
        """PairState at step 0: antisymmetric noise; B's generators copy A's under clone or shared noise."""
        x_a, x_b = antisymmetric_noise(self.loaded.sample_shape, self.n_pairs, self.seed,
                                       0.0 if self.clone else self.eps)
        gens = row_generators(self.seed, self.n_pairs)
        if self.clone or self.noise == "shared":  # B's generators start as copies of A's: identical per-step noise
            gens = gens[:self.n_pairs] + [torch.Generator().set_state(gn.get_state()) for gn in gens[:self.n_pairs]]
        return PairState(torch.cat([x_a, x_b]).float(), 0, gens)

    def scheduler(self) -> DDPMScheduler | DDIMScheduler:
        """A fresh diffusers scheduler of `sampler` for the model (sampling.make_scheduler)."""
        return make_scheduler(self.loaded, self.sampler)

    def couple(self, coupled: bool = True) -> None:
        """Install the gate at g on `layers` (coupled), or the stock processors on every layer (not coupled)."""
        if coupled:
            set_coupling(self.loaded.model, self.g, self.layers, self.gate)
        else:
            remove_coupling(self.loaded.model)

    def advance(self, scheduler: DDPMScheduler | DDIMScheduler, state: PairState, stop: int | None = None,
                labels: torch.Tensor | None = None, hooks: StepHooks = StepHooks()) -> PairState:
        """`state` advanced to step `stop` (default num_steps) with the model's current processors; labels: the
        rows' classes when the batch is not this run's own [A; B] (default `row_labels`); hooks: run_pairs'."""
        return run_pairs(self.loaded, scheduler, state, self.row_labels if labels is None else labels,
                         num_steps=self.num_steps, stop=stop, guidance_scale=self.guidance_scale,
                         hooks=hooks)


__all__ = ["PairRun", "pair_labels", "WINDOWS", "NOISES", "PAIRS_MAX", "STEPS_MAX"]
