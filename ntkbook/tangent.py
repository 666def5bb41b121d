"""Neural tangent kernels: empirical, infinite-width and Monte Carlo (chapter 2).

For a network ``f(theta; x)`` with outputs in R^k the tangent kernel is

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

import math
from functools import partial
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import _checks
from .networks import MLP, num_params

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
]

_DEFAULT_MEMORY = 512 * 2**20  # bytes of Jacobian blocks held at once


class Kernels(NamedTuple):
    """Infinite-width kernels: ``nngp`` (output covariance at init) and ``ntk``; each (n1, n2)."""

    nngp: jax.Array
    ntk: jax.Array


class TwoLayerNTK(NamedTuple):
    """The two parts of the two-layer NTK (seed 001): gradients in the first-layer
    weights ``a`` and in the readout ``b``; each (n1, n2)."""

    a: jax.Array
    b: jax.Array

    @property
    def total(self) -> jax.Array:
        return self.a + self.b


class MonteCarloKernels(NamedTuple):
    """Averages over independent initialisations and their standard errors; each (n1, n2)."""

    ntk: jax.Array
    ntk_sem: jax.Array
    nngp: jax.Array
    nngp_sem: jax.Array


# --------------------------------------------------------------------------- empirical


def _contract(ja, jb, full: bool):
    """Sum over parameters of J_a J_b^T. Leaves are (b1, k, *p) and (b2, k, *p)."""
    total = 0.0
    for la, lb in zip(jax.tree_util.tree_leaves(ja), jax.tree_util.tree_leaves(jb)):
        la = la.reshape(la.shape[0], la.shape[1], -1)
        lb = lb.reshape(lb.shape[0], lb.shape[1], -1)
        if full:
            total = total + jnp.einsum("akp,blp->abkl", la, lb)
        else:
            total = total + jnp.einsum("akp,bkp->ab", la, lb) / la.shape[1]
    return total


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


@partial(jax.jit, static_argnames=("apply_fn",))
def _jacobian(apply_fn, params, x):
    """Per-example Jacobians, leaves (b, k, *p): one reverse pass per output of each
    example, instead of reverse passes through the whole block."""
    return jax.vmap(jax.jacrev(_single(apply_fn)), in_axes=(None, 0))(params, x)


@partial(jax.jit, static_argnames=("full",))
def _contract_jit(ja, jb, full):
    return _contract(ja, jb, full)


@partial(jax.jit, static_argnames=("apply_fn", "full", "chunk"))
def _products_block(apply_fn, params, xa, xb, full, chunk):
    """Theta on one block without forming a Jacobian of the block: for each input of
    ``xb`` pull back the k output directions (vjp), push them through ``xa`` (jvp)."""
    f, g = _as_matrix_output(apply_fn), _single(apply_fn)

    def row(xj):
        out, vjp = jax.vjp(lambda p: g(p, xj), params)
        tangents = jax.vmap(vjp)(jnp.eye(out.shape[0], dtype=out.dtype))[0]  # k tangents
        push = lambda t: jax.jvp(lambda p: f(p, xa), (params,), (t,))[1]
        return jax.vmap(push)(tangents)  # (k_b, na, k_a)

    cols = lax.map(row, xb, batch_size=chunk)  # (nb, k_b, na, k_a)
    blocks = cols.transpose(2, 0, 3, 1)  # (na, nb, k_a, k_b)
    k = blocks.shape[-1]
    return blocks if full else jnp.trace(blocks, axis1=2, axis2=3) / k


def _pad_rows(x, size):
    return x if x.shape[0] == size else jnp.concatenate([x, jnp.zeros((size - x.shape[0],) + x.shape[1:], x.dtype)])


def empirical_ntk(
    apply_fn: Callable,
    params,
    x1,
    x2=None,
    *,
    method: str = "auto",
    batch_size: int | None = None,
    full_outputs: bool = False,
):
    """Empirical (finite-width) tangent kernel of ``apply_fn`` at ``params``.

    Args:
      apply_fn: ``apply_fn(params, x)`` with ``x`` of shape (n, d), returning
        (n,) or (n, k), each row depending on its own input only; must be
        jit-compatible and hashable (a function or a bound method of a frozen
        dataclass such as :class:`ntkbook.networks.MLP`).
      params: any pytree of arrays.
      x1, x2: inputs (n1, d) and (n2, d); ``x2=None`` means ``x1``.
      method: ``"auto"`` (default) uses ``"jacobian"`` when the Jacobians of
        all inputs fit in 512 MiB and ``"products"`` otherwise.
        ``"jacobian"`` contracts per-block Jacobians (memory
        ~ 2 * batch_size * k * P numbers); ``"products"`` never forms a block
        Jacobian: for each input of ``x2`` it pulls back its k output
        directions (vjp) and pushes them through ``x1`` (jvp), holding
        ~ k * P numbers per input in flight (Novak et al. 2022, "NTK-vector
        products").
      batch_size: rows of x1 and x2 per block; by default chosen so that the
        Jacobian blocks fit in 512 MiB.
      full_outputs: return (n1, n2, k, k) blocks instead of the (n1, n2) mean
        of their diagonals.

    Returns: (n1, n2) or (n1, n2, k, k) array in the dtype of the parameters.
    """
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be a callable apply_fn(params, x), got {type(apply_fn).__name__}")
    if method not in ("auto", "jacobian", "products"):
        raise ValueError(f"method must be 'auto', 'jacobian' or 'products', got {method!r}")
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
    rows = x1.shape[0] + (0 if symmetric else x2.shape[0])
    if method == "auto":
        method = "jacobian" if rows * per_row <= _DEFAULT_MEMORY else "products"
    if batch_size is None:
        batch_size = int(max(1, min(max(x1.shape[0], x2.shape[0]), _DEFAULT_MEMORY // (2 * per_row))))
    batch_size = _checks.integer(batch_size, "batch_size", low=1)
    n1, n2 = x1.shape[0], x2.shape[0]
    b1, b2 = min(batch_size, n1), min(batch_size, n2)
    starts1, starts2 = range(0, n1, b1), range(0, n2, b2)
    shape = (n1, n2, k, k) if full_outputs else (n1, n2)
    result = np.zeros(shape, dtype=dtype)

    if method == "jacobian":
        jac = lambda x, b: _jacobian(apply_fn, params, _pad_rows(x, b))
        for i in starts1:
            ja = jac(x1[i : i + b1], b1)
            for j in starts2:
                if symmetric and j < i:
                    continue
                jb = ja if (symmetric and j == i) else jac(x2[j : j + b2], b2)
                block = np.asarray(_contract_jit(ja, jb, full_outputs))
                result[i : i + b1, j : j + b2] = block[: min(b1, n1 - i), : min(b2, n2 - j)]
    else:
        chunk = max(1, min(b2, 64 // k or 1))
        for i in starts1:
            xa = _pad_rows(x1[i : i + b1], b1)
            for j in starts2:
                if symmetric and j < i:
                    continue
                xb = _pad_rows(x2[j : j + b2], b2)
                block = np.asarray(_products_block(apply_fn, params, xa, xb, full_outputs, chunk))
                result[i : i + b1, j : j + b2] = block[: min(b1, n1 - i), : min(b2, n2 - j)]
    if symmetric:  # only blocks on or above the diagonal were computed
        lower = np.tril(np.ones((n1, n1), dtype=bool), -1)
        swapped = result.transpose((1, 0, 3, 2)) if full_outputs else result.T
        result[lower] = swapped[lower]
    return jnp.asarray(result)


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
    return jnp.arccos(cos)


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


def _relu_moments(s11, s12, s22, symmetric):
    """E[relu(u) relu(v)] and E[relu'(u) relu'(v)] for (u, v) centred Gaussian with
    covariance [[s11, s12], [s12, s22]] (arc-cosine kernels of degree 1 and 0)."""
    norm = jnp.sqrt(s11[:, None] * s22[None, :])
    theta = jnp.arccos(_safe_cos(s12, norm, symmetric))
    e_act = norm * (jnp.sin(theta) + (jnp.pi - theta) * jnp.cos(theta)) / (2 * jnp.pi)
    e_der = (jnp.pi - theta) / (2 * jnp.pi)
    return e_act, e_der, s11 / 2, s22 / 2


def _erf_moments(s11, s12, s22, symmetric):
    """E[erf(u) erf(v)] and E[erf'(u) erf'(v)] in closed form (Williams 1997)."""
    d11, d22 = 1 + 2 * s11, 1 + 2 * s22
    prod = d11[:, None] * d22[None, :]
    e_act = 2 / jnp.pi * jnp.arcsin(jnp.clip(2 * s12 / jnp.sqrt(prod), -1.0, 1.0))
    e_der = 4 / jnp.pi / jnp.sqrt(jnp.maximum(prod - 4 * s12**2, jnp.finfo(s12.dtype).tiny))
    diag = lambda s: 2 / jnp.pi * jnp.arcsin(2 * s / (1 + 2 * s))
    return e_act, e_der, diag(s11), diag(s22)


_MOMENTS = {"relu": _relu_moments, "erf": _erf_moments}


@partial(jax.jit, static_argnames=("activation", "w_std", "b_std", "symmetric"))
def _recursion(x1, x2, activation, w_std, b_std, symmetric):
    d = x1.shape[1]
    w, b = w_std[0] ** 2, b_std[0] ** 2
    s12 = w * (x1 @ x2.T) / d + b
    s11 = w * jnp.sum(x1**2, 1) / d + b
    s22 = w * jnp.sum(x2**2, 1) / d + b
    ntk = s12
    moments = _MOMENTS[activation]
    for w_l, b_l in zip(w_std[1:], b_std[1:]):
        w, b = w_l**2, b_l**2
        e_act, e_der, e11, e22 = moments(s11, s12, s22, symmetric)
        s12 = w * e_act + b
        ntk = s12 + w * e_der * ntk
        s11, s22 = w * e11 + b, w * e22 + b
    return Kernels(nngp=s12, ntk=ntk)


def infinite_width(net: MLP, x1, x2=None) -> Kernels:
    """NNGP and NTK of ``net`` in the limit of infinite widths; each (n1, n2).

    The recursion of Jacot et al. (2018), Theorem 1, in the parameterisation of
    :class:`ntkbook.networks.MLP` (per-layer ``w_std``, ``b_std``):

        Sigma_1(x, x') = w_1^2 <x, x'> / d + b_1^2,      Theta_1 = Sigma_1,
        Sigma_{l+1} = w_{l+1}^2 E[sigma(u) sigma(v)] + b_{l+1}^2,
        Theta_{l+1} = Sigma_{l+1} + w_{l+1}^2 E[sigma'(u) sigma'(v)] Theta_l,

    with (u, v) ~ N(0, Sigma_l restricted to {x, x'}). ReLU uses the arc-cosine
    formulas, erf its arcsine closed form. For bias-free ReLU networks a
    zero input gives kernel 0, the continuous limit.
    """
    if not isinstance(net, MLP):
        raise TypeError(f"net must be an ntkbook.networks.MLP, got {type(net).__name__}")
    if net.parameterization != "ntk":
        raise ValueError(
            f"infinite-width kernels are defined for parameterization='ntk', got {net.parameterization!r} "
            "(in the mean-field scaling the NTK vanishes like 1/width)"
        )
    if not isinstance(net.activation, str) or net.activation not in _MOMENTS:
        raise ValueError(
            f"infinite-width kernels need activation in {sorted(_MOMENTS)}, got {net.activation!r}; "
            "use monte_carlo for other activations"
        )
    symmetric = x2 is None
    a, b = _checks.point_pair(x1, x2)
    return _recursion(a, b, net.activation, net.w_std, net.b_std, symmetric)


def two_layer_relu(x1, x2=None) -> TwoLayerNTK:
    """Closed-form infinite-width NTK of seed 001's two-layer ReLU network, in two parts:

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
    na, nb = jnp.linalg.norm(a, axis=1), jnp.linalg.norm(b, axis=1)
    dot, norm = a @ b.T, na[:, None] * nb[None, :]
    theta = jnp.arccos(_safe_cos(dot, norm, symmetric))
    part_a = dot * (jnp.pi - theta) / (2 * jnp.pi)
    part_b = norm * (jnp.sin(theta) + (jnp.pi - theta) * jnp.cos(theta)) / (2 * jnp.pi)
    return TwoLayerNTK(a=part_a, b=part_b)


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
