"""One registry for every DiT the suite runs (docs/science.md §6): tiny, the shipped zoo, DiT-XL/2.

`load_model(name)` returns a `LoadedDiT` record. Names:
- "tiny": a random small DiTTransformer2DModel built in code (seeded), for tests only;
- "fhgm", "fhgm-flat", "fhgm-deep", "digits": the project's own trained small DiTs, shipped in dit_bridge/zoo/<name>/
  (fhgm-flat: the equal-amplitude control of fhgm, whose features all commit together under the exact score;
  fhgm-deep: the FHGM with DiT-XL/2's depth, 28 blocks, hidden 64, patch 2: an 8x8 token grid)
  (diffusers save_pretrained layout + training.json + model_card.md);
- "facebook/DiT-XL-2-256" (alias "dit-xl-2-256"): the transformer subfolder of the DiT pipeline
  repo, from the local hub cache / the hub, or from $SYNCGAP_DIT_XL or an explicit local directory;
- any local directory holding a save_pretrained DiT (with or without training.json);
- an original DiT file (facebookresearch/DiT: .pt, .pth, or .safetensors with its key names), converted
  in memory (checkpoints.py), the EMA weights of a train.py checkpoint by default, with the original's
  timestep embedding by default;
- "random:DiT-XL/2" and the like (checkpoints.random_config): a seeded random model of an original
  DiT shape (benchmarks and GPU smoke tests: its findings mean nothing).
Every folder and file is checked (`check_model`: class, every tensor and shape, truncation) before use.

Timestep embedding: diffusers' `CombinedTimestepLabelEmbeddings` uses sinusoidal
frequencies exp(-log(10000) i / (half - 1)) (`downscale_freq_shift=1`), whereas the
original DiT (facebookresearch/DiT `TimestepEmbedder`) uses exp(-log(10000) i / half),
i.e. `downscale_freq_shift=0`; both put cos before sin. DiT-XL/2 was trained with the
original's; diffusers' DiTPipeline runs it with shift 1. `timestep_embedding="original"`
restores the original's frequencies; the default "diffusers" reproduces DiTPipeline.
Models trained by this project use diffusers' embedding, so keep the default for them.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from syncgap.theory.checks import InputError, check_int
from syncgap.theory.schedules import DIT_BETA_END, DIT_BETA_START, DIT_TRAIN_STEPS

from . import checkpoints
from .model_files import check_model_memory

if TYPE_CHECKING:
    from diffusers import DiTTransformer2DModel

ZOO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zoo")
ZOO_NAMES = ("fhgm", "fhgm-flat", "fhgm-deep", "digits", "fhgm-deep16", "fhgm-deep16-base", "fhgm-deep16-pos",
             "fhgm-deep16-neg")
DIT_XL_ID = "facebook/DiT-XL-2-256"
DIT_XL_ENV = "SYNCGAP_DIT_XL"
DIT_XL_VAE_SCALE = 0.18215
EMBEDDINGS = checkpoints.EMBEDDINGS  # name -> downscale_freq_shift
set_timestep_embedding = checkpoints.set_timestep_embedding
# dtype names a caller may give (the CLI's --dtype fp32|bf16, and torch's own names)
DTYPE_NAMES = {"fp32": torch.float32, "float32": torch.float32, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
               "fp16": torch.float16, "float16": torch.float16, "fp64": torch.float64, "float64": torch.float64}
DEFAULT_SCHEDULER = {"num_train_timesteps": DIT_TRAIN_STEPS, "beta_start": DIT_BETA_START,
                     "beta_end": DIT_BETA_END, "beta_schedule": "linear", "prediction_type": "epsilon"}

# DiT-XL/2 (facebookresearch/DiT models.py DiT_XL_2) in diffusers' parameters.
DIT_XL_2 = dict(num_attention_heads=16, attention_head_dim=72, in_channels=4, out_channels=8, num_layers=28,
                sample_size=32, patch_size=2, num_embeds_ada_norm=1000)
TINY = dict(num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=8, num_layers=3,
            sample_size=8, patch_size=2, num_embeds_ada_norm=10)


@dataclass
class LoadedDiT:
    """A loaded DiT and what a sampler needs to run it."""

    name: str
    model: torch.nn.Module
    scheduler_config: dict
    num_classes: int
    null_class: int | None  # label of the unconditional row; None: no classifier-free guidance
    sample_shape: tuple  # (C, H, W) of the sampled tensor (latents for DiT-XL/2)
    learned_sigma: bool  # model outputs (eps, v) with 2C channels (DDPM learned-range variance)
    latent_scale: float | None  # VAE scaling factor when samples are latents, else None
    source: str
    timestep_embedding: str = "diffusers"
    default_class: int | None = None  # label to use when none is given (single-class models)
    info: dict = field(default_factory=dict)

    @property
    def num_layers(self) -> int:
        return len(self.model.transformer_blocks)


def weights_fingerprint(model: torch.nn.Module, max_values: int = 1 << 20) -> str:
    """16 hex digits of sha256 over the state dict's names, shapes and values: the weights' identity.

    Every k-th value is hashed (k = total / max_values, 1 for the small models), as float64, so a
    retrained, fine-tuned or recast model gets a new fingerprint; cached results are keyed by it.
    """
    state = model.state_dict()
    total = sum(t.numel() for t in state.values())
    stride = max(1, total // max_values)
    h = hashlib.sha256()
    for name, t in state.items():
        h.update(f"{name}{tuple(t.shape)}".encode())
        h.update(t.detach().reshape(-1)[::stride].to("cpu", torch.float64).numpy().tobytes())
    return h.hexdigest()[:16]


def build_dit(config: dict, seed: int = 0, dtype: torch.dtype = torch.float32,
              device: str | torch.device = "cpu") -> DiTTransformer2DModel:
    """A randomly initialised DiTTransformer2DModel with diffusers' own init, seeded, built on `device`
    (a DiT-XL/2 initialises in a fraction of a second on a GPU, tens of seconds on a CPU)."""
    from diffusers import DiTTransformer2DModel   # diffusers stays lazy: registry imports without it
    dtype = as_dtype(dtype)
    check_model_memory(config, "the model", torch.empty((), dtype=dtype).element_size(), device)
    with torch.random.fork_rng(devices=[] if str(device) == "cpu" else [torch.device(device)]):
        torch.manual_seed(seed)
        with torch.device(device):
            model = DiTTransformer2DModel(**config)
    if dtype != torch.float32:
        from diffusers.utils import logging as dlog
        level = dlog.get_verbosity()
        dlog.set_verbosity_error()  # DiT keeps no module in float32, so diffusers' cast warning does not apply
        try:
            model = model.to(dtype)
        finally:
            dlog.set_verbosity(level)
    return model.eval()


def as_dtype(dtype: torch.dtype | str) -> torch.dtype:
    """A floating torch dtype from a torch.dtype or a name of DTYPE_NAMES ('fp32', 'bf16', ...); InputError else."""
    if isinstance(dtype, str):
        dtype = DTYPE_NAMES.get(dtype.lower(), dtype)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise InputError(f"dtype must be a floating torch dtype or one of {', '.join(DTYPE_NAMES)}, got {dtype!r}")
    return dtype


def record_from_model(name: str, model: DiTTransformer2DModel, source: str, training: dict | None = None,
                      info: dict | None = None, **over: object) -> LoadedDiT:
    """A ModelRecord for a loaded DiT `model` (shape, classes, sigma and defaults read from its config)."""
    cfg = model.config
    c, s = cfg.in_channels, cfg.sample_size
    out = cfg.out_channels if cfg.out_channels is not None else c
    training = training or {}
    n_cls = int(training.get("num_classes", cfg.num_embeds_ada_norm))
    table = model.transformer_blocks[0].norm1.emb.class_embedder.embedding_table.num_embeddings
    null = training.get("null_class_id", n_cls if table > n_cls else None)
    fields = dict(name=name, model=model, scheduler_config=dict(training.get("scheduler", DEFAULT_SCHEDULER)),
                  num_classes=n_cls, null_class=null,
                  sample_shape=tuple(training.get("sample_shape", (c, s, s))),
                  learned_sigma=bool(training.get("learned_sigma", out == 2 * c)), latent_scale=None,
                  source=source, default_class=training.get("class_label"),
                  info={**{k: training[k] for k in ("dataset", "final_loss", "steps") if k in training}, **(info or {})})
    fields.update(over)
    return LoadedDiT(**fields)


def load_tiny(seed: int = 0, dtype: torch.dtype = torch.float32, **config: object) -> LoadedDiT:
    """Random tiny DiT (3 layers, 16 tokens, 10 classes + null, learned sigma): tests only."""
    cfg = {**TINY, **config}
    return record_from_model("tiny", build_dit(cfg, seed, dtype), f"random (seed {seed})",
                             info={"random_weights": True})


def load_random(name: str, seed: int = 0, dtype: torch.dtype = torch.float32,
                device: str | torch.device = "cpu") -> LoadedDiT:
    """A seeded random model of an original DiT shape, e.g. random:DiT-XL/2 (see checkpoints.random_config);
    built on `device`, so its weights depend on the device's random generator as well as on the seed."""
    model = build_dit(checkpoints.random_config(name), seed, dtype, device)
    loaded = record_from_model(name, model, f"random (seed {seed})", info={"random_weights": True})
    loaded.latent_scale = DIT_XL_VAE_SCALE
    return loaded


