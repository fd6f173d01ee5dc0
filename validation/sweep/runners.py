"""Run a sweep's unfinished cells: in-process, on a local process pool, or on a Dask cluster.

Only the driver writes results: each finished cell is written atomically as soon as it
arrives (`validation/store.py`), so workers need no shared filesystem and an interrupted sweep keeps
everything that finished. A rerun skips every cell whose record exists and parses.
A cell that raises is reported as failed (no file) and the sweep goes on; the rerun
retries it.

Threads: cells run one per process. Pool and LocalCluster worker processes start with
NUMBA_NUM_THREADS, OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS set to 1
(unless already set in the environment), so N workers on N cores do not oversubscribe;
Numba and OpenBLAS read these only at import, hence they are set before the process
starts (`local_cluster`: Dask's pre-spawn environment, not the nanny's `env=`). On an
existing cluster (`scheduler=ADDRESS`) start the workers the same way:

    NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 dask worker ADDRESS --nthreads 1 [--resources GPU=1]

with the glibc thresholds and the profiler switch of `local_cluster` in a Dask config file
(validation/sweep/README.md shows it: the nanny overrides MALLOC_* from the shell).

(one thread per worker also keeps Numba's default workqueue threading layer, which is not
thread-safe, from being entered by two cells at once). GPU kinds are submitted with
`resources={"GPU": 1}`; give each GPU worker its own CUDA_VISIBLE_DEVICES.
"""
from __future__ import annotations

import contextlib
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from syncgap.theory.checks import InputError, check_int
from syncgap.validation.store import atomic_write_json, sealed

from syncgap.validation.sweep import kinds
from syncgap.validation.sweep.lock import folder_lock
from syncgap.validation.sweep.pool import run_pool
from syncgap.validation.sweep.rollup import write_table
from syncgap.validation.sweep.cell_files import cell_path, is_done
from syncgap.validation.sweep.worker import run_cell

THREAD_VARS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def thread_env() -> dict:
    """One thread per worker process, unless the user already chose a value."""
    return {k: os.environ.get(k, "1") for k in THREAD_VARS}


def dask_worker_env() -> dict:
    """thread_env() plus glibc's MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ = 4 MiB for Dask workers.

    Dask's nanny sets MALLOC_TRIM_THRESHOLD_=64 KiB, which also freezes glibc's mmap threshold at
    128 KiB (every NumPy temporary above it is mmap'ed afresh, the heap trimmed after almost every
    free); timings in benchmarks/RESULTS.md. Values in os.environ win.
    """
    return {**thread_env(), **{k: os.environ.get(k, "4194304")
                               for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")}}


# Dask's periodic work that only a dashboard or a long-lived shared cluster needs; its idle CPU
# cost, which comes out of the cells' share on a small machine, is in benchmarks/RESULTS.md.
QUIET_CLUSTER = {
    "distributed.worker.profile.enabled": False,           # a stack walk of every worker every 10 ms
    "distributed.admin.tick.interval": "1s",               # event-loop lag probe, 20 ms by default
    "distributed.worker.memory.monitor-interval": "1s",    # the nanny's RSS poll, 100 ms by default
    "distributed.admin.system-monitor.interval": "5s",     # dashboard CPU/memory series, 500 ms
}


def local_cluster(n_workers: int, resources: dict | None = None, **kwargs):
    """A Dask LocalCluster of single-threaded worker processes, dask_worker_env() set before they start, QUIET_CLUSTER.

    The variables go into "distributed.nanny.pre-spawn-environ" (a nanny's `env=` is applied
    only after the worker's interpreter has started: too late for glibc and OpenBLAS); the
    nanny keeps them for the workers it restarts. Values already in os.environ win.
    """
    import dask
    from distributed import LocalCluster

    pre = {**(dask.config.get("distributed.nanny.pre-spawn-environ", default=None) or {}), **dask_worker_env()}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": pre, **QUIET_CLUSTER}):
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                            dashboard_address=None, resources=resources, **kwargs)


@dataclass
class SweepSummary:
    """What a run did: counts, failures (key, config, error), timings and the roll-up tables."""

    name: str
    out_dir: str
    runner: str
    workers: int
    total: int
    skipped: int = 0
    done: int = 0
    failed: list = field(default_factory=list)
    elapsed_s: float = 0.0
    table_csv: str | None = None
    table_json: str | None = None

    @property
    def complete(self) -> bool:
        return not self.failed and self.skipped + self.done == self.total


class _Recorder:
    """Writes finished cells and reports progress events to an optional callback."""

    def __init__(self, out_dir, summary, progress):
        self.out, self.summary, self.progress = Path(out_dir), summary, progress
        self.count = 0
        self.todo = 0

    def emit(self, **event):
        if self.progress is not None:
            self.progress(event)

    def done(self, cell, payload):
        recorder = sealed({"key": cell.key, "config": cell.config, **payload})
        atomic_write_json(cell_path(self.out, cell.key), recorder)
        self.summary.done += 1
        self.count += 1
        self.emit(event="done", index=self.count, todo=self.todo, key=cell.key, config=cell.config,
                  elapsed_s=payload["provenance"]["elapsed_s"])

    def failed(self, cell, exc):
        """Report a failed cell; `exc` is the exception, or its one-line description from a worker."""
        msg = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}".strip()
        self.summary.failed.append({"key": cell.key, "config": cell.config, "error": msg})
        self.count += 1
        self.emit(event="failed", index=self.count, todo=self.todo, key=cell.key, config=cell.config, error=msg)


