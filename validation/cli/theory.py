"""`syncgap theory`: analytic tables of mode rates, speciation/collapse times, gaps and bounds.

Every quantity comes from `theory` (SymPy-derived, docs/science.md §2-§4); `--json` prints the
records, `--latex` adds the LaTeX of the formulas behind the table. Times are OU time t.
"""
from __future__ import annotations

import argparse

from syncgap.theory.checks import InputError, K_MAX

from .arguments import SCALE_RANGE, IntRange, NotApplicable, add_json_flag, float_list
from .output import absent, nothing_measurable, print_json, print_table
from .records import envelope, flatten, options_of

NO_SPECIATION = "does not speciate"

G_HELP = ("coupling strengths g, comma-separated (dimensionless). symmetric pair: |g| < 1; "
          "all-to-all: g > -1/K")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("theory", help="analytic predictions of the coupled OU theory (docs/science.md §2-§4)",
                       description="Analytic predictions (OU time t; forward dx = -x dt + sqrt(2) dW). "
                                   "Quantities: modes, speciation, collapse, gap, bounds, gated, spectrum, "
                                   "cloning, formulas, demo.")
    qs = p.add_subparsers(dest="quantity", metavar="QUANTITY", required=True)

    def q(name, help_):
        sp_ = qs.add_parser(name, help=help_, description=help_)
        add_json_flag(sp_)
        sp_.add_argument("--latex", action="store_true", help="also print the LaTeX of the formulas used")
        return sp_

    def coupling_args(sp_, lam=True, g=True, c=True):
        if g:
            sp_.add_argument("--g", type=float_list, default=[0.0, 0.3, 0.6], help=G_HELP + " (default 0,0.3,0.6)")
        else:
            sp_.add_argument("--g", action=NotApplicable, reason="the stability bounds are the range of g itself, "
                             "so they do not depend on a g given")
        sp_.add_argument("--coupling", choices=("symmetric", "all_to_all"), default="symmetric",
                         help="drift: symmetric pair A=[[1,-g],[-g,1]] or all-to-all A = I + gL (K replicas)")
        sp_.add_argument("--K", type=IntRange(2, K_MAX), default=2, help="number of replicas, %(type)s (all_to_all; "
                         "dense K x K eigen-decompositions)")
        if c:
            sp_.add_argument("--c", type=float, default=0.0,
                             help="cross-correlation of the replicas' data, in (-1/(K-1), 1); default 0")
        else:
            sp_.add_argument("--c", action=NotApplicable, reason="mode rates and eigenvectors are the drift's, "
                             "they do not depend on the data's cross-correlation c")
        if lam:
            sp_.add_argument("--Lambda", type=float, default=100.0,
                             help=f"data-covariance eigenvalue Lambda {SCALE_RANGE} (variance units; default 100)")

    p_modes = q("modes", "mode rates kappa_m and left eigenvectors of the drift A (§3)")
    coupling_args(p_modes, lam=False, c=False)
    p_modes.add_argument("--anisotropic", type=float_list, metavar="a,b,g12,g21",
                         help="anisotropic pair A=[[a,-g12],[-g21,b]] instead (rates > 0, real modes)")
    coupling_args(q("speciation", "per-mode speciation times t_S^m = log(kappa Lambda_m)/(2 kappa) (§3)"))
    p_col = q("collapse", "per-mode collapse times t_C^m of the empirical-score sampler (§2, §3)")
    coupling_args(p_col, lam=False)
    p_col.add_argument("--n", type=IntRange(2), default=1000, help="training-set size n (joint samples), %(type)s")
    p_col.add_argument("--d", type=IntRange(1), default=16, help="dimension d of one replica, %(type)s")
    p_col.add_argument("--sigma", type=float, default=1.0, help=f"data std sigma {SCALE_RANGE} (Gaussian data)")
    coupling_args(q("gap", "synchronization gap t_S(common) - t_S(difference) per g (§3)"))
    p_b = q("bounds", "stability bounds on g: forward stability and each mode's speciation (§3)")
    coupling_args(p_b, g=False)
    p_b.add_argument("--anisotropic-ab", type=float_list, metavar="a,b", default=None,
                     help="instead: bounds on g12*g21 for the anisotropic pair with diagonal rates a, b "
                          "(a + b > 0, 1/time units)")
    p_gt = q("gated", "gated replicas: onsets per feature, gap, and Gaussian growth-rate sign changes (§4)")
    p_gt.add_argument("--g", type=float_list, default=[0.0, 0.5, 0.9, 0.99, 10.0],
                      help="gate strengths g >= 0 (dimensionless); rho(g) = (1-g)/(1+g)")
    p_gt.add_argument("--amplitudes", type=float_list, default=[20.0, 4.0],
                      help=f"feature amplitudes a_k {SCALE_RANGE} of the sign mixture (data units), at least 2")
    p_gt.add_argument("--sigma", type=float, default=1.0, help=f"noise std sigma {SCALE_RANGE} of the sign mixture")
    p_gt.add_argument("--dynamics", choices=("sde", "ode"), default="sde",
                      help="reverse SDE (linear instability) or probability-flow ODE (gated pitchfork)")
    p_gt.add_argument("--lam", type=float, default=None,
                      help=f"also report, for Gaussian data of eigenvalue lam {SCALE_RANGE}, the sign-change time of r_k")
    p_sp = q("spectrum", "covariance spectrum of your data (.npy) or a built-in dataset, and predicted times")
    src = p_sp.add_mutually_exclusive_group()
    src.add_argument("--samples", help="path to a .npy array of shape (n, ...) with n >= 2 samples")
    src.add_argument("--dataset", default="fhgm", help="built-in dataset: fhgm, two_gaussian, digits")
    coupling_args(p_sp, lam=False)
    p_sp.add_argument("--top", type=IntRange(1), default=5, help="number of leading eigenvalues, %(type)s")
    p_cl = q("cloning", "exact cloning agreement phi(t) of a one-feature sign mixture (§2)")
    p_cl.add_argument("--t", type=float_list, default=[0.5, 1.0, 1.5, 2.0, 2.5, 3.0],
                      help=f"cloning times t {SCALE_RANGE} (OU time)")
    p_cl.add_argument("--amplitude", type=float, default=10.0, help=f"feature amplitude a {SCALE_RANGE} (a = sqrt(d) for "
                      "Biroli's mixture)")
    p_cl.add_argument("--sigma", type=float, default=1.0, help=f"noise std sigma {SCALE_RANGE}")
    p_f = q("formulas", "list every derived formula (name, section, assumptions)")
    p_f.add_argument("--module", default=None, help="only this module: base, coupled_ou, gated, routing")
    q("demo", "gap and bounds for a few g, the gated onsets, with LaTeX")
    p.set_defaults(func=run)


