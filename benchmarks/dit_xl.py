"""Benchmark: the coupled DiT-XL/2 forward on the device at hand (random weights, nothing downloaded).

Reports (JSON with --json, docs/json.md shape: one record per timed variant, the figures in summary):
- pairs*steps/s of the coupled forward (one sampler step of M pairs = one forward of 2M rows [A; B]);
- coupled / uncoupled forward time at the same batch, and the Protocol II recording overhead;
- the fraction of the device's dense matmul peak reached by the coupled forward, the peak measured
  in the same run by a large matmul (bf16 on CUDA, fp32 on a CPU), counting the model's useful
  multiply-adds only (`dit_forward_macs`: about 119 GMAC per 256x256 image for DiT-XL/2);
- the projected time of P2's full Protocol I experiment on DiT-XL/2 (250 sampler steps, 64 pairs,
  11 t_int values, 6 values of g, one window variant, no guidance) from the timing of one g;
- with --precision, that experiment's gap interval half-width, projected from a Protocol I run of
  the shipped FHGM-DiT (its per-pair spread; `projected_halfwidth` states the scaling assumed).

    python benchmarks/dit_xl.py --json                      # DiT-XL/2, cuda if available, bf16 there
    python benchmarks/dit_xl.py --json --small --device cpu # XL width, 2 blocks, 8x8 latents: seconds on a CPU
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from syncgap.dit_bridge.checkpoints import random_config
from syncgap.dit_bridge.coupling import remove_coupling, set_coupling
from syncgap.dit_bridge.recording import PairRecorder
from syncgap.dit_bridge.registry import build_dit

P2 = {"num_steps": 250, "n_pairs": 64, "n_t_int": 11, "n_g": 6}


def dit_forward_macs(config: dict) -> float:
    """Multiply-adds of one image's DiT forward: L (12 T H^2 + 2 T^2 H) + T H p^2 (C_in + C_out).

    Per block and token: q, k, v, out projections 4 H^2 and the 4x MLP 8 H^2; attention 2 T^2 H per
    block (Q K^T and A V); patch embedding and final projection T H p^2 C each (Peebles & Xie 2023,
    Table 4: DiT-XL/2 at 256x256 is 118.6 Gflops, counted as multiply-adds). adaLN and the
    embedders act once per image, not per token, and are left out (< 0.1%).
    """
    h = config["num_attention_heads"] * config["attention_head_dim"]
    p = config["patch_size"]
    t = (config["sample_size"] // p) ** 2
    c_out = config["out_channels"] or config["in_channels"]
    return config["num_layers"] * (12 * t * h * h + 2 * t * t * h) + t * h * p * p * (config["in_channels"] + c_out)


def p2_forward_steps(num_steps: int, n_t_int: int) -> tuple[int, int]:
    """(coupled, independent) sampler steps of one g of Protocol I with a shared coupled prefix.

    The prefix runs num_steps coupled steps once, branched at each t_int; branch t_int runs
    num_steps - t_int independent steps (t_int = linspace(0, num_steps, n_t_int), protocols.py).
    """
    t_ints = np.unique(np.linspace(0, num_steps, n_t_int).round().astype(int))
    return num_steps, int(np.sum(num_steps - t_ints))


def projected_halfwidth(halfwidth: float, n_pairs: int, num_steps: int, target_pairs: int, target_steps: int) -> float:
    """Gap interval half-width projected to another experiment: x sqrt(n_pairs / target_pairs) (a bootstrap
    interval over independent pairs narrows as 1/sqrt(pairs)) x target_steps / num_steps (the gap is
    measured in sampler steps, which scale with the grid when the commitment times are fixed fractions
    of the trajectory). An assumption, not a measurement: it holds if the per-pair spread stays the same."""
    return halfwidth * (n_pairs / target_pairs) ** 0.5 * target_steps / num_steps


def fhgm_precision(n_pairs: int, num_steps: int, g: float = 0.5) -> dict:
    """Protocol I on the shipped FHGM-DiT (CPU, seconds): its gap interval, projected to P2's 64 pairs and 250 steps."""
    import math

    from syncgap.dit_bridge.commitment import default_scales
    from syncgap.dit_bridge.protocols import protocol_one
    from syncgap.dit_bridge.registry import load_model
    rec = load_model("fhgm")
    scales = [x for x in default_scales(min(rec.sample_shape[1:])) if x > 1]  # FHGM features have zero mean
    r = protocol_one(rec, g, n_pairs=n_pairs, num_steps=num_steps, n_boot=200, scales=scales)
    gap = {k: (r[k] if r[k] is not None and math.isfinite(r[k]) else None) for k in ("gap", "gap_low", "gap_high")}
    out = {"model": "fhgm", "g": g, "n_pairs": n_pairs, "num_steps": num_steps, "scales": ",".join(map(str, scales)),
           **gap}
    if gap["gap_low"] is None or gap["gap_high"] is None:
        return out | {"p2_gap_halfwidth_steps": None, "p2_gap_halfwidth_steps_reason": "no gap interval measured"}
    hw = (gap["gap_high"] - gap["gap_low"]) / 2
    return out | {"gap_halfwidth_steps": hw, "p2_gap_halfwidth_steps": projected_halfwidth(
        hw, n_pairs, num_steps, P2["n_pairs"], P2["num_steps"])}


