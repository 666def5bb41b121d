"""Classical kernels and explicit feature maps (chapter 1).

Every kernel takes two batches of inputs ``x1`` of shape (n1, d) and ``x2`` of
shape (n2, d) and returns the kernel matrix of shape (n1, n2). Passing
``x2=None`` gives the square Gram matrix of ``x1``. Hyper-parameters are
keyword-only, so a kernel with fixed hyper-parameters is
``functools.partial(gaussian, bandwidth=0.5)``.

Kernels implemented (Schoelkopf and Smola, *Learning with Kernels*, 2002, ch. 2):

==============  ===========================================
``linear``      ``<x, x'>``
``polynomial``  ``(c + <x, x'>)**degree``
``gaussian``    ``exp(-|x - x'|**2 / (2 bandwidth**2))``
``laplace``     ``exp(-|x - x'| / bandwidth)``
==============  ===========================================

Errors: inputs that are not finite real (n, d) arrays, ``x1`` and ``x2`` of
different widths ``d``, a non-positive ``bandwidth``, a negative ``c`` or a
non-integer ``degree`` raise ``TypeError`` or ``ValueError`` naming the argument.
"""

from __future__ import annotations

import functools
import itertools
import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks

__all__ = [
    "linear",
    "polynomial",
    "gaussian",
    "laplace",
    "squared_distances",
    "polynomial_features",
    "polynomial_feature_count",
    "alignment",
    "random_fourier_features",
    "gram_flops",
]


@jax.jit
def _linear(x1, x2):
    return x1 @ x2.T


@jax.jit
def _squared_distances(x1, x2):
    # |a - b|^2 = |a|^2 + |b|^2 - 2<a, b>: one matrix product instead of an
    # (n1, n2, d) difference tensor. Rounding can make it slightly negative.
    sq = jnp.sum(x1**2, axis=1)[:, None] + jnp.sum(x2**2, axis=1)[None, :] - 2.0 * (x1 @ x2.T)
    return jnp.maximum(sq, 0.0)


@partial(jax.jit, static_argnames="degree")
def _polynomial(x1, x2, degree, c):
    return (c + x1 @ x2.T) ** degree


@jax.jit
def _gaussian(x1, x2, bandwidth):
    return jnp.exp(-_squared_distances(x1, x2) / (2.0 * bandwidth**2))


@jax.jit
def _laplace(x1, x2, bandwidth):
    return jnp.exp(-jnp.sqrt(_squared_distances(x1, x2)) / bandwidth)


def linear(x1, x2=None):
    """Linear kernel ``K[i, j] = <x1[i], x2[j]>``; shape (n1, n2)."""
    a, b = _checks.point_pair(x1, x2)
    return _linear(a, b)


def squared_distances(x1, x2=None):
    """Squared Euclidean distances ``|x1[i] - x2[j]|**2``; shape (n1, n2), entries >= 0."""
    a, b = _checks.point_pair(x1, x2)
    return _squared_distances(a, b)


def polynomial(x1, x2=None, *, degree: int = 2, c: float = 1.0):
    """Inhomogeneous polynomial kernel ``(c + <x, x'>)**degree``; shape (n1, n2).

    It is the inner product of the explicit features returned by
    :func:`polynomial_features` with the same ``degree`` and ``c``, but costs
    O(d) per entry instead of O(d**degree).
    """
    a, b = _checks.point_pair(x1, x2)
    degree = _checks.integer(degree, "degree", low=1)
    c = _checks.real(c, "c", low=0.0, strict=False)
    return _polynomial(a, b, degree, jnp.asarray(c, a.dtype))


def gaussian(x1, x2=None, *, bandwidth: float = 1.0):
    """Gaussian (RBF) kernel ``exp(-|x - x'|**2 / (2 bandwidth**2))``; shape (n1, n2).

    Examples:
        >>> import jax.numpy as jnp
        >>> from ntkbook import kernels
        >>> x = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
        >>> k = kernels.gaussian(x, bandwidth=1.0)
        >>> k.shape
        (3, 3)
        >>> round(float(k[0, 1]), 6)  # exp(-1/2)
        0.606531
        >>> kernels.gaussian(x, jnp.ones((4, 3)))
        Traceback (most recent call last):
        ...
        ValueError: x1 and x2 must have the same number of features, got x1.shape=(3, 2) and x2.shape=(4, 3)
    """
    a, b = _checks.point_pair(x1, x2)
    bandwidth = _checks.real(bandwidth, "bandwidth", low=0.0)
    return _gaussian(a, b, jnp.asarray(bandwidth, a.dtype))


