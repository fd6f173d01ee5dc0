"""Typed checks of what a model file holds, before anything is built from it (docs/science.md §6).

Every field read from disk is checked for type and range here, and the error names the file, the
field and what was expected (InputError: one line, exit 2):

- `safetensors_header(path)`: every header entry is an object with a floating `dtype` (F16, BF16,
  F32, F64: model weights), a `shape` of non-negative integers and `data_offsets`, two integers
  0 <= begin <= end within the file, whose byte count is the shape's size x the dtype's width;
- `check_config(path, config)`: config.json's fields have their types and ranges, sample_size is a
  multiple of patch_size, out_channels is at least in_channels;
- `check_training(path, training, config)`: training.json's fields that the loader reads (classes,
  null class, class label, sample shape, learned sigma, scheduler) have their types and agree with
  config.json (learned sigma needs out_channels = 2 x in_channels);
- `model_bytes(config, bytes_per_value)`: a lower bound of the memory the model takes (its weights, the
  position table and one attention score matrix of a pair), for `check_model_memory`.
Hand-written rather than a schema library: the fields are few and most checks tie two files together
(training.json against config.json, offsets against the file size), which a JSON schema cannot express.
"""
from __future__ import annotations

import json
import math
import os
import struct

from syncgap.theory.checks import InputError
from syncgap.theory.resources import check_memory

FLOAT_WIDTH = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2}     # safetensors dtype -> bytes per value
HEADER_MAX = 100 * 2**20                                    # safetensors' own limit on the header (100 MB)
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")
TRAIN_STEPS_MAX = 100_000
# diffusers DiTTransformer2DModel's defaults, for a config.json that leaves a size out
DIFFUSERS_DEFAULTS = dict(num_attention_heads=16, attention_head_dim=72, in_channels=4, num_layers=28, sample_size=32,
                          patch_size=2, num_embeds_ada_norm=1000)


def _json_type(v) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(v), "number")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _entry(path: str, name: str, v, data_len: int) -> tuple[str, tuple]:
    where = f"{path}: header entry {name!r}"
    if not isinstance(v, dict):
        raise InputError(f"{where} is a JSON {_json_type(v)}, expected an object with dtype, shape and data_offsets")
    dtype, shape, off = v.get("dtype"), v.get("shape"), v.get("data_offsets")
    if not isinstance(dtype, str):
        raise InputError(f"{where}: dtype must be a string, got {dtype!r}")
    if dtype not in FLOAT_WIDTH:
        raise InputError(f"{where}: dtype {dtype[:20]!r} is not floating point ({', '.join(FLOAT_WIDTH)}): "
                         "model weights are floating-point tensors")
    if not isinstance(shape, list) or not all(_is_int(s) and s >= 0 for s in shape):
        raise InputError(f"{where}: shape must be a list of non-negative integers, got {str(shape)[:60]}")
    if not (isinstance(off, list) and len(off) == 2 and all(_is_int(o) for o in off) and 0 <= off[0] <= off[1]):
        raise InputError(f"{where}: data_offsets must be two integers 0 <= begin <= end, got {str(off)[:60]}")
    if off[1] > data_len:
        raise InputError(f"{path}: truncated: entry {name!r} ends at byte {off[1]} of the data, "
                         f"the file holds {data_len} bytes of data")
    need = math.prod(shape) * FLOAT_WIDTH[dtype]
    if off[1] - off[0] != need:
        raise InputError(f"{where}: data_offsets span {off[1] - off[0]} bytes, dtype {dtype} and shape "
                         f"{tuple(shape)} need {need}")
    return dtype, tuple(shape)


def safetensors_header(path: str) -> dict:
    """name -> (dtype, shape) of a .safetensors file's header, every entry checked (module docstring),
    without reading the data; InputError naming the file and the entry otherwise."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0] if size >= 8 else None
            if n is None or n > size - 8 or n > HEADER_MAX:
                raise InputError(f"{path}: truncated or not a safetensors file (header of {n} bytes, file {size})")
            header = json.loads(f.read(n), parse_constant=lambda c: float("nan"))
    except (OSError, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(f"{path}: unreadable safetensors header ({type(exc).__name__})") from None
    if not isinstance(header, dict):
        raise InputError(f"{path}: the safetensors header is a JSON {_json_type(header)}, expected an object")
    meta = header.pop("__metadata__", None)
    if meta is not None and not (isinstance(meta, dict) and all(isinstance(x, str) for x in meta.values())):
        raise InputError(f"{path}: __metadata__ must map names to strings")
    return {k: _entry(path, k, v, size - 8 - n) for k, v in header.items()}


def check_floating(path: str, state: dict) -> None:
    """InputError naming the first tensor of `state` (name -> torch tensor) that is not floating point."""
    for k, v in state.items():
        if not v.is_floating_point():
            raise InputError(f"{path}: tensor {k!r} has dtype {str(v.dtype).replace('torch.', '')}, "
                             "not floating point: model weights are floating-point tensors")


# config.json: field -> (type, low, high); ints also by checkpoints.CONFIG_LIMITS
CONFIG_FIELDS = {"_class_name": (str,), "norm_type": (str,), "activation_fn": (str,),
                 "attention_bias": (bool,), "norm_elementwise_affine": (bool,), "upcast_attention": (bool,),
                 "norm_eps": (float, 1e-12, 1.0), "dropout": (float, 0.0, 0.999), "norm_num_groups": (int, 1, 4096)}


NULLABLE = ("out_channels",)   # config.json fields where null means diffusers' default (out_channels: in_channels)


def check_config(path: str, config: dict, limits: dict) -> None:
    """config.json's fields typed and in range (`limits`: int field -> highest value), and consistent."""
    for key, high in limits.items():
        if key not in config or config[key] is None and key in NULLABLE:
            continue
        value = config[key]
        if value is None or isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            raise InputError(f"{path}: {key}={value!r} is outside the allowed range [1, {high}]")
    for key, (kind, *bounds) in CONFIG_FIELDS.items():
        if key not in config:   # absent: diffusers' default; present as null is not a default (it reaches torch)
            continue
        value = config[key]
        ok = isinstance(value, bool) if kind is bool else isinstance(value, str) if kind is str else \
            _is_int(value) if kind is int else isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and bounds:
            ok = math.isfinite(value) and bounds[0] <= value <= bounds[1]
        if not ok:
            expected = {bool: "true or false", str: "a string"}.get(kind) or \
                f"a number in [{bounds[0]:g}, {bounds[1]:g}]"
            raise InputError(f"{path}: {key}={value!r} must be {expected}")
    patch, side = config.get("patch_size"), config.get("sample_size")
    if _is_int(patch) and _is_int(side) and side % patch:
        raise InputError(f"{path}: sample_size={side} is not a multiple of patch_size={patch}")
    c_in, c_out = config.get("in_channels"), config.get("out_channels")
    if _is_int(c_in) and _is_int(c_out) and c_out < c_in:
        raise InputError(f"{path}: out_channels={c_out} must be at least in_channels={c_in} (the predicted noise)")


