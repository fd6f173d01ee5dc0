"""`syncgap dit`: the command and its subcommands, in the order of `syncgap dit --help` (kept apart from the
package's __init__, so `python -m syncgap.validation.cli.dit.train` runs that module once)."""
from __future__ import annotations

import argparse

from . import depth_controls, gains, gate, measure, train


def register(sub: argparse._SubParsersAction) -> None:
    """Add `dit` and its subcommands to the `syncgap` subcommands."""
    p = sub.add_parser("dit", help="coupled DiT measurements (Protocols I and II) and training")
    dsub = p.add_subparsers(dest="dit_command", metavar="SUBCOMMAND", required=True)
    for command in (measure, train, gains, depth_controls, gate):     # the order of `syncgap dit --help`
        command.register(dsub)