def laplace(x1, x2=None, *, bandwidth: float = 1.0):
    """Laplace kernel ``exp(-|x - x'| / bandwidth)``; shape (n1, n2)."""
    a, b = _checks.point_pair(x1, x2)
    bandwidth = _checks.real(bandwidth, "bandwidth", low=0.0)
    return _laplace(a, b, jnp.asarray(bandwidth, a.dtype))


def polynomial_feature_count(d: int, degree: int) -> int:
    """Number of features of :func:`polynomial_features`: ``C(d + degree, degree)``.

    For fixed ``degree`` this grows like ``d**degree / degree!``, the
    Theta(d^k) cost of explicit features.
    """
    d = _checks.integer(d, "d", low=1)
    degree = _checks.integer(degree, "degree", low=1)
    return math.comb(d + degree, degree)


@functools.lru_cache(maxsize=32)
def _multisets(d: int, degree: int) -> tuple[np.ndarray, np.ndarray]:
    """All multisets of size ``degree`` from ``{0, ..., d}`` and their weights.

    Index 0 stands for the constant coordinate ``sqrt(c)``. The weight of a
    multiset with multiplicities beta is the multinomial ``degree! / prod(beta!)``.
    """
    combos = np.array(list(itertools.combinations_with_replacement(range(d + 1), degree)))
    counts = (combos[:, :, None] == np.arange(d + 1)).sum(axis=1)
    factorials = np.array([math.factorial(k) for k in range(degree + 1)], dtype=float)
    return combos, math.factorial(degree) / factorials[counts].prod(axis=1)


def polynomial_features(x, *, degree: int = 2, c: float = 1.0):
    """Explicit feature map of the polynomial kernel; shape (n, C(d + degree, degree)).

    With ``z = (sqrt(c), x)`` the multinomial theorem gives
    ``(c + <x, x'>)**degree = (<z, z'>)**degree
    = sum_{|beta| = degree} (degree! / beta!) z**beta z'**beta``,
    so the features are ``sqrt(degree! / beta!) * z**beta`` over all
    multi-indices ``beta`` of size ``degree``, and
    ``polynomial_features(x1) @ polynomial_features(x2).T == polynomial(x1, x2)``.

    For d = 2, degree = 2, c = 1 the features span the same space as
    ``(1, x1, x2, x1 x2, x1**2, x2**2)``; only the scaling of each coordinate
    differs.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from ntkbook import kernels
        >>> x = jax.random.normal(jax.random.key(0), (5, 3))
        >>> phi = kernels.polynomial_features(x, degree=3)
        >>> phi.shape  # C(3 + 3, 3) = 20 features
        (5, 20)
        >>> bool(jnp.allclose(phi @ phi.T, kernels.polynomial(x, degree=3), rtol=1e-4))
        True
    """
    arr = _checks.points(x, "x")
    degree = _checks.integer(degree, "degree", low=1)
    c = _checks.real(c, "c", low=0.0, strict=False)
    combos, weights = _multisets(arr.shape[1], degree)
    z = jnp.concatenate([jnp.full((arr.shape[0], 1), math.sqrt(c), arr.dtype), arr], axis=1)
    return _monomials(z, jnp.asarray(combos), jnp.asarray(np.sqrt(weights), arr.dtype))


@jax.jit
def _monomials(z, combos, scale):
    return scale * jnp.prod(z[:, combos], axis=-1)


def alignment(k, y) -> jax.Array:
    """Kernel-target alignment ``<K, Y Y^T>_F / (|K|_F |Y Y^T|_F)`` (Cristianini et al. 2002); scalar in [-1, 1].

    ``k`` is an (n, n) kernel matrix and ``y`` the targets, (n,) or (n, c) (for
    classification, centred one-hot labels). An alignment of 1 means the kernel
    is a multiple of the target Gram matrix ``Y Y^T``.

    Raises:
      ValueError: ``k`` not a square 2-d matrix, ``y`` not 1-d or 2-d with one
        row per row of ``k``, or entries that are not finite.

    Examples:
        >>> import jax.numpy as jnp
        >>> from ntkbook import kernels
        >>> y = jnp.array([1.0, -1.0, 1.0])
        >>> round(float(kernels.alignment(2 * jnp.outer(y, y), y)), 6)
        1.0
        >>> round(float(kernels.alignment(jnp.eye(3), y)), 6)  # 3 / (sqrt(3) * 3)
        0.57735
    """
    k = _checks.as_array(k, "k", ndim=2)
    if k.shape[0] != k.shape[1]:
        raise ValueError(f"k must be a square (n, n) matrix, got shape {tuple(k.shape)}")
    y = _checks.as_array(y, "y", ndim=(1, 2))
    if y.shape[0] != k.shape[0]:
        raise ValueError(f"y must have {k.shape[0]} rows (one per sample), got shape {tuple(y.shape)}")
    y = y.reshape(y.shape[0], -1).astype(k.dtype)
    target = y @ y.T
    return jnp.sum(k * target) / (jnp.linalg.norm(k) * jnp.linalg.norm(target))