def _sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def interleaved(variants: dict, repeat: int, device: str) -> dict:
    """Median seconds per variant {name: (setup, fn)}, timing fn() round-robin (setup untimed), so that
    load from other processes hits every variant alike; two warm-up rounds first."""
    times = {k: [] for k in variants}
    for r in range(repeat + 2):
        for name, (setup, fn) in variants.items():
            setup()
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            if r >= 2:
                times[name].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


def matmul_variant(device: str, dtype, n: int):
    """(no setup, one product of random n x n matrices): 2 n^3 FLOP, the dense matmul peak's probe."""
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    return (lambda: None, lambda: a @ b)


def run(args) -> dict:
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available here")
    dtype = torch.bfloat16 if (args.dtype or ("bf16" if device == "cuda" else "fp32")) == "bf16" else torch.float32
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    name = "random:DiT-XL/2-64-d2" if args.small else "random:DiT-XL/2"
    config = random_config(name)
    n_mm = args.matmul_n or (8192 if device == "cuda" else 1024)
    model = build_dit(config, seed=0, dtype=dtype, device=device)
    m = args.pairs
    side, ch = config["sample_size"], config["in_channels"]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2 * m, ch, side, side, generator=gen).to(device, dtype)  # (2M, C, H, W) rows [A; B]
    t = torch.full((2 * m,), 500, device=device)
    y = torch.randint(0, 1000, (2 * m,), generator=gen).to(device)
    if args.compile:
        model.forward = torch.compile(model.forward, dynamic=False)

    def forward():
        with torch.no_grad():
            model(x, t, y)

    recorder = PairRecorder(model, steps=[0])  # hooks attached throughout; they reduce only at step 0

    def setup(coupled: bool, record: bool):
        def go():
            set_coupling(model, 0.5, gate="paper") if coupled else remove_coupling(model)
            recorder.begin_step(0 if record else 1, m)  # step 1: the hooks return at once
        return go

    with recorder:
        ts = interleaved({"uncoupled": (setup(False, False), forward), "coupled": (setup(True, False), forward),
                          "recorded": (setup(True, True), forward),
                          "matmul": matmul_variant(device, dtype, n_mm)}, args.repeat, device)
    remove_coupling(model)
    t_unc, t_cpl, t_rec = ts["uncoupled"], ts["coupled"], ts["recorded"]
    peak = 2.0 * n_mm ** 3 / ts["matmul"]  # measured in the same rounds as the model, under the same load
    macs = dit_forward_macs(config)
    achieved = 2.0 * macs * 2 * m / t_cpl
    coupled_steps, tail_steps = p2_forward_steps(P2["num_steps"], P2["n_t_int"])
    scale = P2["n_pairs"] / m  # time per step taken proportional to the batch (exact at --pairs 64)
    one_g = scale * (coupled_steps * t_cpl + tail_steps * t_unc)
    records = [{"variant": v, "seconds_per_forward": s, "rows": 2 * m, "pairs_steps_per_s": m / s}
               for v, s in (("uncoupled", t_unc), ("coupled_paper", t_cpl), ("coupled_paper_recorded", t_rec))]
    return {"schema": "syncgap.bench.dit_xl/1",
            "meta": {"model": name, "config": config, "device": device, "dtype": str(dtype).replace("torch.", ""),
                     "pairs": m, "repeat": args.repeat, "matmul_n": n_mm, "compile": bool(args.compile), "torch": torch.__version__,
                     "device_name": torch.cuda.get_device_name() if device == "cuda" else platform.processor()
                     or platform.machine(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     "p2_experiment": P2, "random_weights": True},
            "records": records,
            "summary": {"pairs_steps_per_s": m / t_cpl, "coupled_over_uncoupled": t_cpl / t_unc,
                        "recording_overhead": t_rec / t_cpl - 1.0, "gmacs_per_image_forward": macs / 1e9,
                        "matmul_peak_tflops": peak / 1e12, "coupled_tflops": achieved / 1e12,
                        "fraction_of_matmul_peak": achieved / peak,
                        "p2_coupled_steps_per_g": coupled_steps, "p2_independent_steps_per_g": tail_steps,
                        "p2_projected_s_one_g": one_g, "p2_projected_s_total": P2["n_g"] * one_g,
                        "p2_projection_note": f"for {name}: this run's per-forward times, scaled to 64 pairs in "
                                              "proportion to the batch" + ("" if m == 64 else f" (timed at {m} pairs)")
                                              + ("; --small is not DiT-XL/2: the projection is not P2's" if args.small
                                                 else "")}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print the JSON record (default: a short text summary)")
    ap.add_argument("--small", action="store_true", help="XL width, 2 blocks, 8x8 latents (a CPU runs it in seconds)")
    ap.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda if available")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default=None, help="default: bf16 on cuda, fp32 on cpu")
    ap.add_argument("--pairs", type=int, default=64, help="pairs per forward (2 x pairs rows; default 64)")
    ap.add_argument("--repeat", type=int, default=10, help="timed calls per variant (median; default 10)")
    ap.add_argument("--matmul-n", type=int, default=None, help="side of the peak matmul (default 8192 cuda, 1024 cpu)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the forward")
    ap.add_argument("--precision", action="store_true",
                    help="also run Protocol I on the shipped FHGM-DiT (CPU) and project P2's gap interval half-width")
    ap.add_argument("--precision-pairs", type=int, default=16, help="pairs of that run (default 16)")
    ap.add_argument("--precision-steps", type=int, default=30, help="sampler steps of that run (default 30)")
    args = ap.parse_args(argv)
    if args.pairs < 1 or args.repeat < 1:
        ap.error("--pairs and --repeat must be >= 1")
    out = run(args)
    if args.precision:
        prec = fhgm_precision(args.precision_pairs, args.precision_steps)  # flat: docs/json.md
        out["summary"] |= {f"precision_{k}": v for k, v in prec.items() if not k.startswith("p2_")}
        out["summary"] |= {k: v for k, v in prec.items() if k.startswith("p2_")}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        s = out["summary"]
        print(f"{out['meta']['model']} on {out['meta']['device']} ({out['meta']['dtype']}): "
              f"{s['pairs_steps_per_s']:.3g} pairs*steps/s coupled, coupled/uncoupled {s['coupled_over_uncoupled']:.3f}, "
              f"recording +{100 * s['recording_overhead']:.1f}%, {100 * s['fraction_of_matmul_peak']:.1f}% of "
              f"{s['matmul_peak_tflops']:.3g} TFLOP/s matmul peak; P2 projected {s['p2_projected_s_total'] / 60:.1f} min")
        if "precision_model" in s:
            print(f"P2 gap interval half-width (projected from the FHGM-DiT): "
                  f"{s.get('p2_gap_halfwidth_steps')} sampler steps")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
