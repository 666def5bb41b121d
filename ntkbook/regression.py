"""Linear, kernel and kernel ridge regression (chapter 1).

Shapes, in the symbols of ``book/notation.md``: ``n`` training points,
``n_test`` test points, ``d`` input features, targets ``y`` of shape (n,) or
(n, q) for ``q`` outputs. A kernel matrix on the training set ``k_train`` is
(n, n); between test and training points ``k_test_train`` is (n_test, n).

The predictor of kernel regression is ``f(x) = sum_i alpha_i k(x, x_i)``
with ``alpha = (K + ridge * I)^{-1} y``; ``ridge = 0`` interpolates the
training data. The solve goes through a Cholesky factorisation: a kernel matrix
that is singular or indefinite in floating point is reported as a
``ValueError`` rather than returned as NaN.
"""

from __future__ import annotations

from fractions import Fraction
from functools import partial
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from . import _checks
from ._scan import recorded

__all__ = [
    "GDPath",
    "cholesky",
    "solve",
    "predict",
    "fit_predict",
    "min_norm_solve",
    "rkhs_norm",
    "max_stable_step",
    "contraction_factor",
    "optimal_step",
    "gradient_descent_alpha",
    "measured_rate",
    "gradient_flow_alpha",
    "ridge_path",
    "linear_regression_gd",
    "least_squares",
    "solve_exact",
]


class GDPath(NamedTuple):
    """A recorded gradient-descent run.

    Attributes:
      final: the last iterate, shape of the parameter (P,) or (P, q).
      steps: (r + 1,) step numbers at which iterates were recorded (0 first).
      iterates: (r + 1, P) or (r + 1, P, q) recorded parameters.
      losses: (r + 1,) loss at each recorded iterate.
    """

    final: jax.Array
    steps: jax.Array
    iterates: jax.Array
    losses: jax.Array


@jax.jit
def _cholesky(k, shift):
    return jnp.linalg.cholesky(k + shift * jnp.eye(k.shape[0], dtype=k.dtype))


def cholesky(k_train, *, ridge: float = 0.0):
    """Lower Cholesky factor ``L`` of ``k_train + ridge * I``; shape (n, n).

    Raises ``ValueError`` when the shifted matrix is not numerically positive
    definite (a duplicated input, a low-rank kernel such as a polynomial kernel
    with fewer features than points, or a non-symmetric matrix), quoting its
    smallest eigenvalue; a ridge of a few times that size fixes it. Numerically
    positive definite means more than a finite factor: every pivot ``L_ii**2``
    must exceed ``10 n eps trace(K + ridge I)``, because the factor of a
    singular matrix is often finite, with a last pivot of rounding size.
    """
    k = _checks.square(k_train, "k_train")
    ridge = _checks.real(ridge, "ridge", low=0.0, strict=False)
    concrete = _checks.is_concrete(k)
    if concrete and not np.allclose(k_np := np.asarray(k), k_np.T, rtol=1e-5, atol=1e-8 * np.abs(k_np).max()):
        raise ValueError("k_train must be symmetric, got a matrix with k_train != k_train.T")
    factor = _cholesky(k, jnp.asarray(ridge, k.dtype))
    if concrete and not _pivots_clear_rounding(factor, k, ridge):
        smallest = float(jnp.linalg.eigvalsh(k)[0])
        raise ValueError(
            f"k_train + ridge * I is not positive definite in {k.dtype} (n={k.shape[0]}, "
            f"ridge={ridge:g}, smallest eigenvalue of k_train {smallest:.3e}); "
            "pass a larger ridge, solve in float64 (jax_enable_x64), or use min_norm_solve for the ridge -> 0 limit"
        )
    return factor


#: A pivot below this many times ``n * eps * trace`` counts as zero (see _pivots_clear_rounding).
PIVOT_TOLERANCE = 10.0


