"""`syncgap ou`: coupled OU replica simulations with exact scores (cloning, gap, energy, collapse)."""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from syncgap.theory.checks import InputError, check_int
from syncgap.theory.intervals import ENDS, interval_fields, interval_keys, read_interval, read_triple

from . import tidy
from .common import (SCALE_RANGE, IntRange, absent, add_json_flag, float_list, nothing_measurable, out_folder,
                     print_json, print_table, to_jsonable)


def _measured(value) -> bool:
    """A measured number, not a null or NaN placeholder."""
    return value is not None and not (isinstance(value, float) and value != value)


def _common(p, d=256, samples=10000, T=10.0, steps=1000):
    p.add_argument("--d", type=IntRange(1, 10**6), default=d, help=f"dimension d of each replica, %(type)s (default {d})")
    p.add_argument("--samples", type=IntRange(2, 10**9), default=samples, help=f"independent paths (pairs for two-replica protocols), %(type)s (default {samples})")
    p.add_argument("--seed", type=IntRange(0, 2**63 - 1), default=0, help="random seed, %(type)s; results are bitwise reproducible")
    p.add_argument("--T", type=float, default=T, help=f"start OU time T > 0 of the reverse process, dimensionless (default {T})")
    p.add_argument("--steps", type=IntRange(1, 10**7), default=steps, help=f"reverse steps on the uniform OU grid from T to 0, %(type)s (default {steps}); a measurement needs enough of them near its times (at least 4 grid times in the window it fits)")
    p.add_argument("--ddpm-steps", type=IntRange(0, 1000), default=0,
                   help="use DiT's DDPM schedule with this many sampler steps instead of the OU grid, %(type)s "
                        "(default 0: the OU grid)")
    p.add_argument("--scheme", choices=("sde", "ode", "ddpm", "ddim"), default="sde",
                   help="sampler: reverse SDE, probability-flow ODE, or DiT's DDPM/DDIM update (default sde)")
    p.add_argument("--boot", type=IntRange(10, 10**6), default=300, help="bootstrap resamples for the 95%% intervals, %(type)s (default 300)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_json_flag(p)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ou", help="coupled OU replica simulations (cloning, gap, energy, collapse)")
    s = p.add_subparsers(dest="ou_command", metavar="OU_COMMAND", required=True)
    c = s.add_parser("cloning", help="cloning (U-turn) agreement of the two-Gaussian mixture (docs/science.md §2)")
    _common(c)
    c.add_argument("--sigma", type=float, default=1.0, help=f"noise std sigma {SCALE_RANGE} of the two-Gaussian mixture (mu = 1, ||mu||^2 = d; default 1)")
    c.add_argument("--branches", type=IntRange(4, 10**4), default=25, help="number of branch (cloning) times, %(type)s (default 25)")
    tidy.add_plot_flag(c)
    c.set_defaults(func=run_cloning)
    g = s.add_parser("gap", help="Protocol I synchronization gap of two sign features against the gate g (§4)")
    _common(g, d=16, samples=4000, T=7.0, steps=700)
    g.add_argument("--g", type=float_list, default=[0.0, 0.5, 0.9, 0.99, 10.0], help="gate strengths g >= 0, comma-separated, dimensionless; rho(g) = (1-g)/(1+g)")
    g.add_argument("--amplitudes", type=float_list, default=[20.0, 4.0],
                   help=f"feature amplitudes a_k {SCALE_RANGE} of the sign mixture, data units, comma-separated (default 20,4)")
    g.add_argument("--dit-steps", type=IntRange(1, 1000), default=250, help="DiT sampler steps used to express the gap in sampler steps, %(type)s (default 250)")
    g.add_argument("--out", default=None,
                   help="folder for options.json + metrics.jsonl (one line per g); a rerun resumes")
    g.add_argument("--layer", choices=("B", "A"), default="B",
                   help="B: gated pair, Protocol I on two features (default); A: drift-coupled pair "
                        "[[1,-g],[-g,1]], per-mode cloning of one feature (first amplitude), |g| < 1")
    _variant_flags(g)
    tidy.add_plot_flag(g)
    g.set_defaults(func=run_gap)
    e = s.add_parser("energy", help="replica-difference energy per feature and its growth rate (Protocol II analog)")
    _common(e, d=16, samples=2000, T=7.0, steps=700)
    e.add_argument("--g", type=float, default=0.5, help="gate strength g >= 0, dimensionless (default 0.5)")
    e.add_argument("--amplitudes", type=float_list, default=[20.0, 4.0],
                   help=f"feature amplitudes a_k {SCALE_RANGE}, data units, comma-separated (default 20,4)")
    e.add_argument("--every", type=IntRange(1, 10**9), default=10, help="record the energies every this many steps, %(type)s (default 10)")
    e.set_defaults(func=run_energy)
    k = s.add_parser("collapse", help="collapse onto training points under the empirical score (§2)")
    _common(k, d=32, samples=1000, T=5.0, steps=500)
    k.add_argument("--n-train", type=IntRange(2, 10**8), default=1000, help="training-set size n, %(type)s (default 1000)")
    k.add_argument("--sigma", type=float, default=1.0, help=f"std sigma {SCALE_RANGE} of the Gaussian training data (default 1)")
    k.set_defaults(func=run_collapse)


