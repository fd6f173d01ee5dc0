"""Protocol II recording: forward hooks on every DiT block, reduced on the fly (docs/science.md §5).

For block output h (rows [A; B], the conditional rows only under CFG), per pair and layer:
    c = (h_A + h_B)/sqrt(2),  d = (h_A - h_B)/sqrt(2)       (orthonormal: |c|^2 + |d|^2 = |h_A|^2 + |h_B|^2)
    common = mean(c^2), diff = mean(d^2)                     (mean over tokens and channels)
    bands[b] = share of |d|^2 in radial spatial-frequency band b of the token grid
               (orthonormal 2-D DFT over the h x w grid, |f| = sqrt(fx^2 + fy^2) in cycles/token, equal-width bands)
Only these numbers are kept: memory is O(steps x layers x pairs x (2 + bands)). The block outputs are the
cumulative residual stream; what each block adds, on a fixed token basis, is dit_bridge/depth.py's measurement
(a share of |d|^2 on empirical modes sits at its chance level, so none is recorded here).
The hooks keep views of one step's block outputs and the last block's hook reduces all layers in one
batch (fewer, larger tensor ops than a per-layer reduction); `reduce` is the per-layer reference.
"""
from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import torch

from syncgap.theory.checks import InputError, check_int


def radial_band_basis(h: int, w: int, n_bands: int) -> tuple[torch.Tensor, np.ndarray]:
    """Real orthonormal basis (h*w, h*w) of the token grid, ordered by radial band, and its band labels.

    Band b is the image of the real projector P_b = Re(F^H 1_b F), F the unitary 2-D DFT (tokens
    row-major) and 1_b the frequencies with e_b <= |f| < e_{b+1}, edges equal-width on [0, 1/sqrt 2].
    The radial sets are symmetric under f -> -f, so P_b is real and |P_b d|^2 is the DFT energy in band b.
    """
    fy, fx = np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij")
    r = np.sqrt(fx ** 2 + fy ** 2).ravel()
    edges = np.linspace(0.0, math.sqrt(0.5) * (1 + 1e-9), n_bands + 1)
    band = np.clip(np.searchsorted(edges, r, side="right") - 1, 0, n_bands - 1)
    f = np.kron(np.fft.fft(np.eye(h), norm="ortho"), np.fft.fft(np.eye(w), norm="ortho"))  # (T, T) unitary
    vecs, labels = [], []
    for b in range(n_bands):
        sel = band == b
        if not sel.any():   # an empty band would record a zero energy as if measured
            raise InputError(f"n_bands={n_bands} leaves radial band {b} empty on the {h}x{w} token grid; "
                             "use fewer bands")
        proj = (f.conj().T[:, sel] @ f[sel]).real  # (T, T), symmetric idempotent
        ev, u = np.linalg.eigh(proj)
        keep = u[:, ev > 0.5]
        vecs.append(keep)
        labels += [b] * keep.shape[1]
    return torch.from_numpy(np.concatenate(vecs, 1).astype(np.float32)), np.asarray(labels)


def token_grid(model: torch.nn.Module) -> tuple[int, int]:
    p = model.config.patch_size
    s = model.config.sample_size
    return s // p, s // p


class HookSet:
    """Base of the hook context managers: __enter__ registers hooks into self.handles, __exit__ removes them all."""

    handles: list

    def __exit__(self, *exc):
        for hd in self.handles:
            hd.remove()
        self.handles = []


class StepRecorder(Protocol):
    """What the pair sampler calls before each model call (sampling.run_pairs): the step and the pairs M."""

    def begin_step(self, step: int, m: int) -> None: ...


class Recorders:
    """Several recorders on one sampler run: begin_step goes to each (their hooks are attached separately)."""

    def __init__(self, *recorders: StepRecorder):
        self.recorders = recorders

    def begin_step(self, step: int, m: int) -> None:
        for r in self.recorders:
            r.begin_step(step, m)


