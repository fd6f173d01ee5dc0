"""Sweep throughput with 1 against 2 worker processes (issue 7 target: >= 1.7x on 2 cores); prints JSON.

The same grid of mc.cloning cells (CPU-bound NumPy, the two-Gaussian mixture's exact reverse
SDE) runs on a fresh Dask LocalCluster (or the local process pool) of 1 and of 2 single-threaded
worker processes. Cluster start-up and worker imports are excluded (a warm-up cell per worker
runs first); the timed part is `run_sweep` from submission to the last record written. The
records of both runs are compared bitwise (determinism across worker counts).

    python benchmarks/sweep_throughput.py [--runner dask|local] [--cells 16] [--d 32] [--n-samples 800]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from validation.sweep import expand, run_sweep  # noqa: E402
from validation.sweep.runners import thread_env  # noqa: E402


def grid(cells: int, d: int, n_samples: int, dt: float) -> dict:
    seeds = max(1, cells // 8)
    t_clone = [0.25 + 0.5 * i for i in range(min(cells, 8))]
    return {"name": "throughput", "kind": "mc.cloning",
            "base": {"d": d, "n_samples": n_samples, "T": 5.0, "dt": dt},
            "grid": {"t_clone": t_clone, "seed": list(range(seeds))}}


def timed_run(sweep, out, workers: int, runner: str) -> float:
    if runner == "local":
        t0 = time.perf_counter()
        s = run_sweep(sweep, out, workers=workers)
        elapsed = time.perf_counter() - t0
    else:
        from distributed import Client, LocalCluster
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                          env=thread_env()) as cluster, Client(cluster) as client:
            warm = expand({"kind": "mc.cloning", "base": {"d": 2, "n_samples": 4, "T": 1.0, "dt": 0.5},
                           "grid": {"t_clone": [0.5], "seed": list(range(workers))}})
            run_sweep(warm, Path(out).with_name(Path(out).name + "-warm"), client=client)
            t0 = time.perf_counter()
            s = run_sweep(sweep, out, client=client)
            elapsed = time.perf_counter() - t0
    if not s.complete:
        raise SystemExit(f"sweep with {workers} worker(s) did not complete: {s.failed[:1]}")
    return elapsed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runner", choices=("dask", "local"), default="dask")
    ap.add_argument("--cells", type=int, default=16)
    ap.add_argument("--d", type=int, default=32)
    ap.add_argument("--n-samples", type=int, default=800)
    ap.add_argument("--dt", type=float, default=0.02)
    ap.add_argument("--json", action="store_true", help="accepted for symmetry; output is always JSON")
    args = ap.parse_args(argv)
    sweep = expand(grid(args.cells, args.d, args.n_samples, args.dt))
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        seconds = {w: timed_run(sweep, Path(tmp) / f"w{w}", w, args.runner) for w in (1, 2)}
        blobs = [{p.stem: json.dumps(json.loads(p.read_text())["result"], sort_keys=True)
                  for p in (Path(tmp) / f"w{w}" / "cells").glob("*.json")} for w in (1, 2)]
    speedup = seconds[1] / seconds[2]
    print(json.dumps({
        "benchmark": "sweep_throughput", "runner": args.runner, "cells": len(sweep.cells),
        "cell": {"kind": "mc.cloning", **sweep.cells[0].params, "t_clone": "varies", "seed": "varies"},
        "seconds": {"1_worker": round(seconds[1], 3), "2_workers": round(seconds[2], 3)},
        "cells_per_s": {"1_worker": round(len(sweep.cells) / seconds[1], 3),
                        "2_workers": round(len(sweep.cells) / seconds[2], 3)},
        "speedup": round(speedup, 3), "target": 1.7, "meets_target": speedup >= 1.7,
        "identical_results": blobs[0] == blobs[1] and len(blobs[0]) == len(sweep.cells),
        "cpu_count": os.cpu_count(), "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