def _variant_flags(p) -> None:
    """--window, --noise, --eps: the protocol variant (docs/protocols.md); today's Protocol I by default."""
    p.add_argument("--window", choices=("release", "switch-on", "throughout", "clone"), default="release",
                   help="release: coupled for the first t_int then independent (default); switch-on: independent "
                        "then coupled to the end; throughout: coupled all run, onsets read from the replica difference; "
                        "clone: coupled cloning, the coupled pair cloned at t_int and both copies run on coupled "
                        "(agreement of a replica with its copy; at g = 0 it is cloning)")
    p.add_argument("--noise", choices=("independent", "shared"), default="independent",
                   help="per-step noise of the two replicas: independent (default) or shared (only the start differs)")
    p.add_argument("--eps", type=float, default=None,
                   help="antisymmetric start sqrt(1-eps^2) z0 +- eps z1, eps in [0, 1] (default: two independent "
                        "draws; 0.3 for --window throughout)")


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


def _grid(args):
    from syncgap.ou_models import engine
    ou = engine.ou_grid(args.T, args.steps)   # checks --T and --steps even where --ddpm-steps replaces them
    if args.ddpm_steps == 0:
        return ou
    return engine.ddpm_grid(check_int("--ddpm-steps", args.ddpm_steps, 1, 1000))


def _progress(args):
    from .progress import progress_bar
    return progress_bar(f"ou {args.ou_command}: paths", args.quiet)


def _check_d(d):
    return check_int("d", d, 1, 10**6)


def _grid_named(run):
    """Re-raise the library's "too few grid times" error naming --steps (the grid's resolution), not --T."""
    import functools

    from syncgap.theory.checks import InputError

    @functools.wraps(run)
    def wrapped(args):
        try:
            return run(args)
        except InputError as exc:
            text = str(exc)
            if "distinct branch times" not in text and not text.startswith("steps: "):
                raise
            # the grid is --ddpm-steps' where given (it replaces --T and --steps), else --steps'
            flag = "--ddpm-steps" if getattr(args, "ddpm_steps", 0) else "--steps"
            value = args.ddpm_steps if flag == "--ddpm-steps" else args.steps
            why = text.removeprefix("steps: ").removesuffix("; use more steps")
            raise InputError(f"{flag}={value} gives too coarse a time grid for this measurement ({why}); "
                             f"use more {flag}") from None
    return wrapped


