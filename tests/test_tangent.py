from functools import partial

import jax
from jax.flatten_util import ravel_pytree
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntkbook import data, networks, rates, tangent

CONFIGS = [(depth, act, b) for depth in (1, 2, 3, 4) for act in ("relu", "erf") for b in (0.0, 0.2)]


def rel_frobenius(a, b):
    return float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))


# ------------------------------------------------------------------ analytic vs Monte Carlo


@pytest.mark.parametrize("depth, activation, b_std", CONFIGS, ids=[f"L{d}-{a}-b{b}" for d, a, b in CONFIGS])
def test_analytic_ntk_matches_monte_carlo(depth, activation, b_std):
    x = data.sphere(jax.random.key(depth), 6, 5) * jnp.linspace(0.5, 1.5, 6)[:, None]
    net = networks.MLP(widths=(1024,) * depth, activation=activation, w_std=1.4, b_std=b_std)
    exact = tangent.infinite_width(net, x)
    mc = tangent.monte_carlo(net, jax.random.key(100 + depth), x, n_samples=32)
    assert rel_frobenius(mc.ntk, exact.ntk) < 0.05
    # a single output's f(x) f(x') does not concentrate: compare in units of its standard error
    z = (mc.nngp - exact.nngp) / mc.nngp_sem
    assert abs(float(jnp.mean(z))) < 3.0
    assert float(jnp.mean(jnp.abs(z) < 4)) > 0.9


def test_empirical_ntk_error_falls_with_width():
    x = data.sphere(jax.random.key(7), 6, 4)
    widths = [128, 256, 512, 1024, 2048]
    errors = []
    for m in widths:
        net = networks.MLP(widths=(m, m), activation="relu", w_std=2**0.5, b_std=0.1)
        exact = tangent.infinite_width(net, x).ntk
        keys = jax.random.split(jax.random.key(m), 8)
        errors.append(np.mean([rel_frobenius(tangent.empirical_ntk(net.apply, net.init(k, 4), x), exact) for k in keys]))
    fit = rates.loglog_fit(widths, errors)
    assert fit.slope < -0.3, fit


def test_two_layer_closed_form_is_the_general_recursion():
    x = jax.random.normal(jax.random.key(1), (9, 4), jnp.float64)
    y = jax.random.normal(jax.random.key(2), (5, 4), jnp.float64)
    for args in ((x,), (x, y)):
        closed = tangent.two_layer_relu(*args).total
        general = tangent.infinite_width(networks.two_layer(100, 4), *args).ntk
        np.testing.assert_allclose(closed, general, rtol=1e-10, atol=1e-12)


def test_two_layer_parts_match_finite_sums(key):
    # K_m^(a) and K_m^(b) are the kernels of the gradients in a and in b separately.
    d, m = 3, 64
    net = networks.two_layer(m, d)
    params = net.init(key, d)
    x = jax.random.normal(jax.random.key(5), (4, d), jnp.float64)
    a, b = params[0]["w"], params[1]["w"][:, 0]
    pre = x @ a
    k_a = ((pre > 0) * b**2) @ (pre > 0).T / m * (x @ x.T)
    k_b = jax.nn.relu(pre) @ jax.nn.relu(pre).T / m
    np.testing.assert_allclose(tangent.empirical_ntk(net.apply, params, x), k_a + k_b, rtol=1e-10)


def test_coactivation_probability_against_sampling(key):
    x = jnp.array([[1.0, 0.0, 0.0], [0.3, 0.9, 0.1], [-0.8, 0.2, 0.5]])
    a = jax.random.normal(key, (200_000, 3))
    active = (a @ x.T > 0).astype(jnp.float64)
    sampled = active.T @ active / a.shape[0]
    np.testing.assert_allclose(sampled, tangent.coactivation_probability(x), atol=4 * 0.5 / np.sqrt(200_000))


# ------------------------------------------------------------------ empirical NTK paths


