"""Checks of the validation report: the decision rules (one small pure function each, returning a `Decision`)
and the `Check` record of one predicted-vs-observed comparison with its verdict. Argument validation is not a
check in this sense: it lives in theory.checks.

Every kind can end in "pass", "fail" or "n/a" (docs/science.md §7):

- `agreement`: two-sided. Pass when the prediction lies inside the observation's interval, fail
  when outside. n/a when there is nothing to compare (no prediction, no observation) or the
  interval is unbounded on both sides (the quantity could not be measured).
- `bound`: one-sided, "observed <= predicted" (side "below") or "observed >= predicted" (side
  "above"). Decided on the observation's interval: pass when the whole interval lies on the claimed
  side (within `slack`), fail when the whole interval lies on the other side, n/a "not resolved"
  when the predicted bound falls inside the interval. How far the bound is from the observation
  (its looseness) is stated in the reason: a bound that holds is consistent, not an estimate.
- `sign`: the claim "the quantity is > 0" (or < 0). Pass when the whole interval is on the
  claimed side of 0, fail when the whole interval is on the other side, n/a "not resolved" when
  the interval contains 0. Rule: an interval containing 0 is n/a, not fail, because such data
  neither confirm nor contradict the claim (more pairs would decide); it is never a pass.
- `ordering`: a rank statistic (Kendall's tau) against a predicted order (+1: in order). Pass when
  the interval's lower bound is > 0, fail when its upper bound is < 0, n/a "not resolved" when the
  interval contains 0: the `sign` rule applied to the statistic.

- `within`: the claim "the quantity lies within +-w of 0" (e.g. a collapsed gap: within one sampler step).
  Pass when the whole interval lies inside [-w, w], fail when the whole interval lies outside it (beyond
  w or below -w), n/a "not resolved" when the interval straddles an edge.

- `beyond_null`: the claim "the observation lies beyond a null distribution, away from 0 in the
  direction `direction`" (e.g. coupling the last k layers moves the gap more than random k-sets do).
  With s = direction, pass when s * (the interval's near end) > max(s * null), fail when
  s * observed <= max(s * null) (the estimate inside the null's range or short of it), n/a "not
  resolved" otherwise, and n/a when fewer than 2 null values exist.

Checks that rest on an anchor (e.g. the gap law gap0 rho(g) on the g = 0 gap) are n/a while the
anchor is not established (`anchor_established`).

A suite (validation.suites) returns its `Check` records in a validation.suites.result.SuiteResult;
`syncgap validate` writes them to summary.json and report.md (validation.report.run).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from syncgap.theory.checks import check_choice, check_real
from syncgap.validation.claims.table import assign

PASS, FAIL, NA = "pass", "fail", "n/a"
VERDICTS = (PASS, FAIL, NA)


@dataclass(frozen=True)
class Decision:
    """A verdict ("pass", "fail" or "n/a") and the reason in words."""

    verdict: str
    reason: str


def _finite(x) -> bool:
    return x is not None and math.isfinite(float(x))


def own_interval(observed, lo, hi) -> tuple[float, float]:
    """[lo, hi] with None as an open end, stretched to contain `observed` (an interval always holds its own estimate).

    A percentile bootstrap of a non-smooth estimator (a midpoint, a rank statistic) can leave its
    point estimate just outside; the hull keeps the interval honest instead of excluding it.
    """
    lo = -math.inf if lo is None else float(lo)
    hi = math.inf if hi is None else float(hi)
    if _finite(observed):
        lo, hi = min(lo, float(observed)), max(hi, float(observed))
    return (lo, hi)


def agreement(predicted, observed, interval, *, absent: str = NA) -> Decision:
    """Two-sided: pass iff predicted in [lo, hi]; `absent` is the verdict when the observation is missing.

    `absent="fail"` where a missing observation is itself a failed prediction (a predicted collapse
    that never happened on the grid).
    """
    if not _finite(predicted):
        return Decision(NA, "nothing predicted to compare with")
    if not _finite(observed) or interval is None:
        return Decision(absent, "nothing observed where a value was predicted" if absent == FAIL
                        else "nothing observed to compare with")
    lo, hi = (float(v) for v in interval)
    if lo == -math.inf and hi == math.inf:
        return Decision(NA, "interval unbounded: the quantity could not be resolved")
    if lo <= float(predicted) <= hi:
        return Decision(PASS, "prediction inside the interval")
    miss = lo - float(predicted) if float(predicted) < lo else float(predicted) - hi
    return Decision(FAIL, f"prediction outside the interval by {miss:.3g}")


def bound(predicted, observed, interval, *, side: str, slack: float = 0.0) -> Decision:
    """One-sided: side "below" claims observed <= predicted, "above" observed >= predicted (within `slack`)."""
    check_choice("side", side, ("below", "above"))
    if not _finite(predicted):
        return Decision(NA, "no bound predicted")
    if not _finite(observed) or interval is None:
        return Decision(NA, "nothing observed to hold against the bound")
    lo, hi = (float(v) for v in interval)
    p = float(predicted)
    if side == "below":
        holds, broken, looseness = hi <= p + slack, lo > p + slack, p - float(observed)
    else:
        holds, broken, looseness = lo >= p - slack, hi < p - slack, float(observed) - p
    if holds:
        return Decision(PASS, f"whole interval on the bound's side; the bound is {looseness:.3g} from the observation")
    if broken:
        return Decision(FAIL, "whole interval beyond the bound")
    return Decision(NA, "not resolved: the bound lies inside the observation's interval")


def sign(observed, interval, *, expected: int = 1) -> Decision:
    """Claim: the quantity has sign `expected` (+1 or -1); decided on the interval, never the point estimate."""
    check_choice("expected", expected, (1, -1))
    if not _finite(observed) or interval is None:
        return Decision(NA, "nothing observed")
    lo, hi = (expected * float(v) for v in interval)
    lo, hi = min(lo, hi), max(lo, hi)
    if lo > 0:
        return Decision(PASS, "whole interval on the predicted side of 0")
    if hi < 0:
        return Decision(FAIL, "whole interval on the wrong side of 0")
    return Decision(NA, "not resolved: the interval contains 0")


def ordering(statistic, interval, *, expected: int = 1) -> Decision:
    """A rank correlation (Kendall tau in [-1, 1]) against the predicted order: the sign rule on its interval."""
    d = sign(statistic, interval, expected=expected)
    if not _finite(statistic) or interval is None:
        return d
    reasons = {PASS: "whole interval of the rank correlation on the predicted side of 0: the order holds",
               FAIL: "whole interval of the rank correlation on the other side of 0: the order is reversed",
               NA: "not resolved: the rank correlation's interval contains 0 (no order established)"}
    return Decision(d.verdict, reasons[d.verdict])


def within(observed, interval, *, half_width: float) -> Decision:
    """Claim: |quantity| <= half_width, decided on the interval: inside [-w, w] pass, wholly outside fail."""
    w = check_real("half_width", half_width, 0.0, lo_open=True)
    if not _finite(observed) or interval is None:
        return Decision(NA, "nothing observed")
    lo, hi = own_interval(observed, *interval)
    if -w <= lo and hi <= w:
        return Decision(PASS, f"whole interval within {w:g} of 0")
    if lo > w or hi < -w:
        return Decision(FAIL, f"whole interval more than {w:g} from 0")
    return Decision(NA, f"not resolved: the interval straddles {w:g} (or {-w:g})")


def beyond_null(observed, interval, null, *, direction: int = 1, min_null: int = 2) -> Decision:
    """Claim: `observed` lies beyond every value of `null` (a sample of the same statistic under the null) in
    direction +1 (larger) or -1 (smaller); decided on the observation's interval, failed on its estimate;
    n/a with fewer than `min_null` finite null values."""
    check_choice("direction", direction, (1, -1))
    values = [float(v) for v in null if _finite(v)]
    if len(values) < min_null:
        return Decision(NA, f"null has {len(values)} measured values; need at least {min_null}")
    if not _finite(observed) or interval is None:
        return Decision(NA, "nothing observed")
    edge = max(direction * v for v in values)
    near = min(direction * float(v) for v in own_interval(observed, *interval))
    if direction * float(observed) <= edge:
        return Decision(FAIL, f"estimate within or short of the null's range ({len(values)} values)")
    if near > edge:
        return Decision(PASS, f"whole interval beyond the null's range ({len(values)} values) by {near - edge:.3g}")
    return Decision(NA, "not resolved: the estimate is beyond the null's range but its interval reaches into it")


def anchor_established(lo, hi) -> bool:
    """An anchor (e.g. the g = 0 gap) is established when its interval excludes 0."""
    if lo is None or hi is None:
        return False
    return float(lo) > 0 or float(hi) < 0


@dataclass(frozen=True)
class Check:
    """One comparison, with a verdict "pass", "fail" or "n/a" (the decision rules above).

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
    given by the caller: they come from the id, through the one table of validation/claims/table.py.
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
    kind: str = ""         # decision rule: agreement, bound, sign, ordering (the decision rules above)
    reason: str = ""       # why the verdict, in words
    expects: str = ""      # the prediction in words where it is a side or an order, e.g. "> 0"
    widen: float = 0.0     # tolerance added on each side of `ci` to form the band the prediction must fall in
    claim: str = field(init=False, default="")   # P2.1..P2.4, P1.A, P1.B or "none" (validation.claims.table)
    role: str = field(init=False, default="")    # claim | theory | instrument | control (validation.claims.table)

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
    """A Check whose verdict is `decision` (from one of the decision rules above)."""
    return Check(check_id, description, predicted, observed, ci, unit, None, verdict=decision.verdict,
                 kind=kind, reason=decision.reason, **extra)


def _number(x) -> float | None:
    """`x` as a float; None where it is None or not finite (nothing to compare)."""
    return None if x is None or not math.isfinite(float(x)) else float(x)


@dataclass(frozen=True)
class Agreement:
    """A two-sided agreement check (agreement) of a prediction with an observation's interval.

    The prediction must fall in the observation's own interval (own_interval) widened by
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


def in_interval(predicted: float | None, ci: tuple[float, float] | None) -> bool:
    """True when a prediction lies inside a closed interval."""
    if predicted is None or ci is None:
        return False
    lo, hi = ci
    return bool(lo <= predicted <= hi)
