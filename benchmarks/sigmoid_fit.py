"""The bounded sigmoid fit's grid search: the Numba kernel (ou_models.sigmoid_search, what
estimators.fit_sigmoid_bounded runs) against its NumPy reference (ou_models.reference), on agreement-like
curves; prints ms per fit, the ratio, and how many fits chose the same cell. One run, one thread.

    python benchmarks/sigmoid_fit.py [--curves 2000] [--points 15] [--json]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from syncgap.ou_models.estimators import fit_sigmoid_bounded, sigmoid
from syncgap.ou_models.reference import bounded_sigmoid_search


def curves(n: int, points: int, seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """Rising agreement curves from 0.5 to 1 with noise 0.03 on `points` t_int values, midpoints and widths random."""
    rng = np.random.default_rng(seed)
    x = np.linspace(2.0, 2.0 * points, points)
    ys = [np.clip(sigmoid(x, 0.5, 1.0, rng.uniform(8, 25), rng.uniform(1, 5)) + rng.normal(0, 0.03, points), 0, 1)
          for _ in range(n)]
    return x, ys


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--curves", type=int, default=2000)
    ap.add_argument("--points", type=int, default=15)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    x, ys = curves(args.curves, args.points)
    fit_sigmoid_bounded(x, ys[0], ceiling=1.0)                    # compile (or load the cached kernel)
    t0 = time.perf_counter()
    fast = [fit_sigmoid_bounded(x, y, ceiling=1.0) for y in ys]
    t_kernel = (time.perf_counter() - t0) / len(ys)
    t0 = time.perf_counter()
    ref = [bounded_sigmoid_search(x, y, ceiling=1.0) for y in ys]
    t_numpy = (time.perf_counter() - t0) / len(ys)
    same = sum(f.midpoint == r[2] and f.width == r[3] for f, r in zip(fast, ref))
    row = {"curves": len(ys), "points": args.points, "kernel_ms": 1e3 * t_kernel, "numpy_ms": 1e3 * t_numpy,
           "speedup": t_numpy / t_kernel, "same_cell": same}
    print(json.dumps(row) if args.json else
          f"{len(ys)} curves of {args.points} points: kernel {row['kernel_ms']:.3f} ms/fit, NumPy reference "
          f"{row['numpy_ms']:.3f} ms/fit ({row['speedup']:.1f}x); same cell in {same} of {len(ys)}")


if __name__ == "__main__":
    main()