@contextlib.contextmanager
def _env(values: dict):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run_sequential(todo, recorder):
    for cell in todo:
        try:
            payload = run_cell(kinds.get_kind(cell.kind, allow_code=True).function, cell.params)
        except Exception as exc:   # a bug or bad value in one cell must not stop the sweep
            recorder.failed(cell, exc)
        else:
            recorder.done(cell, payload)


def _run_pool(todo, recorder, workers):
    """Cells on a pool of spawned processes (`pool.run_pool`): a dead worker fails only its own cell."""
    with _env(thread_env()):                      # read by each worker process as it starts
        run_pool([(c, kinds.get_kind(c.kind, allow_code=True).function) for c in todo], recorder, workers)


def _local_gpus() -> int:
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _connect(scheduler, workers, gpu_kinds, recorder):
    """(client, cluster or None) for 'local' (a new LocalCluster) or an existing scheduler address."""
    try:
        from distributed import Client
    except ImportError:
        raise InputError("--scheduler needs dask.distributed: pip install 'syncgap[sweep]'") from None
    if scheduler == "local":
        resources = None
        if gpu_kinds:
            if not _local_gpus():
                raise InputError(f"kind {gpu_kinds[0]!r} needs a GPU and this machine has none visible")
            resources = {"GPU": 1}
            recorder.emit(event="warning", message="all local workers share this machine's GPUs; "
                     "use --workers equal to the number of GPUs")
        cluster = local_cluster(workers, resources=resources)
        return Client(cluster), cluster
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise InputError(f"--scheduler: cannot connect to {scheduler!r}: {exc}") from None
    return client, None


def _check_cluster(client, gpu_kinds, recorder, where):
    try:
        client.wait_for_workers(1, timeout=60)
    except TimeoutError:
        raise InputError(f"--scheduler: the cluster at {where} has no workers (waited 60 s)") from None
    infos = client.scheduler_info(n_workers=-1).get("workers", {}).values()
    if gpu_kinds and not any(w.get("resources", {}).get("GPU", 0) >= 1 for w in infos):
        raise InputError(f"kind {gpu_kinds[0]!r} needs a GPU: no worker at {where} advertises one; "
                         "start GPU workers with `dask worker ADDRESS --nthreads 1 --resources GPU=1`")
    many = sorted({w.get("nthreads", 1) for w in infos if w.get("nthreads", 1) > 1})
    if many:
        recorder.emit(event="warning", message=f"workers run {many[-1]} threads each: cells then share a "
                 "process, and Numba's default threading layer is not thread-safe; start workers "
                 "with --nthreads 1")
    return len(infos)


