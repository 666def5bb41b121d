"""Training dynamics: gradient descent, the linearised model, gradient flow (chapter 3).

Loss convention (seeds 001-003): for ``n`` training points with targets
``y`` of shape (n, k)::

    L(theta) = 1 / (2 n) * sum_i |f(theta; x_i) - y_i|**2,

so one gradient-descent step ``theta <- theta - step * grad L`` moves the
training predictions ``u`` by ``-(step / n) Theta (u - y)`` to first order,
and gradient flow in time ``t = step * steps`` solves
``du/dt = -(1/n) Theta_t (u - y)``.

References: Jacot, Gabriel, Hongler (2018), Theorem 2; Lee et al. (2019),
"Wide neural networks of any depth evolve as linear models under gradient
descent"; Chizat, Oyallon, Bach (2019), "On lazy training".
"""

from __future__ import annotations

import math
import sys
from functools import partial
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree

from . import _checks, regression, tangent
from .networks import MLP, FixedReadoutReLU
from ._scan import recorded
from .tangent import _as_matrix_output, _jacobian, _traced_ntk

__all__ = [
    "Trajectory",
    "FlowSolution",
    "gradient_descent",
    "linearize",
    "gradient_flow",
    "kernel_drift",
    "relative_distance",
    "lazy_training_ratio",
    "hessian_norm",
    "kernel_gradient_descent",
    "pattern_flips",
    "flip_jumps",
    "jacobian_change",
    "TrainedDistribution",
    "trained_distribution",
    "LazyMeasures",
    "lazy_measures",
    "linearised_ntk_first_order",
    "antisymmetric_fixed_readout",
]


class Trajectory(NamedTuple):
    """What :func:`gradient_descent` records, at steps ``0, r, 2r, ...``.

    Attributes:
      steps: (R + 1,) step numbers.
      loss: (R + 1,) training loss ``|u - y|**2 / (2 n)``.
      train: (R + 1, n, k) predictions on the training inputs.
      test: (R + 1, m, k) predictions on ``x_test`` (None if not given).
      distance: (R + 1,) ``|theta_t - theta_0|`` (Euclidean, all parameters).
      probe_ntk: (R + 1, p, p) empirical NTK on ``x_probe`` (None if not given).
      params: the final parameters.
    """

    steps: jax.Array
    loss: jax.Array
    train: jax.Array
    test: jax.Array | None
    distance: jax.Array
    probe_ntk: jax.Array | None
    params: object


class FlowSolution(NamedTuple):
    """Closed-form gradient flow with a fixed kernel, at each requested time.

    Attributes:
      times: (T,) flow times.
      train: (T, n, k) training predictions ``u(t)``.
      test: (T, m, k) test predictions (None if no test kernel was given).
    """

    times: jax.Array
    train: jax.Array
    test: jax.Array | None


def _tree_distance(a, b):
    return jnp.sqrt(sum(jnp.sum((x - y) ** 2) for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b))))


@partial(jax.jit, static_argnames=("apply_fn", "num_records", "record_every", "with_test", "with_probe"))
def _gd_records(apply_fn, params, params0, x, y, x_test, x_probe, step, num_records, record_every, with_test, with_probe):
    f = _as_matrix_output(apply_fn)
    n = x.shape[0]

    def loss_fn(p):
        return 0.5 * jnp.sum((f(p, x) - y) ** 2) / n

    grad = jax.grad(loss_fn)

    def one_step(p):
        return jax.tree_util.tree_map(lambda w, g: w - step * g, p, grad(p))

    def observe(p):
        out = {"loss": loss_fn(p), "train": f(p, x), "distance": _tree_distance(p, params0)}
        if with_test:
            out["test"] = f(p, x_test)
        if with_probe:
            out["probe_ntk"] = _traced_ntk(apply_fn, p, x_probe)
        return out

    final, initial, records = recorded(one_step, observe, params, num_records, record_every)
    return final, records, initial


def _progress(done, total, width=30):
    filled = int(width * done / total)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] step {done:,}/{total:,}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def gradient_descent(
    apply_fn: Callable,
    params,
    x_train,
    y_train,
    *,
    step: float,
    num_steps: int,
    record_every: int = 1,
    x_test=None,
    x_probe=None,
    progress: bool | None = None,
) -> Trajectory:
    """Full-batch gradient descent on ``L = |f(x) - y|**2 / (2 n)``, recording every ``record_every`` steps.

    Runs as jitted ``lax.scan`` blocks; memory holds the recorded quantities only.

    Args:
      apply_fn: ``apply_fn(params, x)`` returning (n,) or (n, k); hashable.
      params: the initial parameters (any pytree).
      x_train: (n, d); y_train: (n,) or (n, k).
      step: step size eta > 0; num_steps: a multiple of ``record_every``.
      x_test: optional (m, d) inputs whose predictions are recorded.
      x_probe: optional (p, d) inputs on which the empirical NTK is recorded
        (kept small: it costs a Jacobian per record).
      progress: show a progress bar on stderr. ``None`` shows it only when
        stderr is a terminal, so it never enters stored notebook outputs.

    Returns:
      A :class:`Trajectory` with ``num_steps // record_every + 1`` records.

    Raises:
      TypeError: ``apply_fn`` is not callable.
      ValueError: inputs or targets of the wrong shape (``y_train`` must match
        the network's outputs), ``step <= 0``, ``num_steps`` not a positive
        multiple of ``record_every``, or a step so large that the loss overflows.
    """
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be a callable apply_fn(params, x), got {type(apply_fn).__name__}")
    x = _checks.points(x_train, "x_train")
    y = _checks.targets(y_train, x.shape[0], "y_train")
    y = y.reshape(y.shape[0], -1).astype(jnp.result_type(*jax.tree_util.tree_leaves(params)))
    x = x.astype(y.dtype)
    total, record_every = _checks.record_schedule(num_steps, record_every)
    step = _checks.real(step, "step", low=0.0)
    out_shape = jax.eval_shape(_as_matrix_output(apply_fn), params, x).shape
    if out_shape != y.shape:
        raise ValueError(f"y_train must match the network's outputs {out_shape}, got shape {tuple(y.shape)}")
    x_t = None if x_test is None else _checks.point_pair(x, x_test, names=("x_train", "x_test"))[1].astype(y.dtype)
    x_p = None if x_probe is None else _checks.point_pair(x, x_probe, names=("x_train", "x_probe"))[1].astype(y.dtype)
    if progress is None:
        progress = sys.stderr.isatty()

    per_chunk = max(1, math.ceil(total / 20)) if progress else total
    chunks, first, current, done = [], None, params, 0
    while done < total:
        length = min(per_chunk, total - done)
        current, records, initial = _gd_records(
            apply_fn, current, params, x, y, x_t, x_p, jnp.asarray(step, y.dtype),
            length, record_every, x_t is not None, x_p is not None,
        )
        first = initial if first is None else first
        chunks.append(records)
        done += length
        if progress:
            _progress(done * record_every, num_steps)
    stacked = jax.tree_util.tree_map(lambda a, *rest: jnp.concatenate([a[None], *rest]), first, *chunks)
    if not bool(jnp.all(jnp.isfinite(stacked["loss"]))):
        raise ValueError(f"gradient descent diverged (the loss overflowed) with step={step:g}; try a smaller step")
    return Trajectory(
        steps=jnp.arange(total + 1) * record_every,
        loss=stacked["loss"],
        train=stacked["train"],
        test=stacked.get("test"),
        distance=stacked["distance"],
        probe_ntk=stacked.get("probe_ntk"),
        params=current,
    )


