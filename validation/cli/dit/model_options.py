"""Options of `syncgap dit` that load the model: --model (a zoo name, folder or file) and --device/--dtype."""
from __future__ import annotations

from syncgap.theory.checks import InputError


def load_model_for(flag: str, name: str, **kwargs):
    """`dit_bridge.registry.load_model(name, **kwargs)` with an unreadable model folder as InputError naming `flag`.

    The registry checks what it knows (names, folders, weights); a zero-length, non-JSON or
    foreign config.json, or a folder without weights, surfaces from diffusers as OSError or
    ValueError: one line, exit status 2, instead of a traceback.
    """
    import json

    from syncgap.dit_bridge.registry import load_model
    try:
        return load_model(name, **kwargs)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        if isinstance(exc, InputError):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"{flag} {name!r}: cannot load this model ({first[:240]})") from None


def setup_device(args):
    """The torch dtype of --dtype; with --device cuda, TF32 matmuls on (InputError without a CUDA device)."""
    import torch

    if args.device == "cuda":
        if not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA device is available here; use --device cpu")
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return torch.bfloat16 if args.dtype == "bf16" else torch.float32
