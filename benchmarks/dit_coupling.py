"""Benchmark: coupled DiT forward vs independent forwards at the same batch, and the cost of recording.

For each model: time of one forward of 2M rows [A; B] with the stock diffusers processor
(two independent replicas in one batch), of two separate forwards of M rows, and of the
coupled forward with the paper and the joint gate (g = 0.5); the coupled-to-uncoupled ratio
(target <= 1.25); and the Protocol II recorder's per-step overhead on a coupled forward (target <= 15%;
attaching and detaching the hooks, paid once per run, is timed apart and subtracted).
On a CUDA machine, also DiT-XL/2's architecture with random weights in bf16 (throughput).
Prints one JSON record. Usage: python benchmarks/dit_coupling.py --json [--pairs 8 --repeat 20]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch


from syncgap.dit_bridge.coupling import remove_coupling, set_coupling
from syncgap.dit_bridge.recording import PairRecorder
from syncgap.dit_bridge.registry import DIT_XL_2, TINY, ZOO_DIR, build_dit, load_directory, load_tiny

# Shape of the project's shipped small DiTs (dit_bridge/train.py defaults, fhgm data 16x16x1).
SMALL = dict(num_attention_heads=4, attention_head_dim=32, in_channels=1, out_channels=1, num_layers=4,
             sample_size=16, patch_size=2, num_embeds_ada_norm=10)


def _interleaved(fns: dict, repeat: int, sync) -> dict:
    """Median seconds per variant, timing the variants round-robin so load from other processes hits all alike."""
    for fn in fns.values():  # warm-up
        fn()
    sync()
    ts = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            sync()
            ts[k].append(time.perf_counter() - t)
    return {k: float(np.median(v)) for k, v in ts.items()}


def bench_model(name, model, pairs, repeat, device, dtype):
    """Median seconds of each variant for one model; returns a plain record."""
    cfg = model.config
    m = pairs
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    x = torch.randn(2 * m, cfg.in_channels, cfg.sample_size, cfg.sample_size, device=device, dtype=dtype)
    t = torch.randint(0, 1000, (2 * m,), device=device)
    y = torch.randint(0, cfg.num_embeds_ada_norm, (2 * m,), device=device)
    t_tok = (cfg.sample_size // cfg.patch_size) ** 2
    rec = PairRecorder(model, n_bands=4)

    def fwd(xx=x, tt=t, yy=y):
        with torch.no_grad():
            return model(xx, tt, yy).sample

    def variant(kind):
        def run():
            if kind == "uncoupled_batch":
                remove_coupling(model)
                return fwd()
            if kind == "two_independent":
                remove_coupling(model)
                return fwd(x[:m], t[:m], y[:m]), fwd(x[m:], t[m:], y[m:])
            set_coupling(model, 0.5, gate="joint" if kind == "coupled_joint" else "paper")
            if kind != "coupled_recorded":
                return fwd()
            rec.attach()  # as in a run: attached once, recording every step
            rec.begin_step(0, m)
            r = fwd()
            rec.detach()
            rec.records.clear()
            return r
        return run

    kinds = ("uncoupled_batch", "two_independent", "coupled_paper", "coupled_joint", "coupled_recorded")
    ts = _interleaved({k: variant(k) for k in kinds}, repeat, sync)
    remove_coupling(model)
    out = {"model": name, "pairs": m, "rows": 2 * m, "layers": cfg.num_layers, "tokens": t_tok,
           "hidden": cfg.num_attention_heads * cfg.attention_head_dim, "device": device, "dtype": str(dtype),
           "repeat": repeat, **{f"{k}_s": v for k, v in ts.items()}}
    for gate in ("paper", "joint"):
        out[f"ratio_{gate}"] = ts[f"coupled_{gate}"] / ts["uncoupled_batch"]
    attach = _interleaved({"attach": lambda: (rec.attach(), rec.detach())}, repeat, sync)["attach"]
    out["attach_detach_s"] = attach  # paid once per run, not per step
    out["recording_overhead"] = (ts["coupled_recorded"] - attach) / ts["coupled_paper"] - 1.0
    if device == "cuda":
        out["coupled_images_per_s"] = 2 * m / ts["coupled_paper"]
        out["uncoupled_images_per_s"] = 2 * m / ts["uncoupled_batch"]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=8, help="pairs M (the batch has 2M rows)")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--xl-pairs", type=int, default=16, help="pairs for the DiT-XL/2 run on CUDA")
    p.add_argument("--json", action="store_true", help="print JSON (the only output format)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    results = [bench_model("tiny", load_tiny().model, args.pairs, args.repeat, "cpu", torch.float32)]
    zoo = os.path.join(ZOO_DIR, "fhgm")
    if os.path.isfile(os.path.join(zoo, "config.json")):
        results.append(bench_model("fhgm", load_directory(zoo).model, args.pairs, args.repeat, "cpu", torch.float32))
    else:
        results.append(bench_model("small (zoo shape, random)", build_dit(SMALL), args.pairs, args.repeat, "cpu",
                                   torch.float32))
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        xl = build_dit(DIT_XL_2, dtype=torch.bfloat16).to("cuda")
        results.append(bench_model("DiT-XL/2 (random, bf16)", xl, args.xl_pairs, max(5, args.repeat // 2), "cuda",
                                   torch.bfloat16))
    record = {"benchmark": "dit_coupling", "torch": torch.__version__, "threads": torch.get_num_threads(),
              "cuda": torch.cuda.is_available(), "targets": {"ratio": 1.25, "recording_overhead": 0.15},
              "results": results, "tiny_config": TINY}
    json.dump(record, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
