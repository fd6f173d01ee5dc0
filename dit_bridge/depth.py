"""Depth measurement: what each DiT block adds to the replica difference, and what each layer can read (docs/science.md §5).

One run of the pair sampler (`depth_run`) in the shared-noise variant: both replicas start from the
antisymmetric split sqrt(1 - eps^2) z +- eps zeta of one draw and then draw the SAME per-step noise
(B's generators copy A's), so the replica difference is the propagated start perturbation and never
fresh independent noise (which floods it under the independent variant: the old Protocol II
statistic sat at its chance level). DDPM keeps the stochastic sampler of Protocol I's cloning, so
the probes read commitment under future noise. Forward pre-hooks and hooks on every block record
h_in and h_out for rows [A; B] at every sampler step and reduce them at once:

(a) block increment difference: d_l = (h_out - h_in)_A - (h_out - h_in)_B, (tokens T, hidden D), on the
    orthonormal 2-D DCT-II of the token grid (`token_dct_basis`); energy per mode summed over D, split
    into the global group (`global_mode_mask`: both frequency indices <= 2, the band of the FHGM's
    coarse features dct01 and dct12) and the rest. For an isotropic difference the global share is
    |global| / T (`chance_share`): 9/64 on fhgm-deep's 8x8 grid, 9/16 on fhgm's 4x4 grid.
(b) probe inputs: the states s_0 = h_in of block 0 (a linear image of x_t: layer 0 holds all of x_t),
    s_l = h_out of block l (l = 1..L), projected on the token DCT modes that carry each FHGM feature
    (`feature_token_modes`); the probes themselves are in `dit_bridge.probes`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from syncgap.theory.checks import InputError, check_int, check_real

from .coupling import remove_coupling, set_coupling
from .recording import HookSet, token_grid
from .sampling import make_scheduler, run_pairs

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from syncgap.theory.data import SignFeatureMixture

    from .registry import LoadedDiT

GLOBAL_MAX_INDEX = 2   # global token modes: both DCT frequency indices <= 2 (dct01, dct12 of the FHGM)


def dct_matrix(n: int) -> np.ndarray:
    """(n freq, n pos) orthonormal DCT-II: c_i(y) = s_i cos(pi i (2y + 1) / (2n)), s_0 = sqrt(1/n), s_i = sqrt(2/n)."""
    n = check_int("n", n, 1)
    k, y = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    c = np.cos(np.pi * k * (2 * y + 1) / (2 * n)) * np.sqrt(2.0 / n)
    c[0] /= np.sqrt(2.0)
    return c


def token_dct_basis(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal 2-D DCT-II basis of an h x w token grid (tokens row-major, as diffusers' patch embedding).

    Returns basis (T, T), column m = c_i(y) c_j(x) with (i, j) = index[m], modes in row-major (i, j) order,
    and index (T, 2).
    """
    cy, cx = dct_matrix(h), dct_matrix(w)
    basis = np.einsum("iy,jx->yxij", cy, cx).reshape(h * w, h * w)  # (tokens, modes)
    index = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij"), -1).reshape(-1, 2)
    return basis, index


def global_mode_mask(index: np.ndarray, max_index: int = GLOBAL_MAX_INDEX) -> np.ndarray:
    """(T,) True for the global (low-frequency) token modes: both DCT indices <= max_index."""
    return np.all(np.asarray(index) <= check_int("max_index", max_index, 0), axis=-1)


def chance_share(mask: np.ndarray) -> float:
    """Global share of an isotropic difference: E|P_G d|^2 / E|d|^2 = |G| / T for an orthonormal basis."""
    mask = np.asarray(mask, bool)
    return float(mask.sum() / mask.size)


