from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.kernel_ridge import KernelRidge

from ntkbook import data, kernels, regression


def random_pd(key, n, cond_floor=0.5):
    a = jax.random.normal(key, (n, n), jnp.float64)
    return a @ a.T + cond_floor * jnp.eye(n)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 10), seed=st.integers(0, 2**16), ridge=st.sampled_from([0.0, 1e-3, 1.0]))
def test_solve_is_exact_on_invertible_matrices(n, seed, ridge):
    k1, k2 = jax.random.split(jax.random.key(seed))
    k = random_pd(k1, n)
    y = jax.random.normal(k2, (n,), jnp.float64)
    alpha = regression.solve(k, y, ridge=ridge)
    np.testing.assert_allclose((k + ridge * jnp.eye(n)) @ alpha, y, rtol=1e-8, atol=1e-8)


def test_solve_handles_several_outputs(key):
    k = random_pd(key, 6)
    y = jax.random.normal(jax.random.key(1), (6, 3), jnp.float64)
    alpha = regression.solve(k, y)
    assert alpha.shape == (6, 3)
    np.testing.assert_allclose(k @ alpha, y, atol=1e-9)


def test_ridge_solution_minimises_its_objective(key):
    x = jax.random.normal(key, (12, 2), jnp.float64)
    y = jnp.sin(x[:, 0])
    k = kernels.gaussian(x)
    ridge = 0.1
    alpha = regression.solve(k, y, ridge=ridge)
    # gradient of |K a - y|^2 + ridge a^T K a is 2 K ((K + ridge I) a - y)
    grad = 2 * k @ ((k + ridge * jnp.eye(12)) @ alpha - y)
    np.testing.assert_allclose(grad, 0.0, atol=1e-10)


def test_fit_predict_agrees_with_scikit_learn(key):
    x, y = data.noisy_sine(key, 30)
    x = x.astype(jnp.float64)
    x_test = jnp.linspace(-1, 1, 17, dtype=jnp.float64)[:, None]
    kern = partial(kernels.laplace, bandwidth=0.4)
    ours = regression.fit_predict(kern, x, y, x_test, ridge=0.05)
    ref = KernelRidge(alpha=0.05, kernel="precomputed").fit(np.asarray(kern(x)), np.asarray(y))
    np.testing.assert_allclose(ours, ref.predict(np.asarray(kern(x_test, x))), rtol=1e-10, atol=1e-12)


def test_singular_kernel_is_reported_not_nan():
    x = jnp.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]], jnp.float64)  # a duplicated input
    k = kernels.gaussian(x)
    with pytest.raises(ValueError, match=r"not positive definite in float64 \(n=3, ridge=0, smallest eigenvalue of k_train"):
        regression.solve(k, jnp.ones(3))
    alpha = regression.solve(k, jnp.ones(3), ridge=1e-6)  # the stated remedy works
    assert bool(jnp.all(jnp.isfinite(alpha)))


def test_indefinite_and_non_symmetric_matrices_are_rejected():
    with pytest.raises(ValueError, match="not positive definite"):
        regression.cholesky(jnp.diag(jnp.array([1.0, -1.0])))
    with pytest.raises(ValueError, match=r"k_train must be symmetric"):
        regression.cholesky(jnp.array([[2.0, 1.0], [0.0, 2.0]]))


@pytest.mark.parametrize("n, d", [(20, 19), (50, 49), (100, 60)])
def test_rank_deficient_kernel_is_reported_even_when_the_factor_is_finite(n, d):
    # linear kernel of n points in d < n dimensions: rank d, and the computed Cholesky
    # factor is often finite with a last pivot of rounding size (alpha ~ 1e15 before the pivot test)
    for seed in range(10):
        x = jax.random.normal(jax.random.key(seed), (n, d), jnp.float64)
        with pytest.raises(ValueError, match="not positive definite in float64"):
            regression.solve(kernels.linear(x), jnp.ones(n))
    # one more dimension makes it full rank, and then it is accepted
    x = jax.random.normal(jax.random.key(0), (n, n + 5), jnp.float64)
    alpha = regression.solve(kernels.linear(x), jnp.ones(n))
    np.testing.assert_allclose(kernels.linear(x) @ alpha, jnp.ones(n), atol=1e-8)


