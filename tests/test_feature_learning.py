import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook import data, dynamics, feature_learning, kernels, networks, tangent

RELU = dict(activation="relu", w_std=2**0.5)


@pytest.fixture
def task(key):
    x, y = data.single_index(key, 24, 5)
    net = networks.MLP(widths=(64,), **RELU)
    return net, net.init(jax.random.fold_in(key, 1), 5), x, y


def test_scaled_model_starts_at_zero_and_records(task):
    net, params, x, y = task
    run = feature_learning.train_scaled(net, params, x, y, chi=0.5, step=0.1, num_steps=6, record_every=2, x_test=x[:5], x_probe=x[:7])
    assert run.loss.shape == (4,) and run.test.shape == (4, 5, 1) and run.kernels.shape == (4, 7, 7)
    np.testing.assert_allclose(run.test[0], 0.0, atol=1e-12)                 # f_0 subtracted
    np.testing.assert_allclose(run.loss[0], 0.5 * jnp.mean(y**2), rtol=1e-10)
    assert float(run.weight_movement[0]) == 0.0 and float(run.kernel_drift[0]) == 0.0
    assert float(run.loss[-1]) < float(run.loss[0])


def test_large_chi_follows_kernel_descent_at_rate_one_over_chi(task):
    # Chizat-Oyallon-Bach: distance to the linearised dynamics is O(1/chi)
    net, params, x, y = task
    theta = tangent.empirical_ntk(net.apply, params, x)
    step = 0.5 * feature_learning.critical_step(theta, x.shape[0])
    linear = feature_learning.kernel_descent(theta, y, theta, step=step, num_steps=20)
    gaps = []
    for chi in (10.0, 100.0):
        run = feature_learning.train_scaled(net, params, x, y, chi=chi, step=step, num_steps=20, record_every=20, x_test=x)
        gaps.append(float(jnp.linalg.norm(run.test[-1, :, 0] - linear)))
    assert gaps[1] < gaps[0] / 5


def test_kernel_descent_matches_iteration_and_regression(key):
    x = data.sphere(key, 10, 3)
    k = kernels.gaussian(x, bandwidth=0.7)
    y = x[:, 0] - x[:, 1] ** 2
    n = 10
    for fraction in (0.5, 0.95):                              # 0.95: 1 - step lambda_max / n < 0 (oscillating)
        step = fraction * feature_learning.critical_step(k, n)
        u = jnp.zeros(10)
        for _ in range(7):
            u = u - step / n * k @ (u - y)
        np.testing.assert_allclose(feature_learning.kernel_descent(k, y, k, step=step, num_steps=7), u, rtol=1e-9, atol=1e-12)
    long = feature_learning.kernel_descent(k, y, k, step=step, num_steps=200000)
    np.testing.assert_allclose(long, y, atol=1e-6)                          # interpolates in the limit
    with pytest.raises(ValueError, match="step must be below"):
        feature_learning.kernel_descent(k, y, k, step=3 * step, num_steps=1)


def test_centred_alignment_range_and_invariances(key):
    x = jax.random.normal(key, (30, 4))
    y = data.one_hot(jnp.arange(30) % 3, 3)
    k = kernels.gaussian(x, bandwidth=2.0)
    a = float(feature_learning.centred_alignment(k, y))
    assert 0.0 <= a <= 1.0
    np.testing.assert_allclose(feature_learning.centred_alignment(3.0 * k + 50.0, y), a, rtol=1e-9)
    np.testing.assert_allclose(feature_learning.centred_alignment(k, y + 7.0), a, rtol=1e-9)
    # the uncentred alignment is swamped by a constant mode, the centred one is not
    assert float(kernels.alignment(k + 1e4, y)) < 0.01
    yc = y - y.mean(0)
    np.testing.assert_allclose(feature_learning.centred_alignment(yc @ yc.T, y), 1.0, rtol=1e-9)
    with pytest.raises(ValueError, match="must not be constant"):
        feature_learning.centred_alignment(k, jnp.ones(30))


def test_shape_drift_ignores_scale(key):
    k0 = kernels.gaussian(jax.random.normal(key, (8, 2)))
    assert float(feature_learning.shape_drift(5.0 * k0, k0)) < 1e-7
    assert float(dynamics.kernel_drift(5.0 * k0, k0)) == pytest.approx(4.0)
    other = kernels.linear(jax.random.normal(key, (8, 2)))
    assert 0 < float(feature_learning.shape_drift(other, k0)) <= 2.0
    assert feature_learning.shape_drift(jnp.stack([k0, other]), k0).shape == (2,)


