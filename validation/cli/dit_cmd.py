"""`syncgap dit`: coupled DiT measurements (Protocols I and II, docs/science.md §5) and `dit train` (dit_train.py).

    syncgap dit measure --model tiny --g 0,0.5,1 --protocol I --json
    syncgap dit measure --model /path/to/DiT-XL-2-256 --g 0.5 --protocol II --device cuda --dtype bf16

With --out DIR a run writes DIR/options.json and one JSON line per g to DIR/metrics.jsonl;
rerunning with the same options skips the g values already there.
"""
from __future__ import annotations

import argparse
import os

from . import tidy
from .common import (IntRange, add_json_flag, float_list, int_list, nothing_measurable, out_folder, print_json,
                     print_table, to_jsonable)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dit", help="coupled DiT measurements (Protocols I and II) and training")
    dsub = p.add_subparsers(dest="dit_command", metavar="SUBCOMMAND", required=True)
    m = dsub.add_parser("measure", help="Protocol I (per-scale commitment) or II (per-layer mode energies)")
    m.add_argument("--model", default="fhgm",
                   help="fhgm, fhgm-flat, fhgm-deep, digits, facebook/DiT-XL-2-256, random:DiT-XL/2, a local save_pretrained "
                        "directory, an original DiT file (.pt/.pth/.safetensors, e.g. DiT-XL-2-256x256.pt), "
                        "or tiny (random weights, for tests only: its numbers mean nothing) (default fhgm)")
    m.add_argument("--heads", type=int, default=None,
                   help="attention heads of an original DiT file whose hidden size is no DiT family's "
                        "(S 384/6, B 768/12, L 1024/16, XL 1152/16; default from that table)")
    m.add_argument("--weights", choices=["ema", "model"], default="ema",
                   help="which weights of an original train.py checkpoint {model, ema, opt, args} (default ema)")
    m.add_argument("--compile", action="store_true",
                   help="torch.compile the DiT forward (GPU; g stays a tensor, so changing g does not recompile)")
    m.add_argument("--g", type=float_list, default=[0.0, 0.5, 1.0], help="coupling strengths g >= 0, comma-separated, dimensionless (default 0,0.5,1)")
    m.add_argument("--protocol", choices=["I", "II"], default="I",
                   help="I: commitment per scale against t_int; II: per-layer difference energies (default I)")
    m.add_argument("--gate", choices=["paper", "joint"], default="paper",
                   help="paper: (A_AA V_A + g A_AB V_B)/(1+g); joint: one softmax over 2N keys, log g on cross logits")
    m.add_argument("--layers", type=IntRange(0, many=True), default=None, help="coupled block indices, %(type)s, each below the model's layer count L (default all), e.g. 23,24,25")
    m.add_argument("--sampler", choices=["ddpm", "ddim"], default="ddpm",
                   help="diffusers scheduler: DDPM (learned-range variance if learned) or DDIM eta=0 (default ddpm)")
    m.add_argument("--steps", type=IntRange(2, 1000), default=50, help="sampler steps, %(type)s (default 50)")
    m.add_argument("--pairs", type=IntRange(1, 10**6), default=8, help="replica pairs (independent seeds) per g, %(type)s; Protocol I needs >= 2 (bootstrap over pairs) (default 8)")
    m.add_argument("--t-int", type=IntRange(0, 1000, many=True), default=None, help="Protocol I coupled-prefix lengths t_int in sampler steps, %(type)s, each <= --steps, at least 4 distinct values (a sigmoid is fitted to them; default 11 values evenly over 0..--steps)")
    m.add_argument("--clone", action="store_true",
                   help="Protocol I cloning (U-turn) variant: one shared trajectory until t_int, then split (ddpm)")
    m.add_argument("--window", choices=["release", "switch-on", "throughout"], default="release",
                   help="Protocol I coupling window: release = coupled for the first t_int steps then independent "
                        "(default); switch-on = independent then coupled to the end; throughout = coupled all run, "
                        "onsets read from the per-scale replica difference (docs/protocols.md)")
    m.add_argument("--noise", choices=["independent", "shared"], default="independent",
                   help="per-step noise of the two replicas: independent (default) or shared (only the start differs)")
    m.add_argument("--eps", type=float, default=0.3, help="antisymmetric perturbation eps in [0, 1] of the shared noise draw (default 0.3)")
    m.add_argument("--cfg", type=float, default=1.0, help="classifier-free guidance scale in [1, 1000] (1 = off; default 1)")
    m.add_argument("--class-label", type=int_list, default=None, help="class label per pair, 0..num_classes-1, comma-separated (default: random per pair)")
    m.add_argument("--seed", type=IntRange(0, 2**63 - 1), default=0, help="random seed, %(type)s; noise is drawn once per replica and reused for every g")
    m.add_argument("--bands", type=IntRange(1, 10**4), default=4, help="Protocol II radial frequency bands of the token grid, %(type)s, at most the grid's tokens per side (default 4)")
    m.add_argument("--n-boot", type=IntRange(10, 10**6), default=200, help="bootstrap resamples over pairs for Protocol I intervals, %(type)s (default 200)")
    m.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="where the model runs; cuda enables TF32 (default cpu)")
    m.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32", help="model dtype (bf16 meant for GPUs)")
    m.add_argument("--timestep-embedding", choices=["diffusers", "original"], default=None,
                   help="sinusoid frequencies: diffusers' (shift 1) or the original DiT's (shift 0)")
    m.add_argument("--download", action="store_true",
                   help="allow fetching facebook/DiT-XL-2-256 from the hub (default: local cache or directory only)")
    m.add_argument("--out", default=None, help="run folder: options.json + metrics.jsonl, resumable")
    m.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_json_flag(m)
    tidy.add_plot_flag(m)
    m.set_defaults(func=run_measure)
    from . import dit_train
    dit_train.register(dsub)
    from . import dit_gains
    dit_gains.register(dsub)
    from . import dit_depth_controls
    dit_depth_controls.register(dsub)


