import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from ntkbook import dynamics, kernels, networks, regression, tangent


@pytest.fixture
def problem():
    x = jax.random.normal(jax.random.key(0), (12, 3), jnp.float64)
    return x, jnp.sin(x[:, 0]), 0.3 * jnp.cos(x[:, 1]), kernels.laplace(x, bandwidth=1.0)


def test_closed_form_flow_matches_gradient_descent_at_small_step(problem):
    x, y, u0, k = problem
    n, step = 12, 1e-3
    u = u0
    for _ in range(2000):  # flow time 2
        u = u - step / n * k @ (u - y)
    flow = dynamics.gradient_flow(k, y, u0, jnp.array([2.0])).train[0]
    assert float(jnp.linalg.norm(u - flow) / jnp.linalg.norm(flow)) < 1e-3


def test_closed_form_flow_matches_an_ode_solver(problem):
    x, y, u0, k = problem
    times = [0.0, 0.3, 1.0, 5.0, 20.0]
    ode = solve_ivp(lambda t, u: -(k @ (u - y)) / 12, (0, 20), np.asarray(u0), t_eval=times,
                    method="DOP853", rtol=1e-12, atol=1e-12)
    flow = dynamics.gradient_flow(k, y, u0, jnp.array(times))
    np.testing.assert_allclose(flow.train, ode.y.T, atol=1e-6)


def test_flow_in_float32_is_stable(problem):
    x, y, u0, k = problem
    times = jnp.array([0.0, 1.0, 100.0, 1e6, jnp.inf])
    f64 = dynamics.gradient_flow(k, y, u0, times, k_test_train=k[:4], f0_test=u0[:4])
    f32 = dynamics.gradient_flow(k.astype(jnp.float32), y.astype(jnp.float32), u0.astype(jnp.float32),
                                 times.astype(jnp.float32), k_test_train=k[:4].astype(jnp.float32), f0_test=u0[:4].astype(jnp.float32))
    assert f32.train.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(f32.test)))
    np.testing.assert_allclose(f32.train, f64.train, atol=2e-3)
    np.testing.assert_allclose(f32.test, f64.test, atol=2e-3)


def test_small_eigenvalues_decay_at_finite_times():
    # A float32 kernel whose spectrum spans six decades: directions with eigenvalues
    # below n * eps * lambda_max must still decay at their own rate at finite t.
    n = 300
    q, _ = jnp.linalg.qr(jax.random.normal(jax.random.key(8), (n, n), jnp.float64))
    lam = jnp.logspace(-6, 0, n)
    k = (q * lam) @ q.T
    r0 = jax.random.normal(jax.random.key(9), (n,), jnp.float64)
    times = jnp.array([1e2, 1e3, 1e4]) * n
    exact = jnp.stack([(q * jnp.exp(-lam * t / n)) @ (q.T @ r0) for t in times])
    flow32 = dynamics.gradient_flow(k.astype(jnp.float32), jnp.zeros(n, jnp.float32), r0.astype(jnp.float32), times.astype(jnp.float32))
    errors = jnp.linalg.norm(flow32.train - exact, axis=1) / jnp.linalg.norm(r0)
    assert float(jnp.max(errors)) < 2e-3  # float32 eigenvalues are accurate to ~eps * lambda_max; zeroing them gave 7e-2
    flow64 = dynamics.gradient_flow(k, jnp.zeros(n), r0, times)
    assert float(jnp.max(jnp.abs(flow64.train - exact))) < 1e-10


