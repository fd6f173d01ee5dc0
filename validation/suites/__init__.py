"""Registry of the validation report's suites: name -> the suite function.

A suite is `suite(out_dir, *, quick, progress, **options) -> validation.records.SuiteResult`. The OU
and DiT suites' modules load torch (the `dit` extra) at module level, so their entries are small
wrappers defined here, each importing its suite's module when the suite runs: importing this registry
(and so `syncgap validate --help`) loads neither torch nor numba. The causal suite's module is light
and is registered directly.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .dit_causal import dit_causal_suite

if TYPE_CHECKING:
    from syncgap.validation.records import Check, SuiteResult


def run_ou_suite(out_dir, **options) -> SuiteResult:
    """The OU suite (`ou_theory.ou_theory_suite`)."""
    # torch: ou_theory loads it at module level (ou_verdicts -> dit_predictions -> dit_bridge.commitment)
    from .ou_theory import ou_theory_suite
    return ou_theory_suite(out_dir, **options)


def ou_partial_checks(root: Path) -> list[Check]:
    """The OU suite's checks of the cells finished under `root` (`ou_theory.partial_checks`)."""
    from .ou_theory import partial_checks   # torch, as in run_ou_suite
    return partial_checks(root)


def run_dit_suite(out_dir, *, device="cpu", dtype="auto", compile=False, **options) -> SuiteResult:
    """The DiT suite (`dit_findings.dit_findings_suite`) on `device`, its sign cells in `dtype`, torch.compile'd or not."""
    from .dit_findings import dit_findings_suite   # torch, diffusers: dit_findings loads them at module level
    from .dit_settings import Runtime
    return dit_findings_suite(out_dir, runtime=Runtime(device, dtype, compile), **options)


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
