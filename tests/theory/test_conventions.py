"""Shared conventions (theory.checks, theory.schedules, theory.data) against independent computations."""
import math

import numpy as np
import pytest
from scipy import integrate

from syncgap.theory.checks import InputError, check_decreasing, check_int, check_real
from syncgap.theory.data import dct_pattern, frequency_hierarchy_mixture, two_gaussian_mixture
from syncgap.theory.schedules import (alpha_bar_from_ou_time, ou_time_from_alpha_bar, ou_time_to_sampler_step,
                              sampler_ou_times, sampler_step_to_ou_time, sampler_timesteps,
                              train_step_ou_times)


def test_check_real_names_argument_and_range():
    with pytest.raises(InputError, match=r"g=1\.5 is outside the allowed range \[0, 1\)"):
        check_real("g", 1.5, 0.0, 1.0, hi_open=True)
    with pytest.raises(InputError, match="g must be a number, got NaN"):
        check_real("g", float("nan"))
    with pytest.raises(InputError, match="must be finite"):
        check_real("t", math.inf, 0.0)
    with pytest.raises(InputError, match="d=0 is outside"):
        check_int("d", 0, 1)
    with pytest.raises(InputError, match="strictly decreasing"):
        check_decreasing("t_grid", [1.0, 2.0])
    assert check_real("g", 0.25, 0.0, 1.0) == 0.25


def test_ou_time_matches_diffusers_alphas_cumprod():
    diffusers = pytest.importorskip("diffusers")
    sched = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02,
                                    beta_schedule="linear")
    t_ref = ou_time_from_alpha_bar(sched.alphas_cumprod.double().numpy())
    np.testing.assert_allclose(train_step_ou_times(), t_ref, rtol=1e-5, atol=1e-6)  # diffusers keeps float32
    for n in (10, 50, 250):
        for cls in (diffusers.DDPMScheduler, diffusers.DDIMScheduler):
            s = cls(num_train_timesteps=1000, beta_schedule="linear")
            s.set_timesteps(n)
            np.testing.assert_array_equal(sampler_timesteps(n), s.timesteps.numpy())


def test_time_step_maps_round_trip():
    steps = np.linspace(0, 49, 37)
    t = sampler_step_to_ou_time(steps, 50)
    np.testing.assert_allclose(ou_time_to_sampler_step(t, 50), steps, atol=1e-9)
    grid = sampler_ou_times(50)
    assert np.all(np.diff(grid) < 0)
    np.testing.assert_allclose(alpha_bar_from_ou_time(ou_time_from_alpha_bar(0.3)), 0.3)


def test_dct_patterns_orthonormal():
    pats = np.stack([dct_pattern(8, u, v).ravel() for u in range(8) for v in range(8)])
    np.testing.assert_allclose(pats @ pats.T, np.eye(64), atol=1e-12)


def test_posterior_mean_matches_quadrature_1d():
    """E[x0 | x_t] of the 1-D mixture by numerical integration of Bayes' rule."""
    mix = two_gaussian_mixture(1, noise_std=0.7)
    a, s = 1.0, 0.7
    for t in (0.05, 0.4, 1.3):
        e, dl = math.exp(-t), 1 - math.exp(-2 * t)
        for x in (-1.7, 0.2, 2.5):
            prior = lambda x0: 0.5 * (np.exp(-(x0 - a) ** 2 / (2 * s * s)) + np.exp(-(x0 + a) ** 2 / (2 * s * s)))
            lik = lambda x0: np.exp(-(x - e * x0) ** 2 / (2 * dl))
            num = integrate.quad(lambda z: z * prior(z) * lik(z), -12, 12, points=[-a, a])[0]
            den = integrate.quad(lambda z: prior(z) * lik(z), -12, 12, points=[-a, a])[0]
            assert mix.posterior_mean(np.array([x]), t)[0] == pytest.approx(num / den, rel=1e-6, abs=1e-9)


def test_score_is_gradient_of_log_density():
    mix = frequency_hierarchy_mixture(size=8, frequencies=((0, 1), (2, 3)), amplitudes=(3.0, 1.0))
    rng = np.random.default_rng(0)
    x = rng.standard_normal(mix.dim) * 2
    for t in (0.1, 1.0):
        h = 1e-5
        fd = np.array([(mix.log_density(x + h * ei, t) - mix.log_density(x - h * ei, t)) / (2 * h)
                       for ei in np.eye(mix.dim)])
        np.testing.assert_allclose(mix.score(x, t), fd, rtol=1e-5, atol=1e-6)


def test_biroli_score_formula():
    """K = 1 score equals tanh(mu_t.x/Gamma_t) mu_t/Gamma_t - x/Gamma_t (docs/science.md §2)."""
    d, sigma, t = 16, 1.3, 0.7
    mix = two_gaussian_mixture(d, sigma)
    x = np.random.default_rng(1).standard_normal(d)
    mu_t = np.exp(-t) * np.ones(d)
    gam = 1 - np.exp(-2 * t) + sigma ** 2 * np.exp(-2 * t)
    ref = np.tanh(mu_t @ x / gam) * mu_t / gam - x / gam
    np.testing.assert_allclose(mix.score(x, t), ref, rtol=1e-10)


def test_fhgm_samples_have_stated_statistics():
    mix = frequency_hierarchy_mixture()
    x, s = mix.sample(20000, np.random.default_rng(2), return_signs=True)
    np.testing.assert_allclose(x.var(), 1.0, rtol=0.05)
    np.testing.assert_array_equal(mix.feature_signs(x)[:, :3], s[:, :3])  # strong features are readable
    np.testing.assert_allclose(np.abs(s.mean(0)), 0, atol=0.03)
    np.testing.assert_allclose(mix.project(x).var(0), mix.eigenvalues(), rtol=0.05)


def test_bad_mixture_inputs():
    with pytest.raises(InputError, match="d=0"):
        two_gaussian_mixture(0)
    with pytest.raises(InputError, match="noise_std"):
        two_gaussian_mixture(4, noise_std=-1)
    with pytest.raises(InputError, match="t=0 is outside"):
        two_gaussian_mixture(4).posterior_mean(np.zeros(4), 0.0)
