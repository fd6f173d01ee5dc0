"""No wrong number with exit 0 (issue 17): degenerate eigenspaces at large K, non-diagonalisable drifts,
extreme scales and tiny times, checked against closed forms computed here independently."""
from __future__ import annotations

import math

import numpy as np
import pytest

from syncgap.theory import base
from syncgap.theory import coupled_ou as co
from syncgap.theory.checks import InputError
from syncgap.validation.cli.main import main


@pytest.mark.parametrize("K,g,c", [pytest.param(100, 1.0, -0.008, marks=pytest.mark.slow),
                                   pytest.param(1024, 0.5, 0.5, marks=pytest.mark.slow),
                                   pytest.param(256, 0.02, 0.3, marks=pytest.mark.slow), (128, 3.0, -0.005),
                                   (200, 0.0, 0.2)])
def test_all_to_all_at_large_K_matches_the_closed_form(K, g, c):
    # A = I + gL: common mode rate 1, Lambda_m = Lambda(1 + (K-1)c); K-1 difference modes rate 1 + gK,
    # Lambda_m = Lambda(1 - c); t_S = log(kappa Lambda_m)/(2 kappa) (docs/science.md §3), written out here.
    Lam = 100.0
    r = co.mode_speciation_times(co.drift_all_to_all(K, g), Lam, c)
    kd = 1 + g * K
    assert r["rates"][0] == pytest.approx(1.0) and np.allclose(r["rates"][1:], kd, rtol=1e-9)
    assert r["Lambda_m"][0] == pytest.approx(Lam * (1 + (K - 1) * c), rel=1e-9)
    np.testing.assert_allclose(r["Lambda_m"][1:], Lam * (1 - c), rtol=1e-9)
    np.testing.assert_allclose(r["t_S"][1:], math.log(kd * Lam * (1 - c)) / (2 * kd), rtol=1e-9)
    if K <= 256:
        W = co.mode_rates(co.drift_all_to_all(K, g), c)["modes"]
        np.testing.assert_allclose(W @ W.T, np.eye(K), atol=1e-9)        # one orthonormal set of modes


def test_the_issue_example_gives_the_closed_form_on_the_command_line(capsys):
    assert main(["theory", "gap", "--coupling", "all_to_all", "--K", "100", "--g", "1", "--c", "-0.008"]) == 0
    out = capsys.readouterr().out
    assert "0.04568" in out and "0.04137" not in out


def test_repeated_rates_of_a_diagonalisable_non_symmetric_drift_give_true_left_eigenvectors():
    rng = np.random.default_rng(0)
    V = rng.normal(size=(6, 6)) + 3 * np.eye(6)
    kap = np.array([1.0, 2.0, 2.0, 2.0, 5.0, 5.0])
    A = V @ np.diag(kap) @ np.linalg.inv(V)
    info = co.mode_rates(A)
    W = info["modes"]
    np.testing.assert_allclose(W @ A, info["rates"][:, None] * W, atol=1e-8)
    assert np.linalg.matrix_rank(W) == 6 and sorted(np.round(info["rates"], 9)) == sorted(kap)


@pytest.mark.parametrize("abgg", [(1, 1, 1, 0), (2, 2, 0, -3), (1, 1, 1e-3, 0)])
def test_a_jordan_block_is_not_diagonalisable(abgg, capsys):
    with pytest.raises(InputError, match="not diagonalisable"):
        co.mode_rates(co.drift_anisotropic(*abgg))
    assert main(["theory", "modes", "--anisotropic", ",".join(map(str, abgg))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not diagonalisable" in err[0]


@pytest.mark.parametrize("scale", [1e-200, 1e-5, 1.0, 1e150, 1e200])
def test_drifts_of_any_scale_give_their_rates(scale):
    a, b, g12, g21 = 3 * scale, 1 * scale, 0.5 * scale, 0.8 * scale
    info = co.mode_rates(co.drift_anisotropic(a, b, g12, g21))
    disc = math.sqrt(((a - b) / scale) ** 2 / 4 + (g12 / scale) * (g21 / scale)) * scale
    np.testing.assert_allclose(sorted(info["rates"]), [(a + b) / 2 - disc, (a + b) / 2 + disc], rtol=1e-12)
    A = co.drift_anisotropic(a, b, g12, g21)
    np.testing.assert_allclose(info["modes"] @ A / scale, info["rates"][:, None] * info["modes"] / scale, atol=1e-12)


def test_tiny_times_and_scales_are_computed_or_refused_never_nan(capsys):
    phi = base.cloning_agreement([1e-17, 1e-12, 1e-6], 10.0, 1.0)
    assert np.all(np.isfinite(phi)) and np.all(phi > 0.999)              # t -> 0: x_t = x_0, the class is known
    # the expm1 rewrite is the same function as the plain closed form where float64 computes both
    from syncgap.theory.symbolic import a, numeric, numeric_stable, sigma, t
    import sympy as sp
    expr, args = base._f("cloning_class_posterior").expr, (sp.Symbol("y", real=True), t, a, sigma)
    y, tt = np.meshgrid(np.linspace(-5, 5, 11), [0.05, 0.3, 1.0, 2.5, 6.0])
    np.testing.assert_allclose(numeric_stable(expr, args)(y, tt, 3.0, 0.7), numeric(expr, args)(y, tt, 3.0, 0.7),
                               rtol=1e-9, atol=1e-12)
    for name in (["theory", "cloning", "--sigma", "1e-300"], ["ou", "cloning", "--sigma", "1e-300"]):
        assert main(name) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--sigma" in err[0] and "1e-100" in err[0]
    assert main(["theory", "cloning", "--sigma", "1e-100", "--amplitude", "1e100", "--t", "1e-17,1", "--json"]) == 0
    assert "null" not in capsys.readouterr().out
