"""Threads of torch and Numba for a run: $SYNCGAP_THREADS, else the cores other jobs leave free."""
from __future__ import annotations

from syncgap.theory.checks import InputError

THREADS_ENV = "SYNCGAP_THREADS"   # README "How long it takes": torch/Numba threads of `syncgap validate`


def threads_for(cores: int, load: float, requested: str | None = None) -> int:
    """Compute threads for a run: `requested` ($SYNCGAP_THREADS, an integer >= 1) when given, else the cores
    this process may use less the ones other jobs keep busy (`busy_elsewhere`, rounded), at least 1.

    torch's and Numba's pools start one thread per core whatever the load; on a machine whose cores are
    busy the extra threads only wait on each other (oversubscription), so a busy machine gets fewer."""
    if requested is not None and requested.strip():
        try:
            n = int(requested)
        except ValueError:
            n = 0
        if n < 1:
            raise InputError(f"{THREADS_ENV} must be an integer >= 1, got {requested!r}")
        return n
    return max(1, int(cores) - int(round(max(float(load), 0.0))))


def busy_elsewhere() -> float:
    """Tasks other than this one running now: the runnable count of /proc/loadavg less 1 (this process).

    Not the 1-minute load average: it still counts this run's own previous commands (`make demo` runs
    `syncgap theory demo` first) and jobs that just ended, and so took a core from a quiet machine.
    Elsewhere than Linux: the 1-minute load average."""
    import os
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            running = int(f.read().split()[3].split("/")[0])
        return float(max(running - 1, 0))
    except (OSError, ValueError, IndexError):
        return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0


def set_threads(say=None) -> int:
    """Set torch's (and Numba's, when installed) thread count to threads_for(this machine); returns it."""
    import os
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    n = threads_for(cores, busy_elsewhere(), os.environ.get(THREADS_ENV))
    try:
        import torch
        torch.set_num_threads(n)
    except ImportError:   # a theory/ou-only install has no torch
        pass
    try:
        import numba
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    except ImportError:
        pass
    if say is not None:
        say(f"threads: {n} (of {cores} cores; set {THREADS_ENV} to choose)")
    return n
