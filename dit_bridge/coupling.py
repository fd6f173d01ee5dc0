"""Gated cross-replica attention for diffusers' DiT (docs/science.md §5, "Joint sequence" and "Gate").

Batch layout (the one convention every function here relies on): a coupled batch
of 2M rows is [replica A rows ; replica B rows], row i pairs with row i + M.
With classifier-free guidance the sampler builds [A_cond, A_uncond ; B_cond, B_uncond],
so conditional rows pair with conditional rows and unconditional with unconditional.

Two gates, both on each block's self-attention `attn1` (DiT's only token mixer),
each replica keeping its own adaLN conditioning. With A_XY = softmax(Q_X K_Y^T / sqrt(d)):
- "paper" (P2's gate, blocks normalised separately):
      O_A = (A_AA V_A + g A_AB V_B) / (1 + g)
- "joint" (one softmax over the 2N keys of [X_A; X_B], log g added to the cross logits):
      O_A = softmax([Q_A K_A^T, Q_A K_B^T + log g] / ...) [V_A; V_B]
  i.e. O_A = (Z_AA O_AA + g Z_AB O_AB) / (Z_AA + g Z_AB), Z the softmax partition sums.
Both give two independent DiTs at g = 0 and are symmetric under A <-> B.

g lives per layer as a 0-d float32 buffer `attn1.coupling_g` (non-persistent), so it
can change between calls (`set_g`, schedules over steps) without touching the graph.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import AttnProcessor2_0

from syncgap.theory.checks import InputError, check_choice, check_int, check_real

if TYPE_CHECKING:
    from collections.abc import Sequence

GATES = ("paper", "joint")


G_MAX = 1e12


def check_g(name: str, g: float | torch.Tensor) -> float:
    """A coupling strength: real in [0, 1e12] (larger g is numerically g = inf, and overflows float32 near 3e38)."""
    if isinstance(g, torch.Tensor):
        g = float(g)
    return check_real(name, g, 0.0, G_MAX)


def check_gate(gate: str) -> str:
    """`gate` if it is one of GATES, else InputError."""
    return check_choice("gate", gate, GATES)


class GatedPairAttnProcessor:
    """attn1 processor coupling rows [A; B] of a batch through the gate `gate` with strength attn.coupling_g."""

    def __init__(self, gate: str = "paper"):
        self.gate = check_gate(gate)

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        if encoder_hidden_states is not None or attention_mask is not None:
            raise InputError("coupled attention supports self-attention without a mask only (DiT's attn1)")
        n, t, _ = hidden_states.shape  # (2M, T, D)
        if n % 2:
            raise InputError(f"a coupled batch needs an even number of rows [A; B], got {n}")
        residual = hidden_states
        m, h = n // 2, attn.heads
        q, k, v = attn.to_q(hidden_states), attn.to_k(hidden_states), attn.to_v(hidden_states)  # (2M, T, D)
        d = q.shape[-1] // h
        if self.gate == "joint":  # keys/values of the literal joint sequence seen by each row: [own; partner's]
            k, v = (torch.cat([z, torch.cat([z[m:], z[:m]])], dim=1) for z in (k, v))  # (2M, 2T, D)
        q, k, v = (z.view(n, -1, h, d).transpose(1, 2) for z in (q, k, v))  # (2M, H, T or 2T, d)
        if attn.norm_q is not None:
            q = attn.norm_q(q)
        if attn.norm_k is not None:
            k = attn.norm_k(k)
        g = attn.coupling_g.to(q.dtype)
        if self.gate == "paper":
            out = F.scaled_dot_product_attention(q, k, v)  # A_XX V_X, bit-identical to the stock processor
            w = g / (1 + g)  # lerp(self, cross, w) = (self + g cross)/(1 + g); exactly self at g = 0
            cross_a = F.scaled_dot_product_attention(q[:m], k[m:], v[m:])  # A_AB V_B
            cross_b = F.scaled_dot_product_attention(q[m:], k[:m], v[:m])  # A_BA V_A
            # a new tensor, not lerp(..., out=out[:m]): writing into slices breaks torch.compile's graph
            out = torch.cat([torch.lerp(out[:m], cross_a, w), torch.lerp(out[m:], cross_b, w)])
        else:
            bias = torch.cat([torch.zeros(t, dtype=q.dtype, device=q.device),
                              torch.log(g).expand(t)])  # (2T,): 0 on own keys, log g on partner's
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.view(1, 1, 1, 2 * t))
        out = out.transpose(1, 2).reshape(n, t, h * d).to(q.dtype)  # (2M, T, D)
        out = attn.to_out[1](attn.to_out[0](out))
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def attention_layers(model: torch.nn.Module) -> list:
    """The attn1 module of every transformer block."""
    blocks = getattr(model, "transformer_blocks", None)
    if blocks is None:
        raise InputError("model must be a diffusers DiTTransformer2DModel (no transformer_blocks)")
    return [b.attn1 for b in blocks]


def check_layers(layers: Sequence[int] | None, n_layers: int) -> list[int]:
    """Sorted block indices of `layers` (negative: from the end; None: every block), each once, below n_layers."""
    if layers is None:
        return list(range(n_layers))
    out = []
    for i in layers:
        i = check_int("layer", i, -n_layers, n_layers - 1)
        out.append(i % n_layers)
    if len(set(out)) != len(out):
        raise InputError(f"layers must not repeat, got {list(layers)}")
    return sorted(out)


def set_coupling(model: torch.nn.Module, g: float | Sequence[float] = 0.0, layers: Sequence[int] | None = None,
                 gate: str = "paper") -> list[int]:
    """Install the gate on attn1 of `layers` (default: all) with strength g; other layers get the stock processor.

    g is a float for every coupled layer or a sequence with one value per entry of `layers`.
    Returns the sorted list of coupled layer indices.
    """
    attns = attention_layers(model)
    idx = check_layers(layers, len(attns))
    gs = _g_values(g, len(idx))
    proc = GatedPairAttnProcessor(gate)
    for i, attn in enumerate(attns):
        if i in idx:
            if "coupling_g" not in attn._buffers:
                attn.register_buffer("coupling_g", torch.zeros((), dtype=torch.float32,
                                                               device=attn.to_q.weight.device), persistent=False)
            attn.set_processor(proc)
        else:
            attn.set_processor(AttnProcessor2_0())
            attn._buffers.pop("coupling_g", None)
    set_g(model, dict(zip(idx, gs)))
    return idx


def remove_coupling(model: torch.nn.Module) -> None:
    """Stock diffusers processors on every layer (two independent DiTs)."""
    set_coupling(model, 0.0, layers=[])


def coupled_layers(model: torch.nn.Module) -> list[int]:
    """Indices of the layers whose attn1 carries the gate."""
    return [i for i, a in enumerate(attention_layers(model)) if isinstance(a.processor, GatedPairAttnProcessor)]


def _g_values(g, n: int) -> list[float]:
    if isinstance(g, (list, tuple)) or (hasattr(g, "ndim") and getattr(g, "ndim", 0) > 0):
        vals = [check_g("g", v) for v in g]
        if len(vals) != n:
            raise InputError(f"g has {len(vals)} values but {n} layers are coupled")
        return vals
    return [check_g("g", g)] * n


def set_g(model: torch.nn.Module, g: float | Sequence[float] | dict[int, float]) -> None:
    """Set the strength in place: a float (all coupled layers), a sequence (one per coupled layer) or {layer: g}."""
    attns = attention_layers(model)
    idx = coupled_layers(model)
    if isinstance(g, dict):
        items = {check_int("layer", i, 0, len(attns) - 1): check_g(f"g[{i}]", v) for i, v in g.items()}
        missing = sorted(set(items) - set(idx))
        if missing:
            raise InputError(f"layers {missing} are not coupled; call set_coupling with them first")
    else:
        items = dict(zip(idx, _g_values(g, len(idx))))
    with torch.no_grad():
        for i, v in items.items():
            attns[i].coupling_g.fill_(v)


def get_g(model: torch.nn.Module) -> list[float]:
    """Current strength of every layer (0 for uncoupled layers)."""
    return [float(a.coupling_g) if isinstance(a.processor, GatedPairAttnProcessor) else 0.0
            for a in attention_layers(model)]


def gate_name(model: torch.nn.Module) -> str | None:
    """The gate installed on the coupled layers, or None."""
    for a in attention_layers(model):
        if isinstance(a.processor, GatedPairAttnProcessor):
            return a.processor.gate
    return None


def pair_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[A; B] batch from replica tensors a, b of equal shape (M, ...)."""
    if a.shape != b.shape:
        raise InputError(f"replica tensors must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return torch.cat([a, b])


def split_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, B) halves of a coupled batch."""
    if x.shape[0] % 2:
        raise InputError(f"a coupled batch needs an even number of rows, got {x.shape[0]}")
    return x.chunk(2)
