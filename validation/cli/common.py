"""Shared pieces of the command line: JSON output, tables, and argument types."""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from syncgap.validation.sweep.store import to_plain


def to_jsonable(obj: object) -> object:
    """Records (dicts, dataclasses of numbers and arrays) to plain JSON types; NaN becomes None."""
    return to_plain(obj, strict=False)


def print_json(record: object) -> None:
    """Print one record as JSON on stdout."""
    json.dump(to_jsonable(record), sys.stdout, indent=2)
    sys.stdout.write("\n")


def print_table(rows: list[dict], columns: list[str] | None = None, floatfmt: str = ".4g") -> None:
    """Print rows of dicts as an aligned text table."""
    if not rows:
        print("(no rows)")
        return
    columns = columns or list(rows[0])

    def fmt(v):
        if isinstance(v, (float, np.floating)):
            return format(float(v), floatfmt)
        return str(v)

    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths)))


def float_list(text: str) -> list[float]:
    """argparse type: '0,0.5,0.9' -> [0.0, 0.5, 0.9]."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one number, got {text!r}")
    return values


def int_list(text: str) -> list[int]:
    """argparse type: '0,3,7' -> [0, 3, 7]; whole numbers of int64 size only (0.5 is not silently 0)."""
    values = float_list(text)
    if not all(v.is_integer() and abs(v) < 2**62 for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    return [int(v) for v in values]


def out_folder(path: str, flag: str = "--out") -> str:
    """Create the run folder `path` (and parents) now, before any work; InputError naming `flag` if it cannot be."""
    import os

    from syncgap.theory.checks import InputError
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{flag} {path!r}: cannot create this folder ({exc.strerror or exc})") from None
    if not os.access(path, os.W_OK):
        raise InputError(f"{flag} {path!r}: this folder is not writable")
    return path


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print machine-readable JSON on stdout instead of tables")
