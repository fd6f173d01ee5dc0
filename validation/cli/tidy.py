"""Every `--json` output in one shape (docs/json.md): schema, meta, flat records, optional summary.

    {"schema": "syncgap.ou.cloning/2", "meta": {...}, "records": [{...}, ...], "summary": {...}}

so that `pd.DataFrame(d["records"])` reads any command's output. The measurement functions keep
returning their own records (arrays, nested per-scale fits); the functions here only reshape them,
one per command, at the top where output is written (docs/architecture.md). A quantity that does not
exist is `null` with a reason in `<name>_reason`; NaN is never written.
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

import numpy as np

from syncgap.theory.intervals import interval_fields, read_triple, read_triples
from syncgap.theory.version import package_version

from .common import to_jsonable

SCHEMA_VERSION = 1
# commands whose records lost or changed a field (docs/json.md); dit measure 2: Protocol II's mode_share_m
# (empirical-mode shares, at chance) removed, increment_share/increment_chance added
SCHEMA_VERSIONS = {"dit measure": 2, "ou cloning": 2, "ou gap": 2}


def schema_version(command: str) -> int:
    """The schema version of a command's --json output: SCHEMA_VERSIONS, else SCHEMA_VERSION."""
    return SCHEMA_VERSIONS.get(command, SCHEMA_VERSION)

NEVER_COMMITTED = "never committed in the window (agreement did not rise across the t_int range)"
NO_CROSSING = "agreement never crossed the level in the window"
NO_ONSET = "no onset: the replica difference never grows"
VARIANT_FIELDS = ("window", "noise", "sampler", "eps")    # a protocol variant (docs/protocols.md)
GAP_STEP_FIELDS = ("gap_steps", "gap_steps_low", "gap_steps_high", "gap_steps_reason")
_SKIP_OPTIONS = {"func", "_flags", "_ranges", "json", "quiet", "plot", "command", "ou_command", "dit_command", "quantity", "latex"}
_FLAT = (str, bool, int, float, type(None))


def options_of(args: argparse.Namespace) -> dict:
    """The command's options as given (argparse namespace), for `meta`."""
    return to_jsonable({k: v for k, v in vars(args).items() if k not in _SKIP_OPTIONS})


def _scalar(value):
    """A JSON scalar: numpy numbers to Python, NaN/inf to None."""
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def envelope(command: str, meta: dict, records: list[dict], summary: dict | None = None) -> dict:
    """The documented shape; raises ValueError if a record is not flat (a programming error here)."""
    rows = []
    for i, rec in enumerate(records):
        row = {k: _scalar(v) for k, v in rec.items()}
        bad = [k for k, v in row.items() if not isinstance(v, _FLAT)]
        if bad:
            raise ValueError(f"record {i} of {command!r} is not flat: fields {bad}")
        rows.append(row)
    out = {"schema": f"syncgap.{command.replace(' ', '.')}/{schema_version(command)}",
           "meta": {"command": f"syncgap {command}", "version": package_version(), **to_jsonable(meta)},
           "records": rows}
    if summary is not None:
        out["summary"] = to_jsonable(summary)
    return out


def variant_of(result: dict) -> dict:
    """The protocol variant of one result (window, noise, sampler, eps), for every record it gives."""
    out = {k: result[k] for k in VARIANT_FIELDS if k in result}
    if "eps" in out and out["eps"] is None:
        out["eps_reason"] = "independent starts: the replicas' start noises are two draws, not +-eps of one"
    return out


def gap_steps_of(result: dict) -> dict:
    """The gap in sampler steps with its interval (or null and its reason), as the variant records give it."""
    return _drop_empty_reasons({k: result[k] for k in GAP_STEP_FIELDS if k in result})


def _drop_empty_reasons(row: dict) -> dict:
    """A `<name>_reason` field is there only when `<name>` is null (docs/json.md)."""
    return {k: v for k, v in row.items() if not (k.endswith("_reason") and v is None)}


def with_reason(row: dict, name: str, value: object, reason: str) -> dict:
    """row[name] = value, and row[name + '_reason'] = reason when the value does not exist (None/NaN)."""
    value = _scalar(value)
    row[name] = value
    if value is None:
        row[f"{name}_reason"] = reason
    return row


def interval(row: dict, name: str, triple: Sequence | None, reason: str) -> dict:
    """(estimate, low, high) -> name, name_low, name_high (+ name_reason when there is no estimate)."""
    est, lo, hi = (_scalar(x) for x in ((None, None, None) if triple is None else (list(triple) + [None, None])[:3]))
    row.update(interval_fields(name, est, lo, hi, reason if est is None else None))
    return row


