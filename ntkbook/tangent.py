"""Neural tangent kernels: empirical, infinite-width and Monte Carlo (chapter 2).

For a network ``f(theta; x)`` with outputs in R^k the tangent kernel is::

    Theta(x, x') = J(x) J(x')^T,    J(x) = d f(theta; x) / d theta  (k x P),

a k x k block for each pair of inputs. For networks whose outputs are
exchangeable (the MLPs of :mod:`ntkbook.networks`) the blocks become
``Theta_inf(x, x') * I_k`` at infinite width, so by default the functions here
return the mean of the diagonal of each block, an (n1, n2) matrix, as
neural-tangents does with ``trace_axes=(-1,)`` (up to its sum-versus-mean
convention); ``full_outputs=True`` returns the blocks, shape (n1, n2, k, k).

References: Jacot, Gabriel, Hongler (2018), "Neural Tangent Kernel";
Lee et al. (2019), "Wide neural networks of any depth evolve as linear models";
Cho and Saul (2009) for the arc-cosine (ReLU) expectations; Williams (1997)
for the erf expectations; Novak et al. (2022) for the Jacobian-free products.
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import _checks, blocks
from .networks import MLP, Architecture, num_params

__all__ = [
    "Kernels",
    "TwoLayerNTK",
    "MonteCarloKernels",
    "empirical_ntk",
    "infinite_width",
    "two_layer_relu",
    "angles",
    "coactivation_probability",
    "monte_carlo",
    "ntk_draws",
    "HarmonicSpectrum",
    "harmonic_multiplicity",
    "harmonic_eigenvalues",
]

_DEFAULT_MEMORY = 512 * 2**20  # bytes of Jacobian blocks held at once


class Kernels(NamedTuple):
    """Infinite-width kernels of a network, as returned by :func:`infinite_width`.

    Attributes:
      nngp: (n1, n2) NNGP kernel ``Sigma(x, x')``, the covariance of the
        network's output at initialisation in the infinite-width limit.
      ntk: (n1, n2) neural tangent kernel ``Theta_inf(x, x')`` (Jacot et al.
        2018, Theorem 1).
    """

    nngp: jax.Array
    ntk: jax.Array


class TwoLayerNTK(NamedTuple):
    """The two parts of the two-layer NTK (seed 001), as returned by :func:`two_layer_relu`.

    The fields keep the seed's names: ``a`` are the input weights (``w_r`` in
    the book's notation) and ``b`` the readout weights (``a_r`` in the book).
    The properties ``theta_w`` and ``theta_a`` give the same parts under the
    book's names; prefer them in new code.

    Attributes:
      a: (n1, n2) part from the gradients in the first-layer weights,
        ``Theta^(w)`` in the book.
      b: (n1, n2) part from the gradients in the readout weights,
        ``Theta^(a)`` in the book.
    """

    a: jax.Array
    b: jax.Array

    @property
    def total(self) -> jax.Array:
        """The whole NTK ``a + b``; (n1, n2)."""
        return self.a + self.b

    @property
    def theta_w(self) -> jax.Array:
        """The book's name for ``a``: ``Theta^(w)``, the input-weight part; (n1, n2)."""
        return self.a

    @property
    def theta_a(self) -> jax.Array:
        """The book's name for ``b``: ``Theta^(a)``, the output-weight part; (n1, n2)."""
        return self.b


class MonteCarloKernels(NamedTuple):
    """Monte Carlo estimates over independent initialisations, as returned by :func:`monte_carlo`.

    Attributes:
      ntk: (n1, n2) mean of the empirical NTK over the draws.
      ntk_sem: (n1, n2) its standard error, ``std / sqrt(n_samples)`` entrywise.
      nngp: (n1, n2) mean of ``f(x) f(x')`` (averaged over outputs too), the
        NNGP estimate.
      nngp_sem: (n1, n2) its standard error.
    """

    ntk: jax.Array
    ntk_sem: jax.Array
    nngp: jax.Array
    nngp_sem: jax.Array


# --------------------------------------------------------------------------- empirical


def _as_matrix_output(apply_fn):
    """Wrap ``apply_fn`` so that its output is (n, k) even for (n,)-shaped outputs."""

    def wrapped(params, x):
        out = apply_fn(params, x)
        return out.reshape(out.shape[0], -1)

    return wrapped


def _single(apply_fn):
    """``apply_fn`` on one input: x of shape (d,) to outputs of shape (k,)."""
    f = _as_matrix_output(apply_fn)
    return lambda params, xi: f(params, xi[None])[0]


_HIGHEST = lax.Precision.HIGHEST  # float32 contractions in full precision on every backend (no TF32)


def _pair_contract(a, b, full: bool):
    """sum_p a[i, c, p] b[j, c', p]: (n1, n2, k, k) blocks, or the (n1, n2) mean of their diagonals."""
    if full:
        return jnp.einsum("akp,blp->abkl", a, b, precision=_HIGHEST)
    k = a.shape[1]
    return jnp.dot(a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1).T, precision=_HIGHEST) / k