def test_infinite_time_is_kernel_regression(problem):
    x, y, u0, k = problem
    x_test = jax.random.normal(jax.random.key(5), (6, 3), jnp.float64)
    k_test = kernels.laplace(x_test, x, bandwidth=1.0)
    f0_test = jnp.linspace(-0.2, 0.2, 6)
    flow = dynamics.gradient_flow(k, y, u0, jnp.array([jnp.inf]), k_test_train=k_test, f0_test=f0_test)
    expected = f0_test + k_test @ regression.solve(k, y - u0)
    np.testing.assert_allclose(flow.test[0], expected, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(flow.train[0], y, atol=1e-10)


def test_singular_kernel_limit_uses_the_pseudo_inverse():
    x = jax.random.normal(jax.random.key(1), (10, 2), jnp.float64)
    k = kernels.polynomial(x, degree=2)  # rank 6
    y = x[:, 0] * x[:, 1]
    flow = dynamics.gradient_flow(k, y, jnp.zeros(10), jnp.array([1e3, jnp.inf]), k_test_train=k, f0_test=jnp.zeros(10))
    np.testing.assert_allclose(flow.test[1], k @ regression.min_norm_solve(k, y), atol=1e-8)
    assert bool(jnp.all(jnp.isfinite(flow.test)))


def test_gradient_descent_on_a_linear_model_is_linear_regression():
    x = jax.random.normal(jax.random.key(2), (15, 4), jnp.float64)
    y = x @ jnp.array([1.0, -2.0, 0.5, 0.0]) + 0.1
    apply = lambda theta, inputs: inputs @ theta
    traj = dynamics.gradient_descent(apply, jnp.zeros(4), x, y, step=0.1, num_steps=300, record_every=100)
    ref = regression.linear_regression_gd(x, y, step=0.1, num_steps=300, record_every=100)
    np.testing.assert_allclose(traj.params, ref.final, rtol=1e-12)
    np.testing.assert_allclose(traj.loss, ref.losses, rtol=1e-12)


def test_trained_linearised_network_follows_the_discrete_kernel_recursion():
    net = networks.MLP(widths=(64,), activation="erf", w_std=1.5, b_std=0.1)
    p0 = net.init(jax.random.key(3), 3)
    x = jax.random.normal(jax.random.key(4), (8, 3), jnp.float64)
    y = jnp.cos(x[:, 0])
    lin = dynamics.linearize(net.apply, p0)
    np.testing.assert_allclose(lin(p0, x), net.apply(p0, x), rtol=1e-12)
    traj = dynamics.gradient_descent(lin, p0, x, y, step=0.3, num_steps=50, record_every=10, x_probe=x[:3])
    k0 = tangent.empirical_ntk(net.apply, p0, x)
    u = net.apply(p0, x)[:, 0]
    for _ in range(50):
        u = u - 0.3 / 8 * k0 @ (u - y)
    np.testing.assert_allclose(traj.train[-1, :, 0], u, rtol=1e-9)
    # the linearised model's tangent kernel never moves
    np.testing.assert_allclose(dynamics.kernel_drift(traj.probe_ntk, traj.probe_ntk[0]), 0.0, atol=1e-12)


def test_trajectory_records(key):
    net = networks.MLP(widths=(32,), out_dim=2, w_std=1.4)
    p0 = net.init(key, 3)
    x = jax.random.normal(jax.random.key(1), (6, 3), jnp.float64)
    y = jnp.stack([x[:, 0], x[:, 1]], 1)
    traj = dynamics.gradient_descent(net.apply, p0, x, y, step=0.2, num_steps=40, record_every=8,
                                     x_test=x[:2] + 1.0, x_probe=x[:4])
    assert traj.steps.tolist() == [0, 8, 16, 24, 32, 40]
    assert traj.train.shape == (6, 6, 2) and traj.test.shape == (6, 2, 2) and traj.probe_ntk.shape == (6, 4, 4)
    assert float(traj.distance[0]) == 0.0 and bool(jnp.all(jnp.diff(traj.loss) < 0))
    np.testing.assert_allclose(traj.probe_ntk[0], tangent.empirical_ntk(net.apply, p0, x[:4]), rtol=1e-10)
    np.testing.assert_allclose(traj.train[-1], net.apply(traj.params, x), rtol=1e-10)
    np.testing.assert_allclose(traj.distance[-1] / dynamics.relative_distance(traj.params, p0),
                               jnp.sqrt(sum(jnp.sum(p**2) for p in jax.tree_util.tree_leaves(p0))), rtol=1e-10)


def test_progress_bar_only_when_asked(capsys, key):
    apply = lambda theta, inputs: inputs @ theta
    x, y = jnp.eye(3), jnp.ones(3)
    dynamics.gradient_descent(apply, jnp.zeros(3), x, y, step=0.1, num_steps=40, record_every=2)
    assert capsys.readouterr().err == ""  # not a terminal: silent
    dynamics.gradient_descent(apply, jnp.zeros(3), x, y, step=0.1, num_steps=40, record_every=2, progress=True)
    err = capsys.readouterr().err
    assert "step 40/40" in err and err.endswith("\n")


def test_hessian_norm_of_two_layer_relu_is_known_exactly(key):
    # Hessian = blocks [[0, g_r], [g_r^T, 0]] with g_r = m^{-1/2} 1[a_r.x > 0] x: norm |x| / sqrt(m).
    m = 50
    net = networks.two_layer(m, 3)
    params = net.init(key, 3)
    x = jax.random.normal(jax.random.key(1), (4, 3), jnp.float64)
    np.testing.assert_allclose(dynamics.hessian_norm(net.apply, params, x), jnp.linalg.norm(x, axis=1) / math.sqrt(m), rtol=1e-6)


def test_hessian_norm_matches_dense_hessian_on_a_small_network(key):
    net = networks.MLP(widths=(5, 4), activation="erf", w_std=1.3, b_std=0.4)
    params = net.init(key, 2)
    x = jax.random.normal(jax.random.key(1), (3, 2), jnp.float64)
    from jax.flatten_util import ravel_pytree
    flat, unravel = ravel_pytree(params)
    for i in range(3):
        dense = jax.hessian(lambda p: net.apply(unravel(p), x[i : i + 1])[0, 0])(flat)
        expected = float(jnp.max(jnp.abs(jnp.linalg.eigvalsh(dense))))
        got = float(dynamics.hessian_norm(net.apply, params, x[i : i + 1], iterations=500)[0])
        assert abs(got - expected) < 1e-6 * expected


def test_lazy_training_ratio_shrinks_with_width():
    x = jax.random.normal(jax.random.key(6), (8, 3), jnp.float64)
    y = jnp.sign(x[:, 0])
    ratios = []
    for m in (64, 1024):
        net = networks.two_layer(m, 3)
        ratios.append(np.mean([dynamics.lazy_training_ratio(net.apply, net.init(k, 3), x, y) for k in jax.random.split(jax.random.key(m), 4)]))
    assert 2.5 < ratios[0] / ratios[1] < 6.5  # sqrt(16) = 4


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda k, y, u: dynamics.gradient_flow(k, y, u, jnp.array([-1.0])), ValueError, r"times must be a 1-d array of non-negative numbers"),
        (lambda k, y, u: dynamics.gradient_flow(k, y, u[:3], jnp.array([1.0])), ValueError, r"u0 must have 12 rows"),
        (lambda k, y, u: dynamics.gradient_flow(k, y, u, jnp.array([1.0]), k_test_train=jnp.ones((2, 5))), ValueError, r"k_test_train must have 12 columns"),
        (lambda k, y, u: dynamics.gradient_flow(-k, y, u, jnp.array([1.0])), ValueError, r"k_train must be positive semi-definite, got smallest eigenvalue"),
        (lambda k, y, u: dynamics.kernel_drift(jnp.ones((3, 3)), jnp.ones((2, 2))), ValueError, r"k_t must end in the shape of k_0"),
        (lambda k, y, u: dynamics.linearize("f", {}), TypeError, r"apply_fn must be a callable"),
    ],
)
def test_flow_bad_inputs(problem, call, error, message):
    x, y, u0, k = problem
    with pytest.raises(error, match=message):
        call(k, y, u0)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(step=0.0, num_steps=10), ValueError, r"step must be > 0.0, got 0.0"),
        (dict(step=0.1, num_steps=10, record_every=4), ValueError, r"num_steps must be a multiple of record_every"),
        (dict(step=0.1, num_steps=10, y=jnp.ones((4, 2))), ValueError, r"y_train must match the network's outputs \(4, 1\), got shape \(4, 2\)"),
        (dict(step=0.1, num_steps=10, x_test=jnp.ones((2, 5))), ValueError, r"x_train and x_test must have the same number of features"),
    ],
)
def test_gradient_descent_bad_inputs(key, kwargs, error, message):
    net = networks.MLP(widths=(8,))
    params = net.init(key, 3)
    y = kwargs.pop("y", jnp.ones(4))
    with pytest.raises(error, match=message):
        dynamics.gradient_descent(net.apply, params, jnp.ones((4, 3)) * jnp.arange(4.0)[:, None], y, **kwargs)


