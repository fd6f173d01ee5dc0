"""syncgap.ou_models: Numba simulations of coupled OU replicas with exact scores (docs/science.md §2-4).

- `rng`: counter-based normals per (seed, path, stream): bitwise reproducible for any threads/batches.
- `kernels`: the Numba kernels (one affine reverse step, branching for cloning/Protocol I, empirical score).
- `engine`: grids (OU time, DiT's DDPM schedule), exact transitions and scores folded into step tables,
  samplers `reverse_sde`, `probability_flow_ode`, `ddpm_sample`, `ddim_sample`, `forward_sample`.
- `branches`: a replica pair run with branches split off (the engine of the measurements), the variants' choices.
- `measure`: cloning, mode_gap (layer A), protocol_one (layer B), difference_energy, collapse -> records.
- `reference`: plain NumPy versions of the same updates (tests, benchmark).
- `estimators`: sigmoid fits, level crossings, bootstrap intervals shared with dit_bridge.
"""

from syncgap.theory.version import package_version

__version__ = package_version()
