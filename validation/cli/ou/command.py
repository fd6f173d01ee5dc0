"""`syncgap ou`: the command and its subcommands, in the order of `syncgap ou --help`."""
from __future__ import annotations

import argparse

from . import cloning, collapse, energy, gap


def register(sub: argparse._SubParsersAction) -> None:
    """Add `ou` and its subcommands to the `syncgap` subcommands."""
    p = sub.add_parser("ou", help="coupled OU replica simulations (cloning, gap, energy, collapse)")
    s = p.add_subparsers(dest="ou_command", metavar="OU_COMMAND", required=True)
    for command in (cloning, gap, energy, collapse):     # the order of `syncgap ou --help`
        command.register(s)
