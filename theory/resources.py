"""Resources a command will need, estimated from its sizes before anything is allocated.

A command that would allocate more memory than the machine has is refused in one line with the
estimate (InputError, exit 2), instead of dying in the allocator part way.
"""
from __future__ import annotations

import math
import os

from .checks import InputError


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation: MemAvailable of /proc/meminfo (Linux), else the
    physical memory (os.sysconf), else None (unknown: nothing is refused)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def gib(n_bytes: float) -> str:
    """A byte count in words: '23.8 GiB', '512 MiB'."""
    if n_bytes >= 2**30:
        return f"{n_bytes / 2**30:,.0f} GiB" if n_bytes >= 1000 * 2**30 else f"{n_bytes / 2**30:.3g} GiB"
    return f"{n_bytes / 2**20:.3g} MiB"


def check_memory(need_bytes: float, what: str, available: int | None = None, where: str = "this machine") -> None:
    """InputError when `need_bytes` (an estimate of the arrays `what` allocates) exceeds the memory available
    (`available`, default available_memory()); the message gives both numbers."""
    have = available_memory() if available is None else available
    if have is not None and need_bytes > have:
        raise InputError(f"{what} needs about {gib(need_bytes)} of memory; {where} has {gib(have)} available")


def check_array_memory(what: str, *shapes: tuple, itemsize: int = 8) -> None:
    """check_memory for the float64 (or `itemsize`-byte) arrays of these shapes that `what` allocates."""
    check_memory(sum(math.prod(int(n) for n in shape) for shape in shapes) * itemsize, what)


__all__ = ["available_memory", "gib", "check_memory", "check_array_memory"]