def _setup_device(args):
    import torch

    from syncgap.theory.checks import InputError
    if args.device == "cuda":
        if not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA device is available here; use --device cpu")
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return torch.bfloat16 if args.dtype == "bf16" else torch.float32


def _options(args) -> dict:
    keys = ("model", "protocol", "window", "noise", "clone", "gate", "layers", "sampler", "steps", "pairs", "t_int", "eps", "cfg",
            "class_label", "seed", "bands", "n_boot", "device", "dtype", "timestep_embedding")
    out = {k: getattr(args, k) for k in keys}
    if args.heads is not None or args.weights != "ema":  # only then, so older run folders still resume
        out |= {"heads": args.heads, "weights": args.weights}
    return out


def _done(out_dir, options) -> dict:
    """Records already in out_dir/metrics.jsonl for these options, keyed by g."""
    if not out_dir:
        return {}
    from syncgap.theory.checks import InputError
    from syncgap.validation.store import read_rows, resume_options
    out_folder(out_dir)
    try:
        resume_options(out_dir, to_jsonable(options))
    except ValueError:
        raise InputError(f"--out {out_dir} holds a run with other options; choose another folder") from None
    return read_rows(os.path.join(out_dir, "metrics.jsonl"), "g")


def run_measure(args: argparse.Namespace) -> int:
    from syncgap.dit_bridge.coupling import check_g
    from syncgap.dit_bridge.protocols import protocol_one, protocol_two
    from syncgap.theory.checks import InputError, check_int

    from .common import load_model_for

    gs = [check_g("g", g) for g in args.g]
    check_int("--steps", args.steps, 2, 1000)
    if args.protocol == "I" and args.pairs < 2:
        raise InputError(f"--pairs={args.pairs}: Protocol I needs >= 2 pairs (its intervals bootstrap over pairs)")
    tidy.check_plot(args)
    if args.protocol == "II" and (args.window, args.noise) != ("release", "independent"):
        from syncgap.theory.checks import InputError
        raise InputError("--window/--noise are Protocol I variants; Protocol II runs coupled throughout")
    dtype = _setup_device(args)
    rec = load_model_for("--model", args.model, seed=args.seed, dtype=dtype, device=args.device,
                     timestep_embedding=args.timestep_embedding, local_only=not args.download,
                     heads=args.heads, weights=args.weights)
    if args.compile:
        from syncgap.dit_bridge.sampling import compile_model
        compile_model(rec)
    options = _options(args)
    done = _done(args.out, options)
    labels = args.class_label

    def progress_for(g):
        from .progress import progress_bar
        return progress_bar(f"dit measure: protocol {args.protocol}, g = {g:g}", args.quiet)

    results = []
    for g in gs:
        if g in done:
            results.append(done[g])
            continue
        kw = dict(n_pairs=args.pairs, seed=args.seed, num_steps=args.steps, sampler=args.sampler,
                  guidance_scale=args.cfg, labels=labels, eps=args.eps, gate=args.gate, layers=args.layers,
                  progress=progress_for(g))
        if args.protocol == "I":
            r = protocol_one(rec, g, args.t_int, n_boot=args.n_boot, clone=args.clone, window=args.window,
                             noise=args.noise, **kw)
        else:
            r = protocol_two(rec, g, n_bands=args.bands, **kw)
        r = to_jsonable(r)
        results.append(r)
        if args.out:
            from syncgap.validation.store import append_row
            append_row(os.path.join(args.out, "metrics.jsonl"), r)
    record = {"model": {"name": rec.name, "source": rec.source, "num_layers": rec.num_layers,
                        "random_weights": bool(rec.info.get("random_weights", False)),
                        "sample_shape": list(rec.sample_shape), "learned_sigma": rec.learned_sigma,
                        "timestep_embedding": rec.timestep_embedding},
              "options": options, "results": results}
    doc = tidy.dit_measure(args, record)
    tidy.plot_if_asked(args, doc)
    if args.json:
        print_json(doc)
    else:
        _print_summary(args.protocol, results)
    if args.protocol == "II" and not any(_any_number(r["diff_fraction"]) for r in results):
        return nothing_measurable("dit measure", "every difference-energy fraction is undefined (NaN)")
    if args.protocol == "I" and not any((r.get("gap") or {}).get("estimate") is not None for r in results):
        return nothing_measurable("dit measure", "no gap could be measured at any g (no scale committed within "
                                  "the sampled steps: an untrained model, or too few --steps or --pairs)")
    return 0


