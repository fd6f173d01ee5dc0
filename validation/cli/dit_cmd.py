"""`syncgap dit`: coupled DiT measurements (Protocols I and II, docs/science.md §5) and `dit train` (dit_train.py).

    syncgap dit measure                               # the gap at g -> 0 on fhgm's features (dit_units.py)
    syncgap dit measure --model tiny --g 0,0.5,1 --protocol I --json
    syncgap dit measure --model /path/to/DiT-XL-2-256 --g 0.5 --protocol II --device cuda --dtype bf16

With --out DIR a run writes DIR/options.json and one JSON line per g to DIR/metrics.jsonl;
rerunning with the same options skips the g values already there.
"""
from __future__ import annotations

import argparse
import os

import numpy as np

from syncgap.theory.intervals import read_interval

from . import dit_depth_controls, dit_gains, dit_gate, dit_train, tidy
from .common import (IntRange, add_json_flag, float_list, int_list, nothing_measurable, out_folder, print_json,
                     print_table, to_jsonable)
from .dit_units import FIRST_TIME
from .dit_units import PAIRS as PAIRS_FIRST
from .dit_units import STEPS as STEPS_FIRST


def str_list(text: str) -> list[str]:
    """Comma-separated names."""
    return [t.strip() for t in text.split(",") if t.strip()]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dit", help="coupled DiT measurements (Protocols I and II) and training")
    dsub = p.add_subparsers(dest="dit_command", metavar="SUBCOMMAND", required=True)
    m = dsub.add_parser("measure", help="the g -> 0 gap on the model's units (no --g); Protocol I (per-scale "
                        "commitment) or II (per-layer mode energies)",
                        description="Without --g, --window and --protocol II: the gap at the g -> 0 limit (cloning) on "
                        "the model's own units (its FHGM features, else pooled scales; --modes K: empirical modes), "
                        f"{PAIRS_FIRST} pairs and {STEPS_FIRST} DDPM steps by default ({FIRST_TIME} on 2 CPU cores). "
                        "With --g or --window: Protocol I "
                        "per scale at each g (docs/protocols.md).")
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
    m.add_argument("--g", type=float_list, default=None, help="coupling strengths g >= 0, comma-separated, dimensionless "
                   "(default: none, the g -> 0 gap by cloning; with --window or --protocol II: 0,0.5,1)")
    m.add_argument("--features", type=str_list, default=None,
                   help="units: FHGM features by name, comma-separated, coarse to fine, e.g. dct01,dct67 (default: the "
                        "features the model generates, where it was trained on the FHGM)")
    m.add_argument("--modes", type=IntRange(2, 64), default=None,
                   help="units: the K leading principal directions of the model's own outputs, ordered by radial "
                        "frequency (empirical modes, any model; computed once and cached), %(type)s")
    m.add_argument("--scales", type=IntRange(1, many=True), default=None,
                   help="units: pool sizes k (outputs pooled to k x k; 1 is the coarsest), %(type)s, e.g. 2,4,8,16 "
                        "(default: pooled scales only for a model without known features)")
    m.add_argument("--protocol", choices=["I", "II"], default="I",
                   help="I: commitment per scale against t_int; II: per-layer difference energies (default I)")
    m.add_argument("--gate", choices=["paper", "joint"], default="paper",
                   help="paper: (A_AA V_A + g A_AB V_B)/(1+g); joint: one softmax over 2N keys, log g on cross logits")
    m.add_argument("--layers", type=IntRange(0, many=True), default=None, help="coupled block indices, %(type)s, each below the model's layer count L (default all), e.g. 23,24,25")
    m.add_argument("--sampler", choices=["ddpm", "ddim"], default="ddpm",
                   help="diffusers scheduler: DDPM (learned-range variance if learned) or DDIM eta=0 (default ddpm)")
    m.add_argument("--steps", type=IntRange(2, 1000), default=None,
                   help=f"sampler steps, %(type)s (default {STEPS_FIRST} without --g, else 50)")
    m.add_argument("--pairs", type=IntRange(1, 10**6), default=None, help="replica pairs (independent seeds) per g, "
                   f"%(type)s; Protocol I needs >= 2 (bootstrap over pairs) (default {PAIRS_FIRST} without --g, else 8)")
    m.add_argument("--t-int", type=IntRange(0, 1000, many=True), default=None, help="Protocol I coupled-prefix lengths t_int in sampler steps, %(type)s, each <= --steps, at least 4 distinct values (a sigmoid is fitted to them; default 11 values evenly over 0..--steps)")
    m.add_argument("--clone", action="store_true",
                   help="deprecated: use --window clone --g 0 (cloning is coupled cloning at g = 0)")
    m.add_argument("--window", choices=["release", "switch-on", "throughout", "clone"], default=None,
                   help="Protocol I coupling window: release = coupled for the first t_int steps then independent "
                        "(default with --g); switch-on = independent then coupled to the end; throughout = coupled all "
                        "run, onsets read from the per-scale replica difference; clone = coupled cloning: the coupled "
                        "pair cloned at t_int, both copies run on coupled, agreement of a replica with its copy "
                        "(at g = 0 it is cloning; ddpm) (docs/protocols.md)")
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
    m.add_argument("--out", default=None, help="run folder: options.json + metrics.jsonl, resumable (without --g: "
                   "gap_clone.json)")
    m.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_json_flag(m)
    tidy.add_plot_flag(m)
    m.set_defaults(func=run_measure)
    dit_train.register(dsub)
    dit_gains.register(dsub)
    dit_depth_controls.register(dsub)
    dit_gate.register(dsub)


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
    if getattr(args, "scales", None) is not None:
        out["scales"] = list(args.scales)
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

    if args.clone:   # deprecated flag: cloning is coupled cloning at g = 0
        import sys
        print("syncgap dit measure: --clone is deprecated; running --window clone --g 0", file=sys.stderr)
        args.clone, args.window, args.g = False, "clone", [0.0]
    if args.g is None and args.window is None and args.protocol == "I":
        return run_units(args)
    if args.features is not None or args.modes is not None:
        flag = "--features" if args.features is not None else "--modes"
        raise InputError(f"{flag} applies to the g -> 0 gap (dit measure without --g and --window); "
                         "Protocol I at g > 0 reads pooled scales (--scales)")
    args.g = [0.0, 0.5, 1.0] if args.g is None else args.g
    args.window = args.window or "release"
    args.steps = 50 if args.steps is None else args.steps
    args.pairs = 8 if args.pairs is None else args.pairs
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
    if args.scales is None and args.protocol == "I":   # a model's FHGM has no image mean: no pool 1 (dit_cells)
        from syncgap.validation.suites.dit.cells import fhgm_mixture, unit_scales
        args.scales = unit_scales(rec, fhgm_mixture(rec))
    options = _options(args)
    done = _done(args.out, options)
    labels = args.class_label
    from syncgap.validation.legacy import upgrade_dit_measure_row

    def progress_for(g):
        from .progress import progress_bar
        return progress_bar(f"dit measure: protocol {args.protocol}, g = {g:g}", args.quiet)

    results = []
    for g in gs:
        if g in done:
            results.append(upgrade_dit_measure_row(done[g]))   # a line written before the one interval encoding
            continue
        kw = dict(n_pairs=args.pairs, seed=args.seed, num_steps=args.steps, sampler=args.sampler,
                  guidance_scale=args.cfg, labels=labels, eps=args.eps, gate=args.gate, layers=args.layers,
                  progress=progress_for(g))
        if args.protocol == "I":
            r = protocol_one(rec, g, args.t_int, n_boot=args.n_boot, clone=args.clone, window=args.window,
                             noise=args.noise, scales=args.scales, **kw)
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
    if args.protocol == "I" and not any(r.get("gap") is not None for r in results):
        return nothing_measurable("dit measure", no_gap_reason(args, results))
    return 0


