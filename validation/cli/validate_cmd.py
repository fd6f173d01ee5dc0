"""`syncgap validate`: predicted-vs-observed validation report. Not yet available (issue 6)."""
from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("validate", help="predicted-vs-observed validation report [not yet available]")
    p.add_argument("rest", nargs="*", help="arguments of the future command")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args) -> int:
    print("syncgap validate: not yet available (issue 6)", file=sys.stderr)
    return 1