@pytest.mark.parametrize("out_dim", [1, 3])
def test_jacobian_and_products_paths_agree(key, out_dim):
    net = networks.MLP(widths=(32, 16), out_dim=out_dim, activation="erf", w_std=1.3, b_std=0.2)
    params = net.init(key, 5)
    x1 = jax.random.normal(jax.random.key(1), (7, 5), jnp.float64)
    x2 = jax.random.normal(jax.random.key(2), (4, 5), jnp.float64)
    for args in ((x1,), (x1, x2)):
        ref = tangent.empirical_ntk(net.apply, params, *args, full_outputs=True)
        for method in ("auto", "jacobian", "products"):
            for batch in (None, 3):
                got = tangent.empirical_ntk(net.apply, params, *args, method=method, batch_size=batch, full_outputs=True)
                np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
        mean_diag = tangent.empirical_ntk(net.apply, params, *args)
        np.testing.assert_allclose(mean_diag, jnp.trace(ref, axis1=2, axis2=3) / out_dim, rtol=1e-12)


# every activation at every depth; biases and output widths alternate so that each
# combination of (activation, bias) and (depth, outputs) occurs; mean-field readouts too
STRUCTURED = [
    (depth, act, (depth + i) % 2 * 0.3, 1 + 2 * (i % 2), "ntk")
    for depth in (0, 1, 3)
    for i, act in enumerate(("relu", "erf", "tanh"))
] + [(1, "relu", 0.0, 3, "mean_field"), (3, "erf", 0.0, 1, "mean_field"), (0, "relu", 0.3, 3, "ntk"), (3, "tanh", 0.3, 3, "ntk")]


@pytest.mark.parametrize("dtype, tol", [(jnp.float32, 1e-5), (jnp.float64, 1e-10)], ids=["f32", "f64"])
@pytest.mark.parametrize("depth, activation, b_std, out_dim, par", STRUCTURED, ids=["-".join(map(str, c)) for c in STRUCTURED])
def test_structured_ntk_equals_autodiff(depth, activation, b_std, out_dim, par, dtype, tol):
    sigma = jnp.tanh if activation == "tanh" else activation  # a callable: derivative by jvp
    net = networks.MLP(widths=(24, 17, 20)[:depth], out_dim=out_dim, activation=sigma, w_std=1.3, b_std=b_std, parameterization=par)
    params = jax.tree_util.tree_map(lambda p: p.astype(dtype), net.init(jax.random.key(depth), 5))
    x1 = jax.random.normal(jax.random.key(1), (9, 5), dtype)
    x2 = jax.random.normal(jax.random.key(2), (4, 5), dtype)
    for args in ((x1,), (x1, x2)):
        ref = tangent.empirical_ntk(net.apply, params, *args, method="jacobian", full_outputs=True)
        got = tangent.empirical_ntk(net.apply, params, *args, method="structured", full_outputs=True, batch_size=4)
        assert got.dtype == dtype
        assert float(jnp.max(jnp.abs(got - ref)) / jnp.max(jnp.abs(ref))) < tol
        mean_diag = tangent.empirical_ntk(net.apply, params, *args)  # auto picks the structured path
        np.testing.assert_allclose(mean_diag, jnp.trace(ref, axis1=2, axis2=3) / out_dim, rtol=10 * tol, atol=10 * tol * float(jnp.max(jnp.abs(ref))))


def test_structured_needs_an_mlp(key):
    with pytest.raises(ValueError, match=r"method='structured' needs apply_fn to be the apply of an ntkbook.networks.MLP"):
        tangent.empirical_ntk(lambda p, x: x @ p, jnp.ones((2, 1)), jnp.ones((3, 2)), method="structured")


def test_float32_arccos_polynomial():
    c = jnp.linspace(-1.0, 1.0, 200_001, dtype=jnp.float32)
    exact = np.arccos(np.asarray(c, np.float64))
    assert np.max(np.abs(np.asarray(tangent._arccos(c), np.float64) - exact)) < 1e-6
    assert float(tangent._arccos(jnp.float32(1.0))) == 0.0


