"""Every `--json` output in one shape (docs/json.md): schema, meta, flat records, optional summary.

    {"schema": "syncgap.ou.cloning/2", "meta": {...}, "records": [{...}, ...], "summary": {...}}

so that `pd.DataFrame(d["records"])` reads any command's output. The measurement functions keep
returning their own records (arrays, nested per-scale fits); each command's module reshapes them at the
top where output is written (docs/architecture.md), with the shared pieces here: the envelope, an
interval as `x, x_low, x_high`, a protocol variant's fields, a flattened theory row. A quantity that does
not exist is `null` with a reason in `<name>_reason`; NaN is never written.
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

import numpy as np

from syncgap.theory.intervals import interval_fields
from syncgap.theory.version import package_version

from .output import to_jsonable

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
    for i, record in enumerate(records):
        row = {k: _scalar(v) for k, v in record.items()}
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
    return drop_empty_reasons({k: result[k] for k in GAP_STEP_FIELDS if k in result})


def drop_empty_reasons(row: dict) -> dict:
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
