"""Attribution of the replica difference at the output to the DiT's blocks, by Jacobian-vector products.

For a shared-noise pair run (as dit_bridge.depth.depth_run, g = 0) the states at chosen sampler steps
are kept: h_0 (block 0's input) and h_l (block l's output) of both replicas. At such a step, for block
l (1-based) with increment difference d_l = (h_l - h_{l-1})_A - (h_l - h_{l-1})_B (tokens x hidden):

- total effect  c_l = J_{R_l}(hbar_l) d_l: d_l pushed to the output through the rest of the network R_l
  (blocks l+1 .. L and the output head), linearised at the pair's midpoint hbar_l = (h_l,A + h_l,B) / 2
  (central: F(a) - F(b) = J(mid)(a - b) + O(|a - b|^3)). It is the linear change of the output difference
  if block l had added no difference, the later blocks responding: a linearised ablation. The c_l do not
  sum to the output difference (a block's difference is itself the response to the earlier ones).
- direct effect  e_l = J_H(hbar_L) d_l through the output head H alone. The residual stream telescopes,
  h_L,A - h_L,B = (h_0,A - h_0,B) + sum_l d_l, so e_input + sum_l e_l = J_H(hbar_L)(h_L,A - h_L,B), which
  is the actual head difference up to O(|.|^3): the **closure error** is what is left.

Outputs are read as x0_hat = (x_t - sqrt(1 - abar) eps_theta) / sqrt(abar): a difference in eps_theta moves
x0_hat by -sqrt((1 - abar) / abar) times it; x_t itself enters x0_hat directly (the skip term
(x_t,A - x_t,B) / sqrt(abar)). Every effect is projected on the FHGM features, y_k = phi_k . x0_hat.
Share of block l on feature k: sum_pairs c_lk Delta_k / sum_pairs Delta_k^2, Delta_k the actual
difference of phi_k . x0_hat (the component of the block's pushed difference along the actual one).

torch.func.jvp needs forward-mode AD through attention: on the CPU only the math SDPA backend has it
(`torch.nn.attention.sdpa_kernel(SDPBackend.MATH)`), used throughout.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from syncgap.theory.checks import InputError, check_int

from .pair_run import PairRun
from .recording import HookSet
from .sampling import StepHooks, run_pairs
from .train import alphas_cumprod

if TYPE_CHECKING:
    from collections.abc import Sequence

    from syncgap.theory.data import SignFeatureMixture

    from .registry import LoadedDiT


def _block_kwargs(timestep: torch.Tensor, labels: torch.Tensor) -> dict:
    return dict(attention_mask=None, encoder_hidden_states=None, encoder_attention_mask=None, timestep=timestep,
                cross_attention_kwargs=None, class_labels=labels)


def head(model: torch.nn.Module, h: torch.Tensor, timestep: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The output head of diffusers' DiTTransformer2DModel.forward (its step 3): adaLN-modulated final norm,
    linear, unpatchify; h (N, T, D) -> eps (N, C, H, W) (the first out_channels channels)."""
    cond = model.transformer_blocks[0].norm1.emb(timestep, labels, hidden_dtype=h.dtype)
    shift, scale = model.proj_out_1(F.silu(cond)).chunk(2, dim=1)
    x = model.proj_out_2(model.norm_out(h) * (1 + scale[:, None]) + shift[:, None])
    p, c = model.config.patch_size, model.out_channels
    side = int(round(x.shape[1] ** 0.5))
    x = torch.einsum("nhwpqc->nchpwq", x.reshape(-1, side, side, p, p, c)).reshape(-1, c, side * p, side * p)
    return x[:, : model.config.in_channels]


def rest_of_network(model: torch.nn.Module, after: int, timestep: torch.Tensor, labels: torch.Tensor):
    """R_after: h (N, T, D), the state after block `after` (1-based; 0: block 0's input) -> eps (N, C, H, W)."""
    blocks = list(model.transformer_blocks)[after:]
    kw = _block_kwargs(timestep, labels)

    def run(h):
        for b in blocks:
            h = b(h, **kw)
        return head(model, h, timestep, labels)
    return run


def jvp(fn, primal: torch.Tensor, tangent: torch.Tensor) -> torch.Tensor:
    """J_fn(primal) tangent by forward-mode AD (torch.func.jvp) with the math attention backend (no_grad: no
    backward graph is kept; forward-mode AD does not depend on it)."""
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
        return torch.func.jvp(fn, (primal,), (tangent,))[1]


class StateKeeper(HookSet):
    """Hooks keeping, at the sampler steps in `steps`, the model input x, its timestep, the model output and
    h_0 .. h_L of every row: `kept[step]` = dict(x (N, C, H, W), t int, eps (N, C, H, W), h (L + 1, N, T, D))."""

    def __init__(self, model: torch.nn.Module, steps: Sequence[int]):
        self.model, self.steps, self.kept, self.handles = model, {int(s) for s in steps}, {}, []
        self._cur = None

    def __enter__(self):
        blocks = list(self.model.transformer_blocks)
        self.handles.append(self.model.register_forward_pre_hook(self._in, with_kwargs=True))
        self.handles.append(blocks[0].register_forward_pre_hook(lambda m, a: self._h(a[0])))
        self.handles += [b.register_forward_hook(lambda m, a, o: self._h(o)) for b in blocks]
        self.handles.append(self.model.register_forward_hook(self._out))
        return self

    def begin_step(self, step: int, m: int) -> None:
        self._cur = {"h": []} if int(step) in self.steps else None
        self._step = int(step)

    def _in(self, module, args, kwargs):
        if self._cur is not None:
            t = args[1] if len(args) > 1 else kwargs["timestep"]
            self._cur.update(x=(args[0] if args else kwargs["hidden_states"]).detach().clone(),
                             t=int(torch.as_tensor(t).reshape(-1)[0]))

    def _h(self, h):
        if self._cur is not None:
            self._cur["h"].append(h.detach().clone())

    def _out(self, module, args, output):
        if self._cur is not None:
            c = self._cur["x"].shape[1]
            self._cur["eps"] = output.sample[:, :c].detach().clone()
            self._cur["h"] = torch.stack(self._cur["h"])
            self.kept[self._step], self._cur = self._cur, None