def random_fourier_features(key, x, num_features: int, *, kernel: str = "gaussian", bandwidth: float = 1.0):
    """Random Fourier features of a translation-invariant kernel (Rahimi and Recht 2007).

    Bochner's theorem writes a continuous positive definite ``k(x, x') = h(x - x')``
    with ``h(0) = 1`` as ``E_xi cos(xi . (x - x'))`` for a probability
    measure on frequencies ``xi``. The features
    ``z(x) = M**-1/2 (cos(xi_j . x), sin(xi_j . x))_{j <= M}`` with
    ``xi_j`` drawn from that measure satisfy
    ``z(x) . z(x') = (1/M) sum_j cos(xi_j . (x - x'))``, a Monte Carlo estimate
    of ``k(x, x')`` whose error shrinks like ``M**-1/2``.

    The spectral measures are

    - ``"gaussian"``: ``xi ~ N(0, bandwidth**-2 I_d)``, for
      :func:`gaussian`;
    - ``"laplace"``: the multivariate Cauchy law, ``xi = g / (bandwidth |c|)``
      with ``g ~ N(0, I_d)`` and ``c ~ N(0, 1)`` (a multivariate Student t with
      one degree of freedom, whose characteristic function is
      ``exp(-|delta| / bandwidth)``), for :func:`laplace`.

    Parameters
    ----------
    key : jax.random key
        The same key gives the same frequencies, so features of two point sets
        drawn with one key estimate the cross kernel.
    x : array, shape (n, d)
        Inputs.
    num_features : int
        Number ``M`` of frequencies; the output has ``2 M`` columns.
    kernel : {"gaussian", "laplace"}
        Which kernel's spectral measure to sample.
    bandwidth : float
        Bandwidth ``zeta > 0`` of the kernel.

    Returns
    -------
    array, shape (n, 2 M)

    Raises
    ------
    ValueError
        If ``kernel`` is not one of the two names, or an argument is out of range.
    """
    arr = _checks.points(x, "x")
    num_features = _checks.integer(num_features, "num_features", low=1)
    bandwidth = _checks.real(bandwidth, "bandwidth", low=0.0)
    if kernel not in ("gaussian", "laplace"):
        raise ValueError(f"kernel must be 'gaussian' or 'laplace', got {kernel!r}")
    k_dir, k_scale = jax.random.split(key)
    xi = jax.random.normal(k_dir, (arr.shape[1], num_features), arr.dtype) / bandwidth
    if kernel == "laplace":
        xi = xi / jnp.abs(jax.random.normal(k_scale, (1, num_features), arr.dtype))
    phase = arr @ xi
    return jnp.concatenate([jnp.cos(phase), jnp.sin(phase)], axis=1) / math.sqrt(num_features)


def gram_flops(gram, x) -> float:
    """Floating-point operations that XLA counts in the compiled program ``gram(x)``.

    A machine-independent measure of cost: it depends on the computation, not
    on the processor or its load. For a Gram matrix of ``n`` points through
    ``D`` explicit features it is about ``2 n**2 D``; through a kernel formula
    that costs ``O(d)`` per entry it is about ``2 n**2 d``.

    Parameters
    ----------
    gram : callable
        A function of one array, for example ``kernels.polynomial`` or
        ``lambda x: polynomial_features(x) @ polynomial_features(x).T``.
    x : array, shape (n, d)
        The inputs it is compiled for.

    Returns
    -------
    float
        XLA's operation count of the optimised program.

    Raises
    ------
    TypeError
        If ``gram`` is not callable.
    RuntimeError
        If the backend does not report a cost analysis.
    """
    if not callable(gram):
        raise TypeError(f"gram must be a callable gram(x), got {type(gram).__name__}")
    arr = _checks.points(x, "x")
    cost = jax.jit(gram).lower(arr).compile().cost_analysis()
    if isinstance(cost, (list, tuple)):  # older JAX returns one dict per device program
        cost = cost[0] if cost else None
    if not cost or "flops" not in cost:
        raise RuntimeError(f"the {jax.default_backend()} backend reports no flop count for gram(x)")
    return float(cost["flops"])
