"""syncgap.theory: SymPy derivations for coupled OU replicas and their numeric functions.

Imports no torch or numba (ARCHITECTURE.md): `import theory` gives formulas,
LaTeX and fast numeric functions to a student with only NumPy, SciPy and SymPy.
"""
from .checks import InputError

__all__ = ["InputError"]
