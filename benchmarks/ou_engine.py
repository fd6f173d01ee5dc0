"""Benchmark: Numba engine vs a vectorised NumPy implementation of the same coupled reverse SDE.

Workload: a gated pair (layer B, g = 0.5) of the two-Gaussian mixture in d dims, Euler-Maruyama
reverse SDE; throughput in path·dim·steps per second (a pair counts as 2 paths). Also the plain
OU step (standard normal data, no features) in the engine. Prints one JSON record.
Usage: python benchmarks/ou_engine.py --json [--d 256 --paths 4000 --steps 200]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


from syncgap.ou_models import engine, kernels, reference
from syncgap.ou_models.engine import FeatureModel, sign_states, step_tables
from syncgap.theory.data import two_gaussian_mixture


def _best(fn, repeat):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--d", type=int, default=256)
    p.add_argument("--paths", type=int, default=4000, help="pairs for the coupled workload")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--numpy-paths", type=int, default=1000, help="pairs for the (slower) NumPy run")
    p.add_argument("--repeat", type=int, default=5, help="best of this many runs (a noisy shared machine)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    data = two_gaussian_mixture(a.d)
    fm = engine.feature_model(data)
    grid = engine.ou_grid(10.0, 1000)[: a.steps + 1]
    tables = step_tables(fm, grid, None, 0.5, "sde", 2)
    signs, signed = sign_states(2), fm.amplitudes > 0

    def numba_run(n):
        z = np.zeros((n, 2, a.d))
        kernels.run_paths(z, np.arange(n, dtype=np.int64), 1, 0, fm.patterns, *tables.args(), signs, signed,
                          0, a.steps, 1, np.zeros((n, 0, 2, 1)), np.zeros((n, 0, 2, 2)))

    numba_run(8)  # compile or load the cache
    t_nb = _best(lambda: numba_run(a.paths), a.repeat)
    gen_z = np.zeros((a.numpy_paths, 2, a.d))
    t_np = _best(lambda: reference.gated_reverse_sde(data, grid, gen_z, 0.5, seed=1, noise="numpy"), a.repeat)
    nb = 2 * a.paths * a.d * a.steps / t_nb
    npy = 2 * a.numpy_paths * a.d * a.steps / t_np
    # plain OU step: no features, one replica (the random-number-bound limit)
    ou = FeatureModel(np.zeros((0, a.d)), np.zeros(0), np.zeros(0), 1.0)
    tables1 = step_tables(ou, grid, None, 0.0, "sde", 1)
    n1 = 4 * a.paths

    def ou_run():
        z = np.zeros((n1, 1, a.d))
        kernels.run_paths(z, np.arange(n1, dtype=np.int64), 1, 0, ou.patterns, *tables1.args(), sign_states(1),
                          np.zeros(0, dtype=bool), 0, a.steps, 1, np.zeros((n1, 0, 1, 0)), np.zeros((n1, 0, 1, 1)))
    ou_run()
    t_ou = _best(ou_run, a.repeat)
    gen = np.random.default_rng(0)
    zz = np.zeros((a.numpy_paths, a.d))
    t_ou_np = _best(lambda: reference.ou_steps(zz, 0.01, a.steps, gen), a.repeat)
    rec = {"numba_steps_per_s": nb, "numpy_steps_per_s": npy, "ratio": nb / npy,
           "ou_step_numba_steps_per_s": n1 * a.d * a.steps / t_ou,
           "ou_step_numpy_steps_per_s": a.numpy_paths * a.d * a.steps / t_ou_np,
           "workload": f"gated pair (g=0.5), two-Gaussian mixture, Euler reverse SDE, d={a.d}, {a.steps} steps; "
                       "steps = path·dim·steps",
           "threads": int(os.environ.get("NUMBA_NUM_THREADS", 0)) or None, "cpu_count": os.cpu_count()}
    if a.json:
        print(json.dumps(rec, indent=2))
    else:
        for k, v in rec.items():
            print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