def linearize(apply_fn: Callable, params0) -> Callable:
    """The first-order Taylor model at ``params0``::

        f_lin(theta; x) = f(theta_0; x) + J(x) (theta - theta_0),

    returned as ``apply_lin(params, x)`` with the same signature and shapes as
    ``apply_fn``; its tangent kernel is the NTK at ``params0`` for every
    ``params``. Pass it to :func:`gradient_descent` to train the linearised network.
    Raises ``TypeError`` when ``apply_fn`` is not callable.
    """
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be a callable apply_fn(params, x), got {type(apply_fn).__name__}")

    def apply_lin(params, x):
        delta = jax.tree_util.tree_map(lambda p, p0: p - p0, params, params0)
        out, tangent = jax.jvp(lambda p: apply_fn(p, x), (params0,), (delta,))
        return out + tangent

    return apply_lin


@jax.jit
def _flow(evals, evecs, residual0, k_test_train, f0_test, times, n):
    # Per eigendirection: the residual decays by exp(-lam t / n); the test-side
    # coefficient K^{-1}(I - exp(-K t / n)) is (1 - exp(-lam t / n)) / lam, written
    # with expm1 so that it stays accurate for small lam t and tends to t / n as
    # lam -> 0. At finite t every eigenvalue decays at its own rate (rounding makes
    # tiny ones slightly negative: clip at 0). Only the limit t = inf needs a
    # cutoff, the pseudo-inverse convention n * eps * lam_max: below it a
    # direction counts as null, keeps its residual and adds nothing to predictions.
    cutoff = n * jnp.finfo(evals.dtype).eps * jnp.max(jnp.abs(evals))
    lam = jnp.maximum(evals, 0.0)[None, :]  # (1, n)
    lam_inf = jnp.where(evals > cutoff, evals, 0.0)[None, :]
    t = times[:, None]
    inf = jnp.isinf(t)
    finite_t = jnp.where(inf, 0.0, t)
    x = lam * finite_t / n
    decay = jnp.where(inf, (lam_inf == 0).astype(lam.dtype), jnp.exp(-x))  # (T, n)
    gain = jnp.where(
        inf,
        jnp.where(lam_inf > 0, 1.0 / jnp.where(lam_inf > 0, lam_inf, 1.0), 0.0),
        jnp.where(x < 1e-8, finite_t / n, -jnp.expm1(-x) / jnp.where(lam > 0, lam, 1.0)),
    )  # (T, n)
    coeff0 = evecs.T @ residual0  # (n, k)
    train_res = jnp.einsum("ij,tj,jk->tik", evecs, decay, coeff0)
    test = None
    if k_test_train is not None:
        projected = k_test_train @ evecs  # (m, n)
        test = f0_test[None] - jnp.einsum("mj,tj,jk->tmk", projected, gain, coeff0)
    return train_res, test


def _train_inputs(k_train, y_train, u0):
    """Checked kernel (n, n), its size n, targets and initial predictions of equal shape."""
    k = _checks.square(k_train, "k_train")
    n = k.shape[0]
    y = _checks.targets(y_train, n, "y_train")
    u0 = _checks.targets(u0, n, "u0")
    if u0.shape != y.shape:
        raise ValueError(f"u0 must have the shape of y_train {tuple(y.shape)}, got {tuple(u0.shape)}")
    return k, n, y, u0


def _test_inputs(k_test_train, f0_test, n, q, dtype):
    """Checked test-train kernel (p, n) and initial test outputs (p, q), or (None, None)."""
    if k_test_train is None:
        return None, None
    kt = _checks.as_array(k_test_train, "k_test_train", ndim=2).astype(dtype)
    if kt.shape[1] != n:
        raise ValueError(f"k_test_train must have {n} columns (one per training point), got shape {tuple(kt.shape)}")
    if f0_test is None:
        return kt, jnp.zeros((kt.shape[0], q), dtype)
    return kt, _checks.targets(f0_test, kt.shape[0], "f0_test").reshape(kt.shape[0], -1).astype(dtype)


