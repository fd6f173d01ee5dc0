"""Benchmark: Protocol I's independent tails advanced together in one batch vs one branch after another.

Runs dit_bridge.branches.protocol_one_branches on a shipped model with batched=True and batched=False
(the same prefix, the same per-row noise), checks the final outputs agree to float tolerance, and
reports wall times and the speed-up. Prints one JSON record.
Usage: python benchmarks/protocol_tails.py --json [--model fhgm --pairs 16 --steps 30 --t-int 11 --repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch

from dataclasses import replace

from syncgap.dit_bridge.branches import protocol_one_branches
from syncgap.dit_bridge.pair_run import PairRun
from syncgap.dit_bridge.registry import load_model


def run(spec, batched, t_ints):
    t0 = time.perf_counter()
    out = [torch.cat([a, b]) for _, _, a, b in protocol_one_branches(replace(spec, batched=batched), t_ints)]
    return time.perf_counter() - t0, out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="fhgm")
    p.add_argument("--pairs", type=int, default=16)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--t-int", type=int, default=11, help="number of t_int values, evenly spread over 0..steps")
    p.add_argument("--g", type=float, default=1.0)
    p.add_argument("--sampler", default="ddpm")
    p.add_argument("--window", default="release")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    spec = PairRun(load_model(args.model, seed=0), g=args.g, n_pairs=args.pairs, seed=0, num_steps=args.steps,
                   sampler=args.sampler, window=args.window)
    t_ints = sorted({int(round(x)) for x in np.linspace(0, args.steps, args.t_int)})
    seq_t, bat_t, diff = [], [], 0.0
    for _ in range(args.repeat):   # interleaved, so drifting load hits both alike
        ts, seq = run(spec, False, t_ints)
        tb, bat = run(spec, True, t_ints)
        seq_t.append(ts), bat_t.append(tb)
        diff = max(diff, max(float((x - y).abs().max()) for x, y in zip(seq, bat)))
    out = {"model": args.model, "pairs": args.pairs, "steps": args.steps, "t_ints": t_ints, "g": args.g,
           "sampler": args.sampler, "window": args.window, "threads": args.threads,
           "sequential_s": seq_t, "batched_s": bat_t,
           "speedup_median": float(np.median(seq_t) / np.median(bat_t)),
           "speedup_best": float(min(seq_t) / min(bat_t)), "max_abs_difference": diff,
           "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
           "load_average": list(os.getloadavg())}
    print(json.dumps(out, indent=2) if args.json else out)


if __name__ == "__main__":
    main()
