"""`syncgap dit`: coupled DiT measurements and training, one module per subcommand holding its options, its
run, its --json records and its --plot figure: `measure` (Protocols I and II at given g; `measure_units`, the
g -> 0 gap on the model's units), `train`, `gains`, `depth-controls` (depth_controls), `gate`; the options
that load a model are in `model_options`."""
from __future__ import annotations

import argparse

from . import depth_controls, gains, gate, measure, train


def register(sub: argparse._SubParsersAction) -> None:
    """Add `dit` and its subcommands to the `syncgap` subcommands."""
    p = sub.add_parser("dit", help="coupled DiT measurements (Protocols I and II) and training")
    dsub = p.add_subparsers(dest="dit_command", metavar="SUBCOMMAND", required=True)
    for command in (measure, train, gains, depth_controls, gate):     # the order of `syncgap dit --help`
        command.register(dsub)
