"""A Dask cluster of one worker per GPU on this machine, for DiT sweeps (docs/gpus.md).

Each worker is a single-threaded process started with CUDA_VISIBLE_DEVICES set to its own GPU
(so `cuda` inside it is that GPU alone) and advertising the resource GPU=1, so the runner
(`runners.py`: cells of `gpu=True` kinds are submitted with resources={"GPU": 1}) never puts two
DiT cells on one GPU. The driver writes every finished cell at once, so a sweep stopped at any
point resumes by running it again: finished cells are skipped.

    from syncgap.validation.sweep import load_sweep, run_sweep
    from syncgap.validation.sweep.gpus import gpu_cluster
    with gpu_cluster() as cluster, Client(cluster) as client:
        run_sweep(load_sweep("p2_dit_xl.yaml"), "runs/p2", client=client)

On a CPU-only machine `gpu_cluster(n, devices=[...])` builds the same cluster with pretend GPUs
(tests use it with DiT cells on the CPU).
"""
from __future__ import annotations

from syncgap.theory.checks import InputError, check_int

from syncgap.validation.sweep.runners import QUIET_CLUSTER, dask_worker_env


def visible_gpus() -> list[str]:
    """Indices of the CUDA devices this process sees ("0", "1", ...); empty without torch or CUDA."""
    try:
        import torch
    except ImportError:
        return []
    return [str(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def gpu_worker_specs(devices: list[str]) -> dict:
    """SpecCluster worker specs: one single-threaded Nanny per device, CUDA_VISIBLE_DEVICES=device, GPU=1."""
    from distributed import Nanny
    return {f"gpu{d}": {"cls": Nanny, "options": {"nthreads": 1, "resources": {"GPU": 1},
                                                  "env": {**dask_worker_env(), "CUDA_VISIBLE_DEVICES": str(d)}}}
            for d in devices}


def gpu_cluster(n_gpus: int | None = None, devices: list[str] | None = None):
    """A Dask SpecCluster of one worker per GPU (default: every visible GPU, or the first n_gpus)."""
    import dask
    from distributed import Scheduler, SpecCluster
    devices = list(devices) if devices is not None else visible_gpus()
    if n_gpus is not None:
        n_gpus = check_int("n_gpus", n_gpus, 1, 4096)
        if n_gpus > len(devices):
            raise InputError(f"n_gpus={n_gpus} but {len(devices)} GPU(s) are visible here")
        devices = devices[:n_gpus]
    if not devices:
        raise InputError("no GPU is visible here: a GPU cluster needs at least one (or pass devices=[...])")
    pre = {**(dask.config.get("distributed.nanny.pre-spawn-environ", default=None) or {}), **dask_worker_env()}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": pre, **QUIET_CLUSTER}):
        return SpecCluster(workers=gpu_worker_specs(devices),
                           scheduler={"cls": Scheduler, "options": {"dashboard_address": None}})
