"""Routing and pattern gains of every DiT layer at the replica-symmetric point (docs/science.md §5).

Convention: `theory.attention`. Around x_A,B = x_0 ± δx (the input of block ℓ's attn1, (T, D)),
both gates give O_A - O_B = 2 ρ(g) R δx + 2 P δx + O(δ³), ρ(g) = (1-g)/(1+g), with
    routing  R δx = d/dε attn1(q <- x_0, k,v <- x_0 + ε δx)   (value + key routing)
    pattern  P δx = d/dε attn1(q <- x_0 + ε δx, k,v <- x_0)   (query pattern)
the Jacobians of ONE uncoupled attn1 (`torch.func.jvp`). On orthonormal 2-D DCT token modes u_k,
along a channel direction a and read out along r:
    χ_k(a, r) = u_kᵀ (R (u_k aᵀ)) r,   π_k(a, r) = u_kᵀ (P (u_k aᵀ)) r,
reported as the isotropic channel average χ_k = E_a χ_k(a, a) (exact trace for D <= `exact_max`,
else Hutchinson probes) and, with the exact trace, along the most amplified direction (*_top).
Routing dominance per layer: |π_k|/|χ_k| < `threshold` on the low modes; frequency-blind contrast
η_gain = (π_lo - π_hi)/(χ_lo - χ_hi), per layer and summed over layers, the η that
`theory.routing.predicted_gap_ratio` and `critical_coupling` take at zero margin contrast.
Why these choices (single-head reduction to `theory.attention.mode_gains`, channel averaging,
DCT modes, why P is frequency blind): docs/derivations.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.func import jvp, vmap

from syncgap.theory.checks import InputError, check_int, check_real

from .coupling import attention_layers
from .recording import token_grid
from .sampling import PairState, check_labels, make_scheduler, row_generators, row_seed, run_pairs

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from diffusers.models.attention_processor import Attention

    from .registry import LoadedDiT


# ---------------------------------------------------------------- token modes

def dct_token_modes(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal 2-D DCT-II basis (h*w, h*w) of the token grid (row-major), low radial frequency first.

    Column (i, j) is c_i(y) c_j(x), c_i(y) = s_i cos(π i (2y+1)/(2h)); frequency sqrt((i/2h)² + (j/2w)²).
    Returns the basis and the frequency of each column (cycles per token).
    """
    h, w = check_int("h", h, 1), check_int("w", w, 1)

    def dct(n):
        k, y = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        c = np.cos(np.pi * k * (2 * y + 1) / (2 * n)) * np.sqrt(2.0 / n)
        c[0] /= np.sqrt(2.0)
        return c  # (n freq, n pos), orthonormal rows

    cy, cx = dct(h), dct(w)
    basis = np.einsum("iy,jx->yxij", cy, cx).reshape(h * w, h * w)  # (tokens, modes)
    fi, fj = np.meshgrid(np.arange(h) / (2 * h), np.arange(w) / (2 * w), indexing="ij")
    freq = np.sqrt(fi ** 2 + fj ** 2).ravel()
    order = np.lexsort((np.arange(h * w), freq))  # stable: ties keep (i, j) order
    return basis[:, order], freq[order]


def select_modes(n_tokens: int, n_modes: int | None) -> np.ndarray:
    """Indices of the kept modes in the frequency ordering: all, or n_modes evenly spaced (ends included)."""
    if n_modes is None or n_modes >= n_tokens:
        return np.arange(n_tokens)
    n_modes = check_int("n_modes", n_modes, 1)
    if n_modes == 1:
        return np.zeros(1, dtype=int)
    return np.unique(np.round(np.linspace(0, n_tokens - 1, n_modes)).astype(int))


# ---------------------------------------------------------------- the split attention

def _check_attn(attn) -> None:
    for name in ("group_norm", "spatial_norm"):
        if getattr(attn, name, None) is not None:
            raise InputError(f"attn1 with {name} is not supported (DiT's attn1 has none)")
    if attn.residual_connection:
        raise InputError("attn1 with residual_connection is not supported: its identity term is neither routing "
                         "nor pattern (DiT's attn1 has none)")