def _pivots_clear_rounding(factor, k, ridge) -> bool:
    """Whether every Cholesky pivot ``L_ii**2`` clears the rounding level of the factorisation.

    A computed factor of a singular PSD matrix is often finite: its last pivot
    is rounding noise of size about ``n * eps * lambda_max`` instead of 0, and
    solving with it returns coefficients of size ``1 / eps``. Each pivot is at
    least ``lambda_min`` of a leading block, so by eigenvalue interlacing a
    pivot below ``PIVOT_TOLERANCE * n * eps * trace(K + ridge I)``
    (``trace >= lambda_max``) certifies an eigenvalue of ``K + ridge I`` that
    small: the matrix is singular to working precision (Higham, *Accuracy and
    Stability of Numerical Algorithms*, 2002, chapter 10).

    The level is the worst case on purpose: the last pivot of a rank ``n - 1``
    linear kernel in float64 reaches ``3 n eps trace`` at n = 20 (59 times
    ``eps trace`` in 96 finite factors out of 200 draws). In float32 the same
    level rejects kernel matrices of a thousand points or more with condition
    numbers in the thousands (an infinite-width NTK on the sphere at n = 1000,
    smallest eigenvalue 0.05), whose solves carry no accuracy guarantee there:
    the message asks for float64 or a ridge instead of returning such a solve.
    """
    if not bool(jnp.all(jnp.isfinite(factor))):
        return False
    n = k.shape[0]
    scale = float(jnp.trace(k)) + n * float(ridge)
    floor = PIVOT_TOLERANCE * n * float(jnp.finfo(k.dtype).eps) * scale
    return float(jnp.min(jnp.diagonal(factor)) ** 2) > floor


@jax.jit
def _cho_solve(factor, y):
    return jax.scipy.linalg.cho_solve((factor, True), y)


def solve(k_train, y, *, ridge: float = 0.0):
    """Coefficients ``alpha = (k_train + ridge * I)^{-1} y``; shape of ``y``.

    ``ridge = 0`` is kernel regression (the interpolant); ``ridge > 0`` is
    kernel ridge regression, the minimiser of
    ``|K alpha - y|**2 + ridge * alpha^T K alpha``.

    Raises:
      ValueError: ``k_train`` not square, symmetric and numerically positive
        definite after the shift (see :func:`cholesky`), a negative ``ridge``, or
        ``y`` without one row per training point.

    Examples:
        Kernel regression interpolates; a duplicated input makes the Gaussian
        kernel matrix singular, which is reported instead of returning NaN:

        >>> import jax.numpy as jnp
        >>> from ntkbook import kernels, regression
        >>> x = jnp.array([[0.0], [0.5], [1.0]])
        >>> y = jnp.array([1.0, -1.0, 2.0])
        >>> k = kernels.gaussian(x, bandwidth=0.5)
        >>> alpha = regression.solve(k, y)
        >>> bool(jnp.allclose(regression.predict(k, alpha), y, atol=1e-4))
        True
        >>> x_dup = jnp.array([[0.0], [0.0], [1.0]])
        >>> regression.solve(kernels.gaussian(x_dup), y)
        Traceback (most recent call last):
        ...
        ValueError: k_train + ridge * I is not positive definite in float... (n=3, ridge=0, ...
        >>> regression.solve(kernels.gaussian(x_dup), y, ridge=1e-3).shape
        (3,)
    """
    factor = cholesky(k_train, ridge=ridge)
    y = _checks.targets(y, factor.shape[0])
    return _cho_solve(factor, y.astype(factor.dtype))


def predict(k_test_train, alpha):
    """Predictions ``k_test_train @ alpha``; shape (n_test,) or (n_test, q)."""
    k = _checks.as_array(k_test_train, "k_test_train", ndim=2)
    alpha = _checks.targets(alpha, k.shape[1], "alpha")
    return k @ alpha


def fit_predict(kernel: Callable, x_train, y_train, x_test, *, ridge: float = 0.0):
    """Kernel (ridge) regression in one call; returns predictions of shape (n_test,) or (n_test, q).

    ``kernel(x1, x2)`` is any function returning an (n1, n2) kernel matrix,
    for example ``functools.partial(ntkbook.kernels.gaussian, bandwidth=0.5)``.

    Raises:
      TypeError: ``kernel`` is not callable.
      ValueError: ``x_train`` and ``x_test`` not (n, d) and (n_test, d) arrays of one
        width ``d``, or any error of :func:`solve`.
    """
    if not callable(kernel):
        raise TypeError(f"kernel must be a callable kernel(x1, x2), got {type(kernel).__name__}")
    x_train, x_test = _checks.point_pair(x_train, x_test, names=("x_train", "x_test"))
    alpha = solve(kernel(x_train, x_train), y_train, ridge=ridge)
    return predict(kernel(x_test, x_train), alpha)