def test_float32_arc_cosine_polynomials():
    """The two polynomials behind the float32 arc-cosine kernels, in float64 against the closed forms
    (the bounds quoted in ntkbook/tangent.py), then the float32 path end to end, scale folded in."""
    a = 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, 100_001))
    s = np.sqrt(1 - a)
    poly = lambda coeffs: np.polyval(np.asarray(coeffs, np.float64), a)
    assert np.max(np.abs(s * poly(tangent._ACOS_COEFFS) - np.arccos(a))) < 2.2e-8
    g = (np.sqrt((1 - a) * (1 + a)) - a * np.arccos(a)) / np.pi
    assert np.max(np.abs(s * poly(tangent._ARC1_COEFFS) - g)) < 1.4e-8
    c32 = jnp.linspace(-1.0, 1.0, 200_001, dtype=jnp.float32)
    c = np.asarray(c32, np.float64)  # the float32 cosines exactly, so only the kernels' own errors count
    theta = np.arccos(c)
    k0, g32 = tangent._arc_cosine(c32, 3.0)
    np.testing.assert_allclose(np.asarray(k0, np.float64), 3.0 * (1 - theta / np.pi), rtol=0, atol=3e-7)
    k1 = np.maximum(c, 0) + np.asarray(g32, np.float64)
    np.testing.assert_allclose(k1, (np.sin(theta) + (np.pi - theta) * c) / np.pi, rtol=0, atol=1e-7)
    assert float(k0[-1]) == 3.0 and float(g32[-1]) == 0.0 and float(k0[0]) == 0.0  # exact at c = +-1


def test_infinite_width_get_one_kernel():
    x = jax.random.normal(jax.random.key(4), (11, 3), jnp.float64)
    net = networks.MLP(widths=(1, 1), activation="erf", w_std=1.2, b_std=0.3)
    both = tangent.infinite_width(net, x)
    np.testing.assert_array_equal(tangent.infinite_width(net, x, get="ntk"), both.ntk)
    np.testing.assert_array_equal(tangent.infinite_width(net, x, get="nngp"), both.nngp)
    np.testing.assert_allclose(tangent.infinite_width(net, x, block_size=4).ntk, both.ntk, rtol=1e-14)
    with pytest.raises(ValueError, match=r"get must be None, 'nngp' or 'ntk', got 'both'"):
        tangent.infinite_width(net, x, get="both")


def test_empirical_ntk_is_the_explicit_jacobian_product(key):
    net = networks.MLP(widths=(6,), activation="relu", b_std=0.5)
    params = net.init(key, 2)
    x = jax.random.normal(jax.random.key(3), (5, 2), jnp.float64)
    flat, unravel = ravel_pytree(params)
    jac = jax.jacobian(lambda p: net.apply(unravel(p), x)[:, 0])(flat)
    np.testing.assert_allclose(tangent.empirical_ntk(net.apply, params, x), jac @ jac.T, rtol=1e-12)


def test_empirical_ntk_of_a_plain_function_and_scalar_outputs(key):
    # any apply(params, x); (n,)-shaped outputs are allowed
    def apply(p, x):
        return jnp.tanh(x @ p["u"]) @ p["v"]

    params = {"u": jax.random.normal(key, (3, 4)), "v": jax.random.normal(jax.random.key(1), (4,))}
    x = jax.random.normal(jax.random.key(2), (5, 3))
    k = tangent.empirical_ntk(apply, params, x)
    assert k.shape == (5, 5)
    np.testing.assert_allclose(k, tangent.empirical_ntk(apply, params, x, method="products"), rtol=1e-5)


