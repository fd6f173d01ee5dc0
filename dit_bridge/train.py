"""Train the embedded small DiTs (docs/science.md §6): diffusers DiTTransformer2DModel, epsilon loss, EMA.

Recipe (DiT, Peebles & Xie 2023, scaled down to two CPU cores):
- forward process: DDPM with DiT's linear beta 1e-4 ... 0.02 over 1000 steps (theory.schedules),
  x_i = sqrt(abar_i) x_0 + sqrt(1 - abar_i) eps, i uniform in 0..999; OU time t_i = -1/2 log abar_i;
- loss: || eps_theta(x_i, i, y) - eps ||^2 (epsilon prediction, no learned sigma: out_channels = in);
- adaLN-zero initialisation: xavier-uniform linears, N(0, 0.02) label and timestep embeddings,
  zeroed adaLN modulation in every block and zeroed final modulation + output layer;
- classifier-free guidance: labels replaced by the null class (id = num_classes) with probability
  `class_dropout`, one draw per sample shared by all blocks (diffusers' own per-block drop is off);
- AdamW, constant learning rate after a short linear warm-up, gradient-norm clipping; EMA of the
  weights (shipped);
- checkpoint every `checkpoint_every` steps (model, EMA, optimizer, RNG, loss log), resumed on rerun.
"""
from __future__ import annotations

import copy
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from syncgap.theory.checks import InputError, check_choice, check_int, check_real
from syncgap.theory.schedules import DIT_BETA_END, DIT_BETA_START, DIT_TRAIN_STEPS, linear_betas

from .datasets import FHGM_MIXTURES, TrainingData, load_data, mixture_from_spec
from .train_files import (WEIGHTS_FILE, check_checkpoint_keys, load_checkpoint, load_weights_, model_folder,
                          record_weights, save_checkpoint, snapshot_state, write_snapshot)

if TYPE_CHECKING:
    from collections.abc import Callable

    from diffusers import DiTTransformer2DModel

    from syncgap.theory.data import SignFeatureMixture

SCHEDULER = {"num_train_timesteps": DIT_TRAIN_STEPS, "beta_start": DIT_BETA_START,
             "beta_end": DIT_BETA_END, "beta_schedule": "linear", "prediction_type": "epsilon"}


@dataclass
class TrainConfig:
    """Everything that determines a training run (with the seed, the run is reproducible)."""

    dataset: str
    data_kwargs: dict = field(default_factory=dict)
    hidden: int = 128
    depth: int = 4
    heads: int = 4
    patch: int = 2
    steps: int = 4000
    batch_size: int = 128
    lr: float = 1e-3
    warmup: int = 200
    lr_schedule: str = "constant"      # after warmup: "constant", or "cosine" decay to 0 at the last step
    step_focus: tuple | None = None    # (lo, hi, frac): a fraction frac of the DDPM steps uniform in [lo, hi)
    min_snr_gamma: float | None = None  # Min-SNR-gamma loss weight min(1, gamma / SNR_i); None: DiT's plain MSE
    weight_decay: float = 0.0
    target: str = "sample"             # "sample": DiT's eps of the drawn noise; "exact": the Bayes eps (FHGM only)
    trainable_blocks: tuple | None = None  # block indices that learn (all else frozen); None: every parameter
    init_from: str | None = None       # a model folder to start from instead of adaLN-zero ("zoo:NAME": a shipped one)
    ema_decay: float = 0.995
    grad_clip: float = 1.0
    class_dropout: float = 0.0
    seed: int = 0
    checkpoint_every: int = 250
    log_every: int = 50

    def validate(self) -> "TrainConfig":
        check_int("hidden", self.hidden, 8)
        check_int("heads", self.heads, 1)
        if self.hidden % self.heads:
            raise InputError(f"hidden={self.hidden} must be divisible by heads={self.heads}")
        check_int("depth", self.depth, 1)
        check_int("patch", self.patch, 1)
        check_int("steps", self.steps, 1)
        check_int("batch_size", self.batch_size, 1)
        check_real("lr", self.lr, 0.0, 1.0, lo_open=True)
        check_int("warmup", self.warmup, 0)
        if self.step_focus is not None:
            if not isinstance(self.step_focus, (tuple, list)) or len(self.step_focus) != 3:
                raise InputError(f"step_focus must be (lo, hi, frac), got {self.step_focus!r}")
            lo = check_int("step_focus lo", self.step_focus[0], 0, DIT_TRAIN_STEPS - 1)
            check_int("step_focus hi", self.step_focus[1], lo + 1, DIT_TRAIN_STEPS)
            check_real("step_focus frac", self.step_focus[2], 0.0, 1.0)
        if self.min_snr_gamma is not None:
            check_real("min_snr_gamma", self.min_snr_gamma, 0.0, 1e6, lo_open=True)
        check_choice("target", self.target, ("sample", "exact"))
        if self.trainable_blocks is not None:
            blocks = list(self.trainable_blocks)
            if not blocks or len(set(blocks)) != len(blocks):
                raise InputError(f"trainable_blocks must be distinct block indices, got {self.trainable_blocks!r}")
            for b in blocks:
                check_int("trainable_blocks entry", b, 0, self.depth - 1)
        check_choice("lr_schedule", self.lr_schedule, ("constant", "cosine"))
        check_real("weight_decay", self.weight_decay, 0.0)
        check_real("ema_decay", self.ema_decay, 0.0, 1.0, hi_open=True)
        check_real("grad_clip", self.grad_clip, 0.0)
        check_real("class_dropout", self.class_dropout, 0.0, 1.0, hi_open=True)
        check_int("seed", self.seed, 0)
        check_int("checkpoint_every", self.checkpoint_every, 1)
        check_int("log_every", self.log_every, 1)
        return self


