"""`syncgap dit`: coupled DiT measurements (Protocols I and II). Not yet available (issue 4)."""
from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("dit", help="coupled DiT measurements (Protocols I and II) [not yet available]")
    p.add_argument("rest", nargs="*", help="arguments of the future command")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args) -> int:
    print("syncgap dit: not yet available (issue 4)", file=sys.stderr)
    return 1