def test_fixed_readout_ntk_is_seed_004_gram(key):
    net = networks.FixedReadoutReLU.create(key, 30)
    params = net.init(jax.random.key(1), 3)
    x = jax.random.normal(jax.random.key(2), (6, 3), jnp.float64)
    active = (x @ params["w"].T > 0).astype(jnp.float64)
    h_dis = (x @ x.T) * (active @ active.T) / 30  # H^dis of seed 004
    np.testing.assert_allclose(tangent.empirical_ntk(net.apply, params, x), h_dis, rtol=1e-12)


# ------------------------------------------------------------------ kernel properties


def kernel_inputs():
    return st.tuples(st.integers(2, 8), st.integers(2, 5), st.integers(0, 10_000))


ARCHS = [
    networks.MLP(widths=(1,) * 3, activation="relu", w_std=1.4, b_std=0.0),
    networks.MLP(widths=(1,) * 2, activation="relu", w_std=1.2, b_std=0.3),
    networks.MLP(widths=(1,) * 2, activation="erf", w_std=1.5, b_std=0.2),
]


@pytest.mark.parametrize("net", ARCHS, ids=["relu-nobias", "relu-bias", "erf"])
@settings(max_examples=20, deadline=None)
@given(shape=kernel_inputs())
def test_infinite_width_kernels_are_symmetric_psd(net, shape):
    n, d, seed = shape
    x = jax.random.normal(jax.random.key(seed), (n, d), jnp.float64)
    for k in tangent.infinite_width(net, x):
        np.testing.assert_allclose(k, k.T, rtol=1e-12, atol=1e-14)
        eig = jnp.linalg.eigvalsh(k)
        assert eig[0] >= -1e-6 * eig[-1]


