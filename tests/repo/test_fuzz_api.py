"""Fuzz the public functions with bad arguments: every one raises InputError naming the argument.

One argument at a time is replaced by a hypothesis draw from the values it must reject (outside its
range, NaN, ±inf, beyond the 1e100 scale cap, wrong types, empty or bad arrays); the others stay valid
and tiny. Any other exception, a silent return, or a message not naming the argument fails the test.
"""
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncgap.dit_bridge import coupling, gains, sampling
from syncgap.dit_bridge.registry import load_tiny
from syncgap.ou_models import engine, measure, sampler
from syncgap.theory import base, coupled_ou, gated, routing, spectrum
from syncgap.theory.checks import InputError
from syncgap.theory.data import two_gaussian_mixture

FUZZ = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

_NONFINITE = st.sampled_from([math.nan, math.inf, -math.inf])
_WRONG_TYPE = st.sampled_from([None, "abc", "1.0", [], {}, object(), True])


def bad_real(lo=0.0, lo_open=True, hi=1e100, hi_open=False):
    """Reals outside the interval, non-finite values and non-numbers."""
    parts = [st.floats(max_value=lo, exclude_max=not lo_open, allow_nan=False, allow_infinity=False),
             _NONFINITE, _WRONG_TYPE]
    if hi < math.inf:
        parts.append(st.floats(min_value=hi, exclude_min=not hi_open, allow_nan=False, allow_infinity=False))
    return st.one_of(*parts)


def bad_int(lo, hi=None):
    parts = [st.integers(max_value=lo - 1), st.floats(lo + 0.1, lo + 0.9), _NONFINITE, _WRONG_TYPE]
    if hi is not None:
        parts.append(st.integers(min_value=hi + 1, max_value=10 ** 30))
    return st.one_of(*parts)


POS, NONNEG = bad_real(), bad_real(0.0, lo_open=False, hi=math.inf)
POS_ARRAY = POS.filter(lambda v: not (isinstance(v, list) and v == []))  # vectorised: [] in, [] out is fine
UNIT_OPEN = bad_real(-1.0, hi=1.0, hi_open=True)          # (-1, 1)
MIX = two_gaussian_mixture(4, 1.0)
GRID = engine.ou_grid(3.0, 20)
A = coupled_ou.drift_symmetric(0.3)

