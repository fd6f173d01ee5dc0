"""Files of a training run: the resumable checkpoint, the EMA weights and their integrity record.

- checkpoint.pt: model, EMA, optimizer, RNG, step, seconds and loss log, written atomically and read
  with torch.load(weights_only=True), so nothing in it is executed;
- diffusion_pytorch_model.safetensors (`save_pretrained` of the EMA model) with its size and sha256
  recorded in training.json, checked on load.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle

import torch

from syncgap.theory.checks import InputError


def save_checkpoint(path: str, state: dict) -> None:
    """torch.save to path.tmp, then an atomic rename: never a half-written checkpoint."""
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)                                          # atomic: never a half-written file


CHECKPOINT_KEYS = ("config", "model", "ema", "opt", "gen", "step", "seconds", "log")


def load_checkpoint(path: str) -> dict:
    """A training checkpoint read with torch.load(weights_only=True): tensors and plain containers only.

    Nothing in the file is executed: a pickle that names any other class or function (a
    `__reduce__` that calls a shell command, NumPy objects) is refused with an InputError, as are
    truncated, empty or foreign files and a checkpoint missing any of CHECKPOINT_KEYS. (The
    checkpoint holds the torch generator state as a uint8 tensor and no NumPy state.)
    """
    try:
        if os.path.isdir(path):
            raise InputError(f"checkpoint {path!r} is a folder, not a checkpoint file")
        st = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"checkpoint {path!r} is refused: it is not plain tensors and containers "
                         f"(weights_only load: {first[:200]}); nothing in it was run") from None
    except Exception as exc:        # weights_only: nothing ran; any parse failure (IndexError on b"\x80") is damage
        if isinstance(exc, InputError):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"checkpoint {path!r} cannot be read ({first[:200]}); delete it or give "
                         "another --checkpoint") from None
    if not isinstance(st, dict) or not isinstance(st.get("config"), dict):
        raise InputError(f"checkpoint {path!r} is not a syncgap training checkpoint (no config mapping)")
    return st


def check_checkpoint_keys(path: str, st: dict) -> None:
    missing = [k for k in CHECKPOINT_KEYS if k not in st]
    if missing:
        raise InputError(f"checkpoint {path!r} lacks {', '.join(missing)}; delete it or give another --checkpoint")


WEIGHTS_FILE = "diffusion_pytorch_model.safetensors"


def file_sha256(path: str) -> str:
    """sha256 hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def record_weights(out_dir: str) -> dict:
    """Add the weights file's size and sha256 to out_dir/training.json (integrity check on load)."""
    path = os.path.join(out_dir, "training.json")
    with open(path) as f:
        record = json.load(f)
    w = os.path.join(out_dir, WEIGHTS_FILE)
    record["weights"] = {"file": WEIGHTS_FILE, "bytes": os.path.getsize(w), "sha256": file_sha256(w),
                         "dtype": "float32"}
    with open(path, "w") as f:
        json.dump(record, f, indent=2)
    return record


def load_weights_(model: torch.nn.Module, folder: str) -> None:
    """Load a save_pretrained folder's safetensors weights into model (same architecture) in place."""
    from safetensors.torch import load_file

    path = os.path.join(folder, WEIGHTS_FILE)
    if not os.path.isfile(path):
        raise InputError(f"init_from/resume folder {folder!r} has no {WEIGHTS_FILE}")
    try:
        model.load_state_dict(load_file(path))
    except RuntimeError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"weights in {folder!r} do not fit this architecture ({first[:200]})") from None


def model_folder(spec: str) -> str:
    """A model folder: "zoo:NAME" is the shipped dit_bridge/zoo/NAME, anything else a path."""
    if spec.startswith("zoo:"):
        return os.path.join(os.path.dirname(os.path.abspath(__file__)), "zoo", spec[4:])
    return spec


def snapshot_state(out_dir: str, cfg: dict) -> dict | None:
    """The partial training.json of an unfinished run of config `cfg` (asdict of a TrainConfig) in out_dir
    (weights-only resume), or None."""
    path = os.path.join(out_dir, "training.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        record = json.load(f)
    done = record.get("steps_done")
    if not isinstance(done, int) or done >= cfg["steps"] or not isinstance(record.get("config"), dict):
        return None
    mine = {k: v for k, v in json.loads(json.dumps(cfg)).items() if k != "steps"}
    theirs = {k: v for k, v in {**mine, **record["config"]}.items() if k != "steps"}
    if mine != theirs:
        raise InputError(f"{path} holds a partial run of another config; delete the folder or change --out")
    return record


def write_snapshot(out_dir: str, ema: torch.nn.Module, record: dict, step: int) -> None:
    """EMA weights + a partial training.json (`record` with steps_done) in out_dir: a weights-only resume point
    that is also a loadable model (small enough to keep in the repository between sessions)."""
    ema.save_pretrained(out_dir)
    record = {**record, "steps_done": step, "notes": f"unfinished: {step} of {record['steps']} steps; " + record["notes"]}
    tmp = os.path.join(out_dir, "training.json.tmp")
    with open(tmp, "w") as f:
        json.dump(record, f, indent=2)
    os.replace(tmp, os.path.join(out_dir, "training.json"))
    record_weights(out_dir)
