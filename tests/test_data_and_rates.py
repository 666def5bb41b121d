import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook import data, rates


def test_circles_shapes_labels_and_radii(key):
    x, y = data.concentric_circles(key, 50, radii=(1.0, 3.0), noise=0.0)
    assert x.shape == (100, 2) and y.shape == (100,)
    r = jnp.linalg.norm(x, axis=1)
    np.testing.assert_allclose(r[y < 0], 1.0, rtol=1e-6)
    np.testing.assert_allclose(r[y > 0], 3.0, rtol=1e-6)


def test_circles_are_reproducible(key):
    a, _ = data.concentric_circles(key, 10)
    b, _ = data.concentric_circles(key, 10)
    np.testing.assert_array_equal(a, b)


def test_sphere_points_have_unit_norm(key):
    x = data.sphere(key, 50, 7)
    assert x.shape == (50, 7)
    np.testing.assert_allclose(jnp.linalg.norm(x, axis=1), 1.0, rtol=1e-6)


def test_noisy_sine_sorted_in_range(key):
    x, y = data.noisy_sine(key, 40, low=-2.0, high=2.0)
    assert x.shape == (40, 1) and y.shape == (40,)
    assert bool(jnp.all(jnp.diff(x[:, 0]) >= 0)) and float(x.min()) >= -2.0 and float(x.max()) <= 2.0


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda k: data.concentric_circles(k, 0), r"n_per_circle must be an integer >= 1, got 0"),
        (lambda k: data.concentric_circles(k, 5, radii=(2.0, 1.0)), r"radii\[1\] must be > 2.0, got 1.0"),
        (lambda k: data.concentric_circles(k, 5, radii=(1.0,)), r"radii must hold two radii"),
        (lambda k: data.noisy_sine(k, 5, noise=-0.1), r"noise must be >= 0.0, got -0.1"),
    ],
)
def test_data_bad_inputs(key, call, message):
    with pytest.raises(ValueError, match=message):
        call(key)


def test_loglog_fit_recovers_exponent():
    x = np.array([10.0, 20, 40, 80, 160])
    fit = rates.loglog_fit(x, 3.0 * x**-0.5)
    assert abs(fit.slope + 0.5) < 1e-12 and abs(fit.prefactor - 3.0) < 1e-10 and fit.r2 > 0.999999
    np.testing.assert_allclose(fit(x), 3.0 * x**-0.5)


def test_loglog_fit_with_noise_has_lower_r2():
    rng = np.random.default_rng(0)
    x = np.geomspace(1, 1000, 20)
    fit = rates.loglog_fit(x, x**2 * np.exp(rng.normal(0, 0.3, 20)))
    assert 1.7 < fit.slope < 2.3 and fit.r2 < 0.9999


@pytest.mark.parametrize(
    "x, y, message",
    [
        ([1.0], [1.0], "at least 2 points"),
        ([1.0, 2.0], [1.0], "equal length"),
        ([1.0, -2.0], [1.0, 2.0], "> 0"),
        ([1.0, 2.0], [0.0, 2.0], "> 0"),
    ],
)
def test_loglog_fit_bad_inputs(x, y, message):
    with pytest.raises(ValueError, match=message):
        rates.loglog_fit(x, y)


def test_one_hot_centred_rows_sum_to_zero():
    y = data.one_hot(jnp.array([0, 2, 1]), 3)
    np.testing.assert_allclose(y.sum(axis=1), 0.0, atol=1e-7)
    np.testing.assert_array_equal(jnp.argmax(y, axis=1), jnp.array([0, 2, 1]))
    np.testing.assert_array_equal(data.one_hot(jnp.array([1]), 2, centred=False), jnp.array([[0.0, 1.0]]))


def test_accuracy():
    out = jnp.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert data.accuracy(out, jnp.array([1, 0, 0])) == pytest.approx(2 / 3)


def test_digits_split_is_normalised(key):
    x_tr, l_tr, x_te, l_te = data.digits(key, 200)
    assert x_tr.shape == (200, 64) and x_te.shape == (1597, 64) and l_tr.shape == (200,)
    np.testing.assert_allclose(jnp.linalg.norm(x_tr, axis=1), 1.0, rtol=1e-6)
    assert set(np.unique(np.asarray(l_tr))) == set(range(10))


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda k: data.one_hot(jnp.array([0, 3]), 3), ValueError, r"labels must lie in \[0, 2\], got range \[0, 3\]"),
        (lambda k: data.one_hot(jnp.array([0.5]), 3), TypeError, r"labels must be a 1-d array of integers"),
        (lambda k: data.one_hot(jnp.array([0]), 1), ValueError, r"num_classes must be an integer >= 2"),
        (lambda k: data.accuracy(jnp.ones((3, 2)), jnp.ones(2, int)), ValueError, r"labels must have shape \(3,\)"),
        (lambda k: data.digits(k, 5000), ValueError, r"n_train must be below the 1797 available images, got 5000"),
    ],
)
def test_classification_helpers_bad_inputs(key, call, error, message):
    with pytest.raises(error, match=message):
        call(key)