def _latex_of(names) -> dict:
    """{formula name: its LaTeX} for the formulas behind a table, in the order of `names`."""
    from syncgap.theory.docs import available_modules
    found = {f.name: f.latex() for _, mod in available_modules() for f in mod.formulas() if f.name in names}
    return {n: found[n] for n in names if n in found}


def _latex(names):
    for name, tex in _latex_of(names).items():
        print(f"{name}:  {tex}")


def _drift(args, g):
    from syncgap.theory import coupled_ou
    return coupled_ou.drift_symmetric(g) if args.coupling == "symmetric" else coupled_ou.drift_all_to_all(args.K, g)


def _modes(args):
    from syncgap.theory import coupled_ou
    if args.anisotropic is not None:
        if len(args.anisotropic) != 4:
            raise InputError("--anisotropic needs 4 numbers a,b,g12,g21")
        info = coupled_ou.mode_rates(coupled_ou.drift_anisotropic(*args.anisotropic))
        return [{"mode": m, "rate": float(r), "w": [round(float(x), 6) for x in w]}
                for m, (r, w) in enumerate(zip(info["rates"], info["modes"]))], ["mode_rates_anisotropic"]
    rows = []
    for g in args.g:
        info = coupled_ou.mode_rates(_drift(args, g))
        rows += [{"g": g, "mode": m, "rate": float(r), "w": [round(float(x), 6) for x in w]}
                 for m, (r, w) in enumerate(zip(info["rates"], info["modes"]))]
    return rows, ["mode_rates_symmetric", "mode_rates_all_to_all"]