def no_gap_reason(args, results) -> str:
    """Why Protocol I measured no gap at any g: the window at g = 0, else each end scale's own reason."""
    if args.window == "release" and not args.clone and all(r["g"] == 0 for r in results):
        return ("at g = 0 the release window couples nothing, so agreement does not depend on t_int (no g -> 0 "
                "limit, docs/protocols.md); drop --g for the cloning gap, or give g > 0")
    why = sorted({p.get("tau_reason") or "no midpoint" for r in results for p in r["per_scale"] if p.get("tau") is None})
    return "no gap at any g: an end scale never committed (" + "; ".join(why) + ")"


def run_units(args: argparse.Namespace) -> int:
    """The g -> 0 gap on the model's units (dit_units.py): printed, or as JSON records."""
    from syncgap.theory.checks import InputError

    from . import dit_units
    from .common import load_model_for
    unused = [flag for flag, value, default in (("--eps", args.eps, 0.3), ("--cfg", args.cfg, 1.0),
                                                ("--class-label", args.class_label, None), ("--gate", args.gate, "paper"),
                                                ("--layers", args.layers, None), ("--noise", args.noise, "independent"))
              if value != default]
    if unused:
        raise InputError(f"{', '.join(unused)}: not used by the g -> 0 gap (cloning: one trajectory, no guidance, "
                         "random class labels); give --g or --window for Protocol I")
    if args.pairs is not None and args.pairs < 2:
        raise InputError(f"--pairs={args.pairs}: the gap needs >= 2 pairs (its interval bootstraps over pairs)")
    if args.sampler != "ddpm":
        raise InputError("--sampler ddim: cloning needs the stochastic ddpm sampler (deterministic clones never split)")
    steps = dit_units.STEPS if args.steps is None else args.steps
    t_ints = (args.t_int if args.t_int is not None else
              dit_units.T_INTS if steps == dit_units.STEPS else
              np.unique(np.linspace(0, steps, min(steps + 1, 11)).round().astype(int)).tolist())
    if len(set(t_ints)) < 4 or max(t_ints) > steps:
        raise InputError(f"--t-int: at least 4 distinct values in [0, {steps}], got {t_ints}")
    tidy.check_plot(args)
    if args.plot:
        raise InputError("--plot draws Protocol I per scale: give --g or --window")
    dtype = _setup_device(args)
    rec = load_model_for("--model", args.model, seed=args.seed, dtype=dtype, device=args.device,
                         timestep_embedding=args.timestep_embedding, local_only=not args.download,
                         heads=args.heads, weights=args.weights)
    unit = dit_units.units(rec, args.features, args.scales, args.modes)
    from .progress import progress_bar
    r = dit_units.measure(rec, unit, n_pairs=dit_units.PAIRS if args.pairs is None else args.pairs, num_steps=steps,
                          t_ints=sorted(set(t_ints)), seed=args.seed, n_boot=args.n_boot,
                          progress=progress_bar("dit measure: cloning, g -> 0", args.quiet))
    if args.out:   # the result beside its options, as a Protocol I run folder keeps them
        from syncgap.validation.store import atomic_write_json
        out_folder(args.out)
        atomic_write_json(os.path.join(args.out, "gap_clone.json"), to_jsonable({"model": rec.name, **r}))
    if args.json:
        meta = {"model": rec.name, "source": rec.source, "options": {k: r[k] for k in ("n_pairs", "num_steps", "t_int",
                                                                                        "window", "g", "family", "space")}}
        print_json(tidy.envelope("dit measure", meta, dit_units.records(r)))
    else:
        print("\n".join(dit_units.summary_lines(rec.name, r)))
    if r["gap"] is None:
        return nothing_measurable("dit measure", "no gap: a unit at either end never commits (its reason above)")
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
            gap, low, high, _ = read_interval(r, "gap")
            row["gap"] = gap if gap is not None else "n/a"
            row["gap 95%"] = "n/a" if low is None or high is None else f"[{low:.3g}, {high:.3g}]"
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
