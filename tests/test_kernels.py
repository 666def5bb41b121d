import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ntkbook import kernels

KERNELS = {
    "linear": kernels.linear,
    "polynomial2": partial(kernels.polynomial, degree=2, c=1.0),
    "polynomial3": partial(kernels.polynomial, degree=3, c=0.5),
    "gaussian": partial(kernels.gaussian, bandwidth=0.7),
    "laplace": partial(kernels.laplace, bandwidth=1.3),
}


def point_sets(max_n=12, max_d=5):
    return st.integers(1, max_d).flatmap(
        lambda d: hnp.arrays(
            np.float64,
            st.tuples(st.integers(1, max_n), st.just(d)),
            elements=st.floats(-3, 3, allow_nan=False, width=64),
        )
    )


@pytest.mark.parametrize("name", sorted(KERNELS))
@settings(max_examples=40, deadline=None)
@given(x=point_sets())
def test_gram_matrix_is_symmetric_psd(name, x):
    k = np.asarray(KERNELS[name](x))
    assert k.shape == (x.shape[0], x.shape[0])
    np.testing.assert_allclose(k, k.T, rtol=1e-12, atol=1e-12 * np.abs(k).max())
    smallest = np.linalg.eigvalsh(k)[0]
    assert smallest >= -1e-10 * max(1.0, np.abs(k).max()) * x.shape[0]


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_cross_matrix_shape_and_transpose(name, key):
    k1, k2 = jax.random.split(key)
    a = jax.random.normal(k1, (5, 3), jnp.float64)
    b = jax.random.normal(k2, (7, 3), jnp.float64)
    kab = KERNELS[name](a, b)
    assert kab.shape == (5, 7)
    np.testing.assert_allclose(kab, KERNELS[name](b, a).T, rtol=1e-12)


