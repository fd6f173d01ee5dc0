"""The verdict rules of the scoreboard: one small pure function per claim, returning a `ClaimVerdict`.

A claim on one model ends in one of four words:

- **holds**: the decisive measurement lies wholly on the claim's side of its boundary;
- **does not hold**: it lies wholly on the other side;
- **undecided**: its interval straddles a boundary (more pairs would decide);
- **not testable here**: the measurement cannot be made or means nothing on this model (with the reason).

The rules (docs/science.md §7, "The scoreboard"), with intervals in sampler steps:

- P2.1, gap without coupling: the cloning gap at g = 0 on the model's units (coarse -> fine). Holds when
  its interval is wholly > 1 step, does not hold when wholly <= 1 step (below -1: the order is
  reversed; inside [-1, 1]: no gap a sampler step can resolve), undecided otherwise; not testable on a
  control or where the units are not established.
- P2.2, collapse under strong coupling: the coupled-cloning gap at the strongest g and gap(g)/gap(0).
  Holds when the strong-g gap's interval lies inside [-1, 1] step and the ratio's interval is below
  0.25; does not hold when the strong-g gap's interval is wholly > 1 step; undecided otherwise; not
  testable while gap(0) is not established (its interval contains 0) or the window was not run.
- P2.3, last-layer localisation: the claim checks of the depth and causal tests (coupling or ablating
  the last ceil(5L/28) blocks against random block sets). Holds when one passes and none fails, does not
  hold when one fails and none passes, undecided when they disagree or none is resolved; not testable
  when a control fails, the model misses its quality gate, or nothing decisive was measured.
- P2.4, global before local: Kendall tau of commitment step against the units' order (global -> local).
  Holds when its interval is wholly > 0, does not hold when wholly < 0, undecided when it contains 0;
  not testable with fewer than 3 units or a control model that missed its quality gate.
- P1.A, P1.B (layer A/B predictions): many 95% checks of one claim. Holds when the failed checks are no
  more than chance gives (`chance_allowance`), does not hold when more fail, undecided when none decided.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

HOLDS, NOT_HOLD, UNDECIDED, NOT_TESTABLE = "holds", "does not hold", "undecided", "not testable here"
CLAIM_VERDICTS = (HOLDS, NOT_HOLD, UNDECIDED, NOT_TESTABLE)
STEP = 1.0               # one sampler step: a gap within it is not resolved by the sampler
COLLAPSE_RATIO = 0.25    # gap(g)/gap(0) below this counts as collapsed
MISS_RATE = 0.05         # a 95% check misses by chance this often


@dataclass(frozen=True)
class ClaimVerdict:
    """One of CLAIM_VERDICTS and one sentence of why."""

    verdict: str
    why: str


def _iv(interval) -> tuple[float, float] | None:
    if interval is None or any(v is None for v in interval):
        return None
    lo, hi = (float(v) for v in interval)
    return None if math.isnan(lo) or math.isnan(hi) else (lo, hi)


def interval_text(est, interval) -> str:
    iv = _iv(interval)
    e = "–" if est is None else f"{float(est):.3g}"
    return e if iv is None else f"{e} [{iv[0]:.3g}, {iv[1]:.3g}]"


def gap_without_coupling(gap, interval, *, not_testable: str = "") -> ClaimVerdict:
    """P2.1 from the cloning gap at g = 0 (sampler steps) and its interval; `not_testable` names why it cannot be."""
    if not_testable:
        return ClaimVerdict(NOT_TESTABLE, not_testable)
    iv = _iv(interval)
    if gap is None or iv is None:
        return ClaimVerdict(NOT_TESTABLE, "no cloning gap measured: a unit never commits")
    lo, hi = iv
    g = interval_text(gap, iv)
    if lo > STEP:
        return ClaimVerdict(HOLDS, f"gap at g = 0 {g} steps lies wholly above 1 step: global commits first")
    if hi <= STEP:
        return ClaimVerdict(NOT_HOLD, f"gap at g = 0 {g} steps lies wholly at or below 1 step"
                            + (" (reversed: local first)" if hi < -STEP else ""))
    return ClaimVerdict(UNDECIDED, f"gap at g = 0 {g} steps straddles 1 step")


def collapse_under_coupling(gap0_interval, strong_gap, strong_interval, ratio, ratio_interval, *, g=None,
                            not_testable: str = "") -> ClaimVerdict:
    """P2.2 from gap(0)'s interval, the coupled-cloning gap at the strongest g and the ratio gap(g)/gap(0)."""
    if not_testable:
        return ClaimVerdict(NOT_TESTABLE, not_testable)
    a = _iv(gap0_interval)
    if a is None or a[0] <= 0 <= a[1]:
        return ClaimVerdict(NOT_TESTABLE, "gap(0) not established: its interval "
                            + ("is missing" if a is None else f"[{a[0]:.3g}, {a[1]:.3g}] contains 0"))
    s, r = _iv(strong_interval), _iv(ratio_interval)
    if strong_gap is None or s is None:
        return ClaimVerdict(UNDECIDED, "no gap measured at the strongest g")
    at = f" at g = {g:g}" if g is not None else ""
    if s[0] > STEP:
        return ClaimVerdict(NOT_HOLD, f"gap{at} {interval_text(strong_gap, s)} steps stays wholly above 1 step")
    if -STEP <= s[0] and s[1] <= STEP and r is not None and r[1] < COLLAPSE_RATIO:
        return ClaimVerdict(HOLDS, f"gap{at} {interval_text(strong_gap, s)} steps is within one step of 0 and "
                            f"gap(g)/gap(0) {interval_text(ratio, r)} < {COLLAPSE_RATIO:g}")
    return ClaimVerdict(UNDECIDED, f"gap{at} {interval_text(strong_gap, s)} steps, gap(g)/gap(0) {interval_text(ratio, r)}: "
                        "an interval straddles a boundary (1 step, ratio 0.25)")


