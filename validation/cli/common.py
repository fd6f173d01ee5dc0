"""Shared pieces of the command line: JSON output, tables, and argument types."""
from __future__ import annotations

import argparse
import math
import json
import sys

import numpy as np

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


def number_arg(text: str) -> float:
    """argparse type of every real-valued option: a number; NaN is refused (it is no value of anything)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if math.isnan(value):
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r} (NaN is not a number)")
    return value


def float_list(text: str) -> list[float]:
    """argparse type: '0,0.5,0.9' -> [0.0, 0.5, 0.9]; NaN refused."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one number, got {text!r}")
    if any(math.isnan(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r} (NaN is not a number)")
    return values


class NotApplicable(argparse.Action):
    """An option a (sub)command does not use (it shares its siblings' option set): given, it is an argparse
    error saying why, never silently ignored; --help lists it with the same reason.

        parser.add_argument("--g", action=NotApplicable, reason="the bounds are a range of g")
    """

    def __init__(self, option_strings, dest, reason: str = "", **kwargs):
        super().__init__(option_strings, dest, nargs="?", default=argparse.SUPPRESS,
                         help=f"does not apply to this command ({reason}): refused if given")
        self.reason = reason

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} does not apply to {parser.prog.removeprefix('syncgap ')}: {self.reason}")


def int_list(text: str) -> list[int]:
    """argparse type: '0,3,7' -> [0, 3, 7]; whole numbers of int64 size only (0.5 is not silently 0)."""
    values = float_list(text)
    if not all(v.is_integer() and abs(v) < 2**62 for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    return [int(v) for v in values]


def path_arg(text: str) -> str:
    """argparse type of every path option (--out, --checkpoint, --samples ...): a non-empty path.

    An empty `--out ''` is refused rather than read as the default folder or as no folder.
    """
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a path, got {text!r}")
    if "\x00" in text:
        raise argparse.ArgumentTypeError("a path cannot contain a NUL character")
    return text


def _scale_range() -> str:
    from syncgap.theory.checks import SCALE_MAX, SCALE_MIN
    return f"in [{SCALE_MIN:g}, {SCALE_MAX:g}]"


SCALE_RANGE = _scale_range()      # what check_positive accepts: every positive scale (std, eigenvalue, time)


class IntRange:
    """argparse type of an integer option (or a comma list of them, many=True) in [lo, hi].

    As argparse `type` it parses the text (a non-integer is an argparse error); `check` is the range
    check, which `main` runs on every such option before the command (InputError naming the flag:
    "--steps=0 is outside the allowed range [1, 10000000]", exit 2); `str()` states the same range
    in the help, where the help text writes `%(type)s`. tests/cli/test_cli_help.py checks that every such
    help shows it. A range that depends on other options (--t-int <= --steps) is checked again
    where it is known.
    """

    def __init__(self, lo: int, hi: int | None = None, many: bool = False):
        self.lo, self.hi, self.many = lo, hi, many

    def __str__(self) -> str:
        what = "comma-separated integers" if self.many else "integer"
        return f"{what} in [{self.lo}, {self.hi}]" if self.hi is not None else f"{what} >= {self.lo}"

    def __call__(self, text: str):
        if self.many:
            return int_list(text)
        try:
            return int(text.strip(), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None

    def check(self, flag: str, value) -> None:
        """InputError naming `flag` if `value` (or one of a list's values) is outside [lo, hi]."""
        from syncgap.theory.checks import InputError
        for v in (value if self.many else [value]):
            if v < self.lo or (self.hi is not None and v > self.hi):
                raise InputError(f"{flag}={v} is outside the allowed range "
                                 f"[{self.lo}, {self.hi if self.hi is not None else 'inf'}]")


def out_folder(path: str, flag: str = "--out") -> str:
    """Create the run folder `path` (and parents) now, before any work, and take its lock (`sweep.lock`);
    InputError naming `flag` if it cannot be created or written, or another run holds it."""
    import os

    from syncgap.theory.checks import InputError
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{flag} {path!r}: cannot create this folder ({exc.strerror or exc})") from None
    if not os.access(path, os.W_OK):
        raise InputError(f"{flag} {path!r}: this folder is not writable")
    from syncgap.validation.sweep.lock import lock_folder
    lock_folder(path, flag)          # one run per folder; released when the command ends (main)
    return path


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print machine-readable JSON on stdout instead of tables")


def load_model_for(flag: str, name: str, **kwargs):
    """`dit_bridge.registry.load_model(name, **kwargs)` with an unreadable model folder as InputError naming `flag`.

    The registry checks what it knows (names, folders, weights); a zero-length, non-JSON or
    foreign config.json, or a folder without weights, surfaces from diffusers as OSError or
    ValueError: one line, exit status 2, instead of a traceback.
    """
    import json

    from syncgap.dit_bridge.registry import load_model
    from syncgap.theory.checks import InputError
    try:
        return load_model(name, **kwargs)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        if isinstance(exc, InputError):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"{flag} {name!r}: cannot load this model ({first[:240]})") from None


THREADS_ENV = "SYNCGAP_THREADS"   # README "How long it takes": torch/Numba threads of `syncgap validate`


def threads_for(cores: int, load: float, requested: str | None = None) -> int:
    """Compute threads for a run: `requested` ($SYNCGAP_THREADS, an integer >= 1) when given, else the cores
    this process may use less the ones other jobs keep busy (`busy_elsewhere`, rounded), at least 1.

    torch's and Numba's pools start one thread per core whatever the load; on a machine whose cores are
    busy the extra threads only wait on each other (oversubscription), so a busy machine gets fewer."""
    from syncgap.theory.checks import InputError
    if requested is not None and requested.strip():
        try:
            n = int(requested)
        except ValueError:
            n = 0
        if n < 1:
            raise InputError(f"{THREADS_ENV} must be an integer >= 1, got {requested!r}")
        return n
    return max(1, int(cores) - int(round(max(float(load), 0.0))))


def busy_elsewhere() -> float:
    """Tasks other than this one running now: the runnable count of /proc/loadavg less 1 (this process).

    Not the 1-minute load average: it still counts this run's own previous commands (`make demo` runs
    `syncgap theory demo` first) and jobs that just ended, and so took a core from a quiet machine.
    Elsewhere than Linux: the 1-minute load average."""
    import os
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            running = int(f.read().split()[3].split("/")[0])
        return float(max(running - 1, 0))
    except (OSError, ValueError, IndexError):
        return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0


def set_threads(say=None) -> int:
    """Set torch's (and Numba's, when installed) thread count to threads_for(this machine); returns it."""
    import os
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    n = threads_for(cores, busy_elsewhere(), os.environ.get(THREADS_ENV))
    try:
        import torch
        torch.set_num_threads(n)
    except ImportError:   # a theory/ou-only install has no torch
        pass
    try:
        import numba
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    except ImportError:
        pass
    if say is not None:
        say(f"threads: {n} (of {cores} cores; set {THREADS_ENV} to choose)")
    return n