def test_formulas_against_numpy(key):
    x = np.asarray(jax.random.normal(key, (6, 4), jnp.float64))
    diff = x[:, None, :] - x[None, :, :]
    dist = np.sqrt((diff**2).sum(-1))
    np.testing.assert_allclose(kernels.linear(x), x @ x.T, rtol=1e-12)
    np.testing.assert_allclose(kernels.polynomial(x, degree=3, c=2.0), (2.0 + x @ x.T) ** 3, rtol=1e-12)
    np.testing.assert_allclose(kernels.gaussian(x, bandwidth=0.5), np.exp(-(dist**2) / 0.5), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(kernels.laplace(x, bandwidth=2.0), np.exp(-dist / 2.0), rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(kernels.squared_distances(x), dist**2, atol=1e-12)


def test_dtype_follows_input(key):
    x32 = jax.random.normal(key, (4, 2), jnp.float32)
    for fn in KERNELS.values():
        assert fn(x32).dtype == jnp.float32
        assert fn(x32.astype(jnp.float64)).dtype == jnp.float64
    assert kernels.linear(np.arange(6).reshape(3, 2)).dtype == jnp.float64  # ints promoted


@settings(max_examples=25, deadline=None)
@given(x=point_sets(max_n=6, max_d=4), degree=st.integers(1, 4), c=st.floats(0, 2))
def test_polynomial_features_realise_the_kernel(x, degree, c):
    phi = kernels.polynomial_features(x, degree=degree, c=c)
    assert phi.shape == (x.shape[0], kernels.polynomial_feature_count(x.shape[1], degree))
    k = kernels.polynomial(x, degree=degree, c=c)
    np.testing.assert_allclose(phi @ phi.T, k, rtol=1e-9, atol=1e-9 * max(1.0, float(jnp.abs(k).max())))


def test_feature_count_is_binomial():
    assert kernels.polynomial_feature_count(2, 2) == 6  # 1, x1, x2, x1x2, x1^2, x2^2
    assert kernels.polynomial_feature_count(100, 3) == math.comb(103, 3)


def test_degree_two_features_contain_squared_radius():
    # The seed's separating feature x1^2 + x2^2 is a linear function of the map.
    x = jnp.array([[1.0, 2.0], [0.5, -1.0], [-2.0, 0.3], [0.0, 1.5], [1.1, 1.1], [-0.7, -0.2], [2.0, -1.0]])
    phi = kernels.polynomial_features(x, degree=2)
    theta, *_ = np.linalg.lstsq(np.asarray(phi), np.asarray(jnp.sum(x**2, 1)), rcond=None)
    np.testing.assert_allclose(phi @ theta, jnp.sum(x**2, 1), atol=1e-10)


def test_jit_compatible(key):
    x = jax.random.normal(key, (5, 3))
    jitted = jax.jit(lambda a: kernels.gaussian(a, bandwidth=2.0))
    np.testing.assert_allclose(jitted(x), kernels.gaussian(x, bandwidth=2.0), rtol=1e-6)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: kernels.linear(np.ones(3)), ValueError, r"x1 must be 2-d, got shape \(3,\)"),
        (lambda: kernels.linear(np.ones((0, 3))), ValueError, r"x1 must have shape \(n, d\) with n, d >= 1, got \(0, 3\)"),
        (lambda: kernels.linear(np.ones((2, 3)), np.ones((2, 4))), ValueError, r"same number of features.*\(2, 3\).*\(2, 4\)"),
        (lambda: kernels.linear("abc"), TypeError, r"x1 must be an array of real numbers, got str"),
        (lambda: kernels.linear(np.ones((2, 2)) * 1j), TypeError, r"x1 must hold real numbers, got dtype complex"),
        (lambda: kernels.linear(np.array([[1.0, np.nan]])), ValueError, r"x1 must be finite, got 1 NaN or infinite"),
        (lambda: kernels.gaussian(np.ones((2, 2)), bandwidth=0.0), ValueError, r"bandwidth must be > 0.0, got 0.0"),
        (lambda: kernels.laplace(np.ones((2, 2)), bandwidth=-1), ValueError, r"bandwidth must be > 0.0, got -1"),
        (lambda: kernels.gaussian(np.ones((2, 2)), bandwidth="wide"), TypeError, r"bandwidth must be a real number, got str"),
        (lambda: kernels.gaussian(np.ones((2, 2)), bandwidth=float("inf")), ValueError, r"bandwidth must be finite"),
        (lambda: kernels.polynomial(np.ones((2, 2)), degree=0), ValueError, r"degree must be an integer >= 1, got 0"),
        (lambda: kernels.polynomial(np.ones((2, 2)), degree=2.5), TypeError, r"degree must be an integer, got float 2.5"),
        (lambda: kernels.polynomial(np.ones((2, 2)), c=-1.0), ValueError, r"c must be >= 0.0, got -1.0"),
        (lambda: kernels.polynomial_features(np.ones((2, 2)), degree=True), TypeError, r"degree must be an integer, got bool"),
        (lambda: kernels.polynomial_feature_count(0, 2), ValueError, r"d must be an integer >= 1, got 0"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_alignment_is_one_for_the_target_kernel_and_bounded(key):
    y = jax.random.normal(key, (12, 3), jnp.float64)
    assert abs(float(kernels.alignment(y @ y.T, y)) - 1.0) < 1e-12
    x = jax.random.normal(jax.random.key(1), (12, 4), jnp.float64)
    a = float(kernels.alignment(kernels.gaussian(x), y))
    assert -1.0 <= a <= 1.0
    np.testing.assert_allclose(kernels.alignment(5.0 * kernels.gaussian(x), y), a, rtol=1e-12)  # scale-free


def test_alignment_bad_inputs():
    with pytest.raises(ValueError, match=r"k must be a square \(n, n\) matrix, got shape \(2, 3\)"):
        kernels.alignment(jnp.ones((2, 3)), jnp.ones(2))
    with pytest.raises(ValueError, match=r"y must have 2 rows"):
        kernels.alignment(jnp.eye(2), jnp.ones(3))


@pytest.mark.parametrize("name", ["gaussian", "laplace"])
def test_random_fourier_features_estimate_the_kernel(name, key):
    # Bochner: the kernel is the mean of cos(omega . (x - x')) under its spectral measure.
    x = jax.random.normal(key, (15, 3), jnp.float64)
    exact = getattr(kernels, name)(x, bandwidth=0.8)
    errors = []
    for m in (400, 40_000):
        z = kernels.random_fourier_features(jax.random.key(7), x, m, kernel=name, bandwidth=0.8)
        assert z.shape == (15, 2 * m)
        errors.append(float(jnp.linalg.norm(z @ z.T - exact)) / 15)
    assert errors[1] < 0.02 and errors[1] < errors[0] / 4  # Monte Carlo: 100x features, about 10x smaller error
    # the same key gives the same frequencies, hence consistent cross features
    z1 = kernels.random_fourier_features(jax.random.key(7), x[:5], 100, kernel=name, bandwidth=0.8)
    z2 = kernels.random_fourier_features(jax.random.key(7), x, 100, kernel=name, bandwidth=0.8)
    np.testing.assert_allclose(z1, z2[:5], rtol=1e-12)


def test_random_fourier_features_bad_inputs(key):
    with pytest.raises(ValueError, match=r"kernel must be 'gaussian' or 'laplace', got 'linear'"):
        kernels.random_fourier_features(key, jnp.ones((2, 2)), 10, kernel="linear")
    with pytest.raises(ValueError, match=r"num_features must be an integer >= 1, got 0"):
        kernels.random_fourier_features(key, jnp.ones((2, 2)), 0)


def test_gram_flops_count_the_feature_dimension():
    x = jnp.ones((50, 6))
    n, d, degree = 50, 6, 3
    dim = kernels.polynomial_feature_count(d, degree)

    def explicit(a):
        phi = kernels.polynomial_features(a, degree=degree)
        return phi @ phi.T

    explicit_flops = kernels.gram_flops(explicit, x)
    kernel_flops = kernels.gram_flops(partial(kernels.polynomial, degree=degree), x)
    assert 2 * n**2 * dim <= explicit_flops <= 1.3 * 2 * n**2 * dim
    assert 2 * n**2 * d <= kernel_flops <= 2 * 2 * n**2 * d
    with pytest.raises(TypeError, match=r"gram must be a callable gram\(x\), got int"):
        kernels.gram_flops(3, x)
