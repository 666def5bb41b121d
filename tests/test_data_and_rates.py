import jax
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
