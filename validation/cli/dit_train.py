"""`syncgap dit train`: train the embedded small DiTs (issue 5). Placeholder until that lands."""
from __future__ import annotations

import sys


def register(dit_sub) -> None:
    """Add the `train` subcommand to the `syncgap dit` subparsers."""
    p = dit_sub.add_parser("train", help="train an embedded small DiT [not yet available]")
    p.add_argument("name", help="model to train")
    p.set_defaults(func=run)


def run(args) -> int:
    print("syncgap dit train: not yet available (issue 5)", file=sys.stderr)
    return 1
