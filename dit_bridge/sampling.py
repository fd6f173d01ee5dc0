"""Coupled pair sampling on diffusers' DDPM (learned-range variance) and DDIM schedulers.

A pair state is one tensor x of 2M rows [A; B] (coupling.py's layout). Randomness is
per row: every (pair, replica) has its own torch.Generator, seeded from (seed, pair,
replica), so the noise of a replica is drawn once and is the same for every g, every
gate and every coupling schedule. Classifier-free guidance follows diffusers' DiTPipeline:
eps = eps_u + s (eps_c - eps_u) on the C noise channels, the learned variance from the
conditional row; the model sees [A_cond, A_uncond ; B_cond, B_uncond].
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from syncgap.theory.checks import InputError, SimulationError, check_choice, check_int, check_real, index_list

from .coupling import coupled_layers, set_g

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from numpy.typing import ArrayLike

    from .recording import StepRecorder
    from .registry import LoadedDiT

    GSchedule = ArrayLike | Callable[[int], float | Sequence[float]]

GUIDANCE_MAX = 1000.0   # classifier-free guidance scale cap: typical 1-10; 1e300 overflows in the first step

SAMPLERS = ("ddpm", "ddim")


def row_seed(seed: int, pair: int, replica: int, stream: int) -> int:
    """Seed of one row's generator: stream 0 = initial noise, 1 = per-step noise."""
    return int(np.random.SeedSequence([seed, pair, replica, stream]).generate_state(1, np.uint64)[0] >> 1)


def row_generators(seed: int, n_pairs: int, stream: int = 1) -> list:
    """Per-row generators for rows [A; B] of n_pairs pairs."""
    return [torch.Generator().manual_seed(row_seed(seed, j, r, stream)) for r in (0, 1) for j in range(n_pairs)]


def check_sampler(sampler: str) -> str:
    """`sampler` if it is one of SAMPLERS, else InputError."""
    return check_choice("sampler", sampler, SAMPLERS)


def check_guidance(loaded: LoadedDiT, guidance_scale: float) -> float:
    """A classifier-free guidance scale in [1, GUIDANCE_MAX]; other than 1 only for a model with a null class."""
    guidance_scale = check_real("guidance_scale", guidance_scale, 1.0, GUIDANCE_MAX)
    if guidance_scale != 1.0 and loaded.null_class is None:
        raise InputError(f"model {loaded.name} has no null class: classifier-free guidance needs guidance_scale=1")
    return guidance_scale


def make_scheduler(loaded: LoadedDiT, sampler: str = "ddpm") -> DDPMScheduler | DDIMScheduler:
    """A diffusers DDPM (learned-range variance if the model learns sigma) or DDIM (eta = 0) scheduler."""
    cfg = {k: v for k, v in loaded.scheduler_config.items()
           if k in ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "prediction_type")}
    if check_sampler(sampler) == "ddpm":
        var = "learned_range" if loaded.learned_sigma else "fixed_small"
        return DDPMScheduler(**cfg, variance_type=var, clip_sample=False)
    return DDIMScheduler(**cfg, clip_sample=False)  # final step to alpha_bar = 1, as the original ddim_sample


def g_schedule_values(g_schedule: GSchedule | None, num_steps: int) -> np.ndarray | None:
    """A schedule as an array (num_steps,) or (num_steps, n_coupled); None keeps g as set."""
    if g_schedule is None:
        return None
    if callable(g_schedule):
        vals = np.asarray([g_schedule(k) for k in range(num_steps)], dtype=float)
    else:
        vals = np.asarray(g_schedule, dtype=float)
        if vals.ndim == 0:
            vals = np.full(num_steps, float(vals))
    if vals.shape[0] != num_steps:
        raise InputError(f"g schedule has {vals.shape[0]} steps, the sampler runs {num_steps}")
    if not np.all(np.isfinite(vals)) or np.any(vals < 0):
        raise InputError("g schedule values must be finite and >= 0")
    return vals


def check_labels(loaded: LoadedDiT, labels: torch.Tensor | ArrayLike | None, n: int) -> torch.Tensor:
    """Class labels (n,) in [0, num_classes); default the model's single class or 0."""
    if labels is None:
        labels = [loaded.default_class or 0] * n
    lab = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
    if lab.numel() == 1:
        lab = lab.expand(n).clone()
    if lab.numel() != n:
        raise InputError(f"class labels: expected {n}, got {lab.numel()}")
    bad = lab[(lab < 0) | (lab >= loaded.num_classes)]
    if bad.numel():
        raise InputError(f"class label {int(bad[0])} is outside the allowed range [0, {loaded.num_classes - 1}]")
    return lab