@jax.jit
def _pinv_apply(k, y, rcond):
    evals, evecs = jnp.linalg.eigh(k)
    cutoff = rcond * jnp.max(jnp.abs(evals))
    inv = jnp.where(evals > cutoff, 1.0 / jnp.where(evals > cutoff, evals, 1.0), 0.0)
    coeff = evecs.T @ y
    coeff = coeff * (inv[:, None] if y.ndim == 2 else inv)
    return evecs @ coeff


def min_norm_solve(k_train, y, *, rcond: float | None = None):
    """Pseudo-inverse coefficients ``alpha = K^+ y``; shape of ``y``.

    Works for singular PSD matrices: eigenvalues below ``rcond * lambda_max``
    count as zero (default ``rcond = n * eps``). Among all minimisers of
    ``|K alpha - y|`` the function ``sum_i alpha_i K(., x_i)`` it defines has
    the smallest RKHS norm. It is the ridgeless limit of the *predictions* of
    :func:`solve`: ``K(x, X) alpha_gamma -> K(x, X) K^+ y`` as ``ridge -> 0``.
    The coefficients ``alpha_gamma`` themselves converge to ``K^+ y`` only when
    ``y`` lies in the range of ``K``; otherwise they grow like ``1 / ridge``.
    """
    k = _checks.square(k_train, "k_train")
    y = _checks.targets(y, k.shape[0])
    if rcond is None:
        rcond = k.shape[0] * float(jnp.finfo(k.dtype).eps)
    rcond = _checks.real(rcond, "rcond", low=0.0)
    return _pinv_apply(k, y.astype(k.dtype), jnp.asarray(rcond, k.dtype))


def rkhs_norm(k_train, alpha):
    """RKHS norm ``sqrt(alpha^T K alpha)`` of ``f = sum_i alpha_i K(., x_i)``; scalar (or (k,))."""
    k = _checks.square(k_train, "k_train")
    alpha = _checks.targets(alpha, k.shape[0], "alpha")
    quad = jnp.einsum("i...,ij,j...->...", alpha, k, alpha)
    return jnp.sqrt(jnp.maximum(quad, 0.0))


def max_stable_step(k_train):
    """Largest step size for which :func:`gradient_descent_alpha` converges: ``1 / lambda_max(K)**2``.

    The objective ``|K alpha - y|**2`` has Hessian ``2 K**2``; gradient descent on
    a quadratic converges when the step is below ``2 / lambda_max(Hessian)``.
    """
    k = _checks.square(k_train, "k_train")
    return 1.0 / float(jnp.linalg.eigvalsh(k)[-1]) ** 2


@partial(jax.jit, static_argnames=("num_records", "record_every"))
def _gd_least_squares(a, b, theta0, step, scale, num_records, record_every):
    """Gradient descent on ``(scale / 2) |a theta - b|**2``, recording every few steps."""

    def loss(theta):
        return 0.5 * scale * jnp.sum((a @ theta - b) ** 2)

    def one_step(theta):
        return theta - step * scale * (a.T @ (a @ theta - b))

    final, first, (thetas, losses) = recorded(one_step, lambda t: (t, loss(t)), theta0, num_records, record_every)
    iterates = jnp.concatenate([first[0][None], thetas])
    return final, iterates, jnp.concatenate([first[1][None], losses])


def _run_gd(a, b, theta0, step, scale, num_steps, record_every, what):
    num_records, record_every = _checks.record_schedule(num_steps, record_every)
    step = _checks.real(step, "step", low=0.0)
    final, iterates, losses = _gd_least_squares(
        a, b, theta0, jnp.asarray(step, a.dtype), jnp.asarray(scale, a.dtype), num_records, record_every
    )
    if _checks.is_concrete(losses) and not bool(jnp.all(jnp.isfinite(losses))):
        raise ValueError(
            f"gradient descent diverged (loss overflowed) with step={step:g}; {what}"
        )
    steps = jnp.arange(num_records + 1) * record_every
    return GDPath(final, steps, iterates, losses)


