"""The commitment-time fit with fitted asymptotes (dit_bridge.commitment, ou_models.estimators.fit_sigmoid_bounded)
against synthetic agreement curves of known midpoint, beside the old estimator (asymptotes fixed at the end values)."""
import numpy as np
import pytest

from syncgap.dit_bridge.commitment import agreement_fit, commitment_time
from syncgap.ou_models.estimators import fit_sigmoid, fit_sigmoid_bounded, sigmoid
from syncgap.theory.checks import InputError

GRID = np.array([0, 4, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30], float)   # the demo's FHGM-DiT grid


def _old(t, y):
    """The estimator before issue 14: asymptotes fixed at the first and last values."""
    return fit_sigmoid(t, y, lo=float(y[0]), hi=float(y[-1])).midpoint


@pytest.mark.parametrize("lo, hi, mid, width", [(0.5, 1.0, 15.0, 2.0), (1.0, 0.5, 20.0, 1.5), (0.1, 0.9, 9.3, 0.8),
                                                (0.5, 1.0, 5.0, 2.5)])
def test_noiseless_curves_give_all_four_parameters(lo, hi, mid, width):
    fit = fit_sigmoid_bounded(GRID, sigmoid(GRID, lo, hi, mid, width))
    assert fit.midpoint == pytest.approx(mid, abs=0.02) and fit.width == pytest.approx(width, rel=0.02)
    assert fit.lo == pytest.approx(lo, abs=0.01) and fit.hi == pytest.approx(hi, abs=0.01)


def _biases(mid, hi, rng, n_rep=300):
    """Mean error (old, new) and the new one's standard error over n_rep binomial curves (96 pairs)."""
    p = sigmoid(GRID, 0.5, hi, mid, 2.5)
    old, new = [], []
    for _ in range(n_rep):
        y = rng.binomial(96, p) / 96
        old.append(_old(GRID, y))
        new.append(commitment_time(GRID, y))
    return np.mean(old) - mid, np.std(old) / np.sqrt(n_rep), np.mean(new) - mid, np.std(new) / np.sqrt(n_rep)


@pytest.mark.parametrize("mid, hi", [(6.0, 1.0), (24.0, 0.9)])
def test_unsaturated_noisy_end_points_bias_the_old_estimator_not_the_new(mid, hi):
    """A curve whose rise starts (mid 6) or ends (mid 24) near the edge of the t_int range: its first or last
    value, a binomial draw over 96 pairs, is not the plateau. Over 300 replicates the old estimator is biased
    by more than half a step (fixing the halfway level off the plateau), the fitted asymptotes are not (< 0.2
    step and within 3 standard errors)."""
    old_bias, old_se, new_bias, new_se = _biases(mid, hi, np.random.default_rng(3))
    assert abs(old_bias) > 0.5 and abs(old_bias) > 8 * old_se, old_bias
    assert abs(new_bias) < 0.2 and abs(new_bias) < 3 * new_se, (new_bias, new_se)


def test_a_plateau_at_the_ceiling_that_is_not_reached():
    """The upper plateau exactly 1 (the largest agreement) and not reached by t_int = 30: the ceiling clips
    the fitted asymptote, so the fit is biased too (-0.32 step against the old -0.63: about halved)."""
    old_bias, old_se, new_bias, new_se = _biases(24.0, 1.0, np.random.default_rng(3))
    assert abs(old_bias) > 0.5 and abs(new_bias) < abs(old_bias) - 0.25, (old_bias, new_bias)


def test_a_noisy_first_point_moves_the_old_midpoint_more():
    """The brief's case: the first agreement value 0.3 where the plateau is 0.5 (one noisy point)."""
    y = sigmoid(GRID, 0.5, 1.0, 15.0, 2.0)
    y[0] = 0.3
    assert abs(_old(GRID, y) - 15.0) > 2.5 and abs(commitment_time(GRID, y) - 15.0) < 1.5


def test_well_posed_when_the_curve_saturates_inside_the_range_or_not():
    step = np.where(GRID > 11, 1.0, 0.5)                        # saturates between two grid points
    fit = agreement_fit(GRID, step)
    assert 10.0 <= fit.midpoint <= 12.0 and fit.lo == pytest.approx(0.5, abs=1e-3) and fit.hi == pytest.approx(1.0, abs=1e-3)
    ramp = np.linspace(0.5, 0.9, GRID.size)                     # never saturates: asymptotes stay in the box
    fit = agreement_fit(GRID, ramp)
    assert 0.4 - 1e-9 <= min(fit.lo, fit.hi) and max(fit.lo, fit.hi) <= 1.0 + 1e-9 and np.isfinite(fit.midpoint)


def test_flat_or_wrong_way_curves_have_no_midpoint():
    rng = np.random.default_rng(0)
    assert commitment_time(GRID, 0.5 + rng.normal(0, 0.01, GRID.size)) is None            # flat: n/a
    assert commitment_time(GRID, sigmoid(GRID, 1.0, 0.5, 15, 2)) is None                   # falls, rising asked
    assert commitment_time(GRID, sigmoid(GRID, 1.0, 0.5, 15, 2), direction="falling") == pytest.approx(15, abs=0.05)


def test_bad_input_is_named():
    with pytest.raises(InputError, match="x and y"):
        fit_sigmoid_bounded([0, 1, 2], [0, 1, 1])
    with pytest.raises(InputError, match="pad"):
        fit_sigmoid_bounded(GRID, GRID, pad=-1)
    with pytest.raises(InputError, match="distinct"):
        fit_sigmoid_bounded([1, 1, 1, 1], [0, 1, 0, 1])


def test_agreement_fit_is_memoised_on_the_curve_and_equals_the_direct_fit():
    """The analysis meets the same bootstrap curves several times: a repeated (t_int, curve) is not fitted again,
    and the memoised fit is the direct fit's, whatever form (list, ints, array) the arguments came in."""
    from syncgap.dit_bridge.commitment import _fit_of, agreement_fit
    from syncgap.ou_models.estimators import fit_sigmoid_bounded
    t = [0, 4, 8, 12, 16, 20]
    curve = np.array([0.5, 0.52, 0.6, 0.85, 0.97, 1.0])
    _fit_of.cache_clear()
    first = agreement_fit(t, curve)
    assert first == fit_sigmoid_bounded(np.asarray(t, float), curve, ceiling=1.0)
    assert agreement_fit(np.asarray(t, float), list(curve)) is first          # the same key, not refitted
    assert _fit_of.cache_info().hits == 1 and _fit_of.cache_info().misses == 1
    other = agreement_fit(t, curve[::-1].copy())                               # another curve: its own fit
    assert other != first and _fit_of.cache_info().misses == 2