@dataclass
class PairState:
    """Where a pair run stands: rows [A; B], the next step index, and the per-row generators."""

    x: torch.Tensor  # (2M, C, H, W) float32
    step: int
    generators: list
    trajectory: list = field(default_factory=list)

    def snapshot(self) -> "PairState":
        """A copy that can be resumed independently (generator states included)."""
        gens = []
        for gen in self.generators:
            c = torch.Generator()
            c.set_state(gen.get_state())
            gens.append(c)
        return PairState(self.x.clone(), self.step, gens, list(self.trajectory))


def inductor_cache_dir() -> str:
    """Where inductor keeps compiled kernels across processes: $TORCHINDUCTOR_CACHE_DIR when set, else
    <user cache>/syncgap/inductor (<user cache>: $XDG_CACHE_HOME or ~/.cache); set in the environment."""
    path = os.environ.get("TORCHINDUCTOR_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "syncgap", "inductor")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = path
    return path


def compile_model(loaded: LoadedDiT, **options: Any) -> bool:
    """torch.compile loaded.model's forward in place (blocks, hooks and the g buffers stay where they are); True
    when compiled. A compilation that fails (at torch.compile or at a call, where inductor compiles) prints one
    line on stderr and the model runs eager from then on.

    g is a 0-d buffer read inside the graph (coupling.py), so `set_g` and g schedules reuse the compiled
    graph; installing or removing the gate (Protocol I's coupled prefix and independent tails) compiles
    each variant once; on the CPU the batches are padded to PAD_PAIRS sizes (_model_eps_chunked), so each
    variant compiles for a few batch sizes only. `options` go to torch.compile (e.g. backend="eager" for
    tests on a CPU). Kernels are cached in inductor_cache_dir().
    """
    eager = loaded.model.forward
    inductor_cache_dir()

    def fall_back(exc: BaseException) -> None:
        print(f"torch.compile failed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
              f"running {loaded.name} eager", file=sys.stderr, flush=True)
    try:
        compiled = torch.compile(eager, dynamic=False, **options)
    except Exception as exc:   # noqa: BLE001 -- any failure to compile means: run eager
        fall_back(exc)
        return False
    state = {"fn": compiled}

    def forward(*args, **kwargs):
        if state["fn"] is eager:
            return eager(*args, **kwargs)
        try:
            return state["fn"](*args, **kwargs)
        except Exception as exc:   # noqa: BLE001 -- inductor compiles at the call; a real error recurs in eager
            state["fn"] = eager
            loaded.model.syncgap_compiled = False   # eager from here: no padding
            fall_back(exc)
            return eager(*args, **kwargs)
    loaded.model.forward = forward
    loaded.model.syncgap_compiled = True
    return True


# Pairs per model call on the CPU: one call on 1344 pairs (2688 rows, the demo's batched tails) costs 0.75 ms
# of one-thread CPU per row, calls of 168 pairs 0.58 ms (FHGM-DiT, 2026-11-30): past the caches a bigger
# batch only waits on memory. GPUs take the whole batch.
CPU_PAIRS_PER_CALL = 128
PAD_PAIRS = (8, 16, 32, 64, CPU_PAIRS_PER_CALL)   # the batch sizes (pairs) a compiled CPU model is called with


def padded_pairs(n: int) -> int:
    """The smallest PAD_PAIRS size >= n pairs (n <= CPU_PAIRS_PER_CALL)."""
    return next(p for p in PAD_PAIRS if p >= n)


def _model_eps_chunked(loaded, x, t, labels, guidance_scale, pairs_per_call, pad=False):
    """_model_eps on rows [A; B] (2M, C, H, W) in calls of at most `pairs_per_call` pairs, each call rows
    [A_i..A_j; B_i..B_j] (the coupled layout), reassembled to [A; B]. pad=True (a compiled model) fills each
    call up to padded_pairs(j - i) pairs with zero rows paired with zero rows (cut off after the call), so the
    compiled graphs see a few batch sizes; rows are independent in the model, paired only A_k <-> B_k."""
    m = x.shape[0] // 2
    spans = [(i, min(i + pairs_per_call, m)) for i in range(0, m, pairs_per_call)]   # pairs [i, j), never past A
    outs = []
    for i, j in spans:
        xa, xb, la, lb = x[i:j], x[m + i:m + j], labels[i:j], labels[m + i:m + j]
        extra = padded_pairs(j - i) - (j - i) if pad else 0
        if extra:
            xa, xb = (torch.cat([z, z.new_zeros((extra, *z.shape[1:]))]) for z in (xa, xb))
            la, lb = (torch.cat([z, z[:1].expand(extra)]) for z in (la, lb))
        o = _model_eps(loaded, torch.cat([xa, xb]), t, torch.cat([la, lb]), guidance_scale)
        oa, ob = o.chunk(2)
        outs.append((oa[:j - i], ob[:j - i]))
    return torch.cat([o[0] for o in outs] + [o[1] for o in outs])


def _model_eps(loaded, x, t, labels, guidance_scale):
    """Model output for rows [A; B] (2M, C or 2C), with classifier-free guidance when scale != 1."""
    model = loaded.model
    p = next(model.parameters())
    n, c = x.shape[0], x.shape[1]
    xin = x.to(p.device, p.dtype)
    if guidance_scale == 1.0:
        out = model(xin, torch.full((n,), int(t), device=p.device), labels.to(p.device)).sample
        return out.float()
    m = n // 2
    null = torch.full((m,), loaded.null_class, dtype=torch.long)
    lab = torch.cat([labels[:m], null, labels[m:], null]).to(p.device)
    xin = torch.cat([xin[:m], xin[:m], xin[m:], xin[m:]])  # [A_c, A_u ; B_c, B_u]
    out = model(xin, torch.full((2 * n,), int(t), device=p.device), lab).sample.float()
    ac, au, bc, bu = out.chunk(4)
    guided = [u[:, :c] + guidance_scale * (cnd[:, :c] - u[:, :c]) for cnd, u in ((ac, au), (bc, bu))]
    return torch.cat([torch.cat([e, cnd[:, c:]], 1) for e, cnd in zip(guided, (ac, bc))])


def _check_finite(x, k, t) -> None:
    """SimulationError naming sampler step k, timestep t and the rows (A: 0..M-1, B: M..2M-1) that hold NaN/inf."""
    if bool(torch.isfinite(x).all()):
        return
    bad = (~torch.isfinite(x.reshape(x.shape[0], -1)).all(dim=1)).nonzero().flatten().tolist()
    m = x.shape[0] // 2
    who = ", ".join(f"{'A' if r < m else 'B'}{r % m}" for r in bad[:6]) + (", ..." if len(bad) > 6 else "")
    raise SimulationError(f"pair sampler: non-finite values (NaN or inf) after step {k} (timestep {int(t)}) "
                          f"in rows {index_list(bad)} of {x.shape[0]} (pairs: {who})")


@dataclass(frozen=True)
class StepHooks:
    """What `run_pairs` does at each step besides the model call and the scheduler step (all optional)."""

    g_schedule: GSchedule | None = None    # g per step (sampling.g_schedule_values), set before the model call
    recorder: StepRecorder | None = None   # told each step and the pairs M before the model call
    progress: Callable[[int, int], object] | None = None   # progress(steps done, num_steps) after each step
    keep_trajectory: bool = False          # append a copy of x after each step to state.trajectory
    model_output: Callable[[int, torch.Tensor, torch.Tensor], object] | None = None   # (k, x, out) after the call


def run_pairs(loaded: LoadedDiT, scheduler: DDPMScheduler | DDIMScheduler, state: PairState, labels: torch.Tensor, *,
              num_steps: int, stop: int | None = None, guidance_scale: float = 1.0,
              hooks: StepHooks = StepHooks()) -> PairState:
    """Advance `state` from state.step to `stop` (default num_steps) on the scheduler's grid; returns it."""
    num_steps = check_int("num_steps", num_steps, 1, scheduler.config.num_train_timesteps)
    stop = num_steps if stop is None else check_int("stop", stop, state.step, num_steps)
    g_vals = g_schedule_values(hooks.g_schedule, num_steps)
    if g_vals is not None and not coupled_layers(loaded.model):
        if np.any(g_vals > 0):
            raise InputError("a g schedule needs coupled layers: call set_coupling(model, ...) first")
        g_vals = None
    scheduler.set_timesteps(num_steps)
    c = loaded.sample_shape[0]
    x = state.x
    padded = getattr(loaded.model, "syncgap_compiled", False)   # compiled: calls padded to PAD_PAIRS batch sizes
    with torch.no_grad():
        for k in range(state.step, stop):
            t = scheduler.timesteps[k]
            if g_vals is not None:
                set_g(loaded.model, g_vals[k].tolist() if g_vals.ndim == 2 else float(g_vals[k]))
            if hooks.recorder is not None:
                hooks.recorder.begin_step(k, x.shape[0] // 2)
            # the state and the per-row generators stay on the CPU (same draws on any device)
            chunked = x.shape[0] > 2 * CPU_PAIRS_PER_CALL or padded
            if hooks.recorder is None and chunked and next(loaded.model.parameters()).is_cpu:
                out = _model_eps_chunked(loaded, x, t, labels, guidance_scale, CPU_PAIRS_PER_CALL, padded)  # (2M, C, H, W)
            else:   # hooks (recorder) see every row of a step in one call
                out = _model_eps(loaded, x, t, labels, guidance_scale).to(x.device)
            if hooks.model_output is not None:
                hooks.model_output(k, x, out)
            if isinstance(scheduler, DDPMScheduler):
                x = scheduler.step(out, t, x, generator=state.generators).prev_sample
            else:
                x = scheduler.step(out[:, :c], t, x, eta=0.0).prev_sample
            _check_finite(x, k, t)
            if hooks.keep_trajectory:
                state.trajectory.append(x.clone())
            if hooks.progress is not None:
                hooks.progress(k + 1, num_steps)
    state.x, state.step = x, stop
    return state


def sample_pairs(loaded: LoadedDiT, x_a: torch.Tensor, x_b: torch.Tensor, labels: torch.Tensor | ArrayLike | None = None,
                 *, seed: int = 0, num_steps: int = 50, sampler: str = "ddpm", guidance_scale: float = 1.0,
                 g_schedule: GSchedule | None = None, recorder: StepRecorder | None = None,
                 progress: Callable[[int, int], object] | None = None, keep_trajectory: bool = False) -> PairState:
    """Sample pairs from initial noise x_a, x_b (M, C, H, W); labels (M,) shared by both replicas or (2M,).
    g_schedule, recorder, progress and keep_trajectory are run_pairs' StepHooks."""
    if x_a.shape != x_b.shape or tuple(x_a.shape[1:]) != tuple(loaded.sample_shape):
        raise InputError(f"initial noise must be two (M, {', '.join(map(str, loaded.sample_shape))}) tensors, "
                         f"got {tuple(x_a.shape)} and {tuple(x_b.shape)}")
    for name, x in (("x_a", x_a), ("x_b", x_b)):
        if not bool(torch.isfinite(x).all()):
            raise InputError(f"initial noise {name} has non-finite entries (NaN or inf)")
    m = x_a.shape[0]
    guidance_scale = check_guidance(loaded, guidance_scale)
    n_lab = 2 * m if labels is not None and torch.as_tensor(labels).numel() == 2 * m else m
    lab = check_labels(loaded, labels, n_lab)
    if n_lab == m:
        lab = torch.cat([lab, lab])
    sched = make_scheduler(loaded, sampler)
    state = PairState(torch.cat([x_a, x_b]).float(), 0, row_generators(seed, m))
    hooks = StepHooks(g_schedule, recorder, progress, keep_trajectory)
    return run_pairs(loaded, sched, state, lab, num_steps=num_steps, guidance_scale=guidance_scale, hooks=hooks)


def antisymmetric_noise(shape: Sequence[int], n_pairs: int, seed: int = 0,
                        eps: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    """Protocol I start: x_A,B = sqrt(1 - eps^2) z +- eps zeta from one draw (z, zeta) per pair.

    Each replica is exactly N(0, I) (variance preserving) and x_A - x_B = 2 eps zeta is antisymmetric
    about the shared draw z (docs/science.md §5, Protocol I). Same seed -> same draws for every g.
    """
    n_pairs = check_int("n_pairs", n_pairs, 1, 10**6)
    eps = check_real("eps", eps, 0.0, 1.0)
    za, zb = [], []
    for j in range(n_pairs):
        gen = torch.Generator().manual_seed(row_seed(seed, j, 2, 0))
        z, zeta = torch.randn(tuple(shape), generator=gen), torch.randn(tuple(shape), generator=gen)
        za.append((1 - eps ** 2) ** 0.5 * z + eps * zeta)
        zb.append((1 - eps ** 2) ** 0.5 * z - eps * zeta)
    return torch.stack(za), torch.stack(zb)