def gradient_descent_alpha(k_train, y, *, step: float, num_steps: int, record_every: int = 1, alpha0=None):
    """Gradient descent on ``J(alpha) = |K alpha - y|**2``: ``alpha <- alpha - 2 step K (K alpha - y)``.

    Converges to ``K^{-1} y`` for positive definite ``K`` when
    ``step < 1 / lambda_max(K)**2`` (see :func:`max_stable_step`). Runs as one
    jitted ``lax.scan``; memory holds only the recorded iterates.

    Returns a :class:`GDPath` with ``iterates`` of shape (num_steps // record_every + 1, n[, q]).

    Raises:
      ValueError: ``k_train`` not square, ``y`` or ``alpha0`` of the wrong shape,
        ``step <= 0``, ``num_steps`` not a positive multiple of
        ``record_every``, or a step so large that the loss overflows.
    """
    k = _checks.square(k_train, "k_train")
    y = _checks.targets(y, k.shape[0]).astype(k.dtype)
    alpha0 = jnp.zeros_like(y) if alpha0 is None else _checks.targets(alpha0, k.shape[0], "alpha0").astype(k.dtype)
    if alpha0.shape != y.shape:
        raise ValueError(f"alpha0 must have the shape of y {tuple(y.shape)}, got {tuple(alpha0.shape)}")
    return _run_gd(k, y, alpha0, step, 2.0, num_steps, record_every,
                   "the step must be below 1 / lambda_max(k_train)**2 (max_stable_step)")


def linear_regression_gd(x, y, *, step: float, num_steps: int, record_every: int = 1, theta0=None):
    """Gradient descent on ``L(theta) = |x theta - y|**2 / (2n)`` for the linear model ``f(x) = theta^T x``.

    The update is ``theta <- theta - (step / n) x^T (x theta - y)``: the gradient
    of the prediction ``theta^T x_i`` is ``x_i`` whatever ``theta`` is. From
    ``theta0 = 0`` the iterates stay in the row space of ``x`` and converge to
    the least-norm least-squares solution :func:`least_squares` when
    ``step < 2 n / lambda_max(x^T x)``.

    Args: x (n, d), y (n,) or (n, q), theta0 (d,) or (d, q) (zeros by default).
    Returns a :class:`GDPath` over theta.

    Raises:
      ValueError: ``x``, ``y`` or ``theta0`` of the wrong shape, ``step <= 0``,
        ``num_steps`` not a positive multiple of ``record_every``, or a step
        so large that the loss overflows.
    """
    x = _checks.points(x, "x")
    n, d = x.shape
    y = _checks.targets(y, n).astype(x.dtype)
    shape = (d,) + y.shape[1:]
    theta0 = jnp.zeros(shape, x.dtype) if theta0 is None else _checks.as_array(theta0, "theta0", ndim=y.ndim).astype(x.dtype)
    if theta0.shape != shape:
        raise ValueError(f"theta0 must have shape {shape}, got {tuple(theta0.shape)}")
    return _run_gd(x, y, theta0, step, 1.0 / n, num_steps, record_every,
                   "the step must be below 2 n / lambda_max(x^T x)")


def least_squares(x, y):
    """Least-norm minimiser of ``|x theta - y|``; shape (d,) or (d, q). Uses ``x^+ y``."""
    x = _checks.points(x, "x")
    y = _checks.targets(y, x.shape[0]).astype(x.dtype)
    return jnp.linalg.pinv(x) @ y


def _extreme_eigenvalues(k):
    evals = jnp.linalg.eigvalsh(k)
    return float(evals[-1]), float(evals[0])


def contraction_factor(k_train, step: float) -> float:
    """Contraction factor per step of :func:`gradient_descent_alpha`.

    Parameters
    ----------
    k_train : array, shape (n, n)
        Symmetric positive definite kernel matrix ``K`` with eigenvalues
        ``lambda_1 >= ... >= lambda_n > 0``.
    step : float
        Step size ``eta > 0``.

    Returns
    -------
    float
        ``rho(eta) = max_i |1 - 2 eta lambda_i**2|
        = max(|1 - 2 eta lambda_1**2|, |1 - 2 eta lambda_n**2|)``, the norm of
        the iteration matrix ``I - 2 eta K**2``. It is below 1 exactly when
        ``0 < eta < 1 / lambda_1**2`` and tends to 1 at both ends of that interval.

    Raises
    ------
    ValueError
        If ``step`` is not positive or ``k_train`` is not square.
    """
    k = _checks.square(k_train, "k_train")
    step = _checks.real(step, "step", low=0.0)
    top, bottom = _extreme_eigenvalues(k)
    return max(abs(1.0 - 2.0 * step * top**2), abs(1.0 - 2.0 * step * bottom**2))