@settings(max_examples=20, deadline=None)
@given(shape=kernel_inputs(), scale=st.floats(0.1, 10.0))
def test_bias_free_relu_kernels_are_homogeneous_of_degree_two(shape, scale):
    n, d, seed = shape
    x = jax.random.normal(jax.random.key(seed), (n, d), jnp.float64)
    net = ARCHS[0]
    k = tangent.infinite_width(net, x)
    ks = tangent.infinite_width(net, scale * x)
    np.testing.assert_allclose(ks.ntk, scale**2 * k.ntk, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ks.nngp, scale**2 * k.nngp, rtol=1e-9, atol=1e-12)
    parts, parts_s = tangent.two_layer_relu(x), tangent.two_layer_relu(scale * x)
    np.testing.assert_allclose(parts_s.total, scale**2 * parts.total, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("net", ARCHS, ids=["relu-nobias", "relu-bias", "erf"])
@settings(max_examples=20, deadline=None)
@given(shape=kernel_inputs())
def test_kernels_are_rotation_invariant(net, shape):
    n, d, seed = shape
    k1, k2 = jax.random.split(jax.random.key(seed))
    x = jax.random.normal(k1, (n, d), jnp.float64)
    q, _ = jnp.linalg.qr(jax.random.normal(k2, (d, d), jnp.float64))
    a, b = tangent.infinite_width(net, x), tangent.infinite_width(net, x @ q.T)
    np.testing.assert_allclose(b.ntk, a.ntk, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(b.nngp, a.nngp, rtol=1e-8, atol=1e-10)


def test_zero_inputs_take_the_limit_or_raise():
    x = jnp.array([[1.0, 2.0], [0.0, 0.0]], jnp.float64)
    # bias-free ReLU: every kernel vanishes at x = 0 (continuous limit), no NaN
    k = tangent.infinite_width(ARCHS[0], x)
    assert bool(jnp.all(jnp.isfinite(k.ntk))) and float(jnp.abs(k.ntk[1]).max()) == 0.0
    assert float(jnp.abs(tangent.two_layer_relu(x).total[1]).max()) == 0.0
    # with a bias the kernel at 0 is finite and positive
    assert float(tangent.infinite_width(ARCHS[1], x).ntk[1, 1]) > 0
    with pytest.raises(ValueError, match=r"x1 has 1 zero-norm rows; the angle to a zero vector is undefined"):
        tangent.angles(x)


def test_diagonal_angle_is_exactly_zero():
    x = jax.random.normal(jax.random.key(0), (50, 7))  # float32: arccos(1 - eps) would be ~3e-4
    assert float(jnp.max(jnp.abs(jnp.diag(tangent.angles(x))))) == 0.0


def test_float32_analytic_close_to_float64():
    x64 = jax.random.normal(jax.random.key(0), (20, 6), jnp.float64)
    net = networks.MLP(widths=(1, 1, 1), activation="relu", w_std=1.4, b_std=0.1)
    k64 = tangent.infinite_width(net, x64).ntk
    k32 = tangent.infinite_width(net, x64.astype(jnp.float32)).ntk
    assert k32.dtype == jnp.float32
    assert rel_frobenius(k32.astype(jnp.float64), k64) < 1e-5


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda n, p, x: tangent.infinite_width(n, x, jnp.ones((2, 4))), ValueError, r"x1 and x2 must have the same number of features"),
        (lambda n, p, x: tangent.infinite_width(n, x.at[0, 0].set(jnp.nan)), ValueError, r"x1 must be finite, got 1 NaN"),
        (lambda n, p, x: tangent.infinite_width(networks.MLP(widths=(3,), activation=jnp.tanh), x), ValueError, r"infinite-width kernels need activation in \['erf', 'relu'\]"),
        (lambda n, p, x: tangent.infinite_width("mlp", x), TypeError, r"net must be an ntkbook.networks.Architecture or MLP, got str"),
        (lambda n, p, x: tangent.empirical_ntk(n.apply, p, x, method="fast"), ValueError, r"method must be one of \('auto', 'structured', 'jacobian', 'products'\), got 'fast'"),
        (lambda n, p, x: tangent.empirical_ntk(n.apply, p, x, batch_size=0), ValueError, r"batch_size must be an integer >= 1, got 0"),
        (lambda n, p, x: tangent.empirical_ntk(None, p, x), TypeError, r"apply_fn must be a callable"),
        (lambda n, p, x: tangent.empirical_ntk(n.apply, p, x, jnp.ones((2, 4))), ValueError, r"same number of features"),
        (lambda n, p, x: tangent.empirical_ntk(n.apply, p, jnp.full((2, 3), jnp.inf)), ValueError, r"x1 must be finite"),
        (lambda n, p, x: tangent.monte_carlo(n, jax.random.key(0), x, n_samples=1), ValueError, r"n_samples must be an integer >= 2, got 1"),
        (lambda n, p, x: tangent.two_layer_relu(x, jnp.ones(3)), ValueError, r"x2 must be 2-d, got shape \(3,\)"),
    ],
)
def test_bad_inputs(call, error, message):
    net = networks.MLP(widths=(4,))
    params = net.init(jax.random.key(0), 3)
    x = jnp.ones((2, 3))
    with pytest.raises(error, match=message):
        call(net, params, x)


def test_infinite_width_rejects_mean_field():
    with pytest.raises(ValueError, match=r"infinite-width kernels are defined for parameterization='ntk', got 'mean_field'"):
        tangent.infinite_width(networks.MLP(widths=(3,), parameterization="mean_field"), jnp.ones((2, 3)))


# ------------------------------------------------------------------ architectures, standard parameterisation


def test_infinite_width_of_an_architecture_ignores_widths():
    x = jax.random.normal(jax.random.key(3), (7, 4), jnp.float64)
    arch = networks.Architecture(depth=2, activation="erf", w_std=1.3, b_std=0.2)
    k = tangent.infinite_width(arch, x)
    for width in (1, (5, 300)):
        np.testing.assert_array_equal(tangent.infinite_width(arch.at_width(width), x).ntk, k.ntk)
    np.testing.assert_allclose(tangent.infinite_width(networks.Architecture.two_layer(4), x).ntk, tangent.two_layer_relu(x).total, rtol=1e-10)
    with pytest.raises(ValueError, match=r"defined for parameterization='ntk', got 'standard'"):
        tangent.infinite_width(arch.at_width(8, parameterization="standard"), x)
    with pytest.raises(TypeError, match=r"net must be an ntkbook.networks.Architecture or MLP, got str"):
        tangent.infinite_width("relu", x)