def split_attention(attn: Attention, x_q: torch.Tensor, x_k: torch.Tensor, x_v: torch.Tensor) -> torch.Tensor:
    """attn1's output with queries from x_q, keys from x_k, values from x_v, all (N, T, D) -> (N, T, D).

    With x_q = x_k = x_v = x it is diffusers' stock self-attention (AttnProcessor2_0) of x, up to rounding.
    """
    n, t, _ = x_q.shape
    h = attn.heads
    q, k, v = attn.to_q(x_q), attn.to_k(x_k), attn.to_v(x_v)  # (N, T, H d)
    d = q.shape[-1] // h
    q, k, v = (z.view(n, -1, h, d).transpose(1, 2) for z in (q, k, v))  # (N, H, T, d)
    if attn.norm_q is not None:
        q = attn.norm_q(q)
    if attn.norm_k is not None:
        k = attn.norm_k(k)
    # explicit softmax: forward-mode AD has no rule for the fused SDPA kernels; same 1/sqrt(d) scale
    w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1)  # (N, H, T, T)
    out = w @ v  # (N, H, T, d)
    out = out.transpose(1, 2).reshape(n, t, h * d)
    out = attn.to_out[1](attn.to_out[0](out))  # (N, T, D)
    return out / attn.rescale_output_factor  # no residual: _check_attn refuses attn1 with one


def part_responses(attn: Attention, x0: torch.Tensor, dx: torch.Tensor) -> dict:
    """First-order responses of one uncoupled attn1 at x0 (N, T, D) to dx fed to Q, K or V alone (JVP).

    dx is (N, T, D), or (B, N, T, D) for B tangents at the same x0 (vmap over the tangent: the primal
    pass runs once); the responses have dx's shape.
    """
    def along(which):
        def f(z):
            args = [x0, x0, x0]
            args[which] = z
            return split_attention(attn, *args)

        def tangent(t):
            return jvp(f, (x0,), (t,))[1]
        return tangent(dx) if dx.ndim == x0.ndim else vmap(tangent)(dx)

    return {"query": along(0), "key": along(1), "value": along(2)}


def channel_probes(dim: int, exact_max: int = 128, n_probes: int = 64, seed: int = 0) -> tuple[torch.Tensor, bool]:
    """Unit channel directions (P, D), float64, E[a aᵀ] = I/D: basis vectors if D <= exact_max, else Rademacher."""
    dim = check_int("dim", dim, 1)
    exact_max = check_int("exact_max", exact_max, 0)
    if dim <= exact_max:
        return torch.eye(dim, dtype=torch.float64), True
    n_probes = check_int("n_probes", n_probes, 1)
    gen = torch.Generator().manual_seed(int(seed))
    a = torch.randint(0, 2, (n_probes, dim), generator=gen).double().mul_(2).sub_(1) / math.sqrt(dim)
    return a, False


def _check_hidden(name: str, x) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 3:
        raise InputError(f"{name} must be a (N, T, D) tensor, got {getattr(x, 'shape', type(x))}")
    if not torch.isfinite(x).all():
        raise InputError(f"{name} holds NaN or inf values")
    return x


def attention_gains(attn: Attention, hidden: torch.Tensor, modes: np.ndarray | torch.Tensor,
                    probes: torch.Tensor, chunk: int = 256, readout: bool = False) -> dict:
    """Per-sample gains (N, K, P) of one attn1 at hidden states (N, T, D) on modes (T, K) along probes (P, D).

    Returns {"key", "value", "query"}: u_kᵀ J_part(u_k aᵀ) a for each sample, mode and probe
    (routing χ = key + value, pattern π = query); with readout=True also {"key_out", ...}:
    the mode-projected response u_kᵀ J_part(u_k aᵀ) in every output channel, (N, K, P, D).
    """
    _check_attn(attn)
    x = _check_hidden("hidden", hidden)
    n, t, d = x.shape
    p = next(attn.parameters())
    u = torch.as_tensor(modes).to(p.device, p.dtype)  # in the model's precision (no float32 detour)
    a = torch.as_tensor(probes).to(p.device, p.dtype)
    if u.ndim != 2 or u.shape[0] != t:
        raise InputError(f"modes must be (T={t}, K), got {tuple(u.shape)}")
    if a.ndim != 2 or a.shape[1] != d:
        raise InputError(f"probes must be (P, D={d}), got {tuple(a.shape)}")
    chunk = check_int("chunk", chunk, 1)
    k_n, p_n = u.shape[1], a.shape[0]
    x = x.to(p.device, p.dtype)
    pairs = [(i, j) for i in range(k_n) for j in range(p_n)]  # (mode, probe) combinations
    out = {name: torch.empty(n, k_n, p_n, dtype=torch.float64) for name in ("query", "key", "value")}
    if readout:
        out.update({f"{name}_out": torch.empty(n, k_n, p_n, d, dtype=torch.float64)
                    for name in ("query", "key", "value")})
    with torch.no_grad():
        for s in range(0, len(pairs), chunk):
            blk = pairs[s:s + chunk]
            ki, pj = [i for i, _ in blk], [j for _, j in blk]
            dx = u[:, ki].T[:, :, None] * a[pj][:, None, :]  # (B, T, D) unit perturbations u_k a^T
            for row in range(n):
                resp = part_responses(attn, x[row:row + 1], dx[:, None])  # (B, 1, T, D) each
                for name, y in resp.items():
                    proj = torch.einsum("btd,bt->bd", y[:, 0].double(), u[:, ki].T.double())  # (B, D) u^T Y
                    out[name][row, ki, pj] = (proj * a[pj].double()).sum(1).cpu()  # u^T Y a = <dx, Y>_F
                    if readout:
                        out[f"{name}_out"][row, ki, pj] = proj.cpu()
    return {k: v.numpy() for k, v in out.items()}