def gradient_flow(k_train, y_train, u0, times, *, k_test_train=None, f0_test=None) -> FlowSolution:
    """Gradient flow ``du/dt = -(1/n) K (u - y)`` with a fixed kernel, solved in closed form.

    ``u(t) - y = exp(-K t / n) (u0 - y)`` and, for the linearised model, test
    predictions ``f_t(x) = f_0(x) - K(x, X) K^{-1} (I - exp(-K t / n)) (u0 - y)``,
    at all ``times`` from ONE eigendecomposition of ``K``. ``times`` may contain
    ``inf``: the limit is kernel regression on the residual, through the
    pseudo-inverse when ``K`` is singular.

    Args:
      k_train: (n, n) PSD kernel matrix; y_train, u0: (n,) or (n, k).
      times: (T,) non-negative flow times (``t = step * number of GD steps``).
      k_test_train: optional (m, n) kernel between test and training inputs;
      f0_test: (m,) or (m, k) test predictions at t = 0 (zeros by default).

    Returns:
      A :class:`FlowSolution`: ``train`` of shape (T,) + ``y_train.shape``,
      ``test`` (T, m) or (T, m, k) when ``k_test_train`` is given.

    Raises:
      ValueError: ``k_train`` not square or not positive semi-definite (an
        eigenvalue below ``-1e-6`` times the largest), targets, ``u0``,
        ``k_test_train`` or ``f0_test`` of the wrong shape, or ``times`` not a
        1-d array of non-negative numbers.

    Examples:
        At t = 0 the flow starts at ``u0``; with a positive definite kernel it
        reaches the targets as t grows:

        >>> import jax.numpy as jnp
        >>> from ntkbook import dynamics, kernels
        >>> x = jnp.array([[0.0], [0.5], [1.0]])
        >>> y = jnp.array([1.0, -1.0, 2.0])
        >>> flow = dynamics.gradient_flow(kernels.gaussian(x), y, jnp.zeros(3), [0.0, 10.0, jnp.inf])
        >>> flow.train.shape
        (3, 3)
        >>> [bool(jnp.allclose(flow.train[i], target, atol=1e-3)) for i, target in enumerate([0 * y, y, y])]
        [True, False, True]
    """
    k, n, y, u0 = _train_inputs(k_train, y_train, u0)
    times = jnp.asarray(times, k.dtype)
    if times.ndim != 1 or (_checks.is_concrete(times) and (np.any(np.isnan(np.asarray(times))) or np.any(np.asarray(times) < 0))):
        raise ValueError(f"times must be a 1-d array of non-negative numbers (inf allowed), got {np.asarray(times)!r}")
    squeeze = y.ndim == 1
    y2, u2 = y.reshape(n, -1).astype(k.dtype), u0.reshape(n, -1).astype(k.dtype)
    kt, f0 = _test_inputs(k_test_train, f0_test, n, y2.shape[1], k.dtype)
    evals, evecs = jnp.linalg.eigh(k)
    scale = float(jnp.max(jnp.abs(evals))) if _checks.is_concrete(evals) else None
    if scale is not None and float(evals[0]) < -1e-6 * scale:
        raise ValueError(f"k_train must be positive semi-definite, got smallest eigenvalue {float(evals[0]):.3e} (largest {scale:.3e})")
    res, test = _flow(evals, evecs, u2 - y2, kt, f0, times, n)
    train = res + y2[None]
    if squeeze:
        train = train[..., 0]
        test = None if test is None else test[..., 0]
    return FlowSolution(times=times, train=train, test=test)


def kernel_drift(k_t, k_0):
    """Relative change ``|K_t - K_0|_F / |K_0|_F``; accepts (p, p) or a stack (T, p, p).

    Returns a scalar, or (T,) for a stack. Raises ``ValueError`` when ``k_0`` is
    not 2-d or ``k_t`` does not end in the shape of ``k_0``.
    """
    k_t = _checks.as_array(k_t, "k_t", ndim=(2, 3))
    k_0 = _checks.as_array(k_0, "k_0", ndim=2)
    if k_t.shape[-2:] != k_0.shape:
        raise ValueError(f"k_t must end in the shape of k_0 {tuple(k_0.shape)}, got {tuple(k_t.shape)}")
    return jnp.linalg.norm(k_t - k_0, axis=(-2, -1)) / jnp.linalg.norm(k_0)


def relative_distance(params, params0):
    """Relative weight movement ``|theta - theta_0| / |theta_0|`` over all parameters; scalar."""
    return _tree_distance(params, params0) / _tree_distance(params0, jax.tree_util.tree_map(jnp.zeros_like, params0))


@partial(jax.jit, static_argnames=("apply_fn", "iterations"))
def _hessian_norms(apply_fn, params, x, key, iterations):
    flat, unravel = ravel_pytree(params)
    g = _as_matrix_output(apply_fn)

    def per_input(xi, k):
        scalar = lambda p: g(unravel(p), xi[None])[0, 0]
        hvp = lambda v: jax.jvp(jax.grad(scalar), (flat,), (v,))[1]
        v0 = jax.random.normal(k, flat.shape, flat.dtype)

        def body(_, v):
            hv = hvp(v)
            return hv / jnp.maximum(jnp.linalg.norm(hv), jnp.finfo(flat.dtype).tiny)

        v = lax.fori_loop(0, iterations, body, v0 / jnp.linalg.norm(v0))
        return jnp.linalg.norm(hvp(v))

    return jax.vmap(per_input)(x, jax.random.split(key, x.shape[0]))


def hessian_norm(apply_fn: Callable, params, x, *, key=None, iterations: int = 100):
    """Operator norm of the parameter Hessian of a scalar-output network at each input; shape (n,).

    Power iteration on Hessian-vector products (forward-over-reverse), never
    forming the P x P Hessian. The estimate ``|H v|`` for a unit ``v`` converges
    to the largest ``|eigenvalue|`` even when the top eigenvalues come in +-
    pairs, as they do for the bilinear two-layer ReLU network.

    Raises ``ValueError`` for a network with more than one output, ``x`` that is
    not (n, d), or ``iterations < 1``.
    """
    x = _checks.points(x, "x")
    iterations = _checks.integer(iterations, "iterations", low=1)
    dtype = jnp.result_type(*jax.tree_util.tree_leaves(params))
    out = jax.eval_shape(_as_matrix_output(apply_fn), params, x[:1].astype(dtype))
    if out.shape[1] != 1:
        raise ValueError(f"hessian_norm needs a scalar-output network, got {out.shape[1]} outputs")
    key = jax.random.key(0) if key is None else key
    return _hessian_norms(apply_fn, params, x.astype(dtype), key, iterations)


def lazy_training_ratio(apply_fn: Callable, params, x_train, y_train, *, key=None, iterations: int = 100) -> float:
    """Chizat, Oyallon and Bach's lazy-training ratio at ``params``::

        kappa = max_i |Hessian_theta f(x_i)| * |f(X) - y| / max_i |grad_theta f(x_i)|**2,

    with operator norms of per-input Hessians (:func:`hessian_norm`) and the
    sup over the training inputs standing in for the sup over all inputs.
    ``kappa << 1`` means the loss can fall before the Jacobian changes much.
    For two-layer networks with the ``m^{-1/2}`` output scaling, ``kappa = O(m^{-1/2})``.
    """
    x = _checks.points(x_train, "x_train")
    y = _checks.targets(y_train, x.shape[0], "y_train")
    dtype = jnp.result_type(*jax.tree_util.tree_leaves(params))
    x, y = x.astype(dtype), y.reshape(x.shape[0], -1).astype(dtype)
    f = _as_matrix_output(apply_fn)
    grad_sq = _traced_ntk(apply_fn, params, x)  # (n, n); diagonal = |grad f(x_i)|**2
    residual = jnp.linalg.norm(f(params, x) - y)
    hess = hessian_norm(apply_fn, params, x, key=key, iterations=iterations)
    return float(jnp.max(hess) * residual / jnp.max(jnp.diag(grad_sq)))


