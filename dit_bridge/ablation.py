"""Necessity by ablation: remove one block's replica difference in one token-frequency band and read commitment.

At block l (0-based index into transformer_blocks), for rows [A; B], the increment difference
d = (h_out - h_in)_A - (h_out - h_in)_B is removed in the band of token modes U_B (orthonormal token DCT-II
columns, dit_bridge.token_modes.token_dct_basis): both replicas' increments are replaced by their mean there,

    inc_A' = inc_A - P_B d / 2,   inc_B' = inc_B + P_B d / 2,   P_B = U_B U_B^T (over tokens, every channel),

only while the DDPM timestep lies in [t_lo, t_hi] (the feature's commitment window). The energy removed is
sum |P_B d|^2 over the ablated calls, pairs and channels. Commitment is read in the cloning window
(docs/science.md §2, `protocols.protocol_one(clone=True)`): one trajectory runs to t_int, is cloned,
and both copies continue on fresh noise; the agreement of the copies' final feature signs against t_int
rises where the feature commits. In the prefix the two rows are identical (d = 0: nothing is removed);
after the split the ablation removes the difference block l makes between the copies in the band.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from syncgap.theory.checks import InputError, check_int

from .commitment import feature_agreement
from .pair_run import PairRun
from .protocols import read_branches
from .recording import token_grid
from .token_modes import token_dct_basis

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike

    from .registry import LoadedDiT


class BandAblation:
    """Forward hook on one block removing the pair's increment difference in a token band (module docstring).

    `removed` accumulates sum |P_B d|^2, `calls` the ablated calls, `pair_calls` the pairs ablated summed over
    calls; layer None installs nothing (reference)."""

    def __init__(self, model: torch.nn.Module, layer: int | None, band: ArrayLike, t_lo: int, t_hi: int):
        self.model, self.layer = model, layer
        basis, _ = token_dct_basis(*token_grid(model))
        mask = np.asarray(band, bool)
        if mask.shape != (basis.shape[0],) or not mask.any():
            raise InputError(f"band must be a non-empty mask over the {basis.shape[0]} token modes")
        u = torch.from_numpy(basis[:, mask])                     # float64; cast to the states at use
        self.proj = u @ u.T                                     # (T, T) projector on the band
        if layer is not None:
            check_int("layer", layer, 0, len(model.transformer_blocks) - 1)
        self.t_lo, self.t_hi = int(t_lo), int(t_hi)
        self.removed, self.calls, self.pair_calls, self.handle = 0.0, 0, 0, None

    def __enter__(self):
        if self.layer is not None:
            block = self.model.transformer_blocks[self.layer]
            self.handle = block.register_forward_hook(self._hook, with_kwargs=True)
        return self

    def __exit__(self, *exc):
        if self.handle is not None:
            self.handle.remove()
            self.handle = None

    def _hook(self, module, args, kwargs, output):
        t = int(torch.as_tensor(kwargs["timestep"]).reshape(-1)[0])
        if not self.t_lo <= t <= self.t_hi:
            return None
        h_in = args[0] if args else kwargs["hidden_states"]
        inc = output - h_in                                         # (2P, T, D)
        p = inc.shape[0] // 2
        pd = torch.einsum("st,ntd->nsd", self.proj.to(inc.dtype), inc[:p] - inc[p:])   # (P, T, D): P_B d
        self.removed += float(pd.double().pow(2).sum())
        self.calls += 1
        self.pair_calls += p
        return output - torch.cat([pd / 2, -pd / 2])


def ablated_cloning(loaded: LoadedDiT, patterns: ArrayLike, layer: int | None, band: ArrayLike,
                    window: Sequence[int], t_ints: Sequence[int], *, n_pairs: int, num_steps: int = 20,
                    seed: int = 0) -> dict:
    """Cloning agreement (P, F, len(t_ints)) of the final feature signs with block `layer` ablated in `band`
    while the DDPM timestep is in window = (t_lo, t_hi) (None: the reference, nothing ablated), and the
    energy removed per pair and ablated call. Same seed: the same trajectories and fresh noise in every run."""
    n_pairs = check_int("n_pairs", n_pairs, 2, 10**5)
    run = PairRun(loaded, n_pairs=n_pairs, num_steps=num_steps, seed=seed, sampler="ddpm", eps=0.0, clone=True)
    t_ints = sorted({check_int("t_int", t, 0, run.num_steps - 1) for t in t_ints})
    if len(t_ints) < 4:
        raise InputError(f"t_ints must hold at least 4 cloning steps, got {t_ints}")
    with BandAblation(loaded.model, layer, band, *window) as abl:
        agree = read_branches(run, t_ints, {"agreement": lambda a, b: feature_agreement(a, b, patterns)})
    per = abl.removed / abl.pair_calls if abl.pair_calls else 0.0
    return {"t_int": t_ints, "agreement": agree["agreement"], "removed_energy": per, "ablated_calls": abl.calls}


__all__ = ["BandAblation", "ablated_cloning"]
