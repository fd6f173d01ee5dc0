"""Original DiT checkpoints and the checks every model file passes before it is used (docs/science.md §6).

Original format (facebookresearch/DiT models.py): the released `DiT-XL-2-256x256.pt` (a plain state
dict) and train.py checkpoints {"model", "ema", "opt", "args"}; also `.safetensors` with the same key
names. `read_original_state` loads them with `torch.load(weights_only=True)` (only argparse.Namespace
allow-listed: the `args` of a train.py checkpoint), `original_config` infers the architecture from the
tensor shapes, `check_original_state` names the first missing, unexpected or mis-shaped tensor, and
`convert_original_state` maps the keys onto diffusers' DiTTransformer2DModel:

    x_embedder.proj                -> pos_embed.proj                 (patch embedding, Conv2d p x p)
    pos_embed (1, T, H)            -> pos_embed.pos_embed buffer      (fixed 2-D sin-cos table, copied)
    t_embedder.mlp.{0,2}           -> transformer_blocks.i.norm1.emb.timestep_embedder.linear_{1,2}  (every i)
    y_embedder.embedding_table     -> transformer_blocks.i.norm1.emb.class_embedder.embedding_table  (every i)
    blocks.i.adaLN_modulation.1    -> transformer_blocks.i.norm1.linear  (shift, scale, gate x2: same order)
    blocks.i.attn.qkv (3H, H)      -> transformer_blocks.i.attn1.to_{q,k,v}  (rows [q; k; v])
    blocks.i.attn.proj             -> transformer_blocks.i.attn1.to_out.0
    blocks.i.mlp.fc{1,2}           -> transformer_blocks.i.ff.net.{0.proj,2}
    final_layer.adaLN_modulation.1 -> proj_out_1 ;  final_layer.linear -> proj_out_2

The original uses LayerNorm eps 1e-6 everywhere (diffusers' default norm_eps is 1e-5: set to 1e-6) and
the timestep frequencies exp(-log(1e4) i / half) (registry's timestep_embedding="original").

Diffusers folders: `check_diffusers_folder` reads config.json (the class must be a DiT transformer) and
the safetensors headers (every tensor the config implies, with its shape, nothing else, the file not
truncated) without loading any weight.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import struct
from typing import TYPE_CHECKING

import torch

from syncgap.theory.checks import InputError, check_choice, unique_keys

from . import model_files

if TYPE_CHECKING:
    from diffusers import DiTTransformer2DModel

# DiT family by hidden size (facebookresearch/DiT models.py DiT_S/B/L/XL): name, heads, depth.
DIT_FAMILIES = {384: ("S", 6, 12), 768: ("B", 12, 12), 1024: ("L", 16, 24), 1152: ("XL", 16, 28)}
FAMILY_HIDDEN = {name: hidden for hidden, (name, _, _) in DIT_FAMILIES.items()}
ORIGINAL_SUFFIXES = (".pt", ".pth", ".safetensors")
WEIGHT_SETS = ("ema", "model")
DIT_CLASSES = ("DiTTransformer2DModel", "Transformer2DModel")  # the hub's DiT-XL/2 config names the latter
FREQ_DIM = 256  # TimestepEmbedder frequency_embedding_size (diffusers: Timesteps(num_channels=256))
MLP_RATIO = 4
LATENT_DOWNSAMPLE = 8  # sd-vae-ft: image side = latent side x 8
CONFIG_LIMITS = {"num_layers": 256, "num_attention_heads": 1024, "attention_head_dim": 4096, "in_channels": 1024,
                 "out_channels": 2048, "sample_size": 4096, "patch_size": 64, "num_embeds_ada_norm": 10**6}
EMBEDDINGS = {"diffusers": 1, "original": 0}  # timestep embedding name -> downscale_freq_shift (registry docstring)
RANDOM_NAME = re.compile(r"^random:DiT-(S|B|L|XL)/(\d+)(?:-(\d+))?(?:-d(\d+))?$")


def dit_config(hidden: int, heads: int, depth: int, patch: int, input_size: int, in_channels: int = 4,
               learned_sigma: bool = True, num_classes: int = 1000) -> dict:
    """diffusers DiTTransformer2DModel config of an original DiT (input_size: latent side)."""
    if hidden % heads:
        raise InputError(f"heads={heads} does not divide the hidden size {hidden}")
    return dict(num_attention_heads=heads, attention_head_dim=hidden // heads, in_channels=in_channels,
                out_channels=in_channels * (2 if learned_sigma else 1), num_layers=depth, sample_size=input_size,
                patch_size=patch, num_embeds_ada_norm=num_classes, norm_eps=1e-6)


def random_config(name: str) -> dict:
    """Config of `random:DiT-<S|B|L|XL>/<patch>[-<image side>][-d<depth>]`, e.g. random:DiT-XL/2 (256 px, 28 blocks)."""
    m = RANDOM_NAME.match(name)
    if not m:
        raise InputError(f"random model {name!r}: use random:DiT-<S|B|L|XL>/<patch>[-<image side>][-d<depth>], "
                         "e.g. random:DiT-XL/2 or random:DiT-S/2-64-d2")
    fam, patch, side, depth = m.group(1), int(m.group(2)), int(m.group(3) or 256), m.group(4)
    hidden = FAMILY_HIDDEN[fam]
    _, heads, full_depth = DIT_FAMILIES[hidden]
    depth = full_depth if depth is None else int(depth)
    if patch < 1 or side < 1 or side % LATENT_DOWNSAMPLE or (side // LATENT_DOWNSAMPLE) % patch or not 1 <= depth <= 64:
        raise InputError(f"random model {name!r}: the patch must be >= 1, the image side a positive multiple of "
                         f"{LATENT_DOWNSAMPLE} x patch and the depth in [1, 64]")
    config = dit_config(hidden, heads, depth, patch, side // LATENT_DOWNSAMPLE)
    model_files.check_model_memory(config, f"random model {name!r}", 2)   # 2 bytes a value: bf16, the least
    return config


# ---------------------------------------------------------------- original checkpoints


def _safe_load(path: str, mmap: bool):
    """torch.load with weights_only=True: tensors, containers, numbers, strings and argparse.Namespace only."""
    safe = getattr(torch.serialization, "safe_globals", None)
    kw = dict(map_location="cpu", weights_only=True, mmap=mmap)
    if safe is None:  # torch < 2.5
        torch.serialization.add_safe_globals([argparse.Namespace])
        return torch.load(path, **kw)
    with safe([argparse.Namespace]):
        return torch.load(path, **kw)


def read_original_state(path: str, weights: str = "ema") -> dict:
    """The tensors of an original DiT file: a state dict, or the `weights` entry (ema|model) of a train.py checkpoint."""
    check_choice("--weights", weights, WEIGHT_SETS)
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file
            model_files.safetensors_header(path)   # every entry typed, floating, within the file
            obj = load_file(path)
        else:
            try:
                obj = _safe_load(path, mmap=True)
            except RuntimeError as exc:
                if "mmap" not in str(exc):
                    raise
                obj = _safe_load(path, mmap=False)  # legacy (non-zip) files cannot be mapped
    except InputError:
        raise
    except Exception as exc:  # truncated zip, pickle with code (refused by weights_only), not a torch file ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise InputError(f"{path}: cannot be read as a DiT checkpoint ({type(exc).__name__}: {first[:200]})") from None
    if isinstance(obj, dict) and "model" in obj and "ema" in obj:  # train.py: {"model", "ema", "opt", "args"}
        obj = obj[weights]
    if not isinstance(obj, dict) or not obj or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                       for k, v in obj.items()):
        raise InputError(f"{path}: holds no state dict of tensors (nor a train.py checkpoint with 'model'/'ema')")
    if all(k.startswith("module.") for k in obj):  # saved from a DistributedDataParallel wrapper
        obj = {k[len("module."):]: v for k, v in obj.items()}
    model_files.check_floating(path, obj)
    return obj


def _shape(state, key, path):
    if key not in state:
        raise InputError(f"{path}: not an original DiT state dict: tensor {key!r} is missing")
    return tuple(state[key].shape)


def original_config(state: dict, path: str = "checkpoint", heads: int | None = None) -> dict:
    """diffusers config from the tensor shapes: hidden, patch, channels, depth, input size, learned sigma, classes."""
    hidden, in_ch, patch, patch2 = (_shape(state, "x_embedder.proj.weight", path) + (0, 0, 0, 0))[:4]
    if patch != patch2 or patch < 1:
        raise InputError(f"{path}: x_embedder.proj.weight has shape {_shape(state, 'x_embedder.proj.weight', path)}, "
                         "expected (hidden, channels, p, p)")
    pos = _shape(state, "pos_embed", path)
    tokens = pos[1] if len(pos) == 3 else 0
    side = int(round(tokens ** 0.5))
    if side * side != tokens or side < 1:
        raise InputError(f"{path}: pos_embed has shape {pos}, expected (1, T, hidden) with T a square")
    final = _shape(state, "final_layer.linear.weight", path)
    out_ch = final[0] // (patch * patch)
    if out_ch not in (in_ch, 2 * in_ch) or out_ch * patch * patch != final[0]:
        raise InputError(f"{path}: final_layer.linear.weight has shape {final}: {final[0]} outputs are neither "
                         f"{patch}x{patch}x{in_ch} nor {patch}x{patch}x{2 * in_ch} (learned sigma)")
    table = _shape(state, "y_embedder.embedding_table.weight", path)
    blocks = {int(m.group(1)) for k in state for m in [re.match(r"blocks\.(\d+)\.", k)] if m}
    if not blocks:
        raise InputError(f"{path}: no transformer blocks (blocks.0.*) in the state dict")
    if heads is None:
        if hidden not in DIT_FAMILIES:
            raise InputError(f"{path}: hidden size {hidden} is not a DiT family's (S 384, B 768, L 1024, XL 1152); "
                             "pass --heads")
        heads = DIT_FAMILIES[hidden][1]
    elif not isinstance(heads, int) or heads < 1 or hidden % heads:
        raise InputError(f"--heads={heads} must be a positive integer dividing the hidden size {hidden}")
    return dit_config(hidden, heads, max(blocks) + 1, patch, side * patch, in_ch, out_ch == 2 * in_ch,
                      table[0] - 1)


def original_shapes(config: dict) -> dict:
    """Every tensor of the original DiT with this config, name -> shape (facebookresearch/DiT models.py)."""
    h = config["num_attention_heads"] * config["attention_head_dim"]
    p, c_in, c_out = config["patch_size"], config["in_channels"], config["out_channels"]
    tokens = (config["sample_size"] // p) ** 2
    shapes = {"x_embedder.proj.weight": (h, c_in, p, p), "x_embedder.proj.bias": (h,), "pos_embed": (1, tokens, h),
              "t_embedder.mlp.0.weight": (h, FREQ_DIM), "t_embedder.mlp.0.bias": (h,),
              "t_embedder.mlp.2.weight": (h, h), "t_embedder.mlp.2.bias": (h,),
              "y_embedder.embedding_table.weight": (config["num_embeds_ada_norm"] + 1, h)}
    for i in range(config["num_layers"]):
        b = f"blocks.{i}."
        shapes |= {b + "attn.qkv.weight": (3 * h, h), b + "attn.qkv.bias": (3 * h,), b + "attn.proj.weight": (h, h),
                   b + "attn.proj.bias": (h,), b + "mlp.fc1.weight": (MLP_RATIO * h, h),
                   b + "mlp.fc1.bias": (MLP_RATIO * h,), b + "mlp.fc2.weight": (h, MLP_RATIO * h),
                   b + "mlp.fc2.bias": (h,), b + "adaLN_modulation.1.weight": (6 * h, h),
                   b + "adaLN_modulation.1.bias": (6 * h,)}
    return shapes | {"final_layer.linear.weight": (p * p * c_out, h), "final_layer.linear.bias": (p * p * c_out,),
                     "final_layer.adaLN_modulation.1.weight": (2 * h, h),
                     "final_layer.adaLN_modulation.1.bias": (2 * h,)}


def first_mismatch(expected: dict, actual: dict) -> str | None:
    """The first tensor missing, mis-shaped or unexpected (in `expected`'s order), as a phrase; None if all match."""
    for name, shape in expected.items():
        if name not in actual:
            return f"tensor {name!r} is missing"
        if tuple(actual[name]) != tuple(shape):
            return f"tensor {name!r} has shape {tuple(actual[name])}, the config implies {tuple(shape)}"
    extra = [k for k in actual if k not in expected]
    return f"unexpected tensor {extra[0]!r}" + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else "") \
        if extra else None