# ------------------------------------------------------------------ second edition: discrete kernel descent, flips, limits


@jax.jit
def _kernel_descent(evals, evecs, residual0, k_test_train, f0_test, steps, eta_over_n):
    # Per eigendirection the residual is multiplied by rho = 1 - eta lam / n each step;
    # the test side accumulates (eta / n) sum_{j < s} rho^j = (1 - rho^s) / lam, which
    # tends to s eta / n as lam -> 0 (written with log1p / expm1 for small lam).
    lam = jnp.maximum(evals, 0.0)[None, :]
    s = steps[:, None].astype(evals.dtype)
    rho = 1.0 - eta_over_n * lam
    odd = jnp.mod(steps[:, None], 2) == 1
    power = jnp.where((rho < 0) & odd, -1.0, 1.0) * jnp.abs(rho) ** s  # rho^s, also for rho < 0
    small = eta_over_n * lam < 0.5
    log_rho = jnp.log1p(-jnp.where(small, eta_over_n * lam, 0.0))
    gain_small = jnp.where(lam > 0, -jnp.expm1(s * log_rho) / jnp.where(lam > 0, lam, 1.0), s * eta_over_n)
    gain = jnp.where(small, gain_small, (1.0 - power) / jnp.where(lam > 0, lam, 1.0))
    coeff0 = evecs.T @ residual0
    train_res = jnp.einsum("ij,tj,jk->tik", evecs, power, coeff0)
    test = None
    if k_test_train is not None:
        test = f0_test[None] - jnp.einsum("mj,tj,jk->tmk", k_test_train @ evecs, gain, coeff0)
    return train_res, test


def kernel_gradient_descent(k_train, y_train, u0, *, step: float, num_steps: int, record_every: int = 1,
                            k_test_train=None, f0_test=None) -> FlowSolution:
    """Gradient descent with a fixed kernel, in closed form: the linearised network trained by GD.

    With the loss ``|u - y|**2 / (2 n)`` and a fixed kernel ``K``, one step maps the
    residual ``e = u - y`` to ``(I - step K / n) e``, and a test prediction moves by
    ``-(step / n) K(x, X) e``. Hence, with ``K = sum_i lam_i v_i v_i^T``::

        e(s) = sum_i (1 - step lam_i / n)^s <v_i, e(0)> v_i,
        f_s(x) = f_0(x) - K(x, X) sum_i (1 - (1 - step lam_i / n)^s) / lam_i <v_i, e(0)> v_i,

    the discrete counterpart of :func:`gradient_flow` (Lee et al. 2019, the
    linearised network under gradient descent; Arora et al. 2019, Theorem 4.1,
    the same recursion for the residual). Directions with ``step lam_i / n > 2``
    grow: the linearised model diverges beyond the step ``2 n / lam_max``.

    Parameters
    ----------
    k_train : array_like, shape (n, n)
        Positive semi-definite kernel matrix on the training inputs.
    y_train, u0 : array_like, shape (n,) or (n, q)
        Targets and predictions at step 0.
    step : float
        Step size ``eta > 0``.
    num_steps, record_every : int
        Number of steps, a multiple of ``record_every``; records at steps
        ``0, record_every, ..., num_steps``.
    k_test_train : array_like, shape (p, n), optional
        Kernel between test and training inputs.
    f0_test : array_like, shape (p,) or (p, q), optional
        Test predictions at step 0 (zeros by default).

    Returns
    -------
    FlowSolution
        ``times`` holds the flow times ``step * s`` of the records; ``train``
        (R + 1, n[, q]) and ``test`` (R + 1, p[, q]) the predictions.

    Raises
    ------
    ValueError
        If shapes disagree, ``k_train`` is not positive semi-definite, or
        ``step``, ``num_steps`` or ``record_every`` are out of range.
    """
    k, n, y, u0 = _train_inputs(k_train, y_train, u0)
    step = _checks.real(step, "step", low=0.0)
    num_records, record_every = _checks.record_schedule(num_steps, record_every)
    squeeze = y.ndim == 1
    y2, u2 = y.reshape(n, -1).astype(k.dtype), u0.reshape(n, -1).astype(k.dtype)
    kt, f0 = _test_inputs(k_test_train, f0_test, n, y2.shape[1], k.dtype)
    evals, evecs = jnp.linalg.eigh(k)
    scale = float(jnp.max(jnp.abs(evals)))
    if float(evals[0]) < -1e-6 * scale:
        raise ValueError(f"k_train must be positive semi-definite, got smallest eigenvalue {float(evals[0]):.3e} (largest {scale:.3e})")
    steps = jnp.arange(num_records + 1) * record_every
    res, test = _kernel_descent(evals, evecs, u2 - y2, kt, f0, steps, jnp.asarray(step / n, k.dtype))
    train = res + y2[None]
    if squeeze:
        train = train[..., 0]
        test = None if test is None else test[..., 0]
    return FlowSolution(times=steps * step, train=train, test=test)


def _first_layer_preactivations(net, params, x):
    if isinstance(net, FixedReadoutReLU):
        return x @ params["w"].T
    if isinstance(net, MLP):
        if net.depth < 1:
            raise ValueError("net must have at least one hidden layer to have an activation pattern, got depth 0")
        h = net.layer_scale(0, params[0]["w"].shape[0]) * (x @ params[0]["w"])
        return h + net.bias_scale(0) * params[0]["b"] if "b" in params[0] else h
    raise TypeError(f"net must be an ntkbook.networks.MLP or FixedReadoutReLU, got {type(net).__name__}")