DEEP16_DATA = {"num_samples": 32768, "seed": 0, "amplitudes": [12.0, 6.0, 4.0, 3.0]}
DEEP16_BASE_DATA = {"num_samples": 32768, "seed": 0, "amplitudes": [12.0, 6.0, 4.0],
                    "frequencies": [[0, 1], [1, 2], [3, 4]]}

# Shipped models: name -> TrainConfig (the registry of configs, as in DiT's models.py).
ZOO_CONFIGS = {
    "fhgm": TrainConfig(dataset="fhgm", data_kwargs={"num_samples": 32768, "seed": 0},
                        hidden=128, depth=4, heads=4, patch=4, steps=10000, batch_size=64, lr=1.2e-3,
                        warmup=100, ema_decay=0.995, grad_clip=1.0, class_dropout=0.0, seed=0),
    # The equal-amplitude control: the "fhgm" architecture and recipe on theory.data.flat_frequency_mixture.
    "fhgm-flat": TrainConfig(dataset="fhgm-flat", data_kwargs={"num_samples": 32768, "seed": 0},
                             hidden=128, depth=4, heads=4, patch=4, steps=10000, batch_size=64, lr=1.2e-3,
                             warmup=100, ema_decay=0.995, grad_clip=1.0, class_dropout=0.0, seed=0),
    # DiT-XL/2's depth (28 blocks) on the FHGM, narrow enough for two CPU cores; patch 2 gives an 8x8 token
    # grid, so every FHGM feature spans several tokens and attention can route it (the depth measurement, dit_bridge/depth.py).
    "fhgm-deep": TrainConfig(dataset="fhgm", data_kwargs={"num_samples": 32768, "seed": 0},
                             hidden=64, depth=28, heads=4, patch=2, steps=6000, batch_size=64, lr=1e-3,
                             warmup=200, ema_decay=0.995, grad_clip=1.0, class_dropout=0.0, seed=0,
                             checkpoint_every=100),
    # The deep testbed of the depth question: 16 blocks, so P2's "last 5 of 28" is the last ceil(5*16/28) = 3
    # (19% of the depth against P2's 18%); patch 2 (at patch 4 five of dct67's six token modes are "global");
    # the ladder (12, 6, 4, 3) puts the finest feature at 6 sigma (1.5 = 3 sigma is not learnt at this size);
    # regression on the exact (Bayes) epsilon of the mixture: same minimiser, no irreducible noise in the loss.
    # Steps: the excess loss over Bayes fell 0.0009 -> 0.0006 from step 4000 to 6000 and to 0.0004 by 7400
    # (training.json's loss_log); 8000 (not the planned 24000) leaves the CPU hours to the controls.
    "fhgm-deep16": TrainConfig(dataset="fhgm", data_kwargs=DEEP16_DATA, hidden=64, depth=16, heads=4, patch=2,
                               steps=8000, batch_size=64, lr=1e-3, warmup=200, ema_decay=0.995, grad_clip=1.0,
                               target="exact", seed=0, checkpoint_every=250),
    # Stage 1 of both controls: the same architecture on the mixture without its finest feature (dct67).
    "fhgm-deep16-base": TrainConfig(dataset="fhgm", data_kwargs=DEEP16_BASE_DATA, hidden=64, depth=16, heads=4,
                                    patch=2, steps=3000, batch_size=64, lr=1e-3, warmup=200, ema_decay=0.995,
                                    grad_clip=1.0, target="exact", seed=0, checkpoint_every=250),
    # Stage 2 of the controls: from the stage-1 weights, only 5 blocks learn the full mixture (dct67 included):
    # the last 5 (positive control: the fine feature's work can only happen in the last blocks) or the first 5
    # (negative control). Frozen blocks keep a trained, non-identity state (frozen adaLN-zero blocks would be
    # exact identities, making attribution 100 % by construction).
    "fhgm-deep16-pos": TrainConfig(dataset="fhgm", data_kwargs=DEEP16_DATA, hidden=64, depth=16, heads=4, patch=2,
                                   steps=4000, batch_size=64, lr=1e-3, warmup=200, ema_decay=0.995, grad_clip=1.0,
                                   target="exact", seed=0, checkpoint_every=250, init_from="zoo:fhgm-deep16-base",
                                   trainable_blocks=(11, 12, 13, 14, 15)),
    "fhgm-deep16-neg": TrainConfig(dataset="fhgm", data_kwargs=DEEP16_DATA, hidden=64, depth=16, heads=4, patch=2,
                                   steps=4000, batch_size=64, lr=1e-3, warmup=200, ema_decay=0.995, grad_clip=1.0,
                                   target="exact", seed=0, checkpoint_every=250, init_from="zoo:fhgm-deep16-base",
                                   trainable_blocks=(0, 1, 2, 3, 4)),
    "digits": TrainConfig(dataset="digits", data_kwargs={"size": 16},
                          hidden=128, depth=4, heads=4, patch=4, steps=3500, batch_size=64, lr=1.2e-3,
                          warmup=100, ema_decay=0.995, grad_clip=1.0, class_dropout=0.1, seed=1),
}