@pytest.mark.parametrize("depth, activation, b_std", [(1, "relu", 0.0), (2, "erf", 0.3), (3, "relu", 0.1)])
def test_standard_parameterisation_structured_equals_autodiff(depth, activation, b_std):
    net = networks.MLP(widths=(24, 17, 20)[:depth], out_dim=2, activation=activation, w_std=1.3, b_std=b_std, parameterization="standard")
    params = net.init(jax.random.key(depth), 5)
    x = jax.random.normal(jax.random.key(1), (9, 5), jnp.float64)
    ref = tangent.empirical_ntk(net.apply, params, x, method="jacobian", full_outputs=True)
    got = tangent.empirical_ntk(net.apply, params, x, method="structured", full_outputs=True)
    assert float(jnp.max(jnp.abs(got - ref)) / jnp.max(jnp.abs(ref))) < 1e-10


def test_standard_ntk_weights_each_layer_by_its_fan_in(key):
    # d f / d W_std = (fan_in / w_std^2)^{1/2} d f / d W_ntk per layer, so the readout part is m times larger:
    # Theta_std = (d / w_0^2) Theta^(w) + (m / w_1^2) Theta^(a) (+ 1 / b_std^2 times each bias part).
    d, m = 3, 40
    kw = dict(widths=(m,), w_std=(1.7, 1.3), b_std=(0.0, 0.5))
    ntk, std = networks.MLP(**kw), networks.MLP(**kw, parameterization="standard")
    p = ntk.init(key, d)
    x = jax.random.normal(jax.random.key(2), (5, d), jnp.float64)
    first = tangent.empirical_ntk(lambda w, x: ntk.apply([w, p[1]], x), p[0], x)
    readout_w = tangent.empirical_ntk(lambda w, x: ntk.apply([p[0], {"w": w, "b": p[1]["b"]}], x), p[1]["w"], x)
    readout_b = tangent.empirical_ntk(lambda b, x: ntk.apply([p[0], {"w": p[1]["w"], "b": b}], x), p[1]["b"], x)
    expected = d / 1.7**2 * first + m / 1.3**2 * readout_w + readout_b / 0.5**2
    np.testing.assert_allclose(tangent.empirical_ntk(std.apply, std.init(key, d), x), expected, rtol=1e-10)


# ------------------------------------------------------------------ independent checks of the recursion


def test_erf_recursion_against_gauss_hermite_quadrature():
    # One step of the recursion by 2-d Gauss-Hermite quadrature, with no closed form involved:
    # (u, v) = C z, z standard normal, C the Cholesky factor of Sigma_1 on the pair.
    x = jnp.array([[0.9, -0.4, 0.3], [0.2, 0.7, -1.1]], jnp.float64)
    arch = networks.Architecture(depth=1, activation="erf", w_std=(1.4, 0.9), b_std=(0.3, 0.2))
    s = 1.4**2 * np.asarray(x @ x.T) / 3 + 0.3**2
    t, w = np.polynomial.hermite_e.hermegauss(80)
    z = np.stack(np.meshgrid(t, t, indexing="ij")).reshape(2, -1)
    weight = np.outer(w, w).ravel() / (2 * np.pi)
    u, v = np.linalg.cholesky(s) @ z
    erf, derf = jax.scipy.special.erf, lambda z: 2 / np.sqrt(np.pi) * np.exp(-z**2)
    nngp = 0.9**2 * np.sum(weight * erf(u) * erf(v)) + 0.2**2
    ntk = nngp + 0.9**2 * np.sum(weight * derf(u) * derf(v)) * s[0, 1]
    k = tangent.infinite_width(arch, x[:1], x[1:])
    np.testing.assert_allclose([float(k.nngp[0, 0]), float(k.ntk[0, 0])], [nngp, ntk], rtol=1e-10)


