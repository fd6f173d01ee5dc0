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

from syncgap.theory.checks import check_choice

from .check_kinds import FAIL, NA, PASS, VERDICTS, Decision, agreement, own_interval
from .claims import assign


@dataclass(frozen=True)
class Check:
    """One comparison, with a verdict "pass", "fail" or "n/a" (validation.check_kinds).

    `ci` is the observation's own interval [lo, hi] (its bootstrap interval), the one interval the
    report shows for that number; `widen` is the stated tolerance added on each side, so the
    prediction must fall in `band` = [lo - widen, hi + widen] (`tolerance` says how, in words). A
    finding that does not reproduce is recorded with passed=False, never dropped, and says why
    (`reason`; a fail without one is an error). `predicted`/`observed` may be None where a quantity
    does not exist (e.g. no onset).

    `verdict` is the decision; `passed` mirrors it (True, False, None for n/a). Give either: a
    verdict sets `passed`, a bare `passed` (True/False/None) sets the verdict. A "pass" with nothing
    to compare (predicted or observed None) is made n/a here, so no check passes on nothing. `kind`
    names the decision rule (agreement, bound, sign, ordering), `reason` says why in words and
    `expects` replaces the predicted number in tables where the prediction is a side ("> 0").

    `claim` (P2.1–P2.4, P1.A, P1.B or "none") and `role` (claim, theory, instrument, control) are not
    given by the caller: they come from the id, through the one table of validation/claims.py.
    """

    id: str
    description: str
    predicted: float | None
    observed: float | None
    ci: tuple[float, float] | None
    unit: str
    passed: bool | None
    model: str = ""
    finding: str = ""      # e.g. "gap exists without coupling", "layer A", "base theory"
    tolerance: str = ""    # how ci was formed, in words
    verdict: str = ""      # "pass" | "fail" | "n/a"; empty: taken from `passed`
    kind: str = ""         # decision rule: agreement, bound, sign, ordering (validation.check_kinds)
    reason: str = ""       # why the verdict, in words
    expects: str = ""      # the prediction in words where it is a side or an order, e.g. "> 0"
    widen: float = 0.0     # tolerance added on each side of `ci` to form the band the prediction must fall in
    claim: str = field(init=False, default="")   # P2.1..P2.4, P1.A, P1.B or "none" (validation.claims)
    role: str = field(init=False, default="")    # claim | theory | instrument | control (validation.claims)

    def __post_init__(self):
        verdict = self.verdict or {True: PASS, False: FAIL, None: NA}[None if self.passed is None else bool(self.passed)]
        check_choice("verdict", verdict, VERDICTS)
        if verdict == PASS and (self.predicted is None and not self.expects or self.observed is None):
            verdict = NA
            object.__setattr__(self, "reason", "nothing to compare: " + ("no prediction" if self.predicted is None
                                                                          else "no observation"))
        if verdict == FAIL and not self.reason.strip():
            object.__setattr__(self, "reason", _fail_reason(self))
        object.__setattr__(self, "verdict", verdict)
        object.__setattr__(self, "passed", {PASS: True, FAIL: False, NA: None}[verdict])
        claim, role = assign(self.id, self.model)
        object.__setattr__(self, "claim", claim)
        object.__setattr__(self, "role", role)

    @property
    def band(self) -> tuple[float, float] | None:
        """The interval the prediction must fall in: `ci` widened by `widen` on each side."""
        return None if self.ci is None else (self.ci[0] - self.widen, self.ci[1] + self.widen)

    def to_json(self) -> dict:
        """The flat record of summary.json and validate --json (docs/json.md): the interval of the one measured
        value as ci_low, ci_high (an open end or no interval: null)."""
        d = asdict(self)
        for k in ("predicted", "observed"):
            v = d[k]
            if isinstance(v, float) and not math.isfinite(v):
                d[k] = None
        low, high = (None, None) if d["ci"] is None else (None if not math.isfinite(float(v)) else float(v)
                                                          for v in d["ci"])
        before = list(d)[:list(d).index("ci")]          # ci_low, ci_high where ci stood
        d = {**{k: d[k] for k in before}, "ci_low": low, "ci_high": high,
             **{k: v for k, v in d.items() if k not in before and k != "ci"}}
        d["widen"] = float(self.widen)
        return d


