"""`syncgap dit measure` without --g: the gap at the g -> 0 limit on the model's own units, one number with its interval.

    syncgap dit measure                               # fhgm, its generated FHGM features, cloning, 48 pairs, 30 steps
    syncgap dit measure --features dct01,dct67        # chosen features
    syncgap dit measure --model digits --modes 4      # empirical modes (dit_bridge.modes), any model
    syncgap dit measure --model digits --scales 2,4,8 # pooled scales

Cloning (docs/science.md §2) is the window with a g -> 0 limit: one trajectory until t_int, then two with
independent noise; a unit's commitment step tau is the midpoint of its agreement curve against t_int, the gap
is tau(finest unit) - tau(coarsest unit) with a percentile bootstrap over pairs (validation/suites/dit/analysis.py).
The units are the FHGM features the model generates (its card, dit_cells.generated_units), the K leading
principal directions of the model's own outputs ordered by radial frequency (--modes K, dit_bridge.modes), or
pooled scales (pool k: the outputs pooled to k x k; pool 1, the image mean, is the coarsest) where the model's
data has no known features or --scales is given. Units live in the model's sample space: latent or pixel. A unit that never commits is reported with the reason read off its curve.
"""
from __future__ import annotations

import os

import numpy as np

from syncgap.theory.checks import InputError
from syncgap.theory.intervals import interval_keys, read_triples

from ..output import nothing_measurable, out_folder, print_json, to_jsonable
from ..plotting import check_plot
from ..progress import progress_bar
from ..records import envelope
from .model_options import load_model_for, setup_device

PAIRS = 48                     # replica pairs: the first command's size (docs: its interval and time)
STEPS = 30                     # DDPM steps: the shipped models' sampler grid
T_INTS = tuple(range(0, 31, 3))  # cloning steps t_int, every 3 of 30 (reading resolution 1.5 steps)
FIRST_TIME = "under a minute"  # `dit measure`, no options, 2 cores: benchmarks/RESULTS.md "First-run timings"
FLAT = 0.1                     # an agreement curve moving less than this over the t_int grid is flat


def units(model, features: list[str] | None, scales: list[int] | None, modes: int | None = None) -> dict:
    """The units of the measurement: {"family": "features"|"modes"|"scales", "labels", "patterns", "offsets",
    "chance", "absent", "space", ...} from --features / --modes / --scales and the model's data (FHGM features
    where it has them, dit_bridge.modes for empirical modes)."""
    from syncgap.dit_bridge.commitment import default_scales
    from syncgap.validation.suites.dit import cells as dit_cells
    mix = dit_cells.fhgm_mixture(model)
    space = "latent" if model.latent_scale is not None else "pixel"
    if sum(x is not None for x in (features, scales, modes)) > 1:
        raise InputError("--features, --modes and --scales choose the units: give one of them")
    if modes is not None:
        from syncgap.dit_bridge.modes import empirical_modes
        m = empirical_modes(model, modes, num_steps=STEPS)
        return {"family": "modes", "labels": m["labels"], "patterns": m["patterns"], "offsets": m["offsets"],
                "chance": 0.5, "absent": [], "space": m["space"], "frequency": [float(f) for f in m["frequency"]],
                "variance_share": [float(v) for v in m["variance_share"]], "cache": m["path"]}
    if scales is None and mix is not None:
        names = list(mix.names)
        generated = dit_cells.generated_units(model, mix)
        if features is None:
            index = generated
        else:
            unknown = [f for f in features if f not in names]
            if unknown:
                raise InputError(f"--features: {', '.join(unknown)} not among {model.name}'s features {', '.join(names)}")
            index = sorted({names.index(f) for f in features})
        if len(index) < 2:
            raise InputError("--features: a gap needs at least 2 features")
        return {"family": "features", "labels": [names[i] for i in index], "index": index, "space": space,
                "patterns": mix.patterns[index], "chance": 0.5,
                "absent": [names[i] for i in index if i not in generated]}
    if features is not None:
        raise InputError(f"--features: {model.name} was not trained on the FHGM and has no known features; "
                         "use --scales")
    side = min(model.sample_shape[1:])
    scales = default_scales(side) if scales is None else sorted(set(scales))
    bad = [s for s in scales if not 1 <= s <= side]
    if bad or len(scales) < 2:
        raise InputError(f"--scales: at least 2 pool sizes in [1, {side}], got {scales}")
    return {"family": "scales", "labels": [f"pool {s}" for s in scales], "scales": scales, "patterns": None,
            "space": space,
            "chance": 0.0, "absent": [f"pool {s}" for s in scales if s == 1 and mix is not None]}


