"""Sweep throughput with 1 against 2 worker processes (issue 7 target: >= 1.7x on 2 cores); prints JSON.

The same grid of mc.cloning cells (CPU-bound NumPy, the two-Gaussian mixture's exact reverse
SDE) runs on a fresh Dask LocalCluster (or the local process pool) of 1 and of 2 single-threaded
worker processes. Cluster start-up and worker imports are excluded (a warm-up cell per worker
runs first); the timed part is `run_sweep` from submission to the last record written. The 1-
and 2-worker runs alternate (--repeats), so a shared machine's load drift hits both alike;
"speedup" is the ratio of the median times (a single lucky or unlucky run moves it little),
"speedup_best" that of the fastest runs. The records of both are compared bitwise (determinism).

    python benchmarks/sweep_throughput.py [--runner dask|local] [--cells 16] [--d 32] [--n-samples 800]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path


from syncgap.validation.sweep import expand, run_sweep
from syncgap.validation.sweep.runners import local_cluster


def grid(cells: int, d: int, n_samples: int, dt: float) -> dict:
    seeds = max(1, cells // 8)
    t_clone = [0.25 + 0.5 * i for i in range(min(cells, 8))]
    return {"name": "throughput", "kind": "mc.cloning",
            "base": {"d": d, "n_samples": n_samples, "T": 5.0, "dt": dt},
            "grid": {"t_clone": t_clone, "seed": list(range(seeds))}}


def _timed(sweep, out, **kw) -> float:
    t0 = time.perf_counter()
    s = run_sweep(sweep, out, **kw)
    elapsed = time.perf_counter() - t0
    if not s.complete:
        raise SystemExit(f"sweep into {out} did not complete: {s.failed[:1]}")
    return elapsed


def measure(sweep, tmp: Path, runner: str, repeats: int) -> dict:
    """{workers: [seconds per repeat]}, the 1- and 2-worker runs interleaved so load drifts hit both."""
    times = {1: [], 2: []}
    with contextlib.ExitStack() as stack:
        clients = {}
        if runner == "dask":
            from distributed import Client
            for w in (1, 2):
                cluster = stack.enter_context(local_cluster(w))
                clients[w] = stack.enter_context(Client(cluster))
                warm = expand({"kind": "mc.cloning", "base": {"d": 2, "n_samples": 4, "T": 1.0, "dt": 0.5},
                               "grid": {"t_clone": [0.5], "seed": list(range(w))}})
                run_sweep(warm, tmp / f"warm{w}", client=clients[w])
        for r in range(repeats):
            for w in (1, 2):
                kw = {"client": clients[w]} if runner == "dask" else {"workers": w}
                times[w].append(_timed(sweep, tmp / f"w{w}-r{r}", **kw))
    return times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runner", choices=("dask", "local"), default="dask")
    ap.add_argument("--cells", type=int, default=16)
    ap.add_argument("--d", type=int, default=32)
    ap.add_argument("--n-samples", type=int, default=800)
    ap.add_argument("--dt", type=float, default=0.02)
    ap.add_argument("--repeats", type=int, default=5, help="interleaved repeats; medians and minima are reported")
    ap.add_argument("--json", action="store_true", help="accepted for symmetry; output is always JSON")
    args = ap.parse_args(argv)
    sweep = expand(grid(args.cells, args.d, args.n_samples, args.dt))
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        times = measure(sweep, Path(tmp), args.runner, max(1, args.repeats))
        recs = [[json.loads(p.read_text()) for p in sorted((Path(tmp) / f"w{w}-r0" / "cells").glob("*.json"))]
                for w in (1, 2)]
    blobs = [[json.dumps(r["result"], sort_keys=True) for r in rs] for rs in recs]
    cell_cpu = [sum(r["provenance"]["cpu_s"] for r in rs) for rs in recs]
    seconds = {w: statistics.median(t) for w, t in times.items()}
    speedup = seconds[1] / seconds[2]
    speedup_best = min(times[1]) / min(times[2])
    print(json.dumps({
        "benchmark": "sweep_throughput", "runner": args.runner, "cells": len(sweep.cells),
        "cell": {"kind": "mc.cloning", **sweep.cells[0].params, "t_clone": "varies", "seed": "varies"},
        "median_seconds": {"1_worker": round(seconds[1], 3), "2_workers": round(seconds[2], 3)},
        "all_seconds": {"1_worker": [round(t, 3) for t in times[1]], "2_workers": [round(t, 3) for t in times[2]]},
        "cells_per_s": {"1_worker": round(len(sweep.cells) / seconds[1], 3),
                        "2_workers": round(len(sweep.cells) / seconds[2], 3)},
        "cell_cpu_s": {"1_worker": round(cell_cpu[0], 3), "2_workers": round(cell_cpu[1], 3)},
        "speedup": round(speedup, 3), "speedup_best": round(speedup_best, 3), "target": 1.7, "meets_target": speedup >= 1.7,
        "identical_results": blobs[0] == blobs[1] and len(blobs[0]) == len(sweep.cells),
        "cpu_count": os.cpu_count(), "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "note": ("dask: warm single-threaded LocalCluster workers, start-up excluded" if args.runner == "dask"
                 else "local: 1 worker runs in-process; 2 workers include spawning the pool"),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
