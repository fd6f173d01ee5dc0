"""`syncgap ou cloning`: the cloning (U-turn) agreement phi(t) of the two-Gaussian mixture and its crossing
time t_S, against the exact curve and 1/2 log Lambda (docs/science.md §2): parser, run, --json records, --plot."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from syncgap.theory.checks import check_int
from syncgap.theory.intervals import ENDS, read_triple

from ..arguments import SCALE_RANGE, IntRange
from ..output import nothing_measurable, print_json, print_table, to_jsonable
from ..plotting import add_plot_flag, as_floats, check_plot, finish, load_doc, plot_if_asked, pyplot, records_of
from ..records import NO_CROSSING, envelope, interval, options_of
from .options import add_sampler_options, check_d, grid_named, is_measured, path_progress, time_grid


def register(s: argparse._SubParsersAction) -> None:
    """Add `cloning` to the `syncgap ou` subcommands."""
    c = s.add_parser("cloning", help="cloning (U-turn) agreement of the two-Gaussian mixture (docs/science.md §2)")
    add_sampler_options(c)
    c.add_argument("--sigma", type=float, default=1.0, help=f"noise std sigma {SCALE_RANGE} of the two-Gaussian mixture (mu = 1, ||mu||^2 = d; default 1)")
    c.add_argument("--branches", type=IntRange(4, 10**4), default=25, help="number of branch (cloning) times, %(type)s (default 25)")
    add_plot_flag(c)
    c.set_defaults(func=run_cloning)


@grid_named
def run_cloning(args: argparse.Namespace) -> int:
    from syncgap.ou_models import measure
    from syncgap.theory.data import two_gaussian_mixture
    check_plot(args)
    data = two_gaussian_mixture(check_d(args.d), args.sigma)
    grid = time_grid(args)
    ts = 0.5 * np.log(float(data.eigenvalues()[0]))
    times = measure.speciation_window(grid, ts, 2.5, 3.5, check_int("branches", args.branches, 4, 10**4))
    r = measure.cloning(data, grid, args.samples, args.seed, branch_times=times, scheme=args.scheme,
                        n_boot=args.boot, progress=path_progress(args))
    lam = float(data.eigenvalues()[0])
    record = {"t_branch": r["t_branch"], **{f"agreement{end}": r[f"agreement{end}"][:, 0] for end in ENDS},
           **{f"t_speciation_measured{end}": r[f"t_speciation{end}"][0] for end in ENDS},     # feature 0
           **{f"t_speciation_sigmoid{end}": r[f"t_speciation_sigmoid{end}"][0] for end in ENDS},
           "t_speciation_theory": 0.5 * np.log(lam), "level": r["level"], "d": args.d,
           "samples": args.samples, "seed": args.seed, "scheme": args.scheme}
    from syncgap.theory.base import cloning_agreement
    record["agreement_theory"] = np.asarray(cloning_agreement(r["t_branch"], np.sqrt(args.d), args.sigma))
    record["t_phi075_theory"] = measure.cloning_crossing_theory(1.0, np.sqrt(args.d), args.sigma)
    doc = cloning_doc(args, record)
    plot_if_asked(args, doc, plot_cloning)
    if args.json:
        print_json(doc)
    else:
        print_table([{"t": t, "phi": a, "ci_low": lo, "ci_high": hi} for t, a, lo, hi in
                     zip(record["t_branch"], *read_triple(record, "agreement"))])
        est, lo, hi = (float(v) if is_measured(v) else None for v in read_triple(record, "t_speciation_measured"))
        shown = "not measurable" if est is None else f"{est:.3f}" + (
            "" if lo is None or hi is None else f" [{lo:.3f}, {hi:.3f}]")
        exact = record.get("t_phi075_theory")
        print(f"t_S measured (phi = 0.75) {shown}; theory 1/2 log Lambda = {record['t_speciation_theory']:.3f}; "
              f"exact phi = 0.75 at {'not computed' if not is_measured(exact) else format(exact, '.3f')}")
    if not is_measured(to_jsonable(record["t_speciation_measured"])):
        return nothing_measurable("ou cloning", "the agreement never crosses 0.75 on this grid (try more --steps "
                                  "or --branches)")
    return 0


def cloning_doc(args: argparse.Namespace, record: dict) -> dict:
    """One record per branching time; the fitted commitment times in `summary`."""
    theory_curve = record.get("agreement_theory")
    records = []
    agreement, low, high = read_triple(record, "agreement")
    for i, t in enumerate(record["t_branch"]):
        row = {"t_branch": t, "agreement": agreement[i], "ci_low": low[i], "ci_high": high[i]}   # one measured value
        if theory_curve is not None:
            row["agreement_theory"] = theory_curve[i]
        records.append(row)
    summary = {"level": record["level"], "t_S_theory": record["t_speciation_theory"],
               "t_phi075_theory": record.get("t_phi075_theory")}
    for name, key in (("t_S_measured", "t_speciation_measured"), ("t_S_sigmoid", "t_speciation_sigmoid")):
        interval(summary, name, read_triple(record, key), NO_CROSSING)
    meta = {"d": record["d"], "samples": record["samples"], "seed": record["seed"], "scheme": record["scheme"],
            "units": {"t_branch": "OU time"}, "options": options_of(args)}
    return envelope("ou cloning", meta, records, summary)


def plot_cloning(source: str | Path, png: str | Path) -> None:
    """`ou cloning`: agreement phi(t) with its band, the exact curve, the 0.75 level and t_S."""
    plt = pyplot()
    doc = load_doc(source)
    rows = sorted(records_of(doc), key=lambda r: r["t_branch"])
    t = as_floats([r["t_branch"] for r in rows])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.fill_between(t, as_floats([r["ci_low"] for r in rows]), as_floats([r["ci_high"] for r in rows]), color="C0", alpha=0.25)
    ax.plot(t, as_floats([r["agreement"] for r in rows]), "o", ms=4, color="C0", label="simulation (95% band)")
    if all("agreement_theory" in r for r in rows):
        ax.plot(t, as_floats([r["agreement_theory"] for r in rows]), "-", color="C0", label="exact theory")
    s = doc.get("summary", {})
    ax.axhline(s.get("level", 0.75), color="grey", ls=":", lw=1)
    ax.axvline(s["t_S_theory"], color="C1", ls="--", lw=1, label="t_S = 1/2 log Lambda")
    if s.get("t_S_measured") is not None:
        ax.axvline(s["t_S_measured"], color="C2", ls="-.", lw=1, label="measured crossing")
    ax.set(xlabel="cloning time t (OU)", ylabel="agreement phi(t)", title=f"Cloning, d = {doc['meta']['d']}")
    ax.legend(fontsize=8)
    finish(fig, png)
