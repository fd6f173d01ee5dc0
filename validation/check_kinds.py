"""The kinds of check the report makes, one small pure function each, returning a `Decision`.

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
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from syncgap.theory.checks import check_choice, check_real

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


__all__ = ["Decision", "agreement", "bound", "sign", "ordering", "within", "beyond_null", "anchor_established", "own_interval",
           "PASS", "FAIL", "NA", "VERDICTS"]