class PairRecorder:
    """Hooks on every transformer block reducing the replica difference per layer and step (Protocol II)."""

    def __init__(self, model, n_bands: int = 4, steps=None):
        self.model = model
        self.hw = token_grid(model)
        t = self.hw[0] * self.hw[1]
        self.n_layers = len(model.transformer_blocks)
        self.n_bands = check_int("n_bands", n_bands, 1, min(self.hw))   # at most the tokens per side
        self.band_basis, labels = radial_band_basis(*self.hw, self.n_bands)
        onehot = np.zeros((t, self.n_bands), dtype=np.float32)
        onehot[np.arange(t), labels] = 1.0
        self.group_m = torch.from_numpy(onehot)  # basis vector -> band
        self._stacked = {}  # device -> ((K, T) basis, group matrix), for the batched reduction
        self.steps = None if steps is None else set(int(s) for s in steps)
        self.handles = []
        self._step, self._m = None, None
        self._pending: list = [None] * self.n_layers  # this step's (2, P, T, D) views of the block outputs
        self.records: dict[int, torch.Tensor | None] = {}

    def __enter__(self):
        self.attach()
        return self

    def __exit__(self, *exc):
        self.detach()

    def attach(self) -> None:
        """Register one forward hook per block; hooks only read the output."""
        if not self.handles:
            self.handles = [b.register_forward_hook(self._hook(i))
                            for i, b in enumerate(self.model.transformer_blocks)]

    def detach(self) -> None:
        for hd in self.handles:
            hd.remove()
        self.handles = []

    def begin_step(self, step: int, m: int) -> None:
        """Called by the sampler before each model call: step index and pairs per replica (m = 2M/2)."""
        self._pending = [None] * self.n_layers  # drop a step whose forward did not reach the last block
        self._step = int(step) if self.steps is None or int(step) in self.steps else None
        self._m = m
        if self._step is not None:
            self.records[self._step] = None

    def _hook(self, layer: int):
        def hook(module, inputs, output):
            if self._step is None:
                return None
            half = output.shape[0] // 2
            ab = output[:2 * half].unflatten(0, (2, half))[:, :self._m]  # (2, P, T, D) view: rows of A and B
            self._pending[layer] = (ab, ab._version)
            if layer == self.n_layers - 1:  # the step's last block: reduce all layers in one batch
                with torch.no_grad():
                    self.records[self._step] = self._reduce_pending()
            return None
        return hook

    def _reduce_pending(self) -> torch.Tensor:
        """(L, P, 2 + bands) statistics of this step's block outputs: common and difference energy
        per token and channel, then the difference's energy share per band."""
        pend, self._pending = self._pending, [None] * self.n_layers
        if any(x is None for x in pend):
            raise RuntimeError("PairRecorder: a block ran without the others in this step; call begin_step first")
        if any(ab._version != v for ab, v in pend):
            raise RuntimeError("PairRecorder: a block output was modified in place before the step was reduced")
        x = torch.stack([ab for ab, _ in pend]).float()  # (L, 2, P, T, D)
        c2 = (x[:, 0] + x[:, 1]).pow_(2)  # 2 c^2, (L, P, T, D)
        d = x[:, 0] - x[:, 1]  # sqrt(2) d
        t, dim = d.shape[-2:]
        d2 = d.pow(2).sum((2, 3))  # 2 |d|^2, (L, P)
        w, grp = self._stacked_basis(d.device)  # (K, T), (K, bands)
        coef = torch.matmul(w.unsqueeze(-3), d).pow_(2).sum(-1)  # 2 |W_k^T d|^2, (L, P, K)
        shares = torch.matmul(coef, grp).div_(d2.clamp_min(1e-30).unsqueeze(-1))  # (L, P, groups)
        common = c2.sum((2, 3)).mul_(0.5 / (t * dim))
        diff = d2.mul(0.5 / (t * dim))
        return torch.cat([common.unsqueeze(-1), diff.unsqueeze(-1), shares], -1)  # stays on the device

    def _stacked_basis(self, device):
        key = str(device)
        if key not in self._stacked:
            w = self.band_basis.T  # (K, T), shared by every layer
            self._stacked[key] = (w.contiguous().to(device), self.group_m.to(device))
        return self._stacked[key]

    def result(self) -> dict:
        """Plain record: steps (S,), common/diff (S, L, P), bands (S, L, P, n_bands)."""
        steps = sorted(s for s, v in self.records.items() if v is not None)
        if not steps:
            raise InputError("nothing recorded: attach the recorder and run the sampler with recorder=...")
        arr = torch.stack([self.records[s] for s in steps]).cpu().numpy()  # (S, L, P, K)
        return {"steps": np.asarray(steps), "common": arr[..., 0], "diff": arr[..., 1],
                "bands": arr[..., 2:2 + self.n_bands],
                "band_edges": np.linspace(0.0, math.sqrt(0.5), self.n_bands + 1)}
