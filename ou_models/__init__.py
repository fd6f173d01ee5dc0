"""syncgap.ou_models: Numba simulations of coupled OU replicas with exact scores (SCIENCE.md §3-4)."""