def pattern_flips(net, params0, params, x) -> int:
    """Number of (input, neuron) pairs whose first-layer pre-activation changed sign.

    For a ReLU network this counts the activation-pattern changes between two
    parameter vectors: where none occurs, the network is a polynomial of degree
    2 in the parameters of a two-layer net along the segment between them, so
    every Taylor remainder is exactly quadratic.

    Parameters
    ----------
    net : ntkbook.networks.MLP or ntkbook.networks.FixedReadoutReLU
        The network (an MLP with at least one hidden layer).
    params0, params : pytree
        Two parameter vectors of ``net``.
    x : array_like, shape (n, d)
        Inputs.

    Returns
    -------
    int
        The number of sign changes among the ``n * m`` first-layer pre-activations.

    Raises
    ------
    TypeError
        If ``net`` is not one of the two network classes.
    ValueError
        If ``x`` is not a 2-d array or ``net`` has no hidden layer.
    """
    if not isinstance(net, (MLP, FixedReadoutReLU)):
        raise TypeError(f"net must be an ntkbook.networks.MLP or FixedReadoutReLU, got {type(net).__name__}")
    x = _checks.points(x, "x")
    before = _first_layer_preactivations(net, params0, x.astype(jnp.result_type(*jax.tree_util.tree_leaves(params0))))
    after = _first_layer_preactivations(net, params, x.astype(before.dtype))
    return int(jnp.sum((before > 0) != (after > 0)))


def flip_jumps(net, params0, params, x):
    """Per-neuron jumps of a two-layer ReLU tangent kernel caused by activation flips.

    For a one-hidden-layer ReLU :class:`ntkbook.networks.MLP` the tangent kernel
    on the inputs is a sum over neurons; neuron ``r`` contributes, through the
    derivatives in its input weights and bias,
    ``s_1^2 a_r^2 1[z_r(x) > 0] 1[z_r(x') > 0] (s_0^2 x . x' + b_0^2)`` with
    ``s_0, s_1`` the layer scales and ``b_0`` the first layer's bias scale. A
    flip (a pre-activation ``z_r(x_i)`` changing sign between ``params0`` and
    ``params``) switches indicators on or off; the jump of neuron ``r`` is that
    contribution at the output weights of ``params`` with the patterns of
    ``params`` minus the same with the patterns of ``params0``. Neurons with no
    flip contribute zero. The book's chapter 3 compares the norm of the sum of
    the jumps with the sum of their norms (coherent adding) and with the root
    of the sum of their squared norms (incoherent adding).

    Parameters
    ----------
    net : ntkbook.networks.MLP
        A one-hidden-layer, one-output network with ReLU activation.
    params0, params : list
        Two parameter vectors of ``net``.
    x : array_like, shape (n, d)
        Inputs.

    Returns
    -------
    jax.Array, shape (m, n, n)
        The jump of each neuron's kernel contribution on ``x``.

    Raises
    ------
    TypeError
        If ``net`` is not an :class:`ntkbook.networks.MLP`.
    ValueError
        If ``net`` is not a one-hidden-layer, one-output ReLU network, or ``x``
        is not a 2-d array.
    """
    if not isinstance(net, MLP):
        raise TypeError(f"net must be an ntkbook.networks.MLP, got {type(net).__name__}")
    if net.depth != 1 or net.out_dim != 1 or net.activation != "relu":
        raise ValueError(f"net must be a one-hidden-layer, one-output ReLU network, got widths={net.widths}, "
                         f"out_dim={net.out_dim}, activation={net.activation!r}")
    x = _checks.points(x, "x").astype(jnp.result_type(*jax.tree_util.tree_leaves(params0)))
    on0 = (_first_layer_preactivations(net, params0, x) > 0).astype(x.dtype)       # (n, m)
    on1 = (_first_layer_preactivations(net, params, x) > 0).astype(x.dtype)
    gram = net.layer_scale(0, x.shape[1]) ** 2 * (x @ x.T) + (net.bias_scale(0) ** 2 if "b" in params[0] else 0.0)
    a2 = net.layer_scale(1, on0.shape[1]) ** 2 * params[1]["w"][:, 0] ** 2
    return (jnp.einsum("r,ir,jr->rij", a2, on1, on1) - jnp.einsum("r,ir,jr->rij", a2, on0, on0)) * gram


def jacobian_change(apply_fn: Callable, params0, params, x):
    """Relative change of the per-input parameter gradient, ``|grad f(theta; x_i) - grad f(theta_0; x_i)| / |grad f(theta_0; x_i)|``.

    Chizat, Oyallon and Bach (2019) compare this with the relative decrease of the
    loss. To first order in a step ``theta - theta_0 = -eta grad L`` it is at most
    ``eta |Hess f(x_i)| |grad L| / |grad f(x_i)|`` (operator norm of the Hessian).

    Parameters
    ----------
    apply_fn : callable
        ``apply_fn(params, x)`` with scalar outputs, shape (n,) or (n, 1).
    params0, params : pytree
        The reference and the moved parameters.
    x : array_like, shape (n, d)
        Inputs.

    Returns
    -------
    jax.Array, shape (n,)
        The relative change at each input.

    Raises
    ------
    TypeError
        If ``apply_fn`` is not callable.
    ValueError
        If the network has more than one output.
    """
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be a callable apply_fn(params, x), got {type(apply_fn).__name__}")
    x = _checks.points(x, "x")
    dtype = jnp.result_type(*jax.tree_util.tree_leaves(params0))
    x = x.astype(dtype)
    out = jax.eval_shape(_as_matrix_output(apply_fn), params0, x[:1])
    if out.shape[1] != 1:
        raise ValueError(f"jacobian_change needs a scalar-output network, got {out.shape[1]} outputs")
    flat = lambda p: jnp.concatenate([leaf.reshape(leaf.shape[0], -1) for leaf in jax.tree_util.tree_leaves(_jacobian(apply_fn, p, x))], axis=1)
    j0, j1 = flat(params0), flat(params)
    return jnp.linalg.norm(j1 - j0, axis=1) / jnp.linalg.norm(j0, axis=1)


class TrainedDistribution(NamedTuple):
    """Mean (p,) and covariance (p, p), over initialisations, of the infinite-width network trained to convergence.

    Attributes:
      mean: (p,) mean prediction at the test inputs.
      cov: (p, p) covariance of the predictions over initialisations.
    """

    mean: jax.Array
    cov: jax.Array


