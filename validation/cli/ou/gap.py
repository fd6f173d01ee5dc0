"""`syncgap ou gap`: the synchronization gap of sign features against the coupling g (docs/science.md §4).

Layer B (default): the gated pair, Protocol I or one of its variants (--window, --noise, --eps) on two or
more features, each feature's commitment time and the gap between the last and the first, in OU time and in
DiT sampler steps. Layer A (--layer A): the drift-coupled pair, per-mode cloning of one feature. With --out
DIR every finished g is one line of DIR/metrics.jsonl and a rerun resumes. Parser, runs, --json records, --plot.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from syncgap.theory.checks import InputError, check_int
from syncgap.theory.intervals import interval_fields, interval_keys, read_interval, read_triple, read_triples

from ..arguments import SCALE_RANGE, IntRange, float_list
from ..output import absent, nothing_measurable, out_folder, print_json, print_table, to_jsonable
from ..plotting import (add_plot_flag, as_floats, check_plot, errorbar, finish, load_doc, plot_if_asked, plot_throughout,
                        pyplot, records_of)
from ..records import (NEVER_COMMITTED, NO_CROSSING, NO_ONSET, drop_empty_reasons, envelope, gap_steps_of, interval,
                       options_of, variant_of, with_reason)
from ..variants import add_variant_flags
from .options import add_sampler_options, check_d, features, grid_named, is_measured, path_progress, time_grid


def register(s: argparse._SubParsersAction) -> None:
    """Add `gap` to the `syncgap ou` subcommands."""
    g = s.add_parser("gap", help="Protocol I synchronization gap of two sign features against the gate g (§4)")
    add_sampler_options(g, d=16, samples=4000, T=7.0, steps=700)
    g.add_argument("--g", type=float_list, default=[0.0, 0.5, 0.9, 0.99, 10.0], help="gate strengths g >= 0, comma-separated, dimensionless; rho(g) = (1-g)/(1+g)")
    g.add_argument("--amplitudes", type=float_list, default=[20.0, 4.0],
                   help=f"feature amplitudes a_k {SCALE_RANGE} of the sign mixture, data units, comma-separated (default 20,4)")
    g.add_argument("--dit-steps", type=IntRange(1, 1000), default=250, help="DiT sampler steps used to express the gap in sampler steps, %(type)s (default 250)")
    g.add_argument("--out", default=None,
                   help="folder for options.json + metrics.jsonl (one line per g); a rerun resumes")
    g.add_argument("--layer", choices=("B", "A"), default="B",
                   help="B: gated pair, Protocol I on two features (default); A: drift-coupled pair "
                        "[[1,-g],[-g,1]], per-mode cloning of one feature (first amplitude), |g| < 1")
    add_variant_flags(g, window="release", window_default="default", eps=None,
                      eps_default="two independent draws; 0.3 for --window throughout", unit="feature")
    add_plot_flag(g)
    g.set_defaults(func=run_gap)


def _variant_fields(r: dict, g: float) -> dict:
    """The variant and the gap in DiT sampler steps (last feature against the first) as flat fields."""
    row = {"window": r["window"], "noise": r["noise"], "sampler": r["scheme"], "eps": r["eps"], "g": g}
    if r["window"] == "throughout":
        gap = r["gaps"][-1] if r["gaps"] else {}
        est, lo, hi, reason = read_interval(gap, "gap_dit_steps")
        reason = reason or ("one feature: no gap" if not r["gaps"] else None)
    else:
        gs = [x[-1] if len(x) else np.nan for x in read_triple(r, "gap_dit_steps")]
        est, lo, hi = gs
        est = None if not np.isfinite(est) else float(est)
        reason = None if est is not None else "a feature's agreement curve has no midpoint (flat curve)"
    finite = est is not None
    return row | interval_fields("gap_steps", est, float(lo) if finite and lo is not None and np.isfinite(lo) else None,
                                 float(hi) if finite and hi is not None and np.isfinite(hi) else None, reason)


def _rows_per_g(args, compute) -> list:
    """Rows of compute(g) for every g; with --out, finished rows are kept in metrics.jsonl and reused."""
    from syncgap.validation.legacy import upgrade_ou_gap_row
    from syncgap.validation.store import append_row, read_rows, resume_options
    path, done = None, {}
    if args.out:
        out_folder(args.out)
        skip = ("func", "out", "quiet", "json", "g", "_ranges")
        opts = to_jsonable({k: v for k, v in vars(args).items() if k not in skip})
        try:
            resume_options(args.out, opts)
        except ValueError:
            raise InputError(f"--out {args.out} holds a run with different options; use a new folder") from None
        path = os.path.join(args.out, "metrics.jsonl")
        done = read_rows(path, "g")
    rows = []
    for g in args.g:
        if g in done:
            rows.append(upgrade_ou_gap_row(done[g]))   # a line written before the one interval encoding
            continue
        row = to_jsonable(compute(g))
        if path:
            append_row(path, row)
        rows.append(row)
        if not args.quiet:
            print(f"g = {g:g} done", file=sys.stderr, flush=True)
    return rows


def run_gap_layer_a(args: argparse.Namespace) -> int:
    from syncgap.ou_models import measure
    from syncgap.theory.data import SignFeatureMixture
    d = check_d(args.d)
    amp = float(args.amplitudes[0])
    data = SignFeatureMixture(np.eye(d)[:1], np.array([amp]), 1.0, (d,))
    def compute(g):
        r = measure.mode_gap(data, time_grid(args), g, args.samples, args.seed, scheme=args.scheme,
                             n_boot=args.boot, progress=path_progress(args))
        row = {"g": g, "rates": r["rates"], **{k: r[k] for k in interval_keys("t_mode") + interval_keys("gap")}}
        from syncgap.theory import coupled_ou
        th = coupled_ou.mode_speciation_times(coupled_ou.drift_symmetric(g), amp * amp + 1.0)
        t_sorted = np.sort(th["t_S"])[::-1]
        row["t_mode_theory"] = [float(t) if t > 0 else None for t in t_sorted]   # None: does not speciate
        if t_sorted[-1] > 0:
            row["gap_theory"] = float(t_sorted[0] - t_sorted[1])
        else:
            absent(row, "gap_theory", "a mode does not speciate")
        cross = [measure.cloning_crossing_theory(k, amp, 1.0) for k in r["rates"]]
        row["t_mode_phi075_theory"] = cross
        row["gap_phi075_theory"] = cross[0] - cross[1]
        return row
    rows = _rows_per_g(args, compute)
    record = {"layer": "A", "g": args.g, "amplitude": amp, "d": d, "samples": args.samples, "seed": args.seed,
           "scheme": args.scheme, "results": rows}
    doc = mode_gap_doc(args, record)
    plot_if_asked(args, doc, plot_gap)
    if args.json:
        print_json(doc)
    else:
        print_table([{"g": r["g"], "t_slow": r["t_mode"][0], "t_fast": r["t_mode"][1], "gap": r["gap"],
                      "gap_lo": r["gap_low"], "gap_hi": r["gap_high"], "gap_t_S_theory": r.get("gap_theory", float("nan")),
                      "gap_t_S_theory_reason": r.get("gap_theory_reason"),
                      "gap_phi075_theory": r.get("gap_phi075_theory", float("nan"))}
                     for r in rows])
    if not any(is_measured(r["gap"]) for r in rows):
        return nothing_measurable("ou gap", "no mode gap could be measured at any g on this grid (try more --steps)")
    return 0


@grid_named
def run_gap(args: argparse.Namespace) -> int:
    check_int("--dit-steps", args.dit_steps, 1, 1000)
    check_plot(args)
    if args.layer == "A":
        if (args.window, args.noise, args.eps) != ("release", "independent", None):
            raise InputError("--window/--noise/--eps: the protocol variants are layer B's (the gate); "
                             "--layer A measures per-mode cloning")
        return run_gap_layer_a(args)
    data = features(args)
    from syncgap.ou_models import variants
    variants.check_variant(args.window, args.noise, args.eps)

    def compute(g):
        r = variants.run_protocol(data, time_grid(args), g, args.samples, args.window, args.noise, args.eps,
                                  seed=args.seed, scheme=args.scheme, n_boot=args.boot,
                                  dit_sampling_steps=args.dit_steps, progress=path_progress(args))
        if args.window == "throughout":
            return _variant_fields(r, g) | {"onsets": r["onsets"], "t": r["t"], "dit_steps": r["dit_steps"],
                                            "normalised_difference": r["normalised_difference"]}
        row = _variant_fields(r, g) | {"t_int": r["t_int"]} | {
            k: r[k] for name in ("tau_spec", "tau_spec_dit_steps", "gap", "gap_dit_steps", "agreement")
            for k in interval_keys(name)}
        if args.window == "release":   # the onset theory is the release window's comparison
            from syncgap.theory import gated   # onset of the linearised difference instability (not Protocol I's tau)
            th = gated.gated_gap(g, args.amplitudes, 1.0, "sde") if len(args.amplitudes) > 1 else None
            if th is not None:
                row["onset_theory"], row["gap_onset_theory"] = th["t_S"], th["gap"]
        return row
    rows = _rows_per_g(args, compute)
    record = {"g": args.g, "amplitudes": args.amplitudes, "d": args.d, "samples": args.samples,
           "seed": args.seed, "scheme": args.scheme, "gap_log_amplitude_ratio": float(np.log(args.amplitudes[0] / args.amplitudes[-1])),
           "window": args.window, "noise": args.noise, "eps": args.eps, "results": rows}
    doc = gap_doc(args, record)
    plot_if_asked(args, doc, plot_gap)
    if args.json:
        print_json(doc)
    elif args.window == "throughout":
        print_table([{"g": r["g"], **{f"onset{o['feature']}": o["onset_dit_steps"] if o["onset_dit_steps"] is not None
                                      else "none" for o in r["onsets"]},
                      "gap_steps": r["gap_steps"] if r["gap_steps"] is not None else "n/a",
                      "gap_lo": r["gap_steps_low"] if r["gap_steps_low"] is not None else "n/a",
                      "gap_hi": r["gap_steps_high"] if r["gap_steps_high"] is not None else "n/a"} for r in rows])
    else:
        table = [{"g": r["g"], "tau0": _never(r["tau_spec"][0]), "tau1": _never(r["tau_spec"][-1]),
                  "gap": _never(r["gap"][-1] if len(r["gap"]) else None),
                  "gap_lo": _never(r["gap_low"][-1] if len(r["gap"]) else None),
                  "gap_hi": _never(r["gap_high"][-1] if len(r["gap"]) else None),
                  "gap_dit_steps": _never(r["gap_dit_steps"][-1] if len(r["gap_dit_steps"]) else None)}
                 for r in rows]
        print_table(table)
        if any(v == "never" for row in table for v in row.values()):
            print(f"never: {NEVER_COMMITTED}" + ("" if args.window == "clone" else
                                                     " (Protocol I has no g -> 0 limit: docs/science.md §8)"))
    measured = (any(r.get("gap_steps") is not None for r in rows) if args.window == "throughout"
                else any(len(r["gap"]) and is_measured(r["gap"][-1]) for r in rows))
    if not measured:
        return nothing_measurable("ou gap", "no feature's commitment time (and so no gap) could be measured at "
                                  "any g on this grid (try more --steps or --samples)")
    return 0


def _never(value):
    """A commitment time or gap for the table: 'never' where it does not exist (None or NaN)."""
    return "never" if value is None or (isinstance(value, float) and np.isnan(value)) else value


def gap_doc(args: argparse.Namespace, record: dict) -> dict:
    """Layer B: kind 'agreement' (g, feature, t_int), 'commitment' (g, feature), 'gap' (g, feature vs 0)."""
    amps = list(record["amplitudes"])
    records = []
    for r in record["results"]:
        g = r["g"]
        variant = variant_of(r)
        if r.get("window") == "throughout":
            records += _throughout_records(r, amps, variant)
            continue
        first = len(records)
        agreement, low, high = read_triple(r, "agreement")
        for j, t_int in enumerate(r["t_int"]):
            for k, a in enumerate(amps):
                records.append({"kind": "agreement", "g": g, "feature": k, "amplitude": a, "t_int": t_int,
                                "agreement": agreement[j][k], "ci_low": low[j][k], "ci_high": high[j][k]})
        onsets = r.get("onset_theory") or [None] * len(amps)
        taus, tau_steps = read_triples(r, "tau_spec"), read_triples(r, "tau_spec_dit_steps")
        for k, a in enumerate(amps):
            row = {"kind": "commitment", "g": g, "feature": k, "amplitude": a}
            interval(row, "tau_spec", taus[k], NEVER_COMMITTED)
            interval(row, "tau_spec_dit_steps", tau_steps[k], NEVER_COMMITTED)
            if "onset_theory" in r:
                with_reason(row, "onset_theory", onsets[k], NO_ONSET)
            records.append(row)
        for k, (gap, gap_steps) in enumerate(zip(read_triples(r, "gap"), read_triples(r, "gap_dit_steps")), start=1):
            row = {"kind": "gap", "g": g, "feature": k, "amplitude": amps[k]}
            interval(row, "gap", gap, NEVER_COMMITTED)
            interval(row, "gap_dit_steps", gap_steps, NEVER_COMMITTED)
            if "gap_onset_theory" in r and k == len(amps) - 1:
                with_reason(row, "gap_onset_theory", r["gap_onset_theory"], NO_ONSET)
            if k == len(amps) - 1:
                row.update(gap_steps_of(r))
            records.append(row)
        for row in records[first:]:
            row.update(variant)
    meta = {"layer": "B", "amplitudes": amps, "d": record["d"], "samples": record["samples"], "seed": record["seed"],
            "scheme": record["scheme"], "units": {"t_int": "OU time", "tau_spec": "OU time", "gap": "OU time",
                                                "tau_spec_dit_steps": "DiT sampler steps", "gap_dit_steps": "DiT sampler steps"},
            "options": options_of(args)}
    return envelope("ou gap", meta, records, {"gap_log_amplitude_ratio": record["gap_log_amplitude_ratio"]})


def _throughout_records(r: dict, amps: list, variant: dict) -> list[dict]:
    """Window 'throughout': kind 'difference' (t, feature), 'onset' (feature), 'gap' (last feature vs first)."""
    g = r["g"]
    rows = [{"kind": "difference", **variant, "g": g, "feature": k, "amplitude": a, "t": t, "dit_step": step,
             "normalised_difference": r["normalised_difference"][j][k]}
            for j, (t, step) in enumerate(zip(r["t"], r["dit_steps"])) for k, a in enumerate(amps)]
    rows += [drop_empty_reasons({"kind": "onset", **variant, "g": g, "amplitude": amps[o["feature"]], **o})
             for o in r["onsets"]]
    rows.append({"kind": "gap", **variant, "g": g, "feature": len(amps) - 1, "amplitude": amps[-1],
                 **gap_steps_of(r)})
    return rows


def mode_gap_doc(args: argparse.Namespace, record: dict) -> dict:
    """Layer A: kind 'mode' (g, mode) with measured and predicted times, kind 'gap' (g)."""
    records = []
    for r in record["results"]:
        g = r["g"]
        for m, (rate, t_mode) in enumerate(zip(r["rates"], read_triples(r, "t_mode"))):
            row = {"kind": "mode", "g": g, "mode": m, "rate": rate}
            interval(row, "t_mode", t_mode, NO_CROSSING)
            if "t_mode_theory" in r:
                row["t_mode_theory"] = r["t_mode_theory"][m]
                if row["t_mode_theory"] is None:
                    row["t_mode_theory_reason"] = "does not speciate"
                row["t_mode_phi075_theory"] = r["t_mode_phi075_theory"][m]
            records.append(row)
        row = {"kind": "gap", "g": g}
        interval(row, "gap", read_triple(r, "gap"), NO_CROSSING)
        for key in ("gap_theory", "gap_theory_reason", "gap_phi075_theory"):
            if key in r:
                row[key] = r[key]
        records.append(row)
    meta = {"layer": "A", "amplitude": record["amplitude"], "d": record["d"], "samples": record["samples"], "seed": record["seed"],
            "scheme": record["scheme"], "units": {"t_mode": "OU time", "gap": "OU time"}, "options": options_of(args)}
    return envelope("ou gap", meta, records)


def plot_gap(source: str | Path, png: str | Path) -> None:
    """`ou gap`: commitment time per feature (layer B) or per mode (layer A) against g, and the gap."""
    doc = load_doc(source)
    if records_of(doc, "difference"):
        return plot_throughout(doc, png, "feature", "dit_step")
    plt = pyplot()
    layer_a = doc["meta"].get("layer") == "A"
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    groups = ("mode", "t_mode") if layer_a else ("commitment", "tau_spec")
    per = {}
    for r in records_of(doc, groups[0]):
        per.setdefault(r["mode" if layer_a else "feature"], []).append(r)
    for i, (k, rows) in enumerate(sorted(per.items())):
        name = groups[1]
        label = f"mode {k}" if layer_a else f"feature {k} (a = {rows[0]['amplitude']:g})"
        errorbar(ax, rows, "g", name, color=f"C{i}", label=label)
        theory = "t_mode_theory" if layer_a else "onset_theory"
        if all(r.get(theory) is not None for r in rows):
            ax.plot(as_floats([r["g"] for r in rows]), as_floats([r[theory] for r in rows]), "--", color=f"C{i}", lw=1,
                    label=f"{label}: theory")
    ax.set(xlabel="coupling g", ylabel="commitment time (OU)", title="Commitment per " + ("mode" if layer_a else "feature"))
    ax.legend(fontsize=8)
    gaps = records_of(doc, "gap")
    steps = not layer_a and all("gap_dit_steps" in r for r in gaps)
    name = "gap_dit_steps" if steps else "gap"
    errorbar(ax2, gaps, "g", name, color="k", label="measured (95% CI)")
    if layer_a and all("gap_theory" in r for r in gaps):
        ax2.plot(as_floats([r["g"] for r in gaps]), as_floats([r["gap_theory"] for r in gaps]), "--", color="C1", label="theory")
    ax2.axhline(0, color="grey", lw=0.8)
    ax2.set(xlabel="coupling g", ylabel="gap (DiT sampler steps)" if steps else "gap (OU time)", title="Synchronization gap")
    ax2.legend(fontsize=8)
    finish(fig, png)
