"""Registry of the validation report's suites: name -> "module:function", resolved lazily.

A suite is `suite(out_dir, *, quick, progress, **options) -> validation.records.SuiteResult`.
Resolution imports the module only when the suite runs; a suite whose module is missing in
this checkout raises `SuiteUnavailable`, which the report records as a failed check.
"""
from __future__ import annotations

import importlib

SUITES = {
    "ou": "syncgap.validation.suites.ou_theory:ou_theory_suite",
    "dit": "syncgap.validation.suites.dit_findings:dit_findings_suite",
    "dit-causal": "syncgap.validation.suites.dit_causal:dit_causal_suite",   # where coupling acts on the gap
}
DEFAULT_ORDER = ("ou", "dit", "dit-causal")
# where each suite keeps its cell files (under the report folder), and the function that makes checks from
# the finished cells alone ("module:function", (cell folder) -> list[Check]): what the report keeps of a
# suite that crashed part way
DATA_FOLDERS = {"ou": "ou", "dit": "dit", "dit-causal": "dit_causal"}
PARTIAL_CHECKS = {"ou": "syncgap.validation.suites.ou_theory:partial_checks"}


class SuiteUnavailable(RuntimeError):
    """The suite's module or function is not in this checkout."""


def resolve(name: str, table: dict | None = None):
    """The suite function registered under `name` in `table` (default SUITES; KeyError for an unregistered name)."""
    target = (SUITES if table is None else table)[name]
    module, func = target.split(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            raise SuiteUnavailable(f"suite {name!r}: module {module} is not in this checkout") from None
        raise
    try:
        return getattr(mod, func)
    except AttributeError:
        raise SuiteUnavailable(f"suite {name!r}: {module} has no function {func}") from None


__all__ = ["SUITES", "DEFAULT_ORDER", "DATA_FOLDERS", "PARTIAL_CHECKS", "SuiteUnavailable", "resolve"]
