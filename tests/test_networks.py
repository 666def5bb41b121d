import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook import networks


def test_mlp_shapes_and_parameter_layout(key):
    net = networks.MLP(widths=(8, 6), out_dim=3, w_std=1.5, b_std=0.1)
    params = net.init(key, 4)
    assert [p["w"].shape for p in params] == [(4, 8), (8, 6), (6, 3)]
    assert [p["b"].shape for p in params] == [(8,), (6,), (3,)]
    assert net.apply(params, jnp.ones((5, 4))).shape == (5, 3)
    assert networks.num_params(params) == 4 * 8 + 8 + 8 * 6 + 6 + 6 * 3 + 3


def test_mlp_matches_the_layer_formula(key):
    net = networks.MLP(widths=(5,), out_dim=2, activation="erf", w_std=(2.0, 0.7), b_std=(0.3, 0.2))
    params = net.init(key, 3)
    x = jax.random.normal(jax.random.key(9), (4, 3), jnp.float64)
    h = 2.0 / math.sqrt(3) * x @ params[0]["w"] + 0.3 * params[0]["b"]
    out = 0.7 / math.sqrt(5) * jax.scipy.special.erf(h) @ params[1]["w"] + 0.2 * params[1]["b"]
    np.testing.assert_allclose(net.apply(params, x), out, rtol=1e-12)


def test_no_bias_parameters_when_b_std_is_zero(key):
    params = networks.MLP(widths=(4,), b_std=0.0).init(key, 2)
    assert all("b" not in p for p in params)


def test_custom_activation_and_jit(key):
    net = networks.MLP(widths=(16,), activation=jnp.tanh)
    params = net.init(key, 3)
    x = jnp.ones((2, 3))
    np.testing.assert_allclose(jax.jit(net.apply)(params, x), net.apply(params, x), rtol=1e-6)


def test_apply_with_a_constant_input_inside_a_trace(key):
    # a concrete x closed over by a traced function must not trip the input checks
    net = networks.two_layer(8, 3)
    x = jnp.ones((1, 3))
    outs = jax.lax.map(lambda k: net.apply(net.init(k, 3), x)[0, 0], jax.random.split(key, 4))
    assert outs.shape == (4,)


def test_two_layer_is_seed_001_model(key):
    d, m = 3, 50
    net = networks.two_layer(m, d)
    params = net.init(key, d)
    a, b = params[0]["w"], params[1]["w"][:, 0]
    x = jax.random.normal(jax.random.key(4), (6, d), jnp.float64)
    np.testing.assert_allclose(net.apply(params, x)[:, 0], jax.nn.relu(x @ a) @ b / math.sqrt(m), rtol=1e-12)


def test_fixed_readout_is_seed_004_model(key):
    net = networks.FixedReadoutReLU.create(key, 40)
    assert set(np.unique(np.asarray(net.readout))) <= {-1.0, 1.0}
    params = net.init(jax.random.key(1), 3)
    x = jax.random.normal(jax.random.key(2), (5, 3), jnp.float64)
    expected = jax.nn.relu(x @ params["w"].T) @ net.readout / math.sqrt(40)
    np.testing.assert_allclose(net.apply(params, x), expected, rtol=1e-12)