# (function, valid keyword arguments, argument to spoil, its bad values, names the message may use)
CASES = [
    (coupled_ou.drift_symmetric, {"g": 0.3}, "g", UNIT_OPEN, ("g",)),
    (coupled_ou.drift_all_to_all, {"K": 3, "g": 0.2}, "K", bad_int(2, coupled_ou.K_MAX), ("K",)),
    (coupled_ou.mode_speciation_times, {"A": A, "Lambda": 100.0}, "Lambda", POS, ("Lambda",)),
    (coupled_ou.mode_collapse_times, {"A": A, "n_train": 100, "d_dim": 8, "noise_std": 1.0}, "noise_std", POS,
     ("noise_std",)),
    (coupled_ou.mode_collapse_times, {"A": A, "n_train": 100, "d_dim": 8, "noise_std": 1.0}, "n_train", bad_int(2),
     ("n",)),
    (coupled_ou.synchronization_gap_symmetric, {"g": 0.3, "Lambda": 100.0, "c": 0.0}, "c", UNIT_OPEN, ("c",)),
    (coupled_ou.stability_bounds, {"Lambda": 100.0}, "Lambda", POS, ("Lambda",)),
    (gated.routing_factor, {"g": 0.5}, "g", NONNEG, ("g",)),
    (gated.gated_speciation_time, {"g": 0.5, "amplitude": 5.0, "noise_std": 1.0}, "amplitude", POS,
     ("amplitude",)),
    (gated.gated_gap, {"g": 0.5, "amplitudes": [20.0, 4.0], "noise_std": 1.0}, "noise_std", POS, ("noise_std",)),
    (gated.growth_sign_change_time, {"g": 0.5, "lam": 10.0}, "lam", POS, ("lambda",)),
    (gated.difference_growth_rate, {"t": [0.5, 1.0], "g": 0.5, "lam": 10.0}, "g", NONNEG, ("g",)),
    (routing.predicted_gap_ratio, {"g": 0.5, "eta": 0.1}, "eta", UNIT_OPEN, ("eta",)),
    (routing.critical_coupling, {"gap0_steps": 40.0, "eta": 0.0}, "gap0_steps", bad_real(hi=math.inf),
     ("gap0_steps",)),
    (base.speciation_time, {"Lambda": 10.0}, "Lambda", bad_real(hi=math.inf).filter(lambda v: v != []), ("Lambda",)),
    (base.cloning_agreement, {"t_clone": 1.0, "amplitude": 3.0, "noise_std": 1.0}, "t_clone", POS_ARRAY, ("t",)),
    (base.collapse_time, {"n_train": 100, "d_dim": 8, "noise_std": 1.0}, "d_dim", bad_int(1), ("d",)),
    (spectrum.predicted_times, {"spectrum": [10.0, 3.0, 1.0], "g": 0.3}, "g", UNIT_OPEN, ("g",)),
    (engine.ou_grid, {"T": 3.0, "steps": 10}, "T", bad_real(hi=1000.0), ("T",)),
    (engine.ou_grid, {"T": 3.0, "steps": 10}, "steps", bad_int(1, 10 ** 7), ("steps",)),
    (sampler.sample, {"model": MIX, "grid": GRID, "n": 2, "K": 2}, "n", bad_int(1, 10 ** 9), ("samples",)),
    (sampler.sample, {"model": MIX, "grid": GRID, "n": 2, "K": 2}, "seed", bad_int(0, 2 ** 63 - 1), ("seed",)),
    (sampler.sample, {"model": MIX, "grid": GRID, "n": 2, "K": 2}, "gate", NONNEG, ("gate g",)),
    (sampler.sample, {"model": MIX, "grid": GRID, "n": 2, "K": 2}, "grid",
     st.sampled_from([[], [1.0], [1.0, 2.0], [3.0, np.nan, 0.0], [2.0, 1.0, -1.0], "grid"]), ("t grid",)),
    (engine.forward_sample, {"model": MIX, "n": 2, "t": 1.0}, "t", bad_real(0.0, lo_open=False, hi=math.inf),
     ("t",)),
    (measure.cloning, {"data": MIX, "grid": GRID, "n": 4, "n_boot": 10}, "n_boot", bad_int(10, 10 ** 6),
     ("n_boot",)),
    (measure.protocol_one, {"data": MIX, "grid": GRID, "g": 0.5, "n": 4, "n_boot": 10}, "n", bad_int(2, 10 ** 9),
     ("samples",)),
    (measure.collapse, {"n_train": 10, "d": 2, "grid": GRID, "n": 4, "n_boot": 10}, "sigma", POS, ("sigma",)),
]


@pytest.mark.parametrize("fn, kwargs, arg, values, names", CASES,
                         ids=[f"{c[0].__module__.split('.')[-1]}.{c[0].__name__}-{c[2]}" for c in CASES])
def test_bad_argument_raises_input_error_naming_it(fn, kwargs, arg, values, names):
    @FUZZ
    @given(value=values)
    def check(value):
        with pytest.raises(InputError) as e:
            fn(**{**kwargs, arg: value})
        msg = str(e.value)
        assert "\n" not in msg and any(n in msg for n in names), f"{arg}={value!r}: {msg!r}"
    check()


@pytest.fixture(scope="module")
def tiny():
    return load_tiny(seed=2)


def _noise(m=1):
    return torch.zeros(m, 4, 8, 8), torch.zeros(m, 4, 8, 8)


