"""Depth measurement: what each DiT block adds to the replica difference, and what each layer can read (docs/science.md §5).

One run of the pair sampler (`depth_run`) in the shared-noise variant: both replicas start from the
antisymmetric split sqrt(1 - eps^2) z +- eps zeta of one draw and then draw the SAME per-step noise
(B's generators copy A's), so the replica difference is the propagated start perturbation and never
fresh independent noise (which floods it under the independent variant: the old Protocol II
statistic sat at its chance level). DDPM keeps the stochastic sampler of Protocol I's cloning, so
the probes read commitment under future noise. Forward pre-hooks and hooks on every block record
h_in and h_out for rows [A; B] at every sampler step and reduce them at once:

(a) block increment difference: d_l = (h_out - h_in)_A - (h_out - h_in)_B, (tokens T, hidden D), on the
    orthonormal 2-D DCT-II of the token grid (token_modes.py); energy per mode summed over D, split
    into the global group (`global_mode_mask`: both frequency indices <= 2, the band of the FHGM's
    coarse features dct01 and dct12) and the rest. For an isotropic difference the global share is
    |global| / T (`chance_share`): 9/64 on fhgm-deep's 8x8 grid, 9/16 on fhgm's 4x4 grid.
(b) probe inputs: the states s_0 = h_in of block 0 (a linear image of x_t: layer 0 holds all of x_t),
    s_l = h_out of block l (l = 1..L), projected on the token DCT modes that carry each FHGM feature
    (`token_modes.feature_token_modes`); the probes themselves are in `dit_bridge.probes`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from syncgap.theory.checks import InputError, check_int

from .layer_modes import StateRecorder, mode_groups
from .pair_run import PAIRS_MAX, PairRun
from .recording import HookSet, Recorders, token_grid
from .sampling import StepHooks, run_pairs
from .token_modes import chance_share, feature_token_modes, global_mode_mask, mode_energy, token_dct_basis

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from syncgap.theory.data import SignFeatureMixture

    from .registry import LoadedDiT


def increment_shares(increments: torch.Tensor) -> np.ndarray:
    """Global share glob / total of BlockRecorder.increments entries (..., 2) -> (...); NaN where total is 0."""
    x = np.asarray(increments, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x[..., 1] > 0, x[..., 0] / x[..., 1], np.nan)


class BlockRecorder(HookSet):
    """Pre-hooks and hooks on every transformer block: h_in and h_out of rows [A; B], reduced per step.

    Per step: `increments[step]` (L, P, 2) = [global, total] energy of the increment difference d_l;
    `mode_energy[step]` (L, T) the per-mode energy summed over pairs; at `probe_steps` also
    `probe_inputs[step]` (N, L + 1, K, D): the states s_0..s_L projected on the K token modes `probe_modes`.
    keep_states=True also keeps the raw (L, N, T, D) h_in and h_out (tests).
    """

    def __init__(self, model: torch.nn.Module, global_mask: np.ndarray, probe_modes: Sequence[int] = (),
                 probe_steps: Iterable[int] = (), keep_states: bool = False):
        self.model = model
        self.blocks = list(model.transformer_blocks)
        basis, _ = token_dct_basis(*token_grid(model))
        self.basis = torch.from_numpy(basis).float()  # (T, T)
        self.mask = torch.from_numpy(np.asarray(global_mask, bool))
        if self.mask.numel() != basis.shape[0]:
            raise InputError(f"global_mask has {self.mask.numel()} entries, the token grid {basis.shape[0]}")
        self.probe_basis = self.basis[:, list(probe_modes)]  # (T, K)
        self.probe_steps = {int(s) for s in probe_steps}
        self.keep_states = keep_states
        self.increments, self.mode_energy, self.probe_inputs, self.states = {}, {}, {}, {}
        self.handles = []
        self._step, self._m = None, 0
        self._in, self._out = [None] * len(self.blocks), [None] * len(self.blocks)

    def __enter__(self):
        for i, b in enumerate(self.blocks):
            self.handles.append(b.register_forward_pre_hook(self._pre_hook(i)))
            self.handles.append(b.register_forward_hook(self._hook(i)))
        return self

    def begin_step(self, step: int, m: int) -> None:
        """Called by the sampler before each model call: step index and pairs m (rows [A; B]; under classifier-free
        guidance [A_c, A_u; B_c, B_u], of which the conditional rows are recorded)."""
        self._step, self._m = int(step), int(m)
        self._in, self._out = [None] * len(self.blocks), [None] * len(self.blocks)

    def _pre_hook(self, layer: int):
        def hook(module, args):
            if self._step is not None:
                self._in[layer] = args[0]
        return hook

    def _hook(self, layer: int):
        def hook(module, args, output):
            if self._step is None:
                return
            self._out[layer] = output
            if layer == len(self.blocks) - 1:
                with torch.no_grad():
                    self._reduce()
        return hook

    def _reduce(self) -> None:
        if any(x is None for x in self._in + self._out):
            raise RuntimeError("BlockRecorder: a block ran without the others in this step; call begin_step first")
        m, half = self._m, self._in[0].shape[0] // 2
        rows = torch.cat([torch.arange(m), half + torch.arange(m)])  # [A; B] rows (the conditional ones under CFG)
        h_in = torch.stack(self._in)[:, rows].float()    # (L, 2P, T, D)
        h_out = torch.stack(self._out)[:, rows].float()  # (L, 2P, T, D)
        inc = h_out - h_in                       # what each block adds
        d = inc[:, :m] - inc[:, m:]              # (L, P, T, D) replica difference of the increment
        e = mode_energy(d, self.basis.to(d.device))  # (L, P, T)
        glob = e[..., self.mask.to(e.device)].sum(-1)
        self.increments[self._step] = torch.stack([glob, e.sum(-1)], -1).cpu()  # (L, P, 2)
        self.mode_energy[self._step] = e.sum(1).cpu()                             # (L, T)
        if self._step in self.probe_steps and self.probe_basis.shape[1]:
            states = torch.cat([h_in[:1], h_out])  # (L + 1, N, T, D): s_0 = block 0's input, s_l = block l's output
            z = torch.einsum("tk,lntd->nlkd", self.probe_basis.to(states.device), states)
            self.probe_inputs[self._step] = z.cpu()  # (N, L + 1, K, D)
        if self.keep_states:
            self.states[self._step] = (h_in.cpu(), h_out.cpu())
        self._in, self._out = [None] * len(self.blocks), [None] * len(self.blocks)


def default_probe_steps(num_steps: int, n_probe: int) -> list[int]:
    """n_probe sampler steps spread evenly over 0 .. num_steps - 1 (both ends included)."""
    n_probe = check_int("n_probe_steps", n_probe, 2, num_steps)
    return sorted({int(round(s)) for s in np.linspace(0, num_steps - 1, n_probe)})


def depth_run(loaded: LoadedDiT, mix: SignFeatureMixture, *, n_pairs: int, num_steps: int = 20, seed: int = 0,
              eps: float = 0.3, g: float = 0.0, gate: str = "paper", n_probe_steps: int = 10,
              coverage: float = 0.9, max_modes: int = 6) -> dict:
    """One shared-noise DDPM pair run with BlockRecorder: increment energies per (step, layer, pair) and the
    probe inputs per trajectory; plus each trajectory's final feature projections y_k = phi_k . x_0.

    Returns a dict of arrays: steps (S,), increments (S, L, P, 2) [global, total], mode_energy (S, L, T),
    global_mask (T,), chance_share, probe_steps (S_p,), probe_inputs {step: (2P, L + 1, K, D)},
    feature_modes [[mode indices into K] per feature], feature_coverage (F,), final_projection (2P, F);
    state_energies (S, L + 4, P, G, 2) of `layer_modes.StateRecorder` on mode_groups (G names), timesteps (S,),
    bayes_accuracy (S, F): the Bayes ceiling of every probe of each feature's sign from x_t.
    """
    n_pairs = check_int("n_pairs", n_pairs, 2, PAIRS_MAX)   # the probes train and test on pairs
    run = PairRun(loaded, g=g, n_pairs=n_pairs, num_steps=num_steps, seed=seed, eps=eps, gate=gate, noise="shared")
    if tuple(mix.shape) != tuple(loaded.sample_shape):
        raise InputError(f"the mixture's samples are {tuple(mix.shape)}, the model's {tuple(loaded.sample_shape)}")
    model = loaded.model
    h, w = token_grid(model)
    basis, index = token_dct_basis(h, w)
    mask = global_mode_mask(index)
    patch = model.config.patch_size
    per_feature = [feature_token_modes(p.reshape(mix.shape), basis, patch, coverage, max_modes) for p in mix.patterns]
    union = sorted({m for modes, _ in per_feature for m in modes})
    probe_steps = default_probe_steps(run.num_steps, n_probe_steps)
    state = run.start()
    groups, masks = mode_groups(mix, h, w, patch, coverage, max_modes)
    run.couple()
    try:
        with BlockRecorder(model, mask, union, probe_steps) as recorder, StateRecorder(model, mix, masks) as states:
            run_pairs(loaded, run.scheduler(), state, run.row_labels, num_steps=run.num_steps,
                      hooks=StepHooks(recorder=Recorders(recorder, states)))
    finally:
        run.couple(False)
    steps = sorted(recorder.increments)
    final = mix.project(state.x.reshape(2 * n_pairs, -1).double().numpy())  # (2P, F)
    return {"steps": np.asarray(steps), "increments": torch.stack([recorder.increments[s] for s in steps]).numpy(),
            "mode_energy": torch.stack([recorder.mode_energy[s] for s in steps]).numpy(),
            "mode_index": index, "global_mask": mask, "chance_share": chance_share(mask),
            "probe_steps": np.asarray(probe_steps), "probe_inputs": recorder.probe_inputs,
            "feature_modes": [[union.index(m) for m in modes] for modes, _ in per_feature],
            "feature_coverage": np.asarray([c for _, c in per_feature]), "final_projection": final,
            "state_energies": np.stack([states.energies[s] for s in steps]), "mode_groups": groups,
            "timesteps": np.asarray([states.timesteps[s] for s in steps]),
            "bayes_accuracy": np.stack([states.bayes[s] for s in steps])}


__all__ = ["increment_shares", "BlockRecorder", "default_probe_steps", "depth_run"]
