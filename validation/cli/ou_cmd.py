"""`syncgap ou`: coupled OU replica simulations (cloning, gap, collapse). Not yet available (issue 3)."""
from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("ou", help="coupled OU replica simulations (cloning, gap, collapse) [not yet available]")
    p.add_argument("rest", nargs="*", help="arguments of the future command")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args) -> int:
    print("syncgap ou: not yet available (issue 3)", file=sys.stderr)
    return 1
