"""`syncgap dit train NAME`: train an embedded small DiT (docs/science.md §6) and write its model card.

    syncgap dit train fhgm --out runs/fhgm                # trains, then writes samples.png + model_card.md
    syncgap dit train fhgm --overwrite-shipped           # retrain the shipped dit_bridge/zoo/fhgm in place
    syncgap dit train digits --card-only                 # (re)write the card of a trained model

Progress is printed every log interval; an interrupted run resumes from its checkpoint.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time

from syncgap.theory.checks import InputError, check_choice, check_int

from ..arguments import IntRange, add_json_flag
from ..output import out_folder, print_json

ZOO_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                       "dit_bridge", "zoo")


def register(dit_sub: argparse._SubParsersAction) -> None:
    """Add the `train` subcommand to the `syncgap dit` subparsers."""
    p = dit_sub.add_parser("train", help="train an embedded small DiT (a name of dit_bridge.train.ZOO_CONFIGS) and "
                                         "write its card")
    p.add_argument("name", help="model to train: fhgm, fhgm-flat (the equal-amplitude control), fhgm-deep "
                                "(28 blocks, patch 2), fhgm-deep16 (the deep testbed, 16 blocks), fhgm-deep16-base, "
                                "-pos, -neg (its depth controls: stage 1, then only the last / first 5 blocks "
                                "learn the finest feature) or digits")
    p.add_argument("--out", default=None,
                   help="output folder for the trained model (required to train, unless --overwrite-shipped; "
                        "with --card-only the default is the shipped dit_bridge/zoo/NAME)")
    p.add_argument("--overwrite-shipped", action="store_true",
                   help="train into the shipped dit_bridge/zoo/NAME inside the installed package, replacing "
                        "its weights (what the zoo's maintainers do); without it, training needs --out")
    p.add_argument("--steps", type=int, default=None, help="override the number of training steps")
    p.add_argument("--batch-size", type=int, default=None, help="override the batch size")
    p.add_argument("--seed", type=int, default=None, help="override the seed")
    p.add_argument("--checkpoint", default=None, help="checkpoint file (default OUT/checkpoint.pt)")
    p.add_argument("--init-from", default=None,
                   help="start from this model folder instead of the config's (the depth controls start from "
                        "the shipped zoo:fhgm-deep16-base; give your own stage-1 folder here)")
    p.add_argument("--threads", type=IntRange(1, 4096), default=None, help="torch CPU threads, %(type)s (default: torch's choice)")
    p.add_argument("--skip-card", action="store_true", help="train only; do not write samples.png/model_card.md")
    p.add_argument("--card-only", action="store_true", help="do not train; (re)write the card of OUT")
    add_json_flag(p)
    p.set_defaults(func=run)


def _config(args):
    from dataclasses import replace

    from syncgap.dit_bridge.train import ZOO_CONFIGS

    check_choice("name", args.name, ZOO_CONFIGS)
    over = {k: v for k, v in (("steps", args.steps), ("batch_size", args.batch_size),
                              ("seed", args.seed), ("init_from", args.init_from)) if v is not None}
    return replace(ZOO_CONFIGS[args.name], **over)


def _command_line(argv: list[str]) -> str:
    """The run as `syncgap dit train ...`, whether started by `syncgap` or `python -m` this module."""
    rest = argv[argv.index("train") + 1:] if "train" in argv else argv
    return "syncgap dit train " + " ".join(shlex.quote(a) for a in rest)


def run(args: argparse.Namespace) -> int:
    import torch

    from syncgap.dit_bridge.train import train

    cfg = _config(args)
    if args.out is not None and args.overwrite_shipped:
        raise InputError("--overwrite-shipped and --out exclude each other: --overwrite-shipped trains into "
                         "the shipped dit_bridge/zoo/NAME")
    if args.out is None and not args.card_only and not args.overwrite_shipped:
        raise InputError("--out is required to train (the default, the shipped dit_bridge/zoo/"
                         f"{args.name}, would overwrite the package's weights; pass --overwrite-shipped to "
                         "mean that)")
    out = args.out if args.out is not None else os.path.join(ZOO_DIR, args.name)
    if args.threads is not None:
        torch.set_num_threads(check_int("--threads", args.threads, 1, 4096))
    if not args.card_only:
        out_folder(out)
    record = None
    if not args.card_only:
        cfg.validate()
        start = time.perf_counter()

        def progress(step, total, loss):
            print(f"step {step}/{total}  loss {loss:.4f}  {time.perf_counter() - start:.0f}s",
                  file=sys.stderr, flush=True)

        command = _command_line(getattr(args, "argv", None) or sys.argv[1:])
        record = train(cfg, out, args.checkpoint, progress=progress, command=command)
    card = None
    if not args.skip_card:
        from syncgap.dit_bridge.zoo_card import write_model_card

        for needed in ("training.json", "config.json"):
            if not os.path.isfile(os.path.join(out, needed)):
                raise InputError(f"--out {out!r} holds no trained model (no {needed}); train into it first")
        try:
            card = write_model_card(out, name=args.name)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            if isinstance(exc, InputError):
                raise
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise InputError(f"--out {out!r}: cannot read the trained model for its card ({first[:240]})") from None
    if args.json:
        print_json({"training": record, "card": card})
    else:
        if record is not None:
            print(f"trained {args.name}: final loss {record['final_loss']:.4f} in "
                  f"{record['training_seconds']:.0f}s -> {out}")
        if card is not None:
            print(f"model card -> {os.path.join(out, 'model_card.md')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m syncgap.validation.cli.dit.train NAME ...`: the same command without the `syncgap dit` shell."""
    parser = argparse.ArgumentParser(prog="syncgap dit")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    argv = ["train", *(sys.argv[1:] if argv is None else argv)]
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"syncgap dit train: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
