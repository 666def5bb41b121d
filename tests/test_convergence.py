import math
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook import convergence, data, networks, tangent

sys.path.insert(0, str(Path(__file__).parent))
from reference_algorithm1 import loop_step  # noqa: E402


@pytest.fixture
def setting():
    x = data.sphere(jax.random.key(0), 6, 4)
    y = jnp.sin(3 * x[:, 0])
    net = networks.FixedReadoutReLU.create(jax.random.key(1), 40)
    w0 = net.init(jax.random.key(2), 4)["w"]
    return net, w0, x, y


def test_vectorised_algorithm1_matches_the_loop(setting):
    net, w0, x, y = setting
    expected = loop_step(np.asarray(w0), np.asarray(net.readout), np.asarray(x), np.asarray(y), 0.1)
    got = w0 - 0.1 * convergence.gradient(w0, net.readout, x, y)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_gradient_is_autodiff_of_the_loss(setting):
    net, w0, x, y = setting
    loss = lambda w: 0.5 * jnp.sum((y - convergence.predictions(w, net.readout, x)) ** 2)
    np.testing.assert_allclose(convergence.gradient(w0, net.readout, x, y), jax.grad(loss)(w0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(convergence.predictions(w0, net.readout, x), net.apply({"w": w0}, x), rtol=1e-12)


def test_grams_are_the_two_layer_kernels(setting):
    net, w0, x, y = setting
    np.testing.assert_allclose(convergence.gram_continuous(x), tangent.two_layer_relu(x).a, rtol=1e-12)
    np.testing.assert_allclose(convergence.gram_discrete(w0, x), tangent.empirical_ntk(net.apply, {"w": w0}, x), rtol=1e-10)


def test_lambda_positive_unless_inputs_are_parallel():
    x = data.sphere(jax.random.key(3), 8, 3)
    assert convergence.lambda_min(x) > 1e-3
    assert abs(convergence.lambda_min(jnp.concatenate([x, x[:1]]))) < 1e-12


def test_discrete_gram_concentrates(setting):
    _, _, x, _ = setting
    h = convergence.gram_continuous(x)
    errors = [float(jnp.linalg.norm(convergence.gram_discrete(jax.random.normal(jax.random.key(m), (m, 4), jnp.float64), x) - h)) for m in (100, 10_000)]
    assert errors[1] < errors[0] / 4  # about 1/sqrt(100) smaller


def test_claim9_identity_is_exact_at_every_step(setting):
    net, w0, x, y = setting
    eta = 0.05
    first = convergence.train(net, w0, x, y, eta=eta, num_steps=200)
    radius = float(jnp.max(first.max_movement)) * 1.0001  # no neuron leaves this ball
    run = convergence.train(net, w0, x, y, eta=eta, num_steps=200, radius=radius)
    c = run.claim9
    np.testing.assert_allclose(c.lhs, c.rhs, rtol=1e-9)
    np.testing.assert_allclose(c.lhs, run.residual_sq[1:], rtol=1e-12)
    assert bool(jnp.all(c.c1 <= 0)) and bool(jnp.all(c.c4 >= 0))


def test_training_records(setting):
    net, w0, x, y = setting
    run = convergence.train(net, w0, x, y, eta=0.05, num_steps=300, record_every=30)
    assert run.steps.tolist() == list(range(0, 301, 30))
    assert float(run.max_movement[0]) == 0.0 and int(run.flipped[0]) == 0
    assert float(run.residual_sq[-1]) < float(run.residual_sq[0])
    np.testing.assert_allclose(run.lambda_h[0], jnp.linalg.eigvalsh(convergence.gram_discrete(w0, x))[0], rtol=1e-10)
    assert run.claim9 is None and run.w.shape == w0.shape


def test_wide_network_obeys_theorem7():
    x = data.sphere(jax.random.key(4), 5, 3)
    y = jnp.array([1.0, -1.0, 0.5, 0.0, -0.5])
    lam = convergence.lambda_min(x)
    net = networks.FixedReadoutReLU.create(jax.random.key(5), 4000)
    w0 = net.init(jax.random.key(6), 3)["w"]
    eta = convergence.step_size(5, lam)
    run = convergence.train(net, w0, x, y, eta=eta, num_steps=20_000, record_every=100)
    bound = convergence.theorem7_bound(run.steps, eta, lam, float(run.residual_sq[0]))
    assert bool(jnp.all(run.residual_sq <= bound * (1 + 1e-9)))


def test_bounds_have_their_stated_forms():
    assert math.isclose(convergence.anticoncentration_bound(0.1), 0.2 / math.sqrt(2 * math.pi))
    assert math.isclose(convergence.step_size(10, 0.2), 0.2 / 400)
    assert math.isclose(convergence.radius(10, 0.2), 0.2 / 640)
    assert math.isclose(convergence.d_discrete(4, 100, 0.5, 3.0), 4 * convergence.d_cts(4, 100, 0.5, 3.0))
    assert math.isclose(convergence.d_cts(4, 100, 0.5, 3.0), 2 * 3.0 / (10 * 0.5))
    assert math.isclose(convergence.lemma2_bound(5, 0.01), 0.1)
    assert convergence.lemma2_probability(10, 100, 0.01) < 0 < convergence.lemma2_probability(10, 10**5, 0.01)
    assert convergence.width_du2019(10, 0.1, 0.1) == pytest.approx(10**6 / (1e-4 * 1e-3))
    assert convergence.width_song_yang2019(10, 0.1, 0.1) == pytest.approx(10**4 * math.log(100) / 1e-4)
    assert convergence.width_seed000(7) == 343.0
    np.testing.assert_allclose(convergence.theorem7_bound(jnp.arange(3), 0.1, 0.5, 2.0), 2.0 * (1 - 0.025) ** jnp.arange(3))


def test_anticoncentration_against_sampling():
    z = jax.random.normal(jax.random.key(7), (400_000,))
    for r in (0.01, 0.1, 0.5):
        assert float(jnp.mean(jnp.abs(z) < r)) <= convergence.anticoncentration_bound(r) + 3e-3


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda n, w, x, y: convergence.train(n, w, 2 * x, y, eta=0.1, num_steps=5), ValueError, r"x must have unit-norm rows"),
        (lambda n, w, x, y: convergence.train(n, w, x, y[:3], eta=0.1, num_steps=5), ValueError, r"y must have 6 rows"),
        (lambda n, w, x, y: convergence.train(n, w[:5], x, y, eta=0.1, num_steps=5), ValueError, r"w0 must have shape \(m, d\) = \(40, 4\), got \(5, 4\)"),
        (lambda n, w, x, y: convergence.train(n, w, x, y, eta=-0.1, num_steps=5), ValueError, r"eta must be > 0.0"),
        (lambda n, w, x, y: convergence.train(n, w, x, y, eta=0.1, num_steps=5, record_every=2), ValueError, r"num_steps must be a multiple of record_every"),
        (lambda n, w, x, y: convergence.train(n, w, x, y, eta=1e6, num_steps=50), ValueError, r"gradient descent diverged with eta=1e\+06"),
        (lambda n, w, x, y: convergence.width_du2019(10, 0.1, 1.5), ValueError, r"delta must be a failure probability in \(0, 1\), got 1.5"),
        (lambda n, w, x, y: convergence.step_size(0, 0.1), ValueError, r"n must be an integer >= 1, got 0"),
        (lambda n, w, x, y: convergence.lemma1_width(5, 0.0, 0.1), ValueError, r"lam must be > 0.0, got 0.0"),
    ],
)
def test_bad_inputs(setting, call, error, message):
    net, w0, x, y = setting
    with pytest.raises(error, match=message):
        call(net, w0, x, y)