def _time(row: dict, name: str, value: float) -> dict:
    """row[name] = a speciation time, or null with the reason "does not speciate" when it is <= 0."""
    value = float(value)
    if value > 0:
        row[name] = value
        return row
    return absent(row, name, NO_SPECIATION)


def _gap_fields(row: dict, t_common: float, t_difference: float, name: str = "gap") -> dict:
    """t_S_common, t_S_difference and their difference `name`, each null with a reason where it does not exist."""
    _time(row, "t_S_common", t_common)
    _time(row, "t_S_difference", t_difference)
    missing = [m for m, t in (("common", t_common), ("difference", t_difference)) if not t > 0]
    if missing:
        return absent(row, name, " and ".join(missing) + f" mode{'s' if len(missing) > 1 else ''} "
                      f"{'do' if len(missing) > 1 else 'does'} not speciate")
    row[name] = float(t_common - t_difference)
    return row


def _speciation(args):
    from syncgap.theory import coupled_ou
    rows = []
    for g in args.g:
        r = coupled_ou.mode_speciation_times(_drift(args, g), args.Lambda, args.c)
        rows += [_time({"g": g, "mode": m, "rate": float(k), "Lambda_m": float(L)}, "t_S", ts)
                 for m, (k, L, ts) in enumerate(zip(r["rates"], r["Lambda_m"], r["t_S"]))]
    return rows, ["mode_speciation_time", "mode_eigenvalues_pair"]


def _collapse(args):
    from syncgap.theory import coupled_ou
    rows = []
    for g in args.g:
        r = coupled_ou.mode_collapse_times(_drift(args, g), args.n, args.d, args.sigma, args.c)
        rows += [{"g": g, "mode": m, "rate": float(k), "t_C": float(tc)}
                 for m, (k, tc) in enumerate(zip(r["rates"], r["t_C"]))]
    return rows, ["mode_collapse_time", "collapse_time"]


def _gap(args):
    from syncgap.theory import coupled_ou
    rows = []
    for g in args.g:
        r = coupled_ou.mode_speciation_times(_drift(args, g), args.Lambda, args.c)
        rows.append(_gap_fields({"g": g}, r["t_S"][0], r["t_S"][1:].min()))
    return rows, ["synchronization_gap"]


def _bounds(args):
    from syncgap.theory import coupled_ou
    ab = getattr(args, "anisotropic_ab", None)
    if ab is not None:
        if len(ab) != 2:
            raise InputError("--anisotropic-ab needs 2 numbers a,b")
        return [coupled_ou.stability_bounds(args.Lambda, coupling="anisotropic", a=ab[0], b=ab[1])], \
            ["stability_bounds_anisotropic"]
    return [coupled_ou.stability_bounds(args.Lambda, args.c, args.K, args.coupling)], \
        ["stability_bound_common", "stability_bound_difference"]


def _gated(args):
    from syncgap.theory import gated
    rows = []
    for g in args.g:
        r = gated.gated_gap(g, args.amplitudes, args.sigma, args.dynamics)
        row = {"g": g, "rho": r["rho"]}
        for a, t in zip(args.amplitudes, r["t_S"]):
            row.update({f"t_S[a={a:g}]": t} if t is not None else absent({}, f"t_S[a={a:g}]", NO_SPECIATION))
        if r["gap"] is None:
            absent(row, "gap", "a feature does not speciate")
        else:
            row["gap"] = r["gap"]
        if args.lam is not None:
            t = gated.growth_sign_change_time(g, args.lam, args.dynamics)
            name = f"sign_change[lam={args.lam:g}]"
            row.update({name: t} if t is not None else absent({}, name, "no sign change"))
        rows.append(row)
    return rows, ["routing_factor", f"difference_growth_rate_{args.dynamics}", "undecided_slope",
                  "gated_pitchfork" if args.dynamics == "ode" else "gated_onset_sde_polynomial"]