def test_divergence_is_reported():
    apply = lambda theta, inputs: inputs @ theta
    x = jnp.arange(12.0).reshape(4, 3)
    with pytest.raises(ValueError, match=r"gradient descent diverged \(the loss overflowed\) with step=100"):
        dynamics.gradient_descent(apply, jnp.zeros(3), x, jnp.ones(4), step=100.0, num_steps=2000, record_every=100)


def test_hessian_norm_needs_scalar_outputs(key):
    net = networks.MLP(widths=(4,), out_dim=2)
    with pytest.raises(ValueError, match=r"hessian_norm needs a scalar-output network, got 2 outputs"):
        dynamics.hessian_norm(net.apply, net.init(key, 3), jnp.ones((2, 3)))


# ---------------------------------------------------------------- second edition


def test_kernel_gradient_descent_matches_the_step_recursion(problem):
    x, y, u0, k = problem
    n, step = 12, 0.7
    k_test = k[:5] * 0.9
    f0_test = jnp.linspace(-0.3, 0.3, 5)
    closed = dynamics.kernel_gradient_descent(k, y, u0, step=step, num_steps=60, record_every=20, k_test_train=k_test, f0_test=f0_test)
    u, f_test = u0, f0_test
    for _ in range(60):
        u, f_test = u - step / n * k @ (u - y), f_test - step / n * k_test @ (u - y)
    np.testing.assert_allclose(closed.train[-1], u, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(closed.test[-1], f_test, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(closed.times, [0.0, 14.0, 28.0, 42.0])


def test_kernel_gradient_descent_is_the_trained_linearised_network():
    net = networks.MLP(widths=(48,), activation="erf", w_std=1.5, b_std=0.2)
    p0 = net.init(jax.random.key(3), 2)
    x = jax.random.normal(jax.random.key(4), (7, 2), jnp.float64)
    x_test = jax.random.normal(jax.random.key(5), (4, 2), jnp.float64)
    y = jnp.sin(x[:, 0])
    traj = dynamics.gradient_descent(dynamics.linearize(net.apply, p0), p0, x, y, step=0.4, num_steps=30, record_every=10, x_test=x_test)
    closed = dynamics.kernel_gradient_descent(tangent.empirical_ntk(net.apply, p0, x), y, net.apply(p0, x)[:, 0], step=0.4, num_steps=30,
                                              record_every=10, k_test_train=tangent.empirical_ntk(net.apply, p0, x_test, x), f0_test=net.apply(p0, x_test)[:, 0])
    np.testing.assert_allclose(closed.test, traj.test[..., 0], rtol=1e-9, atol=1e-11)


def test_kernel_gradient_descent_oscillates_and_diverges_beyond_2n_over_lambda_max(problem):
    x, y, u0, k = problem
    lam_max = float(jnp.linalg.eigvalsh(k)[-1])
    below = dynamics.kernel_gradient_descent(k, y, u0, step=1.9 * 12 / lam_max, num_steps=400, record_every=400)
    above = dynamics.kernel_gradient_descent(k, y, u0, step=2.1 * 12 / lam_max, num_steps=400, record_every=400)
    assert float(jnp.linalg.norm(below.train[-1] - y)) < float(jnp.linalg.norm(u0 - y))
    assert float(jnp.linalg.norm(above.train[-1] - y)) > 1e3 * float(jnp.linalg.norm(u0 - y))


def test_kernel_gradient_descent_zero_eigenvalue_keeps_its_residual():
    k = jnp.diag(jnp.array([2.0, 1.0, 0.0]))
    out = dynamics.kernel_gradient_descent(k, jnp.zeros(3), jnp.ones(3), step=0.5, num_steps=10, k_test_train=k, f0_test=jnp.ones(3))
    np.testing.assert_allclose(out.train[-1], [(1 - 0.5 * 2 / 3) ** 10, (1 - 0.5 / 3) ** 10, 1.0], rtol=1e-12)
    np.testing.assert_allclose(out.test[-1], out.train[-1], rtol=1e-12)  # K(x, X) = K here


def test_pattern_flips_counts_sign_changes(key):
    net = networks.MLP(widths=(20,), activation="relu", w_std=2**0.5, b_std=0.5)
    p0 = net.init(key, 3)
    x = jax.random.normal(jax.random.key(1), (6, 3), jnp.float64)
    assert dynamics.pattern_flips(net, p0, p0, x) == 0
    flipped = [{"w": -p0[0]["w"], "b": -p0[0]["b"]}, p0[1]]
    assert dynamics.pattern_flips(net, p0, flipped, x) == 6 * 20  # every pre-activation changes sign
    fixed = networks.FixedReadoutReLU.create(key, 10)
    w0 = fixed.init(key, 3)
    moved = {"w": w0["w"].at[0].set(-w0["w"][0])}
    assert dynamics.pattern_flips(fixed, w0, moved, x) == 6


def test_jacobian_change_is_zero_for_a_linear_model_and_first_order_in_the_step(key):
    apply = lambda theta, inputs: inputs @ theta
    x = jax.random.normal(key, (5, 3), jnp.float64)
    np.testing.assert_allclose(dynamics.jacobian_change(apply, jnp.zeros(3), jnp.ones(3), x), 0.0, atol=1e-14)
    net = networks.MLP(widths=(30,), activation="erf", w_std=1.5, b_std=0.1)
    p0 = net.init(key, 3)
    direction = net.init(jax.random.key(7), 3)
    moved = lambda eps: jax.tree_util.tree_map(lambda a, b: a + eps * b, p0, direction)
    small, half = dynamics.jacobian_change(net.apply, p0, moved(1e-4), x), dynamics.jacobian_change(net.apply, p0, moved(5e-5), x)
    np.testing.assert_allclose(small / half, 2.0, rtol=1e-3)


def test_trained_distribution_mean_is_ntk_regression_and_cov_vanishes_on_the_training_set():
    net = networks.MLP(widths=(1,), activation="relu", w_std=2**0.5, b_std=0.2)
    x = jax.random.normal(jax.random.key(2), (6, 2), jnp.float64)
    x_test = jnp.concatenate([x[:2], jax.random.normal(jax.random.key(3), (3, 2), jnp.float64)])
    y = jnp.cos(x[:, 1])
    dist = dynamics.trained_distribution(net, x, y, x_test)
    k = tangent.infinite_width(net, x_test, x)
    np.testing.assert_allclose(dist.mean, k.ntk @ regression.solve(tangent.infinite_width(net, x).ntk, y), rtol=1e-8)
    np.testing.assert_allclose(dist.mean[:2], y[:2], rtol=1e-8)  # interpolates
    np.testing.assert_allclose(dist.cov[:2, :2], 0.0, atol=1e-8)  # every trained network interpolates
    np.testing.assert_allclose(dist.cov, dist.cov.T, atol=1e-12)
    assert float(jnp.linalg.eigvalsh(dist.cov)[0]) > -1e-8 and float(dist.cov[4, 4]) > 1e-3


def test_hessian_norm_of_the_chapter_network_with_biases():
    # f = (s2 / sqrt(m)) sum_r a_r relu((s1 / sqrt(d)) w_r.x + b1 b_r) + b2 b: the (a_r, (w_r, b_r)) blocks
    # have norm (s2 / sqrt(m)) |((s1 / sqrt(d)) x, b1)| for an active neuron; none couples two neurons.
    m, d, s, b1 = 40, 2, 2**0.5, 0.1
    net = networks.MLP(widths=(m,), activation="relu", w_std=s, b_std=b1)
    params = net.init(jax.random.key(5), d)
    x = jax.random.normal(jax.random.key(6), (3, d), jnp.float64)
    expected = s / math.sqrt(m) * jnp.sqrt(s**2 * jnp.sum(x**2, axis=1) / d + b1**2)
    np.testing.assert_allclose(dynamics.hessian_norm(net.apply, params, x, iterations=300), expected, rtol=1e-6)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: dynamics.kernel_gradient_descent(jnp.eye(3), jnp.ones(3), jnp.ones(2), step=0.1, num_steps=2), ValueError, r"u0 must have 3 rows"),
        (lambda: dynamics.kernel_gradient_descent(jnp.eye(3), jnp.ones(3), jnp.ones(3), step=0.0, num_steps=2), ValueError, r"step must be > 0.0, got 0.0"),
        (lambda: dynamics.kernel_gradient_descent(-jnp.eye(3), jnp.ones(3), jnp.ones(3), step=0.1, num_steps=2), ValueError, r"k_train must be positive semi-definite"),
        (lambda: dynamics.pattern_flips("net", {}, {}, jnp.ones((2, 2))), TypeError, r"net must be an ntkbook.networks.MLP or FixedReadoutReLU, got str"),
        (lambda: dynamics.jacobian_change(3, {}, {}, jnp.ones((2, 2))), TypeError, r"apply_fn must be a callable"),
        (lambda: dynamics.trained_distribution(networks.MLP(widths=(2,)), jnp.ones((3, 2)), jnp.ones((3, 2)), jnp.ones((2, 2))), ValueError, r"y_train must be 1-d"),
    ],
)
def test_second_edition_bad_inputs(call, error, message):
    with pytest.raises(error, match=message):
        call()


