import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook import blocks


def linear(a, b):
    return a @ (a if b is None else b).T


def pair_of_kernels(a, b):
    """A pytree in, a pytree out: leaves (ba, bb) and (ba, bb, 2)."""
    b = a if b is None else b
    dot = a["x"] @ b["x"].T
    return {"dot": dot, "both": jnp.stack([dot, a["s"][:, None] * b["s"][None, :]], -1)}


def diagonal_marker(a, b):
    # 1 where the tile was evaluated as k(a, None): must be exactly the diagonal tiles
    return jnp.full((a.shape[0], a.shape[0] if b is None else b.shape[0]), 1.0 if b is None else 0.0)


@pytest.mark.parametrize("block_size", [1, 7, 64, 1000])
def test_tiles_reassemble_the_full_matrix(block_size):
    x = jax.random.normal(jax.random.key(0), (101, 5))
    y = jax.random.normal(jax.random.key(1), (37, 5))
    np.testing.assert_allclose(blocks.kernel_matrix(linear, x, block_size=block_size), x @ x.T, rtol=1e-12)
    np.testing.assert_allclose(blocks.kernel_matrix(linear, x, y, block_size=block_size), x @ y.T, rtol=1e-12)
    np.testing.assert_allclose(blocks.kernel_matrix(linear, y, x, block_size=block_size), y @ x.T, rtol=1e-12)


def test_pytree_inputs_and_outputs():
    x = {"x": jax.random.normal(jax.random.key(2), (23, 3)), "s": jnp.arange(23.0)}
    out = blocks.kernel_matrix(pair_of_kernels, x, block_size=5)
    assert out["dot"].shape == (23, 23) and out["both"].shape == (23, 23, 2)
    np.testing.assert_allclose(out["both"][..., 1], jnp.outer(x["s"], x["s"]))
    np.testing.assert_allclose(out["dot"], x["x"] @ x["x"].T, rtol=1e-12)


def test_diagonal_tiles_are_evaluated_symmetrically():
    x = jnp.ones((10, 2))
    marks = blocks.kernel_matrix(diagonal_marker, x, block_size=4)
    # three tiles of 4 starting at 0, 4 and 6 (the last one shifted back instead of padded);
    # the diagonal tiles are written last, so they own every entry they cover
    expected = np.zeros((10, 10))
    for start in (0, 4, 6):
        expected[start : start + 4, start : start + 4] = 1.0
    np.testing.assert_array_equal(marks, expected)
    assert float(jnp.sum(blocks.kernel_matrix(diagonal_marker, x, x, block_size=4))) == 0.0


def test_inputs_placed_traced_or_already_on_the_device():
    """Arrays already on the one device are passed as they are; tracers (under vmap or jit) and
    NumPy arrays are placed; all give the same matrix, one tile or several."""
    x = jax.random.normal(jax.random.key(3), (12, 4))
    scales = jnp.array([1.0, -2.0])
    for block_size in (12, 5):
        call = lambda z: blocks.kernel_matrix(linear, z, block_size=block_size)
        expected = np.asarray(x @ x.T)
        np.testing.assert_allclose(call(jax.device_put(x, jax.devices()[0])), expected, rtol=1e-12)
        np.testing.assert_allclose(call(np.asarray(x)), expected, rtol=1e-12)
        np.testing.assert_allclose(jax.jit(call)(x), expected, rtol=1e-12)
        batched = jax.vmap(lambda s: call(s * x))(scales)
        np.testing.assert_allclose(batched, scales[:, None, None] ** 2 * expected, rtol=1e-12)


