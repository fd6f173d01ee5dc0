"""OU engine: random numbers, exact transitions and scores, kernels vs the NumPy reference, reproducibility."""
import numba
import numpy as np
import pytest
from scipy import integrate, stats
from scipy.linalg import expm

from syncgap.ou_models import engine, reference, rng, sampler
from syncgap.theory import schedules
from syncgap.theory.checks import InputError
from syncgap.theory.data import SignFeatureMixture, frequency_hierarchy_mixture, two_gaussian_mixture


def test_counter_normals_match_numpy_twin_and_are_normal():
    key = rng.stream_key(7, 3, 0)
    assert key == rng.stream_key_np(7, 3, 0)
    out = np.empty(200_000)
    rng.fill_normals(key, 1000, out)
    np.testing.assert_array_equal(out, rng.normals_np(key, 1000, out.size))
    scalar = [rng.normal(key, 1000 + i) for i in range(0, out.size, 97)]   # the one-at-a-time draw
    np.testing.assert_array_equal(out[::97], scalar)
    assert stats.kstest(out, "norm").pvalue > 1e-3
    assert abs(out.mean()) < 0.01 and abs(out.var() - 1) < 0.01
    other = np.empty(1000)
    rng.fill_normals(rng.stream_key(7, 4, 0), 1000, other)   # neighbouring path: uncorrelated
    assert abs(np.corrcoef(out[:1000], other)[0, 1]) < 0.15


def test_transition_matches_expm_and_lyapunov_quadrature():
    A = np.array([[1.0, -0.4], [-0.2, 1.3]])
    t = 0.7
    M, S = engine.transition(A, t)
    np.testing.assert_allclose(M, expm(-A * t), atol=1e-12)
    quad = integrate.quad_vec(lambda u: expm(-A * u) @ (2 * np.eye(2)) @ expm(-A.T * u), 0, t)[0]
    np.testing.assert_allclose(S, quad, atol=1e-9)
    for g, tl in ((0.85, 15.0), (0.85, 2.0), (-0.5, 30.0)):    # long times: Lyapunov branch, vs diagonalisation
        k, V = np.linalg.eigh(np.array([[1.0, -g], [-g, 1.0]]))
        M, S = engine.transition(np.array([[1.0, -g], [-g, 1.0]]), tl)
        np.testing.assert_allclose(S, V @ np.diag(-np.expm1(-2 * k * tl) / k) @ V.T, rtol=1e-9, atol=1e-12)
    M1, S1 = engine.transition(np.eye(3), t)
    np.testing.assert_allclose(S1, schedules.delta(t) * np.eye(3))


@pytest.mark.parametrize("data", [two_gaussian_mixture(16), frequency_hierarchy_mixture(8)])
def test_kernel_score_matches_posterior_mean(data):
    """One probability-flow Euler step reveals the kernel's score: it must equal data.score (posterior_mean)."""
    t, dt = 0.9, 1e-3
    grid = np.array([t, t - dt])
    x = 1.5 * np.random.default_rng(0).standard_normal((5, 1, data.dim))
    out = sampler.sample(data, grid, 5, K=1, scheme="ode", z0=x)["z"]
    score = (out - x) / dt - x
    np.testing.assert_allclose(score[:, 0], data.score(x[:, 0], t), rtol=1e-9, atol=1e-9)


def test_coupled_score_matches_finite_differences_of_log_density():
    data = SignFeatureMixture(np.eye(5)[:2], np.array([3.0, 1.5]), 0.7, (5,))
    fm = engine.feature_model(data)
    A = np.array([[1.0, -0.4], [-0.2, 1.3]])
    z = np.random.default_rng(1).standard_normal((1, 2, 5))
    sc = reference.coupled_score(fm, A, 0.6, z)[0]
    fd = np.zeros_like(sc)
    for idx in np.ndindex(sc.shape):
        e = np.zeros_like(sc)
        e[idx] = 1e-5
        fd[idx] = (reference.coupled_log_density(fm, A, 0.6, z[0] + e)
                   - reference.coupled_log_density(fm, A, 0.6, z[0] - e)) / 2e-5
    np.testing.assert_allclose(sc, fd, atol=1e-6)
    np.testing.assert_allclose(reference.coupled_score(fm, np.eye(2), 0.6, z)[0], data.score(z[0], 0.6), atol=1e-12)


def test_kernels_match_numpy_reference_coupled_and_gated():
    data = SignFeatureMixture(np.eye(6)[:2], np.array([3.0, 1.5]), 0.7, (6,))
    fm = engine.feature_model(data)
    grid = engine.ou_grid(3.0, 30)
    A = np.array([[1.0, -0.4], [-0.2, 1.3]])
    z0 = engine.initial_state(fm, 4, 2, 3.0, A, seed=3)
    ours = sampler.reverse_sde(data, grid, 4, seed=3, drift=A)["z"]
    np.testing.assert_allclose(ours, reference.coupled_reverse_sde(fm, A, grid, z0, seed=3), atol=1e-12)
    z0 = engine.initial_state(fm, 4, 2, 3.0, None, seed=3)
    ours = sampler.reverse_sde(data, grid, 4, seed=3, K=2, gate=0.7)["z"]
    np.testing.assert_allclose(ours, reference.gated_reverse_sde(data, grid, z0, 0.7, seed=3), atol=1e-12)


