"""`syncgap sweep CONFIG`: run a grid of independent cells locally or on a Dask cluster, resumably.

Progress goes to stderr, the summary to stdout (a table, or JSON with --json). Exit
status 0 when every cell is finished, 1 when some failed (a rerun retries only those),
2 on bad input (config or arguments, or OUT in use by another run), 130 on Ctrl-C and 143 on
SIGTERM (finished cells are kept).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from syncgap.theory.checks import InputError

from .output import print_json, print_table
from .records import envelope, flatten, options_of


LARGE_SWEEP_CELLS = 100_000    # cells to run beyond which a sweep asks for --yes (hours, gigabytes)
RECORD_OVERHEAD = 600          # bytes of a cell record beyond its config: result, provenance, hashes


def sweep_bytes(sweep, todo: int, block: int = 4096) -> int:
    """Estimated bytes a sweep writes for `todo` cells: each cell's record file (config + RECORD_OVERHEAD,
    rounded up to the file system's `block`, as one file per cell takes at least a block) and its config
    three more times (sweep.json, results.csv, results.json)."""
    import json
    sample = sweep.cells[: min(len(sweep.cells), 100)]
    config = sum(len(json.dumps(c.config, default=str)) for c in sample) / max(len(sample), 1)
    record = -(-int(config + RECORD_OVERHEAD) // block) * block
    return int(todo * (record + 3 * config))


def check_cost(sweep, out: Path, yes: bool) -> None:
    """InputError when the sweep's cells to run would not fit on the disk, or, without `yes`, when they are more
    than LARGE_SWEEP_CELLS or would fill more than half the free disk: said with the estimate, before anything runs."""
    import os
    import shutil

    from syncgap.theory.resources import gib
    folder = out / "cells"
    done = sum(1 for _ in folder.glob("*.json")) if folder.is_dir() else 0
    todo = max(len(sweep.cells) - done, 0)
    probe = next((p for p in (out, *out.parents) if p.exists()), Path("."))
    free = shutil.disk_usage(probe).free
    need = sweep_bytes(sweep, todo, getattr(os.statvfs(probe), "f_frsize", 4096) if hasattr(os, "statvfs") else 4096)
    what = f"this sweep runs {todo} cells and writes about {gib(need)} to {str(out)!r} ({gib(free)} free)"
    if need > free:
        raise InputError(f"{what}: it would fill the disk; free space or split the grid")
    if not yes and (todo > LARGE_SWEEP_CELLS or need > free / 2):
        raise InputError(f"{what}: far beyond a quick run; pass --yes to start it")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run a sweep config (grid of cells) locally or on Dask; resumable",
                       description="Expand CONFIG (JSON or YAML: base dict + grid of lists) into cells and "
                                   "run the unfinished ones; each cell writes OUT/cells/<hash>.json, and "
                                   "the results roll up into OUT/results.csv and OUT/results.json.")
    p.add_argument("config", metavar="CONFIG", help="sweep config file (.json, else YAML)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="output folder (default: the config's 'out', else runs/sweeps/NAME)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="Dask scheduler address (tcp://host:8786), or 'local' for a new LocalCluster; "
                        "default: run on this machine without Dask")
    p.add_argument("--workers", metavar="N", default=None,
                   help="worker processes of the local pool or of --scheduler local (default: CPU count; 1 runs "
                        "in-process); an existing cluster at ADDRESS uses all its workers")
    p.add_argument("--plot", metavar="X:Y[:GROUP]", default=None,
                   help="after the run, redraw Y (a result) against X (a parameter) from OUT/results.json, "
                        "averaged over the other parameters (e.g. seeds), one line per GROUP; "
                        "saved as OUT/plot_Y_vs_X.png")
    p.add_argument("--allow-code-kinds", action="store_true",
                   help="EXECUTES CODE FROM THE CONFIG: accept 'kind: module:function' entries, which import "
                        "that module and call that function; without this flag only the registered kinds run")
    p.add_argument("--list", action="store_true", help="print the cells and whether each is done; run nothing")
    p.add_argument("--yes", action="store_true",
                   help=f"start a sweep of more than {LARGE_SWEEP_CELLS} cells to run, or one that would fill "
                        "more than half the free disk (without it such a sweep is refused with its estimate)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.set_defaults(func=run)


def _workers(text):
    if text is None:
        return None
    try:
        value = int(text, 10)
    except ValueError:
        raise InputError(f"--workers must be a positive integer, got {text!r}") from None
    if value < 1:
        raise InputError(f"--workers={value} is outside the allowed range [1, 4096]")
    return value


def _plot_spec(text, sweep):
    if text is None:
        return None
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise InputError(f"--plot must be X:Y or X:Y:GROUP, got {text!r}")
    params = {k for c in sweep.cells for k in c.config}
    for name in [parts[0]] + parts[2:]:
        if name not in params:
            raise InputError(f"--plot: {name!r} is not a parameter of this sweep (parameters: "
                             f"{', '.join(sorted(params))})")
    return parts


def _draw(spec, table_json, out):
    from syncgap.validation.sweep.figures import aggregate, line_figure
    from syncgap.validation.sweep.rollup import load_table

    x, y, group = spec[0], spec[1], (spec[2] if len(spec) == 3 else None)
    rows = aggregate(load_table(table_json), [group, x] if group else [x], y)
    path = Path(out) / f"plot_{y}_vs_{x}.png"
    line_figure(rows, x, y, group=group, yerr=f"{y}_sem", path=path, title=f"{y} vs {x}")
    return str(path)


def _short(config: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in config.items() if k != "kind")


def _progress(event: dict) -> None:
    e = event["event"]
    if e == "start":
        line = (f"sweep: {event['total']} cells, {event['skipped']} already done, {event['todo']} to run "
                f"({event['runner']}, {event['workers']} worker{'s' if event['workers'] != 1 else ''})")
    elif e == "warning":
        line = f"sweep: warning: {event['message']}"
    elif e == "done":
        line = (f"[{event['index']}/{event['todo']}] done   {event['key']} {_short(event['config'])} "
                f"({event['elapsed_s']:.2f} s)")
    else:
        line = f"[{event['index']}/{event['todo']}] FAILED {event['key']} {_short(event['config'])}: {event['error']}"
    print(line, file=sys.stderr, flush=True)


def check_models(sweep, scheduler) -> None:
    """Before any cell runs: every model of a DiT cell is checked (registry.check_model: class, tensors,
    shapes, truncation) and `device: cuda` needs a visible GPU when the cells run on this machine.

    On a remote cluster (--scheduler ADDRESS) a model path missing here is left to the workers' own check.
    """
    import os

    dit = [c.params for c in sweep.cells if c.kind.startswith("dit.") and isinstance(c.params.get("model"), str)]
    if not dit:
        return
    from syncgap.dit_bridge.registry import check_model
    remote = scheduler not in (None, "local")
    for name in sorted({p["model"] for p in dit}):
        if not remote or not (os.sep in name or name.endswith((".pt", ".pth", ".safetensors"))) \
                or os.path.exists(name):
            check_model(name)
    if not remote and any(p.get("device") == "cuda" for p in dit):
        import torch
        if not torch.cuda.is_available():
            raise InputError("device cuda: no CUDA device is available here; use device cpu or "
                             "--scheduler ADDRESS of a cluster with GPU workers")


def sweep_doc(args: argparse.Namespace, record: dict, rows: list[dict]) -> dict:
    """One record per cell: the finished rows of results.json (`kind` is the cell kind there), then one per
    failed cell (its key, parameters and error); `failed` tells them apart."""
    records = [{**flatten(r), "failed": False} for r in rows]
    records += [{"key": f["key"], **flatten(f["config"]), "failed": True, "error": f["error"]}
                for f in record.get("failures", [])]
    summary = {k: v for k, v in record.items() if k != "failures"}
    return envelope("sweep", {"options": options_of(args)}, records, summary)


def sweep_list_doc(args: argparse.Namespace, rows: list[dict]) -> dict:
    """`sweep --list`: one record per cell (key, done, its parameters)."""
    return envelope("sweep", {"options": options_of(args), "list": True}, [flatten(r) for r in rows])


def run(args: argparse.Namespace) -> int:
    from syncgap.validation.sweep import is_done, load_sweep, run_sweep
    from syncgap.validation.sweep.rollup import load_table

    workers = _workers(args.workers)
    if args.scheduler is not None and not args.scheduler.strip():
        raise InputError("--scheduler must be 'local' or a Dask scheduler address, got ''")
    sweep = load_sweep(args.config, allow_code=args.allow_code_kinds)
    plot = _plot_spec(args.plot, sweep)
    if not args.list:
        check_models(sweep, args.scheduler)
    out = Path(args.out or sweep.out or Path("runs") / "sweeps" / sweep.name)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out: {str(out)!r} exists and is not a folder")
    if args.list:
        rows = [{"key": c.key, "done": is_done(out, c.key), **c.config} for c in sweep.cells]
        print_json(sweep_list_doc(args, rows)) if args.json else print_table(rows)
        return 0
    check_cost(sweep, out, args.yes)
    s = run_sweep(sweep, out, scheduler=args.scheduler, workers=workers, progress=_progress)
    record = {"name": s.name, "out": s.out_dir, "runner": s.runner, "workers": s.workers, "cells": s.total,
              "skipped": s.skipped, "done": s.done, "failed": len(s.failed), "complete": s.complete,
              "elapsed_s": round(s.elapsed_s, 3), "table_csv": s.table_csv, "table_json": s.table_json,
              "failures": s.failed}
    if plot is not None:
        record["figure"] = _draw(plot, s.table_json, out)
    if args.json:
        print_json(sweep_doc(args, record, load_table(s.table_json)))
    else:
        print_table([{k: record[k] for k in ("name", "cells", "skipped", "done", "failed", "runner",
                                             "workers", "elapsed_s")}])
        print(f"results: {s.table_csv} and {s.table_json}")
        if plot is not None:
            print(f"figure: {record['figure']}")
        if s.failed:
            print(f"{len(s.failed)} cell(s) failed; rerun the same command to retry them "
                  "(finished cells are skipped)")
    return 0 if s.complete else 1