def _fail_reason(c: "Check") -> str:
    """Why a check given only passed=False fails, from its numbers (the agreement rule's words); an error
    where it has none to say it with."""
    band = c.band
    if c.predicted is not None and band is not None and math.isfinite(float(c.predicted)):
        lo, hi = band
        p = float(c.predicted)
        if p < lo or p > hi:
            return f"prediction outside the interval by {(lo - p) if p < lo else (p - hi):.3g}"
    raise ValueError(f"check {c.id!r} fails without a reason: say why (reason=...)")


def decided(check_id: str, description: str, predicted, observed, ci, unit: str, decision: Decision, *,
            kind: str, **extra) -> Check:
    """A Check whose verdict is `decision` (from one of validation.check_kinds' functions)."""
    return Check(check_id, description, predicted, observed, ci, unit, None, verdict=decision.verdict,
                 kind=kind, reason=decision.reason, **extra)


def _number(x) -> float | None:
    """`x` as a float; None where it is None or not finite (nothing to compare)."""
    return None if x is None or not math.isfinite(float(x)) else float(x)


@dataclass(frozen=True)
class Agreement:
    """A two-sided agreement check (check_kinds.agreement) of a prediction with an observation's interval.

    The prediction must fall in the observation's own interval (check_kinds.own_interval) widened by
    `widen` on each side; `anchor`, when given, decides instead (n/a: the anchor is not established).
    """

    check_id: str                       # the check's id, e.g. "ou.base.d16.t_S"
    description: str                    # what is compared, one sentence
    predicted: float | None             # the prediction (None or NaN: none)
    observed: float | None              # the measured value (None or NaN: not measured)
    interval: tuple | None              # the observation's (low, high), None as an open end; None: no interval
    unit: str                           # the unit of predicted and observed
    finding: str                        # the finding the check belongs to
    tolerance: str                      # how the band is formed, in words
    model: str = ""                     # the model the check is about ("" for the OU suite)
    widen: float = 0.0                  # the interval is widened by this on each side (the check keeps both)
    anchor: Decision | None = None      # n/a with this decision's reason when given (anchor not established)
    absent: str = NA                    # the verdict when the observation is absent

    def check(self) -> Check:
        """The decided Check: `predicted` against the interval widened by `widen`, or `anchor`'s decision."""
        predicted, observed = _number(self.predicted), _number(self.observed)
        ci = None if self.interval is None else own_interval(observed, *self.interval)
        band = None if ci is None else (ci[0] - self.widen, ci[1] + self.widen)
        decision = self.anchor or agreement(predicted, observed, band, absent=self.absent)
        return decided(self.check_id, self.description, predicted, observed, ci, self.unit, decision,
                       kind="agreement", model=self.model, finding=self.finding, tolerance=self.tolerance,
                       widen=self.widen)


def check_interval(record: dict) -> tuple:
    """(ci_low, ci_high) of a check's JSON record (Check.to_json); None for an open end or no interval."""
    return record["ci_low"], record["ci_high"]


def tally(checks) -> dict[str, int]:
    """{"pass": n, "fail": n, "n/a": n} over `checks` (Check records or their JSON dicts)."""
    out = dict.fromkeys(VERDICTS, 0)
    for c in checks:
        out[c["verdict"] if isinstance(c, dict) else c.verdict] += 1
    return out


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
    error: str = ""           # why the suite did not finish ("" when it did); its finished cells are kept
    facts: dict[str, dict] = field(default_factory=dict)  # model -> what the scoreboard needs (validation.scoreboard)
