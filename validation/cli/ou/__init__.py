"""`syncgap ou`: coupled OU replica simulations with exact scores, one module per subcommand holding its
options, its run, its --json records and its --plot figure (cloning, gap, energy, collapse); the options
they share are in `options`."""
from __future__ import annotations

import argparse

from . import cloning, collapse, energy, gap


def register(sub: argparse._SubParsersAction) -> None:
    """Add `ou` and its subcommands to the `syncgap` subcommands."""
    p = sub.add_parser("ou", help="coupled OU replica simulations (cloning, gap, energy, collapse)")
    s = p.add_subparsers(dest="ou_command", metavar="OU_COMMAND", required=True)
    for command in (cloning, gap, energy, collapse):     # the order of `syncgap ou --help`
        command.register(s)