def load_original_file(path: str, dtype: torch.dtype = torch.float32, heads: int | None = None,
                       weights: str = "ema") -> LoadedDiT:
    """An original DiT checkpoint file converted to diffusers' layout (checkpoints.load_original)."""
    model, config = checkpoints.load_original(path, heads, weights, dtype)   # with the original's embedding
    loaded = record_from_model(os.path.basename(path), model, path, timestep_embedding="original",
                             info={"format": "original DiT", "weights": weights})
    if config["in_channels"] == 4:
        loaded.latent_scale = DIT_XL_VAE_SCALE  # sd-vae latents, as every released DiT
    return loaded


def diffusers_folder(path: str) -> str:
    """`path` or its transformer/ subfolder (a whole DiT pipeline directory): the folder holding config.json."""
    if not os.path.isfile(os.path.join(path, "config.json")):
        sub = os.path.join(path, "transformer")
        if os.path.isfile(os.path.join(sub, "config.json")):  # a whole DiT pipeline directory
            return sub
        raise InputError(f"model path {path!r} holds no config.json of a diffusers DiTTransformer2DModel")
    return path


def load_directory(path: str, name: str | None = None, dtype: torch.dtype = torch.float32) -> LoadedDiT:
    """A save_pretrained DiT directory (config.json + weights), with training.json if present; checked first."""
    from diffusers import DiTTransformer2DModel
    path = diffusers_folder(path)
    checkpoints.check_diffusers_folder(path)
    model = DiTTransformer2DModel.from_pretrained(path, torch_dtype=dtype, low_cpu_mem_usage=False).eval()
    training = None
    tj = os.path.join(path, "training.json")
    if os.path.isfile(tj):
        training = checkpoints.read_json_object(tj, "training record")
    loaded = record_from_model(name or os.path.basename(os.path.normpath(path)), model, path, training)
    if training is None and model.config.in_channels == 4 and model.config.sample_size == 32:
        loaded.latent_scale = DIT_XL_VAE_SCALE  # a DiT-XL/2-shaped latent model
    return loaded


