"""`syncgap dit gains`: routing χ_k and pattern π_k gains of every layer at the symmetric point (docs/science.md §5).

    syncgap dit gains --model tiny --step 25 --json
    syncgap dit gains --model /path/to/DiT-XL-2-256 --step 20 --device cuda --modes 16 --gap0 40

Prints per layer the low-mode ratio |π|/|χ| (routing dominance, pass/fail at --threshold) and
the gain-only frequency-blind contrast η_gain; with --json the whole record plus theory.routing's
predicted gap ratio (ρ(g) + η)/(1 + η) at the --g values and, with --gap0, the critical coupling --
but only from measured inputs that fit the law's assumptions (`gains_prediction`): the margin
contrast is not measured here, so these are null with a reason (and Δχ ≤ 0 is named as such);
"predicted_top" the same from the top-direction gains (exact channel trace only). --out DIR writes
DIR/options.json and DIR/gains.json.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from syncgap.theory.checks import InputError, check_int, check_positive

from ..arguments import IntRange, add_json_flag, float_list
from ..output import out_folder, print_json, print_table, to_jsonable
from ..plotting import (add_plot_flag, as_floats, check_plot, finish, load_doc, plot_if_asked, pyplot,
                        records_of)
from ..progress import progress_bar
from ..records import envelope
from .model_options import load_model_for


def register(dsub: argparse._SubParsersAction) -> None:
    p = dsub.add_parser("gains", help="routing/pattern gains per layer and token mode (routing dominance, η)")
    p.add_argument("--model", default="fhgm",
                   help="fhgm, fhgm-flat, fhgm-deep, digits, facebook/DiT-XL-2-256, a local directory, or tiny (random "
                        "weights, for tests only: its numbers mean nothing) (default fhgm)")
    p.add_argument("--step", type=IntRange(0, 999), required=True, help="sampler step of the symmetric point (0 = first), %(type)s, below --num-steps")
    p.add_argument("--num-steps", type=IntRange(1, 1000), default=50, help="sampler steps of the run, %(type)s (default 50)")
    p.add_argument("--sampler", choices=["ddpm", "ddim"], default="ddpm",
                   help="diffusers scheduler of the capture run (default ddpm)")
    p.add_argument("--layers", type=IntRange(0, many=True), default=None,
                   help="layers to measure, %(type)s, each below the model's layer count (default all), e.g. 23,24,25")
    p.add_argument("--modes", type=IntRange(0), default=16, help="token modes kept, evenly along the frequency order, "
                   "%(type)s (0 = all)")
    p.add_argument("--samples", type=IntRange(1, 10**6), default=2, help="noise draws (hidden states) averaged over, %(type)s")
    p.add_argument("--probes", type=IntRange(1), default=64, help="Rademacher channel probes when D > --exact-max, %(type)s")
    p.add_argument("--exact-max", type=IntRange(0), default=128, help="exact channel trace for hidden size D <= this, %(type)s")
    p.add_argument("--threshold", type=float, default=0.25, help="routing dominance: low-mode |π|/|χ| < this")
    p.add_argument("--g", type=float_list, default=[0.0, 0.5, 0.9, 1.0], help="g values for the predicted ratio")
    p.add_argument("--gap0", type=float, default=None, help="gap at g = 0 in sampler steps (critical coupling)")
    p.add_argument("--class-label", type=IntRange(0), default=None,
                   help="class label of the capture run, %(type)s, below the model's num_classes (default: random)")
    p.add_argument("--seed", type=IntRange(0, 2**63 - 1), default=0, help="random seed of the capture run, %(type)s")
    p.add_argument("--chunk", type=IntRange(1), default=256, help="perturbations per JVP batch (memory), %(type)s")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where the model runs (default cpu)")
    p.add_argument("--dtype", choices=["fp32", "fp64"], default="fp32",
                   help="precision of the Jacobian-vector products (default fp32)")
    p.add_argument("--timestep-embedding", choices=["diffusers", "original"], default=None,
                   help="sinusoid frequencies: diffusers' (shift 1) or the original DiT's (shift 0)")
    p.add_argument("--download", action="store_true", help="allow fetching facebook/DiT-XL-2-256 from the hub")
    p.add_argument("--out", default=None, help="folder for options.json + gains.json")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_json_flag(p)
    add_plot_flag(p)
    p.set_defaults(func=run_gains)


CHAIN_GAPS = ("the margins b_k (not measured), the MLP gain, the adaLN gate scaling, the residual path, the final "
              "layer, the scheduler coefficients and the time dependence are not in the chain from gains to gap")


def gains_prediction(eta, delta_chi, gs, gap0=None, margin_contrast=None) -> dict:
    """theory.routing's gap ratio (ρ(g) + η)/(1 + η), collapse and critical coupling from measured inputs,
    or `null` with `<name>_reason` where an input is unmeasured or contradicts the law's assumptions.

    The law assumes (docs/science.md §4, §8; docs/protocols.md "The gap-ratio bound") routing dominance
    with low modes routed more strongly (Δχ > 0), a measured margin contrast π (η = η_gain + margins),
    and |η| < 1. `syncgap dit gains` measures η_gain only, so with margin_contrast=None no number is given.
    """
    import math

    from syncgap.theory import routing
    reasons = []
    if margin_contrast is None:
        reasons.append(f"margin contrast not measured: {CHAIN_GAPS}")
    if delta_chi is None or not math.isfinite(delta_chi) or not delta_chi > 0:
        reasons.append(f"delta_chi = {delta_chi:.3g} <= 0 (or undefined): the low-frequency modes are not routed "
                       "more strongly than the high ones, against the law's ordering assumption"
                       if delta_chi is not None and math.isfinite(delta_chi) else "delta_chi undefined")
    eta_total = None if eta is None or margin_contrast is None else eta + margin_contrast
    if eta is None or not math.isfinite(eta) or (eta_total is not None and abs(eta_total) >= 1):
        reasons.append("|eta| >= 1 or undefined: outside routing dominance, the law predicts no O(rho) collapse")
    out = {"eta_gain": eta, "delta_chi": delta_chi, "margin_contrast": margin_contrast,
           "margin_contrast_reason": None if margin_contrast is not None else "not measured",
           "eta": None if reasons else eta_total}
    keys = ["gap_ratio", "collapse_coupling"] + (["critical_coupling"] if gap0 is not None else [])
    if reasons:
        why = "; ".join(reasons)
        return out | {k: None for k in keys} | {f"{k}_reason": why for k in keys + ["eta"]}
    out["gap_ratio"] = {f"{g:g}": routing.predicted_gap_ratio(g, eta_total) for g in gs}
    out["collapse_coupling"] = routing.collapse_coupling(eta_total)
    if gap0 is not None:
        out["critical_coupling"] = routing.critical_coupling(gap0, eta_total)
    return out


def _top_delta_chi(res) -> float:
    top = res.chi_top.sum(0)
    return float(top[res.low_modes].mean() - top[res.high_modes].mean())


def run_gains(args: argparse.Namespace) -> int:
    import torch

    from syncgap.dit_bridge.gains import layer_gains

    check_int("--num-steps", args.num_steps, 1, 1000)
    check_int("--modes", args.modes, 0)
    if args.gap0 is not None:   # checked before the capture run, whether or not a prediction is possible
        check_positive("--gap0", args.gap0)
    check_plot(args)
    if args.out:
        out_folder(args.out)   # fail before the capture run, not after it
    if args.device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available here; use --device cpu")
    dtype = torch.float64 if args.dtype == "fp64" else torch.float32
    model = load_model_for("--model", args.model, seed=args.seed, dtype=dtype, device=args.device,
                     timestep_embedding=args.timestep_embedding, local_only=not args.download)
    progress = progress_bar("dit gains: layers", args.quiet)
    labels = None if args.class_label is None else [args.class_label]
    res = layer_gains(model, args.step, num_steps=args.num_steps, layers=args.layers,
                      n_modes=args.modes or None, n_samples=args.samples, seed=args.seed, labels=labels,
                      sampler=args.sampler, threshold=args.threshold, exact_max=args.exact_max,
                      n_probes=args.probes, chunk=args.chunk, progress=progress)
    record = {"model": {"name": model.name, "source": model.source, "num_layers": model.num_layers},
              "options": {k: v for k, v in vars(args).items() if k not in ("func", "json", "quiet", "_ranges")},
              "gains": to_jsonable(res),
              "predicted": gains_prediction(res.eta_gain_network, res.delta_chi_network, args.g, args.gap0),
              "predicted_top": gains_prediction(res.eta_gain_top_network, _top_delta_chi(res), args.g, args.gap0)}
    if args.out:
        for name, obj in (("options.json", record["options"]), ("gains.json", record)):
            with open(os.path.join(args.out, name), "w") as f:
                json.dump(to_jsonable(obj), f, indent=2)
    doc = gains_doc(args, record)
    plot_if_asked(args, doc, plot_gains)
    if args.json:
        print_json(doc)
        return 0
    low = res.low_modes
    rows = [{"layer": int(layer), "chi_low": float(res.chi[i, low].mean()), "pi_low": float(res.pi[i, low].mean()),
             "max |pi|/|chi| (low)": float(res.max_low_ratio[i]),
             "dominant": "pass" if res.dominant[i] else "fail", "eta_gain": float(res.eta_gain[i]),
             "chi_top_low": float(res.chi_top[i, low].mean()), "pi_top_low": float(res.pi_top[i, low].mean()),
             "max ratio top (low)": float(res.max_low_ratio_top[i]),
             "dominant top": "pass" if res.dominant_top[i] else "fail", "eta_gain_top": float(res.eta_gain_top[i])}
            for i, layer in enumerate(res.layers)]
    print_table(rows)
    print(f"network eta_gain = {res.eta_gain_network:.4g}, delta_chi = {res.delta_chi_network:.4g} "
          f"top-direction eta_gain = {res.eta_gain_top_network:.4g}; "
          f"threshold {res.threshold:g} on the first {int(low.sum())} of {low.size} modes")
    pred = record["predicted"]
    if pred["gap_ratio"] is None:
        print(f"predicted gap ratio, collapse and critical coupling: none ({pred['gap_ratio_reason']})")
    else:
        print("predicted gap ratio " + ", ".join(f"g = {g}: {r:.3g}" for g, r in pred["gap_ratio"].items())
              + f"; collapse coupling {pred['collapse_coupling']:.3g}")
    return 0


def gains_doc(args: argparse.Namespace, record: dict) -> dict:
    """kind 'mode' (layer, mode), kind 'layer' (layer), kind 'prediction' (g, direction); network values in summary."""
    gains = record["gains"]
    records = []
    per_mode = ("chi", "pi", "chi_value", "chi_key", "chi_se", "pi_se", "ratio", "chi_top", "pi_top", "ratio_top")
    for i, layer in enumerate(gains["layers"]):
        for m, mode in enumerate(gains["mode_index"]):
            row = {"kind": "mode", "layer": layer, "mode": mode, "frequency": gains["frequency"][m],
                   "low_mode": gains["low_modes"][m], "high_mode": gains["high_modes"][m]}
            row.update({k: gains[k][i][m] for k in per_mode if gains.get(k) is not None})
            records.append(row)
        records.append({"kind": "layer", "layer": layer,
                        **{k: gains[k][i] for k in ("dominant", "max_low_ratio", "eta_gain", "delta_chi", "delta_pi",
                                                    "dominant_top", "max_low_ratio_top", "eta_gain_top")
                           if gains.get(k) is not None}})
    for direction, pred in (("network", record["predicted"]), ("top", record["predicted_top"])):
        ratios = pred.get("gap_ratio") or {f"{g:g}": None for g in args.g}   # null with a reason (gains_prediction)
        for g, ratio in ratios.items():
            records.append({"kind": "prediction", "direction": direction, "g": float(g), "gap_ratio": ratio,
                            "gap_ratio_reason": pred.get("gap_ratio_reason")})
    summary = {k: gains[k] for k in ("eta_gain_network", "delta_chi_network", "delta_pi_network",
                                     "eta_gain_top_network", "threshold", "step", "timestep") if k in gains}
    pred, top = record["predicted"], record["predicted_top"]
    summary |= {"collapse_coupling": pred.get("collapse_coupling"),
                "collapse_coupling_reason": pred.get("collapse_coupling_reason"),
                "collapse_coupling_top": top.get("collapse_coupling"),
                "collapse_coupling_top_reason": top.get("collapse_coupling_reason"),
                "critical_coupling": pred.get("critical_coupling"),
                "critical_coupling_reason": pred.get("critical_coupling_reason"),
                "margin_contrast": pred.get("margin_contrast"),
                "margin_contrast_reason": pred.get("margin_contrast_reason")}
    meta = {"model": record["model"], "options": record["options"], "notes": gains.get("notes")}
    return envelope("dit gains", meta, records, summary)


def plot_gains(source: str | Path, png: str | Path) -> None:
    """`dit gains`: routing gain chi and pattern gain pi per mode frequency, one line per layer; predicted gap ratio."""
    from syncgap.theory.gated import routing_factor   # sympy: loaded when a figure is drawn
    plt = pyplot()
    doc = load_doc(source)
    modes = records_of(doc, "mode")
    layers = sorted({r["layer"] for r in modes})
    fig, (ax, ax2, ax3) = plt.subplots(1, 3, figsize=(14, 4))
    for i, layer in enumerate(layers):
        sel = sorted((r for r in modes if r["layer"] == layer), key=lambda r: r["frequency"])
        f = as_floats([r["frequency"] for r in sel])
        ax.plot(f, as_floats([r["chi"] for r in sel]), "o-", ms=3, color=f"C{i % 10}", label=f"layer {layer}")
        ax2.plot(f, as_floats([r["pi"] for r in sel]), "o-", ms=3, color=f"C{i % 10}", label=f"layer {layer}")
    ax.set(xlabel="mode frequency", ylabel="routing gain chi", title="Routing gain per mode")
    ax2.set(xlabel="mode frequency", ylabel="pattern gain pi", title="Pattern gain per mode")
    ax.legend(fontsize=7)
    for i, direction in enumerate(("network", "top")):
        sel = sorted((r for r in records_of(doc, "prediction") if r["direction"] == direction), key=lambda r: r["g"])
        if sel:
            ax3.plot([r["g"] for r in sel], as_floats([r["gap_ratio"] for r in sel]), "o-", color=f"C{i}", label=direction)
    g = np.linspace(0, max([1.0] + [r["g"] for r in records_of(doc, "prediction")]), 100)
    ax3.plot(g, routing_factor(g), ":", color="grey", label="rho(g), eta = 0")
    ax3.axhline(0, color="grey", lw=0.8)
    ax3.set(xlabel="coupling g", ylabel="predicted gap(g) / gap(0)", title="Predicted gap ratio")
    ax3.legend(fontsize=7)
    finish(fig, png)