def _any_number(values) -> bool:
    """True if the nested list `values` (JSON: NaN stored as None) holds one finite number."""
    import numpy as np
    arr = np.asarray(values, dtype=float)            # None -> nan
    return bool(np.isfinite(arr).any())


def _print_summary(protocol, results) -> None:
    if protocol == "I":
        rows = []
        for r in results:
            row = {"g": r["g"]}
            for p in r["per_scale"]:
                key = "onset" if r.get("window") == "throughout" else "tau"
                row[f"{key}@{p['scale']}"] = p[key] if p[key] is not None else "never"
            gap = r["gap"]
            row["gap"] = gap["estimate"] if gap["estimate"] is not None else "n/a"
            row["gap 95%"] = "n/a" if gap["low"] is None or gap["high"] is None else \
                f"[{gap['low']:.3g}, {gap['high']:.3g}]"
            rows.append(row)
        print_table(rows)
        if any(v in ("never", "n/a") for row in rows for v in row.values()):
            from .tidy import NEVER_COMMITTED
            print(f"never: tau does not exist, {NEVER_COMMITTED}; n/a: no gap without both end scales' tau")
        return
    import numpy as np
    rows = []
    for r in results:
        frac = np.asarray(r["diff_fraction"], dtype=float)[-1].mean(-1)  # last recorded step, mean over pairs
        low = np.asarray(r["bands"], dtype=float)[-1, :, :, 0].mean(-1)
        for layer, (f, b) in enumerate(zip(frac, low)):
            rows.append({"g": r["g"], "layer": layer, "diff/(common+diff)": f, "lowest-band share": b})
    print_table(rows)
