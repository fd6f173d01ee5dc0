"""OpenMP wait policy: CPU and wall time of a small torch loop (and a numba prange call every 10 steps).

    OMP_WAIT_POLICY=PASSIVE python benchmarks/omp_wait.py numba
    python benchmarks/omp_wait.py none            # libgomp's default policy (threads spin between regions)

Two torch threads, 300 forward passes of 8 Linear(128, 128) layers on a (32, 16, 128) batch. The `syncgap`
console script sets OMP_WAIT_POLICY=PASSIVE unless the environment already has a value (cli/main.py).
"""
import os
import sys
import time

import numpy as np
import torch
from numba import njit, prange


@njit(parallel=True)
def total(x):
    """sum(x) with a numba prange loop (starts numba's omp thread pool)."""
    s = 0.0
    for i in prange(x.size):
        s += x[i]
    return s


def main(mode: str) -> None:
    use_numba = mode == "numba"
    if use_numba:
        total(np.ones(1000))
    torch.set_num_threads(2)
    net = torch.nn.Sequential(*[torch.nn.Linear(128, 128) for _ in range(8)])
    x = torch.randn(32, 16, 128)                                      # (N, T, D)
    cpu0, wall0 = time.process_time(), time.time()
    with torch.no_grad():
        for i in range(300):
            net(x)
            if use_numba and i % 10 == 0:
                total(np.ones(1000))
    print(f"{mode} OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')} cpu {time.process_time() - cpu0:.2f} s "
          f"wall {time.time() - wall0:.2f} s")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "none")