def trained_distribution(net, x_train, y_train, x_test) -> TrainedDistribution:
    """Distribution over initialisations of ``f_inf(x) = f_0(x) + Theta(x, X) Theta^{-1} (y - f_0(X))``.

    At infinite width the tangent kernel ``Theta`` is deterministic and the network
    at initialisation ``f_0`` is a centred Gaussian process with the NNGP kernel
    ``Sigma``, so the trained network (flow time to infinity) is Gaussian with
    (Lee et al. 2019, the Gaussian-process form of the trained network)::

        mean(x)    = Theta(x, X) Theta^{-1} y,
        cov(x, x') = Sigma(x, x') + A(x) Sigma(X, X) A(x')^T - A(x) Sigma(X, x') - Sigma(x, X) A(x')^T,

    with ``A(x) = Theta(x, X) Theta^{-1}``, the linear map that sends the
    training residual to the test correction. Only the mean is the kernel
    regression predictor; the fluctuation ``f_0(x) - A(x) f_0(X)`` is what a
    single trained network adds to it.

    Parameters
    ----------
    net : ntkbook.networks.MLP or ntkbook.networks.Architecture
        Scalar-output network whose infinite-width kernels exist (ReLU or erf).
    x_train : array_like, shape (n, d)
        Training inputs, with ``Theta(X, X)`` positive definite.
    y_train : array_like, shape (n,)
        Targets.
    x_test : array_like, shape (p, d)
        Inputs at which the distribution is returned.

    Returns
    -------
    TrainedDistribution
        ``mean`` (p,) and ``cov`` (p, p).

    Raises
    ------
    ValueError
        If shapes disagree or the activation has no infinite-width kernel.
    """
    x, xt = _checks.point_pair(x_train, x_test, names=("x_train", "x_test"))
    y = _checks.targets(y_train, x.shape[0], "y_train")
    if y.ndim != 1:
        raise ValueError(f"y_train must be 1-d (scalar outputs), got shape {tuple(y.shape)}")
    train = tangent.infinite_width(net, x)
    cross = tangent.infinite_width(net, xt, x)
    nngp_test = tangent.infinite_width(net, xt, get="nngp")
    a = regression.solve(train.ntk, cross.ntk.T).T  # (p, n): Theta(x, X) Theta^{-1}
    mean = a @ y.astype(a.dtype)
    mixed = a @ cross.nngp.T
    cov = nngp_test + a @ train.nngp @ a.T - mixed - mixed.T
    return TrainedDistribution(mean=mean, cov=cov)


class LazyMeasures(NamedTuple):
    """What moves during one training run of a one-hidden-layer :class:`ntkbook.networks.MLP` (:func:`lazy_measures`).

    Attributes
    ----------
    kernel_drift : float
        ``|Theta_T - Theta_0|_F / |Theta_0|_F`` on the training inputs.
    weight_movement : float
        ``|theta_T - theta_0| / |theta_0|`` over all parameters.
    neuron_movement : float
        ``max_r |w_r(T) - w_r(0)|``, the largest movement of one neuron's input weights.
    readout_max : float
        ``max_r |a_r(0)|``, the largest initial output weight (standard normal).
    flips : int
        Activation-pattern changes on the training inputs (:func:`pattern_flips`).
    linearisation_gap : float
        ``max_s |f_s(X*) - f^lin_s(X*)| / |f^lin_T(X*)|`` on the test inputs, the
        maximum over the recorded steps ``s``.
    loss : float
        Final training loss.
    kernel_drift_max : float
        ``max_s |Theta_s - Theta_0|_F / |Theta_0|_F``, the drift's maximum over the recorded steps.
    ntk_regression_gap : float
        ``max_s |f_s(X*) - f^inf_s(X*)| / |f^inf_T(X*)|``, where ``f^inf`` is gradient
        descent with the infinite-width NTK ``Theta_inf`` (:func:`ntkbook.tangent.infinite_width`)
        started from the network's own ``f_0``: the network against infinite-width NTK regression.
    linearised_ntk_gap : float
        ``max_s |f^lin_s(X*) - f^inf_s(X*)| / |f^inf_T(X*)|``: the linearisation against
        infinite-width NTK regression, the part of ``ntk_regression_gap`` that comes from
        the kernel at initialisation alone.
    initial_kernel_gap : float
        ``|Theta_0 - Theta_inf|_F / |Theta_inf|_F`` on the training inputs, the finite-width
        fluctuation of the kernel at initialisation.
    linearised_ntk_first_order : float
        ``max_s |D_s[Theta_0 - Theta_inf](X*)| / |f^inf_T(X*)|``, where ``D_s`` is the derivative
        of the map from the kernel (on the training inputs and between test and training
        inputs) to ``f^inf_s``: the first-order (delta-method) term of ``linearised_ntk_gap``,
        computed by a central difference in the kernel with relative step ``1e-4``.
    flip_jump_signed, flip_jump_abs, flip_jump_rss : float
        For ReLU, the jumps ``D_r`` of :func:`flip_jumps` between the initial and final
        parameters: ``|sum_r D_r|_F``, ``sum_r |D_r|_F`` and ``(sum_r |D_r|_F^2)^(1/2)``,
        each over ``|Theta_0|_F``. Zero for a smooth activation, whose kernel does not jump.
    """

    kernel_drift: float
    weight_movement: float
    neuron_movement: float
    readout_max: float
    flips: int
    linearisation_gap: float
    loss: float
    kernel_drift_max: float
    ntk_regression_gap: float
    linearised_ntk_gap: float
    initial_kernel_gap: float
    linearised_ntk_first_order: float
    flip_jump_signed: float
    flip_jump_abs: float
    flip_jump_rss: float