def test_output_variance_does_not_depend_on_width(key):
    # Var f(x) = E[b^2] E[relu(a.x)^2] = |x|^2 / 2 for seed 001's network, at every width.
    x = jnp.array([[0.6, -0.8, 1.0]])
    for m in (4, 256):
        net = networks.two_layer(m, 3)
        outs = jax.vmap(lambda k: net.apply(net.init(k, 3), x)[0, 0])(jax.random.split(key, 4000))
        assert abs(float(jnp.var(outs)) - 1.0) < 0.1


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: networks.MLP(widths=(0,)), ValueError, r"width must be an integer >= 1, got 0"),
        (lambda: networks.MLP(widths=8), TypeError, r"widths must be a tuple of hidden-layer widths, got 8"),
        (lambda: networks.MLP(widths=(4,), activation="gelu"), ValueError, r"activation must be one of \['erf', 'relu'\] or a callable, got 'gelu'"),
        (lambda: networks.MLP(widths=(4,), activation=3), TypeError, r"activation must be a name or a callable, got int"),
        (lambda: networks.MLP(widths=(4,), w_std=(1.0,)), ValueError, r"w_std must be a number or a tuple of 2 numbers"),
        (lambda: networks.MLP(widths=(4,), w_std=0.0), ValueError, r"w_std must be > 0.0, got 0.0"),
        (lambda: networks.MLP(widths=(4,), b_std=-0.1), ValueError, r"b_std must be >= 0.0, got -0.1"),
        (lambda: networks.MLP(widths=(4,), out_dim=0), ValueError, r"out_dim must be an integer >= 1, got 0"),
        (lambda: networks.two_layer(0, 3), ValueError, r"width must be an integer >= 1, got 0"),
        (lambda: networks.FixedReadoutReLU.create(jax.random.key(0), 0), ValueError, r"width must be an integer >= 1, got 0"),
    ],
)
def test_bad_architectures(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_bad_apply_inputs(key):
    net = networks.MLP(widths=(4,))
    params = net.init(key, 3)
    with pytest.raises(ValueError, match=r"x must have 3 features \(the in_dim of params\), got shape \(2, 5\)"):
        net.apply(params, jnp.ones((2, 5)))
    with pytest.raises(ValueError, match=r"x must be finite"):
        net.apply(params, jnp.array([[1.0, jnp.inf, 0.0]]))
    with pytest.raises(ValueError, match=r"params must hold 2 layers"):
        net.apply(params[:1], jnp.ones((2, 3)))
    with pytest.raises(ValueError, match=r"in_dim must be an integer >= 1, got 0"):
        net.init(key, 0)


def test_mean_field_readout_is_scaled_by_one_over_width(key):
    ntk = networks.MLP(widths=(50,), out_dim=2, w_std=1.3, b_std=(0.2, 0.0))
    mf = networks.MLP(widths=(50,), out_dim=2, w_std=1.3, b_std=(0.2, 0.0), parameterization="mean_field")
    params = ntk.init(key, 3)
    x = jax.random.normal(jax.random.key(1), (4, 3), jnp.float64)
    hidden = jax.nn.relu(1.3 / math.sqrt(3) * x @ params[0]["w"] + 0.2 * params[0]["b"])
    np.testing.assert_allclose(mf.apply(params, x), 1.3 / 50 * hidden @ params[1]["w"], rtol=1e-12)
    np.testing.assert_allclose(ntk.apply(params, x), 1.3 / math.sqrt(50) * hidden @ params[1]["w"], rtol=1e-12)


def test_unknown_parameterization_and_mean_field_readout_bias():
    with pytest.raises(ValueError, match=r"parameterization must be 'ntk', 'standard' or 'mean_field', got 'mup'"):
        networks.MLP(widths=(4,), parameterization="mup")
    with pytest.raises(ValueError, match=r"parameterization='mean_field' needs no readout bias \(b_std\[-1\] = 0\)"):
        networks.MLP(widths=(4,), b_std=0.1, parameterization="mean_field")


# ------------------------------------------------------------------ standard parameterisation


def test_standard_parameterisation_computes_the_same_function(key):
    # Same key, same function at initialisation: only where the scale sits differs (Lee et al. 2019).
    kw = dict(widths=(30, 20), out_dim=2, activation="erf", w_std=(1.7, 1.2, 0.8), b_std=(0.3, 0.0, 0.2))
    ntk, std = networks.MLP(**kw), networks.MLP(**kw, parameterization="standard")
    p_ntk, p_std = ntk.init(key, 4), std.init(key, 4)
    x = jax.random.normal(jax.random.key(3), (6, 4), jnp.float64)
    np.testing.assert_allclose(std.apply(p_std, x), ntk.apply(p_ntk, x), rtol=1e-12, atol=1e-12)
    for layer, fan_in in enumerate((4, 30, 20)):
        np.testing.assert_allclose(p_std[layer]["w"], kw["w_std"][layer] / math.sqrt(fan_in) * p_ntk[layer]["w"], rtol=1e-12)
        assert std.layer_scale(layer, fan_in) == 1.0
    np.testing.assert_allclose(p_std[0]["b"], 0.3 * p_ntk[0]["b"], rtol=1e-12)
    assert "b" not in p_std[1] and std.bias_scale(2) == 1.0 and ntk.bias_scale(2) == 0.2


def test_standard_weights_have_variance_w_std_squared_over_fan_in(key):
    params = networks.MLP(widths=(400,), w_std=2.0, b_std=0.5, parameterization="standard").init(key, 100)
    assert abs(float(jnp.var(params[0]["w"])) * 100 / 4.0 - 1) < 0.02   # 40,000 entries: 1% standard error
    assert abs(float(jnp.var(params[1]["w"])) * 400 / 4.0 - 1) < 0.3    # 400 entries
    assert abs(float(jnp.var(params[0]["b"])) / 0.25 - 1) < 0.3


# ------------------------------------------------------------------ architectures without widths


def test_architecture_round_trip_and_two_layer():
    arch = networks.Architecture(depth=3, activation="erf", w_std=1.5, b_std=(0.1, 0.2, 0.3, 0.0))
    assert arch.w_std == (1.5,) * 4 and arch.b_std == (0.1, 0.2, 0.3, 0.0)
    net = arch.at_width(64, out_dim=2)
    assert net.widths == (64, 64, 64) and net.out_dim == 2 and net.architecture == arch
    assert arch.at_width((5, 6, 7)).widths == (5, 6, 7)
    assert arch.at_width(8, parameterization="standard").parameterization == "standard"
    assert networks.two_layer(50, 3) == networks.Architecture.two_layer(3).at_width(50)
    assert networks.two_layer(50, 3).architecture == networks.Architecture(depth=1, w_std=(math.sqrt(3), 1.0), b_std=0.0)
    assert networks.Architecture(depth=0).at_width(()).widths == ()


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: networks.Architecture(depth=-1), ValueError, r"depth must be an integer >= 0, got -1"),
        (lambda: networks.Architecture(depth=2.0), TypeError, r"depth must be an integer, got float 2.0"),
        (lambda: networks.Architecture(depth=2, w_std=(1.0, 1.0)), ValueError, r"w_std must be a number or a tuple of 3 numbers"),
        (lambda: networks.Architecture(activation="gelu"), ValueError, r"activation must be one of \['erf', 'relu'\] or a callable, got 'gelu'"),
        (lambda: networks.Architecture(depth=2).at_width((4,)), ValueError, r"width must be one number or a tuple of 2 widths \(one per hidden layer\), got \(4,\)"),
        (lambda: networks.Architecture(depth=2).at_width(0), ValueError, r"width must be an integer >= 1, got 0"),
        (lambda: networks.Architecture.two_layer(0), ValueError, r"in_dim must be an integer >= 1, got 0"),
    ],
)
def test_bad_architecture_descriptions(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_outputs_at_init_are_the_outputs_of_independent_draws(key):
    net = networks.MLP(widths=(7,), out_dim=2, activation="erf", b_std=0.1)
    x = jax.random.normal(jax.random.key(3), (4, 3), jnp.float64)
    outs = networks.outputs_at_init(net, key, x, n_samples=5, batch_size=2)
    assert outs.shape == (5, 4, 2)
    for i, k in enumerate(jax.random.split(key, 5)):
        np.testing.assert_allclose(outs[i], net.apply(net.init(k, 3), x), rtol=1e-12)
    scalar = networks.FixedReadoutReLU.create(key, 6)      # (n,) outputs come back as (n, 1)
    assert networks.outputs_at_init(scalar, key, x, n_samples=3).shape == (3, 4, 1)
    with pytest.raises(ValueError, match=r"n_samples must be an integer >= 1, got 0"):
        networks.outputs_at_init(net, key, x, n_samples=0)
    with pytest.raises(TypeError, match=r"net must have init\(key, in_dim\) and apply\(params, x\), got int"):
        networks.outputs_at_init(3, key, x, n_samples=2)
