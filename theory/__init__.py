"""syncgap.theory: SymPy derivations for coupled OU replicas and their numeric functions.

Imports no torch or numba (ARCHITECTURE.md): `import theory` gives formulas,
LaTeX and fast numeric functions to a student with only NumPy, SciPy and SymPy.
"""
from . import base, coupled_ou, gated, spectrum
from .checks import InputError

__all__ = ["InputError", "base", "coupled_ou", "gated", "spectrum"]
