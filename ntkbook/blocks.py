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

On CPU devices the program is compiled with 512-bit vectors
(``xla_cpu_prefer_vector_width=512``, a per-program option; it changes nothing
on CPUs without AVX-512), which about doubles the speed of the entrywise work
after each tile's matrix product. Called inside ``jax.jit`` or ``jax.vmap``,
where JAX takes no per-program options, it is compiled with XLA's defaults.
"""

from __future__ import annotations

import functools
import math
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
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


def _tile_size(n: int, block: int) -> int:
    """Tile edge for n examples in tiles of at most ``block``: as few tiles as ``block``
    allows, of nearly equal size (a multiple of 8 when that stays within ``block``), so that
    sizes ``block`` does not divide waste no more than a sliver (n = 10,000 with block
    4096: three tiles of 3336, not three of 4096)."""
    size = -(-n // -(-n // block))
    rounded = -(-size // 8) * 8
    return min(n, rounded if rounded <= block else size)


def _starts(n: int, size: int) -> list:
    """Tile starts covering [0, n); the last tile is shifted back to end at n (it overlaps
    its neighbour instead of running into padding)."""
    return [min(i * size, n - size) for i in range(-(-n // size))]


def _pad(tree, n: int, total: int):
    """(n, ...) leaves -> (total, ...); padding repeats the first example so that padded
    rows stay finite (they are cut off afterwards)."""

    def pad(leaf):
        leaf = jnp.asarray(leaf)
        if total == n:
            return leaf
        return jnp.concatenate([leaf, jnp.broadcast_to(leaf[:1], (total - n,) + leaf.shape[1:])])

    return jax.tree_util.tree_map(pad, tree)


def _shard_map(f, mesh, in_specs, out_specs):
    """``jax.shard_map`` (JAX >= 0.6.1), or its earlier home ``jax.experimental.shard_map``."""
    if hasattr(jax, "shard_map"):
        return jax.shard_map(f, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False)
    from jax.experimental.shard_map import shard_map

    return shard_map(f, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_rep=False)


@functools.lru_cache(maxsize=64)
def _program(kernel_fn: Callable, symmetric: bool, devices: tuple, num_args: int, n1: int, n2: int, block_size: int, unpack,
             nested: bool):
    """Jitted, sharded evaluation of all tiles, with its tile tables already on the devices;
    cached per kernel function, device set and problem size, so a repeated call only places its inputs.
    ``nested``: called inside a transformation (inputs are tracers), where JAX takes no compiler options.

    Each device owns a slab of rows and a list of tile corners (row start in the slab,
    column start); every tile is written in place into the slab, so no tile is copied
    twice and nothing is padded to a multiple of the tile size. For ``symmetric`` the
    tiles on the diagonal come last, evaluated as ``kernel_fn(a, None)``: they overwrite
    any overlap, so every diagonal entry comes from such a tile. With ``unpack`` each tile
    is computed inside a conditional whose predicate XLA cannot decide (a row start is
    never negative): XLA then neither fuses ``unpack`` back into the kernel nor
    evaluates the kernel once per output; ``unpack`` reads the tile while it is in cache."""
    num = len(devices)
    m = -(-n1 // num)  # rows per device; x1 is padded to num * m rows
    br = _tile_size(m, block_size)
    row_starts = _starts(m, br)
    if symmetric:  # square tiles on the same grid as the rows, so diagonal tiles exist
        bc, cols = br, [d * m + r for d in range(num) for r in row_starts]
    else:
        bc = _tile_size(n2, block_size)
        cols = _starts(n2, bc)
    diagonal = [[(r, d * m + r) for r in row_starts] if symmetric else [] for d in range(num)]
    corners = [[(r, c) for r in row_starts for c in cols if (r, c) not in diagonal[d]] for d in range(num)]
    mesh = Mesh(devices, (_AXIS,))
    rows, whole = PartitionSpec(_AXIS), PartitionSpec()
    tables = tuple(np.asarray(t, dtype=np.int32).reshape(num, -1, 2) for t in (corners, diagonal))
    if not nested:  # (inside a trace, placing them would cache tracers)
        tables = tuple(jax.device_put(t, NamedSharding(mesh, rows)) for t in tables)

    def local(row_x, col_x, corners, diagonal, *args):
        take = lambda tree, start, size: jax.tree_util.tree_map(
            lambda leaf: lax.dynamic_slice_in_dim(leaf, start, size), tree
        )
        m = jax.tree_util.tree_leaves(row_x)[0].shape[0]
        n2 = jax.tree_util.tree_leaves(col_x)[0].shape[0]
        def tile(a, b, r):
            if unpack is None:
                return kernel_fn(a, b, *args)
            shape = jax.eval_shape(lambda: kernel_fn(a, b, *args))
            zeros = lambda: jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shape)
            return unpack(lax.cond(r >= 0, lambda: kernel_fn(a, b, *args), zeros))

        shapes = jax.eval_shape(lambda a, b: tile(a, b, jnp.int32(0)), take(row_x, 0, br), take(col_x, 0, bc))
        out = jax.tree_util.tree_map(lambda s: jnp.zeros((m, n2) + s.shape[2:], s.dtype), shapes)

        def write(out, tile, r, c):
            return jax.tree_util.tree_map(
                lambda o, t: lax.dynamic_update_slice(o, t.astype(o.dtype), (r, c) + (jnp.zeros_like(r),) * (o.ndim - 2)), out, tile
            )

        def compute(t, table, on_diagonal):
            r, c = table[0, t, 0], table[0, t, 1]
            return tile(take(row_x, r, br), None if on_diagonal else take(col_x, c, bc), r), r, c

        off = lambda t, out: write(out, *compute(t, corners, False))
        on = lambda t, out: write(out, *compute(t, diagonal, True))
        if corners.shape[1] + diagonal.shape[1] == 1:  # one tile is the whole slab: no copy into it
            return compute(0, *((diagonal, True) if diagonal.shape[1] else (corners, False)))[0]
        if corners.shape[1]:  # (empty lists: no off-diagonal tile, or no diagonal)
            out = lax.fori_loop(0, corners.shape[1], off, out)
        if diagonal.shape[1]:
            out = lax.fori_loop(0, diagonal.shape[1], on, out)
        return out

    sharded = _shard_map(local, mesh, (rows, whole, rows, rows) + (whole,) * num_args, rows)
    options = None if nested else _compiler_options(devices)
    return jax.jit(sharded, compiler_options=options), mesh, tables, num * m


def _compiler_options(devices):
    """On CPU, ask XLA to vectorise 512 bits wide: with its default, 256, the long entrywise chains
    that follow a tile's matrix product (the infinite-width recursions) run at about half speed on
    CPUs with AVX-512 (``benchmarks/README.md``). Without AVX-512 the option changes nothing (LLVM
    cannot vectorise wider than the registers); other platforms get no options."""
    return {"xla_cpu_prefer_vector_width": 512} if all(d.platform == "cpu" for d in devices) else None


def kernel_matrix(
    kernel_fn: Callable,
    x1,
    x2=None,
    *,
    args: Sequence = (),
    block_size: int = 2048,
    devices: Sequence | None = None,
    unpack: Callable | None = None,
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
      unpack: optional ``unpack(tile)`` -> pytree of (ba, bb, ...) arrays, applied to
        every tile before it is stored (hashable, like ``kernel_fn``). For a kernel that
        computes several outputs in one fused pass and returns them as one array (e.g.
        complex NNGP + i NTK): the tile is unpacked while it is in cache, instead of
        storing the packed matrix and splitting it afterwards.

    Returns: pytree like ``kernel_fn``'s output (``unpack``'s, when given), leaves (n1, n2, ...), sharded by
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
    nested = not all(map(_checks.is_concrete, jax.tree_util.tree_leaves((x1, x2, tuple(args)))))
    program, mesh, tables, padded = _program(kernel_fn, symmetric, devices, len(args), n1, n2, block_size, unpack, nested)
    row_x = _pad(x1, n1, padded)
    col_x = row_x if symmetric else _pad(x2, n2, n2)
    out = program(_place(row_x, mesh, PartitionSpec(_AXIS)), _place(col_x, mesh, PartitionSpec()), *tables,
                  *_place(tuple(args), mesh, PartitionSpec()))
    if padded == n1:
        return out
    return _trim(out, n1, n2, NamedSharding(mesh, PartitionSpec(_AXIS)))


def _place(tree, mesh: Mesh, spec: PartitionSpec):
    """``device_put`` onto the mesh, skipped when the mesh is one device that already holds every
    leaf: the usual case, where the two calls cost about 0.1 ms, 3% of a 1000-point NTK on the
    benchmark's CPU."""
    leaves = jax.tree_util.tree_leaves(tree)
    if mesh.devices.size == 1 and all(
        isinstance(leaf, jax.Array) and _checks.is_concrete(leaf) and leaf.devices() == set(mesh.devices.flat) for leaf in leaves
    ):
        return tree
    return jax.device_put(tree, NamedSharding(mesh, spec))


@functools.partial(jax.jit, static_argnames=("n1", "n2", "sharding"))
def _trim(out, n1, n2, sharding):
    """Cut the padded rows (and, for x2=None, columns) off; kept sharded by rows where JAX can."""
    return jax.tree_util.tree_map(lambda t: lax.with_sharding_constraint(t[:n1, :n2], sharding), out)
