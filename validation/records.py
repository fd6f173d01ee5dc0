"""Records of the validation report: one `Check` per predicted-vs-observed comparison.

Every suite of checks (OU theory, DiT findings, ...) is a function
`suite(out_dir: Path, *, quick: bool, progress) -> SuiteResult` that measures, writes
its raw per-cell data under `out_dir` (JSON/CSV, written atomically, reused on a
rerun so an interrupted report resumes), redraws its figures from those files only,
and returns checks, figures and verdicts. `syncgap validate` runs the suites and
writes `summary.json` and `report.md` from the returned records.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Check:
    """One comparison. `passed` only where observed and predicted agree within `ci`.

    `ci` is the interval [lo, hi] that the prediction must fall in (usually the
    bootstrap interval of the observation, widened by any stated tolerance, which
    `tolerance` records in words). A finding that does not reproduce is recorded
    with passed=False, never dropped. `predicted`/`observed` may be None where a
    quantity does not exist (e.g. no onset); then passed is False unless both are None
    and that absence is itself the prediction.
    """

    id: str
    description: str
    predicted: float | None
    observed: float | None
    ci: tuple[float, float] | None
    unit: str
    passed: bool
    model: str = ""
    finding: str = ""      # e.g. "P2.1 intrinsic gap", "layer A", "base theory"
    tolerance: str = ""    # how ci was formed, in words

    def to_json(self) -> dict:
        d = asdict(self)
        for k in ("predicted", "observed"):
            v = d[k]
            if isinstance(v, float) and not math.isfinite(v):
                d[k] = None
        if d["ci"] is not None:
            d["ci"] = [None if not math.isfinite(float(v)) else float(v) for v in d["ci"]]
        return d


def within(predicted: float | None, ci: tuple[float, float] | None) -> bool:
    """True when a prediction lies inside a closed interval."""
    if predicted is None or ci is None:
        return False
    lo, hi = ci
    return bool(lo <= predicted <= hi)


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