def optimal_step(k_train) -> float:
    """Step size that minimises :func:`contraction_factor`: ``1 / (lambda_1**2 + lambda_n**2)``.

    Parameters
    ----------
    k_train : array, shape (n, n)
        Symmetric positive definite kernel matrix.

    Returns
    -------
    float
        The step at which the slowest and the fastest eigendirection contract
        equally fast; there the factor is ``(kappa**2 - 1) / (kappa**2 + 1)`` with
        ``kappa = lambda_1 / lambda_n`` (the classical optimal fixed step for a
        quadratic with Hessian ``2 K**2``; Nocedal and Wright, *Numerical
        Optimization*, 2006, section 3.3).

    Raises
    ------
    ValueError
        If ``k_train`` is not square, or not positive definite.
    """
    k = _checks.square(k_train, "k_train")
    top, bottom = _extreme_eigenvalues(k)
    if bottom <= 0.0:
        raise ValueError(f"k_train must be positive definite, got smallest eigenvalue {bottom:.3e}")
    return 1.0 / (top**2 + bottom**2)


def measured_rate(path: GDPath, limit, *, tail: float = 0.5) -> float:
    """Contraction per step read off a recorded run: ``exp`` of the slope of ``log |theta_s - limit|``.

    Parameters
    ----------
    path : GDPath
        A run of :func:`gradient_descent_alpha` or :func:`linear_regression_gd`.
    limit : array
        The point the iterates converge to, shape of ``path.final``.
    tail : float
        Fraction of the usable recorded iterates, counted from the end, used
        for the least-squares fit (the slowest direction dominates late in the
        run). Usable means a distance above ``1000 eps`` times the first
        distance: below that, rounding dominates.

    Returns
    -------
    float
        The fitted factor ``r`` in ``|theta_s - limit| ~ C r**s``.

    Raises
    ------
    TypeError
        If ``path`` is not a :class:`GDPath`.
    ValueError
        If ``tail`` is not in (0, 1], ``limit`` has not the shape of
        ``path.final``, or fewer than two usable iterates remain.
    """
    if not isinstance(path, GDPath):
        raise TypeError(f"path must be a GDPath, got {type(path).__name__}")
    tail = _checks.real(tail, "tail", low=0.0)
    if tail > 1.0:
        raise ValueError(f"tail must be in (0, 1], got {tail}")
    limit = _checks.as_array(limit, "limit", ndim=path.final.ndim)
    if limit.shape != path.final.shape:
        raise ValueError(f"limit must have shape {tuple(path.final.shape)}, got {tuple(limit.shape)}")
    axes = tuple(range(1, path.iterates.ndim))
    dist = np.sqrt(np.sum(np.asarray(path.iterates - limit[None]) ** 2, axis=axes))
    steps = np.asarray(path.steps, dtype=float)
    floor = 1e3 * float(jnp.finfo(path.iterates.dtype).eps) * dist[0]
    usable = np.flatnonzero(dist > floor)
    keep = usable[int((1.0 - tail) * usable.size):]
    if keep.size < 2:
        raise ValueError("fewer than two recorded iterates above rounding level in the tail; record more often")
    return float(np.exp(np.polyfit(steps[keep], np.log(dist[keep]), 1)[0]))


def gradient_flow_alpha(k_train, y, times):
    """Gradient flow on ``J(alpha) = |K alpha - y|**2`` from ``alpha = 0``, in closed form.

    The flow ``d alpha / dt = -2 K (K alpha - y)`` is the continuous-time limit of
    :func:`gradient_descent_alpha` (``s`` steps of size ``eta`` at ``t = s eta``).
    In the eigenbasis ``K = sum_i lambda_i v_i v_i^T``,

    ``alpha(t) = sum_i (1 - exp(-2 lambda_i**2 t)) / lambda_i  v_i v_i^T y``,

    so the training predictions ``K alpha(t)`` keep the component of ``y`` along
    ``v_i`` with the filter factor ``1 - exp(-2 lambda_i**2 t)``. Null directions
    of ``K`` (``lambda_i = 0``) contribute nothing.

    Parameters
    ----------
    k_train : array, shape (n, n)
        Symmetric positive semi-definite kernel matrix.
    y : array, shape (n,) or (n, q)
        Targets.
    times : array, shape (T,)
        Non-negative, finite flow times.

    Returns
    -------
    array, shape (T, n) or (T, n, q)
        ``alpha(t)`` at each time.

    Raises
    ------
    ValueError
        If shapes disagree or a time is negative or not finite.
    """
    k = _checks.square(k_train, "k_train")
    y = _checks.targets(y, k.shape[0]).astype(k.dtype)
    times = _checks.as_array(times, "times", ndim=1).astype(k.dtype)
    if np.any(np.asarray(times) < 0):
        raise ValueError(f"times must be >= 0, got {np.asarray(times)!r}")
    evals, evecs = jnp.linalg.eigh(k)
    lam = jnp.maximum(evals, 0.0)
    x = 2.0 * lam[None, :] ** 2 * times[:, None]  # (T, n)
    # (1 - exp(-2 lam^2 t)) / lam, written with expm1; it tends to 2 lam t -> 0 as lam -> 0
    gain = jnp.where(lam > 0, -jnp.expm1(-x) / jnp.where(lam > 0, lam, 1.0)[None, :], 0.0)
    coeff = evecs.T @ y
    return jnp.einsum("ij,tj,j...->ti...", evecs, gain, coeff)


