"""Provenance of a sweep's cells: the package version and the git revision of the code that computed them
(written into each record by sweep/worker.py).
"""
from __future__ import annotations

import functools
import subprocess
from pathlib import Path

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