def test_full_kernel_layout_and_critical_step(key):
    x = data.sphere(key, 6, 3)
    net = networks.MLP(widths=(16,), out_dim=3, **RELU)
    params = net.init(key, 3)
    blocks = tangent.empirical_ntk(net.apply, params, x, full_outputs=True)
    full = feature_learning.full_kernel(blocks)
    assert full.shape == (18, 18)
    np.testing.assert_allclose(full[1 * 3 + 2, 4 * 3 + 0], blocks[1, 4, 2, 0])
    np.testing.assert_allclose(full, full.T, atol=1e-10)
    averaged = tangent.empirical_ntk(net.apply, params, x)
    assert feature_learning.critical_step(full, 6) <= feature_learning.critical_step(averaged, 6) + 1e-9
    with pytest.raises(ValueError, match="multiple of n"):
        feature_learning.critical_step(full, 7)


def test_catapult_phases_on_a_small_network(key):
    x, labels, _, _ = data.digits(key, 32)
    y = 2.0 * (labels % 2) - 1.0
    net = networks.MLP(widths=(128,), b_std=(0.1, 0.0), **RELU)
    params = net.init(key, 64)
    critical = feature_learning.critical_step(tangent.empirical_ntk(net.apply, params, x), 32)
    lazy = feature_learning.train_catapult(net, params, x, y, step=0.5 * critical, num_steps=100)
    assert lazy.loss.shape == (101,) and feature_learning.classify_phase(lazy, converged=1e-2) == "lazy"
    np.testing.assert_allclose(lazy.top_eigenvalue[0], 2 * 32 / critical, rtol=1e-4)
    blown = feature_learning.train_catapult(net, params, x, y, step=100 * critical, num_steps=50)
    assert feature_learning.classify_phase(blown) in ("divergent", "dead")


def test_classify_phase_rules():
    run = feature_learning.CatapultRun
    flat = np.ones(5)
    assert feature_learning.classify_phase(run(np.array([1.0, 5.0, 1e-4]), flat, flat)) == "catapult"
    assert feature_learning.classify_phase(run(np.array([1.0, 0.5, 1e-4]), flat, flat)) == "lazy"
    assert feature_learning.classify_phase(run(np.array([1.0, np.inf, np.inf]), flat, flat)) == "divergent"
    assert feature_learning.classify_phase(run(np.array([1.0, 5.0, 0.5]), flat, np.array([1.0, 0.5, 0.02]))) == "dead"
    assert feature_learning.classify_phase(run(np.array([1.0, 0.9, 0.5]), flat, flat)) == "unconverged"
    # converged with few live units is still a catapult: convergence is checked before the share of live units
    few_live = np.array([1.0, 0.5, 0.02])
    assert feature_learning.classify_phase(run(np.array([1.0, 5.0, 1e-4]), flat, few_live)) == "catapult"
    assert feature_learning.classify_phase(run(np.array([1.0, 0.5, 1e-4]), flat, few_live)) == "lazy"
    with pytest.raises(TypeError, match="run must be a CatapultRun"):
        feature_learning.classify_phase((1, 2, 3))


def test_residual_components_decay_at_eigenvalue_rates(key):
    x = data.sphere(key, 12, 3)
    k = kernels.gaussian(x, bandwidth=1.0)
    y = x[:, 0]
    step, n = 0.3 * feature_learning.critical_step(k, 12), 12
    us = [jnp.zeros(12)]
    for _ in range(5):
        us.append(us[-1] - step / n * k @ (us[-1] - y))
    evals, comps = feature_learning.residual_on_eigenvectors(k, jnp.stack(us), y)
    assert bool(jnp.all(jnp.diff(evals) <= 0))
    np.testing.assert_allclose(comps[3], comps[0] * (1 - step * evals / n) ** 3, atol=1e-10)