def ridge_path(k_train, y, ridges):
    """Kernel ridge coefficients ``alpha_gamma = (K + gamma I)^{-1} y`` for several ridges.

    Each solve goes through its own Cholesky factorisation (:func:`solve`), so
    the path is computed independently of the eigendecomposition used by
    :func:`min_norm_solve`.

    Parameters
    ----------
    k_train : array, shape (n, n)
        Symmetric positive semi-definite kernel matrix.
    y : array, shape (n,) or (n, q)
        Targets.
    ridges : sequence of float, length R
        Ridge parameters ``gamma > 0``.

    Returns
    -------
    array, shape (R, n) or (R, n, q)

    Raises
    ------
    ValueError
        If a ridge is not positive, or ``K + gamma I`` is not numerically
        positive definite.
    """
    ridges = [_checks.real(r, "ridges", low=0.0) for r in np.atleast_1d(np.asarray(ridges, dtype=float))]
    return jnp.stack([solve(k_train, y, ridge=r) for r in ridges])


def solve_exact(k_train, y, *, ridge: float = 0.0) -> list[Fraction]:
    """Exact rational solution of ``(k_train + ridge * I) alpha = y``, free of rounding.

    Every float entry of ``k_train``, ``y`` and ``ridge`` is a binary fraction,
    and Gauss-Jordan elimination in :class:`fractions.Fraction` arithmetic
    solves the system they define with no rounding at all. Chapter 1 uses it
    to tell the rounding of a floating-point *solver* apart from the rounding
    already in the *data* (a float64 kernel matrix that is only nearly
    singular). The cost is ``O(n**3)`` operations on fractions whose size
    grows with ``n``: meant for ``n`` of a few tens.

    Parameters
    ----------
    k_train : array, shape (n, n)
        Square matrix (a kernel matrix in chapter 1; symmetry is not needed).
    y : array, shape (n,)
        Right-hand side.
    ridge : float
        Non-negative shift added to the diagonal.

    Returns
    -------
    list of fractions.Fraction, length n
        The exact solution ``alpha``; ``float(alpha[i])`` rounds it.

    Raises
    ------
    ValueError
        If ``k_train`` is not square, ``y`` is not of shape (n,), ``ridge``
        is negative, or ``k_train + ridge * I`` is exactly singular.
    """
    _checks.square(k_train, "k_train")
    _checks.as_array(y, "y", ndim=1)
    # values from the inputs themselves: a JAX conversion could round float64 to float32
    k, y = np.asarray(k_train, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if y.shape[0] != k.shape[0]:
        raise ValueError(f"y must have shape ({k.shape[0]},), got {y.shape}")
    shift = Fraction(_checks.real(ridge, "ridge", low=0.0, strict=False))
    rows = [[Fraction(v) for v in row] + [Fraction(t)] for row, t in zip(k.tolist(), y.tolist())]
    n = len(rows)
    for i in range(n):
        rows[i][i] += shift
    for col in range(n):
        pivot = next((r for r in range(col, n) if rows[r][col] != 0), None)
        if pivot is None:
            raise ValueError(f"k_train + ridge * I is exactly singular (no pivot in column {col}, ridge={float(shift):g})")
        rows[col], rows[pivot] = rows[pivot], rows[col]
        rows[col] = [v / rows[col][col] for v in rows[col]]
        for r in range(n):
            if r != col and rows[r][col] != 0:
                factor = rows[r][col]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[col])]
    return [row[-1] for row in rows]
