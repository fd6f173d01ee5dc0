"""Argument types and shared options of the command line: numbers, lists, paths, integer ranges, --json.

Every real-valued option refuses NaN (`number_arg`); an integer option states its range in its help
(`IntRange`, checked by `main` before the command runs); an option a command does not use is refused
with its reason (`NotApplicable`).
"""
from __future__ import annotations

import argparse
import math

from syncgap.theory.checks import SCALE_MAX, SCALE_MIN, InputError


def str_list(text: str) -> list[str]:
    """Comma-separated names."""
    return [t.strip() for t in text.split(",") if t.strip()]


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


SCALE_RANGE = f"in [{SCALE_MIN:g}, {SCALE_MAX:g}]"     # what check_positive accepts: every positive scale (std, eigenvalue, time)


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
        for v in (value if self.many else [value]):
            if v < self.lo or (self.hi is not None and v > self.hi):
                raise InputError(f"{flag}={v} is outside the allowed range "
                                 f"[{self.lo}, {self.hi if self.hi is not None else 'inf'}]")


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print machine-readable JSON on stdout instead of tables")
