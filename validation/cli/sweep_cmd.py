"""`syncgap sweep`: scale-out sweeps of independent cells. Not yet available (issue 7)."""
from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("sweep", help="scale-out sweeps of independent cells [not yet available]")
    p.add_argument("rest", nargs="*", help="arguments of the future command")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args) -> int:
    print("syncgap sweep: not yet available (issue 7)", file=sys.stderr)
    return 1