@given(value=st.one_of(bad_real(0.0, lo_open=False, hi=coupling.G_MAX), st.lists(st.just(-1.0), min_size=1)))
@FUZZ
def test_coupling_strength_is_checked(tiny, value):
    for call in (lambda: coupling.set_coupling(tiny.model, value), lambda: coupling.set_g(tiny.model, value)):
        coupling.set_coupling(tiny.model, 0.5)
        with pytest.raises(InputError, match=r"g"):
            call()
    coupling.remove_coupling(tiny.model)


@pytest.mark.parametrize("arg, values, name", [
    ("num_steps", bad_int(1, 1000), "num_steps"),
    ("guidance_scale", bad_real(1.0, lo_open=False, hi=math.inf), "guidance_scale"),
    ("sampler", st.sampled_from(["euler", "", None, 3]), "sampler"),
    ("labels", st.sampled_from([[-1], [10], [0, 1, 2], [99]]), "label"),
])
def test_sample_pairs_rejects_bad_arguments_before_sampling(tiny, arg, values, name):
    @FUZZ
    @given(value=values)
    def check(value):
        kw = {"num_steps": 2, "labels": [1], arg: value}
        with pytest.raises(InputError, match=name):
            sampling.sample_pairs(tiny, *_noise(), **kw)
    check()


def test_sample_pairs_rejects_mismatched_or_nonfinite_noise(tiny):
    xa, xb = _noise()
    for a, b, name in ((xa, torch.zeros(2, 4, 8, 8), "initial noise"), (xa, torch.zeros(1, 3, 8, 8), "initial noise"),
                       (xa.clone().fill_(math.nan), xb, "x_a"), (xa, xb.clone().fill_(-math.inf), "x_b")):
        with pytest.raises(InputError, match=name):
            sampling.sample_pairs(tiny, a, b, labels=[1], num_steps=2)


@pytest.mark.parametrize("arg, values, name", [
    ("step", st.one_of(st.integers(max_value=-1), st.integers(min_value=3, max_value=10 ** 6)), "step"),
    ("num_steps", bad_int(1, 1000), "num_steps"),
    ("n_modes", bad_int(1).filter(lambda v: v is not None), "n_modes"),   # None: keep every mode
    ("n_samples", bad_int(1, 10 ** 6), "n_samples"),
    ("threshold", bad_real(hi=math.inf), "threshold"),
])
def test_layer_gains_rejects_bad_arguments(tiny, arg, values, name):
    @FUZZ
    @given(value=values)
    def check(value):
        kw = {"step": 1, "num_steps": 3, "n_modes": 2, "n_samples": 1, arg: value}
        with pytest.raises(InputError, match=name):
            gains.layer_gains(tiny, **kw)
    check()


# ------------------------------------------------------------------ issue 17: new classes of input

TINY_POS = st.floats(min_value=5e-324, max_value=1e-100, exclude_max=True)   # > 0 but below the 1e-100 scale floor


@pytest.mark.parametrize("fn, kwargs, arg, names", [
    (coupled_ou.mode_collapse_times, {"A": A, "n_train": 100, "d_dim": 8, "noise_std": 1.0}, "noise_std", ("noise_std",)),
    (coupled_ou.mode_speciation_times, {"A": A, "Lambda": 100.0}, "Lambda", ("Lambda",)),
    (base.cloning_agreement, {"t_clone": 1.0, "amplitude": 3.0, "noise_std": 1.0}, "noise_std", ("noise_std",)),
    (gated.gated_gap, {"g": 0.5, "amplitudes": [20.0, 4.0], "noise_std": 1.0}, "noise_std", ("noise_std",)),
])
def test_scales_below_the_computable_floor_are_refused(fn, kwargs, arg, names):
    @FUZZ
    @given(value=TINY_POS)
    def check(value):
        with pytest.raises(InputError) as e:
            fn(**{**kwargs, arg: value})
        assert any(n in str(e.value) for n in names) and "1e-100" in str(e.value)
    check()


