"""Benchmark: the demo's DiT cells in bf16 against fp32 on the same seeds, and the CPU speed of each path.

1. Paired proof (`fhgm`, or --models, at the demo's sizes): the sign-agreement cells of `syncgap validate` (cloning, Protocol I
   release and switch-on at every g > 0) run in fp32 and in bf16 on the same seeds; per gap the paired
   difference gap(bf16) - gap(fp32) with its 95% percentile bootstrap over the same pairs, against that gap's
   own 95% half-width (fp32, the analysis' bootstrap). bf16 may be the default for a cell kind only where every
   |paired difference| <= 1/4 of the half-width ("ok"). With --causal also the causal test's switch-on cells
   (`fhgm-deep`, `fhgm`), each layer set's gap on the generated features.
2. Speed per model (`fhgm`, `fhgm-deep16`): median and minimum seconds of one forward of the CPU chunk
   (128 pairs, 256 rows), eager fp32 / eager bf16 stock and coupled (paper gate, g = 0.5), compiled fp32 / compiled bf16 coupled only
   (inductor, kernels in sampling.inductor_cache_dir(): set TORCHINDUCTOR_CACHE_DIR to an empty folder for a
   cold compile; the first call is timed apart as the compile), and the ratios against eager fp32.
Cells go to --out DIR/fp32 and DIR/bf16 (report-folder layout, reused when present: point them at two
`syncgap validate` runs to read their cells). Prints one JSON record.
Usage: python benchmarks/dit_cpu.py --json [--out DIR] [--causal] [--repeat 10] [--no-cells | --no-speed]
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace

import numpy as np
import torch

from syncgap.dit_bridge.coupling import remove_coupling, set_coupling
from syncgap.dit_bridge.precision import native_bf16, model_in
from syncgap.dit_bridge.registry import load_model
from syncgap.dit_bridge.sampling import inductor_cache_dir
from syncgap.theory.intervals import read_triple, triple_fields
from syncgap.validation.suites.dit import (analysis as dit_analysis, cells as dit_cells, causal as dit_causal,
                                           findings as dit_findings)
from syncgap.validation.suites.dit.predictions import direction_of

DTYPES = ("fp32", "bf16")


def paired_gap(t, a32, a16, direction, n_boot, seed) -> dict:
    """gap(bf16) - gap(fp32) on the same pairs (a: (P, 2, T), first and last unit) with a joint percentile
    bootstrap, and the fp32 gap with its own interval and half-width."""
    n = a32.shape[0]
    rng = np.random.default_rng(seed)

    def diff(idx):
        g32, g16 = dit_analysis.gap_of(t, a32[idx], direction), dit_analysis.gap_of(t, a16[idx], direction)
        return None if g32 is None or g16 is None else g16 - g32
    d = dit_analysis.percentile_interval([diff(rng.integers(0, n, n)) for _ in range(n_boot)], diff(np.arange(n)))
    own = read_triple(dit_analysis.commitment(t, a32, n_boot, seed, direction), "gap")
    half = None if own[0] is None else (own[2] - own[1]) / 2
    ok = None if d[0] is None or half is None else bool(abs(d[0]) <= half / 4)
    return {**triple_fields("gap_fp32", own), "gap_bf16": dit_analysis.gap_of(t, a16, direction),
            **triple_fields("difference", d),
            "halfwidth": half, "quarter_halfwidth": None if half is None else half / 4, "ok": ok}


def findings_cells(out, n_boot, say, model="fhgm") -> list[dict]:
    """Run (or reuse) `model`'s demo cells in both dtypes; one row per sign-agreement cell (its primary family:
    features on the FHGM models, pooled scales otherwise)."""
    settings = replace(dit_findings.settings_for(False, model=model), fp32_cells=())   # every cell in both dtypes
    meas = {}
    for dt in DTYPES:
        if dt == "bf16":   # the exact-score and ou cells do not depend on the dtype: reuse fp32's
            for p in glob.glob(os.path.join(out, "fp32", "dit", model, "*.json")):
                dest = os.path.join(out, dt, "dit", model, os.path.basename(p))
                if os.path.basename(p).startswith(("exact_", "ou_")) and not os.path.exists(dest):
                    os.makedirs(os.path.dirname(dest), exist_ok=True)
                    shutil.copy(p, dest)
        meas[dt] = dit_findings.measure_model(model, os.path.join(out, dt), settings, say=say, dtype=dt)["cells"]
    rows = []
    for (kind, g), (_, r32, _) in sorted(meas["fp32"].items()):
        if kind.startswith(("exact_", "calib_", "ou", "gate")):   # analogs and the gate response: not dtype cells
            continue
        r16 = meas["bf16"][(kind, g)][1]
        fam = "features" if "feature_agreement" in r32["result"] else "scales"
        t, a32 = dit_analysis.family_arrays(r32["result"], fam)
        a16 = dit_analysis.family_arrays(r16["result"], fam)[1]
        window = "switch-on" if kind.startswith("p1_switch-on") else "release"
        rows.append({"cell": f"{model} {kind} g={g:g}", "family": fam,
                     **paired_gap(t, a32[:, [0, -1]], a16[:, [0, -1]], direction_of(window), n_boot, settings.seed),
                     "wall_s": {"fp32": r32["provenance"]["wall_s"], "bf16": r16["provenance"]["wall_s"]}})
    return rows


def causal_cells(out, say) -> list[dict]:
    """The causal test's switch-on cells (fhgm-deep, fhgm) in both dtypes; one row per model, layer set and g."""
    s = dit_causal.settings_for(False, False)
    rows = []
    for name in s.models:
        rec = load_model(name)
        gen = dit_cells.generated_units(rec, dit_cells.fhgm_mixture(rec))
        meas = {dt: dit_causal.measure(rec, os.path.join(out, dt), s, say, dt)["cells"] for dt in DTYPES}
        for g, cells in meas["fp32"].items():
            for label, (_, _, r32) in cells.items():
                if label not in meas["bf16"].get(g, {}):
                    continue
                r16, pick = meas["bf16"][g][label][2], [gen[0], gen[-1]]
                rows.append({"cell": f"causal {name} g={g:g} {label}",
                             **paired_gap(np.asarray(r32["t_int"], float), np.asarray(r32["agreement"], float)[:, pick],
                                          np.asarray(r16["agreement"], float)[:, pick], "falling", s.n_boot, s.seed)})
    return rows


