"""Benchmark: seconds of `dit_bridge.gains.layer_gains` per layer (capture pass excluded).

Models: tiny, the shipped small-DiT shape (random weights, D = 128: exact channel trace), and
DiT-XL/2's layer shape (random weights, 2 layers, Rademacher probes). Prints one JSON record.
Usage: python benchmarks/dit_gains.py --json [--modes 16 --samples 2 --probes 16 --device cpu]
"""
from __future__ import annotations

import argparse
import json
import time

import torch


from syncgap.dit_bridge.gains import capture_attn_inputs, gains_from_hidden
from syncgap.dit_bridge.registry import DIT_XL_2, TINY, record_from_model, build_dit

SMALL = dict(num_attention_heads=4, attention_head_dim=32, in_channels=1, out_channels=1, num_layers=4,
             sample_size=16, patch_size=2, num_embeds_ada_norm=10)


def _time(name, cfg, args, n_probes):
    rec = record_from_model(name, build_dit(cfg, seed=0).to(args.device), "random")
    hidden = capture_attn_inputs(rec, 0, num_steps=50, n_samples=args.samples)["hidden"]
    t0 = time.perf_counter()
    g = gains_from_hidden(rec, hidden, n_modes=args.modes, n_probes=n_probes)
    if args.device == "cuda":
        torch.cuda.synchronize()
    sec = time.perf_counter() - t0
    return {"model": name, "layers": len(hidden), "tokens": int(next(iter(hidden.values())).shape[1]),
            "hidden": int(next(iter(hidden.values())).shape[2]), "modes": int(g.chi.shape[1]),
            "probes": g.n_probes, "exact_channels": g.exact_channels, "samples": args.samples,
            "seconds_per_layer": sec / len(hidden)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--modes", type=int, default=16)
    p.add_argument("--samples", type=int, default=2)
    p.add_argument("--probes", type=int, default=16, help="Rademacher probes for the XL-shaped layer")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--no-xl", action="store_true", help="skip the DiT-XL/2-shaped layer")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    rows = [_time("tiny", TINY, args, 64), _time("small-shape", SMALL, args, 64)]
    if not args.no_xl:
        rows.append(_time("dit-xl-2-shape", dict(DIT_XL_2, num_layers=2), args, args.probes))
    record = {"device": args.device, "threads": torch.get_num_threads(), "results": rows}
    print(json.dumps(record, indent=2 if args.json else None))


if __name__ == "__main__":
    main()