def _small_lazy_run(key):
    """A width-24 ReLU net on 6 training and 5 test points, 40 steps: its lazy_measures and the plain run."""
    net = networks.MLP(widths=(24,), activation="relu", w_std=2**0.5, b_std=0.1)
    p0 = net.init(key, 2)
    x = jax.random.normal(jax.random.key(1), (6, 2), jnp.float64)
    x_test = jax.random.normal(jax.random.key(2), (5, 2), jnp.float64)
    y = jnp.sin(x[:, 0])
    got = dynamics.lazy_measures(net, p0, x, y, x_test, step=0.5, num_steps=40, record_every=10)
    run = dynamics.gradient_descent(net.apply, p0, x, y, step=0.5, num_steps=40, record_every=10, x_test=x_test, x_probe=x)
    return net, p0, x, x_test, y, got, run


def test_lazy_measures_agree_with_a_direct_computation(key):
    net, p0, x, x_test, y, got, run = _small_lazy_run(key)
    lin = dynamics.gradient_descent(dynamics.linearize(net.apply, p0), p0, x, y, step=0.5, num_steps=40, record_every=10, x_test=x_test)
    gap = float(jnp.max(jnp.linalg.norm(run.test - lin.test, axis=(1, 2))) / jnp.linalg.norm(lin.test[-1]))
    np.testing.assert_allclose(got.linearisation_gap, gap, rtol=1e-8)
    np.testing.assert_allclose(got.kernel_drift, float(dynamics.kernel_drift(run.probe_ntk[-1], run.probe_ntk[0])), rtol=1e-10)
    np.testing.assert_allclose(got.weight_movement, float(dynamics.relative_distance(run.params, p0)), rtol=1e-10)
    np.testing.assert_allclose(got.neuron_movement, float(jnp.max(jnp.linalg.norm(run.params[0]["w"] - p0[0]["w"], axis=0))), rtol=1e-10)
    assert got.flips == dynamics.pattern_flips(net, p0, run.params, x) and got.readout_max == float(jnp.max(jnp.abs(p0[1]["w"])))
    np.testing.assert_allclose(got.loss, float(run.loss[-1]), rtol=1e-10)
    np.testing.assert_allclose(got.kernel_drift_max, float(jnp.max(dynamics.kernel_drift(run.probe_ntk, run.probe_ntk[0]))), rtol=1e-10)
    assert got.kernel_drift_max >= got.kernel_drift > 0
    # NTK regression with the infinite-width kernel, stepped by hand from the network's own f_0
    k_inf, k_cross = np.asarray(tangent.infinite_width(net, x, get="ntk")), np.asarray(tangent.infinite_width(net, x_test, x, get="ntk"))
    u, f = np.asarray(run.train[0, :, 0]), np.asarray(run.test[0, :, 0])
    inf_test = [f]
    for s in range(1, 41):
        u, f = u - 0.5 / 6 * k_inf @ (u - np.asarray(y)), f - 0.5 / 6 * k_cross @ (u - np.asarray(y))
        if s % 10 == 0:
            inf_test.append(f)
    inf_test = np.array(inf_test)
    inf_gap = np.max(np.linalg.norm(np.asarray(run.test[..., 0]) - inf_test, axis=1)) / np.linalg.norm(inf_test[-1])
    np.testing.assert_allclose(got.ntk_regression_gap, inf_gap, rtol=1e-8)
    lin_inf = np.max(np.linalg.norm(np.asarray(lin.test[..., 0]) - inf_test, axis=1)) / np.linalg.norm(inf_test[-1])
    np.testing.assert_allclose(got.linearised_ntk_gap, lin_inf, rtol=1e-8)
    assert got.ntk_regression_gap <= got.linearisation_gap * np.linalg.norm(lin.test[-1]) / np.linalg.norm(inf_test[-1]) + got.linearised_ntk_gap + 1e-12
    np.testing.assert_allclose(got.initial_kernel_gap, np.linalg.norm(np.asarray(run.probe_ntk[0]) - k_inf) / np.linalg.norm(k_inf), rtol=1e-10)