def _timed(fn, repeat) -> dict:
    """Median and minimum seconds of `repeat` calls after one warm-up (the minimum: the least disturbed call
    on a loaded machine; the ratios use it)."""
    fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return {"median_s": float(np.median(ts)), "min_s": float(np.min(ts))}


def speed(name, pairs, repeat) -> dict:
    """Median seconds per forward of 2 x pairs rows, stock and coupled, eager/compiled x fp32/bf16."""
    rec32 = load_model(name)
    cfg = rec32.model.config
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2 * pairs, cfg.in_channels, cfg.sample_size, cfg.sample_size, generator=gen)
    t, y = torch.full((2 * pairs,), 500), torch.zeros(2 * pairs, dtype=torch.long)
    out = {}
    for dt in DTYPES:
        model = model_in(rec32, dt).model
        xin = x.to(next(model.parameters()).dtype)
        for mode in ("eager", "compiled"):
            fwd = model.forward if mode == "eager" else torch.compile(model.forward, dynamic=False)
            for coupling in ("stock", "coupled") if mode == "eager" else ("coupled",):   # a compile costs minutes
                if coupling == "stock":
                    remove_coupling(model)
                else:
                    set_coupling(model, 0.5)
                with torch.no_grad():
                    t0 = time.perf_counter()
                    fwd(xin, t, y)
                    first = time.perf_counter() - t0
                    out[f"{mode}_{dt}_{coupling}"] = {**_timed(lambda: fwd(xin, t, y), repeat),
                                                      "first_call_s": round(first, 3)}
        remove_coupling(model)
    base = {c: out[f"eager_fp32_{c}"]["min_s"] for c in ("stock", "coupled")}
    ratios = {k: round(base[k.rsplit("_", 1)[1]] / v["min_s"], 3) for k, v in out.items()}
    return {"model": name, "rows": 2 * pairs, "timings": out, "speedup_vs_eager_fp32": ratios}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None, help="cell folders DIR/fp32, DIR/bf16 (default: a temporary folder)")
    p.add_argument("--causal", action="store_true", help="also the causal test's switch-on cells (fhgm-deep)")
    p.add_argument("--no-cells", action="store_true", help="speed only")
    p.add_argument("--no-speed", action="store_true", help="paired proof only (no eager/compiled timings)")
    p.add_argument("--models", nargs="+", default=["fhgm"], help="models of the paired proof (the demo's: fhgm "
                   "fhgm-flat digits; fhgm alone by default, the one held to the precision target)")
    p.add_argument("--pairs", type=int, default=128, help="pairs per forward in the speed part (CPU chunk)")
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--json", action="store_true", help="print JSON (the only output format)")
    args = p.parse_args()
    say = lambda m: print(m, file=sys.stderr, flush=True)   # noqa: E731
    out = args.out or tempfile.mkdtemp(prefix="dit_cpu_")
    rec = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "torch": torch.__version__,
           "threads": torch.get_num_threads(), "native_bf16": native_bf16(),
           "cpu_capability": torch.backends.cpu.get_cpu_capability(), "loadavg_start": os.getloadavg(),
           "inductor_cache": inductor_cache_dir()}
    if not args.no_cells:
        rows = [r for m in args.models for r in findings_cells(out, 200, say, m)]
        rows += causal_cells(out, say) if args.causal else []
        rec["paired"] = rows
        rec["bf16_ok_everywhere"] = all(r["ok"] is not False for r in rows)
    if not args.no_speed:
        rec["speed"] = [speed(m, args.pairs, args.repeat) for m in ("fhgm", "fhgm-deep16")]
    rec["loadavg_end"] = os.getloadavg()
    json.dump(rec, sys.stdout, indent=2, default=float)
    print()


if __name__ == "__main__":
    main()