@partial(jax.jit, static_argnames="net")
def _mlp_features(net: MLP, params, x):
    """Per-example factors of the MLP tangent kernel (Novak et al. 2022, structured derivatives).

    For the dense layer ``z_l = a_l h_l W_l + beta_l b_l`` the gradient of output c
    in ``W_l`` is the outer product ``a_l h_l(x) delta_{l,c}(x)^T`` with
    ``delta_{l,c} = d f_c / d z_l``, so

        Theta_{cc'}(x, x') = sum_l (a_l^2 <h_l, h_l'> + beta_l^2) <delta_{l,c}, delta'_{l,c'}>.

    Returns one ``(a_l h_l (n, fan_in), delta_l (n, k, fan_out))`` pair per layer;
    the layer's ``beta_l^2`` is static and kept by :class:`_StructuredKernel`.
    """
    scales, inputs, pre = [], [], []
    h, last = x, len(params) - 1
    for layer, p in enumerate(params):
        if layer > 0:
            pre.append(h)
            h = net.sigma(h)
        a = net.layer_scale(layer, p["w"].shape[0])
        scales.append(a)
        inputs.append(a * h)
        h = jnp.dot(a * h, p["w"], precision=_HIGHEST) + (net.bias_scale(layer) * p["b"] if "b" in p else 0.0)
    n, k = x.shape[0], params[-1]["w"].shape[1]
    delta = jnp.broadcast_to(jnp.eye(k, dtype=h.dtype), (n, k, k))  # d f / d z_L
    deltas = [delta]
    for layer in range(last, 0, -1):
        back = jnp.einsum("nkj,ij->nki", delta, scales[layer] * params[layer]["w"], precision=_HIGHEST)
        z = pre[layer - 1]
        slope = jax.jvp(net.sigma, (z,), (jnp.ones_like(z),))[1]  # sigma'(z), elementwise
        delta = back * slope[:, None, :]
        deltas.append(delta)
    return list(zip(inputs, deltas[::-1]))


@dataclasses.dataclass(frozen=True)
class _StructuredKernel:
    """Tile of the structured MLP tangent kernel from two blocks of :func:`_mlp_features`."""

    bias_sq: tuple  # beta_l^2 per layer (0 for layers without bias)
    full: bool

    def __call__(self, a, b):
        b = a if b is None else b
        total = 0.0
        for (ua, da), (ub, db), beta_sq in zip(a, b, self.bias_sq):
            gram = jnp.dot(ua, ub.T, precision=_HIGHEST) + beta_sq
            if self.full:
                gram = gram[:, :, None, None]
            total = total + gram * _pair_contract(da, db, self.full)
        return total


@dataclasses.dataclass(frozen=True)
class _JacobianKernel:
    """Tile of J(a) J(b)^T from per-example Jacobian blocks (leaves (n, k, *p))."""

    full: bool

    def __call__(self, ja, jb):
        jb = ja if jb is None else jb
        flat = lambda leaf: leaf.reshape(leaf.shape[0], leaf.shape[1], -1)
        pairs = zip(jax.tree_util.tree_leaves(ja), jax.tree_util.tree_leaves(jb))
        return sum(_pair_contract(flat(la), flat(lb), self.full) for la, lb in pairs)


@partial(jax.jit, static_argnames=("apply_fn",))
def _jacobian(apply_fn, params, x):
    """Per-example Jacobians, leaves (n, k, *p): one reverse pass per output of each example."""
    return jax.vmap(jax.jacrev(_single(apply_fn)), in_axes=(None, 0))(params, x)


@dataclasses.dataclass(frozen=True)
class _ProductsKernel:
    """Tile of Theta without any Jacobian: for each input of ``xb`` pull back its k output
    directions (vjp) and push them through ``xa`` (jvp) (Novak et al. 2022, NTK-vector products)."""

    apply_fn: Callable
    full: bool
    chunk: int

    def __call__(self, xa, xb, params):
        xb = xa if xb is None else xb
        f, g = _as_matrix_output(self.apply_fn), _single(self.apply_fn)

        def row(xj):
            out, vjp = jax.vjp(lambda p: g(p, xj), params)
            tangents = jax.vmap(vjp)(jnp.eye(out.shape[0], dtype=out.dtype))[0]  # k tangents
            push = lambda t: jax.jvp(lambda p: f(p, xa), (params,), (t,))[1]
            return jax.vmap(push)(tangents)  # (k_b, na, k_a)

        blocks = lax.map(row, xb, batch_size=self.chunk).transpose(2, 0, 3, 1)  # (na, nb, k_a, k_b)
        return blocks if self.full else jnp.trace(blocks, axis1=2, axis2=3) / blocks.shape[-1]


def _traced_ntk(apply_fn, params, x):
    """(n, n) Theta(x, x) as one traceable expression, for use inside jitted loops:
    structured for an ``MLP.apply``, else a Jacobian contraction."""
    net = _mlp_of(apply_fn)
    if net is not None:
        return _StructuredKernel(_bias_squares(net, params), False)(_mlp_features(net, params, x), None)
    return _JacobianKernel(False)(_jacobian(apply_fn, params, x), None)


def _bias_squares(net: MLP, params) -> tuple:
    return tuple(float(net.bias_scale(i)) ** 2 if "b" in p else 0.0 for i, p in enumerate(params))