def alphas_cumprod() -> torch.Tensor:
    """abar_i = prod_{j<=i} (1 - beta_j) of DiT's linear schedule, float64, shape (1000,)."""
    return torch.from_numpy(linear_betas()).neg().log1p().cumsum(0).exp()


def build_model(cfg: TrainConfig, data: TrainingData) -> DiTTransformer2DModel:
    """A DiTTransformer2DModel sized by cfg, with DiT's adaLN-zero initialisation."""
    from diffusers import DiTTransformer2DModel

    c, h, w = data.sample_shape
    if h != w or h % cfg.patch:
        raise InputError(f"sample shape {data.sample_shape} must be square and divisible by patch={cfg.patch}")
    model = DiTTransformer2DModel(
        num_attention_heads=cfg.heads, attention_head_dim=cfg.hidden // cfg.heads, in_channels=c,
        out_channels=c, num_layers=cfg.depth, sample_size=h, patch_size=cfg.patch,
        num_embeds_ada_norm=data.num_classes)
    adaln_zero_init_(model)
    return model


def adaln_zero_init_(model: torch.nn.Module) -> None:
    """DiT's initialize_weights: xavier linears, N(0, .02) embeddings, zero adaLN + output layer."""
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
    proj = model.pos_embed.proj                                   # conv patchifier, as a linear
    torch.nn.init.xavier_uniform_(proj.weight.view(proj.weight.shape[0], -1))
    torch.nn.init.zeros_(proj.bias)
    for block in model.transformer_blocks:
        emb = block.norm1.emb
        torch.nn.init.normal_(emb.class_embedder.embedding_table.weight, std=0.02)
        torch.nn.init.normal_(emb.timestep_embedder.linear_1.weight, std=0.02)
        torch.nn.init.normal_(emb.timestep_embedder.linear_2.weight, std=0.02)
        torch.nn.init.zeros_(block.norm1.linear.weight)          # adaLN modulation -> identity blocks
        torch.nn.init.zeros_(block.norm1.linear.bias)
    for lin in (model.proj_out_1, model.proj_out_2):              # final modulation and output
        torch.nn.init.zeros_(lin.weight)
        torch.nn.init.zeros_(lin.bias)