def test_relu_two_layer_against_angular_quadrature():
    # In R^2, a = r (cos psi, sin psi) with psi uniform and E r^2 = 2, independent: a Riemann sum over psi
    # gives both parts without the arc-cosine formulas.
    psi = np.linspace(0.0, 2 * np.pi, 400_001)[:-1]
    for phi in (0.3, 1.2, 2.5):
        cos_a, cos_b = np.cos(psi), np.cos(psi - phi)
        first = np.cos(phi) * np.mean((cos_a > 0) & (cos_b > 0))
        readout = 2 * np.mean(np.maximum(cos_a, 0) * np.maximum(cos_b, 0))
        x = jnp.array([[1.0, 0.0]]), jnp.array([[np.cos(phi), np.sin(phi)]])
        k = tangent.two_layer_relu(*x)
        np.testing.assert_allclose([float(k.a[0, 0]), float(k.b[0, 0])], [first, readout], atol=1e-5)


# ------------------------------------------------------------------ spectrum on the sphere


def test_harmonic_multiplicities():
    assert [tangent.harmonic_multiplicity(2, w) for w in range(4)] == [1, 2, 2, 2]
    assert [tangent.harmonic_multiplicity(3, w) for w in range(4)] == [1, 3, 5, 7]
    assert [tangent.harmonic_multiplicity(4, w) for w in range(4)] == [1, 4, 9, 16]


def test_harmonic_eigenvalues_on_the_circle_are_the_fourier_coefficients():
    arch = networks.Architecture(depth=2, w_std=2**0.5, b_std=0.5)
    spec = tangent.harmonic_eigenvalues(partial(tangent.infinite_width, arch, get="ntk"), 2, 20)
    n = 4096  # circulant Gram matrix of equally spaced points: its eigenvalues are the DFT of a row
    angle = 2 * np.pi * np.arange(n) / n
    row = np.asarray(tangent.infinite_width(arch, jnp.array([[1.0, 0.0]]), jnp.stack([jnp.cos(angle), jnp.sin(angle)], 1)).ntk[0])
    np.testing.assert_allclose(spec.eigenvalues, np.real(np.fft.fft(row))[:21] / n, rtol=0, atol=1e-7 * spec.eigenvalues[0])


@pytest.mark.parametrize("in_dim", [3, 5])
def test_harmonic_eigenvalues_sum_to_the_trace(in_dim):
    # Mercer: sum_omega N(d, omega) mu_omega = k(x, x); the erf kernel's eigenvalues decay fast enough to check to 1e-9.
    arch = networks.Architecture(depth=2, activation="erf", w_std=1.2, b_std=0.3)
    spec = tangent.harmonic_eigenvalues(partial(tangent.infinite_width, arch, get="ntk"), in_dim, 60)
    assert np.all(spec.eigenvalues > -1e-12)
    diag = float(tangent.infinite_width(arch, jnp.eye(in_dim)[:1]).ntk[0, 0])
    assert abs(np.sum(spec.multiplicities * spec.eigenvalues) - diag) < 1e-9 * diag


def test_gram_eigenvalues_approach_the_sorted_harmonic_eigenvalues():
    arch = networks.Architecture(depth=2, w_std=2**0.5, b_std=0.5)
    kernel = partial(tangent.infinite_width, arch, get="ntk")
    spec = tangent.harmonic_eigenvalues(kernel, 3, 12).sorted()[:20]
    x = data.sphere(jax.random.key(0), 1500, 3)
    gram = np.sort(np.linalg.eigvalsh(np.asarray(kernel(x)) / 1500))[::-1][:20]
    np.testing.assert_allclose(gram, spec, rtol=0.15)