# ---------------------------------------------------------------- capture at the symmetric point

def capture_attn_inputs(loaded: LoadedDiT, step: int, *, num_steps: int = 50, n_samples: int = 2, seed: int = 0,
                        labels: Sequence[int] | None = None, sampler: str = "ddpm",
                        layers: Sequence[int] | None = None) -> dict:
    """attn1 inputs {layer: (n_samples, T, D)} at sampler step `step` of an uncoupled run (= symmetric point).

    Runs the sampler (conditional rows, no guidance) from seeded noise for `step` steps, then makes the
    model call of step `step` with forward pre-hooks on attn1. Coupling processors on the model are
    irrelevant here: at x_A = x_B every gate returns the uncoupled attention.
    """
    num_steps = check_int("num_steps", num_steps, 1, 1000)
    step = check_int("step", step, 0, num_steps - 1)
    n_samples = check_int("n_samples", n_samples, 1, 10**6)
    attns = attention_layers(loaded.model)
    idx = _layer_indices(layers, len(attns))
    lab = check_labels(loaded, labels, n_samples)
    gens = row_generators(seed, n_samples)[:n_samples]
    x = torch.stack([torch.randn(tuple(loaded.sample_shape),
                                 generator=torch.Generator().manual_seed(row_seed(seed, j, 0, 0)))
                     for j in range(n_samples)])  # (M, C, H, W)
    sched = make_scheduler(loaded, sampler)
    p = next(loaded.model.parameters())
    x = x.to(p.device)  # the scheduler step mixes x with the model output: keep both on the model's device
    state = run_pairs(loaded, sched, PairState(x, 0, gens), lab, num_steps=num_steps, stop=step)
    got = {}

    def hook(i):
        def pre(module, args, kwargs):
            hs = args[0] if args else kwargs["hidden_states"]
            got[i] = hs.detach().clone()
        return pre

    handles = [attns[i].register_forward_pre_hook(hook(i), with_kwargs=True) for i in idx]
    try:
        with torch.no_grad():
            t = sched.timesteps[step]
            loaded.model(state.x.to(p.device, p.dtype), torch.full((n_samples,), int(t), device=p.device),
                      lab.to(p.device))
    finally:
        for hd in handles:
            hd.remove()
    return {"timestep": int(sched.timesteps[step]), "hidden": got}


def _layer_indices(layers, n_layers: int) -> list[int]:
    if layers is None:
        return list(range(n_layers))
    if isinstance(layers, int):
        layers = [layers]
    out = sorted({check_int("layer", i, 0, n_layers - 1) for i in layers})
    if not out:
        raise InputError("layers must name at least one layer")
    return out


# ---------------------------------------------------------------- the record

