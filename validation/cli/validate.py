"""`syncgap validate`: the predicted-vs-observed validation report (docs/science.md §7).

    syncgap validate --out DIR [--quick | --full] [--suites ou dit] [--model NAME ...] [--device cpu|cuda] [--json]

Writes DIR/summary.json, DIR/report.md (figures embedded, one verdict per finding), DIR/checks.csv
and each suite's raw data; progress goes to stderr (and DIR/progress.log). A rerun with the same
arguments reuses finished data files. Exit status 0 when the report is written (failed checks are
findings, recorded in the report), 1 when a suite did not finish (it crashed or cannot run here: the
report names the error and keeps its finished cells) or with --strict when a check failed, 2 on bad input.
"""
from __future__ import annotations

import argparse
import os
import sys

from syncgap.theory.checks import InputError, check_choice, check_int
from syncgap.validation.cell_workers import fork_safe_numba, usable_workers
from syncgap.validation.report import run as report
from syncgap.validation.suites import DEFAULT_ORDER, SUITES

from .arguments import add_json_flag
from .extras import require_suites
from .output import out_folder, print_json, print_table
from .records import envelope, options_of
from .threads import set_threads


QUICK_TIME = "under a minute"   # `validate --quick`, measured: benchmarks/RESULTS.md "First-run timings"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="predicted-vs-observed validation report (summary.json, report.md)",
                       description="Run the validation suites and write DIR/summary.json, DIR/report.md "
                                   "(the scoreboard of claims first, then every check, figures embedded) and the raw data. "
                                   "A rerun reuses finished data files.")
    p.add_argument("--out", required=True, help="report folder (created; a rerun resumes there)")
    p.add_argument("--quick", action="store_true", help=f"reduced sizes ({QUICK_TIME} on 2 CPU cores, one thread: "
                   "benchmarks/RESULTS.md)")
    p.add_argument("--suites", nargs="+", default=list(DEFAULT_ORDER), metavar="SUITE",
                   help=f"suites to run, in order (default: {' '.join(DEFAULT_ORDER)}; known: {', '.join(SUITES)})")
    p.add_argument("--model", nargs="+", action="extend", default=None, metavar="NAME",
                   help="DiT model(s) of the dit suite: fhgm, digits, tiny, facebook/DiT-XL-2-256 or a local "
                        "directory (default: the embedded CPU models)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="device of the dit suite")
    p.add_argument("--full", action="store_true",
                   help="dit suite: every Protocol I variant (window release|switch-on x noise independent|shared "
                        "x sampler ddpm|ddim) on the FHGM-DiT beside its exact analog, and the larger depth run (384 pairs, "
                        "30 steps, 15 probed steps); meant for a GPU or cluster")
    p.add_argument("--dtype", choices=("auto", "fp32", "bf16"), default="auto",
                   help="model dtype of the DiT sign-agreement cells (cloning, Protocol I windows; the causal test's "
                        "switch-on cells with bf16 only): auto = bf16 on a CPU with native bf16 (AMX or AVX512-BF16), else fp32, except "
                        "the demo cells bf16 moved too far; differences, onsets, gate responses and depth probes "
                        "always run in fp32 (default: auto)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the DiT model of those cells (inductor; kernels cached in "
                        "$TORCHINDUCTOR_CACHE_DIR, default ~/.cache/syncgap/inductor); eager, with one line on stderr, where compilation fails")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="processes computing the dit suite's cells side by side, one thread each (forked; a Linux "
                        "CPU without --compile only); with more than 1 the other suites run beside the dit suite, "
                        "each in a forked one-thread process (1: everything in this process, in order; default: "
                        "the thread count)")
    p.add_argument("--strict", action="store_true", help="exit 1 when any check fails")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_json_flag(p)
    p.set_defaults(func=run)


def check_suites(names: list[str]) -> list[str]:
    for n in names:
        check_choice("--suites", n, SUITES)
    if len(set(names)) != len(names):
        raise InputError(f"--suites lists a suite twice: {' '.join(names)}")
    return list(names)


def check_model_name(name: str) -> str:
    """Check a DiT model name, folder or file before any suite runs (registry.check_model: class, tensors,
    shapes, truncation); InputError naming the file and the first mismatch."""
    from syncgap.dit_bridge.registry import check_model   # torch: the registry loads it at module level
    return check_model(name)["name"]


def check_device(device: str) -> str:
    """`cuda` only where a CUDA device is visible; InputError otherwise (before anything runs)."""
    if device == "cuda":
        import torch
        if not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA device is available here; use --device cpu")
    return device


def random_model_notes(names) -> list[str]:
    """One report note per model with random weights: its findings mean nothing."""
    from syncgap.dit_bridge.registry import check_model   # torch, likewise
    return [f"Model `{n}` has random weights (a smoke test of the code path): its DiT findings mean nothing, "
            "whatever the checks say." for n in names if check_model(n)["random_weights"]]