def _hub_cached_dit_xl() -> str | None:
    """The local hub cache's folder of DiT-XL/2's transformer, or None when it is not cached."""
    try:
        from huggingface_hub import try_to_load_from_cache
        found = try_to_load_from_cache(DIT_XL_ID, "transformer/config.json")
    except Exception:  # no hub client or an unreadable cache: not cached
        return None
    return os.path.dirname(found) if isinstance(found, str) else None


def _dit_xl_unreachable(exc_name: str = "not in the local cache") -> InputError:
    return InputError(f"{DIT_XL_ID} weights are not reachable ({exc_name}); download the repo elsewhere and "
                      f"pass --model /path/to/local/copy or set {DIT_XL_ENV}=/path/to/local/copy")


def load_dit_xl(path: str | None = None, dtype: torch.dtype = torch.float32, local_only: bool = True) -> LoadedDiT:
    """DiT-XL/2 from `path`, $SYNCGAP_DIT_XL, or the hub cache (and the hub when local_only=False)."""
    path = path or os.environ.get(DIT_XL_ENV)
    if path:
        if not os.path.isdir(path):
            raise InputError(f"DiT-XL/2 directory {path!r} does not exist (from --model or ${DIT_XL_ENV})")
        loaded = load_directory(path, DIT_XL_ID, dtype)
    elif _hub_cached_dit_xl():
        loaded = load_directory(_hub_cached_dit_xl(), DIT_XL_ID, dtype)
        loaded.source = f"hub:{DIT_XL_ID}"
    else:
        from diffusers import DiTTransformer2DModel
        if local_only:
            raise _dit_xl_unreachable()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # hub deprecation chatter; the outcome is reported below
                model = DiTTransformer2DModel.from_pretrained(DIT_XL_ID, subfolder="transformer", torch_dtype=dtype,
                                                              local_files_only=local_only,
                                                              low_cpu_mem_usage=False).eval()
        except Exception as exc:  # hub errors come in many types; all mean "not reachable here"
            raise _dit_xl_unreachable(type(exc).__name__) from None
        loaded = record_from_model(DIT_XL_ID, model, f"hub:{DIT_XL_ID}")
    loaded.name = DIT_XL_ID
    loaded.latent_scale = DIT_XL_VAE_SCALE
    loaded.null_class = 1000
    return loaded


def _is_dit_xl(name: str) -> bool:
    return name.lower() in (DIT_XL_ID.lower(), "dit-xl-2-256", "dit-xl/2")