def flatten(row: dict) -> dict:
    """A theory row made flat: a list becomes name_0, name_1, ...; the text 'none' becomes null + reason."""
    out = {}
    for k, v in row.items():
        key = k.replace("[", "_").replace("]", "").replace("=", "")
        if isinstance(v, (list, tuple, np.ndarray)):
            out.update({f"{key}_{i}": _scalar(x) for i, x in enumerate(np.asarray(v).tolist())})
        elif v == "none":
            with_reason(out, key, None, NO_ONSET if key.startswith(("t_S", "gap", "sign_change")) else "does not exist")
        else:
            out[key] = _scalar(v)
    return out


# ---------------------------------------------------------------- theory
def theory(args: argparse.Namespace, rows: list[dict]) -> dict:
    """`syncgap theory QUANTITY --json`: one record per row of the printed table (mode, g, parameter)."""
    return envelope(f"theory {args.quantity}", {"quantity": args.quantity, "options": options_of(args)},
                    [flatten(r) for r in rows])


# ---------------------------------------------------------------- ou
def ou_cloning(args: argparse.Namespace, rec: dict) -> dict:
    """One record per branching time; the fitted commitment times in `summary`."""
    theory_curve = rec.get("agreement_theory")
    records = []
    agreement, low, high = read_triple(rec, "agreement")
    for i, t in enumerate(rec["t_branch"]):
        row = {"t_branch": t, "agreement": agreement[i], "ci_low": low[i], "ci_high": high[i]}   # one measured value
        if theory_curve is not None:
            row["agreement_theory"] = theory_curve[i]
        records.append(row)
    summary = {"level": rec["level"], "t_S_theory": rec["t_speciation_theory"],
               "t_phi075_theory": rec.get("t_phi075_theory")}
    for name, key in (("t_S_measured", "t_speciation_measured"), ("t_S_sigmoid", "t_speciation_sigmoid")):
        interval(summary, name, read_triple(rec, key), NO_CROSSING)
    meta = {"d": rec["d"], "samples": rec["samples"], "seed": rec["seed"], "scheme": rec["scheme"],
            "units": {"t_branch": "OU time"}, "options": options_of(args)}
    return envelope("ou cloning", meta, records, summary)


def ou_gap(args: argparse.Namespace, rec: dict) -> dict:
    """Layer B: kind 'agreement' (g, feature, t_int), 'commitment' (g, feature), 'gap' (g, feature vs 0)."""
    amps = list(rec["amplitudes"])
    records = []
    for r in rec["results"]:
        g = r["g"]
        variant = variant_of(r)
        if r.get("window") == "throughout":
            records += _ou_throughout(r, amps, variant)
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
    meta = {"layer": "B", "amplitudes": amps, "d": rec["d"], "samples": rec["samples"], "seed": rec["seed"],
            "scheme": rec["scheme"], "units": {"t_int": "OU time", "tau_spec": "OU time", "gap": "OU time",
                                                "tau_spec_dit_steps": "DiT sampler steps", "gap_dit_steps": "DiT sampler steps"},
            "options": options_of(args)}
    return envelope("ou gap", meta, records, {"gap_log_amplitude_ratio": rec["gap_log_amplitude_ratio"]})


def _ou_throughout(r: dict, amps: list, variant: dict) -> list[dict]:
    """Window 'throughout': kind 'difference' (t, feature), 'onset' (feature), 'gap' (last feature vs first)."""
    g = r["g"]
    rows = [{"kind": "difference", **variant, "g": g, "feature": k, "amplitude": a, "t": t, "dit_step": step,
             "normalised_difference": r["normalised_difference"][j][k]}
            for j, (t, step) in enumerate(zip(r["t"], r["dit_steps"])) for k, a in enumerate(amps)]
    rows += [_drop_empty_reasons({"kind": "onset", **variant, "g": g, "amplitude": amps[o["feature"]], **o})
             for o in r["onsets"]]
    rows.append({"kind": "gap", **variant, "g": g, "feature": len(amps) - 1, "amplitude": amps[-1],
                 **gap_steps_of(r)})
    return rows


def ou_gap_layer_a(args: argparse.Namespace, rec: dict) -> dict:
    """Layer A: kind 'mode' (g, mode) with measured and predicted times, kind 'gap' (g)."""
    records = []
    for r in rec["results"]:
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
    meta = {"layer": "A", "amplitude": rec["amplitude"], "d": rec["d"], "samples": rec["samples"], "seed": rec["seed"],
            "scheme": rec["scheme"], "units": {"t_mode": "OU time", "gap": "OU time"}, "options": options_of(args)}
    return envelope("ou gap", meta, records)


