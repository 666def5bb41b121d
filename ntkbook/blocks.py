"""Kernel matrices in blocks, spread over every device (chapters 2 to 5).

A kernel matrix ``K[i, j] = k(x1_i, x2_j)`` of n1 x n2 entries is cut into
row blocks of ``block_size`` inputs. The row blocks are sharded over a 1-D
``jax.sharding.Mesh`` of the given devices (all of ``jax.devices()`` by
default: several GPUs, a TPU host, or CPU devices made with
``XLA_FLAGS=--xla_force_host_platform_device_count=N``); each device walks its
row blocks and, inside each, the column blocks, so only one block x block tile
of temporaries is alive per device. The result stays sharded by rows when n1
is a multiple of the number of devices; otherwise JAX cannot split it evenly
and it comes back replicated.

The inputs need not be plain arrays: ``x1`` and ``x2`` may be pytrees of
per-example arrays (leading axis = example), for instance the per-layer
features of :func:`ntkbook.tangent.empirical_ntk`'s structured path. Outputs
may be pytrees too, each leaf of shape (n1, n2, ...).

Block sizes and the order of operations inside a tile do not depend on the
number of devices, so 1 and N devices give the same numbers.
"""

from __future__ import annotations

import functools
import math
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from . import _checks

__all__ = ["kernel_matrix"]

_AXIS = "rows"


def _num_examples(tree, name: str) -> int:
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves:
        raise ValueError(f"{name} must hold at least one array")
    sizes = {int(jnp.shape(leaf)[0]) if jnp.ndim(leaf) else -1 for leaf in leaves}
    if len(sizes) != 1 or -1 in sizes:
        raise ValueError(f"every array in {name} must have the same leading (example) axis, got leading sizes {sorted(sizes)}")
    n = sizes.pop()
    if n == 0:
        raise ValueError(f"{name} must hold at least one example, got 0")
    return n


def _blocks(tree, n: int, block: int, num_blocks: int):
    """(n, ...) leaves -> (num_blocks, block, ...); padding repeats the first example so
    that padded rows stay finite (they are cut off afterwards)."""

    def split(leaf):
        leaf = jnp.asarray(leaf)
        pad = num_blocks * block - n
        if pad:
            leaf = jnp.concatenate([leaf, jnp.broadcast_to(leaf[:1], (pad,) + leaf.shape[1:])])
        return leaf.reshape((num_blocks, block) + leaf.shape[1:])

    return jax.tree_util.tree_map(split, tree)


@functools.lru_cache(maxsize=64)
def _program(kernel_fn: Callable, symmetric: bool, devices: tuple, num_args: int):
    """Jitted, sharded evaluation of all tiles; cached per kernel function and device set."""
    mesh = Mesh(devices, (_AXIS,))
    rows, whole = PartitionSpec(_AXIS), PartitionSpec()

    def local(block_ids, row_blocks, col_blocks, *args):
        def one_row(item):
            i, a = item

            def one_tile(item_j):
                j, b = item_j
                if symmetric:  # diagonal tiles get k(a, None): exactly symmetric, exact diagonal
                    return lax.cond(i == j, lambda: kernel_fn(a, None, *args), lambda: kernel_fn(a, b, *args))
                return kernel_fn(a, b, *args)

            num_cols = jax.tree_util.tree_leaves(col_blocks)[0].shape[0]
            tiles = lax.map(one_tile, (jnp.arange(num_cols), col_blocks))  # leaves (nc, br, bc, ...)
            return jax.tree_util.tree_map(
                lambda t: jnp.moveaxis(t, 0, 1).reshape((t.shape[1], t.shape[0] * t.shape[2]) + t.shape[3:]), tiles
            )

        return lax.map(one_row, (block_ids, row_blocks))

    sharded = jax.shard_map(
        local, mesh=mesh, in_specs=(rows, rows, whole) + (whole,) * num_args, out_specs=rows, check_vma=False
    )
    return jax.jit(sharded), mesh