def check_original_state(state: dict, config: dict, path: str = "checkpoint") -> None:
    """InputError naming `path` and the first tensor that does not fit `config`."""
    bad = first_mismatch(original_shapes(config), {k: tuple(v.shape) for k, v in state.items()})
    if bad:
        raise InputError(f"{path}: {bad}")


def convert_original_state(state: dict, config: dict) -> dict:
    """diffusers DiTTransformer2DModel state dict from an original DiT state dict (module docstring's table)."""
    out = {"pos_embed.proj.weight": state["x_embedder.proj.weight"], "pos_embed.proj.bias": state["x_embedder.proj.bias"],
           "proj_out_1.weight": state["final_layer.adaLN_modulation.1.weight"],
           "proj_out_1.bias": state["final_layer.adaLN_modulation.1.bias"],
           "proj_out_2.weight": state["final_layer.linear.weight"], "proj_out_2.bias": state["final_layer.linear.bias"]}
    for i in range(config["num_layers"]):
        src, dst = f"blocks.{i}.", f"transformer_blocks.{i}."
        emb = dst + "norm1.emb."
        for j, lin in ((0, "linear_1"), (2, "linear_2")):
            for kind in ("weight", "bias"):
                out[f"{emb}timestep_embedder.{lin}.{kind}"] = state[f"t_embedder.mlp.{j}.{kind}"]
        out[emb + "class_embedder.embedding_table.weight"] = state["y_embedder.embedding_table.weight"]
        for kind in ("weight", "bias"):
            q, k, v = state[f"{src}attn.qkv.{kind}"].chunk(3, dim=0)  # rows [q; k; v] (timm Attention)
            out |= {f"{dst}attn1.to_q.{kind}": q, f"{dst}attn1.to_k.{kind}": k, f"{dst}attn1.to_v.{kind}": v,
                    f"{dst}attn1.to_out.0.{kind}": state[f"{src}attn.proj.{kind}"],
                    f"{dst}norm1.linear.{kind}": state[f"{src}adaLN_modulation.1.{kind}"],
                    f"{dst}ff.net.0.proj.{kind}": state[f"{src}mlp.fc1.{kind}"],
                    f"{dst}ff.net.2.{kind}": state[f"{src}mlp.fc2.{kind}"]}
    return out