def test_loglog_fit_seeds_reports_mean_slope_and_spread():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    y = np.stack([2.0 * x**-0.4, 3.0 * x**-0.6])
    fit = rates.loglog_fit_seeds(x, y)
    assert abs(fit.slope + 0.5) < 1e-12 and abs(fit.spread - np.std([-0.4, -0.6], ddof=1)) < 1e-12
    assert abs(fit.prefactor - np.sqrt(6.0)) < 1e-9 and fit.r2 > 0.999999 and len(fit.fits) == 2
    np.testing.assert_allclose(fit(x), np.sqrt(6.0) * x**-0.5)
    assert str(fit) == "-0.50 +- 0.14 (min r2 1.00)"
    assert rates.loglog_fit_seeds(x, y[:1]).spread == 0.0


@pytest.mark.parametrize(
    "y, message",
    [(np.ones(4), r"y must have shape \(seeds, 4\)"), (np.ones((2, 3)), r"y must have shape \(seeds, 4\)"), (-np.ones((2, 4)), r"finite and > 0")],
)
def test_loglog_fit_seeds_bad_inputs(y, message):
    with pytest.raises(ValueError, match=message):
        rates.loglog_fit_seeds(np.array([1.0, 2.0, 3.0, 4.0]), y)


def test_single_index_reads_one_coordinate(key):
    x, y = data.single_index(key, 400, 9)
    assert x.shape == (400, 9) and y.shape == (400,)
    np.testing.assert_allclose(jnp.linalg.norm(x, axis=1), 3.0, rtol=1e-5)     # sphere of radius sqrt(d)
    z = x[:, 0]
    np.testing.assert_allclose(y, z + (z**2 - 1) / jnp.sqrt(2.0), rtol=1e-5, atol=1e-6)
    x2, y2 = data.single_index(key, 400, 9, noise=0.5)
    np.testing.assert_array_equal(x, x2)
    assert 0.3 < float(jnp.std(y2 - y)) < 0.7


def test_with_distractors_appends_noise_of_given_norm(key):
    x = data.sphere(key, 300, 4)
    out = data.with_distractors(key, x, 50, scale=3.0)
    assert out.shape == (300, 54)
    np.testing.assert_array_equal(out[:, :4], x)
    np.testing.assert_allclose(float(jnp.mean(jnp.sum(out[:, 4:] ** 2, axis=1))), 9.0, rtol=0.05)
    assert data.with_distractors(key, x, 0).shape == (300, 4)
    with pytest.raises(ValueError, match="num_distractors must be an integer >= 0"):
        data.with_distractors(key, x, -1)


def test_exponential_fit_recovers_the_factor_per_step():
    steps = np.arange(0, 40, 3)
    fit = rates.exponential_fit(steps, 2.5 * 0.9**steps)
    assert np.isclose(np.exp(fit.rate), 0.9) and np.isclose(fit.prefactor, 2.5) and np.isclose(fit.r2, 1.0)
    np.testing.assert_allclose(fit(steps), 2.5 * 0.9**steps, rtol=1e-10)
    noisy = rates.exponential_fit(steps, 2.5 * 0.9**steps * np.exp(0.3 * np.sin(7.0 * steps)))
    assert noisy.r2 < 1.0 and abs(np.exp(noisy.rate) - 0.9) < 0.02


@pytest.mark.parametrize(
    "x, y, message",
    [
        ([1.0, 2.0], [1.0], r"x and y must be 1-d arrays of equal length"),
        ([1.0], [1.0], r"at least 2 distinct points"),
        ([1.0, 1.0], [1.0, 2.0], r"at least 2 distinct points"),
        ([1.0, 2.0], [1.0, -2.0], r"y finite and > 0"),
        ([1.0, np.inf], [1.0, 2.0], r"x must be finite"),
    ],
)
def test_exponential_fit_bad_inputs(x, y, message):
    with pytest.raises(ValueError, match=message):
        rates.exponential_fit(x, y)
