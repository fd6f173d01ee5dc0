"""On-disk results: canonical cell hashes, atomic JSON writes, resume, and provenance.

Layout of a sweep folder (`out/`):
    out/sweep.json          the expanded configuration (written at every run)
    out/cells/<key>.json    one record per finished cell, key = cell_key(config)
    out/results.{csv,json}  the roll-up table (`rollup.py`)

A record is {"key", "config", "result", "provenance"}; "result" holds only what the
cell function returned (so it is bitwise reproducible), "provenance" the package
version, git revision (and whether the checkout had uncommitted changes), host, pid,
wall and CPU time of the run that produced it.
Writes go to a temporary file in the same folder, are fsync'ed, then renamed with
os.replace (atomic on POSIX and Windows): a reader sees the old file or the whole
new one, never half of it. Stray temporaries (`.<key>.json.*.tmp`) of a killed run
are ignored by `is_done` and `iter_records`.
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import subprocess
import tempfile
from pathlib import Path

KEY_CHARS = 16  # hex digits of sha256 kept in a cell key (64 bits)


def _canonical(obj):
    """Normalise for hashing: integral floats become ints (1.0 and 1 are the same cell)."""
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, float) and math.isfinite(obj) and obj.is_integer():
        return int(obj)
    return obj


def canonical_json(config: dict) -> str:
    """Canonical JSON of a cell configuration: sorted keys, no spaces, ASCII, integral floats as ints."""
    return json.dumps(_canonical(config), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True, allow_nan=False)


def cell_key(config: dict) -> str:
    """sha256 prefix of the canonical JSON: the cell's file name and identity."""
    return hashlib.sha256(canonical_json(config).encode("ascii")).hexdigest()[:KEY_CHARS]


def to_plain(obj, strict: bool = True):
    """Records to plain JSON types: numpy scalars/arrays to numbers/lists, NaN and inf to None.

    strict=True (cell results) rejects any other type; strict=False (CLI output) writes it as str.
    """
    if hasattr(obj, "__dataclass_fields__"):
        obj = {k: getattr(obj, k) for k in obj.__dataclass_fields__}
    if isinstance(obj, dict):
        return {str(k): to_plain(v, strict) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v, strict) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):   # numpy arrays and scalars
        return to_plain(obj.tolist(), strict)
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if not strict:
        return str(obj)
    raise TypeError(f"cell result holds a {type(obj).__name__}, which is not JSON data")


def atomic_write_text(path, text: str) -> None:
    """Write text to `path` atomically: temp file in the same folder, fsync, os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)   # mkstemp makes 0600; results are meant to be shared
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable; not possible on every platform
        dfd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def atomic_write_json(path, obj, sort_keys: bool = False) -> None:
    """JSON-encode `obj` (indent 1, keys in insertion order unless sort_keys, no NaN) and write it atomically."""
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=sort_keys, allow_nan=False) + "\n")


def cell_path(out_dir, key: str) -> Path:
    return Path(out_dir) / "cells" / f"{key}.json"


def read_record(path) -> dict | None:
    """The record in `path`, or None when it is missing, unreadable, or not a whole record."""
    try:
        with open(path, encoding="utf-8") as f:
            rec = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or not {"key", "config", "result"} <= rec.keys():
        return None
    if rec["key"] != Path(path).stem or cell_key(rec["config"]) != rec["key"]:
        return None
    return rec


def is_done(out_dir, key: str) -> bool:
    """True when the cell's result file exists and parses as a whole record of that cell."""
    return read_record(cell_path(out_dir, key)) is not None


def iter_records(out_dir):
    """Every valid record under out/cells, sorted by key; temporaries and broken files skipped."""
    folder = Path(out_dir) / "cells"
    if not folder.is_dir():
        return
    for p in sorted(folder.glob("*.json")):
        if p.name.startswith("."):
            continue
        rec = read_record(p)
        if rec is not None:
            yield rec


# ---------------------------------------------------------------- provenance

_PKG_ROOT = Path(__file__).resolve().parents[2]   # the checkout holding validation/


@functools.lru_cache(maxsize=None)
def package_version() -> str | None:
    """importlib.metadata's version of syncgap, else the version in the checkout's pyproject.toml."""
    from importlib import metadata
    try:
        return metadata.version("syncgap")
    except metadata.PackageNotFoundError:
        pass
    try:
        import tomllib
        with open(_PKG_ROOT / "pyproject.toml", "rb") as f:
            return str(tomllib.load(f)["project"]["version"])
    except (ImportError, OSError, KeyError, ValueError):
        return None


@functools.lru_cache(maxsize=None)
def git_revision() -> str | None:
    """HEAD of the syncgap git checkout this code runs from; None outside a checkout or without git."""
    try:
        out = subprocess.run(["git", "-C", str(_PKG_ROOT), "rev-parse", "--show-toplevel", "HEAD"],
                             capture_output=True, text=True, timeout=10, check=True).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    if len(out) != 2 or Path(out[0]).resolve() != _PKG_ROOT:
        return None   # installed inside some other repository: its revision says nothing about us
    return out[1]


@functools.lru_cache(maxsize=None)
def git_dirty() -> bool | None:
    """True when tracked files of the checkout differ from HEAD (results then come from uncommitted code)."""
    if git_revision() is None:
        return None
    try:
        out = subprocess.run(["git", "-C", str(_PKG_ROOT), "status", "--porcelain", "--untracked-files=no"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.strip())
