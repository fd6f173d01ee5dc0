"""`syncgap dit measure` at given couplings: Protocol I (per-scale commitment tau against the coupled prefix
t_int, and the gap; or a variant: --window, --noise, --eps) or Protocol II (per-layer difference energies),
docs/science.md §5 and docs/protocols.md. Without --g, --window and --protocol II it measures the g -> 0 gap
on the model's units instead (measure_units.py). Parser, run, --json records, --plot.

    syncgap dit measure                               # the gap at g -> 0 on fhgm's features (measure_units.py)
    syncgap dit measure --model tiny --g 0,0.5,1 --protocol I --json
    syncgap dit measure --model /path/to/DiT-XL-2-256 --g 0.5 --protocol II --device cuda --dtype bf16

With --out DIR a run writes DIR/options.json and one JSON line per g to DIR/metrics.jsonl;
rerunning with the same options skips the g values already there.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from syncgap.theory.checks import InputError, check_int
from syncgap.theory.intervals import read_interval, read_triple

from ..arguments import IntRange, add_json_flag, float_list, int_list, str_list
from ..output import nothing_measurable, out_folder, print_json, print_table, to_jsonable
from ..plotting import (add_plot_flag, as_floats, check_plot, errorbar, finish, load_doc, plot_if_asked, plot_throughout,
                        pyplot, records_of)
from ..progress import progress_bar
from ..records import NEVER_COMMITTED, NO_ONSET, envelope, gap_steps_of, interval, variant_of
from ..variants import add_variant_flags
from .measure_units import FIRST_TIME, run_units
from .measure_units import PAIRS as PAIRS_FIRST
from .measure_units import STEPS as STEPS_FIRST
from .model_options import load_model_for, setup_device


def register(dsub: argparse._SubParsersAction) -> None:
    """Add `measure` to the `syncgap dit` subcommands."""
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
    add_variant_flags(m, window=None, window_default="default with --g", eps=0.3, eps_default="0.3", unit="scale",
                      clone_note="; ddpm")
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
    add_plot_flag(m)
    m.set_defaults(func=run_measure)


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
    check_plot(args)
    if args.protocol == "II" and (args.window, args.noise) != ("release", "independent"):
        raise InputError("--window/--noise are Protocol I variants; Protocol II runs coupled throughout")
    dtype = setup_device(args)
    model = load_model_for("--model", args.model, seed=args.seed, dtype=dtype, device=args.device,
                     timestep_embedding=args.timestep_embedding, local_only=not args.download,
                     heads=args.heads, weights=args.weights)
    if args.compile:
        from syncgap.dit_bridge.sampling import compile_model
        compile_model(model)
    if args.scales is None and args.protocol == "I":   # a model's FHGM has no image mean: no pool 1 (dit_cells)
        from syncgap.validation.suites.dit.cells import fhgm_mixture, unit_scales
        args.scales = unit_scales(model, fhgm_mixture(model))
    options = _options(args)
    done = _done(args.out, options)
    labels = args.class_label
    from syncgap.validation.legacy import upgrade_dit_measure_row

    def progress_for(g):
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
            r = protocol_one(model, g, args.t_int, n_boot=args.n_boot, clone=args.clone, window=args.window,
                             noise=args.noise, scales=args.scales, **kw)
        else:
            r = protocol_two(model, g, n_bands=args.bands, **kw)
        r = to_jsonable(r)
        results.append(r)
        if args.out:
            from syncgap.validation.store import append_row
            append_row(os.path.join(args.out, "metrics.jsonl"), r)
    record = {"model": {"name": model.name, "source": model.source, "num_layers": model.num_layers,
                        "random_weights": bool(model.info.get("random_weights", False)),
                        "sample_shape": list(model.sample_shape), "learned_sigma": model.learned_sigma,
                        "timestep_embedding": model.timestep_embedding},
              "options": options, "results": results}
    doc = measure_doc(args, record)
    plot_if_asked(args, doc, plot_measure)
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


def _any_number(values) -> bool:
    """True if the nested list `values` (JSON: NaN stored as None) holds one finite number."""
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
            print(f"never: tau does not exist, {NEVER_COMMITTED}; n/a: no gap without both end scales' tau")
        return
    rows = []
    for r in results:
        frac = np.asarray(r["diff_fraction"], dtype=float)[-1].mean(-1)  # last recorded step, mean over pairs
        low = np.asarray(r["bands"], dtype=float)[-1, :, :, 0].mean(-1)
        for layer, (f, b) in enumerate(zip(frac, low)):
            rows.append({"g": r["g"], "layer": layer, "diff/(common+diff)": f, "lowest-band share": b})
    print_table(rows)


def measure_doc(args: argparse.Namespace, record: dict) -> dict:
    """Protocol I: kind 'agreement' (g, scale, t_int), 'commitment' (g, scale), 'gap' (g).
    Protocol II: kind 'layer' (g, step, layer: energies and shares, means over pairs), 'final' (g, scale)."""
    records = []
    for r in record["results"]:
        g = r["g"]
        if r.get("window") == "throughout":
            records += _throughout_records(r)
            continue
        if r.get("protocol", "I") == "I":
            first = len(records)
            sem = r.get("curve_sem")
            for s, scale in enumerate(r["scales"]):
                for j, t_int in enumerate(r["t_int"]):
                    records.append({"kind": "agreement", "g": g, "scale": scale, "t_int": t_int,
                                    "agreement": r["curves"][s][j], "agreement_sem": None if sem is None else sem[s][j]})
            for p in r["per_scale"]:
                row = {"kind": "commitment", "g": g, "scale": p["scale"]}
                interval(row, "tau", read_triple(p, "tau"), NEVER_COMMITTED)
                row["in_range"] = p["in_range"]
                row.update({f"fit_{k}": v for k, v in p["fit"].items()})
                records.append(row)
            records.append(interval({"kind": "gap", "g": g}, "gap", read_triple(r, "gap"), NEVER_COMMITTED)
                           | gap_steps_of(r))
            for row in records[first:]:
                row.update(variant_of(r))
            continue
        common, diff = np.asarray(r["common"], float), np.asarray(r["diff"], float)     # (steps, layers, pairs)
        frac = np.asarray(r["diff_fraction"], float)
        bands = np.asarray(r["bands"], float)            # (steps, layers, pairs, bands)
        inc = np.asarray(r["increment_share"], float)    # (steps, layers, pairs): global share of the block increment
        for i, step in enumerate(r["steps"]):
            for layer in range(common.shape[1]):
                row = {"kind": "layer", "g": g, "step": step, "layer": layer, "common": common[i, layer].mean(),
                       "diff": diff[i, layer].mean(), "diff_fraction": frac[i, layer].mean()}
                row.update({f"band_share_{b}": v for b, v in enumerate(bands[i, layer].mean(0))})
                row.update(increment_share=float(np.nanmean(inc[i, layer])) if np.isfinite(inc[i, layer]).any() else None,
                           increment_chance=r["increment_chance"])
                records.append(row)
        final = np.asarray(r["final_agreement"], float)  # (pairs, scales)
        records += [{"kind": "final", "g": g, "scale": s, "agreement": a}
                    for s, a in zip(r["final_scales"], final.mean(0))]
    meta = {"model": record["model"], "options": record["options"],
            "units": {"t_int": "sampler steps", "tau": "sampler steps", "gap": "sampler steps", "step": "sampler step"}}
    return envelope("dit measure", meta, records)


def _throughout_records(r: dict) -> list[dict]:
    """Window 'throughout': kind 'difference' (step, scale), 'onset' (scale), 'gap' (finest vs coarsest)."""
    g, variant = r["g"], variant_of(r)
    rows = [{"kind": "difference", **variant, "g": g, "step": j, "scale": scale, "normalised_difference": value}
            for scale, series in zip(r["scales"], r["normalised_difference"])      # (scales, steps)
            for j, value in enumerate(series)]
    for p in r["per_scale"]:
        row = {"kind": "onset", **variant, "g": g, "scale": p["scale"]}
        interval(row, "onset", read_triple(p, "onset"), p.get("onset_reason") or NO_ONSET)
        rows.append(row)
    rows.append(interval({"kind": "gap", **variant, "g": g}, "gap", read_triple(r, "gap"), NO_ONSET) | gap_steps_of(r))
    return rows


def plot_measure(source: str | Path, png: str | Path) -> None:
    """`dit measure`: Protocol I agreement against t_int per scale and tau per scale; Protocol II per-layer shares."""
    doc = load_doc(source)
    if records_of(doc, "difference"):
        return plot_throughout(doc, png, "scale", "step")
    plt = pyplot()
    if records_of(doc, "layer"):
        rows = records_of(doc, "layer")
        last = max(r["step"] for r in rows)
        fig, ax = plt.subplots(figsize=(6, 4))
        for i, g in enumerate(sorted({r["g"] for r in rows})):
            sel = sorted((r for r in rows if r["g"] == g and r["step"] == last), key=lambda r: r["layer"])
            ax.plot([r["layer"] for r in sel], as_floats([r["diff_fraction"] for r in sel]), "o-", color=f"C{i}", label=f"g = {g:g}")
        ax.set(xlabel="layer", ylabel="diff / (common + diff)", title=f"Protocol II, last recorded step {last}")
        ax.legend(fontsize=8)
        finish(fig, png)
        return
    agreement, commitment = records_of(doc, "agreement"), records_of(doc, "commitment")
    gs = sorted({r["g"] for r in agreement})
    fig, axes = plt.subplots(1, len(gs) + 1, figsize=(4.5 * (len(gs) + 1), 4), squeeze=False)
    for ax, g in zip(axes[0], gs):
        for i, scale in enumerate(sorted({r["scale"] for r in agreement})):
            sel = sorted((r for r in agreement if r["g"] == g and r["scale"] == scale), key=lambda r: r["t_int"])
            ax.plot([r["t_int"] for r in sel], as_floats([r["agreement"] for r in sel]), "o-", ms=3, color=f"C{i}",
                    label=f"pool {scale}")
        ax.set(xlabel="t_int (sampler steps)", ylabel="agreement", title=f"Protocol I, g = {g:g}")
        ax.legend(fontsize=7)
    ax = axes[0][-1]
    for i, g in enumerate(gs):
        sel = sorted((r for r in commitment if r["g"] == g), key=lambda r: r["scale"])
        errorbar(ax, sel, "scale", "tau", color=f"C{i}", label=f"g = {g:g}")
    if all(r["tau"] is None for r in commitment):
        ax.text(0.5, 0.5, "tau is null at every scale:\n" + commitment[0].get("tau_reason", "no value").replace(" (", "\n("),
                ha="center", va="center", transform=ax.transAxes, fontsize=8, wrap=True)
    ax.set_xscale("log", base=2)
    ax.set(xlabel="pool k (outputs pooled to k x k: 1 coarsest, largest finest)", ylabel="commitment tau (sampler steps)",
           title="tau per scale (95% CI)")
    ax.legend(fontsize=7)
    finish(fig, png)