def test_bias_free_two_layer_has_no_odd_degrees_but_bias_and_depth_do():
    def odd(arch):
        mu = tangent.harmonic_eigenvalues(partial(tangent.infinite_width, arch, get="ntk"), 3, 15).eigenvalues
        return np.abs(mu[3::2]) / mu[0]
    assert odd(networks.Architecture.two_layer(3)).max() < 1e-12
    assert odd(networks.Architecture(depth=1, w_std=2**0.5, b_std=0.5)).min() > 1e-6
    assert odd(networks.Architecture(depth=2, w_std=2**0.5)).min() > 1e-6


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: tangent.harmonic_eigenvalues("laplace", 3, 4), TypeError, r"kernel must be a callable kernel\(x1, x2\), got str"),
        (lambda: tangent.harmonic_eigenvalues(kernels_laplace, 1, 4), ValueError, r"in_dim must be an integer >= 2, got 1"),
        (lambda: tangent.harmonic_eigenvalues(kernels_laplace, 3, -1), ValueError, r"max_degree must be an integer >= 0, got -1"),
        (lambda: tangent.harmonic_eigenvalues(kernels_laplace, 3, 8, nodes=8), ValueError, r"nodes must be an integer >= 9, got 8"),
        (lambda: tangent.harmonic_eigenvalues(lambda a, b: a @ b.T[:, :3], 3, 2), ValueError, r"kernel\(x1, x2\) must return shape \(n1, n2\) = \(1, 264\), got \(1, 3\)"),
    ],
)
def test_harmonic_eigenvalues_bad_inputs(call, error, message):
    with pytest.raises(error, match=message):
        call()


def kernels_laplace(x1, x2):
    from ntkbook import kernels

    return kernels.laplace(x1, x2)


def test_ntk_draws_are_the_draws_of_monte_carlo():
    net = networks.MLP(widths=(16, 12), activation="erf", w_std=1.3, b_std=0.2)
    x = jax.random.normal(jax.random.key(4), (5, 3), jnp.float64)
    draws = tangent.ntk_draws(net, jax.random.key(7), x, n_samples=6)
    assert draws.shape == (6, 5, 5)
    mc = tangent.monte_carlo(net, jax.random.key(7), x, n_samples=6)
    np.testing.assert_allclose(draws.mean(0), mc.ntk, rtol=1e-10)
    np.testing.assert_allclose(draws.std(0, ddof=1) / np.sqrt(6), mc.ntk_sem, rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(tangent.ntk_draws(net, jax.random.key(7), x, n_samples=6, batch_size=3), draws, rtol=1e-12)
    fixed = networks.FixedReadoutReLU.create(jax.random.key(1), 8)   # not an MLP: the Jacobian path
    np.testing.assert_allclose(tangent.ntk_draws(fixed, jax.random.key(2), x, n_samples=2).mean(0),
                               tangent.monte_carlo(fixed, jax.random.key(2), x, n_samples=2).ntk, rtol=1e-10)
    with pytest.raises(ValueError, match=r"n_samples must be an integer >= 1, got 0"):
        tangent.ntk_draws(net, jax.random.key(0), x, n_samples=0)
    with pytest.raises(TypeError, match=r"net must have init\(key, in_dim\) and apply\(params, x\), got str"):
        tangent.ntk_draws("mlp", jax.random.key(0), x, n_samples=2)


def test_two_layer_relu_book_names_are_the_seed_fields():
    x = jnp.array([[1.0, 0.5], [-0.3, 2.0], [0.7, -1.1]])
    parts = tangent.two_layer_relu(x)
    np.testing.assert_array_equal(parts.theta_w, parts.a)
    np.testing.assert_array_equal(parts.theta_a, parts.b)
    # the output-weight part is the NNGP kernel E[relu(w.x) relu(w.x')], positive on the diagonal
    assert float(jnp.min(jnp.diag(parts.theta_a))) > 0
