"""Pieces of the OU/theory suite checked on synthetic data: onset reading, the gap law fit, critical g."""
from __future__ import annotations

import math

import numpy as np
import pytest

from syncgap.theory import routing
from syncgap.validation.suites.ou_theory import gap_law, law_ratio, onset


def test_onset_interpolates_the_sign_change_in_generation_order():
    t = np.linspace(5.0, 0.0, 51)                 # decreasing, as recorded
    r = 2.0 - t                                   # turns positive (going down in t) at t = 2
    assert onset(t, r) == pytest.approx(2.0, abs=1e-12)
    assert onset(t[::-1], r[::-1]) == pytest.approx(2.0, abs=1e-12)
    assert onset(t, -1.0 - t) is None             # never grows


@pytest.mark.parametrize("eta", [-0.5, 0.0, 0.3, 0.9])
def test_law_ratio_matches_theory_routing(eta):
    g = np.array([0.0, 0.25, 1.0, 3.0, 10.0])
    want = [routing.predicted_gap_ratio(float(x), eta) for x in g]
    assert np.allclose(law_ratio(g, eta), want, rtol=1e-12)


def _cells(gap0, g, gaps, half=1.0):
    c0 = {"gap_dit_steps": [gap0, gap0 - half, gap0 + half]}
    return [c0] + [{"g": x, "gap_dit_steps": [y, y - half, y + half]} for x, y in zip(g, gaps)]


def test_gap_law_recovers_eta_and_critical_g_of_an_exact_law():
    g = np.array([0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 2.0])
    gap0, eta = 40.0, 0.2
    L = gap_law(_cells(gap0, g, gap0 * law_ratio(g, eta), half=0.2), 60)
    assert L["eta"] == pytest.approx(eta, abs=1e-3)
    assert L["eta_ci"][0] <= eta <= L["eta_ci"][1]
    assert np.allclose(L["residuals"], 0.0, atol=0.05)
    # critical g: the exact law crosses one step at theory.routing.critical_coupling(gap0, eta);
    # the measured one is interpolated linearly between grid points, so it sits within one grid cell
    gstar = routing.critical_coupling(gap0, eta)
    assert 0.9 <= L["critical_g"] <= 2.0 and 0.9 <= gstar <= 2.0
    assert L["critical_g_theory"] == pytest.approx(routing.critical_coupling(gap0, 0.0))


def test_gap_law_reports_no_collapse_for_a_constant_gap():
    g = np.array([0.5, 1.0, 2.0, 10.0])
    L = gap_law(_cells(30.0, g, np.full(g.size, 30.0)), 60)
    assert L["critical_g"] is None
    # a g-independent gap: eta runs to its search bound, which is not reported as an observation (issue 13)
    assert L["eta"] is None and L["eta_ci"] is None and "bound" in L["eta_reason"] and L["eta_at_bound"] > 100
    assert L["comparison"]["preferred"] == "constant" and L["comparison"]["g"] == [0.5, 1.0, 2.0, 10.0]
    assert np.all(np.asarray(L["residuals_routing"]) > 0)
