"""syncgap.theory: SymPy derivations for coupled OU replicas and their numeric functions.

Imports no torch or numba (docs/architecture.md: the bottom layer): `import syncgap.theory` gives formulas,
LaTeX and fast numeric functions to a student with only NumPy, SciPy and SymPy.
"""
import importlib

from .checks import InputError
from .version import package_version

__version__ = package_version()

_LAZY = ("base", "coupled_ou", "replica_scores", "gated", "gated_protocols", "attention", "routing", "spectrum", "docs")
__all__ = ["InputError", "__version__", *_LAZY]


def __getattr__(name):
    """Import the theory modules on first use, so `theory.checks` (used by every CLI) stays light."""
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'theory' has no attribute {name!r}")