def lazy_measures(net, params0, x_train, y_train, x_test, *, step: float, num_steps: int, record_every: int) -> LazyMeasures:
    """Train ``net`` from ``params0`` by gradient descent and measure how lazily it trained.

    The network is trained with :func:`gradient_descent`; its linearisation at
    ``params0`` is trained with the same steps in closed form
    (:func:`kernel_gradient_descent` with the empirical NTK at ``params0``), and
    the two are compared on ``x_test`` at every recorded step. This is the
    experiment behind Jacot et al. (2018), Theorem 2 (the kernel stays put) and
    Lee et al. (2019), Theorem 2.1 (the network stays near its linearisation
    uniformly in time). The network is also compared, at every recorded step,
    with gradient descent driven by the infinite-width NTK from the same
    ``f_0`` (NTK regression, Lee et al. 2019, the infinite-width limit of the
    linearised network), which needs an activation with a closed-form limit.

    Parameters
    ----------
    net : ntkbook.networks.MLP
        A scalar-output network with one hidden layer.
    params0 : list
        Its initial parameters.
    x_train : array_like, shape (n, d)
        Training inputs.
    y_train : array_like, shape (n,)
        Targets.
    x_test : array_like, shape (p, d)
        Inputs on which network and linearisation are compared.
    step : float
        Step size.
    num_steps, record_every : int
        Training length and the interval at which the gap is evaluated.

    Returns
    -------
    LazyMeasures

    Raises
    ------
    TypeError
        If ``net`` is not an :class:`ntkbook.networks.MLP`.
    ValueError
        If ``net`` does not have exactly one hidden layer and one output, its
        activation has no closed-form infinite-width kernel (ReLU and erf do),
        or the arguments are rejected by :func:`gradient_descent`.
    """
    if not isinstance(net, MLP):
        raise TypeError(f"net must be an ntkbook.networks.MLP, got {type(net).__name__}")
    if net.depth != 1 or net.out_dim != 1:
        raise ValueError(f"net must have one hidden layer and one output, got widths={net.widths}, out_dim={net.out_dim}")
    run = gradient_descent(net.apply, params0, x_train, y_train, step=step, num_steps=num_steps, record_every=record_every,
                           x_test=x_test, x_probe=x_train)
    x_t = jnp.asarray(x_test, run.test.dtype)
    x = jnp.asarray(x_train, run.test.dtype)
    k_cross0, k_cross_inf = tangent.empirical_ntk(net.apply, params0, x_t, x), tangent.infinite_width(net, x_t, x, get="ntk")
    lin = kernel_gradient_descent(run.probe_ntk[0], y_train, run.train[0, :, 0], step=step, num_steps=num_steps, record_every=record_every,
                                  k_test_train=k_cross0, f0_test=run.test[0, :, 0])
    gap = jnp.max(jnp.linalg.norm(run.test[..., 0] - lin.test, axis=1)) / jnp.linalg.norm(lin.test[-1])
    k_inf = tangent.infinite_width(net, x, get="ntk")
    inf = kernel_gradient_descent(k_inf, y_train, run.train[0, :, 0], step=step, num_steps=num_steps, record_every=record_every,
                                  k_test_train=k_cross_inf, f0_test=run.test[0, :, 0])
    drifts = kernel_drift(run.probe_ntk, run.probe_ntk[0])

    first_order = linearised_ntk_first_order(run.probe_ntk[0], k_inf, k_cross0, k_cross_inf, y_train, run.train[0, :, 0], run.test[0, :, 0],
                                             step=step, num_steps=num_steps, record_every=record_every)
    norm0 = jnp.linalg.norm(run.probe_ntk[0])
    if net.activation == "relu":
        jumps = flip_jumps(net, params0, run.params, x)
        jump_norms = jnp.linalg.norm(jumps, axis=(1, 2))
        signed, absolute, rss = jnp.linalg.norm(jnp.sum(jumps, 0)), jnp.sum(jump_norms), jnp.sqrt(jnp.sum(jump_norms**2))
    else:
        signed = absolute = rss = 0.0
    return LazyMeasures(
        kernel_drift=float(kernel_drift(run.probe_ntk[-1], run.probe_ntk[0])),
        weight_movement=float(relative_distance(run.params, params0)),
        neuron_movement=float(jnp.max(jnp.linalg.norm(run.params[0]["w"] - params0[0]["w"], axis=0))),
        readout_max=float(jnp.max(jnp.abs(params0[1]["w"]))),
        flips=pattern_flips(net, params0, run.params, x),
        linearisation_gap=float(gap),
        loss=float(run.loss[-1]),
        kernel_drift_max=float(jnp.max(drifts)),
        ntk_regression_gap=float(jnp.max(jnp.linalg.norm(run.test[..., 0] - inf.test, axis=1)) / jnp.linalg.norm(inf.test[-1])),
        linearised_ntk_gap=float(jnp.max(jnp.linalg.norm(lin.test - inf.test, axis=1)) / jnp.linalg.norm(inf.test[-1])),
        initial_kernel_gap=float(kernel_drift(run.probe_ntk[0], k_inf)),
        linearised_ntk_first_order=first_order,
        flip_jump_signed=float(signed / norm0),
        flip_jump_abs=float(absolute / norm0),
        flip_jump_rss=float(rss / norm0),
    )


@jax.jit
def _first_order_term(k0, k_inf, kt0, kt_inf, residual0, f0_test, steps, eta_over_n):
    def moved(eps):  # f^K_s(X*) with K = Theta_inf + eps (Theta_0 - Theta_inf), residual0 (n, 1)
        evals, evecs = jnp.linalg.eigh(k_inf + eps * (k0 - k_inf))
        return _kernel_descent(evals, evecs, residual0, kt_inf + eps * (kt0 - kt_inf), f0_test, steps, eta_over_n)[1][..., 0]

    first_order = (moved(1e-4) - moved(-1e-4)) / 2e-4
    return jnp.max(jnp.linalg.norm(first_order, axis=1)) / jnp.linalg.norm(moved(0.0)[-1])