def _run_dask(todo, recorder, client):
    from distributed import as_completed as dask_completed

    token = uuid.uuid4().hex[:8]
    by_key, futs = {}, []
    for i, cell in enumerate(todo):
        kind = kinds.get_kind(cell.kind, allow_code=True)
        fut = client.submit(run_cell, kind.function, cell.params, key=f"syncgap-{cell.key}-{token}",
                            pure=False, priority=-i, resources={"GPU": 1} if kind.gpu else None)
        by_key[fut.key] = cell
        futs.append(fut)
    try:
        for fut in dask_completed(futs):
            cell = by_key[fut.key]
            try:
                payload = fut.result()
            except Exception as exc:   # a cell's own error, or KilledWorker when its worker died
                recorder.failed(cell, exc)
            else:
                recorder.done(cell, payload)
            fut.release()
    except BaseException:
        client.cancel(futs)
        raise


def run_sweep(sweep, out_dir, *, scheduler: str | None = None, workers: int | None = None,
              client=None, progress=None) -> SweepSummary:
    """Run every unfinished cell of `sweep` into `out_dir` and roll the results up.

    scheduler None: local (workers=1 in this process, else a spawn process pool of
    `workers`, default the CPU count); "local": a new Dask LocalCluster of `workers`
    processes; an address ("tcp://host:8786"): that Dask cluster. `client`: an existing
    distributed.Client (tests reuse one cluster). `progress(event: dict)` receives
    "start", "warning", "done" and "failed" events.
    """
    t0 = time.perf_counter()
    if workers is not None:
        workers = check_int("workers", workers, 1, 4096)
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise InputError(f"scheduler must be 'local' or a Dask scheduler address, got {scheduler!r}")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"out: cannot create the output folder {str(out)!r}: {exc.strerror}") from None
    with folder_lock(out):                       # one run per folder: a second one refuses at once
        return _run_sweep_locked(sweep, out, scheduler, workers, client, progress, t0)


def _run_sweep_locked(sweep, out, scheduler, workers, client, progress, t0) -> SweepSummary:
    atomic_write_json(out / "sweep.json", {"name": sweep.name, "source": sweep.source, "config": sweep.config,
                                           "cells": [{"key": c.key, "config": c.config} for c in sweep.cells]})
    todo = kinds.longest_first([c for c in sweep.cells if not is_done(out, c.key)])
    gpu_kinds = sorted({c.kind for c in todo if kinds.get_kind(c.kind, allow_code=True).gpu})
    use_dask = client is not None or scheduler is not None
    if use_dask:
        runner = "dask"
    else:
        workers = min(workers or os.cpu_count() or 1, max(len(todo), 1))
        runner = "sequential" if workers == 1 else "process-pool"
    summary = SweepSummary(sweep.name, str(out), runner, workers or 0, len(sweep.cells),
                           skipped=len(sweep.cells) - len(todo))
    recorder = _Recorder(out, summary, progress)
    recorder.todo = len(todo)
    own_client = cluster = None
    try:
        if use_dask and todo:
            if client is None:
                own_client, cluster = _connect(scheduler, workers or os.cpu_count() or 1, gpu_kinds, recorder)
                client = own_client
            summary.workers = _check_cluster(client, gpu_kinds, recorder, scheduler or "the given client")
        recorder.emit(event="start", total=summary.total, skipped=summary.skipped, todo=len(todo),
                 runner=runner, workers=summary.workers)
        if not todo:
            pass
        elif runner == "dask":
            _run_dask(todo, recorder, client)
        elif runner == "sequential":
            _run_sequential(todo, recorder)
        else:
            _run_pool(todo, recorder, workers)
    finally:
        if own_client is not None:
            own_client.close()
        if cluster is not None:
            cluster.close()
    summary.table_csv, summary.table_json = (str(p) for p in write_table(out, sweep.cells))
    summary.elapsed_s = time.perf_counter() - t0
    return summary