def ou_energy(args: argparse.Namespace, rec: dict) -> dict:
    """One record per (recorded time, observable): energy and growth rates with their intervals."""
    records = []
    for i, t in enumerate(rec["t"]):
        for k, obs in enumerate(rec["observables"]):
            row = {"t": t, "observable": obs}
            for name in ("energy", "rate", "rate_drift"):
                if name not in rec:   # rate_drift: the reverse SDE's drift-only rate, absent for ode/ddpm/ddim
                    row.update(interval_fields(name, None, None, None,
                                               f"defined for --scheme sde only (got {rec['scheme']})"))
                    continue
                est, low, high = read_triple(rec, name)
                row.update(interval_fields(name, est[i][k], low[i][k], high[i][k]))
            records.append(row)
    meta = {"samples": rec["samples"], "seed": rec["seed"], "scheme": rec["scheme"], "units": {"t": "OU time"},
            "options": options_of(args)}
    return envelope("ou energy", meta, records)


def ou_collapse(args: argparse.Namespace, rec: dict) -> dict:
    """One record per statistic of the lock time (median, mean) with its interval; theory in `summary`."""
    records = []
    for stat in ("median", "mean"):
        row = {"statistic": stat}
        interval(row, "t_lock", read_triple(rec, f"t_lock_{stat}"), "no path locked onto a training point")
        records.append(row)
    meta = {k: rec[k] for k in ("n_train", "d", "sigma", "samples", "seed", "scheme")} | {
        "units": {"t_lock": "OU time"}, "options": options_of(args)}
    return envelope("ou collapse", meta, records, {"t_collapse_theory": rec["t_collapse_theory"],
                                                   "final_nn_distance_median": rec.get("final_nn_distance_median")})


# ---------------------------------------------------------------- dit
def dit_measure(args: argparse.Namespace, record: dict) -> dict:
    """Protocol I: kind 'agreement' (g, scale, t_int), 'commitment' (g, scale), 'gap' (g).
    Protocol II: kind 'layer' (g, step, layer: energies and shares, means over pairs), 'final' (g, scale)."""
    records = []
    for r in record["results"]:
        g = r["g"]
        if r.get("window") == "throughout":
            records += _dit_throughout(r)
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


def _dit_throughout(r: dict) -> list[dict]:
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


def dit_gains(args: argparse.Namespace, record: dict) -> dict:
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


# ---------------------------------------------------------------- validate, sweep
def validate(args: argparse.Namespace, summary: dict) -> dict:
    """One record per check (interval as ci_low, ci_high: Check.to_json); counts and per-suite wall times in summary."""
    records = [dict(c) for c in summary["checks"]]
    return envelope("validate", {"out": args.out, "quick": summary["quick"], "options": options_of(args)}, records,
                    {"claims": summary.get("claims", []), "by_role": summary.get("by_role", {}),
                     "passed": summary["passed"], "failed": summary["failed"], "n/a": summary.get("n/a", 0), "wall_s": summary["wall_s"],
                     "suite_wall_s": {s["name"]: s["wall_s"] for s in summary["suites"]}})


def sweep(args: argparse.Namespace, record: dict, rows: list[dict]) -> dict:
    """One record per cell: the finished rows of results.json (`kind` is the cell kind there), then one per
    failed cell (its key, parameters and error); `failed` tells them apart."""
    records = [{**flatten(r), "failed": False} for r in rows]
    records += [{"key": f["key"], **flatten(f["config"]), "failed": True, "error": f["error"]}
                for f in record.get("failures", [])]
    summary = {k: v for k, v in record.items() if k != "failures"}
    return envelope("sweep", {"options": options_of(args)}, records, summary)


def sweep_list(args: argparse.Namespace, rows: list[dict]) -> dict:
    """`sweep --list`: one record per cell (key, done, its parameters)."""
    return envelope("sweep", {"options": options_of(args), "list": True}, [flatten(r) for r in rows])


# ---------------------------------------------------------------- --plot FILE
PLOT_HELP = ("draw this command's figure to FILE (.png) from its own --json document, which is written "
             "beside it as FILE with .json (redraw later: validation.command_figures.redraw)")


def add_plot_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plot", metavar="FILE", default=None, help=PLOT_HELP)


def check_plot(args: argparse.Namespace) -> None:
    """Fail before any work when --plot names no .png file in a folder that can be written."""
    import os

    from syncgap.theory.checks import InputError
    path = getattr(args, "plot", None)
    if path is None:
        return
    if not str(path).lower().endswith(".png"):
        raise InputError(f"--plot {path!r}: give a file name ending in .png")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise InputError(f"--plot {path!r}: folder {folder!r} does not exist or is not writable")


def plot_if_asked(args: argparse.Namespace, doc: dict) -> None:
    """With --plot FILE: write FILE.json (the document) and draw FILE from it; say where on stderr."""
    if getattr(args, "plot", None) is None:
        return
    import sys

    from syncgap.validation.command_figures import write_and_plot
    data, png = write_and_plot(doc, args.plot)
    print(f"figure: {png} (drawn from {data})", file=sys.stderr)