def test_extra_arguments_are_passed_to_every_tile():
    def scaled(a, b, w):
        return linear(a, b) * w

    x = jax.random.normal(jax.random.key(3), (9, 2))
    np.testing.assert_allclose(blocks.kernel_matrix(scaled, x, args=(jnp.float64(3.0),), block_size=4), 3 * x @ x.T)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: blocks.kernel_matrix(3, jnp.ones((2, 2))), TypeError, r"kernel_fn must be callable"),
        (lambda: blocks.kernel_matrix(linear, jnp.ones((2, 2)), block_size=0), ValueError, r"block_size must be an integer >= 1, got 0"),
        (lambda: blocks.kernel_matrix(linear, jnp.ones((0, 2))), ValueError, r"x1 must hold at least one example, got 0"),
        (lambda: blocks.kernel_matrix(linear, {"a": jnp.ones((2, 2)), "b": jnp.ones(3)}), ValueError, r"same leading \(example\) axis, got leading sizes \[2, 3\]"),
        (lambda: blocks.kernel_matrix(linear, jnp.ones((2, 2)), devices=[]), ValueError, r"devices must name at least one device"),
    ],
)
def test_bad_inputs(call, error, message):
    with pytest.raises(error, match=message):
        call()


# The same kernels on one device here and on four (virtual CPU) devices in a subprocess,
# which must set XLA_FLAGS before JAX starts.
MULTI_DEVICE = textwrap.dedent(
    """
    import sys, jax, jax.numpy as jnp, numpy as np
    from ntkbook import networks, tangent
    net = networks.MLP(widths=(64, 64), out_dim=2, activation="relu", w_std=1.4, b_std=0.1)
    params = net.init(jax.random.key(0), 6)
    x = jax.random.normal(jax.random.key(1), (45, 6))
    y = jax.random.normal(jax.random.key(2), (30, 6))
    even = tangent.infinite_width(net, x[:44], get="ntk", block_size=11)  # 4 row blocks
    out = {
        "devices": np.array(len(jax.devices())),
        "shards": np.array(len(even.sharding.device_set)),
        "infinite": tangent.infinite_width(net, x, block_size=8).ntk,
        "infinite_xy": tangent.infinite_width(net, x, y, get="nngp", block_size=8),
        "structured": tangent.empirical_ntk(net.apply, params, x, method="structured", batch_size=8),
        "products": tangent.empirical_ntk(net.apply, params, x, y, method="products", batch_size=8, full_outputs=True),
    }
    np.savez(sys.argv[1], **{k: np.asarray(v) for k, v in out.items()})
    """
)


def run_on(devices, path):
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    env.pop("JAX_ENABLE_X64", None)
    proc = subprocess.run([sys.executable, "-c", MULTI_DEVICE, str(path)], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return np.load(path)


def test_one_and_four_devices_agree(tmp_path):
    one, four = run_on(1, tmp_path / "one.npz"), run_on(4, tmp_path / "four.npz")
    assert int(one["devices"]) == 1 and int(four["devices"]) == 4
    assert int(four["shards"]) == 4, "the result must be spread over all four devices"
    for name in ("infinite", "infinite_xy", "structured", "products"):
        assert one[name].dtype == np.float32
        scale = np.max(np.abs(one[name]))
        assert np.max(np.abs(one[name] - four[name])) <= 1e-6 * scale, name


def packed(a, b):
    """Two outputs in one complex tile: <a, b> + i |a|^2 (rows)."""
    dot = a @ (a if b is None else b).T
    return jax.lax.complex(dot, jnp.broadcast_to(jnp.sum(a**2, 1)[:, None], dot.shape))


def split(tile):
    return {"re": jnp.real(tile), "im": jnp.imag(tile)}


@pytest.mark.parametrize("block_size", [4, 8, 100])
def test_unpack_splits_every_tile_and_keeps_nans(block_size):
    x = jax.random.normal(jax.random.key(4), (23, 3)).at[5, 0].set(jnp.nan)
    y = jax.random.normal(jax.random.key(5), (9, 3))
    for b in (None, y):
        out = blocks.kernel_matrix(packed, x, b, block_size=block_size, unpack=split)
        expected = split(packed(x, b))
        assert out["re"].dtype == x.dtype and out["re"].shape == expected["re"].shape
        np.testing.assert_allclose(out["re"], expected["re"], rtol=1e-12)  # NaN rows and columns stay NaN
        np.testing.assert_allclose(out["im"], expected["im"], rtol=1e-12)
        assert np.isnan(np.asarray(out["re"])[5]).all()