def last_layer_localisation(decisive: list[tuple[str, str]], *, not_testable: str = "") -> ClaimVerdict:
    """P2.3 from the decisive checks' (id, verdict) pairs ("pass", "fail", "n/a")."""
    if not_testable:
        return ClaimVerdict(NOT_TESTABLE, not_testable)
    if not decisive:
        return ClaimVerdict(NOT_TESTABLE, "no depth measurement on this model")
    passed = [i for i, v in decisive if v == "pass"]
    failed = [i for i, v in decisive if v == "fail"]
    if passed and not failed:
        return ClaimVerdict(HOLDS, f"{', '.join(passed)}: the last blocks do more than the null")
    if failed and not passed:
        return ClaimVerdict(NOT_HOLD, f"{', '.join(failed)}: the last blocks do no more than the null")
    if passed and failed:
        return ClaimVerdict(UNDECIDED, f"the decisive checks disagree (pass: {', '.join(passed)}; "
                            f"fail: {', '.join(failed)})")
    return ClaimVerdict(UNDECIDED, "no decisive check resolved (every one n/a)")


def global_before_local(tau, interval, *, n_units: int, not_testable: str = "") -> ClaimVerdict:
    """P2.4 from Kendall's tau of commitment step against unit order and its interval, over `n_units` units."""
    if not_testable:
        return ClaimVerdict(NOT_TESTABLE, not_testable)
    if n_units < 3:
        return ClaimVerdict(NOT_TESTABLE, f"{n_units} units: a rank order needs at least 3")
    iv = _iv(interval)
    if tau is None or iv is None:
        return ClaimVerdict(UNDECIDED, "no rank correlation measured: too few units commit")
    t = interval_text(tau, iv)
    if iv[0] > 0:
        return ClaimVerdict(HOLDS, f"Kendall tau {t} over {n_units} units lies wholly above 0")
    if iv[1] < 0:
        return ClaimVerdict(NOT_HOLD, f"Kendall tau {t} over {n_units} units lies wholly below 0: local first")
    return ClaimVerdict(UNDECIDED, f"Kendall tau {t} over {n_units} units contains 0")


def chance_allowance(n: int, rate: float = MISS_RATE) -> int:
    """Failures among n independent checks at miss rate `rate` that chance explains: the smallest k with
    P(more than k miss) <= 0.05 under Binomial(n, rate) (0 for n = 0 and n = 1; 1 for n = 2 to 7; 2 for 8 to 16)."""
    def more_than(k):   # P(X > k), X ~ Binomial(n, rate)
        return 1.0 - sum(math.comb(n, j) * rate ** j * (1 - rate) ** (n - j) for j in range(k + 1))
    k = 0
    while n > 0 and more_than(k) > 0.05 + 1e-12:
        k += 1
    return k


def many_checks(verdicts: list[str]) -> ClaimVerdict:
    """P1.A, P1.B: a claim decided by many 95% checks; holds while the failures are within chance."""
    n_pass, n_fail = verdicts.count("pass"), verdicts.count("fail")
    n = n_pass + n_fail
    if not verdicts:
        return ClaimVerdict(NOT_TESTABLE, "no check of this claim ran")
    if n == 0:
        return ClaimVerdict(UNDECIDED, f"none of {len(verdicts)} checks resolved")
    allowed = chance_allowance(n)
    counts = f"{n_pass} of {n} decided checks pass, {n_fail} fail"
    if n_fail <= allowed:
        return ClaimVerdict(HOLDS, f"{counts} (chance explains up to {allowed} at 95%)")
    return ClaimVerdict(NOT_HOLD, f"{counts}, more than the {allowed} chance explains at 95%")


def section_badge(verdicts: list[str]) -> str | None:
    """A report section's badge from its claim checks' verdicts: "pass", "fail", "n/a"; None without claim checks.

    The same rule as `many_checks`: "fail" when more fail than chance explains, "pass" when at least one passes
    and the failures are within chance, "n/a" when none is decided."""
    if not verdicts:
        return None
    v = many_checks(verdicts).verdict
    return {HOLDS: "pass", NOT_HOLD: "fail"}.get(v, "n/a")


__all__ = ["HOLDS", "NOT_HOLD", "UNDECIDED", "NOT_TESTABLE", "CLAIM_VERDICTS", "ClaimVerdict", "STEP",
           "COLLAPSE_RATIO", "gap_without_coupling", "collapse_under_coupling", "last_layer_localisation",
           "global_before_local", "interval_text", "chance_allowance", "many_checks", "section_badge"]
