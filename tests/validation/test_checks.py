"""Each kind of check (validation.checks) fed data that must pass, must fail and must be n/a."""
import math

import pytest

from syncgap.validation import checks as k
from syncgap.validation.checks import Check, tally

INF = math.inf


def test_agreement_passes_inside_fails_outside_na_without_data():
    assert k.agreement(1.0, 1.2, (0.9, 1.5)).verdict == "pass"
    assert k.agreement(3.0, 1.2, (0.9, 1.5)).verdict == "fail"
    assert "1.5" in k.agreement(3.0, 1.2, (0.9, 1.5)).reason            # the miss, 3 - 1.5
    assert k.agreement(None, None, None).verdict == "n/a"                 # nothing to compare
    assert k.agreement(1.0, None, None).verdict == "n/a"
    assert k.agreement(1.0, None, None, absent="fail").verdict == "fail"  # a predicted event never observed
    assert k.agreement(1.0, 2.0, (-INF, INF)).verdict == "n/a"            # unbounded: not measured


def test_bound_decides_on_the_whole_interval():
    # claim observed <= predicted
    assert k.bound(3.4, 2.95, (2.7, 3.3), side="below").verdict == "pass"
    assert k.bound(2.0, 2.95, (2.7, 3.3), side="below").verdict == "fail"            # wholly above the bound
    assert k.bound(3.0, 2.95, (2.7, 3.3), side="below").verdict == "n/a"             # bound inside: unresolved
    assert k.bound(2.65, 2.95, (2.7, 3.3), side="below", slack=0.1).verdict == "n/a"  # slack keeps it open
    assert k.bound(1.0, 2.95, (2.7, 3.3), side="above").verdict == "pass"
    assert k.bound(5.0, 2.95, (2.7, 3.3), side="above").verdict == "fail"
    assert k.bound(None, 2.95, (2.7, 3.3), side="below").verdict == "n/a"
    assert "1.6" in k.bound(4.55, 2.95, (2.7, 3.3), side="below").reason            # looseness stated
    with pytest.raises(ValueError):
        k.bound(1.0, 1.0, (0, 2), side="up")


def test_sign_and_ordering_never_pass_on_the_point_estimate():
    assert k.sign(8.1, (3.5, 11.8)).verdict == "pass"
    assert k.sign(-2.0, (-4.0, -0.5)).verdict == "fail"
    assert k.sign(1.65, (-3.56, 6.31)).verdict == "n/a"      # the digits anchor: positive estimate, unresolved
    assert k.sign(None, None).verdict == "n/a"
    assert k.sign(-2.0, (-4.0, -0.5), expected=-1).verdict == "pass"
    assert k.ordering(1.0, (0.33, 1.0)).verdict == "pass"
    assert k.ordering(0.33, (-0.605, 1.0)).verdict == "n/a"   # tau's interval contains 0
    assert k.ordering(1.0, (0.0, 1.0)).verdict == "n/a"       # lower bound must be > 0, not >= 0
    assert k.ordering(-0.8, (-1.0, -0.2)).verdict == "fail"


def test_within_passes_inside_the_band_fails_wholly_outside():
    assert k.within(0.1, (-0.5, 0.9), half_width=1.0).verdict == k.PASS
    assert k.within(11.8, (9.4, 15.0), half_width=1.0).verdict == k.FAIL     # a gap that stays
    assert k.within(-3.0, (-4.0, -2.0), half_width=1.0).verdict == k.FAIL    # reversed beyond the band
    assert k.within(0.8, (0.2, 1.5), half_width=1.0).verdict == k.NA         # straddles the edge
    assert k.within(None, None, half_width=1.0).verdict == k.NA
    assert k.within(2.0, (-0.5, 0.5), half_width=1.0).verdict == k.NA        # the interval holds its estimate: straddles
    with pytest.raises(ValueError, match="half_width"):
        k.within(0.0, (0.0, 0.0), half_width=0.0)


def test_anchor_and_own_interval():
    assert not k.anchor_established(-3.56, 6.31)
    assert k.anchor_established(49.2, 65.8) and k.anchor_established(-3.0, -1.0)
    assert not k.anchor_established(None, 5.0)
    assert k.own_interval(2.95, 3.0, None) == (2.95, INF)      # the observation always lies in its interval
    assert k.own_interval(1.0, None, 2.0) == (-INF, 2.0)


def test_check_record_never_passes_on_nothing_and_counts_na_apart():
    ghost = Check("x", "no onset either way", None, None, None, "OU time", True)
    assert ghost.verdict == "n/a" and ghost.passed is None and "nothing to compare" in ghost.reason
    bad = Check("y", "suite crashed", None, None, None, "", False, reason="suite raised")
    assert bad.verdict == "fail" and bad.passed is False
    sign = Check("z", "gap > 0", None, 8.0, (3.5, 11.8), "steps", None, verdict="pass", expects="> 0")
    assert sign.passed is True and sign.to_json()["verdict"] == "pass"
    with pytest.raises(ValueError):
        Check("w", "", 1.0, 1.0, (0, 2), "", None, verdict="maybe")
    assert tally([ghost, bad, sign]) == {"pass": 1, "fail": 1, "n/a": 1}
    assert tally([ghost.to_json()]) == {"pass": 0, "fail": 0, "n/a": 1}