def test_min_norm_solve_is_the_ridgeless_limit(key):
    # Polynomial kernel of degree 2 in d = 2 has rank <= 6 < n: singular.
    x = jax.random.normal(key, (10, 2), jnp.float64)
    k = kernels.polynomial(x, degree=2)
    y = x[:, 0] ** 2 - x[:, 0] * x[:, 1]  # lies in the kernel's feature space
    alpha = regression.min_norm_solve(k, y)
    np.testing.assert_allclose(alpha, jnp.linalg.pinv(k, rtol=1e-10) @ y, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(k @ alpha, y, atol=1e-8)  # still interpolates
    gaps = [float(jnp.linalg.norm(k @ regression.solve(k, y, ridge=r) - k @ alpha)) for r in (1e-2, 1e-4, 1e-6)]
    assert gaps[0] > gaps[1] > gaps[2]


def test_rkhs_norm_is_feature_space_norm(key):
    x = jax.random.normal(key, (5, 3), jnp.float64)
    alpha = jax.random.normal(jax.random.key(2), (5,), jnp.float64)
    phi = kernels.polynomial_features(x, degree=3)
    np.testing.assert_allclose(
        regression.rkhs_norm(kernels.polynomial(x, degree=3), alpha), jnp.linalg.norm(phi.T @ alpha), rtol=1e-10
    )


def test_gradient_descent_alpha_converges_to_the_solve(key):
    x, y = data.noisy_sine(key, 12)
    k = kernels.gaussian(x.astype(jnp.float64), bandwidth=0.3) + 0.1 * jnp.eye(12)
    step = 0.9 * regression.max_stable_step(k)
    path = regression.gradient_descent_alpha(k, y, step=step, num_steps=20_000, record_every=1000)
    assert path.iterates.shape == (21, 12)
    assert path.steps[0] == 0 and path.steps[-1] == 20_000
    assert jnp.all(jnp.diff(path.losses) <= 1e-12)  # monotone on a quadratic below the step limit
    exact = regression.solve(k, y)
    assert float(jnp.linalg.norm(path.final - exact) / jnp.linalg.norm(exact)) < 1e-6


def test_gradient_descent_alpha_divergence_is_reported(key):
    k = random_pd(key, 5)
    with pytest.raises(ValueError, match=r"diverged.*1 / lambda_max"):
        regression.gradient_descent_alpha(k, jnp.ones(5), step=50 * regression.max_stable_step(k), num_steps=5000)


@pytest.mark.parametrize("n, d", [(30, 5), (8, 20)])
def test_linear_regression_gd_reaches_least_norm_solution(key, n, d):
    x = jax.random.normal(key, (n, d), jnp.float64)
    y = jax.random.normal(jax.random.key(3), (n,), jnp.float64)
    step = 1.0 / float(jnp.linalg.eigvalsh(x.T @ x / n)[-1])
    path = regression.linear_regression_gd(x, y, step=step, num_steps=5000, record_every=500)
    np.testing.assert_allclose(path.final, regression.least_squares(x, y), atol=1e-8)
    np.testing.assert_allclose(path.losses[-1], 0.5 / n * jnp.sum((x @ path.final - y) ** 2))


def test_linear_regression_gd_from_elsewhere_keeps_the_null_space_part(key):
    x = jax.random.normal(key, (4, 10), jnp.float64)
    y = jnp.ones(4, jnp.float64)
    theta0 = jax.random.normal(jax.random.key(4), (10,), jnp.float64)
    step = 1.0 / float(jnp.linalg.eigvalsh(x.T @ x / 4)[-1])
    path = regression.linear_regression_gd(x, y, step=step, num_steps=5000, record_every=5000, theta0=theta0)
    proj_null = jnp.eye(10) - jnp.linalg.pinv(x) @ x
    np.testing.assert_allclose(path.final, regression.least_squares(x, y) + proj_null @ theta0, atol=1e-8)


def test_float32_path_stays_float32(key):
    k = random_pd(key, 4).astype(jnp.float32)
    path = regression.gradient_descent_alpha(k, jnp.ones(4), step=1e-3, num_steps=10)
    assert path.final.dtype == jnp.float32 and path.losses.dtype == jnp.float32


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda k: regression.solve(k, jnp.ones(4)), ValueError, r"y must have 3 rows \(one per sample\), got shape \(4,\)"),
        (lambda k: regression.solve(jnp.ones((3, 4)), jnp.ones(3)), ValueError, r"k_train must be a non-empty square \(n, n\) matrix, got shape \(3, 4\)"),
        (lambda k: regression.solve(k, jnp.ones(3), ridge=-1.0), ValueError, r"ridge must be >= 0.0, got -1.0"),
        (lambda k: regression.predict(jnp.ones((2, 3)), jnp.ones(4)), ValueError, r"alpha must have 3 rows"),
        (lambda k: regression.fit_predict("gaussian", jnp.ones((3, 1)), jnp.ones(3), jnp.ones((2, 1))), TypeError, r"kernel must be a callable kernel\(x1, x2\), got str"),
        (lambda k: regression.fit_predict(kernels.linear, jnp.ones((3, 1)), jnp.ones(3), jnp.ones((2, 2))), ValueError, r"x_train and x_test must have the same number of features"),
        (lambda k: regression.gradient_descent_alpha(k, jnp.ones(3), step=0.0, num_steps=10), ValueError, r"step must be > 0.0, got 0.0"),
        (lambda k: regression.gradient_descent_alpha(k, jnp.ones(3), step=0.1, num_steps=10, record_every=3), ValueError, r"num_steps must be a multiple of record_every, got num_steps=10, record_every=3"),
        (lambda k: regression.gradient_descent_alpha(k, jnp.ones(3), step=0.1, num_steps=0), ValueError, r"num_steps must be an integer >= 1, got 0"),
        (lambda k: regression.gradient_descent_alpha(k, jnp.ones(3), step=0.1, num_steps=5, alpha0=jnp.ones((3, 2))), ValueError, r"alpha0 must have the shape of y \(3,\), got \(3, 2\)"),
        (lambda k: regression.linear_regression_gd(jnp.ones((3, 2)), jnp.ones(3), step=0.1, num_steps=5, theta0=jnp.ones(3)), ValueError, r"theta0 must have shape \(2,\), got \(3,\)"),
        (lambda k: regression.min_norm_solve(k, jnp.ones(3), rcond=-1.0), ValueError, r"rcond must be > 0.0"),
        (lambda k: regression.rkhs_norm(k, jnp.ones(2)), ValueError, r"alpha must have 3 rows"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, error, message):
    k = jnp.eye(3) * 2.0
    with pytest.raises(error, match=message):
        call(k)