def kernel_matrix(
    kernel_fn: Callable,
    x1,
    x2=None,
    *,
    args: Sequence = (),
    block_size: int = 2048,
    devices: Sequence | None = None,
):
    """Evaluate ``kernel_fn`` on all pairs of examples, block by block, on all devices.

    Args:
      kernel_fn: ``kernel_fn(a, b, *args)`` -> pytree of (ba, bb, ...) tiles for
        blocks ``a`` (ba examples) and ``b`` (bb examples) of ``x1`` and ``x2``;
        ``kernel_fn(a, None, *args)`` must return k(a, a). It must be jittable and
        hashable; pass the same object on every call (a module-level function
        or a frozen dataclass) so that the compiled program is reused.
      x1, x2: pytrees of per-example arrays, leading axes n1 and n2; ``x2=None``
        means ``x1`` (then diagonal tiles are computed as k(a, None)).
      args: extra arrays (e.g. network parameters) passed to every tile, replicated.
      block_size: examples per block; tiles are at most block_size x block_size.
      devices: devices to spread the row blocks over; default ``jax.devices()``.

    Returns: pytree like ``kernel_fn``'s output, leaves (n1, n2, ...), sharded by
    rows (replicated when n1 is not a multiple of the number of devices).

    Raises:
      TypeError: ``kernel_fn`` not callable or not hashable, or a non-integer
        ``block_size``.
      ValueError: ``block_size < 1``, no devices, or inputs without examples or
        whose arrays disagree on the number of examples.

    Examples:
        >>> import jax.numpy as jnp
        >>> from ntkbook import blocks
        >>> def dot(a, b):
        ...     return a @ (a if b is None else b).T
        >>> x = jnp.arange(14.0).reshape(7, 2)
        >>> k = blocks.kernel_matrix(dot, x, block_size=3)  # 3 x 3 tiles, padded
        >>> k.shape, bool(jnp.allclose(k, x @ x.T))
        ((7, 7), True)
    """
    if not callable(kernel_fn):
        raise TypeError(f"kernel_fn must be callable as kernel_fn(a, b, *args), got {type(kernel_fn).__name__}")
    try:
        hash(kernel_fn)
    except TypeError:
        raise TypeError(f"kernel_fn must be hashable (a function or a frozen dataclass), got {type(kernel_fn).__name__}") from None
    block_size = _checks.integer(block_size, "block_size", low=1)
    devices = tuple(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices must name at least one device, got an empty sequence")
    symmetric = x2 is None
    n1 = _num_examples(x1, "x1")
    n2 = n1 if symmetric else _num_examples(x2, "x2")
    if symmetric:  # aligned square tiles, so the diagonal lies in the diagonal tiles
        br = bc = min(block_size, n1)
    else:
        br, bc = min(block_size, n1), min(block_size, n2)
    num_rows = math.ceil(math.ceil(n1 / br) / len(devices)) * len(devices)
    num_cols = math.ceil(n2 / bc)
    row_blocks = _blocks(x1, n1, br, num_rows)
    col_blocks = _blocks(x1 if symmetric else x2, n2, bc, num_cols)
    program, mesh = _program(kernel_fn, symmetric, devices, len(args))
    put = lambda tree, spec: jax.device_put(tree, NamedSharding(mesh, spec))
    out = program(
        put(jnp.arange(num_rows), PartitionSpec(_AXIS)),
        put(row_blocks, PartitionSpec(_AXIS)),
        put(col_blocks, PartitionSpec()),
        *put(tuple(args), PartitionSpec()),
    )
    return _trim(out, n1, n2, NamedSharding(mesh, PartitionSpec(_AXIS)))


@functools.partial(jax.jit, static_argnames=("n1", "n2", "sharding"))
def _trim(out, n1, n2, sharding):
    """(row blocks, br, cols, ...) -> (n1, n2, ...) without padding, kept sharded by rows."""
    flat = lambda t: t.reshape((t.shape[0] * t.shape[1],) + t.shape[2:])[:n1, :n2]
    return jax.tree_util.tree_map(lambda t: lax.with_sharding_constraint(flat(t), sharding), out)