def _set_label_drop(model, p: float) -> None:
    """Set diffusers' per-block label dropout (we drop labels ourselves, once per sample)."""
    for block in model.transformer_blocks:
        block.norm1.emb.class_embedder.dropout_prob = p


def min_snr_weight(abar_i: torch.Tensor, gamma: float) -> torch.Tensor:
    """Min-SNR-gamma weight of the epsilon MSE: min(1, gamma / SNR_i), SNR_i = abar_i / (1 - abar_i).

    Hang et al. 2023 (arXiv:2303.09556): the x_0-space weight min(SNR, gamma), written for epsilon
    prediction. It damps the nearly clean steps (SNR > gamma), whose epsilon targets are mostly
    irreducible noise, and leaves the noisy steps where features commit at weight 1.
    """
    return torch.clamp(gamma * (1 - abar_i) / abar_i, max=1.0)


def exact_eps_target(mix: SignFeatureMixture, xt: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """The Bayes epsilon E[eps | x_i] = (x_i - sqrt(abar_i) E[x_0 | x_i]) / sqrt(1 - abar_i) of a SignFeatureMixture.

    E[x_0 | x_t] in closed form (theory.data, docs/science.md §2) at OU time t = -1/2 log abar_i:
    e = sqrt(abar), Gamma = sigma^2 e^2 + (1 - e^2), c = sigma^2 e / Gamma, y = P x,
    m = tanh(a_k e y_k / Gamma), E = P^T [a m + c (y - e a m)] + c (x - P^T y).
    It is the minimiser of the epsilon MSE, so regressing on it trains the same denoiser with the
    irreducible noise of the drawn epsilon removed from the loss. xt (N, C, H, W), a (N, 1, 1, 1).
    """
    n = xt.shape[0]
    x = xt.reshape(n, -1).double()                                            # (N, D)
    P = torch.as_tensor(mix.patterns, dtype=torch.float64)                    # (K, D)
    amp = torch.as_tensor(mix.amplitudes, dtype=torch.float64)                # (K,)
    e = a.reshape(n, 1).double().sqrt()                                       # (N, 1)
    gam = mix.noise_std ** 2 * e * e + (1 - e * e)                            # (N, 1)
    c = mix.noise_std ** 2 * e / gam                                          # (N, 1)
    y = x @ P.T                                                               # (N, K)
    m = torch.tanh(amp * e * y / gam)                                         # (N, K)
    along = amp * m + c * (y - e * amp * m)                                   # (N, K)
    post = along @ P + c * (x - y @ P)                                        # (N, D)
    eps = (x - e * post) / (1 - e * e).sqrt()                                 # (N, D)
    return eps.to(xt.dtype).reshape(xt.shape)


def diffusion_loss(model: torch.nn.Module, x0: torch.Tensor, labels: torch.Tensor, abar: torch.Tensor,
                   gen: torch.Generator, null_id: int, cfg: TrainConfig,
                   exact_mixture: SignFeatureMixture | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(objective, epsilon MSE) at random DDPM steps; labels dropped to null_id w.p. cfg.class_dropout.

    Steps are uniform (DiT's recipe), or with cfg.step_focus = (lo, hi, frac) uniform in [lo, hi) for
    a fraction frac of the batch: more samples where weak features commit (importance of steps).
    The objective is the MSE itself, or with cfg.min_snr_gamma the Min-SNR-weighted mean over the batch.
    With exact_mixture (a SignFeatureMixture) the target is its Bayes epsilon (`exact_eps_target`)
    instead of the drawn epsilon; the returned MSE is then the excess over the Bayes denoiser.
    """
    n, step_focus, min_snr_gamma = x0.shape[0], cfg.step_focus, cfg.min_snr_gamma
    steps = torch.randint(0, abar.numel(), (n,), generator=gen)                  # (N,)
    if step_focus is not None:
        lo, hi, frac = step_focus
        focus = torch.rand(n, generator=gen) < frac
        steps = torch.where(focus, torch.randint(int(lo), int(hi), (n,), generator=gen), steps)
    eps = torch.randn(x0.shape, generator=gen)                                     # (N, C, H, W)
    a = abar[steps].to(x0.dtype).view(n, 1, 1, 1)
    xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
    if cfg.class_dropout > 0:
        drop = torch.rand(n, generator=gen) < cfg.class_dropout
        labels = torch.where(drop, torch.full_like(labels, null_id), labels)
    out = model(xt, timestep=steps, class_labels=labels).sample                    # (N, C', H, W)
    out = out[:, : x0.shape[1]]
    if exact_mixture is not None:
        eps = exact_eps_target(exact_mixture, xt, a)                              # (N, C, H, W)
    if min_snr_gamma is None:
        mse = F.mse_loss(out, eps)
        return mse, mse
    per = (out - eps).square().flatten(1).mean(1)                                  # (N,)
    return (min_snr_weight(a.view(n), min_snr_gamma) * per).mean(), per.detach().mean()


def _lr_at(cfg: TrainConfig, step: int, since: int = 0) -> float:
    """Linear warmup over cfg.warmup steps after `since` (the start, or a weights-only resume with fresh
    optimizer moments), then constant or a half cosine down to 0 at cfg.steps."""
    warm = min(1.0, (step - since + 1) / max(cfg.warmup, 1))
    if cfg.lr_schedule == "constant" or step < cfg.warmup:
        return cfg.lr * warm
    frac = (step - cfg.warmup) / max(cfg.steps - cfg.warmup, 1)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * frac))


@torch.no_grad()
def _ema_update(ema, model, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model, one fused lerp over all tensors."""
    torch._foreach_lerp_(list(ema.parameters()), [p.detach() for p in model.parameters()], 1 - decay)


def train(cfg: TrainConfig, out_dir: str, checkpoint_path: str | None = None,
          progress: Callable[[int, int, float], None] | None = None,
          command: str = "", keep_checkpoint: bool = False) -> dict:
    """Train cfg, save the EMA model with `save_pretrained` + training.json in out_dir; return the record.

    progress(step, total_steps, loss) is called every cfg.log_every steps. A checkpoint at
    checkpoint_path (default out_dir/checkpoint.pt) is written every cfg.checkpoint_every steps and
    resumed from if present; it is removed at the end unless keep_checkpoint. A checkpoint resumes
    under a config that differs only in `steps` (the learning rate is constant after warm-up, so
    stopping a longer run at step n equals an n-step run from the same seed).
    """
    cfg.validate()
    data = load_data(cfg.dataset, **cfg.data_kwargs)
    os.makedirs(out_dir, exist_ok=True)
    ckpt = checkpoint_path or os.path.join(out_dir, "checkpoint.pt")
    null_id = data.num_classes
    torch.manual_seed(cfg.seed)
    model = build_model(cfg, data)
    if cfg.init_from is not None:
        load_weights_(model, model_folder(cfg.init_from))
    if cfg.trainable_blocks is not None:
        model.requires_grad_(False)
        for b in cfg.trainable_blocks:
            model.transformer_blocks[b].requires_grad_(True)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                            weight_decay=cfg.weight_decay, fused=True)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    abar = alphas_cumprod()
    exact = mixture_of(data) if cfg.target == "exact" else None
    step, seconds, log, since = 0, 0.0, [], 0
    snap = snapshot_state(out_dir, asdict(cfg))
    if not os.path.exists(ckpt) and snap is not None:
        # weights-only resume: the EMA snapshot in out_dir, fresh optimizer moments, a new warm-up
        load_weights_(model, out_dir)
        load_weights_(ema, out_dir)
        step = since = snap["steps_done"]
        seconds, log = float(snap["training_seconds"]), list(snap["loss_log"])
        gen = torch.Generator().manual_seed(cfg.seed + 1 + step)
    if os.path.exists(ckpt):
        st = load_checkpoint(ckpt)
        free = {"steps"} if cfg.lr_schedule == "constant" else set()   # a cosine schedule depends on steps
        old_cfg = {**asdict(TrainConfig(dataset=cfg.dataset)), **st["config"]}   # options newer than the file: defaults
        if {k: v for k, v in old_cfg.items() if k not in free} != {k: v for k, v in asdict(cfg).items()
                                                                    if k not in free}:
            raise InputError(f"checkpoint {ckpt} was made with another config; delete it or change the path")
        check_checkpoint_keys(ckpt, st)
        if not isinstance(st["step"], int) or st["step"] > cfg.steps:
            raise InputError(f"checkpoint {ckpt} is at step {st['step']}, past steps={cfg.steps}")
        try:
            model.load_state_dict(st["model"])
            ema.load_state_dict(st["ema"])
            opt.load_state_dict(st["opt"])
            gen.set_state(st["gen"])
            step, seconds, log = int(st["step"]), float(st["seconds"]), list(st["log"])
        except (RuntimeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise InputError(f"checkpoint {ckpt!r} does not fit this model ({first[:200]}); delete it or "
                             "give another --checkpoint") from None
    model.train()
    _set_label_drop(model, 0.0)
    acc, acc_n, t0 = 0.0, 0, time.perf_counter()
    while step < cfg.steps:
        idx = torch.randint(0, data.images.shape[0], (cfg.batch_size,), generator=gen)
        for g in opt.param_groups:
            g["lr"] = _lr_at(cfg, step, since)
        objective, loss = diffusion_loss(model, data.images[idx], data.labels[idx], abar, gen, null_id, cfg,
                                         exact_mixture=exact)
        if not torch.isfinite(loss):
            raise RuntimeError(f"training diverged at step {step} (loss {loss.item()}); lower lr")
        opt.zero_grad(set_to_none=True)
        objective.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip, foreach=True)
        opt.step()
        step += 1
        _ema_update(ema, model, min(cfg.ema_decay, (1 + step) / (10 + step)))
        acc, acc_n = acc + loss.item(), acc_n + 1
        logged = step % cfg.log_every == 0 or step == cfg.steps
        if logged:
            log.append({"step": step, "loss": acc / acc_n})
            acc, acc_n = 0.0, 0
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            now = time.perf_counter()
            seconds, t0 = seconds + now - t0, now
            save_checkpoint(ckpt, {"config": asdict(cfg), "model": model.state_dict(),
                                    "ema": ema.state_dict(), "opt": opt.state_dict(),
                                    "gen": gen.get_state(), "step": step, "seconds": seconds,
                                    "log": log})
            if step < cfg.steps:
                write_snapshot(out_dir, ema, training_record(cfg, data, log, seconds, command), step)
        if logged and progress is not None:
            progress(step, cfg.steps, log[-1]["loss"])
    ema.eval()
    _set_label_drop(ema, 0.0)
    ema.save_pretrained(out_dir)
    record = training_record(cfg, data, log, seconds, command)
    with open(os.path.join(out_dir, "training.json"), "w") as f:
        json.dump(record, f, indent=2)
    record = record_weights(out_dir)
    if not keep_checkpoint and os.path.exists(ckpt):
        os.remove(ckpt)
    return record


def mixture_of(data: TrainingData) -> SignFeatureMixture:
    """The FHGM-like mixture the training data were drawn from (`datasets.mixture_from_spec`)."""
    if data.spec.get("name") not in FHGM_MIXTURES:
        raise InputError(f"target='exact' needs an FHGM-like dataset with a closed-form posterior mean, "
                         f"not {data.spec.get('name')!r}")
    return mixture_from_spec(data.spec)


def training_record(cfg: TrainConfig, data: TrainingData, log: list, seconds: float, command: str) -> dict:
    """The training.json contract read by the model registry."""
    tail = [r["loss"] for r in log[-max(1, len(log) // 10):]]
    single = data.num_classes == 1
    return {
        "dataset": data.spec,
        "num_classes": data.num_classes,
        "null_class_id": None if single else data.num_classes,
        "class_label": 0 if single else None,
        "class_dropout": cfg.class_dropout,
        "sample_shape": list(data.sample_shape),
        "learned_sigma": False,
        "scheduler": dict(SCHEDULER),
        "seed": cfg.seed,
        "steps": cfg.steps,
        "batch_size": cfg.batch_size,
        "final_loss": sum(tail) / len(tail) if tail else math.nan,
        "final_loss_definition": "mean epsilon-MSE of the last 10% of logged intervals (live model)",
        "training_seconds": seconds,
        "threads": torch.get_num_threads(),
        "command": command,
        "config": asdict(cfg),
        "loss_log": log,
        "notes": ("epsilon prediction only (out_channels = in_channels); EMA weights; "
                  + ("single class: always pass class_labels=0, the null row of diffusers' "
                     "LabelEmbedding exists but was never trained" if single else
                     f"null class {data.num_classes} trained with label dropout {cfg.class_dropout}")),
    }