def test_contraction_factor_is_the_norm_of_the_iteration_matrix(key):
    k = random_pd(key, 6)
    for fraction in (0.1, 0.5, 0.99):
        step = fraction * regression.max_stable_step(k)
        iteration = jnp.eye(6) - 2 * step * k @ k
        np.testing.assert_allclose(regression.contraction_factor(k, step), jnp.linalg.norm(iteration, 2), rtol=1e-10)


def test_optimal_step_minimises_the_contraction_factor(key):
    k = random_pd(key, 5)
    evals = jnp.linalg.eigvalsh(k)
    kappa2 = float(evals[-1] / evals[0]) ** 2
    best = regression.optimal_step(k)
    np.testing.assert_allclose(regression.contraction_factor(k, best), (kappa2 - 1) / (kappa2 + 1), rtol=1e-10)
    grid = np.linspace(0.01, 0.999, 200) * regression.max_stable_step(k)
    assert min(regression.contraction_factor(k, float(s)) for s in grid) >= regression.contraction_factor(k, best) - 1e-12
    # the factor tends to 1 at both ends of the stable interval
    assert regression.contraction_factor(k, 1e-9 * best) > 1 - 1e-6
    assert regression.contraction_factor(k, (1 - 1e-9) * regression.max_stable_step(k)) > 1 - 1e-6


def test_measured_rate_recovers_the_contraction_factor():
    k = jnp.diag(jnp.array([2.0, 1.5, 1.0], jnp.float64))
    y = jnp.ones(3, jnp.float64)
    for fraction in (0.3, 0.9):
        step = fraction * regression.max_stable_step(k)
        path = regression.gradient_descent_alpha(k, y, step=step, num_steps=400, record_every=4)
        rate = regression.measured_rate(path, regression.solve(k, y))
        np.testing.assert_allclose(rate, regression.contraction_factor(k, step), rtol=1e-4)


def test_gradient_flow_alpha_is_the_small_step_limit(key):
    x, y = data.noisy_sine(key, 10)
    k = kernels.polynomial(x.astype(jnp.float64), degree=3)  # rank 4 < 10: singular
    step = 1e-4 * regression.max_stable_step(k)
    path = regression.gradient_descent_alpha(k, y, step=step, num_steps=20_000)
    flow = regression.gradient_flow_alpha(k, y, jnp.array([0.0, 20_000 * step]))
    assert flow.shape == (2, 10)
    np.testing.assert_allclose(flow[0], 0.0, atol=1e-14)
    scale = float(jnp.linalg.norm(y))
    assert float(jnp.linalg.norm(k @ (flow[1] - path.final))) < 1e-3 * scale
    # the flow's derivative at t: -2 K (K alpha - y)
    t, h = 3.0 / float(jnp.linalg.eigvalsh(k)[-1]) ** 2, 1e-6 / float(jnp.linalg.eigvalsh(k)[-1]) ** 2
    a = regression.gradient_flow_alpha(k, y, jnp.array([t - h, t, t + h]))
    np.testing.assert_allclose((a[2] - a[0]) / (2 * h), -2 * k @ (k @ a[1] - y), rtol=1e-5, atol=1e-6 * scale)


