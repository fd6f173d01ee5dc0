"""Power by design (validation/suites/dit/power.py): pairs and t_int grid from a precision target, against simulation."""
import math

import numpy as np
import pytest
import torch

from syncgap.dit_bridge.commitment import commitment_time
from syncgap.dit_bridge.branches import protocol_one_branches
from syncgap.dit_bridge.pair_run import PairRun
from syncgap.dit_bridge.registry import load_tiny
from syncgap.ou_models.estimators import bootstrap, sigmoid
from syncgap.theory.checks import InputError
from syncgap.validation.suites.dit import power, settings as dit_settings

GRID = np.array(power.transition_grid(30, (8, 30), 2, 4), float)


def _midpoint_estimates(n_pairs, n_rep, rng):
    """Independent replicates of a commitment step read off n_pairs Bernoulli agreement curves (mid 15, width 2)."""
    p = sigmoid(GRID, 0.5, 1.0, 15.0, 2.0)
    return np.array([commitment_time(GRID, (rng.random((n_pairs, GRID.size)) < p).mean(0)) for _ in range(n_rep)])


def test_pairs_needed_reaches_the_target_in_an_independent_simulation():
    """Pilot: the bootstrap half-width of one simulated run at 24 pairs. Design: pairs for half of it.
    Check: the spread of 300 independent replicates at the designed pairs (1.96 sd: the half-width the
    design aims at, computed without the bootstrap or the formula) lies within 20% of the target."""
    rng = np.random.default_rng(5)
    p = sigmoid(GRID, 0.5, 1.0, 15.0, 2.0)
    pilot = (rng.random((24, GRID.size)) < p).astype(float)
    iv = bootstrap(lambda u: commitment_time(GRID, u.mean(0)), pilot, 400, seed=1)
    h0 = (iv.high - iv.low) / 2
    target = h0 / 2
    n = power.pairs_needed(target, pilot_halfwidth=h0, pilot_pairs=24)
    assert n == math.ceil(24 * 4 - 1e-9)                      # (h0 / target)^2 = 4
    true_half = power.Z95 * _midpoint_estimates(n, 300, rng).std()
    assert true_half == pytest.approx(target, rel=0.2), (true_half, target, h0)


def test_spread_and_halfwidth_are_inverse_and_scale_as_one_over_sqrt_n():
    """A mean of n normal draws of sd 3 has half-width 1.96 * 3 / sqrt(n) exactly."""
    assert power.per_pair_spread(power.Z95 * 3 / math.sqrt(50), 50) == pytest.approx(3.0)
    assert power.halfwidth_at(200, 3.0) == pytest.approx(power.halfwidth_at(50, 3.0) / 2)
    assert power.pairs_needed(1.0, pilot_halfwidth=2.0, pilot_pairs=24) == 96
    assert power.pairs_needed(10.0, pilot_halfwidth=0.1, pilot_pairs=24) == 2


def test_grid_resolves_the_target():
    for target in (0.5, 1.0, 1.7, 2.0, 3.0):
        spacing = power.grid_spacing_needed(target)
        grid = power.transition_grid(30, (8, 30), spacing, 4)
        inner = [t for t in grid if 8 <= t <= 30]
        assert max(np.diff(inner)) <= max(target, 1) and grid[0] == 0 and grid[-1] == 30
        assert power.reading_resolution(grid, (8, 30)) == max(np.diff(inner)) / 2
    assert power.reading_resolution(range(0, 31, 3)) == 1.5   # the pilot grid: not the old 0.5


def test_replica_row_steps_counts_the_model_rows_of_a_protocol_one_cell():
    """Rows through the model, counted by a forward hook on the tiny DiT, against the cost formula."""
    tiny = load_tiny(seed=3)
    rows = []
    hook = tiny.model.register_forward_hook(lambda mod, args, out: rows.append(int(args[0].shape[0])))
    try:
        t_ints, n_pairs = [0, 2, 3, 6], 3
        for window in ("release", "switch-on"):
            rows.clear()
            run = PairRun(tiny, g=0.5, n_pairs=n_pairs, seed=1, num_steps=6, window=window)
            for _ in protocol_one_branches(run, t_ints):
                pass
            assert sum(rows) == n_pairs * power.replica_row_steps(t_ints, 6), window
    finally:
        hook.remove()


def test_the_demo_and_full_designs_follow_the_stated_targets():
    demo, full = dit_settings.DEMO_DESIGN, dit_settings.FULL_DESIGN
    assert demo.n_pairs == 96 and demo.spacing == 2 and demo.resolution == 1.0 and demo.projected_halfwidth <= 2.0
    assert full.n_pairs == 384 and full.spacing == 1 and full.resolution == 0.5 and full.projected_halfwidth <= 1.0
    s = dit_settings.settings_for(False, model="fhgm")
    assert (s.n_pairs, s.t_ints, s.target_halfwidth, s.resolution) == (96, demo.t_ints, 2.0, 1.0)
    other = dit_settings.settings_for(False, model="digits")
    assert other.n_pairs == 24 and other.target_halfwidth is None and other.resolution == 1.5
    digits = dit_settings.settings_for(False, full=True, model="digits")   # +-2 steps from its own pilot
    assert digits.n_pairs == 664 and digits.target_halfwidth == 2.0
    assert dit_settings.FULL_DESIGNS["digits"].projected_halfwidth <= 2.0
    assert power.halfwidth_at(384, power.per_pair_spread(9.57, 24)) > 2.0   # FULL_DESIGN's pairs would not do


def test_precision_rows_say_n_a_for_a_gap_that_does_not_exist():
    rows = power.precision_rows({"a": [9.0, 8.0, 11.0], "b": [9.0, 4.0, 14.0], "flat": [None, -math.inf, math.inf],
                                 "wide": [3.0, None, None]}, 2.0)
    assert [r["verdict"] for r in rows] == ["meets", "misses", "n/a", "misses"]
    assert rows[2]["reason"] == power.NO_MIDPOINT and "not imprecise" in rows[2]["reason"]
    assert power.precision_rows({"a": [1.0, 0.0, 2.0]}, None)[0]["verdict"] == "n/a"


def test_bad_input_is_named():
    with pytest.raises(InputError, match="target_halfwidth"):
        power.pairs_needed(0.0, pilot_halfwidth=1.0, pilot_pairs=10)
    with pytest.raises(InputError, match="n_pairs"):
        power.per_pair_spread(1.0, 1)
    with pytest.raises(InputError, match="window"):
        power.transition_grid(30, (20, 10), 2, 4)
    with pytest.raises(InputError, match="t_int"):
        power.replica_row_steps([0, 40], 30)


def test_cpu_calls_in_chunks_of_pairs_give_the_same_outputs(monkeypatch):
    """Coupled pairs (switch-on tail) with the model called on 1 pair at a time vs all at once."""
    from syncgap.dit_bridge import sampling
    tiny = load_tiny(seed=3)
    run = PairRun(tiny, g=0.7, n_pairs=3, seed=1, num_steps=6, window="switch-on")

    def finals():
        return [torch.cat([a, b]) for _, _, a, b in protocol_one_branches(run, [0, 2, 6])]
    whole = finals()
    for per_call in (1, 2):   # 2: chunks of unequal size (3 pairs per branch)
        monkeypatch.setattr(sampling, "CPU_PAIRS_PER_CALL", per_call)
        for x, y in zip(finals(), whole):
            torch.testing.assert_close(x, y, atol=1e-5, rtol=1e-5)
