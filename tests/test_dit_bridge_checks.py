"""The bridge and collapse checks (validation/suites/dit_calibrated.py) can fail: on data made to fail they do,
on data made to pass they pass, and a null gap is n/a with its reason. The calibrated analog with the analog's
own factor is the equal-g analog."""
from __future__ import annotations

import numpy as np
import pytest

from syncgap.theory.data import frequency_hierarchy_mixture
from syncgap.validation.suites import dit_calibrated as dc

F2 = "gap collapses under strong coupling"


def _reading(est, half, reason=None, missing=0.0):
    return {"gap": [est, est - half, est + half] if est is not None else [None, -np.inf, np.inf],
            "missing": missing, "reason": reason}


def _analysis(rows, collapse=()):
    return {"model": "fhgm", "bridge": {"rule": "r", "windows": {"release": rows}, "collapse": list(collapse)}}


def test_bridge_check_fails_passes_and_is_na_with_reason():
    far = dc.bridge_row(0.25, _reading(10.0, 1.0), _reading(16.1, 0.5), _reading(16.1, 0.5), 1.0)   # 6.1 apart
    near = dc.bridge_row(0.5, _reading(10.0, 1.0), _reading(11.2, 0.5), _reading(12.0, 0.5), 1.0)
    null = dc.bridge_row(1.0, _reading(None, 0, reason="the last unit's agreement is flat at 1"), _reading(11.0, 0.5),
                         None, 1.0)
    cks = {c.id: c for c in dc.bridge_checks(_analysis([far, near, null]), F2)}
    assert cks["dit.fhgm.bridge.release.g0.25"].verdict == "fail"
    assert far["halfwidth"] == pytest.approx(np.hypot(1.0, 0.5) + 1.0)
    assert cks["dit.fhgm.bridge.release.g0.5"].verdict == "pass"
    na = cks["dit.fhgm.bridge.release.g1"]
    assert na.verdict == "n/a" and "flat at 1" in na.reason


def test_collapse_check_fails_when_the_gap_grows_and_passes_when_it_shrinks():
    base = {"gap0": [10.0, 8.0, 12.0], "gap": [12.0, 10.0, 14.0], "ratio_tolerance": 0.1, "collapses": "no",
            "equal_g_ratio": [1.0, 0.9, 1.1], "calibrated_ratio": [1.1, 1.0, 1.2]}
    rows = [base | {"g": 5.0, "ratio": [1.3, 1.2, 1.4]}, base | {"g": 1.0, "ratio": [0.5, 0.3, 0.7]},
            base | {"g": 0.5, "ratio": [1.0, 0.8, 1.2]}, base | {"g": 2.0, "ratio": [0.5, 0.3, 0.7],
                                                              "gap0": [1.0, -1.0, 3.0]}]
    cks = {c.id: c for c in dc.bridge_checks(_analysis([], rows), F2)}
    assert cks["dit.fhgm.collapse.clone.g5"].verdict == "fail"
    assert cks["dit.fhgm.collapse.clone.g1"].verdict == "pass"
    assert cks["dit.fhgm.collapse.clone.g0.5"].verdict == "n/a"
    assert cks["dit.fhgm.collapse.clone.g2"].verdict == "n/a" and "not established" in cks["dit.fhgm.collapse.clone.g2"].reason


@pytest.mark.parametrize("window", ["release", "clone"])
def test_calibrated_analog_with_the_analogs_own_factor_is_the_equal_g_analog(window):
    mix = frequency_hierarchy_mixture()
    g, n_steps, t = 1.0, 30, [0, 6, 12, 18, 24, 30]
    rho = np.full((n_steps, 4), (1 - g) / (1 + g))
    rho[-1] = 1.0                                           # the equal-g analog leaves the read-out ungated
    kw = dict(num_steps=n_steps, n_paths=600, seed=1, window=window)
    a = dc.analog_record(mix, t, g=g, **kw)["feature_agreement"]
    b = dc.analog_record(mix, t, rho=rho, **kw)["feature_agreement"]
    assert np.mean(a != b) < 0.002                           # the same tables to rounding: rare sign ties