@pytest.mark.parametrize(
    "net, error, message",
    [
        ("net", TypeError, r"net must be an ntkbook.networks.MLP, got str"),
        (networks.MLP(widths=(4, 4)), ValueError, r"net must have one hidden layer and one output, got widths=\(4, 4\)"),
    ],
)
def test_lazy_measures_bad_inputs(key, net, error, message):
    with pytest.raises(error, match=message):
        dynamics.lazy_measures(net, [], jnp.ones((3, 2)), jnp.ones(3), jnp.ones((2, 2)), step=0.1, num_steps=2, record_every=1)


def test_antisymmetric_fixed_readout_starts_at_zero_with_the_paired_kernel(key):
    net, params = dynamics.antisymmetric_fixed_readout(key, 64, 3)
    x = jax.random.normal(jax.random.key(1), (5, 3))
    assert float(jnp.max(jnp.abs(net.apply(params, x)))) < 1e-12       # zero up to rounding of the sum
    assert np.array_equal(net.readout[32:], -net.readout[:32]) and np.array_equal(params["w"][32:], params["w"][:32])
    # the kernel of the paired network is the kernel of its first half (each neuron counted twice, width doubled)
    half = networks.FixedReadoutReLU(readout=net.readout[:32])
    k_pair = tangent.empirical_ntk(net.apply, params, x)
    k_half = tangent.empirical_ntk(half.apply, {"w": params["w"][:32]}, x)
    assert np.allclose(k_pair, k_half, rtol=1e-10, atol=1e-12)
    # one gradient step separates the copies of a neuron (their readouts differ in sign)
    step = dynamics.gradient_descent(net.apply, params, x, jnp.ones(5), step=0.5, num_steps=1).params["w"]
    assert not np.allclose(step[32:], step[:32])