def test_ridge_path_matches_solve_and_exposes_the_divergence(key):
    x = jax.random.normal(key, (12, 2), jnp.float64)
    k = kernels.polynomial(x, degree=2)  # rank 6
    y = jnp.sin(3 * x[:, 0])  # not in the range of k
    ridges = [1e-2, 1e-4]
    path = regression.ridge_path(k, y, ridges)
    assert path.shape == (2, 12)
    np.testing.assert_allclose(path[1], regression.solve(k, y, ridge=1e-4), rtol=1e-12)
    null_part = y - k @ regression.min_norm_solve(k, y)
    np.testing.assert_allclose(1e-4 * path[1], null_part, atol=1e-3 * float(jnp.linalg.norm(null_part)))
    with pytest.raises(ValueError, match=r"ridges must be > 0.0, got 0.0"):
        regression.ridge_path(k, y, [1e-2, 0.0])


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: regression.contraction_factor(jnp.eye(2), 0.0), ValueError, r"step must be > 0.0, got 0.0"),
        (lambda: regression.optimal_step(jnp.diag(jnp.array([1.0, 0.0]))), ValueError, r"k_train must be positive definite"),
        (lambda: regression.measured_rate("path", jnp.ones(2)), TypeError, r"path must be a GDPath, got str"),
        (lambda: regression.gradient_flow_alpha(jnp.eye(2), jnp.ones(2), jnp.array([-1.0])), ValueError, r"times must be >= 0"),
        (lambda: regression.gradient_flow_alpha(jnp.eye(2), jnp.ones(3), jnp.array([1.0])), ValueError, r"y must have 2 rows"),
    ],
)
def test_new_functions_reject_bad_inputs(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_solve_exact_is_exact_on_a_hilbert_matrix():
    # the 6 x 6 Hilbert matrix is ill-conditioned (cond ~ 1.5e7); in exact arithmetic the
    # solution for y = H @ ones is ones, up to the rounding of the entries 1/(i+j+1) to float64
    from fractions import Fraction

    h = np.array([[1.0 / (i + j + 1) for j in range(6)] for i in range(6)])
    y = np.array([sum(Fraction(v) for v in row) for row in h.tolist()], dtype=object)
    alpha = regression.solve_exact(h, np.asarray(y, dtype=float))
    assert all(isinstance(a, Fraction) for a in alpha) and len(alpha) == 6
    residual = [sum(Fraction(hv) * a for hv, a in zip(row, alpha)) - Fraction(float(t)) for row, t in zip(h.tolist(), y)]
    assert all(r == 0 for r in residual)                      # exact, not approximately
    np.testing.assert_allclose([float(a) for a in alpha], np.ones(6), rtol=1e-6)


def test_solve_exact_agrees_with_solve_and_takes_the_ridge(key):
    k = random_pd(key, 7)
    y = jax.random.normal(jax.random.key(3), (7,), jnp.float64)
    for ridge in (0.0, 0.5):
        exact = np.array([float(a) for a in regression.solve_exact(k, y, ridge=ridge)])
        np.testing.assert_allclose(exact, regression.solve(k, y, ridge=ridge), rtol=1e-9)
    swapped = np.array([[0.0, 2.0], [1.0, 0.0]])              # needs a row exchange: zero first pivot
    assert regression.solve_exact(swapped, np.array([4.0, 3.0])) == [3, 2]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: regression.solve_exact(np.ones((2, 2)), np.ones(2)), r"exactly singular \(no pivot in column 1"),
        (lambda: regression.solve_exact(np.ones((2, 3)), np.ones(2)), r"k_train"),
        (lambda: regression.solve_exact(np.eye(2), np.ones(3)), r"y must have shape \(2,\), got \(3,\)"),
        (lambda: regression.solve_exact(np.eye(2), np.ones(2), ridge=-1.0), r"ridge"),
    ],
)
def test_solve_exact_rejects_bad_inputs(call, message):
    with pytest.raises(ValueError, match=message):
        call()