def _field(path, training, key, check, expected):
    if key in training and not check(training[key]):
        raise InputError(f"{path}: {key}={str(training[key])[:60]} must be {expected}")


def check_training(path: str, training: dict, config: dict) -> None:
    """training.json's fields that the loader reads: typed, in range, and agreeing with config.json."""
    c_in, side = config.get("in_channels", 4), config.get("sample_size")
    c_out = config.get("out_channels") or c_in
    table = config.get("num_embeds_ada_norm") or 1
    _field(path, training, "num_classes", lambda v: _is_int(v) and 1 <= v <= table,
           f"an integer in [1, {table}] (num_embeds_ada_norm of config.json)")
    n_cls = training.get("num_classes", table)
    _field(path, training, "null_class_id", lambda v: v is None or _is_int(v) and 0 <= v <= table,
           f"null or an integer in [0, {table}] (the class table's rows)")
    _field(path, training, "class_label", lambda v: v is None or _is_int(v) and 0 <= v < n_cls,
           f"null or a class in [0, {n_cls - 1}]")
    _field(path, training, "sample_shape", lambda v: v == [c_in, side, side],
           f"[in_channels, sample_size, sample_size] = {[c_in, side, side]} (config.json)")
    _field(path, training, "learned_sigma", lambda v: v is False or v is True and c_out == 2 * c_in,
           "false or, where out_channels is twice in_channels, true: config.json has "
           f"out_channels={c_out}, in_channels={c_in}")
    if "scheduler" not in training:
        return
    sched = training["scheduler"]
    where = f"{path}: scheduler"
    if not isinstance(sched, dict):
        raise InputError(f"{where} must be an object, got a JSON {_json_type(sched)}")
    _field(where, sched, "num_train_timesteps", lambda v: _is_int(v) and 2 <= v <= TRAIN_STEPS_MAX,
           f"an integer in [2, {TRAIN_STEPS_MAX}]")
    for key in ("beta_start", "beta_end"):
        _field(where, sched, key, lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
               and math.isfinite(v) and 0 < v < 1, "a number in (0, 1)")
    if sched.get("beta_start", 0) >= sched.get("beta_end", 1):
        raise InputError(f"{where}: beta_start={sched['beta_start']} must be below beta_end={sched['beta_end']}")
    _field(where, sched, "beta_schedule", lambda v: v in BETA_SCHEDULES, f"one of {', '.join(BETA_SCHEDULES)}")
    _field(where, sched, "prediction_type", lambda v: v in PREDICTION_TYPES, f"one of {', '.join(PREDICTION_TYPES)}")


def model_bytes(config: dict, bytes_per_value: int = 4) -> int:
    """A lower bound of the memory (bytes) a DiT of this diffusers config takes to run a pair: its weights
    (12 h^2 per block for attention and MLP, 6 h^2 for adaLN, the per-block timestep and class embedders,
    the patch and output layers), the position table (tokens x h) and one attention score matrix
    (2 rows x heads x tokens^2) of the forward pass."""
    c = {k: config.get(k) or v for k, v in DIFFUSERS_DEFAULTS.items()}
    heads, h, p = c["num_attention_heads"], c["num_attention_heads"] * c["attention_head_dim"], c["patch_size"]
    tokens = (c["sample_size"] // p) ** 2
    block = 18 * h * h + 256 * h + h * h + c["num_embeds_ada_norm"] * h
    io = p * p * (c["in_channels"] + (config.get("out_channels") or c["in_channels"])) * h + 2 * h * h
    return (c["num_layers"] * block + io + tokens * h + 2 * heads * tokens * tokens) * bytes_per_value


def check_model_memory(config: dict, what: str, bytes_per_value: int = 4, device="cpu") -> None:
    """InputError when the model of `config` cannot fit in the memory available on `device` (model_bytes):
    the machine's for the CPU, the GPU's free memory for a CUDA device."""
    available, where = None, "this machine"
    if str(device).startswith("cuda"):
        import torch   # torch (the optional dit extra) stays lazy: the file checks here run without it
        if torch.cuda.is_available():
            available, where = torch.cuda.mem_get_info(torch.device(device))[0], f"GPU {device}"
    check_memory(model_bytes(config, bytes_per_value), what, available, where)


__all__ = ["safetensors_header", "check_floating", "check_config", "check_training", "model_bytes",
           "check_model_memory", "FLOAT_WIDTH"]
