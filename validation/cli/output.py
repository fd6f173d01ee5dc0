"""Where a command's results go: JSON or a table on stdout, the exit status of a run that measured
nothing, and the run folder (`--out`) with its lock."""
from __future__ import annotations

import json
import sys

import numpy as np

from syncgap.theory.checks import InputError
from syncgap.validation.store import to_plain


def to_jsonable(obj: object) -> object:
    """Records (dicts, dataclasses of numbers and arrays) to plain JSON types; NaN becomes None."""
    return to_plain(obj, strict=False)


def print_json(record: object) -> None:
    """Print one record as JSON on stdout."""
    json.dump(to_jsonable(record), sys.stdout, indent=2)
    sys.stdout.write("\n")


# Exit status of a run that completed but could measure nothing the user asked for (every requested
# value is null with a reason): distinct from 1 (a failure) and 2 (bad input). README: "Exit status".
NOT_MEASURABLE = 3


def absent(row: dict, name: str, reason: str) -> dict:
    """Mark row[name] as a quantity that does not exist: null plus `<name>_reason` (docs/json.md)."""
    row[name] = None
    row[f"{name}_reason"] = reason
    return row


def nothing_measurable(command: str, what: str) -> int:
    """Say on stderr that nothing asked for could be measured; return NOT_MEASURABLE for the exit status."""
    print(f"syncgap {command}: nothing measurable: {what} (exit status {NOT_MEASURABLE})", file=sys.stderr)
    return NOT_MEASURABLE


def print_table(rows: list[dict], columns: list[str] | None = None, floatfmt: str = ".4g") -> None:
    """Print rows of dicts as an aligned text table.

    A null value is shown as its `<name>_reason` (e.g. "does not speciate"), else "not measurable";
    the `_reason` columns themselves are not shown. NaN is shown as "not measurable" too.
    """
    if not rows:
        print("(no rows)")
        return
    if columns is None:
        names = list(dict.fromkeys(k for r in rows for k in r))
        columns = [c for c in names if not (c.endswith("_reason") and c[: -len("_reason")] in names)]

    def fmt(r, c):
        v = r.get(c, "")
        if v is None or (isinstance(v, (float, np.floating)) and v != v):
            return str(r.get(f"{c}_reason") or "not measurable")
        if isinstance(v, (float, np.floating)):
            return format(float(v), floatfmt)
        return str(v)

    cells = [[fmt(r, c) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths)))


def out_folder(path: str, flag: str = "--out") -> str:
    """Create the run folder `path` (and parents) now, before any work, and take its lock (`sweep.lock`);
    InputError naming `flag` if it cannot be created or written, or another run holds it."""
    import os

    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{flag} {path!r}: cannot create this folder ({exc.strerror or exc})") from None
    if not os.access(path, os.W_OK):
        raise InputError(f"{flag} {path!r}: this folder is not writable")
    from syncgap.validation.sweep.lock import lock_folder
    lock_folder(path, flag)          # one run per folder; released when the command ends (main)
    return path
