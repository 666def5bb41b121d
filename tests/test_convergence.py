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


def _one_active_neuron():
    # n = 1: lambda_0 = 1/2; one of four neurons active, so H = 1/4 = lambda_0 / 2 throughout.
    x = jnp.array([[1.0, 0.0]])
    w0 = jnp.array([[0.3, 0.2], [-1.0, 0.5], [-0.7, -1.0], [-2.0, 1.0]])
    net = networks.FixedReadoutReLU(readout=jnp.array([1.0, 1.0, -1.0, -1.0]))
    return net, w0, x, jnp.array([2.0])


def test_lemma5_radius_is_twice_the_notes_and_attained():
    assert math.isclose(convergence.lemma5_radius(4, 100, 0.5, 3.0), 2 * convergence.d_cts(4, 100, 0.5, 3.0))
    net, w0, x, y = _one_active_neuron()
    lam = convergence.lambda_min(x)
    run = convergence.train(net, w0, x, y, eta=1e-3, num_steps=40_000, record_every=1000)
    assert np.allclose(run.lambda_h, lam / 2)  # Lemma 5's hypothesis, with equality
    e0 = float(jnp.sqrt(run.residual_sq[0]))
    moved = float(run.max_movement[-1])
    assert moved <= convergence.lemma5_radius(1, 4, lam, e0)
    assert moved > 1.9 * convergence.d_cts(1, 4, lam, e0)  # the notes' radius is exceeded


def test_lemma6_radius_keeps_lambda_min_above_half():
    x = data.sphere(jax.random.key(8), 5, 6)
    lam = convergence.lambda_min(x)
    assert math.isclose(convergence.lemma6_radius(5, lam), lam / 40)
    assert math.isclose(convergence.lemma6_radius(5, lam, 3.0), lam / 60)
    w0 = jax.random.normal(jax.random.key(9), (20_000, 6))
    assert float(jnp.linalg.eigvalsh(convergence.gram_discrete(w0, x))[0]) >= 0.75 * lam  # Lemma 1 at this width
    rad = convergence.lemma6_radius(5, lam, 3.0)
    for k in jax.random.split(jax.random.key(10), 3):
        step = jax.random.normal(k, w0.shape)
        w = w0 + rad * step / jnp.linalg.norm(step, axis=1, keepdims=True)
        assert float(jnp.linalg.eigvalsh(convergence.gram_discrete(w, x))[0]) >= lam / 2
    moved = convergence._pushed(w0, x, rad, 1.0)
    assert float(jnp.linalg.eigvalsh(convergence.gram_discrete(moved, x))[0]) >= lam / 2


def test_bernstein_exponent():
    assert convergence.bernstein_exponent(3.0) == pytest.approx(0.4776, abs=1e-3)
    assert convergence.bernstein_exponent(2.0) == pytest.approx(0.0472, abs=1e-3)
    assert convergence.bernstein_exponent(2.0) < convergence.bernstein_exponent(3.0)
    with pytest.raises(ValueError, match="constant must be > 1.59"):
        convergence.bernstein_exponent(1.5)


def test_lemma2_worst_case_brackets_the_moves(setting):
    _, w0, x, _ = setting
    w0 = jax.random.normal(jax.random.key(11), (2000, 4))
    rad = 0.05
    worst = convergence.lemma2_worst_case(w0, x, rad)
    for sign in (1.0, -1.0):
        moved = convergence._pushed(w0, x, rad, sign)
        assert float(jnp.max(jnp.linalg.norm(moved - w0, axis=1))) <= rad * (1 + 1e-9)
    h0 = convergence.gram_discrete(w0, x)
    randoms = []
    for k in jax.random.split(jax.random.key(12), 20):
        step = jax.random.normal(k, w0.shape)
        w = w0 + rad * step / jnp.linalg.norm(step, axis=1, keepdims=True)
        randoms.append(float(jnp.linalg.norm(convergence.gram_discrete(w, x) - h0)))
    assert max(randoms) < worst.adversarial <= worst.upper
    assert 1.0 < worst.max_share < 3.0  # about 4 / sqrt(2 pi) = 1.6 per entry


def test_claim_bounds_close_at_the_proofs_radius():
    n, lam = 7, 0.3
    eta, rad = convergence.step_size(n, lam), convergence.radius(n, lam)
    b = convergence.claim_bounds(n, lam, eta, rad)
    assert b.c1 == pytest.approx(-eta * lam) and b.c2 == b.c3 == pytest.approx(8 * eta * n * rad)
    assert b.c2 + b.c3 + b.c4 == pytest.approx(eta * lam / 2)  # the budget exactly
    bigger = convergence.claim_bounds(n, lam, eta, 2 * rad)
    assert bigger.c2 + bigger.c3 + bigger.c4 > eta * lam / 2


def test_several_radii_in_one_run_and_flip_free_steps(setting):
    net, w0, x, y = setting
    radii = [0.01, 0.5]
    run = convergence.train(net, w0, x, y, eta=0.05, num_steps=200, radius=radii)
    assert run.claim9.c2.shape == (200, 2)
    single = convergence.train(net, w0, x, y, eta=0.05, num_steps=200, radius=0.5)
    np.testing.assert_allclose(run.claim9.c2[:, 1], single.claim9.c2, rtol=1e-12)
    c = single.claim9
    still = np.asarray(c.flips) == 0
    assert still.any()
    scale = np.asarray(jnp.abs(c.c2)) + 1e-300
    assert np.all(np.abs(np.asarray(c.c2 + c.c3))[still] <= 1e-10 * scale[still] + 1e-15)
    with pytest.raises(ValueError, match="radius must be > 0.0"):
        convergence.train(net, w0, x, y, eta=0.05, num_steps=10, radius=[0.1, -1.0])