def linearised_ntk_first_order(k_train, k_train_inf, k_test_train, k_test_train_inf, y_train, u0, f0_test, *,
                               step: float, num_steps: int, record_every: int):
    """The first-order term of the gap between a finite-width linearisation and infinite-width NTK regression.

    Write ``f^K_s`` for gradient descent with a fixed kernel ``K`` from ``f_0``
    (:func:`kernel_gradient_descent`). The linearised network is ``f^{Theta_0}``,
    infinite-width NTK regression is ``f^{Theta_inf}``, and to first order in
    ``Delta = Theta_0 - Theta_inf`` their difference is ``D_s[Delta]``, the derivative of
    ``K -> f^K_s`` at ``Theta_inf`` applied to ``Delta`` (the delta-method term of the
    network-against-NTK-regression gap, after Lee et al. 2019, Theorem 2.1). It
    needs only quantities at initialisation, no training. The derivative is a
    central difference with relative step ``1e-4``; the map is smooth, so the
    difference is exact up to terms of order ``1e-8`` relative.

    Parameters
    ----------
    k_train : array_like, shape (n, n) or (B, n, n)
        ``Theta_0(X, X)``, one per initialisation when batched.
    k_train_inf : array_like, shape (n, n)
        ``Theta_inf(X, X)``, positive semi-definite.
    k_test_train : array_like, shape (p, n) or (B, p, n)
        ``Theta_0(X*, X)``.
    k_test_train_inf : array_like, shape (p, n)
        ``Theta_inf(X*, X)``.
    y_train : array_like, shape (n,)
        Targets.
    u0, f0_test : array_like, shape (n,) and (p,), or (B, n) and (B, p)
        The predictions ``f_0(X)`` and ``f_0(X*)`` at initialisation.
    step : float
        Step size ``eta > 0``.
    num_steps, record_every : int
        Horizon and record interval, as in :func:`kernel_gradient_descent`.

    Returns
    -------
    float or numpy.ndarray of shape (B,)
        ``max_s |D_s[Delta](X*)| / |f^{Theta_inf}_T(X*)|`` over the recorded steps
        ``s = 0, record_every, ..., T = num_steps``: the field
        ``linearised_ntk_first_order`` of :class:`LazyMeasures`.

    Raises
    ------
    ValueError
        If the shapes disagree, a kernel on the training inputs is not positive
        semi-definite, or ``step``, ``num_steps`` or ``record_every`` are out of range.
    """
    k0, k_inf = jnp.asarray(k_train), jnp.asarray(k_train_inf)
    batched = k0.ndim == 3
    k0, kt0 = (k0, jnp.asarray(k_test_train)) if batched else (k0[None], jnp.asarray(k_test_train)[None])
    kt_inf, y = jnp.asarray(k_test_train_inf), jnp.asarray(y_train)
    u, f0 = (jnp.asarray(u0), jnp.asarray(f0_test)) if batched else (jnp.asarray(u0)[None], jnp.asarray(f0_test)[None])
    b, n = k0.shape[0], k_inf.shape[0]
    if k_inf.shape != (n, n) or k0.shape[1:] != (n, n):
        raise ValueError(f"k_train must have shape (n, n) or (B, n, n) and k_train_inf (n, n), got {tuple(jnp.shape(k_train))} and {k_inf.shape}")
    if kt_inf.ndim != 2 or kt_inf.shape[1] != n or kt0.shape != (b,) + kt_inf.shape:
        raise ValueError(f"k_test_train and k_test_train_inf must have shape (p, {n}) (k_test_train with the batch of k_train), "
                         f"got {tuple(jnp.shape(k_test_train))} and {kt_inf.shape}")
    if y.shape != (n,) or u.shape != (b, n) or f0.shape != (b, kt_inf.shape[0]):
        raise ValueError(f"y_train, u0 and f0_test must have shapes ({n},), {(b, n)[1 - batched:]} and {(b, kt_inf.shape[0])[1 - batched:]}, "
                         f"got {y.shape}, {tuple(jnp.shape(u0))} and {tuple(jnp.shape(f0_test))}")
    lowest, scale = float(jnp.min(jnp.linalg.eigvalsh(jnp.concatenate([k0, k_inf[None]])))), float(jnp.max(jnp.abs(k_inf)))
    if lowest < -1e-6 * scale:
        raise ValueError(f"k_train and k_train_inf must be positive semi-definite, got smallest eigenvalue {lowest:.3e}")
    step = _checks.real(step, "step", low=0.0)
    num_records, record_every = _checks.record_schedule(num_steps, record_every)
    steps, dtype = jnp.arange(num_records + 1) * record_every, k_inf.dtype
    terms = jax.vmap(_first_order_term, in_axes=(0, None, 0, None, 0, 0, None, None))(
        k0, k_inf, kt0, kt_inf, (u - y)[..., None].astype(dtype), f0[..., None].astype(dtype), steps, jnp.asarray(step / n, dtype))
    return np.asarray(terms) if batched else float(terms[0])


def antisymmetric_fixed_readout(key, width: int, in_dim: int):
    """A two-layer ReLU network whose output at initialisation is exactly zero.

    The antisymmetric initialisation of Zhang, Xu, Luo and Ma (2020), "A type
    of generalization error induced by initialization in deep neural
    networks", for :class:`ntkbook.networks.FixedReadoutReLU`: ``width / 2``
    neurons ``(w_r, a_r)`` are drawn as usual and each is duplicated as
    ``(w_r, -a_r)``. The two halves cancel, so ``f(W_0; x) = 0`` for every
    ``x`` (up to floating-point rounding of the sum), while the tangent kernel at ``W_0`` is the one of the ``width / 2``
    drawn neurons (each counted twice, with the ``width^{-1/2}`` scaling), so it
    keeps its infinite-width limit ``H^cts`` (chapter 4). The two copies of a
    neuron receive different gradients and separate during training.

    Parameters
    ----------
    key : jax.Array
        PRNG key; split into the key of the signs and the key of the weights.
    width : int
        Number of neurons ``m``, even and at least 2.
    in_dim : int
        Input dimension ``d``.

    Returns
    -------
    net : ntkbook.networks.FixedReadoutReLU
        The network, readout ``(a_1, ..., a_{m/2}, -a_1, ..., -a_{m/2})``.
    params : dict
        ``{"w": (m, d)}``, rows ``m/2 + r`` equal to rows ``r``.

    Raises
    ------
    TypeError
        If ``width`` or ``in_dim`` is not an integer.
    ValueError
        If ``width`` is odd or below 2, or ``in_dim`` is below 1.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from ntkbook import dynamics
    >>> net, params = dynamics.antisymmetric_fixed_readout(jax.random.key(0), 8, 3)
    >>> params["w"].shape
    (8, 3)
    >>> bool(jnp.max(jnp.abs(net.apply(params, jnp.eye(3)))) < 1e-12)
    True
    """
    width = _checks.integer(width, "width", low=2)
    in_dim = _checks.integer(in_dim, "in_dim", low=1)
    if width % 2:
        raise ValueError(f"width must be even (neurons come in pairs), got {width}")
    sign_key, weight_key = jax.random.split(key)
    half = FixedReadoutReLU.create(sign_key, width // 2)
    w_half = half.init(weight_key, in_dim)["w"]
    net = FixedReadoutReLU(readout=jnp.concatenate([half.readout, -half.readout]))
    return net, {"w": jnp.concatenate([w_half, w_half])}
