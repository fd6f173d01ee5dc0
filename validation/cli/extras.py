"""Optional dependencies: name the extra to install when a command's library is missing.

`pip install syncgap` gives numpy, scipy and sympy (enough for `syncgap theory`); each other
command needs an extra (pyproject.toml). A command that reaches a missing library ends with one
line naming the extra, `pip install 'syncgap[ou]'`, and exit status 2, never a traceback.
"""
from __future__ import annotations

import importlib

# top-level module -> the extra of pyproject.toml that installs it
EXTRA_OF_MODULE = {
    "numba": "ou",
    "torch": "dit", "diffusers": "dit", "safetensors": "dit", "sklearn": "dit",
    "matplotlib": "validation",
    "dask": "sweep", "distributed": "sweep",
}
# what each validation suite imports on top of the core
SUITE_MODULES = {"ou": ("numba", "matplotlib"), "dit": ("numba", "torch", "diffusers", "safetensors", "matplotlib")}
SUITE_MODULES["dit-causal"] = SUITE_MODULES["dit"]


class MissingExtra(RuntimeError):
    """A library of an optional extra is not installed; the message names the pip command."""


def missing_extra_message(module_name: str | None) -> str | None:
    """'needs numba, which is not installed: pip install 'syncgap[ou]'' for a known module, else None."""
    root = (module_name or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(root)
    if extra is None:
        return None
    return f"needs {root}, which is not installed: pip install 'syncgap[{extra}]'"


def require(*modules: str) -> None:
    """Import each module now; raise MissingExtra naming the extra for the first one missing."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            message = missing_extra_message(getattr(exc, "name", None) or name)
            if message is None:
                raise
            raise MissingExtra(message) from None


def require_suites(suites: list[str]) -> None:
    """The libraries of every named validation suite (before any suite starts)."""
    for suite in suites:
        require(*SUITE_MODULES.get(suite, ()))