def _value(x):
    """A predicted or observed value for the table: '-' where the quantity does not exist (null)."""
    return "-" if x is None else x


def _ci_text(ci) -> str:
    if ci is None:
        return "-"
    return "[" + ", ".join("inf" if v is None else f"{v:.4g}" for v in ci) + "]"


def validate_doc(args: argparse.Namespace, summary: dict) -> dict:
    """One record per check (interval as ci_low, ci_high: Check.to_json); counts and per-suite wall times in summary."""
    records = [dict(c) for c in summary["checks"]]
    return envelope("validate", {"out": args.out, "quick": summary["quick"], "options": options_of(args)}, records,
                    {"claims": summary.get("claims", []), "by_role": summary.get("by_role", {}),
                     "passed": summary["passed"], "failed": summary["failed"], "n/a": summary.get("n/a", 0), "wall_s": summary["wall_s"],
                     "suite_wall_s": {s["name"]: s["wall_s"] for s in summary["suites"]}})


def run(args: argparse.Namespace) -> int:
    suites = check_suites(args.suites)
    require_suites(suites)                    # a missing extra is named now, not a failed check later
    options = {}
    if args.model is not None and "dit" not in suites:
        raise InputError("--model selects the dit suite's models; add dit to --suites")
    if args.device == "cuda" and "dit" not in suites:
        raise InputError("--device cuda applies to the dit suite; add dit to --suites")
    notes = []
    if getattr(args, "full", False) and (args.quick or "dit" not in suites):
        raise InputError("--full runs every Protocol I variant of the dit suite at full size: "
                         "drop --quick and keep dit in --suites")
    if "dit" in suites:  # every requested model and the device are checked before any suite runs
        opts = {"device": check_device(args.device)}
        if getattr(args, "full", False):
            opts["full"] = True
        if args.model:
            twice = sorted({m for m in args.model if args.model.count(m) > 1})
            if twice:
                raise InputError(f"--model lists {', '.join(twice)} twice: each model runs once")
            models = [check_model_name(m) for m in args.model]
            opts["model"] = models[0] if len(models) == 1 else models
            notes = random_model_notes(models)
        options["dit"] = opts
    if "dit-causal" in suites:
        causal = {"full": True} if getattr(args, "full", False) else {}   # the causal depth test's full curve
        if args.model:   # the user's model only: no zoo model enters their report
            causal["model"] = options["dit"]["model"]
        if causal:
            options["dit-causal"] = causal
    for name in ("dit", "dit-causal"):
        if name in suites:
            options.setdefault(name, {})["dtype"] = getattr(args, "dtype", "auto")
            if getattr(args, "compile", False):
                options[name]["compile"] = True
    workers = None if args.workers is None else check_int("--workers", args.workers, 1, 256)
    report.check_out_dir(args.out)
    out_folder(args.out)        # writable, and locked: one run per report folder
    say = None if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    if "dit" in suites and workers != 1:
        fork_safe_numba()   # before the first parallel Numba kernel: the cell workers are forked (cell_workers)
    beside = []
    if "dit" in suites or "ou" in suites:
        threads = set_threads(say)   # torch/Numba threads: $SYNCGAP_THREADS, else free cores (threads.threads_for)
        if "dit" in suites:
            workers = usable_workers(threads if workers is None else workers, args.device, bool(args.compile))
            options["dit"]["workers"] = workers
            if workers > 1:   # the other suites run beside the dit suite, in forked one-thread processes
                beside = [s for s in suites if s != "dit"]
    summary = report.run_report(args.out, suites, quick=args.quick, progress=say, options=options, notes=notes,
                                beside=beside)
    if args.json:
        print_json(validate_doc(args, summary))
    else:
        print_table([{"check": c["id"], "predicted": _value(c["predicted"]), "observed": _value(c["observed"]),
                      "ci": _ci_text(None if c["ci_low"] is None and c["ci_high"] is None
                                     else (c["ci_low"], c["ci_high"])), "unit": c["unit"],
                      "verdict": {"pass": "pass", "fail": "FAIL", "n/a": "n/a"}[c["verdict"]]}
                     for c in summary["checks"]])
        for r in summary.get("claims", []):
            print(f"{r['claim']} on {r['model']}: {r['verdict']}: {r['why']}")
        print(f"{summary['passed']}/{len(summary['checks'])} checks pass, {summary['failed']} fail, "
              f"{summary['n/a']} n/a; report: "
              f"{os.path.join(args.out, 'report.md')}")
    for name, why in summary["suite_errors"].items():
        print(f"syncgap validate: suite {name} failed: {why} (the report keeps its finished cells; "
              "a rerun resumes)", file=sys.stderr)
    return 1 if summary["suite_errors"] or args.strict and summary["failed"] else 0
