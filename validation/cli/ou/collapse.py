"""`syncgap ou collapse`: the time at which reverse paths lock onto training points under the empirical score,
against the theory's collapse time t_C (docs/science.md §2): parser, run, --json records."""
from __future__ import annotations

import argparse

import numpy as np

from syncgap.theory.checks import InputError
from syncgap.theory.intervals import read_triple

from ..arguments import SCALE_RANGE, IntRange
from ..output import print_json
from ..records import envelope, interval, options_of
from .options import add_sampler_options, check_d, path_progress, time_grid


def register(s: argparse._SubParsersAction) -> None:
    """Add `collapse` to the `syncgap ou` subcommands."""
    k = s.add_parser("collapse", help="collapse onto training points under the empirical score (§2)")
    add_sampler_options(k, d=32, samples=1000, T=5.0, steps=500)
    k.add_argument("--n-train", type=IntRange(2, 10**8), default=1000, help="training-set size n, %(type)s (default 1000)")
    k.add_argument("--sigma", type=float, default=1.0, help=f"std sigma {SCALE_RANGE} of the Gaussian training data (default 1)")
    k.set_defaults(func=run_collapse)


def run_collapse(args: argparse.Namespace) -> int:
    from syncgap.ou_models import measure
    if args.scheme == "ddim":
        raise InputError("--scheme ddim does not apply to ou collapse: the collapse run's deterministic sampler "
                         "is the probability-flow ODE; use --scheme ode (or sde, ddpm)")
    r = measure.collapse(args.n_train, check_d(args.d), time_grid(args), args.samples, args.seed, args.sigma,
                         scheme=args.scheme, n_boot=args.boot,
                         progress=path_progress(args))
    r = {k: v for k, v in r.items() if k not in ("t_lock", "final_nn_distance")} | {
        "final_nn_distance_median": None if r["final_nn_distance"] is None else float(np.median(r["final_nn_distance"]))}
    if args.json:
        print_json(collapse_doc(args, r))
    else:
        est, lo, hi = read_triple(r, "t_lock_median")
        print(f"lock time (median) {est:.3f} [{lo:.3f}, {hi:.3f}]; theory t_C = {r['t_collapse_theory']:.3f}")
    return 0


def collapse_doc(args: argparse.Namespace, record: dict) -> dict:
    """One record per statistic of the lock time (median, mean) with its interval; theory in `summary`."""
    records = []
    for stat in ("median", "mean"):
        row = {"statistic": stat}
        interval(row, "t_lock", read_triple(record, f"t_lock_{stat}"), "no path locked onto a training point")
        records.append(row)
    meta = {k: record[k] for k in ("n_train", "d", "sigma", "samples", "seed", "scheme")} | {
        "units": {"t_lock": "OU time"}, "options": options_of(args)}
    return envelope("ou collapse", meta, records, {"t_collapse_theory": record["t_collapse_theory"],
                                                   "final_nn_distance_median": record.get("final_nn_distance_median")})