def test_width_theorem7_and_lemma1_constants():
    n, lam, res, delta = 6, 0.2854, 1.99, 0.1
    assert convergence.width_theorem7(n, lam, res, delta) == pytest.approx(65536 * n**3 * res**2 / lam**4)
    assert 8e9 < convergence.width_theorem7(n, lam, res, delta) < 9e9
    assert convergence.lemma1_width_hoeffding(n, lam, delta) == pytest.approx(32 * n**2 * math.log(2 * n**2 / delta) / lam**2)
    assert convergence.width_theorem7(1, 0.5, 1e-6, delta) == pytest.approx(10 * math.log(3 / delta) * 64 / 0.5)  # the probability term


def test_smallest_width_finds_a_fitting_width():
    x = data.sphere(jax.random.key(13), 12, 3)
    y = jnp.sign(jnp.sin(5 * x[:, 0]) + 0.1)
    eta = 1.0 / float(jnp.linalg.eigvalsh(convergence.gram_continuous(x))[-1])
    keys = jax.random.split(jax.random.key(14), 2)
    grid = [2, 3, 4, 6, 8, 12, 16, 24, 32, 64]
    found = convergence.smallest_width(keys, x, y, grid, eta=eta)
    assert found.width.shape == (2,) and set(found.width.tolist()) <= set(grid) and found.capped == 0 and found.dead >= 0
    assert np.all(found.width * 3 >= 12 / 2)  # cannot interpolate with far fewer weights than points
    with pytest.raises(ValueError, match="largest width 2 does not fit"):
        convergence.smallest_width(keys, x, y, [1, 2], eta=eta)
    with pytest.raises(ValueError, match="widths must be an increasing"):
        convergence.smallest_width(keys, x, y, [4, 2], eta=eta)


def test_flip_probability_is_the_mean_of_the_counts(setting):
    _, _, x, _ = setting
    rad = 0.2
    p = convergence.flip_probability(x, rad)
    assert np.allclose(p, p.T) and np.allclose(np.diag(p), math.erf(rad / math.sqrt(2)), rtol=1e-12)
    off = p[~np.eye(len(p), dtype=bool)]
    assert np.all(off > np.diag(p)[0]) and np.all(off <= convergence.anticoncentration_bound(2 * rad))
    w = jax.random.normal(jax.random.key(13), (200_000, x.shape[1]))
    counts = convergence.lemma2_worst_case(w, x, rad).counts
    sd = np.sqrt(p * (1 - p) / w.shape[0])
    assert np.all(np.abs(counts / w.shape[0] - p) < 5 * sd)  # binomial(m, p_ij)
    # independent inputs (orthogonal): the union is 2q - q^2 exactly
    q = math.erf(rad / math.sqrt(2))
    assert convergence.flip_probability(jnp.eye(3), rad)[0, 1] == pytest.approx(2 * q - q**2, rel=1e-10)
    with pytest.raises(ValueError, match="radius"):
        convergence.flip_probability(x, -1.0)


def test_fact4_is_exact_between_flips(setting):
    net, w0, x, y = setting
    run = convergence.train(net, w0, x, y, eta=0.05, num_steps=200, radius=0.5)
    c = run.claim9
    still = np.asarray(c.flips) == 0
    assert still.any() and (~still).any()
    assert np.all(np.asarray(c.fact4)[still] < 1e-10) and np.all(np.asarray(c.fact4)[~still] > 1e-12)
    u0 = convergence.predictions(w0, net.readout, x)
    w1 = w0 - 0.05 * convergence.gradient(w0, net.readout, x, y)
    descent = 0.05 * convergence.gram_discrete(w0, x) @ (y - u0)
    direct = jnp.linalg.norm(convergence.predictions(w1, net.readout, x) - u0 - descent) / jnp.linalg.norm(descent)
    assert float(c.fact4[0]) == pytest.approx(float(direct), rel=1e-8, abs=1e-14)


def test_flip_history_matches_a_python_loop_of_steps(setting):
    net, w0, x, y = setting
    got = np.asarray(convergence.flip_history(net, w0, x, y, eta=2.0, num_steps=5))
    w, expected = w0, []
    for _ in range(5):
        w_next = w - 2.0 * convergence.gradient(w, net.readout, x, y)
        expected.append(np.asarray((x @ w_next.T >= 0) != (x @ w.T >= 0)))
        w = w_next
    assert got.shape == (5, 6, 40) and got.dtype == bool and got.sum() > 0
    np.testing.assert_array_equal(got, np.array(expected))
    # a tiny step flips nothing, and step-to-step flips differ from train's flips since initialisation
    assert not np.any(convergence.flip_history(net, w0, x, y, eta=1e-9, num_steps=3))


def test_flip_history_rejects_bad_inputs(setting):
    net, w0, x, y = setting
    with pytest.raises(ValueError, match=r"num_steps must be an integer >= 1, got 0"):
        convergence.flip_history(net, w0, x, y, eta=0.1, num_steps=0)
    with pytest.raises(ValueError, match=r"w must have shape \(m, d\)"):
        convergence.flip_history(net, w0[:, :3], x, y, eta=0.1, num_steps=2)
    with pytest.raises(ValueError, match="eta"):
        convergence.flip_history(net, w0, x, y, eta=-1.0, num_steps=2)
