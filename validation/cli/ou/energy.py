"""`syncgap ou energy`: the replica-difference energy per feature and its growth rate along the reverse run
(the OU analog of Protocol II): parser, run, --json records."""
from __future__ import annotations

import argparse

from syncgap.theory.intervals import interval_fields, read_triple

from ..arguments import SCALE_RANGE, IntRange, float_list
from ..output import print_json, print_table
from ..records import envelope, options_of
from .options import add_sampler_options, features, path_progress, time_grid


def register(s: argparse._SubParsersAction) -> None:
    """Add `energy` to the `syncgap ou` subcommands."""
    e = s.add_parser("energy", help="replica-difference energy per feature and its growth rate (Protocol II analog)")
    add_sampler_options(e, d=16, samples=2000, T=7.0, steps=700)
    e.add_argument("--g", type=float, default=0.5, help="gate strength g >= 0, dimensionless (default 0.5)")
    e.add_argument("--amplitudes", type=float_list, default=[20.0, 4.0],
                   help=f"feature amplitudes a_k {SCALE_RANGE}, data units, comma-separated (default 20,4)")
    e.add_argument("--every", type=IntRange(1, 10**9), default=10, help="record the energies every this many steps, %(type)s (default 10)")
    e.set_defaults(func=run_energy)


def run_energy(args: argparse.Namespace) -> int:
    from syncgap.ou_models import measure
    r = measure.difference_energy(features(args), time_grid(args), args.g, args.samples, args.seed,
                                  record_every=args.every, scheme=args.scheme, n_boot=args.boot,
                                  progress=path_progress(args))
    if args.json:
        print_json(energy_doc(args, r))
    else:
        print_table([{"t": t, **{f"E_{o}": e for o, e in zip(r["observables"], row)},
                      **{f"r_{o}": v for o, v in zip(r["observables"], rr)}}
                     for t, row, rr in zip(r["t"], r["energy"], r["rate"])])
    return 0


def energy_doc(args: argparse.Namespace, record: dict) -> dict:
    """One record per (recorded time, observable): energy and growth rates with their intervals."""
    records = []
    for i, t in enumerate(record["t"]):
        for k, obs in enumerate(record["observables"]):
            row = {"t": t, "observable": obs}
            for name in ("energy", "rate", "rate_drift"):
                if name not in record:   # rate_drift: the reverse SDE's drift-only rate, absent for ode/ddpm/ddim
                    row.update(interval_fields(name, None, None, None,
                                               f"defined for --scheme sde only (got {record['scheme']})"))
                    continue
                est, low, high = read_triple(record, name)
                row.update(interval_fields(name, est[i][k], low[i][k], high[i][k]))
            records.append(row)
    meta = {"samples": record["samples"], "seed": record["seed"], "scheme": record["scheme"], "units": {"t": "OU time"},
            "options": options_of(args)}
    return envelope("ou energy", meta, records)
