"""DiT cells in one process on all threads against forked one-thread workers (validation.cell_workers): the same
FHGM-DiT Protocol I cells (bf16 where the CPU has native bf16, else fp32), computed once each way into two
folders; prints the wall times, the ratio and whether every cell's result is bit-identical. One run. Like the
`syncgap` command (validation/cli/main.py) it sets OMP_WAIT_POLICY=PASSIVE unless set, so both sides run as
`syncgap validate` runs them.

    python benchmarks/cell_workers.py [--cells 4] [--pairs 48] [--threads 2] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # before torch loads libgomp: what `syncgap` does

import numba  # noqa: E402
import torch  # noqa: E402

from syncgap.dit_bridge.precision import model_in, resolve_dtype  # noqa: E402
from syncgap.dit_bridge.protocols import protocol_one  # noqa: E402
from syncgap.dit_bridge.registry import load_model  # noqa: E402
from syncgap.validation.cell_workers import CellWorkers, fork_safe_numba  # noqa: E402
from syncgap.validation.suites.dit import cells as dit_cells  # noqa: E402
from syncgap.validation.suites.dit.settings import DEMO_DESIGN  # noqa: E402


def run(folder: str, workers: int, model, p1: dict, gates: list[float]) -> tuple[float, list[dict]]:
    """Wall seconds to compute one Protocol I cell per g with `workers` processes, and the cells' results."""
    t0 = time.perf_counter()
    with CellWorkers(workers) as pool:
        cells = [pool.submit(os.path.join(folder, f"p1_g{g:g}.json"), {"g": g},
                             lambda g=g: protocol_one(model, g, fit=False, **p1)) for g in gates]
        results = [pool.result(c)[0]["result"] for c in cells]
    return time.perf_counter() - t0, results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", type=int, default=4)
    ap.add_argument("--pairs", type=int, default=48)
    ap.add_argument("--threads", type=int, default=2, help="threads of the one process, and the workers forked")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    fork_safe_numba()
    torch.set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    loaded = load_model("fhgm")
    dtype = resolve_dtype("auto")
    model = model_in(loaded, dtype)
    mix = dit_cells.fhgm_mixture(loaded)
    p1 = dict(t_ints=list(DEMO_DESIGN.t_ints), n_pairs=args.pairs, seed=0, num_steps=30,
              scales=dit_cells.unit_scales(loaded, mix), patterns=mix.patterns)
    gates = [0.25 * 2 ** i for i in range(args.cells)]
    with tempfile.TemporaryDirectory() as tmp:
        one_s, one = run(os.path.join(tmp, "one"), 1, model, p1, gates)
        forked_s, forked = run(os.path.join(tmp, "forked"), args.threads, model, p1, gates)
    out = {"model": "fhgm", "dtype": dtype, "cells": args.cells, "pairs": args.pairs, "threads": args.threads,
           "one_process_s": round(one_s, 2), "workers_s": round(forked_s, 2), "ratio": round(one_s / forked_s, 3),
           "bit_identical": json.dumps(one, sort_keys=True) == json.dumps(forked, sort_keys=True),
           "omp_wait_policy": os.environ["OMP_WAIT_POLICY"], "load_average": os.getloadavg()[0]}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{args.cells} cells, {args.pairs} pairs, {dtype}: one process on {args.threads} threads "
              f"{out['one_process_s']} s, {args.threads} one-thread workers {out['workers_s']} s "
              f"({out['ratio']}x); bit-identical: {out['bit_identical']}")


if __name__ == "__main__":
    main()