def _spectrum(args):
    from syncgap.theory import spectrum
    lam = spectrum.covariance_spectrum(args.samples) if args.samples else spectrum.builtin_spectrum(args.dataset)
    rows = []
    for g in args.g:
        r = spectrum.predicted_times(lam, g, args.c, args.K, args.coupling, args.top)
        rows += [_gap_fields(_time({"g": g, "j": j, "Lambda": float(L)}, "t_S_base", tb), ts[0], ts[1:].min())
                 for j, (L, tb, ts) in enumerate(zip(r["Lambda"], r["t_S_base"], r["t_S"]))]
    return rows, ["speciation_time", "mode_speciation_time"]


def _cloning(args):
    from syncgap.theory import base
    phi = base.cloning_agreement(args.t, args.amplitude, args.sigma)
    return [{"t": t, "phi": float(p)} for t, p in zip(args.t, phi)], ["cloning_class_posterior"]


def _formulas(args):
    from syncgap.theory.docs import available_modules
    rows = []
    for name, mod in available_modules():
        if args.module and name.split(".")[-1] != args.module:
            continue
        for f in mod.formulas():
            rows.append({"module": name, "name": f.name, "section": f.section,
                         "latex": f.latex() if args.latex else "", "assumptions": f.assumptions})
    return rows, []


DEMO = (
    ("gap", "Layer A, symmetric pair, Lambda = 100, c = 0: gap per g", _gap,
     argparse.Namespace(g=[0.0, 0.2, 0.5, 0.8], coupling="symmetric", K=2, c=0.0, Lambda=100.0)),
    ("bounds", "Layer A: stability bounds on g (Lambda = 100, c = 0)", _bounds,
     argparse.Namespace(coupling="symmetric", K=2, c=0.0, Lambda=100.0)),
    ("gated", "Layer B: gated onsets (SDE), amplitudes 20 and 4, sigma = 1", _gated,
     argparse.Namespace(g=[0.0, 0.5, 0.9, 10.0], amplitudes=[20.0, 4.0], sigma=1.0, dynamics="sde", lam=None)))


def _demo(args):
    """The demo's tables with their LaTeX; as JSON, one list of records with a `kind` field per table."""
    rows, names = [], []
    for kind, title, fn, ns in DEMO:
        part, used = fn(ns)
        if not args.json:
            print(f"\n{title}")
            print_table(part)
            print("LaTeX:")
            _latex(used)
        rows += [{"kind": kind, **r} for r in part]
        names += used
    return rows, names


QUANTITIES = {"modes": _modes, "speciation": _speciation, "collapse": _collapse, "gap": _gap,
              "bounds": _bounds, "gated": _gated, "spectrum": _spectrum, "cloning": _cloning,
              "formulas": _formulas, "demo": _demo}
# The value each quantity is asked for: when it is null in every row, the run exits with NOT_MEASURABLE.
HEADLINE = {"speciation": "t_S", "gap": "gap", "spectrum": "gap", "gated": "gap"}


def theory_doc(args: argparse.Namespace, rows: list[dict]) -> dict:
    """`syncgap theory QUANTITY --json`: one record per row of the printed table (mode, g, parameter)."""
    return envelope(f"theory {args.quantity}", {"quantity": args.quantity, "options": options_of(args)},
                    [flatten(r) for r in rows])


def run(args: argparse.Namespace) -> int:
    rows, names = QUANTITIES[args.quantity](args)
    if args.json:
        record = theory_doc(args, rows)
        if args.latex or args.quantity == "demo":
            record["meta"]["latex"] = _latex_of(names)
        print_json(record)
    elif args.quantity == "formulas":
        for r in rows:
            print(f"{r['module']}.{r['name']} ({r['section']}): {r['assumptions']}")
            if args.latex:
                print(f"    {r['latex']}")
    elif args.quantity != "demo":
        print_table(rows)
        if args.latex:
            _latex(names)
    head = HEADLINE.get(args.quantity)
    if head and rows and all(r.get(head) is None for r in rows):
        return nothing_measurable(f"theory {args.quantity}", f"{head}: {rows[0].get(f'{head}_reason', 'does not exist')} "
                                  "at every value given")
    return 0