@pytest.mark.parametrize("width, error, message", [(7, ValueError, "even"), (0, ValueError, "width"), (2.5, TypeError, "width")])
def test_antisymmetric_fixed_readout_bad_inputs(key, width, error, message):
    with pytest.raises(error, match=message):
        dynamics.antisymmetric_fixed_readout(key, width, 3)


def _one_flip(key):
    """A ReLU net, and a copy in which neuron 0 flips at input 0 only (its pre-activation +-1e-7 there)."""
    net = networks.MLP(widths=(16,), activation="relu", w_std=2**0.5, b_std=0.1)
    x = jax.random.normal(jax.random.key(3), (5, 2), jnp.float64)
    p0 = net.init(key, 2)
    h = net.layer_scale(0, 2) * (x[0] @ p0[0]["w"][:, 0])
    bias = lambda z: (z - h) / net.bias_scale(0)                     # the bias that puts z_0(x_0) at z
    p_plus = [dict(p0[0], b=p0[0]["b"].at[0].set(bias(1e-7))), p0[1]]
    p_minus = [dict(p0[0], b=p0[0]["b"].at[0].set(bias(-1e-7))), p0[1]]
    return net, x, p_plus, p_minus


def test_flip_jumps_match_the_kernel_jump_of_a_single_flip(key):
    net, x, p_plus, p_minus = _one_flip(key)
    assert dynamics.pattern_flips(net, p_plus, p_minus, x) == 1
    jumps = dynamics.flip_jumps(net, p_plus, p_minus, x)
    assert jumps.shape == (16, 5, 5) and bool(jnp.all(jumps[1:] == 0)) and float(jnp.linalg.norm(jumps[0])) > 0
    kernel_jump = tangent.empirical_ntk(net.apply, p_minus, x) - tangent.empirical_ntk(net.apply, p_plus, x)
    np.testing.assert_allclose(jumps[0], kernel_jump, atol=1e-6)    # the sigma part moves by O(1e-7) only
    np.testing.assert_allclose(jumps[0], jumps[0].T)                 # symmetric, like the kernel
    assert bool(jnp.all(dynamics.flip_jumps(net, p_plus, p_plus, x) == 0))