def set_timestep_embedding(model: DiTTransformer2DModel, kind: str) -> None:
    """Switch every block's timestep embedding to diffusers' (shift 1) or the original DiT's (shift 0)."""
    check_choice("timestep_embedding", kind, EMBEDDINGS)
    for block in model.transformer_blocks:
        block.norm1.emb.time_proj.downscale_freq_shift = EMBEDDINGS[kind]


def load_original(path: str, heads: int | None = None, weights: str = "ema",
                  dtype: torch.dtype = torch.float32) -> tuple[DiTTransformer2DModel, dict]:
    """(DiTTransformer2DModel, config) from an original DiT file, checked tensor by tensor first, with the
    original DiT's timestep embedding (frequencies exp(-log(1e4) i / half): downscale_freq_shift 0)."""
    from diffusers import DiTTransformer2DModel
    state = read_original_state(path, weights)
    config = original_config(state, path, heads)
    check_original_state(state, config, path)
    with torch.device("meta"):
        model = DiTTransformer2DModel(**config)
    model.load_state_dict(convert_original_state(state, config), strict=True, assign=True)
    model.pos_embed.pos_embed = state["pos_embed"].float().clone()  # the checkpoint's own table (non-persistent)
    set_timestep_embedding(model, "original")
    return model.to(dtype).eval(), config