@FUZZ
@given(t=st.floats(min_value=5e-324, max_value=1e-3), amp=st.floats(0.1, 30.0), sigma=st.floats(1e-100, 10.0))
def test_cloning_agreement_is_a_probability_at_any_small_time_or_refused(t, amp, sigma):
    if t < 1e-100:
        with pytest.raises(InputError, match=r"t=.*\[1e-100"):
            base.cloning_agreement(t, amp, sigma)
        return
    phi = base.cloning_agreement(t, amp, sigma)
    assert 0.5 - 1e-9 <= phi <= 1.0 + 1e-9


@FUZZ
@given(rates=st.lists(st.sampled_from([0.5, 1.0, 2.0, 7.0]), min_size=2, max_size=6), seed=st.integers(0, 10**6),
       log_scale=st.sampled_from([-150, -5, 0, 5, 150]))
def test_modes_of_diagonalisable_drifts_with_repeated_rates_are_left_eigenvectors(rates, seed, log_scale):
    k, scale = len(rates), 10.0 ** log_scale
    V = np.random.default_rng(seed).normal(size=(k, k)) + 2 * k * np.eye(k)
    Adiag = V @ np.diag(rates) @ np.linalg.inv(V) * scale
    info = coupled_ou.mode_rates(Adiag)
    W = info["modes"]
    np.testing.assert_allclose(W @ Adiag / scale, info["rates"][:, None] * W / scale, atol=1e-7)
    assert sorted(np.round(info["rates"] / scale, 6)) == sorted(rates)


@FUZZ
@given(k=st.integers(2, 5), rate=st.floats(0.1, 10.0), off=st.floats(0.01, 10.0))
def test_drifts_with_a_jordan_block_are_refused(k, rate, off):
    J = rate * np.eye(k) + off * np.eye(k, k=1)          # one k x k Jordan block: one eigenvector only
    with pytest.raises(InputError, match="not diagonalisable"):
        coupled_ou.mode_rates(J)


@FUZZ
@given(blob=st.binary(max_size=300))
def test_any_npy_bytes_give_a_spectrum_or_one_line(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("npy") / "x.npy"
    path.write_bytes(blob)
    try:
        ev = spectrum.covariance_spectrum(str(path))
    except InputError as exc:
        assert "\n" not in str(exc)
    else:
        assert np.all(np.isfinite(ev))


@FUZZ
@given(module=st.from_regex(r"[a-z_][a-z0-9_]{0,8}(\.[a-z_][a-z0-9_]{0,5}){0,2}", fullmatch=True),
       fn=st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True))
def test_function_kinds_are_refused_without_the_flag_before_any_import(module, fn):
    import sys

    from syncgap.validation.sweep import expand
    before = set(sys.modules)
    with pytest.raises(InputError, match="--allow-code-kinds"):
        expand({"kind": f"{module}:{fn}"})
    assert set(sys.modules) == before


@FUZZ
@given(blob=st.binary(max_size=400))
def test_any_checkpoint_bytes_are_refused_in_one_line_never_run(tmp_path_factory, blob):
    from syncgap.dit_bridge.train import load_checkpoint
    path = tmp_path_factory.mktemp("ck") / "checkpoint.pt"
    path.write_bytes(blob)
    with pytest.raises(InputError) as e:
        load_checkpoint(str(path))
    assert "\n" not in str(e.value)


@FUZZ
@given(digits=st.integers(309, 4000))
def test_integers_beyond_float_range_are_refused_not_overflowed(digits):
    from syncgap.theory.checks import check_real
    with pytest.raises(InputError, match="finite"):
        check_real("x", 10 ** digits)
    with pytest.raises(InputError, match="Lambda"):
        coupled_ou.mode_speciation_times(A, 10 ** digits)