@_grid_named
def run_cloning(args: argparse.Namespace) -> int:
    from syncgap.ou_models import measure
    from syncgap.theory.data import two_gaussian_mixture
    tidy.check_plot(args)
    data = two_gaussian_mixture(_check_d(args.d), args.sigma)
    grid = _grid(args)
    ts = 0.5 * np.log(float(data.eigenvalues()[0]))
    times = measure.speciation_window(grid, ts, 2.5, 3.5, check_int("branches", args.branches, 4, 10**4))
    r = measure.cloning(data, grid, args.samples, args.seed, branch_times=times, scheme=args.scheme,
                        n_boot=args.boot, progress=_progress(args))
    lam = float(data.eigenvalues()[0])
    rec = {"t_branch": r["t_branch"], **{f"agreement{end}": r[f"agreement{end}"][:, 0] for end in ENDS},
           **{f"t_speciation_measured{end}": r[f"t_speciation{end}"][0] for end in ENDS},     # feature 0
           **{f"t_speciation_sigmoid{end}": r[f"t_speciation_sigmoid{end}"][0] for end in ENDS},
           "t_speciation_theory": 0.5 * np.log(lam), "level": r["level"], "d": args.d,
           "samples": args.samples, "seed": args.seed, "scheme": args.scheme}
    from syncgap.theory.base import cloning_agreement
    rec["agreement_theory"] = np.asarray(cloning_agreement(r["t_branch"], np.sqrt(args.d), args.sigma))
    rec["t_phi075_theory"] = measure.cloning_crossing_theory(1.0, np.sqrt(args.d), args.sigma)
    doc = tidy.ou_cloning(args, rec)
    tidy.plot_if_asked(args, doc)
    if args.json:
        print_json(doc)
    else:
        print_table([{"t": t, "phi": a, "ci_low": lo, "ci_high": hi} for t, a, lo, hi in
                     zip(rec["t_branch"], *read_triple(rec, "agreement"))])
        est, lo, hi = (float(v) if _measured(v) else None for v in read_triple(rec, "t_speciation_measured"))
        shown = "not measurable" if est is None else f"{est:.3f}" + (
            "" if lo is None or hi is None else f" [{lo:.3f}, {hi:.3f}]")
        exact = rec.get("t_phi075_theory")
        print(f"t_S measured (phi = 0.75) {shown}; theory 1/2 log Lambda = {rec['t_speciation_theory']:.3f}; "
              f"exact phi = 0.75 at {'not computed' if not _measured(exact) else format(exact, '.3f')}")
    if not _measured(to_jsonable(rec["t_speciation_measured"])):
        return nothing_measurable("ou cloning", "the agreement never crosses 0.75 on this grid (try more --steps "
                                  "or --branches)")
    return 0


def _features(args):
    from syncgap.theory.checks import InputError
    from syncgap.theory.data import SignFeatureMixture
    d = _check_d(args.d)
    F = len(args.amplitudes)
    if F < 1 or F > d:
        raise InputError(f"--amplitudes: need 1 to --d={d} values (one feature per coordinate), got {F}")
    return SignFeatureMixture(np.eye(d)[:F], np.asarray(args.amplitudes), 1.0, (d,))


def _sweep(args, compute) -> list:
    """Rows of compute(g) for every g; with --out, finished rows are kept in metrics.jsonl and reused."""
    from syncgap.theory.checks import InputError
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
    d = _check_d(args.d)
    amp = float(args.amplitudes[0])
    data = SignFeatureMixture(np.eye(d)[:1], np.array([amp]), 1.0, (d,))
    def compute(g):
        r = measure.mode_gap(data, _grid(args), g, args.samples, args.seed, scheme=args.scheme,
                             n_boot=args.boot, progress=_progress(args))
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
    rows = _sweep(args, compute)
    rec = {"layer": "A", "g": args.g, "amplitude": amp, "d": d, "samples": args.samples, "seed": args.seed,
           "scheme": args.scheme, "results": rows}
    doc = tidy.ou_gap_layer_a(args, rec)
    tidy.plot_if_asked(args, doc)
    if args.json:
        print_json(doc)
    else:
        print_table([{"g": r["g"], "t_slow": r["t_mode"][0], "t_fast": r["t_mode"][1], "gap": r["gap"],
                      "gap_lo": r["gap_low"], "gap_hi": r["gap_high"], "gap_t_S_theory": r.get("gap_theory", float("nan")),
                      "gap_t_S_theory_reason": r.get("gap_theory_reason"),
                      "gap_phi075_theory": r.get("gap_phi075_theory", float("nan"))}
                     for r in rows])
    if not any(_measured(r["gap"]) for r in rows):
        return nothing_measurable("ou gap", "no mode gap could be measured at any g on this grid (try more --steps)")
    return 0


