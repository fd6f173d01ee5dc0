"""`syncgap theory`: analytic tables of mode rates, speciation times, gaps and bounds."""
from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("theory", help="analytic predictions of the coupled OU theory")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args) -> int:
    print("syncgap theory: being built (issue 2)", file=sys.stderr)
    return 1
