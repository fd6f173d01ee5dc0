"""What a suite of the validation report returns: its checks, figures and verdicts (validation.checks.Check).

Every suite of checks (OU theory, DiT findings, ...) is a function
`suite(out_dir: Path, *, quick: bool, progress) -> SuiteResult` that measures, writes
its raw per-cell data under `out_dir` (JSON/CSV, written atomically, reused on a
rerun so an interrupted report resumes), redraws its figures from those files only,
and returns checks, figures and verdicts. `syncgap validate` runs the suites and
writes `summary.json` and `report.md` from the returned records (validation.report.run).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from syncgap.validation.checks import Check


@dataclass
class Figure:
    """A PNG under the report folder, redrawn from the data files it lists."""

    path: str                 # relative to the report folder
    caption: str
    sources: list[str] = field(default_factory=list)  # data files it was drawn from


@dataclass
class SuiteResult:
    """What one suite returns to the report writer."""

    name: str
    checks: list[Check]
    figures: list[Figure]
    verdicts: dict[str, str]  # finding -> one-paragraph verdict
    data_files: list[str] = field(default_factory=list)
    error: str = ""           # why the suite did not finish ("" when it did); its finished cells are kept
    facts: dict[str, dict] = field(default_factory=dict)  # model -> what the scoreboard needs (validation.claims.scoreboard)