# ---------------------------------------------------------------- diffusers folders


def safetensors_shapes(path: str) -> dict:
    """name -> shape from a .safetensors header, without reading the data; InputError naming the file and
    the entry when the header is not what it must be (model_files.safetensors_header) or the file is truncated."""
    return {k: shape for k, (_, shape) in model_files.safetensors_header(path).items()}


def _weight_shapes(folder: str) -> tuple[str, dict]:
    single = os.path.join(folder, "diffusion_pytorch_model.safetensors")
    if os.path.isfile(single):
        return single, safetensors_shapes(single)
    index = single + ".index.json"
    if os.path.isfile(index):
        try:
            with open(index) as f:
                files = sorted(set(json.load(f)["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise InputError(f"{index}: not a safetensors index (no weight_map)") from None
        shapes = {}
        for name in files:
            shapes |= safetensors_shapes(os.path.join(folder, name))
        return index, shapes
    binary = os.path.join(folder, "diffusion_pytorch_model.bin")
    if os.path.isfile(binary):
        state = read_original_state(binary)
        return binary, {k: tuple(v.shape) for k, v in state.items()}
    raise InputError(f"{folder}: no weights (diffusion_pytorch_model.safetensors or .bin) next to config.json")


def read_json_object(path: str, what: str) -> dict:
    """The JSON object in `path`, or an InputError naming the file and `what` it should hold (never a traceback)."""
    if not os.path.isfile(path):
        raise InputError(f"{path}: not a regular file")
    try:
        with open(path) as f:
            value = json.load(f, object_pairs_hook=unique_keys)
    except InputError as exc:                   # a key given twice
        raise InputError(f"{path}: {exc}") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise InputError(f"{path}: unreadable {what} ({type(exc).__name__})") from None
    if not isinstance(value, dict):
        raise InputError(f"{path}: not a JSON object")
    return value


def check_diffusers_folder(folder: str) -> dict:
    """The config of a save_pretrained DiT folder after checking its class and every tensor's name and shape."""
    from diffusers import DiTTransformer2DModel
    cfg_path = os.path.join(folder, "config.json")
    config = read_json_object(cfg_path, "config")
    model_files.check_config(cfg_path, config, CONFIG_LIMITS)   # before building anything: types, ranges
    cls = config.get("_class_name")
    if cls not in DIT_CLASSES or (cls == "Transformer2DModel" and config.get("norm_type") != "ada_norm_zero"):
        raise InputError(f"{cfg_path}: class {cls!r} is not a DiT transformer ({DIT_CLASSES[0]})")
    try:
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in DiTTransformer2DModel.from_config(config).state_dict().items()}
    except Exception as exc:  # a config diffusers cannot build
        raise InputError(f"{cfg_path}: not a buildable DiT config ({type(exc).__name__}: {exc})"[:300]) from None
    model_files.check_model_memory(config, f"the model of {cfg_path}", 2)   # 2 bytes a value: bf16, the least
    weights_path, shapes = _weight_shapes(folder)
    bad = first_mismatch(expected, shapes)
    if bad:
        raise InputError(f"{weights_path}: {bad}")
    tj = os.path.join(folder, "training.json")
    if os.path.isfile(tj):
        model_files.check_training(tj, read_json_object(tj, "training record"), config)
    return config