def step_attribution(model: torch.nn.Module, kept: dict, labels: torch.Tensor, patterns: np.ndarray) -> dict:
    """Effects of one kept step (StateKeeper) on the features, rows [A; B] of P pairs, P x F each:
    actual (Delta_k), skip (x_t's direct term), input_direct, direct (L, P, F), total (L, P, F), and
    head_linear (the direct effects' sum, e_input + sum_l e_l, which closes on actual - skip)."""
    h, x, eps, t = kept["h"].float(), kept["x"].float(), kept["eps"].float(), kept["t"]
    n_layers, p = h.shape[0] - 1, h.shape[1] // 2
    abar = float(alphas_cumprod()[t])
    gain = -((1 - abar) / abar) ** 0.5          # d x0_hat / d eps
    phi = torch.as_tensor(np.asarray(patterns), dtype=torch.float32)    # (F, D)

    def feat(v):   # (P, C, H, W) -> (P, F)
        return (v.reshape(v.shape[0], -1) @ phi.T).double().numpy()
    ts = torch.full((p,), t, dtype=torch.long)
    lab = labels[:p]
    mid = (h[:, :p] + h[:, p:]) / 2                   # (L + 1, P, T, D)
    dh = h[:, :p] - h[:, p:]                          # (L + 1, P, T, D)
    inc = dh[1:] - dh[:-1]                            # (L, P, T, D): d_l, l = 1 .. L
    total, direct = [], []
    h_fn = rest_of_network(model, n_layers, ts, lab)  # the head alone
    for layer in range(1, n_layers + 1):
        total.append(feat(gain * jvp(rest_of_network(model, layer, ts, lab), mid[layer], inc[layer - 1])))
        direct.append(feat(gain * jvp(h_fn, mid[-1], inc[layer - 1])))
    x0 = (x - (1 - abar) ** 0.5 * eps) / abar ** 0.5
    return {"actual": feat(x0[:p] - x0[p:]), "skip": feat((x[:p] - x[p:]) / abar ** 0.5),
            "input_direct": feat(gain * jvp(h_fn, mid[-1], dh[0])), "direct": np.stack(direct),
            "total": np.stack(total), "head_linear": feat(gain * jvp(h_fn, mid[-1], dh[-1])), "timestep": t}


def attribution_run(loaded: LoadedDiT, mix: SignFeatureMixture, *, n_pairs: int, num_steps: int,
                    steps: Sequence[int], seed: int = 0, eps: float = 0.3) -> dict:
    """The shared-noise DDPM pair run of depth_run (g = 0) keeping the states at `steps`; per kept step the
    effects of step_attribution. Returns {step: effects}."""
    run = PairRun(loaded, n_pairs=check_int("n_pairs", n_pairs, 2, 10**5), num_steps=num_steps, seed=seed, eps=eps,
                  noise="shared")
    steps = sorted({check_int("attribution step", s, 0, run.num_steps - 1) for s in steps})
    if not steps:
        raise InputError("attribution needs at least one sampler step")
    if tuple(mix.shape) != tuple(loaded.sample_shape):
        raise InputError(f"the mixture's samples are {tuple(mix.shape)}, the model's {tuple(loaded.sample_shape)}")
    state = run.start()
    with StateKeeper(loaded.model, steps) as keeper:
        run_pairs(loaded, run.scheduler(), state, run.row_labels, num_steps=run.num_steps,
                  hooks=StepHooks(recorder=keeper))
    return {s: step_attribution(loaded.model, keeper.kept[s], run.row_labels, mix.patterns) for s in steps}


def shares(effects: dict) -> dict:
    """Per feature: each block's total and direct share sum_pairs effect_k Delta_k / sum_pairs Delta_k^2 (L, F),
    the input's (skip + input_direct) and the closure error 1 - (input + sum of direct shares) (F,), where
    Delta_k is the actual difference of phi_k . x0_hat; NaN where Delta_k is 0 for every pair."""
    act = np.asarray(effects["actual"], float)                        # (P, F)
    norm = (act ** 2).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        def share(v):
            return np.where(norm > 0, (np.asarray(v, float) * act).sum(-2) / norm, np.nan)
        direct, total = share(effects["direct"]), share(effects["total"])
        inp = share(effects["skip"]) + share(effects["input_direct"])
    return {"total": total, "direct": direct, "input": inp, "closure_error": 1 - inp - direct.sum(0)}


__all__ = ["head", "rest_of_network", "jvp", "StateKeeper", "step_attribution", "attribution_run", "shares"]