def _unknown(name: str) -> InputError:
    if os.sep in name or name.startswith(".") or name.endswith(checkpoints.ORIGINAL_SUFFIXES):
        what = "file" if name.endswith(checkpoints.ORIGINAL_SUFFIXES) else "directory"
        return InputError(f"model {what} {name!r} does not exist; pass --model /path/to/local/copy of a "
                          "save_pretrained DiT folder or an original DiT file "
                          f"({', '.join(checkpoints.ORIGINAL_SUFFIXES)})")
    return InputError(f"unknown model {name!r}: use tiny, {', '.join(ZOO_NAMES)}, {DIT_XL_ID}, random:DiT-XL/2, "
                      "a local directory or an original DiT file (--model /path/to/DiT-XL-2-256x256.pt)")


def _original_file(name: str) -> bool:
    if not os.path.isfile(name):
        return False
    if not name.endswith(checkpoints.ORIGINAL_SUFFIXES):
        raise InputError(f"model file {name!r}: expected an original DiT checkpoint "
                         f"({', '.join(checkpoints.ORIGINAL_SUFFIXES)}) or a save_pretrained folder")
    return True


def check_model(name: str, *, heads: int | None = None, weights: str = "ema", local_only: bool = True) -> dict:
    """Check a model name, folder or file without building the model: InputError naming the file and the
    first problem (wrong class, a missing, unexpected or mis-shaped tensor, a truncated file).

    Returns {"name", "random_weights"}. Original files are mapped (mmap), not read in full.
    """
    if not isinstance(name, str) or not name:
        raise InputError(f"model name must be a non-empty string, got {name!r}")
    if name == "tiny" or name.startswith("random:"):
        if name != "tiny":
            checkpoints.random_config(name)
        return {"name": name, "random_weights": True}
    if name in ZOO_NAMES:
        d = os.path.join(ZOO_DIR, name)
        if not os.path.isfile(os.path.join(d, "config.json")):
            raise InputError(f"model {name!r} is not shipped in this checkout ({d} is missing); "
                             f"train it with `syncgap dit train {name}`")
        checkpoints.check_diffusers_folder(d)
    elif _is_dit_xl(name):
        path = os.environ.get(DIT_XL_ENV) or _hub_cached_dit_xl()
        if path:
            if not os.path.isdir(path):
                raise InputError(f"DiT-XL/2 directory {path!r} does not exist (from ${DIT_XL_ENV})")
            checkpoints.check_diffusers_folder(diffusers_folder(path))
        elif local_only:
            raise _dit_xl_unreachable()
    elif _original_file(name):
        state = checkpoints.read_original_state(name, weights)
        checkpoints.check_original_state(state, checkpoints.original_config(state, name, heads), name)
    elif os.path.isdir(name):
        checkpoints.check_diffusers_folder(diffusers_folder(name))
    else:
        raise _unknown(name)
    return {"name": name, "random_weights": False}


def load_model(name: str, *, seed: int = 0, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu",
               timestep_embedding: str | None = None,
               local_only: bool = True, heads: int | None = None, weights: str = "ema") -> LoadedDiT:
    """Load a DiT by registry name, local directory or original DiT file; see the module docstring for names.

    dtype: a floating torch dtype or its name ('fp32', 'bf16', ...: DTYPE_NAMES).
    heads, weights: original DiT files only (attention heads when the hidden size is no DiT family's;
    "ema" or "model" weights of a train.py checkpoint).
    """
    if not isinstance(name, str) or not name:
        raise InputError(f"model name must be a non-empty string, got {name!r}")
    check_int("seed", seed, 0)
    dtype = as_dtype(dtype)
    if name == "tiny":
        loaded = load_tiny(seed, dtype)
    elif name.startswith("random:"):
        loaded = load_random(name, seed, dtype, device)
    elif name in ZOO_NAMES:
        d = os.path.join(ZOO_DIR, name)
        if not os.path.isfile(os.path.join(d, "config.json")):
            raise InputError(f"model {name!r} is not shipped in this checkout ({d} is missing); "
                             f"train it with `syncgap dit train {name}`")
        loaded = load_directory(d, name, dtype)
    elif _is_dit_xl(name):
        loaded = load_dit_xl(None, dtype, local_only)
    elif _original_file(name):
        loaded = load_original_file(name, dtype, heads, weights)
    elif os.path.isdir(name):
        loaded = load_directory(name, None, dtype)
    else:
        raise _unknown(name)
    if timestep_embedding is not None:
        set_timestep_embedding(loaded.model, timestep_embedding)
        loaded.timestep_embedding = timestep_embedding
    loaded.model.to(device)
    return loaded