def never_reason(curve, chance: float, label: str, absent: list[str]) -> str:
    """Why a unit has no commitment step, read off its mean agreement curve over t_int (rising)."""
    c = np.asarray(curve, float)
    if label in absent:
        return "no such structure in the data the model generates (the model card, or the FHGM's zero image mean)"
    if np.nanmax(c) - np.nanmin(c) < FLAT:
        if np.nanmean(c) < chance + 0.15:
            return "the clones never agree above chance: no such structure in the data"
        return "the clones agree from the first t_int: it commits before the first sampled step (more --steps)"
    return "its agreement curve does not cross its midpoint within the sampled steps (more --steps or pairs)"


def measure(model, unit: dict, *, n_pairs: int, num_steps: int, t_ints, seed: int, n_boot: int, progress=None) -> dict:
    """Cloning at g = 0 on `unit`'s units: tau per unit and the gap, each with a 95% bootstrap interval over pairs."""
    from syncgap.dit_bridge.protocols import protocol_one
    from syncgap.validation.suites.dit import analysis as dit_analysis
    scales = unit.get("scales") or [1]
    out = protocol_one(model, 0.0, list(t_ints), n_pairs=n_pairs, seed=seed, num_steps=num_steps, clone=True,
                       scales=scales, patterns=unit["patterns"], progress=progress, fit=False)
    if unit["family"] == "modes":   # sign of (x - mean)·φ: the projection less the outputs' mean's
        proj = np.asarray(out["projections"], float) - np.asarray(unit["offsets"])[None, None, :, None]
        agree = (np.sign(proj[:, 0]) == np.sign(proj[:, 1])).astype(float)            # (P, K, T)
    else:
        agree = np.asarray(out["feature_agreement"] if unit["family"] == "features" else out["agreement"], float)
    fit = dit_analysis.commitment(np.asarray(t_ints, float), agree, n_boot, seed)
    per_unit = []
    for lab, (est, lo, hi), curve in zip(unit["labels"], read_triples(fit, "tau"), fit["curves"]):
        per_unit.append({"unit": lab, "tau": est, "tau_low": lo, "tau_high": hi,
                         "tau_reason": None if est is not None else never_reason(curve, unit["chance"], lab,
                                                                                 unit["absent"]),
                         "absent": lab in unit["absent"]})
    return {"family": unit["family"], "units": per_unit, **{k: fit[k] for k in interval_keys("gap")},
            "coarse": unit["labels"][0], "fine": unit["labels"][-1], **{k: fit[k] for k in interval_keys("kendall")},
            "n_pairs": n_pairs, "num_steps": num_steps, "t_int": list(t_ints), "window": "clone", "g": 0.0,
            "space": unit["space"], **{k: unit[k] for k in ("frequency", "variance_share") if k in unit}}


def records(r: dict) -> list[dict]:
    """--json records (docs/json.md): `kind: commitment` per unit, then `kind: gap`, each with g, window, family."""
    common = {"g": r["g"], "window": r["window"], "family": r["family"], "space": r["space"]}
    rows = [{"kind": "commitment", **common, "unit": u["unit"], "tau": u["tau"], "tau_low": u["tau_low"],
             "tau_high": u["tau_high"], "tau_reason": u["tau_reason"], "absent": u["absent"]} for u in r["units"]]
    return rows + [{"kind": "gap", **common, "coarse": r["coarse"], "fine": r["fine"], "gap": r["gap"],
                    "gap_low": r["gap_low"], "gap_high": r["gap_high"]}]