def _mlp_of(apply_fn):
    """The :class:`MLP` whose bound ``apply`` this is, or None."""
    owner = getattr(apply_fn, "__self__", None)
    return owner if isinstance(owner, MLP) and getattr(apply_fn, "__func__", None) is MLP.apply else None


def empirical_ntk(
    apply_fn: Callable,
    params,
    x1,
    x2=None,
    *,
    method: str = "auto",
    batch_size: int | None = None,
    full_outputs: bool = False,
    devices=None,
):
    """Empirical (finite-width) tangent kernel of ``apply_fn`` at ``params``.

    Args:
      apply_fn: ``apply_fn(params, x)`` with ``x`` of shape (n, d), returning
        (n,) or (n, k), each row depending on its own input only; must be
        jit-compatible and hashable (a function or a bound method of a frozen
        dataclass such as :class:`ntkbook.networks.MLP`).
      params: any pytree of arrays.
      x1, x2: inputs (n1, d) and (n2, d); ``x2=None`` means ``x1``.
      method:
        ``"structured"`` (for ``MLP.apply`` only) never differentiates through
        the network as a whole: per layer it forms the Gram matrix of the
        layer's inputs and that of the back-propagated signals and multiplies
        them entrywise (Novak et al. 2022, "Fast Finite Width Neural Tangent
        Kernel", structured derivatives). Cost O(n^2 * width) per layer,
        memory O(n * k * width) besides the result.
        ``"jacobian"`` forms all per-example Jacobians (n1 + n2) x k x P
        numbers, then contracts them in tiles.
        ``"products"`` forms no Jacobian: per input of ``x2`` it pulls back
        the k output directions (vjp) and pushes them through ``x1`` (jvp).
        ``"auto"`` (default): ``"structured"`` for an ``MLP.apply``, else
        ``"jacobian"`` when the Jacobians fit in 512 MiB, else ``"products"``.
      batch_size: examples per tile of the kernel matrix (see
        :func:`ntkbook.blocks.kernel_matrix`); by default 2048 for the
        structured and Jacobian paths and, for the products path, as many
        as keep two tiles' Jacobian-sized tangents within 512 MiB.
      full_outputs: return (n1, n2, k, k) blocks instead of the (n1, n2) mean
        of their diagonals.
      devices: devices to spread the tiles over (default ``jax.devices()``).

    Returns: (n1, n2) or (n1, n2, k, k) array in the dtype of the parameters.

    Raises:
      TypeError: ``apply_fn`` is not callable.
      ValueError: an unknown ``method``, ``method="structured"`` for a function
        that is not an ``MLP.apply``, ``params`` without arrays, or inputs that
        are not (n, d) arrays of one width.

    Examples:
        At large width the empirical NTK of seed 001's two-layer ReLU network
        is close to its infinite-width limit (:func:`two_layer_relu`):

        >>> import jax, jax.numpy as jnp
        >>> from ntkbook import networks, tangent
        >>> x = jax.random.normal(jax.random.key(0), (4, 3))
        >>> net = networks.two_layer(width=8192, in_dim=3)
        >>> params = net.init(jax.random.key(1), 3)
        >>> k = tangent.empirical_ntk(net.apply, params, x)
        >>> k.shape
        (4, 4)
        >>> limit = tangent.two_layer_relu(x).total
        >>> bool(jnp.max(jnp.abs(k - limit)) < 0.05 * jnp.max(limit))
        True
    """
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be a callable apply_fn(params, x), got {type(apply_fn).__name__}")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    net = _mlp_of(apply_fn)
    if method == "structured" and net is None:
        raise ValueError(f"method='structured' needs apply_fn to be the apply of an ntkbook.networks.MLP, got {apply_fn!r}")
    symmetric = x2 is None
    x1, x2 = _checks.point_pair(x1, x2)
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError("params must contain at least one array")
    dtype = jnp.result_type(*leaves)
    x1, x2 = x1.astype(dtype), x2.astype(dtype)
    out = jax.eval_shape(apply_fn, params, x1[:1])
    k = int(np.prod(out.shape[1:], dtype=int))
    per_row = k * num_params(params) * jnp.dtype(dtype).itemsize  # bytes of one input's Jacobian
    if method == "auto":
        rows = x1.shape[0] + (0 if symmetric else x2.shape[0])
        method = "structured" if net is not None else "jacobian" if rows * per_row <= _DEFAULT_MEMORY else "products"
    if batch_size is None:
        batch_size = 2048 if method != "products" else int(max(1, min(2048, _DEFAULT_MEMORY // (2 * per_row))))
    batch_size = _checks.integer(batch_size, "batch_size", low=1)
    tiles = partial(blocks.kernel_matrix, block_size=batch_size, devices=devices)

    if method == "structured":
        bias_sq = _bias_squares(net, params)
        f1 = _mlp_features(net, params, x1)
        f2 = None if symmetric else _mlp_features(net, params, x2)
        return tiles(_StructuredKernel(bias_sq, full_outputs), f1, f2)
    if method == "jacobian":
        j1 = _jacobian(apply_fn, params, x1)
        j2 = None if symmetric else _jacobian(apply_fn, params, x2)
        return tiles(_JacobianKernel(full_outputs), j1, j2)
    chunk = max(1, min(batch_size, 64 // k or 1))
    return tiles(_ProductsKernel(apply_fn, full_outputs, chunk), x1, None if symmetric else x2, args=(params,))


_METHODS = ("auto", "structured", "jacobian", "products")


# --------------------------------------------------------------------------- infinite width


def angles(x1, x2=None):
    """Angles ``arccos(<x, x'> / (|x| |x'|))`` in [0, pi]; shape (n1, n2).

    Raises ``ValueError`` for zero-norm inputs, where the angle is undefined.
    With ``x2=None`` the diagonal is exactly 0.
    """
    symmetric = x2 is None
    a, b = _checks.point_pair(x1, x2)
    for name, arr in (("x1", a), ("x2", b)):
        norms = jnp.linalg.norm(arr, axis=1)
        if _checks.is_concrete(norms) and bool(jnp.any(norms == 0)):
            raise ValueError(f"{name} has {int(jnp.sum(norms == 0))} zero-norm rows; the angle to a zero vector is undefined")
    return _angles(a, b, symmetric)


@partial(jax.jit, static_argnames="symmetric")
def _angles(a, b, symmetric):
    na, nb = jnp.linalg.norm(a, axis=1), jnp.linalg.norm(b, axis=1)
    cos = _safe_cos(a @ b.T, na[:, None] * nb[None, :], symmetric)
    return _arccos(cos)


def _safe_cos(dot, norm, symmetric):
    """Cosine clipped to [-1, 1]; 1 where a norm vanishes (the limit used by the kernels);
    exactly 1 on the diagonal of a Gram matrix, where rounding would otherwise give an angle ~ sqrt(eps)."""
    cos = jnp.where(norm > 0, dot / jnp.where(norm > 0, norm, 1.0), 1.0)
    cos = jnp.clip(cos, -1.0, 1.0)
    if symmetric:
        cos = jnp.where(jnp.eye(cos.shape[0], dtype=bool), 1.0, cos)
    return cos


def coactivation_probability(x1, x2=None):
    """``P[a.x > 0 and a.x' > 0] = (pi - angle(x, x')) / (2 pi)`` for ``a ~ N(0, I_d)``; (n1, n2)."""
    return (jnp.pi - angles(x1, x2)) / (2 * jnp.pi)


# Hastings' minimax polynomial for arccos on [0, 1] (Abramowitz and Stegun 4.4.46), times
# sqrt(1 - a): |error| <= 2.2e-8 (A&S quote 2e-8; the 10-digit constant term alone is 2.2e-8 short of
# pi/2), below float32 resolution, and ~10x cheaper than XLA's arccos.
_ACOS_COEFFS = (-0.0012624911, 0.0066700901, -0.0170881256, 0.0308918810,
                -0.0501743046, 0.0889789874, -0.2145988016, 1.5707963050)


def _arccos(c):
    """arccos for c in [-1, 1]: the polynomial in float32 and below, ``jnp.arccos`` in float64."""
    if jnp.finfo(c.dtype).bits > 32:
        return jnp.arccos(c)
    a = jnp.abs(c)
    acos_a = _horner(_ACOS_COEFFS, a) * jnp.sqrt(1 - a)
    return jnp.where(c < 0, jnp.pi - acos_a, acos_a)


# Beyond relu(c), the degree-1 arc-cosine kernel is g(a) = (sqrt(1 - a^2) - a arccos a) / pi at
# a = |c|: sqrt(1 - a) times a function smooth on [0, 1] (like arccos a, Abramowitz and Stegun
# 4.4.46), whose degree-6 least-squares polynomial on Chebyshev nodes puts g within 1.4e-8
# (tests/test_tangent.py::test_float32_arc_cosine_polynomials re-derives the bound).
_ARC1_COEFFS = (0.00020800862448, -0.0011166112744, 0.0032451452834, -0.0083009284573,
                0.028498229168, -0.34084370596, 0.31830987298)


def _horner(coeffs, a):
    poly = coeffs[0]
    for coeff in coeffs[1:]:
        poly = poly * a + coeff
    return poly


def _arc_cosine(c, scale):
    """``scale * k0`` and ``g`` at cosines ``c``, entrywise, for the arc-cosine kernels of degree 0 and 1
    (Cho and Saul 2009): ``k0 = 1 - theta / pi`` and ``k1 = (sin theta + (pi - theta) c) / pi = relu(c) + g``,
    ``theta = arccos c``.

    With ``a = |c|``: ``arccos a`` and ``g = (sqrt(1 - a^2) - a arccos a) / pi`` are ``sqrt(1 - a)`` times
    polynomials in ``a`` (float32: one square root per entry, errors <= 2.2e-8; float64:
    ``jnp.arccos``), and ``theta = pi - arccos a`` for ``c < 0``. ``scale`` (a Python number) is folded
    into the coefficients. ``a`` is capped at 1, so rounding past +-1 is harmless."""
    a = jnp.minimum(jnp.abs(c), 1.0)
    if jnp.finfo(c.dtype).bits > 32:
        acos = jnp.arccos(a)
        t, g = acos * (scale / jnp.pi), (jnp.sqrt((1 - a) * (1 + a)) - a * acos) / jnp.pi
    else:
        s = jnp.sqrt(1 - a)
        t = s * _horner(tuple(k * scale / math.pi for k in _ACOS_COEFFS), a)  # scale * arccos(a) / pi
        g = s * _horner(_ARC1_COEFFS, a)
    return jnp.where(c < 0, t, scale - t), g


def _relu_moments(s11, s12, s22, symmetric, scale=1.0):
    """``scale`` times E[relu(u) relu(v)], E[relu'(u) relu'(v)], E[relu(u)^2] and E[relu(v)^2] for (u, v)
    centred Gaussian with covariance [[s11, s12], [s12, s22]]: ``sqrt(s11 s22) k1(cos) / 2``,
    ``k0(cos) / 2``, ``s11 / 2`` and ``s22 / 2``; the first as ``(relu(s12) + sqrt(s11 s22) g) / 2``.

    On the diagonal of a symmetric tile the cosine is exactly 1 and ``s12`` is replaced by ``s11``:
    the row variances round less than the matrix product's diagonal (the NNGP's float32 error is
    1.4e-7 with them, up to 2.5e-7 without; ``benchmarks/README.md``). Off the diagonal, in float64,
    the cosine is ``s12 / sqrt(s11 s22)``, one rounding (parallel inputs then give 1 as often as
    rounding allows); in float32, for speed, ``s12`` times an outer product of ``1 / sqrt(s11)`` and
    ``1 / sqrt(s22)``, no division per entry (0 where a variance vanishes: there the moments are 0)."""
    root11, root22 = jnp.sqrt(s11), jnp.sqrt(s22)
    relu = jnp.maximum(s12, 0)
    if jnp.finfo(s12.dtype).bits > 32:
        cos = _safe_cos(s12, root11[:, None] * root22[None, :], False)  # (diagonal set below)
    else:
        inv = lambda s: jnp.where(s > 0, lax.rsqrt(jnp.where(s > 0, s, 1.0)), 0.0)
        cos = s12 * inv(s11)[:, None] * inv(s22)[None, :]
    if symmetric:
        eye = jnp.eye(s12.shape[0], dtype=bool)
        cos, relu = jnp.where(eye, 1.0, cos), jnp.where(eye, s11[:, None], relu)
    half = scale / 2
    e_der, g = _arc_cosine(cos, half)
    e_act = half * relu + (half * root11)[:, None] * root22[None, :] * g
    return e_act, e_der, half * s11, half * s22


def _erf_moments(s11, s12, s22, symmetric, scale=1.0):
    """``scale`` times E[erf(u) erf(v)], E[erf'(u) erf'(v)], E[erf(u)^2] and E[erf(v)^2] in closed form
    (Williams 1997)."""
    d11, d22 = 1 + 2 * s11, 1 + 2 * s22
    inv = (1 / jnp.sqrt(d11))[:, None] * (1 / jnp.sqrt(d22))[None, :]
    ratio = jnp.clip(2 * s12 * inv, -1.0, 1.0)
    e_act = 2 * scale / jnp.pi * (jnp.pi / 2 - _arccos(ratio))  # arcsin
    e_der = 4 * scale / jnp.pi * inv / jnp.sqrt(jnp.maximum((1 - ratio) * (1 + ratio), jnp.finfo(s12.dtype).tiny))
    diag = lambda s: 2 * scale / jnp.pi * jnp.arcsin(2 * s / (1 + 2 * s))
    return e_act, e_der, diag(s11), diag(s22)


_MOMENTS = {"relu": _relu_moments, "erf": _erf_moments}


@dataclasses.dataclass(frozen=True)
class _InfiniteWidthKernel:
    """Tile of the NNGP and NTK of an MLP (the recursion of :func:`infinite_width`).

    After the input Gram matrix every step is entrywise, so XLA fuses all layers
    into one pass over the tile."""

    activation: str
    w_std: tuple
    b_std: tuple
    get: str | None  # "nngp", "ntk" or None for both

    def __call__(self, x1, x2):
        symmetric = x2 is None
        x2 = x1 if symmetric else x2
        d = x1.shape[1]
        w, b = self.w_std[0] ** 2, self.b_std[0] ** 2
        s12 = w * jnp.dot(x1, x2.T, precision=_HIGHEST) / d + b
        s11 = w * jnp.sum(x1**2, 1) / d + b
        s22 = w * jnp.sum(x2**2, 1) / d + b
        ntk = s12
        moments = _MOMENTS[self.activation]
        for w_l, b_l in zip(self.w_std[1:], self.b_std[1:]):
            w, b = w_l**2, b_l**2
            e_act, e_der, e11, e22 = moments(s11, s12, s22, symmetric, scale=w)
            s12 = e_act + b
            ntk = s12 + e_der * ntk
            s11, s22 = e11 + b, e22 + b
        if self.get:
            return {"nngp": s12, "ntk": ntk}[self.get]
        # Both as one complex tile (NNGP + i NTK): with a single output XLA fuses the
        # shared chain into one pass; with two it keeps each layer's arrays in memory.
        return lax.complex(s12, ntk)


def _unpack(both):
    """NNGP + i NTK tile -> :class:`Kernels`; run by the tiling on each tile while it is in cache."""
    return Kernels(nngp=jnp.real(both), ntk=jnp.imag(both))


def infinite_width(net: Architecture | MLP, x1, x2=None, *, get: str | None = None, block_size: int = 4096, devices=None):
    """NNGP and NTK of ``net`` in the limit of infinite widths; each (n1, n2).

    ``net`` is an :class:`ntkbook.networks.Architecture` (depth, activation and
    layer scales, no widths), or an NTK-parameterised
    :class:`ntkbook.networks.MLP`, whose widths are then ignored.

    Returns :class:`Kernels` ``(nngp, ntk)``, or only the (n1, n2) array named by
    ``get="nngp"`` or ``get="ntk"``; both come from one pass over the tiles, at
    little more than the cost of one (``benchmarks/infinite_width_speed.py``).

    The recursion of Jacot et al. (2018), Theorem 1, in the parameterisation of
    :class:`ntkbook.networks.MLP` (per-layer ``w_std``, ``b_std``)::

        Sigma_1(x, x') = w_1^2 <x, x'> / d + b_1^2,      Theta_1 = Sigma_1,
        Sigma_{l+1} = w_{l+1}^2 E[sigma(u) sigma(v)] + b_{l+1}^2,
        Theta_{l+1} = Sigma_{l+1} + w_{l+1}^2 E[sigma'(u) sigma'(v)] Theta_l,

    with (u, v) ~ N(0, Sigma_l restricted to {x, x'}). ReLU uses the arc-cosine
    formulas, erf its arcsine closed form. For bias-free ReLU networks a
    zero input gives kernel 0, the continuous limit.

    Computed in tiles of at most ``block_size`` x ``block_size`` entries, spread
    over ``devices`` (default all), by :func:`ntkbook.blocks.kernel_matrix`:
    memory beyond the result is a few tiles, so n = 20,000 fits in float32.

    Raises:
      TypeError: ``net`` is neither an ``Architecture`` nor an ``MLP``.
      ValueError: an ``MLP`` not in the NTK parameterisation, an activation
        without a closed form (use :func:`monte_carlo`), ``get`` other than
        None, ``"nngp"`` or ``"ntk"``, or inputs that are not (n, d) arrays of
        one width.

    Examples:
        The limit does not depend on the widths. With ReLU, ``w_std = sqrt(2)``
        and no bias every layer keeps ``Sigma(x, x) = 2 |x|^2 / d``, so on the
        diagonal the NTK of depth L is ``L + 1`` times the NNGP:

        >>> import jax, jax.numpy as jnp
        >>> from ntkbook import networks, tangent
        >>> x = jax.random.normal(jax.random.key(0), (5, 3))
        >>> k = tangent.infinite_width(networks.Architecture(depth=2, w_std=2**0.5), x)
        >>> k.ntk.shape, k.nngp.shape
        ((5, 5), (5, 5))
        >>> wide = networks.MLP(widths=(7, 9), w_std=2**0.5)
        >>> bool(jnp.allclose(tangent.infinite_width(wide, x, get="ntk"), k.ntk))
        True
        >>> bool(jnp.allclose(jnp.diag(k.nngp), 2 * jnp.sum(x**2, 1) / 3, rtol=1e-5))
        True
        >>> bool(jnp.allclose(jnp.diag(k.ntk), 3 * jnp.diag(k.nngp), rtol=1e-5))
        True
    """
    net = _limit_architecture(net)
    if not isinstance(net.activation, str) or net.activation not in _MOMENTS:
        raise ValueError(
            f"infinite-width kernels need activation in {sorted(_MOMENTS)}, got {net.activation!r}; "
            "use monte_carlo for other activations"
        )
    if get not in (None, "nngp", "ntk"):
        raise ValueError(f"get must be None, 'nngp' or 'ntk', got {get!r}")
    symmetric = x2 is None
    a, b = _checks.point_pair(x1, x2)
    kernel = _InfiniteWidthKernel(net.activation, net.w_std, net.b_std, get)
    unpack = None if get else _unpack
    return blocks.kernel_matrix(kernel, a, None if symmetric else b, block_size=block_size, devices=devices, unpack=unpack)


def _limit_architecture(net) -> Architecture:
    """The :class:`~ntkbook.networks.Architecture` whose limit is asked for: ``net`` itself,
    or the architecture of an NTK-parameterised :class:`~ntkbook.networks.MLP` (its widths are ignored)."""
    if isinstance(net, Architecture):
        return net
    if not isinstance(net, MLP):
        raise TypeError(f"net must be an ntkbook.networks.Architecture or MLP, got {type(net).__name__}")
    if net.parameterization != "ntk":
        raise ValueError(
            f"infinite-width kernels are defined for parameterization='ntk', got {net.parameterization!r} "
            "(the NTK grows like the width in the standard parameterisation and vanishes like 1/width in the mean-field one)"
        )
    return net.architecture


def two_layer_relu(x1, x2=None) -> TwoLayerNTK:
    """Closed-form infinite-width NTK of seed 001's two-layer ReLU network, in two parts::

        K^(a)(x, x') = <x, x'> (pi - angle) / (2 pi)                       (first layer),
        K^(b)(x, x') = |x| |x'| (sin(angle) + (pi - angle) cos(angle)) / (2 pi)  (readout).

    Zero-norm inputs give 0 in both parts (the limit of both formulas).
    Equals ``infinite_width(networks.two_layer(m, d), x1, x2).ntk`` as a sum.
    """
    symmetric = x2 is None
    a, b = _checks.point_pair(x1, x2)
    return _two_layer_relu(a, b, symmetric)


@partial(jax.jit, static_argnames="symmetric")
def _two_layer_relu(a, b, symmetric):
    # The arc-cosine moments for pre-activations a_i . x with covariance <x, x'>.
    dot = a @ b.T
    e_act, e_der, _, _ = _relu_moments(jnp.sum(a**2, 1), dot, jnp.sum(b**2, 1), symmetric)
    return TwoLayerNTK(a=dot * e_der, b=e_act)


# --------------------------------------------------------------------------- Monte Carlo


def monte_carlo(net, key, x1, x2=None, *, n_samples: int = 32, method: str = "auto", batch_size=None) -> MonteCarloKernels:
    """Average the empirical NTK and ``f(x) f(x')`` over ``n_samples`` initialisations.

    Works for any network with ``init(key, in_dim)`` and ``apply(params, x)``,
    including activations without a closed form. The NNGP estimate averages
    over outputs too. Standard errors are ``std / sqrt(n_samples)``, entrywise.
    """
    n_samples = _checks.integer(n_samples, "n_samples", low=2)
    symmetric = x2 is None
    a, b = _checks.point_pair(x1, x2)
    ntks, nngps = [], []
    for k in jax.random.split(key, n_samples):
        params = net.init(k, a.shape[1])
        ntks.append(empirical_ntk(net.apply, params, a, None if symmetric else b, method=method, batch_size=batch_size))
        fa = _as_matrix_output(net.apply)(params, a)
        fb = fa if symmetric else _as_matrix_output(net.apply)(params, b)
        nngps.append(fa @ fb.T / fa.shape[1])
    ntks, nngps = jnp.stack(ntks), jnp.stack(nngps)
    sem = lambda s: jnp.std(s, axis=0, ddof=1) / math.sqrt(n_samples)
    return MonteCarloKernels(ntk=ntks.mean(0), ntk_sem=sem(ntks), nngp=nngps.mean(0), nngp_sem=sem(nngps))


# --------------------------------------------------------------------------- spectrum on the sphere


class HarmonicSpectrum(NamedTuple):
    """Eigenvalues of a dot-product kernel on the unit sphere, one per harmonic degree.

    ``degrees`` (K,) are 0, 1, ..., max_degree; ``eigenvalues`` (K,) the
    ``mu_omega``; ``multiplicities`` (K,) the dimension ``N(d, omega)`` of the
    degree-omega spherical harmonics, the multiplicity of ``mu_omega``.
    """

    degrees: np.ndarray
    eigenvalues: np.ndarray
    multiplicities: np.ndarray

    def sorted(self) -> np.ndarray:
        """All eigenvalues repeated by multiplicity, in decreasing order (``lambda_1 >= lambda_2 >= ...``):
        what the eigenvalues of the Gram matrix ``K(X, X) / n`` of ``n`` uniform points approach."""
        return np.sort(np.repeat(self.eigenvalues, self.multiplicities))[::-1]


def harmonic_multiplicity(in_dim: int, degree: int) -> int:
    """Dimension of the spherical harmonics of degree ``degree`` on the sphere of R^d:
    ``binom(omega + d - 1, d - 1) - binom(omega + d - 3, d - 1)`` (2 for every omega >= 1 on the circle,
    ``2 omega + 1`` on the sphere of R^3)."""
    d = _checks.integer(in_dim, "in_dim", low=2)
    w = _checks.integer(degree, "degree", low=0)
    below = math.comb(w + d - 3, d - 1) if w + d - 3 >= 0 else 0
    return math.comb(w + d - 1, d - 1) - below


def harmonic_eigenvalues(kernel: Callable, in_dim: int, max_degree: int, *, nodes: int | None = None) -> HarmonicSpectrum:
    """Per-degree eigenvalues of a rotation-invariant kernel on the unit sphere (Funk-Hecke formula).

    A kernel ``k(x, x') = kappa(<x, x'>)`` on the unit sphere of R^d acts on
    functions by ``(T g)(x) = E[k(x, x') g(x')]`` with ``x'`` uniform; the
    spherical harmonics of degree omega are its eigenfunctions, with eigenvalue

    .. math::

        \\mu_\\omega = c_d \\int_0^\\pi \\kappa(\\cos\\varphi)\\, P_\\omega^{(d)}(\\cos\\varphi)\\, \\sin^{d-2}\\varphi\\, d\\varphi,
        \\qquad c_d = \\frac{\\Gamma(d/2)}{\\sqrt\\pi\\, \\Gamma((d-1)/2)},

    where ``P^(d)_omega`` is the Legendre (Gegenbauer) polynomial of dimension
    d normalised by ``P(1) = 1`` (``cos(omega phi)`` on the circle). The integral
    is a Gauss-Legendre rule in the angle, exact to rounding for the kernels of
    this package, which are analytic in the angle on ``[0, pi]``. Computed in
    the precision of ``kernel`` (enable float64 for small eigenvalues).

    Parameters
    ----------
    kernel : callable
        ``kernel(x1, x2)`` returning the (n1, n2) kernel matrix, e.g.
        ``functools.partial(tangent.infinite_width, arch, get="ntk")`` or
        ``kernels.laplace``; it must depend on unit inputs only through ``<x, x'>``.
    in_dim : int
        The dimension d >= 2 of the space whose unit sphere carries the inputs.
    max_degree : int
        Largest degree omega computed.
    nodes : int, optional
        Quadrature nodes; default ``4 * max_degree + 256``.

    Returns
    -------
    HarmonicSpectrum
        ``degrees``, ``eigenvalues`` ``mu_0 .. mu_max_degree`` and their multiplicities.

    Raises
    ------
    TypeError
        If ``kernel`` is not callable.
    ValueError
        For ``in_dim < 2``, ``max_degree < 0``, ``nodes <= max_degree`` or a kernel
        that does not return one row per ``x1`` and one column per ``x2``.
    """
    if not callable(kernel):
        raise TypeError(f"kernel must be a callable kernel(x1, x2), got {type(kernel).__name__}")
    d = _checks.integer(in_dim, "in_dim", low=2)
    top = _checks.integer(max_degree, "max_degree", low=0)
    nodes = _checks.integer(4 * top + 256 if nodes is None else nodes, "nodes", low=top + 1)
    t, w = np.polynomial.legendre.leggauss(nodes)
    phi, w = np.pi * (t + 1) / 2, np.pi * w / 2
    pts = np.zeros((nodes, d))
    pts[:, 0], pts[:, 1] = np.cos(phi), np.sin(phi)
    row = np.asarray(kernel(jnp.asarray(np.eye(d)[:1]), jnp.asarray(pts)))
    if row.shape != (1, nodes):
        raise ValueError(f"kernel(x1, x2) must return shape (n1, n2) = (1, {nodes}), got {row.shape}")
    weight = w * row[0] * np.sin(phi) ** (d - 2) * math.gamma(d / 2) / (math.sqrt(math.pi) * math.gamma((d - 1) / 2))
    cos, prev, cur, mus = np.cos(phi), np.zeros(nodes), np.ones(nodes), []
    for omega in range(top + 1):
        mus.append(float(np.sum(weight * cur)))
        # P_{w+1} = ((2w + d - 2) t P_w - w P_{w-1}) / (w + d - 2); P_1 = t in every dimension
        prev, cur = cur, (cos * cur if omega == 0 else ((2 * omega + d - 2) * cos * cur - omega * prev) / (omega + d - 2))
    degrees = np.arange(top + 1)
    return HarmonicSpectrum(degrees, np.array(mus), np.array([harmonic_multiplicity(d, int(o)) for o in degrees]))


def ntk_draws(net, key, x, *, n_samples: int, batch_size: int | None = None):
    """Empirical NTKs of ``n_samples`` independent initialisations of ``net`` on ``x``; (n_samples, n, n).

    The per-draw kernels behind :func:`monte_carlo`, for statistics it does not
    report: how one draw deviates from the limit, quantiles, fits per draw.
    One compiled program maps over the keys, so thousands of small draws cost
    little more than one.

    Parameters
    ----------
    net : object
        A network with ``init(key, in_dim)`` and ``apply(params, x)``, such as
        :class:`ntkbook.networks.MLP` (structured kernel) or any other (Jacobian).
    key : jax.Array
        PRNG key; draw ``i`` uses ``jax.random.split(key, n_samples)[i]``, as
        :func:`monte_carlo` does, so the two agree draw for draw.
    x : array, shape (n, d)
        Inputs.
    n_samples : int
        Number of initialisations, >= 1.
    batch_size : int, optional
        Draws computed at once (vectorised); default 1 (sequential, least memory).

    Returns
    -------
    jax.Array, shape (n_samples, n, n)
        ``Theta(x, x)`` for each draw, the mean of the diagonal of the output blocks.

    Raises
    ------
    ValueError, TypeError
        For ``n_samples`` or ``batch_size`` not an integer >= 1, ``x`` not a finite 2-d array, or a
        ``net`` without ``init`` and ``apply``.
    """
    if not (callable(getattr(net, "init", None)) and callable(getattr(net, "apply", None))):
        raise TypeError(f"net must have init(key, in_dim) and apply(params, x), got {type(net).__name__}")
    n_samples = _checks.integer(n_samples, "n_samples", low=1)
    batch_size = _checks.integer(1 if batch_size is None else batch_size, "batch_size", low=1)
    x = _checks.as_array(x, "x", ndim=2)
    return _ntk_draws(net, jax.random.split(key, n_samples), x, batch_size)


@partial(jax.jit, static_argnames=("net", "batch_size"))
def _ntk_draws(net, keys, x, batch_size):
    def one(k):
        params = net.init(k, x.shape[1])
        dtype = jnp.result_type(*jax.tree_util.tree_leaves(params))
        return _traced_ntk(net.apply, params, x.astype(dtype))

    return lax.map(one, keys, batch_size=batch_size)
