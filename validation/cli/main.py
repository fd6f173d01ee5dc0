"""Entry point of the `syncgap` console script.

Each subcommand lives in its own module with `register(subparsers)`; heavy
imports (numba, torch) happen inside the command's run function, so `--help`
and `syncgap theory` stay fast. Bad input (`theory.InputError`, argparse errors)
exits with status 2 and a one-line message, never a traceback. A simulation that
produced NaN or inf (`theory.checks.SimulationError`, which says where) exits with
status 1 and its one-line message: the input passed its checks, the run failed.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from theory.checks import InputError, SimulationError

SUBCOMMANDS = ("theory", "ou", "dit", "validate", "sweep")


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (exit 2), pointing to --help for the usage."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def _get_values(self, action, arg_strings):
        # CPython < 3.12 drops a '--' given as an option's value (`--plot=--`), leaving an
        # empty list where one string was expected: reject it here, for every option at once.
        if action.option_strings and action.nargs is None and arg_strings == ["--"]:
            self.error(f"argument {'/'.join(action.option_strings)}: expected one value, got '--'")
        return super()._get_values(action, arg_strings)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="syncgap",
        description="Synchronization gaps of coupled diffusion: theory, OU simulation, coupled DiTs, validation.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"validation.cli.{name}_cmd").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"syncgap {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except SimulationError as exc:
        print(f"syncgap {args.command}: simulation failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; finished results are kept and a rerun resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
