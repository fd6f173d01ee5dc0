"""Protocol II recording: forward hooks on every DiT block, reduced on the fly (SCIENCE.md §5).

For block output h (rows [A; B], the conditional rows only under CFG), per pair and layer:
    c = (h_A + h_B)/sqrt(2),  d = (h_A - h_B)/sqrt(2)       (orthonormal: |c|^2 + |d|^2 = |h_A|^2 + |h_B|^2)
    common = mean(c^2), diff = mean(d^2)                     (mean over tokens and channels)
    bands[b] = share of |d|^2 in radial spatial-frequency band b of the token grid
               (orthonormal 2-D DFT over the h x w grid, |f| = sqrt(fx^2 + fy^2) in cycles/token, equal-width bands)
    modes[q] = share of |d|^2 in group q of a fixed per-layer basis of empirical spatial modes
               (eigenvectors of the token second-moment matrix, leading group first)
Only these numbers are kept: memory is O(steps x layers x pairs x (2 + bands + groups)).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from theory.checks import InputError, check_int


def radial_band_matrix(h: int, w: int, n_bands: int) -> torch.Tensor:
    """(h*w, n_bands) 0/1 matrix assigning each DFT frequency of an h x w grid to its radial band."""
    fy, fx = np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij")
    r = np.sqrt(fx ** 2 + fy ** 2).ravel()
    edges = np.linspace(0.0, math.sqrt(0.5) * (1 + 1e-9), n_bands + 1)
    idx = np.clip(np.searchsorted(edges, r, side="right") - 1, 0, n_bands - 1)
    out = np.zeros((h * w, n_bands), dtype=np.float32)
    out[np.arange(h * w), idx] = 1.0
    return torch.from_numpy(out)


def group_matrix(n: int, n_groups: int) -> torch.Tensor:
    """(n, n_groups) 0/1 matrix putting n ordered modes into contiguous groups (leading first)."""
    idx = np.minimum((np.arange(n) * n_groups) // n, n_groups - 1)
    out = np.zeros((n, n_groups), dtype=np.float32)
    out[np.arange(n), idx] = 1.0
    return torch.from_numpy(out)


def _token_grid(model) -> tuple[int, int]:
    p = model.config.patch_size
    s = model.config.sample_size
    return s // p, s // p


class PairRecorder:
    """Hooks on every transformer block reducing the replica difference per layer and step (Protocol II)."""

    def __init__(self, model, n_bands: int = 4, modes: torch.Tensor | None = None, mode_groups: int = 4,
                 steps=None):
        self.model = model
        self.hw = _token_grid(model)
        t = self.hw[0] * self.hw[1]
        self.n_layers = len(model.transformer_blocks)
        self.n_bands = check_int("n_bands", n_bands, 1, t)
        self.band_m = radial_band_matrix(*self.hw, self.n_bands)
        self.modes = None
        if modes is not None:
            modes = torch.as_tensor(modes, dtype=torch.float32)
            if tuple(modes.shape) != (self.n_layers, t, t):
                raise InputError(f"modes must be (layers, tokens, tokens) = ({self.n_layers}, {t}, {t}), "
                                 f"got {tuple(modes.shape)}")
            self.modes = modes
            self.mode_groups = check_int("mode_groups", mode_groups, 1, t)
            self.group_m = group_matrix(t, self.mode_groups)
        self.steps = None if steps is None else set(int(s) for s in steps)
        self.handles = []
        self._step, self._m, self._rows = None, None, {}
        self.records: dict[int, list] = {}

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
        self._step = int(step) if self.steps is None or int(step) in self.steps else None
        self._m = m
        if self._step is not None:
            self.records[self._step] = [None] * self.n_layers

    def _hook(self, layer: int):
        def hook(module, inputs, output):
            if self._step is None:
                return None
            with torch.no_grad():
                self.records[self._step][layer] = self.reduce(output, self._m, layer)
            return None
        return hook

    def reduce(self, h: torch.Tensor, m: int, layer: int) -> torch.Tensor:
        """(n_pairs, 2 + bands [+ groups]) statistics of one block output h (N, T, D)."""
        half = h.shape[0] // 2
        ha, hb = h[:m].float(), h[half:half + m].float()  # conditional rows of A and B, (P, T, D)
        c = (ha + hb) * 0.5 ** 0.5
        d = (ha - hb) * 0.5 ** 0.5
        p, t, dim = d.shape
        common = c.pow(2).mean((1, 2))
        diff = d.pow(2).mean((1, 2))
        tot = d.pow(2).sum((1, 2)).clamp_min(1e-30)
        grid = d.reshape(p, *self.hw, dim)
        power = torch.fft.fft2(grid, dim=(1, 2), norm="ortho").abs().pow(2).sum(-1).reshape(p, t)  # (P, T)
        cols = [common[:, None], diff[:, None], (power @ self.band_m.to(power.device)) / tot[:, None]]
        if self.modes is not None:
            u = self.modes[layer].to(d.device)  # (T, T), columns = modes
            proj = torch.einsum("tk,ptd->pkd", u, d).pow(2).sum(-1)  # (P, T)
            cols.append((proj @ self.group_m.to(proj.device)) / tot[:, None])
        return torch.cat(cols, 1)  # stays on the model's device until result()

    def result(self) -> dict:
        """Plain record: steps (S,), common/diff (S, L, P), bands (S, L, P, n_bands), modes (S, L, P, groups)."""
        steps = sorted(s for s, v in self.records.items() if all(x is not None for x in v))
        if not steps:
            raise InputError("nothing recorded: attach the recorder and run the sampler with recorder=...")
        arr = np.stack([np.stack([x.cpu().numpy() for x in self.records[s]]) for s in steps])  # (S, L, P, K)
        out = {"steps": np.asarray(steps), "common": arr[..., 0], "diff": arr[..., 1],
               "bands": arr[..., 2:2 + self.n_bands],
               "band_edges": np.linspace(0.0, math.sqrt(0.5), self.n_bands + 1)}
        if self.modes is not None:
            out["modes"] = arr[..., 2 + self.n_bands:]
        return out


class ModeCalibrator:
    """Accumulates each layer's token second-moment matrix sum_d h h^T / D over rows and steps."""

    def __init__(self, model):
        self.model = model
        t = math.prod(_token_grid(model))
        self.acc = torch.zeros(len(model.transformer_blocks), t, t, dtype=torch.float64)
        self.count = 0
        self.handles = []

    def __enter__(self):
        self.handles = [b.register_forward_hook(self._hook(i)) for i, b in enumerate(self.model.transformer_blocks)]
        return self

    def __exit__(self, *exc):
        for hd in self.handles:
            hd.remove()
        self.handles = []

    def begin_step(self, step: int, m: int) -> None:
        self.count += 1

    def _hook(self, layer):
        def hook(module, inputs, output):
            with torch.no_grad():
                h = output.double().cpu()  # (N, T, D)
                self.acc[layer] += torch.einsum("ntd,nsd->ts", h, h) / (h.shape[0] * h.shape[2])
            return None
        return hook

    def modes(self) -> torch.Tensor:
        """(L, T, T) orthonormal modes per layer, columns ordered by decreasing second moment."""
        if self.count == 0:
            raise InputError("no steps were calibrated")
        evals, evecs = torch.linalg.eigh(self.acc / self.count)
        return evecs.flip(-1).float()