def test_flip_jumps_bad_inputs(key):
    with pytest.raises(TypeError, match="net must be an ntkbook.networks.MLP, got str"):
        dynamics.flip_jumps("net", [], [], jnp.ones((2, 2)))
    erf = networks.MLP(widths=(4,), activation="erf")
    with pytest.raises(ValueError, match="one-output ReLU network, got widths=\\(4,\\), out_dim=1, activation='erf'"):
        dynamics.flip_jumps(erf, erf.init(key, 2), erf.init(key, 2), jnp.ones((2, 2)))


def test_lazy_measures_first_order_term_and_flip_jumps(key):
    net, p0, x, x_test, y, got, run = _small_lazy_run(key)
    # the derivative of K -> f^inf_s in the direction Theta_0 - Theta_inf, by a one-sided difference stepped by hand
    k_inf, k_cross = np.asarray(tangent.infinite_width(net, x, get="ntk")), np.asarray(tangent.infinite_width(net, x_test, x, get="ntk"))
    dk, dk_cross = np.asarray(run.probe_ntk[0]) - k_inf, np.asarray(tangent.empirical_ntk(net.apply, p0, x_test, x)) - k_cross

    def stepped(eps):
        u, f, out = np.asarray(run.train[0, :, 0]), np.asarray(run.test[0, :, 0]), []
        for s in range(1, 41):
            u, f = u - 0.5 / 6 * (k_inf + eps * dk) @ (u - np.asarray(y)), f - 0.5 / 6 * (k_cross + eps * dk_cross) @ (u - np.asarray(y))
            out += [f] if s % 10 == 0 else []
        return np.array([np.asarray(run.test[0, :, 0])] + out)

    first = np.max(np.linalg.norm((stepped(1e-6) - stepped(0.0)) / 1e-6, axis=1)) / np.linalg.norm(stepped(0.0)[-1])
    np.testing.assert_allclose(got.linearised_ntk_first_order, first, rtol=1e-4)
    jumps = dynamics.flip_jumps(net, p0, run.params, x)
    norms, scale = np.linalg.norm(np.asarray(jumps), axis=(1, 2)), float(jnp.linalg.norm(run.probe_ntk[0]))
    np.testing.assert_allclose(got.flip_jump_signed, float(jnp.linalg.norm(jumps.sum(0))) / scale, rtol=1e-10)
    np.testing.assert_allclose([got.flip_jump_abs, got.flip_jump_rss], [norms.sum() / scale, np.sqrt((norms**2).sum()) / scale], rtol=1e-10)
    assert got.flip_jump_signed <= got.flip_jump_abs + 1e-15 and got.flip_jump_rss <= got.flip_jump_abs + 1e-15   # triangle inequalities
    erf = networks.MLP(widths=(24,), activation="erf")
    smooth = dynamics.lazy_measures(erf, erf.init(key, 2), x, y, x_test, step=0.5, num_steps=40, record_every=10)
    assert smooth.flip_jump_signed == smooth.flip_jump_abs == smooth.flip_jump_rss == 0.0 and smooth.linearised_ntk_first_order > 0


