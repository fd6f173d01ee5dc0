"""Registry of the validation report's suites: name -> the suite function.

A suite is `suite(out_dir, *, quick, progress, **options) -> validation.suites.result.SuiteResult`. The OU
and DiT suites' modules load torch (the `dit` extra) at module level, so their entries are small
wrappers defined here, each importing its suite's module when the suite runs: importing this registry
(and so `syncgap validate --help`) loads neither torch nor numba. The causal suite's module is light
and is registered directly.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from syncgap.validation.suites.dit.causal import dit_causal_suite

if TYPE_CHECKING:
    from syncgap.validation.checks import Check
    from syncgap.validation.suites.result import SuiteResult


def run_ou_suite(out_dir, **options) -> SuiteResult:
    """The OU suite (`ou.theory.ou_theory_suite`)."""
    # torch: ou.theory loads it at module level (ou.verdicts -> dit.predictions -> dit_bridge.commitment)
    from syncgap.validation.suites.ou.theory import ou_theory_suite
    return ou_theory_suite(out_dir, **options)


def ou_partial_checks(root: Path) -> list[Check]:
    """The OU suite's checks of the cells finished under `root` (`ou.theory.partial_checks`)."""
    from syncgap.validation.suites.ou.theory import partial_checks   # torch, as in run_ou_suite
    return partial_checks(root)


def run_dit_suite(out_dir, *, device="cpu", dtype="auto", compile=False, workers=1, **options) -> SuiteResult:
    """The DiT suite (`dit.findings.dit_findings_suite`) on `device`, its sign cells in `dtype`, torch.compile'd or
    not, its cells computed by `workers` forked processes (validation.cell_workers)."""
    from syncgap.validation.suites.dit.findings import dit_findings_suite   # torch, diffusers: loaded at module level
    from syncgap.validation.suites.dit.settings import Runtime
    return dit_findings_suite(out_dir, runtime=Runtime(device, dtype, compile, workers), **options)


SUITES = {
    "ou": run_ou_suite,
    "dit": run_dit_suite,
    "dit-causal": dit_causal_suite,   # where coupling acts on the gap
}
DEFAULT_ORDER = ("ou", "dit", "dit-causal")
# where each suite keeps its cell files (under the report folder), and the function that makes checks from
# the finished cells alone ((cell folder) -> list[Check]): what the report keeps of a suite that crashed part way
DATA_FOLDERS = {"ou": "ou", "dit": "dit", "dit-causal": "dit_causal"}
PARTIAL_CHECKS = {"ou": ou_partial_checks}


__all__ = ["SUITES", "DEFAULT_ORDER", "DATA_FOLDERS", "PARTIAL_CHECKS", "run_ou_suite", "run_dit_suite",
           "ou_partial_checks"]