def mode_energy(d: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Energy per token mode summed over channels: e_m = sum_c (u_m^T d[:, c])^2; d (..., T, D) -> (..., T).

    With an orthonormal basis sum_m e_m = |d|^2 (Parseval)."""
    coef = torch.einsum("tm,...tc->...mc", basis.to(d.dtype), d)  # (..., modes, D)
    return coef.pow(2).sum(-1)


def patchify(pattern: np.ndarray, patch: int) -> np.ndarray:
    """(C, H, W) image -> (T, C patch^2): one row per token, tokens row-major (diffusers' PatchEmbed order)."""
    c, h, w = pattern.shape
    if h % patch or w % patch:
        raise InputError(f"patch={patch} must divide the image size {h}x{w}")
    x = pattern.reshape(c, h // patch, patch, w // patch, patch)
    return x.transpose(1, 3, 0, 2, 4).reshape((h // patch) * (w // patch), c * patch * patch)


def feature_token_modes(pattern: np.ndarray, basis: np.ndarray, patch: int, coverage: float = 0.9,
                        max_modes: int = 6) -> tuple[list[int], float]:
    """Token modes carrying one feature: the fewest modes (by energy) holding `coverage` of the patchified
    pattern's energy sum_c (u_m^T P[:, c])^2, at most `max_modes`. Returns (mode indices, energy fraction held)."""
    coverage = check_real("coverage", coverage, 0.0, 1.0, lo_open=True)
    max_modes = check_int("max_modes", max_modes, 1)
    p = patchify(np.asarray(pattern, float), patch)  # (T, C p^2)
    e = ((basis.T @ p) ** 2).sum(1)
    order = np.argsort(-e, kind="stable")
    held = np.cumsum(e[order]) / e.sum()
    n = min(int(np.searchsorted(held, coverage - 1e-12) + 1), max_modes)
    return [int(m) for m in order[:n]], float(held[n - 1])


class Recorders:
    """Several recorders on one sampler run: begin_step goes to each (their hooks are attached separately)."""

    def __init__(self, *recorders):
        self.recorders = recorders

    def begin_step(self, step: int, m: int) -> None:
        for r in self.recorders:
            r.begin_step(step, m)


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


def depth_run(rec: LoadedDiT, mix: SignFeatureMixture, *, n_pairs: int, num_steps: int = 20, seed: int = 0,
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
    n_pairs = check_int("n_pairs", n_pairs, 2, 10**6)
    num_steps = check_int("num_steps", num_steps, 2, 1000)
    if tuple(mix.shape) != tuple(rec.sample_shape):
        raise InputError(f"the mixture's samples are {tuple(mix.shape)}, the model's {tuple(rec.sample_shape)}")
    h, w = token_grid(rec.model)
    basis, index = token_dct_basis(h, w)
    mask = global_mode_mask(index)
    patch = rec.model.config.patch_size
    per_feature = [feature_token_modes(p.reshape(mix.shape), basis, patch, coverage, max_modes) for p in mix.patterns]
    union = sorted({m for modes, _ in per_feature for m in modes})
    probe_steps = default_probe_steps(num_steps, n_probe_steps)
    from .protocols import pair_labels, start_state
    lab = pair_labels(rec, None, n_pairs, seed)
    state = start_state(rec, n_pairs, seed, eps, noise="shared")
    from .layer_modes import StateRecorder, mode_groups
    groups, masks = mode_groups(mix, h, w, patch, coverage, max_modes)
    set_coupling(rec.model, g, None, gate)
    try:
        with BlockRecorder(rec.model, mask, union, probe_steps) as recorder, \
                StateRecorder(rec.model, mix, masks) as states:
            run_pairs(rec, make_scheduler(rec, "ddpm"), state, lab, num_steps=num_steps,
                      recorder=Recorders(recorder, states))
    finally:
        remove_coupling(rec.model)
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


__all__ = ["Recorders", "increment_shares", "GLOBAL_MAX_INDEX", "dct_matrix", "token_dct_basis", "global_mode_mask", "chance_share", "mode_energy",
           "patchify", "feature_token_modes", "BlockRecorder", "default_probe_steps", "depth_run"]
