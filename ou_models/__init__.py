"""syncgap.ou_models: Numba simulations of coupled OU replicas with exact scores (docs/science.md §2-4).

- `rng`: counter-based normals per (seed, path, stream): bitwise reproducible for any threads/batches.
- `kernels`: the Numba kernels (one affine reverse step, branching for cloning/Protocol I, empirical score).
- `engine`: grids (OU time, DiT's DDPM schedule), exact transitions and scores folded into step tables,
  exact starts and `forward_sample`.
- `replica_run`: `ReplicaRun`, the one checked spec of a run of coupled replicas (data, grid, paths, seed,
  drift or gate, scheme, window, noise, start), passed down whole.
- `sampler`: runs a ReplicaRun: samplers `sample`, `reverse_sde`, `probability_flow_ode`, `ddpm_sample`,
  `ddim_sample`, branched runs (`run_branches`) and the non-finite locator.
- `measure`: cloning, mode_gap (layer A), protocol_one (layer B), difference_energy, collapse -> records.
- `reference`: plain NumPy versions of the same updates (tests, benchmark).
- `estimators`: sigmoid fits, level crossings, bootstrap intervals shared with dit_bridge.
- `sigmoid_search`: the Numba grid search of the bounded sigmoid fit (`estimators.fit_sigmoid_bounded`).
"""

from syncgap.theory.version import package_version

__version__ = package_version()
