"""P2's internal measure per layer: the replica difference of every hidden state on token modes, against the step.

For a shared-noise pair run (dit_bridge.depth.depth_run) hooks record, at every sampler step, the states
of both replicas along the network, with the two exact ends of the FHGM beside them:

    state 0      x_t, patchified (T, C p^2): the network's input (exact)
    state 1      h_0, the input of block 0 (x_t embedded, plus the positional embedding)
    state 1 + l  h_l, the output of block l (l = 1 .. L)
    state L + 2  the network's own x0_hat = (x_t - sqrt(1 - abar) eps_theta) / sqrt(abar), patchified
    state L + 3  E[x_0 | x_t], the exact posterior mean of the FHGM (theory.data, closed form), patchified

Each state s (rows [A; B], (T, channels)) is projected on the orthonormal token DCT-II basis
(dit_bridge.token_modes.token_dct_basis) and reduced per pair and mode group G (each FHGM feature's own
token modes, `feature_token_modes`; the global modes, both indices <= 2; the local rest) to

    diff_G = |U_G^T (s_A - s_B)|^2,   spread_G = |U_G^T (s_A - m)|^2 + |U_G^T (s_B - m)|^2,

m the mean of s over all 2P rows of the step (removes what every trajectory shares: the positional
embedding, the timestep's modulation). The normalised difference q_G = sum_pairs diff_G / sum_pairs
spread_G is 0 for synchronised replicas and about 1 for two independent trajectories, on every layer
and both ends alike (P2's "normalised per layer"). In the shared-noise run q first falls (the start
perturbation contracts) and then rises where the modes desynchronise: the commitment of the group's
modes at that layer, read as the midpoint (commitment step) and sharpness 1 / width of a logistic with
fitted asymptotes (ou_models.estimators.fit_sigmoid_bounded) on the steps from q's minimum on, none when
it rises by less than MIN_RISE of its fall before the minimum (or MIN_RISE_ABS); the per-layer gap is
tau(finest) - tau(coarsest). Intervals: percentile bootstrap over pairs (same resamples for every state).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from syncgap.ou_models.estimators import fit_sigmoid_bounded
from syncgap.theory.checks import InputError, check_int
from syncgap.theory.intervals import list_fields

from .token_modes import feature_token_modes, global_mode_mask, patchify, token_dct_basis
from .recording import HookSet, token_grid
from .train import alphas_cumprod

if TYPE_CHECKING:
    from collections.abc import Sequence

    from syncgap.theory.data import SignFeatureMixture

MIN_RISE = 0.1        # the rise after q's minimum must reach this fraction of the fall before it ...
MIN_RISE_ABS = 0.01   # ... and this much q: smaller rises are the wiggle of a contracted difference, no commitment


def state_names(n_layers: int) -> list[str]:
    """Names of the recorded states: x_t, h_0 (block 0's input), h_1 .. h_L, x0_hat (network), E[x_0|x_t] (exact)."""
    return ["x_t", "h_0"] + [f"h_{l}" for l in range(1, n_layers + 1)] + ["x0_hat", "posterior_mean"]


def mode_groups(mix: SignFeatureMixture, h: int, w: int, patch: int, coverage: float = 0.9,
                max_modes: int = 6) -> tuple[list[str], np.ndarray]:
    """(names, masks (G, T) bool): one group per FHGM feature (its own token modes), then global and local."""
    basis, index = token_dct_basis(h, w)
    glob = global_mode_mask(index)
    masks = []
    for p in mix.patterns:
        modes, _ = feature_token_modes(p.reshape(mix.shape), basis, patch, coverage, max_modes)
        m = np.zeros(h * w, bool)
        m[modes] = True
        masks.append(m)
    return list(mix.names) + ["global", "local"], np.stack(masks + [glob, ~glob])


def group_energies(states: torch.Tensor, basis: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """(P, G, 2) [diff_G, spread_G] of rows [A; B] states (2P, T, D) on mode groups masks (G, T) (module docstring)."""
    p = states.shape[0] // 2
    coef = torch.einsum("tm,ntd->nmd", basis.to(states.dtype), states)       # (2P, T modes, D)
    e_diff = (coef[:p] - coef[p:]).pow(2).sum(-1)                               # (P, T)
    cen = (coef - coef.mean(0, keepdim=True)).pow(2).sum(-1)                    # (2P, T)
    e_spread = cen[:p] + cen[p:]                                                # (P, T)
    m = masks.to(states.dtype)                                                  # (G, T)
    return torch.stack([e_diff @ m.T, e_spread @ m.T], -1)                      # (P, G, 2)


def posterior_mean_at(mix: SignFeatureMixture, x: np.ndarray, timestep: int) -> np.ndarray:
    """E[x_0 | x_t = x] (N, D) at a DDPM training timestep: OU time t = -1/2 log abar_t (docs/science.md §2)."""
    abar = float(alphas_cumprod()[int(timestep)])
    return mix.posterior_mean(x, -0.5 * np.log(abar))


def bayes_accuracy(mix: SignFeatureMixture, x: np.ndarray, timestep: int) -> np.ndarray:
    """(F,) expected accuracy of the Bayes classifier of each feature's sign s_k from x_t, averaged over the rows
    x (N, D): E[max(p, 1 - p)], p = P(s_k = +1 | x_t) = (1 + tanh(a_k e y_k / Gamma)) / 2, y_k = phi_k . x_t,
    e = sqrt(abar), Gamma = sigma^2 e^2 + 1 - e^2 (docs/science.md §2). The ceiling of any read-out of x_t,
    hence of any layer's probe (data-processing inequality)."""
    e = float(np.sqrt(alphas_cumprod()[int(timestep)].item()))
    gam = mix.noise_std ** 2 * e * e + 1 - e * e
    p = 0.5 * (1 + np.tanh(mix.amplitudes * e * mix.project(np.asarray(x, float)) / gam))   # (N, F)
    return np.maximum(p, 1 - p).mean(0)


class StateRecorder(HookSet):
    """Hooks on the model and every block of a pair run: per step the (P, states, G, 2) group energies.

    `energies[step]` (L + 4, P, G, 2) in the order of `state_names`; `timesteps[step]` the DDPM timestep;
    `bayes[step]` (F,) the Bayes accuracy of each feature's sign from x_t over the rows (`bayes_accuracy`).
    Rows [A; B] of each call are the pair's replicas (no classifier-free guidance).
    """

    def __init__(self, model: torch.nn.Module, mix: SignFeatureMixture, masks: np.ndarray):
        self.model, self.mix = model, mix
        self.blocks = list(model.transformer_blocks)
        self.patch = model.config.patch_size
        basis, _ = token_dct_basis(*token_grid(model))
        self.basis = torch.from_numpy(basis).double()
        self.masks = torch.from_numpy(np.asarray(masks, bool))
        if self.masks.shape[1] != basis.shape[0]:
            raise InputError(f"masks cover {self.masks.shape[1]} modes, the token grid has {basis.shape[0]}")
        self.energies, self.timesteps, self.bayes, self.handles = {}, {}, {}, []
        self._step, self._parts = None, []

    def __enter__(self):
        self.handles.append(self.model.register_forward_pre_hook(self._model_in, with_kwargs=True))
        self.handles.append(self.model.register_forward_hook(self._model_out, with_kwargs=True))
        self.handles.append(self.blocks[0].register_forward_pre_hook(lambda mod, args: self._add(args[0])))
        for b in self.blocks:
            self.handles.append(b.register_forward_hook(lambda mod, args, out: self._add(out)))
        return self

    def begin_step(self, step: int, m: int) -> None:
        self._step, self._parts = int(step), []

    def _patches(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, T, C p^2) float64, tokens row-major (as the patch embedding)."""
        return torch.from_numpy(np.stack([patchify(v, self.patch) for v in x.double().cpu().numpy()]))

    def _add(self, h: torch.Tensor) -> None:
        if self._step is not None:
            with torch.no_grad():
                self._parts.append(group_energies(h.detach().double().cpu(), self.basis, self.masks))

    def _model_in(self, module, args, kwargs):
        if self._step is None:
            return
        x = args[0] if args else kwargs["hidden_states"]
        t = args[1] if len(args) > 1 else kwargs["timestep"]
        self._x, self._t = x.detach(), int(torch.as_tensor(t).reshape(-1)[0])
        self._parts = [group_energies(self._patches(x), self.basis, self.masks)]

    def _model_out(self, module, args, kwargs, output):
        if self._step is None:
            return
        abar = float(alphas_cumprod()[self._t])
        c = self._x.shape[1]
        eps = (output.sample if hasattr(output, "sample") else output[0])[:, :c].detach().double()
        x = self._x.double()
        x0_hat = (x - (1 - abar) ** 0.5 * eps) / abar ** 0.5
        exact = posterior_mean_at(self.mix, x.reshape(x.shape[0], -1).numpy(), self._t).reshape(x.shape)
        for s in (x0_hat, torch.from_numpy(exact)):
            self._parts.append(group_energies(self._patches(s), self.basis, self.masks))
        self.energies[self._step] = torch.stack(self._parts).numpy()   # (L + 4, P, G, 2)
        self.bayes[self._step] = bayes_accuracy(self.mix, x.reshape(x.shape[0], -1).numpy(), self._t)  # (F,)
        self.timesteps[self._step] = self._t
        self._step = None


def pair_blocks(energies: np.ndarray, n_units: int = 32) -> np.ndarray:
    """Energies (..., P, G, 2) summed over contiguous blocks of pairs -> (..., U, G, 2), U = min(P, n_units) blocks
    of sizes differing by at most one. Pairs are independent, so blocks are too: a bootstrap over blocks is a
    bootstrap over pairs at a smaller record, and q = sum diff / sum spread is unchanged."""
    e = np.asarray(energies, float)
    edges = np.linspace(0, e.shape[-3], min(e.shape[-3], check_int("n_units", n_units, 2)) + 1).round().astype(int)
    return np.add.reduceat(e, edges[:-1], axis=-3)


def normalised_difference(e: np.ndarray) -> np.ndarray:
    """q = sum_pairs diff / sum_pairs spread over the pair axis -2 of e (..., P, 2) -> (...); NaN where spread is 0."""
    e = np.asarray(e, float)
    num, den = e[..., 0].sum(-1), e[..., 1].sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def commitment_fit(steps: np.ndarray, q: np.ndarray, min_rise: float = MIN_RISE,
                   min_abs: float = MIN_RISE_ABS) -> tuple[float | None, float | None]:
    """(commitment step, sharpness 1/width) of the rise of q(step) after its minimum (the start perturbation first
    contracts, then the modes desynchronise): midpoint and width of a logistic with fitted asymptotes
    (fit_sigmoid_bounded) on the steps from the minimum on. None, None when fewer than 4 steps follow the
    minimum, the rise (in the data and in the fit) is below max(min_abs, min_rise * (q[0] - min q)), or the
    midpoint lies outside those steps."""
    steps, q = np.asarray(steps, float), np.asarray(q, float)
    if not np.all(np.isfinite(q)):
        return None, None
    i0 = int(np.argmin(q))
    need = max(min_abs, min_rise * (q[0] - q[i0]))
    if steps.size - i0 < 4 or q[i0:].max() - q[i0] < need:
        return None, None
    f = fit_sigmoid_bounded(steps[i0:], q[i0:])
    if f.hi - f.lo < need or not steps[i0] <= f.midpoint <= steps[-1]:
        return None, None
    return float(f.midpoint), float(1.0 / f.width)


def _percentile(values: list, est: float | None, level: float = 0.95) -> list:
    """[est, low, high]: percentile interval of the finite resampled values; unbounded ends (None) when more than
    half of the resamples have no value (ou_models.estimators.bootstrap's rule); [None] * 3 without an estimate."""
    if est is None:
        return [None, None, None]
    v = [x for x in values if x is not None and np.isfinite(x)]
    if len(v) < len(values) / 2:
        return [float(est), None, None]
    q = (1.0 - level) / 2.0
    lo, hi = np.quantile(v, [q, 1.0 - q])
    return [float(est), float(lo), float(hi)]


def _fits(steps, e, groups):
    """(states, G, 2) [tau, sharpness] (NaN: none) of energies (S, states, P, G, 2) for the groups listed."""
    q = normalised_difference(np.moveaxis(e, 2, -2))   # (S, states, G)
    out = np.full((e.shape[1], e.shape[3], 2), np.nan)
    for si in range(e.shape[1]):
        for g in groups:
            tau, sharp = commitment_fit(steps, q[:, si, g])
            if tau is not None:
                out[si, g] = tau, sharp
    return out


def layer_mode_commitment(steps: Sequence[int], energies: np.ndarray, *, coarse: int, fine: int,
                          groups: Sequence[int] | None = None, n_boot: int = 200, seed: int = 0) -> dict:
    """Per state (axis 1 of energies (S, states, P, G, 2)) and group: the curve q (S,), the commitment step and
    the sharpness, each with its interval; per state the gap tau(fine) - tau(coarse) with its interval (lists per
    state, theory.intervals.list_fields: tau, tau_low, tau_high, ...). Groups outside `groups` (default: all)
    get curves only. Percentile bootstrap over pairs: every state and group is fitted on the same resamples
    (one rng(seed))."""
    e = np.asarray(energies, float)
    if e.ndim != 5 or e.shape[-1] != 2:
        raise InputError(f"energies must be (steps, states, pairs, groups, 2), got {e.shape}")
    n_boot = check_int("n_boot", n_boot, 10)
    steps = np.asarray(steps, float)
    groups = sorted(set(range(e.shape[3]) if groups is None else list(groups)) | {coarse, fine})
    est = _fits(steps, e, groups)
    rng = np.random.default_rng(seed)
    n = e.shape[2]
    boots = np.stack([_fits(steps, e[:, :, rng.integers(0, n, n)], groups) for _ in range(n_boot)])  # (B, st, G, 2)

    def value(x):
        return None if not np.isfinite(x) else float(x)
    out = {"q": np.moveaxis(normalised_difference(np.moveaxis(e, 2, -2)), 0, -1), "groups_fitted": groups,
           "tau": [], "sharpness": [], "gap": []}   # q: (states, G, S)
    for si in range(e.shape[1]):
        out["tau"].append([_percentile(list(boots[:, si, g, 0]), value(est[si, g, 0])) if g in groups else
                           [None] * 3 for g in range(e.shape[3])])
        out["sharpness"].append([_percentile(list(boots[:, si, g, 1]), value(est[si, g, 1])) if g in groups else
                                 [None] * 3 for g in range(e.shape[3])])
        out["gap"].append(_percentile(list(boots[:, si, fine, 0] - boots[:, si, coarse, 0]),
                                      value(est[si, fine, 0] - est[si, coarse, 0])))
    return {k: out[k] for k in ("q", "groups_fitted")} | list_fields("tau", out["tau"]) | list_fields(
        "sharpness", out["sharpness"]) | list_fields("gap", out["gap"])


__all__ = ["MIN_RISE", "MIN_RISE_ABS", "state_names", "mode_groups", "group_energies", "posterior_mean_at", "bayes_accuracy",
           "StateRecorder",
           "pair_blocks", "normalised_difference", "commitment_fit", "layer_mode_commitment"]
