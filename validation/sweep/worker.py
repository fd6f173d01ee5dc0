"""One cell computed where it runs (this process, a pool process or a Dask worker): the kind's function
called on the cell's parameters, its result made plain, and the provenance of the run added (`provenance.py`)."""
from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from datetime import datetime, timezone

from syncgap.validation.store import to_plain
from syncgap.validation.sweep.provenance import git_dirty, git_revision, package_version


def run_cell(function: Callable[..., dict], params: dict) -> dict:
    """{"result": function(**params) made plain, "provenance": version, git revision, host, pid, times}."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = function(**params)
    if not isinstance(out, dict):
        raise TypeError(f"cell function {function.__module__}:{function.__qualname__} returned "
                        f"{type(out).__name__}, expected a dict")
    return {"result": to_plain(out),
            "provenance": {"syncgap_version": package_version(), "git_revision": git_revision(),
                           "git_dirty": git_dirty(),
                           "host": socket.gethostname(), "pid": os.getpid(),
                           "elapsed_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                           "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}}


__all__ = ["run_cell"]