def summary_lines(model_name: str, r: dict) -> list[str]:
    """The printed result: per unit tau or why it has none, then the gap with its interval."""
    lines = [f"{model_name}: cloning (g -> 0), {r['n_pairs']} pairs, {r['num_steps']} DDPM steps, units: {r['family']} "
             f"({r['space']} space)"]
    if r["family"] == "modes":
        lines.append("  modes: leading principal directions of the model's own outputs, ordered by radial frequency "
                     "(cycles/pixel " + ", ".join(f"{f:.3g}" for f in r["frequency"]) + "; variance share "
                     + ", ".join(f"{v:.2f}" for v in r["variance_share"]) + ")")
    for u in r["units"]:
        lines.append(f"  {u['unit']:>8}: " + (f"tau {u['tau']:.3g} [{u['tau_low']:.3g}, {u['tau_high']:.3g}] steps"
                                             if u["tau"] is not None and u["tau_low"] is not None
                                             else f"never: {u['tau_reason']}")
                     + (" (no such structure in the data: this reads noise, not a commitment)"
                        if u["absent"] and u["tau"] is not None else ""))
    if r["gap"] is None or r["gap_low"] is None or r["gap_high"] is None:
        lines.append(f"gap {r['fine']} - {r['coarse']}: n/a (a unit at either end never commits)")
    else:
        lines.append(f"gap {r['fine']} - {r['coarse']}: {r['gap']:.3g} [{r['gap_low']:.3g}, {r['gap_high']:.3g}] "
                     f"sampler steps of {r['num_steps']} (> 0: global first; 95% bootstrap over pairs)")
    return lines


def run_units(args: argparse.Namespace) -> int:
    """The g -> 0 gap on the model's units (py): printed, or as JSON records."""
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
    steps = STEPS if args.steps is None else args.steps
    t_ints = (args.t_int if args.t_int is not None else
              T_INTS if steps == STEPS else
              np.unique(np.linspace(0, steps, min(steps + 1, 11)).round().astype(int)).tolist())
    if len(set(t_ints)) < 4 or max(t_ints) > steps:
        raise InputError(f"--t-int: at least 4 distinct values in [0, {steps}], got {t_ints}")
    check_plot(args)
    if args.plot:
        raise InputError("--plot draws Protocol I per scale: give --g or --window")
    dtype = setup_device(args)
    model = load_model_for("--model", args.model, seed=args.seed, dtype=dtype, device=args.device,
                         timestep_embedding=args.timestep_embedding, local_only=not args.download,
                         heads=args.heads, weights=args.weights)
    unit = units(model, args.features, args.scales, args.modes)
    r = measure(model, unit, n_pairs=PAIRS if args.pairs is None else args.pairs, num_steps=steps,
                t_ints=sorted(set(t_ints)), seed=args.seed, n_boot=args.n_boot,
                progress=progress_bar("dit measure: cloning, g -> 0", args.quiet))
    if args.out:   # the result beside its options, as a Protocol I run folder keeps them
        from syncgap.validation.store import atomic_write_json
        out_folder(args.out)
        atomic_write_json(os.path.join(args.out, "gap_clone.json"), to_jsonable({"model": model.name, **r}))
    if args.json:
        meta = {"model": model.name, "source": model.source, "options": {k: r[k] for k in ("n_pairs", "num_steps", "t_int",
                                                                                        "window", "g", "family", "space")}}
        print_json(envelope("dit measure", meta, records(r)))
    else:
        print("\n".join(summary_lines(model.name, r)))
    if r["gap"] is None:
        return nothing_measurable("dit measure", "no gap: a unit at either end never commits (its reason above)")
    return 0


__all__ = ["PAIRS", "STEPS", "T_INTS", "FIRST_TIME", "units", "never_reason", "measure", "records", "summary_lines", "run_units"]
