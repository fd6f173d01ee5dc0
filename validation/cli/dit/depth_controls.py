"""`syncgap dit depth-controls`: compute the cached record of a depth control (docs/protocols.md, "Depth").

    syncgap dit depth-controls --model fhgm-deep16-pos --expect last           # writes zoo/<model>/depth_control.json
    syncgap dit depth-controls --model tiny-fhgm-dir --expect first --out runs/ctl --quick

Runs the depth suite's attribution on the control (the same code as `syncgap validate`), applies the
localisation rule and writes the record that the report's `dit.<control>.depth.control.answer` checks
read. Not run by `make demo`: the records are stored beside the controls and recomputed by this command.
"""
from __future__ import annotations

import argparse
import os

from syncgap.theory.checks import InputError

from ..arguments import add_json_flag
from ..output import print_json
from .model_options import load_model_for


def register(dsub: argparse._SubParsersAction) -> None:
    p = dsub.add_parser("depth-controls", help="compute a depth control's localisation record (attribution + rule)")
    p.add_argument("--model", required=True, help="the control model: a zoo name or a local directory")
    p.add_argument("--expect", choices=["last", "first"], required=True,
                   help="where the construction puts the fine feature's work: its last or its first k blocks")
    p.add_argument("--out", default=None, help="folder for depth_control.json (default: the model's zoo folder)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="the depth suite's --quick sizes (tests)")
    size.add_argument("--full", action="store_true", help="the depth suite's --full sizes (validate --full)")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from syncgap.dit_bridge.registry import ZOO_DIR
    from syncgap.validation.store import atomic_write_json, to_plain
    from syncgap.validation.suites.dit.depth import finding as dit_depth
    from syncgap.validation.suites.dit.depth.attribution import control_record
    from syncgap.validation.suites.dit.depth.localise import RECORD_FILE

    model = load_model_for("--model", args.model)
    out = args.out if args.out is not None else os.path.join(ZOO_DIR, args.model)
    if not os.path.isdir(out):
        if args.out is None:
            raise InputError(f"--model {args.model!r} is not a zoo model: give --out for its record")
        os.makedirs(out, exist_ok=True)
    st = dit_depth.QUICK if args.quick else dit_depth.FULL if args.full else dit_depth.DepthSettings()
    record = to_plain(control_record(model, args.expect, st))
    path = os.path.join(out, RECORD_FILE)
    atomic_write_json(path, record)
    if args.json:
        print_json(record)
    else:
        print(f"{model.name}: constructed '{args.expect} {record['k']}', the rule answers '{record['answer']}' "
              f"({record['reason']}); record {path}")
    return 0