def test_eigenvector_frequencies_of_a_circulant_kernel():
    phi = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    # circulant kernel with eigenvalue 1/(1 + omega) on frequency omega: labels come out in order
    k = sum(np.cos(w * (phi[:, None] - phi[None, :])) / (1 + w) for w in range(6))
    freq = feature_learning.eigenvector_frequencies(jnp.asarray(k), 11)
    np.testing.assert_array_equal(freq, [0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
    with pytest.raises(ValueError, match="count must be at most n = 32, got 40"):
        feature_learning.eigenvector_frequencies(jnp.asarray(k), 40)


def test_hanin_nica_ratio_and_relative_error():
    assert feature_learning.hanin_nica_ratio(4, 20) == pytest.approx(np.e)
    assert feature_learning.relative_error(jnp.zeros(4), jnp.array([1.0, -1.0, 1.0, -1.0])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="depth must be an integer >= 1"):
        feature_learning.hanin_nica_ratio(0, 3)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda n, p, x, y: feature_learning.train_scaled(n, p, x, y, chi=0.0, step=0.1, num_steps=1), ValueError, "chi must be > 0"),
        (lambda n, p, x, y: feature_learning.train_scaled(n.apply, p, x, y, chi=1.0, step=0.1, num_steps=1), TypeError, "net must be an ntkbook.networks.MLP"),
        (lambda n, p, x, y: feature_learning.train_scaled(n, p, x, jnp.zeros((x.shape[0], 2)), chi=1.0, step=0.1, num_steps=1), ValueError, "y_train must have 1 columns"),
        (lambda n, p, x, y: feature_learning.train_scaled(n, p, x, y, chi=1.0, step=1e9, num_steps=50), ValueError, "diverged"),
        (lambda n, p, x, y: feature_learning.full_kernel(jnp.zeros((3, 3, 2, 1))), ValueError, r"blocks must have shape \(n, n, q, q\)"),
    ],
)
def test_bad_inputs_are_named(task, call, error, message):
    net, params, x, y = task
    with pytest.raises(error, match=message):
        call(net, params, x, y)


def test_decay_rates_recover_exponentials():
    steps = np.arange(40)[:, None]
    comps = np.array([2.0, -0.5]) * np.exp(-np.array([0.3, 0.05]) * steps)
    np.testing.assert_allclose(feature_learning.decay_rates(comps), [0.3, 0.05], rtol=1e-8)
    with pytest.raises(ValueError, match="fewer than two values"):
        feature_learning.decay_rates(np.array([[1.0], [0.0]]))


def test_averaged_kernel_can_overestimate_the_critical_step_by_q_squared():
    # ex-bk-outputs: output j's gradients at input i are g if i == j, else 0 (n = q inputs, one shared unit vector g);
    # then Theta_jk = e_j e_k^T, the full kernel has top eigenvalue q and the averaged kernel I / q: the ratio is q^2
    for q in (2, 4):
        blocks = np.zeros((q, q, q, q))
        for j in range(q):
            for k in range(q):
                blocks[j, k, j, k] = 1.0                   # blocks[i, i', j, k] = <grad f_j(x_i), grad f_k(x_i')>
        full = feature_learning.full_kernel(blocks)
        averaged = np.mean([blocks[:, :, j, j] for j in range(q)], axis=0)
        ratio = feature_learning.critical_step(averaged, q) / feature_learning.critical_step(full, q)
        assert ratio == pytest.approx(q**2, rel=1e-5)
        assert np.linalg.eigvalsh(full)[-1] <= sum(np.linalg.eigvalsh(blocks[:, :, j, j])[-1] for j in range(q)) + 1e-9


def test_second_moment_ratio_matches_gaussian_law_and_its_error_the_spread():
    # T ~ N(mu, s^2): E[T^2] / E[T]^2 = 1 + s^2 / mu^2; the delta-method error matches the spread over repeats
    rng = np.random.default_rng(0)
    estimates = [feature_learning.second_moment_ratio(2.0 + rng.standard_normal((400, 3))) for _ in range(200)]
    values, errors = np.array(estimates).T
    assert values.mean() == pytest.approx(1.25, abs=0.01)
    assert np.mean(errors) == pytest.approx(values.std(), rel=0.25)
    assert feature_learning.second_moment_ratio(np.full(5, 3.0)) == pytest.approx((1.0, 0.0))
    with pytest.raises(ValueError, match="samples must be a finite array"):
        feature_learning.second_moment_ratio(np.ones(1))
    with pytest.raises(ValueError, match="nonzero mean"):
        feature_learning.second_moment_ratio(np.array([1.0, -1.0]))