def test_bitwise_identical_across_threads_and_batch_splits():
    data = frequency_hierarchy_mixture(8)
    grid = engine.ou_grid(4.0, 40)
    before = numba.get_num_threads()
    runs = []
    try:
        for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(threads)
            runs.append(sampler.reverse_sde(data, grid, 24, seed=11, K=2, gate=0.5)["z"])
    finally:
        numba.set_num_threads(before)
    split = np.concatenate([sampler.reverse_sde(data, grid, m, seed=11, K=2, gate=0.5, path_offset=o)["z"]
                            for o, m in ((0, 5), (5, 19))])
    for r in runs[1:] + [split]:
        assert np.array_equal(runs[0], r)


def test_forward_sample_is_the_exact_marginal():
    data = SignFeatureMixture(np.eye(4)[:2], np.array([3.0, 1.5]), 0.7, (4,))
    A = np.array([[1.0, -0.4], [-0.2, 1.3]])
    z = engine.forward_sample(data, 40000, 0.8, drift=A, seed=2).reshape(40000, -1)
    M, S = engine.transition(A, 0.8)
    cov0 = np.diag([9.0 + 0.49, 2.25 + 0.49, 0.49, 0.49])
    np.testing.assert_allclose(np.cov(z.T), np.kron(M @ M.T, cov0) + np.kron(S, np.eye(4)), atol=0.12)
    x0 = engine.forward_sample(data, 20000, 0.0, seed=4)[:, 0]
    np.testing.assert_allclose(np.abs(data.project(x0)).mean(0), [3.0, 1.5], atol=0.03)


def test_samplers_reach_the_data_distribution():
    """Reverse SDE, ODE, DDPM and DDIM on the two-Gaussian mixture: classes balanced, |mu.x|/sqrt(d) near 1."""
    data = two_gaussian_mixture(32)
    for scheme, grid in (("sde", engine.ou_grid(8, 400)), ("ode", engine.ou_grid(8, 400)),
                         ("ddpm", engine.ddpm_grid(250)), ("ddim", engine.ddpm_grid(100))):
        x = sampler.sample(data, grid, 800, seed=1, K=1, scheme=scheme)["z"][:, 0]
        y = data.project(x)[:, 0]
        assert abs((y > 0).mean() - 0.5) < 0.06, scheme
        assert abs(np.abs(y).mean() - np.sqrt(32)) < 0.2, scheme
        perp = x - y[:, None] * data.patterns[0]
        assert abs(perp.var() * 32 / 31 - 1.0) < 0.12, scheme


def test_ddpm_grid_is_dit_schedule_in_ou_time():
    g = engine.ddpm_grid(50)
    np.testing.assert_allclose(g[:-1], schedules.sampler_ou_times(50))
    assert g[-1] == 0.0 and np.all(np.diff(g) < 0)


@pytest.mark.parametrize("call, match", [
    (lambda d, g: sampler.sample(d, g, -3), "samples"),
    (lambda d, g: sampler.sample(d, g, 4, K=2, gate=-0.5), "gate g"),
    (lambda d, g: sampler.sample(d, g, 4, drift=[[1, -1.2], [-1.2, 1]]), "stability bound"),
    (lambda d, g: sampler.sample(d, [1.0, 2.0, 0.0], 4), "decreasing"),
    (lambda d, g: sampler.sample(d, [1.0, 0.0, -0.5], 4), ">= 0|decreasing"),
    (lambda d, g: sampler.sample(d, g, 4, drift=[[1, -0.5], [-0.5, 1]], gate=0.5), "gate"),
    (lambda d, g: two_gaussian_mixture(0), "d=0"),
    (lambda d, g: engine.ou_grid(-1.0, 10), "T="),
])
def test_bad_input_is_a_clear_error(call, match):
    with pytest.raises(InputError, match=match):
        call(two_gaussian_mixture(4), engine.ou_grid(2.0, 10))


def test_time_dependent_gate_forms_agree():
    """g(t) as a function, as a per-step array and as a constant give the same tables and paths."""
    data = two_gaussian_mixture(8)
    grid = engine.ou_grid(3.0, 30)
    a = sampler.sample(data, grid, 6, seed=2, K=2, gate=0.4)["z"]
    b = sampler.sample(data, grid, 6, seed=2, K=2, gate=lambda t: 0.4)["z"]
    c = sampler.sample(data, grid, 6, seed=2, K=2, gate=np.full(30, 0.4))["z"]
    assert np.array_equal(a, b) and np.array_equal(a, c)
    ramp = engine.step_tables(engine.feature_model(data), grid, gate=lambda t: t / 3.0, K=2)
    const = engine.step_tables(engine.feature_model(data), grid, gate=grid[5] / 3.0, K=2)
    np.testing.assert_allclose(ramp.L[5], const.L[5])
    with pytest.raises(InputError, match="steps"):
        sampler.sample(data, grid, 6, K=2, gate=np.zeros(7))