@dataclass
class LayerGains:
    """Routing and pattern gains per layer and token mode at the symmetric point (arrays layers x modes)."""

    layers: np.ndarray  # (L,) layer indices
    mode_index: np.ndarray  # (K,) position of each kept mode in the frequency ordering
    frequency: np.ndarray  # (K,) radial frequency of each mode, cycles per token
    chi: np.ndarray  # (L, K) routing gain χ_k (value + key), channel-isotropic average, mean over samples
    pi: np.ndarray  # (L, K) pattern gain π_k (query)
    chi_value: np.ndarray  # (L, K) value part of χ_k
    chi_key: np.ndarray  # (L, K) key part of χ_k
    chi_se: np.ndarray  # (L, K) standard error of χ_k over samples and probes
    pi_se: np.ndarray  # (L, K)
    ratio: np.ndarray  # (L, K) |π_k|/|χ_k|
    low_modes: np.ndarray  # (K,) bool: the low-frequency modes of the dominance check (first max(1, K//4))
    high_modes: np.ndarray  # (K,) bool: the high-frequency modes (last max(1, K//4))
    threshold: float  # routing dominance: every low-mode ratio < threshold
    dominant: np.ndarray  # (L,) bool
    max_low_ratio: np.ndarray  # (L,)
    chi_top: np.ndarray  # (L, K) routing gain along its most amplified channel direction a* (exact channels; else NaN)
    pi_top: np.ndarray  # (L, K) pattern gain along the same a*
    ratio_top: np.ndarray  # (L, K) |π_k^top|/|χ_k^top|
    dominant_top: np.ndarray  # (L,) bool: every low-mode ratio_top < threshold (False when not exact)
    max_low_ratio_top: np.ndarray  # (L,)
    eta_gain_top: np.ndarray  # (L,) η_gain from the top-direction gains
    eta_gain_top_network: float  # the same with top-direction gains summed over layers
    eta_gain: np.ndarray  # (L,) (π_lo - π_hi)/(χ_lo - χ_hi) per layer
    eta_gain_network: float  # the same with gains summed over layers
    delta_chi_network: float  # Σ_ℓ (χ_lo - χ_hi); the theory's ordering assumes > 0 (low modes routed more)
    delta_pi_network: float  # Σ_ℓ (π_lo - π_hi)
    delta_chi: np.ndarray  # (L,) χ_lo - χ_hi
    delta_pi: np.ndarray  # (L,) π_lo - π_hi
    step: int
    timestep: int
    num_steps: int
    n_samples: int
    n_probes: int
    exact_channels: bool
    model: str = ""
    notes: str = ("gains of attn1 (to_out included, adaLN gate_msa excluded) on the input difference "
                  "u_k a^T, channel-isotropic average with readout r = a; eta_gain omits the margin "
                  "contrast b_lo(0) - b_hi(0), which attention gains cannot give")
    extra: dict = field(default_factory=dict)


