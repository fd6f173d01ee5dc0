"""One run per output folder: an advisory lock on OUT/.syncgap.lock while a run writes there.

Two runs given the same `--out` would compute everything twice and interleave their appends;
the second one now refuses at once with one line (InputError, exit status 2) naming the first
one's process id. The lock is `flock` on an open file, so the kernel drops it when the process
ends, however it ends (a kill leaves no stale lock). A process holds each folder's lock once:
taking it again (a resume inside the same process) is a no-op until `release`.
"""
from __future__ import annotations

import contextlib
import os

from syncgap.theory.checks import InputError

try:
    import fcntl
except ImportError:                      # not POSIX: no lock (the suite targets Linux and macOS)
    fcntl = None

LOCK_NAME = ".syncgap.lock"
_HELD: dict[str, int] = {}


def lock_folder(path, flag: str = "--out") -> bool:
    """Take the lock of the existing folder `path`; InputError if another process holds it.

    Returns True if this call took it, False if this process already held it.
    """
    key = os.path.realpath(path)
    if key in _HELD or fcntl is None:
        return False
    try:
        fd = os.open(os.path.join(key, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise InputError(f"{flag} {str(path)!r}: cannot create its lock file ({exc.strerror or exc})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 32).decode("ascii", "replace").strip()
        os.close(fd)
        raise InputError(f"{flag} {str(path)!r} is in use by another run"
                         f"{f' (pid {holder})' if holder.isdigit() else ''}; wait for it to finish or use "
                         "another folder") from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    _HELD[key] = fd
    return True


def release(path=None) -> None:
    """Release the lock of `path` (every lock this process holds if None)."""
    keys = list(_HELD) if path is None else [os.path.realpath(path)]
    for key in keys:
        fd = _HELD.pop(key, None)
        if fd is not None:
            os.close(fd)                 # closing the descriptor drops the flock


@contextlib.contextmanager
def folder_lock(path, flag: str = "--out"):
    """Hold the lock of `path` for the block (left held if this process already held it)."""
    took = lock_folder(path, flag)
    try:
        yield
    finally:
        if took:
            release(path)
