"""`syncgap dit gate`: the DiT's gate response rho_eff(g, feature, step) (dit_bridge.gate_response).

    syncgap dit gate --model fhgm --g 0.25,1,5 --pairs 64 --json
    syncgap dit gate --model fhgm --g 1 --plot gate.png

Per g, feature and sampler step: rho_eff, the slope of phi_k.(D_A - D_B) with the gate on against off on the
pair's own coupled states, with its 95% bootstrap interval over pairs; rho_lin, the small-perturbation reading
(a sensitivity check only); and the exact analog's rho(g) = (1 - g)/(1 + g) beside them. Features: the FHGM's
(theory.data.frequency_hierarchy_mixture) of fhgm-type models. The default seed is the suite's (7), which no
Protocol I cell uses.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from syncgap.theory.checks import InputError

from ..arguments import IntRange, add_json_flag, float_list
from ..output import print_json, print_table
from ..plotting import add_plot_flag, as_floats, check_plot, finish, load_doc, plot_if_asked, pyplot, records_of
from ..progress import progress_bar
from ..records import envelope
from .model_options import load_model_for


def register(dsub: argparse._SubParsersAction) -> None:
    p = dsub.add_parser("gate", help="the DiT's measured gate factor rho_eff per feature and step (the bridge)")
    p.add_argument("--model", default="fhgm", help="an FHGM-trained model: fhgm, fhgm-flat, fhgm-deep (default fhgm)")
    p.add_argument("--g", type=float_list, default=[0.25, 0.5, 1.0, 2.0, 5.0],
                   help="coupling strengths g > 0, comma-separated (default 0.25,0.5,1,2,5)")
    p.add_argument("--steps", type=IntRange(2, 1000), default=30, help="DDPM sampler steps, %(type)s (default 30)")
    p.add_argument("--pairs", type=IntRange(2, 10**6), default=64, help="replica pairs, %(type)s (default 64)")
    p.add_argument("--eps", type=float, default=0.3, help="start perturbation eps in (0, 1] (default 0.3)")
    p.add_argument("--seed", type=IntRange(0, 2**63 - 1), default=7, help="seed, %(type)s (default 7: no Protocol I "
                   "cell of the suite uses it)")
    p.add_argument("--n-boot", type=IntRange(10, 10**6), default=200, help="bootstrap resamples over pairs, %(type)s")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_json_flag(p)
    add_plot_flag(p)
    p.set_defaults(func=run_gate)


def gate_doc(args: argparse.Namespace, model: str, names: list[str], results: list[dict]) -> dict:
    """--json document: kind 'response' per (g, feature, step); summary per g: the last step's rho_eff."""
    records = []
    for r in results:
        for s in range(r["num_steps"]):
            for k, name in enumerate(names):
                row = {"kind": "response", "g": r["g"], "feature": name, "step": s,
                       "rho_analog": r["rho_analog"], "linear_delta": r["linear_delta"]}
                for key in ("rho_eff", "rho_eff_low", "rho_eff_high", "rho_lin"):
                    v = float(r[key][s][k])
                    row[key] = v if v == v else None
                    if v != v:
                        row[f"{key}_reason"] = "no pair has a denoiser difference on this feature with the gate off"
                records.append(row)
    meta = {"model": model, "options": {k: getattr(args, k) for k in ("g", "steps", "pairs", "eps", "seed", "n_boot")},
            "units": {"step": "sampler step (0 = first)", "rho_eff": "dimensionless"}}
    summary = {f"{r['g']:g}": {"rho_eff_last_step": [float(x) for x in r["rho_eff"][-1]]} for r in results}
    return envelope("dit gate", meta, records, summary)


def run_gate(args: argparse.Namespace) -> int:
    from syncgap.dit_bridge.coupling import check_g
    from syncgap.dit_bridge.gate_response import gate_response
    from syncgap.validation.suites.dit.cells import fhgm_mixture

    gs = [check_g("--g", g) for g in args.g]
    if any(g <= 0 for g in gs):
        raise InputError("--g: the gate response needs g > 0 (at g = 0 the gate is off)")
    check_plot(args)
    model = load_model_for("--model", args.model, seed=args.seed)
    mix = fhgm_mixture(model)
    if mix is None:
        raise InputError(f"--model {args.model}: not trained on an FHGM, so it has no features to read the gate on")
    results = [gate_response(model, g, mix.patterns, n_pairs=args.pairs, seed=args.seed, num_steps=args.steps,
                             eps=args.eps, n_boot=args.n_boot,
                             progress=progress_bar(f"dit gate: g = {g:g}", args.quiet)) for g in gs]
    doc = gate_doc(args, model.name, list(mix.names), results)
    plot_if_asked(args, doc, plot_gate)
    if args.json:
        print_json(doc)
    else:
        print_table([{"g": r["g"], "rho(g)": round(r["rho_analog"], 3),
                      **{f"{n} min": round(float(min(r["rho_eff"][:, k])), 3) for k, n in enumerate(mix.names)},
                      **{f"{n} last": round(float(r["rho_eff"][-1, k]), 3) for k, n in enumerate(mix.names)}}
                     for r in results])
    return 0


def plot_gate(source: str | Path, png: str | Path) -> None:
    """`dit gate`: rho_eff per feature against the sampler step (95% band), one panel per g, with the exact
    analog's rho(g) (dashed) and the small-perturbation reading rho_lin (dotted)."""
    from syncgap.theory.gated import routing_factor   # sympy: loaded when a figure is drawn
    plt = pyplot()
    doc = load_doc(source)
    rows = records_of(doc, "response")
    gs = sorted({r["g"] for r in rows})
    feats = list(dict.fromkeys(r["feature"] for r in rows))
    fig, axes = plt.subplots(1, len(gs), figsize=(3.2 * len(gs), 3.4), squeeze=False, sharey=True)
    for ax, g in zip(axes[0], gs):
        for i, f in enumerate(feats):
            sel = sorted((r for r in rows if r["g"] == g and r["feature"] == f), key=lambda r: r["step"])
            s = [r["step"] for r in sel]
            ax.fill_between(s, as_floats([r["rho_eff_low"] for r in sel]), as_floats([r["rho_eff_high"] for r in sel]),
                            color=f"C{i}", alpha=0.2)
            ax.plot(s, as_floats([r["rho_eff"] for r in sel]), "-", color=f"C{i}", label=f)
            ax.plot(s, as_floats([r["rho_lin"] for r in sel]), ":", color=f"C{i}", lw=1)
        ax.axhline(routing_factor(g), color="grey", ls="--", lw=1, label="analog rho(g)")
        ax.set(xlabel="sampler step", title=f"g = {g:g}")
    axes[0][0].set_ylabel("rho_eff (gate on vs off)")
    axes[0][0].legend(fontsize=7)
    finish(fig, png)