def _first_order_problem():
    """Theta_inf of an erf net on 6 inputs, a finite-width Theta_0 (width 64) and f_0 on 6 + 5 inputs."""
    net = networks.MLP(widths=(64,), activation="erf", w_std=2**0.5, b_std=0.1)
    x = jax.random.normal(jax.random.key(1), (6, 2), jnp.float64)
    x_test = jax.random.normal(jax.random.key(2), (5, 2), jnp.float64)
    p0 = net.init(jax.random.key(3), 2)
    k_inf, k_cross_inf = tangent.infinite_width(net, x, get="ntk"), tangent.infinite_width(net, x_test, x, get="ntk")
    k0, k_cross0 = tangent.empirical_ntk(net.apply, p0, x), tangent.empirical_ntk(net.apply, p0, x_test, x)
    return k0, k_inf, k_cross0, k_cross_inf, jnp.sin(x[:, 0]), net.apply(p0, x)[:, 0], net.apply(p0, x_test)[:, 0]


def test_linearised_ntk_first_order_is_the_small_perturbation_limit_of_the_gap():
    k0, k_inf, kc0, kc_inf, y, u0, f0 = _first_order_problem()
    run = dict(step=0.5, num_steps=40, record_every=10)
    term = dynamics.linearised_ntk_first_order(k0, k_inf, kc0, kc_inf, y, u0, f0, **run)
    inf = dynamics.kernel_gradient_descent(k_inf, y, u0, k_test_train=kc_inf, f0_test=f0, **run).test
    for eps in (1e-2, 1e-3):   # the true gap with the kernel moved by eps (Theta_0 - Theta_inf), over eps, tends to the term
        moved = dynamics.kernel_gradient_descent(k_inf + eps * (k0 - k_inf), y, u0, k_test_train=kc_inf + eps * (kc0 - kc_inf), f0_test=f0, **run).test
        gap = float(jnp.max(jnp.linalg.norm(moved - inf, axis=1)) / jnp.linalg.norm(inf[-1])) / eps
        assert abs(gap / term - 1) < 5 * eps
    # linear in Theta_0 - Theta_inf: doubling the fluctuation doubles the term, and no fluctuation gives zero
    double = dynamics.linearised_ntk_first_order(2 * k0 - k_inf, k_inf, 2 * kc0 - kc_inf, kc_inf, y, u0, f0, **run)
    np.testing.assert_allclose(double, 2 * term, rtol=1e-6)
    assert dynamics.linearised_ntk_first_order(k_inf, k_inf, kc_inf, kc_inf, y, u0, f0, **run) == 0.0
    # a batch gives the single results, seed by seed
    batch = dynamics.linearised_ntk_first_order(jnp.stack([k0, 2 * k0 - k_inf]), k_inf, jnp.stack([kc0, 2 * kc0 - kc_inf]), kc_inf, y,
                                                jnp.stack([u0, u0]), jnp.stack([f0, f0]), **run)
    assert batch.shape == (2,)
    np.testing.assert_allclose(batch, [term, double], rtol=1e-10)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(k_train=jnp.eye(5)), r"k_train must have shape \(n, n\) or \(B, n, n\)"),
        (dict(k_test_train=jnp.ones((5, 5))), r"k_test_train and k_test_train_inf must have shape \(p, 6\)"),
        (dict(u0=jnp.ones(5)), r"y_train, u0 and f0_test must have shapes \(6,\), \(6,\) and \(5,\), got \(6,\), \(5,\)"),
        (dict(k_train_inf=-jnp.eye(6)), r"must be positive semi-definite"),
        (dict(step=0.0), r"step must be > 0.0"),
    ],
)
def test_linearised_ntk_first_order_bad_inputs(change, message):
    k0, k_inf, kc0, kc_inf, y, u0, f0 = _first_order_problem()
    args = dict(k_train=k0, k_train_inf=k_inf, k_test_train=kc0, k_test_train_inf=kc_inf, y_train=y, u0=u0, f0_test=f0,
                step=0.5, num_steps=40, record_every=10)
    with pytest.raises(ValueError, match=message):
        dynamics.linearised_ntk_first_order(**{**args, **change})
