"""The DiT's measured gate response (dit_bridge.gate_response): its slope estimator and its g = 0 identity."""
from __future__ import annotations

import numpy as np

from syncgap.dit_bridge.gate_response import feature_difference_slope, gate_response
from syncgap.dit_bridge.registry import load_tiny
from syncgap.theory.gated import routing_factor


def test_feature_difference_slope_is_the_least_squares_slope_through_zero():
    rng = np.random.default_rng(0)
    off = rng.standard_normal((40, 3))                         # (pairs, features)
    on = 0.3 * off + 0.05 * rng.standard_normal(off.shape)
    got = feature_difference_slope(on, off)
    for k in range(3):
        want = np.linalg.lstsq(off[:, k:k + 1], on[:, k], rcond=None)[0][0]
        assert np.isclose(got[k], want)
    off[:, 1] = 0.0                                            # no difference on a feature: NaN, never a slope
    assert np.isnan(feature_difference_slope(on, off)[1])


def test_at_g_zero_the_gate_is_off_so_the_response_is_one_and_the_analog_factor_is_routing_factor():
    rec = load_tiny(seed=0)
    d = int(np.prod(rec.sample_shape))
    phi = np.linalg.qr(np.random.default_rng(1).standard_normal((d, 2)))[0].T      # (2, D) orthonormal
    res = gate_response(rec, 0.0, phi, n_pairs=4, num_steps=3, n_boot=10)
    rho = np.asarray(res["rho_eff"], dtype=float)
    assert rho.shape == (3, 2) and np.allclose(rho, 1.0)
    assert res["rho_analog"] == routing_factor(0.0) == 1.0


def test_the_gated_reading_is_the_model_call_that_advances_the_pair():
    """rho_eff's gated difference comes from run_pairs' own model call (StepHooks.model_output), not a second
    call: equal, bit for bit, to a separate gated denoiser call on the same states."""
    from syncgap.dit_bridge.gate_response import _differences, _pair_diff
    from syncgap.dit_bridge.pair_run import PairRun
    rec = load_tiny(seed=0)
    d = int(np.prod(rec.sample_shape))
    phi = np.linalg.qr(np.random.default_rng(1).standard_normal((d, 2)))[0].T      # (2, D) orthonormal
    on, off = _differences(PairRun(rec, g=0.5, n_pairs=3, num_steps=4, seed=7, eps=0.3), phi, None)[:2]
    run = PairRun(rec, g=0.5, n_pairs=3, num_steps=4, seed=7, eps=0.3)
    scheduler = run.scheduler()
    scheduler.set_timesteps(4)
    state = run.start()
    run.couple()
    try:
        for s in range(4):
            assert np.array_equal(on[s], _pair_diff(run, scheduler, state.x, s, phi))
            run.advance(scheduler, state, s + 1)
    finally:
        run.couple(False)
    assert not np.allclose(on, off)   # the gate acts: the two readings are not the same call