def _contrast(chi, pi, lo, hi):
    dchi = chi[..., lo].mean(-1) - chi[..., hi].mean(-1)
    dpi = pi[..., lo].mean(-1) - pi[..., hi].mean(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.where(dchi != 0, dpi / np.where(dchi != 0, dchi, 1.0), np.nan)
    return dchi, dpi, eta


def gains_from_hidden(loaded_or_model: LoadedDiT | torch.nn.Module, hidden: dict, *, n_modes: int | None = None, threshold: float = 0.25,
                      exact_max: int = 128, n_probes: int = 64, seed: int = 0, chunk: int = 256) -> LayerGains:
    """χ_k^ℓ, π_k^ℓ for every layer in `hidden` ({layer: (N, T, D) attn1 input}) and the dominance record."""
    model = getattr(loaded_or_model, "model", loaded_or_model)
    attns = attention_layers(model)
    if not isinstance(hidden, dict) or not hidden:
        raise InputError("hidden must be a non-empty {layer: (N, T, D) tensor} dict")
    layers = sorted(check_int("layer", i, 0, len(attns) - 1) for i in hidden)
    threshold = check_real("threshold", threshold, 0.0, lo_open=True)
    if n_modes is not None:
        check_int("n_modes", n_modes, 1)
    h, w = token_grid(model)
    basis, freq = dct_token_modes(h, w)
    keep = select_modes(h * w, n_modes)
    modes = basis[:, keep]  # (T, K)
    dim = attns[0].to_q.in_features
    probes, exact = channel_probes(dim, exact_max, n_probes, seed)
    stats = {k: [] for k in ("chi", "pi", "value", "key", "chi_se", "pi_se", "chi_top", "pi_top")}
    for i in layers:
        x = _check_hidden(f"hidden[{i}]", hidden[i])
        if x.shape[1] != h * w:
            raise InputError(f"hidden[{i}] has {x.shape[1]} tokens, the model's grid has {h * w}")
        g = attention_gains(attns[i], x, modes, probes, chunk, readout=exact)  # (N, K, P) each
        top = _top_direction(g, modes.shape[1]) if exact else (np.full(modes.shape[1], np.nan),) * 2
        stats["chi_top"].append(top[0])
        stats["pi_top"].append(top[1])
        chi_s, pi_s = g["key"] + g["value"], g["query"]
        stats["chi"].append(chi_s.mean((0, 2)))
        stats["pi"].append(pi_s.mean((0, 2)))
        stats["value"].append(g["value"].mean((0, 2)))
        stats["key"].append(g["key"].mean((0, 2)))
        stats["chi_se"].append(_standard_error(chi_s, exact))
        stats["pi_se"].append(_standard_error(pi_s, exact))
    chi, pi = np.array(stats["chi"]), np.array(stats["pi"])  # (L, K)
    k_n = chi.shape[1]
    n_edge = max(1, k_n // 4)
    lo = np.zeros(k_n, bool)
    lo[:n_edge] = True
    hi = np.zeros(k_n, bool)
    hi[k_n - n_edge:] = True
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.abs(pi) / np.abs(chi)
    max_low = ratio[:, lo].max(1)
    dchi, dpi, eta = _contrast(chi, pi, lo, hi)
    dchi_net, dpi_net, eta_net = _contrast(chi.sum(0), pi.sum(0), lo, hi)
    top = _top_record(np.array(stats["chi_top"]), np.array(stats["pi_top"]), lo, hi, threshold)
    n_samples = next(iter(hidden.values())).shape[0]
    return LayerGains(layers=np.asarray(layers), mode_index=keep, frequency=freq[keep], chi=chi, pi=pi,
                      chi_value=np.array(stats["value"]), chi_key=np.array(stats["key"]),
                      chi_se=np.array(stats["chi_se"]), pi_se=np.array(stats["pi_se"]), ratio=ratio,
                      **top,
                      low_modes=lo, high_modes=hi, threshold=threshold, dominant=max_low < threshold,
                      max_low_ratio=max_low, eta_gain=eta, eta_gain_network=float(eta_net),
                      delta_chi_network=float(dchi_net), delta_pi_network=float(dpi_net), delta_chi=dchi,
                      delta_pi=dpi, step=-1, timestep=-1, num_steps=-1, n_samples=int(n_samples),
                      n_probes=int(probes.shape[0]), exact_channels=exact,
                      model=getattr(loaded_or_model, "name", ""))


def _top_record(chi_top, pi_top, lo, hi, threshold) -> dict:
    """Dominance and contrast fields computed from the top-direction gains (NaN/False when not measured)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.abs(pi_top) / np.abs(chi_top)
    max_low = ratio[:, lo].max(1)
    _, _, eta = _contrast(chi_top, pi_top, lo, hi)
    _, _, eta_net = _contrast(chi_top.sum(0), pi_top.sum(0), lo, hi)
    return dict(chi_top=chi_top, pi_top=pi_top, ratio_top=ratio, dominant_top=max_low < threshold,
                max_low_ratio_top=max_low, eta_gain_top=eta, eta_gain_top_network=float(eta_net))


def _top_direction(g: dict, k_n: int) -> tuple[np.ndarray, np.ndarray]:
    """χ_k at the channel direction a* that maximises χ_k(a, a), and π_k(a*, a*) (exact basis probes).

    M_k[c', c] = u_kᵀ J(u_k e_cᵀ) e_c' (sample mean); max over unit a of aᵀ M_k a is the top eigenvalue
    of (M_k + M_kᵀ)/2, a* its eigenvector.
    """
    m_r = (g["key_out"] + g["value_out"]).mean(0).transpose(0, 2, 1)  # (K, D out, D in)
    m_p = g["query_out"].mean(0).transpose(0, 2, 1)
    chi, pi = np.empty(k_n), np.empty(k_n)
    for k in range(k_n):
        ev, vec = np.linalg.eigh(0.5 * (m_r[k] + m_r[k].T))
        a = vec[:, -1]
        chi[k], pi[k] = ev[-1], a @ m_p[k] @ a
    return chi, pi


def _standard_error(z, exact: bool) -> np.ndarray:
    """(K,) standard error of the mean of z (N, K, P): over samples (exact channel trace) or samples x probes."""
    per = z.mean(2) if exact else z.transpose(1, 0, 2).reshape(z.shape[1], -1).T  # (obs, K)
    if per.shape[0] < 2:
        return np.zeros(per.shape[1])
    return per.std(0, ddof=1) / math.sqrt(per.shape[0])


@dataclass(frozen=True)
class GainsRun:
    """One gains measurement (`measure_gains`): where the attn1 inputs are captured and how χ, π are read."""

    loaded: LoadedDiT                      # the loaded DiT (registry.load_model)
    step: int                              # sampler step of the capture, 0 .. num_steps - 1
    num_steps: int = 50                    # sampler steps of the uncoupled run, 1 .. 1000
    layers: Sequence[int] | None = None    # blocks to measure; None: every block
    n_modes: int | None = 16               # lowest-frequency token modes kept (>= 1); None: every mode
    n_samples: int = 2                     # captured samples, >= 1
    seed: int = 0                          # the capture's noise and the channel probes
    labels: Sequence[int] | None = None    # class labels of the samples; None: the model's own class
    sampler: str = "ddpm"                  # "ddpm" or "ddim"
    threshold: float = 0.25                # routing dominance: every low-mode |π|/|χ| < threshold
    exact_max: int = 128                   # exact channel trace up to this width, else Hutchinson probes
    n_probes: int = 64                     # Hutchinson probes
    chunk: int = 256                       # tangents per vmap call


def layer_gains(loaded: LoadedDiT, step: int, *, num_steps: int = 50, layers: Sequence[int] | None = None, n_modes: int | None = 16,
                n_samples: int = 2, seed: int = 0, labels: Sequence[int] | None = None, sampler: str = "ddpm",
                threshold: float = 0.25, exact_max: int = 128, n_probes: int = 64, chunk: int = 256,
                progress: Callable[[int, int], None] | None = None) -> LayerGains:
    """`measure_gains` of GainsRun(loaded, step, ...); progress(done, total) after each layer."""
    return measure_gains(GainsRun(loaded, step, num_steps, layers, n_modes, n_samples, seed, labels, sampler,
                                  threshold, exact_max, n_probes, chunk), progress)


def measure_gains(run: GainsRun, progress: Callable[[int, int], None] | None = None) -> LayerGains:
    """Capture attn1 inputs at step `run.step` of an uncoupled run, then χ, π of every layer; progress after each."""
    if run.n_modes is not None:
        check_int("n_modes", run.n_modes, 1)
    cap = capture_attn_inputs(run.loaded, run.step, num_steps=run.num_steps, n_samples=run.n_samples, seed=run.seed,
                              labels=run.labels, sampler=run.sampler, layers=run.layers)
    hidden, parts = cap["hidden"], []
    for j, i in enumerate(sorted(hidden)):
        parts.append(gains_from_hidden(run.loaded, {i: hidden[i]}, n_modes=run.n_modes, threshold=run.threshold,
                                       exact_max=run.exact_max, n_probes=run.n_probes, seed=run.seed, chunk=run.chunk))
        if progress is not None:
            progress(j + 1, len(hidden))
    out = _stack(parts)
    out.step, out.timestep, out.num_steps = run.step, cap["timestep"], run.num_steps
    return out


def _stack(parts: list[LayerGains]) -> LayerGains:
    """One record from single-layer records (same modes, probes, threshold)."""
    first = parts[0]
    cat = {k: np.concatenate([getattr(p, k) for p in parts]) for k in
           ("layers", "chi", "pi", "chi_value", "chi_key", "chi_se", "pi_se", "ratio", "dominant",
            "max_low_ratio", "eta_gain", "delta_chi", "delta_pi")}
    dchi, dpi, eta = _contrast(cat["chi"].sum(0), cat["pi"].sum(0), first.low_modes, first.high_modes)
    top = _top_record(np.concatenate([p.chi_top for p in parts]), np.concatenate([p.pi_top for p in parts]),
                      first.low_modes, first.high_modes, first.threshold)
    record = LayerGains(**{**{k: getattr(first, k) for k in first.__dataclass_fields__}, **cat, **top})
    record.eta_gain_network, record.delta_chi_network, record.delta_pi_network = float(eta), float(dchi), float(dpi)
    return record