@_grid_named
def run_gap(args: argparse.Namespace) -> int:
    check_int("--dit-steps", args.dit_steps, 1, 1000)
    tidy.check_plot(args)
    if args.layer == "A":
        if (args.window, args.noise, args.eps) != ("release", "independent", None):
            from syncgap.theory.checks import InputError
            raise InputError("--window/--noise/--eps: the protocol variants are layer B's (the gate); "
                             "--layer A measures per-mode cloning")
        return run_gap_layer_a(args)
    data = _features(args)
    from syncgap.ou_models import variants
    variants.check_variant(args.window, args.noise, args.eps)

    def compute(g):
        r = variants.run_protocol(data, _grid(args), g, args.samples, args.window, args.noise, args.eps,
                                  seed=args.seed, scheme=args.scheme, n_boot=args.boot,
                                  dit_sampling_steps=args.dit_steps, progress=_progress(args))
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
    rows = _sweep(args, compute)
    rec = {"g": args.g, "amplitudes": args.amplitudes, "d": args.d, "samples": args.samples,
           "seed": args.seed, "scheme": args.scheme, "gap_log_amplitude_ratio": float(np.log(args.amplitudes[0] / args.amplitudes[-1])),
           "window": args.window, "noise": args.noise, "eps": args.eps, "results": rows}
    doc = tidy.ou_gap(args, rec)
    tidy.plot_if_asked(args, doc)
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
            print(f"never: {tidy.NEVER_COMMITTED}" + ("" if args.window == "clone" else
                                                     " (Protocol I has no g -> 0 limit: docs/science.md §8)"))
    measured = (any(r.get("gap_steps") is not None for r in rows) if args.window == "throughout"
                else any(len(r["gap"]) and _measured(r["gap"][-1]) for r in rows))
    if not measured:
        return nothing_measurable("ou gap", "no feature's commitment time (and so no gap) could be measured at "
                                  "any g on this grid (try more --steps or --samples)")
    return 0


def _never(value):
    """A commitment time or gap for the table: 'never' where it does not exist (None or NaN)."""
    return "never" if value is None or (isinstance(value, float) and np.isnan(value)) else value


def run_energy(args: argparse.Namespace) -> int:
    from syncgap.ou_models import measure
    r = measure.difference_energy(_features(args), _grid(args), args.g, args.samples, args.seed,
                                  record_every=args.every, scheme=args.scheme, n_boot=args.boot,
                                  progress=_progress(args))
    if args.json:
        print_json(tidy.ou_energy(args, r))
    else:
        print_table([{"t": t, **{f"E_{o}": e for o, e in zip(r["observables"], row)},
                      **{f"r_{o}": v for o, v in zip(r["observables"], rr)}}
                     for t, row, rr in zip(r["t"], r["energy"], r["rate"])])
    return 0


def run_collapse(args: argparse.Namespace) -> int:
    from syncgap.ou_models import measure
    if args.scheme == "ddim":
        raise InputError("--scheme ddim does not apply to ou collapse: the collapse run's deterministic sampler "
                         "is the probability-flow ODE; use --scheme ode (or sde, ddpm)")
    r = measure.collapse(args.n_train, _check_d(args.d), _grid(args), args.samples, args.seed, args.sigma,
                         scheme=args.scheme, n_boot=args.boot,
                         progress=_progress(args))
    r = {k: v for k, v in r.items() if k not in ("t_lock", "final_nn_distance")} | {
        "final_nn_distance_median": None if r["final_nn_distance"] is None else float(np.median(r["final_nn_distance"]))}
    if args.json:
        print_json(tidy.ou_collapse(args, r))
    else:
        est, lo, hi = read_triple(r, "t_lock_median")
        print(f"lock time (median) {est:.3f} [{lo:.3f}, {hi:.3f}]; theory t_C = {r['t_collapse_theory']:.3f}")
    return 0
