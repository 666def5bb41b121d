"""Leaving the kernel regime: the lazy/rich dial, kernel movement, the catapult (chapter 5).

The central object is Chizat, Oyallon and Bach's (2019) scaled model. For a
network ``f(theta; x)`` initialised at ``theta_0`` and an output scale
``chi > 0`` it is

    g_chi(theta; x) = chi * (f(theta; x) - f(theta_0; x)),

trained by gradient descent on ``L = |g_chi(theta; X) - y|**2 / (2 n)`` with
step ``step / chi**2``. The model starts from the zero function whatever
``chi`` is (the ``f_0`` term is gone), and its tangent kernel is
``chi**2 Theta_f``, so the scaled step makes the first-order dynamics of the
training predictions, ``u <- u - (step / n) Theta_f (u - y)``, the same for
every ``chi``. Large ``chi`` is lazy: the weights need to move by
``O(1 / chi)`` only and the model follows its linearisation (kernel
regression with the empirical NTK). Small ``chi`` is rich: the weights move
by order one and the hidden features change. For a two-layer network in the
NTK parameterisation, ``chi = m**(-1/2)`` is the mean-field scaling.

Everything runs as one jitted ``lax.scan`` per call.

References: Chizat, Oyallon, Bach (2019), "On lazy training in
differentiable programming"; Lewkowycz et al. (2020), "The large learning
rate phase of deep learning: the catapult mechanism"; Cortes, Mohri,
Rostamizadeh (2012), "Algorithms for learning kernels based on centered
alignment"; Hanin and Nica (2020), "Finite depth and width corrections to
the neural tangent kernel".
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from ._scan import recorded
from .networks import MLP
from .tangent import _traced_ntk

__all__ = [
    "ScaledRun",
    "train_scaled",
    "kernel_descent",
    "shape_drift",
    "full_kernel",
    "critical_step",
    "CatapultRun",
    "train_catapult",
    "classify_phase",
    "hanin_nica_ratio",
    "second_moment_ratio",
    "eigenvector_frequencies",
    "residual_on_eigenvectors",
    "relative_error",
    "centred_alignment",
    "decay_rates",
]


class ScaledRun(NamedTuple):
    """What :func:`train_scaled` records, at steps ``0, r, 2r, ...`` (R + 1 records).

    Attributes
    ----------
    steps : (R + 1,) step numbers.
    loss : (R + 1,) training loss ``|g(X) - y|**2 / (2 n)``.
    test : (R + 1, n_test, q) predictions ``g`` on ``x_test`` (None without ``x_test``).
    weight_movement : (R + 1,) relative movement ``|theta_s - theta_0| / |theta_0|``.
    kernel_drift : (R + 1,) ``|Theta_s - Theta_0|_F / |Theta_0|_F`` on ``x_probe``
        (None without ``x_probe``).
    kernel_shape : (R + 1,) :func:`shape_drift` of the probe kernel (None without ``x_probe``).
    kernels : (R + 1, p, p) probe kernels of ``f`` (None without ``x_probe``).
    params : the final parameters.
    """

    steps: jax.Array
    loss: jax.Array
    test: jax.Array | None
    weight_movement: jax.Array
    kernel_drift: jax.Array | None
    kernel_shape: jax.Array | None
    kernels: jax.Array | None
    params: object


def _norm(tree):
    return jnp.sqrt(sum(jnp.sum(leaf**2) for leaf in jax.tree_util.tree_leaves(tree)))


def _unit(k):
    return k / jnp.linalg.norm(k)


@partial(jax.jit, static_argnames=("net", "num_records", "record_every", "with_test", "with_probe"))
def _scaled_records(net, params0, x, y, x_test, x_probe, chi, step, num_records, record_every, with_test, with_probe):
    n = x.shape[0]
    f0, f0_test = net.apply(params0, x), net.apply(params0, x_test) if with_test else None
    k0 = _traced_ntk(net.apply, params0, x_probe) if with_probe else None
    scale0 = _norm(params0)

    def loss_fn(p):
        return 0.5 * jnp.sum((chi * (net.apply(p, x) - f0) - y) ** 2) / n

    grad = jax.grad(loss_fn)

    def one_step(p):
        return jax.tree_util.tree_map(lambda w, g: w - (step / chi**2) * g, p, grad(p))

    def observe(p):
        moved = jax.tree_util.tree_map(jnp.subtract, p, params0)
        out = {"loss": loss_fn(p), "weight_movement": _norm(moved) / scale0}
        if with_test:
            out["test"] = chi * (net.apply(p, x_test) - f0_test)
        if with_probe:
            k = _traced_ntk(net.apply, p, x_probe)
            out["kernels"] = k
            out["kernel_drift"] = jnp.linalg.norm(k - k0) / jnp.linalg.norm(k0)
            out["kernel_shape"] = jnp.linalg.norm(_unit(k) - _unit(k0))
        return out

    final, initial, records = recorded(one_step, observe, params0, num_records, record_every)
    stacked = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), initial, records)
    return final, stacked


def _check_net(net):
    if not isinstance(net, MLP):
        raise TypeError(f"net must be an ntkbook.networks.MLP, got {type(net).__name__}")


def _inputs(net, params, x_train, y_train):
    _check_net(net)
    x = _checks.points(x_train, "x_train")
    y = _checks.targets(y_train, x.shape[0], "y_train")
    dtype = jnp.result_type(*jax.tree_util.tree_leaves(params))
    y = y.reshape(x.shape[0], -1).astype(dtype)
    if y.shape[1] != net.out_dim:
        raise ValueError(f"y_train must have {net.out_dim} columns (the network's outputs), got shape {tuple(y.shape)}")
    return x.astype(dtype), y


def train_scaled(net, params0, x_train, y_train, *, chi: float, step: float, num_steps: int,
                 record_every: int = 1, x_test=None, x_probe=None) -> ScaledRun:
    """Train Chizat-Oyallon-Bach's scaled model ``chi (f(theta) - f(theta_0))`` by gradient descent.

    The loss is ``|g(X) - y|**2 / (2 n)`` and the step ``step / chi**2``, so
    that the linearised dynamics do not depend on ``chi`` (Chizat, Oyallon,
    Bach 2019, section 2).

    Parameters
    ----------
    net : ntkbook.networks.MLP
        The architecture (hashable: one compilation per architecture).
    params0 : list
        Initial parameters, from ``net.init``.
    x_train : array, shape (n, d)
    y_train : array, shape (n,) or (n, q)
    chi : float
        Output scale, > 0.
    step : float
        Step for the scaled model's linearisation; the parameters move with ``step / chi**2``.
    num_steps, record_every : int
        ``num_steps`` must be a multiple of ``record_every``.
    x_test : array, shape (n_test, d), optional
    x_probe : array, shape (p, d), optional
        Inputs on which the tangent kernel of ``f`` is recorded (keep p small).

    Returns
    -------
    ScaledRun

    Raises
    ------
    TypeError
        If ``net`` is not an MLP.
    ValueError
        For a non-positive ``chi`` or ``step``, mismatched shapes, or a diverged run.
    """
    x, y = _inputs(net, params0, x_train, y_train)
    chi = _checks.real(chi, "chi", low=0.0)
    step = _checks.real(step, "step", low=0.0)
    total, record_every = _checks.record_schedule(num_steps, record_every)
    x_t = None if x_test is None else _checks.point_pair(x, x_test, names=("x_train", "x_test"))[1].astype(x.dtype)
    x_p = None if x_probe is None else _checks.point_pair(x, x_probe, names=("x_train", "x_probe"))[1].astype(x.dtype)
    final, rec = _scaled_records(net, params0, x, y, x_t, x_p, jnp.asarray(chi, x.dtype), jnp.asarray(step, x.dtype),
                                 total, record_every, x_t is not None, x_p is not None)
    if not bool(jnp.all(jnp.isfinite(rec["loss"]))):
        raise ValueError(f"gradient descent diverged with chi={chi:g}, step={step:g}; try a smaller step")
    return ScaledRun(steps=jnp.arange(total + 1) * record_every, loss=rec["loss"], test=rec.get("test"),
                     weight_movement=rec["weight_movement"], kernel_drift=rec.get("kernel_drift"),
                     kernel_shape=rec.get("kernel_shape"), kernels=rec.get("kernels"), params=final)


@jax.jit
def _kernel_descent(evals, evecs, y, k_test_train, factor, num_steps):
    lam = jnp.maximum(evals, 0.0)
    # coefficient of y on each eigenvector after num_steps steps: (1 - (1 - factor lam)^S) / lam, with
    # expm1/log1p where 1 - factor lam > 0 (accurate for small factor lam); above n / lambda the base is
    # negative and the integer power is taken directly
    contraction = 1.0 - factor * lam
    safe = jnp.where(contraction > 0, contraction, 1.0)
    done = jnp.where(contraction > 0, -jnp.expm1(num_steps * jnp.log(safe)), 1.0 - contraction**num_steps)
    gain = jnp.where(lam > 0, done / jnp.where(lam > 0, lam, 1.0), num_steps * factor)
    return k_test_train @ (evecs @ (gain[:, None] * (evecs.T @ y)))


def kernel_descent(k_train, y_train, k_test_train, *, step: float, num_steps: int):
    """Predictions of ``num_steps`` steps of kernel gradient descent from the zero function, in closed form.

    The training predictions follow ``u <- u - (step / n) K (u - y)`` from
    ``u = 0``: this is gradient descent on the linearised scaled model of
    :func:`train_scaled` (any ``chi``) when ``K`` is its tangent kernel.
    Test predictions are ``K(x, X) sum_{s < S} (step / n) (I - step K / n)^s y``.

    Parameters
    ----------
    k_train : array, shape (n, n)
        PSD kernel matrix.
    y_train : array, shape (n,) or (n, q)
    k_test_train : array, shape (n_test, n)
    step : float
        Below ``2 n / lambda_max(K)`` for the iteration to converge.
    num_steps : int

    Returns
    -------
    array, shape (n_test, q) (or (n_test,) for 1-d targets)

    Raises
    ------
    ValueError
        For an unstable step (``step * lambda_max / n >= 2``) or mismatched shapes.
    """
    k = _checks.square(k_train, "k_train")
    n = k.shape[0]
    y = _checks.targets(y_train, n, "y_train")
    kt = _checks.as_array(k_test_train, "k_test_train", ndim=2)
    if kt.shape[1] != n:
        raise ValueError(f"k_test_train must have {n} columns, got shape {tuple(kt.shape)}")
    step = _checks.real(step, "step", low=0.0)
    num_steps = _checks.integer(num_steps, "num_steps", low=1)
    evals, evecs = jnp.linalg.eigh(k)
    if step * float(evals[-1]) / n >= 2:
        raise ValueError(f"step must be below 2 n / lambda_max = {2 * n / float(evals[-1]):.4g} for kernel descent to converge, got {step:g}")
    out = _kernel_descent(evals, evecs, y.reshape(n, -1).astype(k.dtype), kt.astype(k.dtype), step / n, num_steps)
    return out[:, 0] if y.ndim == 1 else out


def shape_drift(k_t, k_0):
    """Scale-free kernel movement ``| K_t / |K_t|_F - K_0 / |K_0|_F |_F``, in [0, 2].

    It is 0 when the kernel only grows or shrinks, and measures a change of
    its shape; :func:`ntkbook.dynamics.kernel_drift` mixes both.

    Parameters
    ----------
    k_t : array, shape (p, p) or (T, p, p)
    k_0 : array, shape (p, p)

    Returns
    -------
    array, shape () or (T,)

    Raises
    ------
    ValueError
        If ``k_t`` does not end in the shape of ``k_0``.
    """
    k_t = _checks.as_array(k_t, "k_t", ndim=(2, 3))
    k_0 = _checks.as_array(k_0, "k_0", ndim=2)
    if k_t.shape[-2:] != k_0.shape:
        raise ValueError(f"k_t must end in the shape of k_0 {tuple(k_0.shape)}, got {tuple(k_t.shape)}")
    unit_t = k_t / jnp.linalg.norm(k_t, axis=(-2, -1), keepdims=True)
    return jnp.linalg.norm(unit_t - _unit(k_0), axis=(-2, -1))


def full_kernel(blocks):
    """The ``(n q) x (n q)`` tangent kernel from its ``(n, n, q, q)`` blocks.

    Row ``i q + j`` is output ``j`` at input ``i``. For q outputs, one gradient
    step moves the stacked predictions by ``-(step / n)`` times this matrix times
    the stacked residual, so its top eigenvalue (not that of the (n, n) average of
    the diagonal blocks) sets the critical step.

    Parameters
    ----------
    blocks : array, shape (n, n, q, q)
        From ``tangent.empirical_ntk(..., full_outputs=True)``.

    Returns
    -------
    array, shape (n q, n q)

    Raises
    ------
    ValueError
        If ``blocks`` is not of shape (n, n, q, q).
    """
    blocks = _checks.as_array(blocks, "blocks", ndim=4)
    n1, n2, q1, q2 = blocks.shape
    if n1 != n2 or q1 != q2:
        raise ValueError(f"blocks must have shape (n, n, q, q), got {tuple(blocks.shape)}")
    return blocks.transpose(0, 2, 1, 3).reshape(n1 * q1, n2 * q2)


def critical_step(k, n: int) -> float:
    """The largest stable step ``2 n / lambda_max(K)`` of gradient descent on a fixed kernel.

    With ``L = |u - y|**2 / (2 n)`` the predictions move by
    ``u <- u - (step / n) K (u - y)``, which contracts every eigendirection when
    ``step lambda_max / n < 2``. (Lewkowycz et al. 2020 normalise the kernel by
    ``1 / n``: their ``eta_crit = 2 / lambda_0`` is the same number.)

    Parameters
    ----------
    k : array, shape (N, N)
        The kernel acting on the stacked predictions: (n, n) for one output,
        :func:`full_kernel` for q outputs.
    n : int
        Number of training inputs (the ``n`` of the loss).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If the number of rows of ``k`` is not a multiple of ``n``.
    """
    k = _checks.square(k, "k")
    n = _checks.integer(n, "n", low=1)
    if k.shape[0] % n:
        raise ValueError(f"k must have a multiple of n = {n} rows, got shape {tuple(k.shape)}")
    return 2.0 * n / float(jnp.linalg.eigvalsh(k)[-1])


class CatapultRun(NamedTuple):
    """What :func:`train_catapult` records at every step ``0..S``.

    Attributes
    ----------
    loss : (S + 1,) training loss ``|f(X) - y|**2 / (2 n)`` (inf after a divergence).
    top_eigenvalue : (S + 1,) ``lambda_max`` of the (n, n) empirical NTK on the training inputs.
    active : (S + 1,) share of hidden units active (positive pre-activation) on at least one training input.
    """

    loss: np.ndarray
    top_eigenvalue: np.ndarray
    active: np.ndarray


@partial(jax.jit, static_argnames=("net", "num_steps"))
def _catapult(net, params, x, y, step, num_steps):
    n = x.shape[0]
    loss_fn = lambda p: 0.5 * jnp.sum((net.apply(p, x) - y) ** 2) / n
    grad = jax.grad(loss_fn)

    def observe(p):
        pre = net.layer_scale(0, x.shape[1]) * (x @ p[0]["w"]) + (net.b_std[0] * p[0]["b"] if "b" in p[0] else 0.0)
        top = jnp.linalg.eigvalsh(_traced_ntk(net.apply, p, x))[-1]
        return {"loss": loss_fn(p), "top": top, "active": jnp.mean(jnp.any(pre > 0, axis=0))}

    def one_step(p, _):
        bad = ~jnp.isfinite(loss_fn(p)) | (loss_fn(p) > 1e8)
        new = jax.tree_util.tree_map(lambda w, g: jnp.where(bad, w, w - step * g), p, grad(p))
        out = observe(new)
        out["loss"] = jnp.where(bad, jnp.inf, out["loss"])
        return new, out

    _, records = jax.lax.scan(one_step, params, None, length=num_steps)
    return jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), observe(params), records)


def train_catapult(net, params0, x_train, y_train, *, step: float, num_steps: int) -> CatapultRun:
    """Gradient descent on a one-hidden-layer network, recording loss, top NTK eigenvalue and live units at every step.

    Used to watch the catapult of Lewkowycz et al. (2020): above the
    critical step ``2 n / lambda_max`` the loss first grows, ``lambda_max``
    falls below ``2 n / step``, and the loss then converges. A run whose loss
    exceeds 1e8 is stopped and recorded as ``inf`` from there on.

    Parameters
    ----------
    net : ntkbook.networks.MLP
        With one hidden layer.
    params0 : list
    x_train : array, shape (n, d)
    y_train : array, shape (n,) or (n, q)
    step : float
    num_steps : int

    Returns
    -------
    CatapultRun
        numpy arrays of length ``num_steps + 1``.

    Raises
    ------
    ValueError
        If ``net`` has more than one hidden layer, or for bad shapes and steps.
    """
    x, y = _inputs(net, params0, x_train, y_train)
    if net.depth != 1:
        raise ValueError(f"net must have one hidden layer (units are counted there), got depth {net.depth}")
    step = _checks.real(step, "step", low=0.0)
    num_steps = _checks.integer(num_steps, "num_steps", low=1)
    rec = _catapult(net, params0, x, y, jnp.asarray(step, x.dtype), num_steps)
    return CatapultRun(loss=np.asarray(rec["loss"]), top_eigenvalue=np.asarray(rec["top"]), active=np.asarray(rec["active"]))


def classify_phase(run: CatapultRun, *, spike: float = 2.0, converged: float = 1e-3, dead: float = 0.1) -> str:
    """The phase of a :class:`CatapultRun`: ``"lazy"``, ``"catapult"``, ``"dead"``,
    ``"divergent"`` or ``"unconverged"``.

    The rules are applied in this order, so that convergence is never hidden by
    the share of live units:

    ``divergent``: the loss overflowed or ends above its initial value.
    ``catapult``: the loss rose above ``spike`` times its initial value and then
    fell below ``converged`` times it. ``lazy``: it fell below ``converged`` times
    its initial value without such a spike. A run that converges with few active
    units is a catapult (or lazy) run: a few live ReLU units can still fit the data.
    ``dead``: the run did not converge and fewer than ``dead`` of the hidden units
    are active on any training input at the end (inactive units get no gradient
    again, and training stalls).
    Anything else (slow or stalled training with live units) is ``"unconverged"``.
    Raises ``TypeError`` when ``run`` is not a :class:`CatapultRun`.
    """
    if not isinstance(run, CatapultRun):
        raise TypeError(f"run must be a CatapultRun, got {type(run).__name__}")
    loss0, final = float(run.loss[0]), float(run.loss[-1])
    if not np.isfinite(final) or final > loss0:
        return "divergent"
    if final <= converged * loss0:
        return "catapult" if float(np.max(run.loss)) > spike * loss0 else "lazy"
    if float(run.active[-1]) < dead:
        return "dead"
    return "unconverged"


def hanin_nica_ratio(depth: int, width: int) -> float:
    """Hanin and Nica's (2020, Theorem 1) scale ``exp(5 L / m)`` with ``L / m = depth / width``
    (their ``beta``), for ``E[Theta(x, x)**2] / E[Theta(x, x)]**2`` of a ReLU network with
    ``depth`` hidden layers of equal ``width`` (He initialisation, no biases).

    The theorem holds up to multiplicative constants and corrections
    ``O(depth / width**2)``; it says the kernel at initialisation stays random
    when depth and width grow together.
    """
    depth = _checks.integer(depth, "depth", low=1)
    width = _checks.integer(width, "width", low=1)
    return math.exp(5.0 * depth / width)


def second_moment_ratio(samples) -> tuple[float, float]:
    """Estimate ``E[T**2] / E[T]**2`` from independent draws of ``T``, with its standard error.

    Used for Hanin and Nica's (2020, Theorem 1) ratio of the NTK diagonal
    ``Theta(x, x)`` over initialisations. The ratio is estimated per column
    (one column per input) and averaged over columns; the standard error is the
    delta method's: each draw ``s`` enters through its influence
    ``(T_s**2 - M2) / M1**2 - 2 M2 (T_s - M1) / M1**3`` (averaged over columns,
    which keeps the columns' correlation), and the error is the standard
    deviation of the influences over ``sqrt(S)``.

    Parameters
    ----------
    samples : array, shape (S,) or (S, n)
        ``S >= 2`` independent draws (rows) of one or ``n`` quantities with nonzero mean.

    Returns
    -------
    (float, float)
        The estimated ratio and its standard error.

    Raises
    ------
    ValueError
        For fewer than 2 draws, more than 2 dimensions, non-finite values or a zero mean.
    """
    t = np.asarray(samples, dtype=float)
    if t.ndim == 1:
        t = t[:, None]
    if t.ndim != 2 or t.shape[0] < 2 or not np.all(np.isfinite(t)):
        raise ValueError(f"samples must be a finite array of shape (S,) or (S, n) with S >= 2, got shape {np.shape(samples)}")
    m1, m2 = t.mean(0), (t**2).mean(0)
    if np.any(m1 == 0):
        raise ValueError("samples must have a nonzero mean in every column")
    influence = ((t**2 - m2) / m1**2 - 2 * m2 * (t - m1) / m1**3).mean(1)
    return float(np.mean(m2 / m1**2)), float(influence.std(ddof=1) / math.sqrt(t.shape[0]))


def eigenvector_frequencies(k, count: int) -> np.ndarray:
    """Dominant Fourier frequency of each of the top eigenvectors of a kernel on a circle.

    For a rotation-invariant kernel on ``n`` equally spaced points of the circle the
    eigenvectors are Fourier modes (the matrix is circulant); this labels each of the
    ``count`` leading eigenvectors by the frequency of its largest discrete Fourier
    coefficient. Near-degenerate eigenvalues of different frequencies can mix, so
    the label is that of the dominant frequency, not a proof of purity.

    Parameters
    ----------
    k : array, shape (n, n)
        Symmetric kernel matrix on equally spaced points of the circle, in angular order.
    count : int
        Number of leading eigenvectors to label, ``1 <= count <= n``.

    Returns
    -------
    numpy.ndarray, shape (count,)
        Frequencies in ``0, ..., n // 2``, for the eigenvectors in decreasing order of eigenvalue.

    Raises
    ------
    ValueError, TypeError
        For ``k`` not a finite square matrix, or ``count`` not an integer in ``[1, n]``.
    """
    k = _checks.square(k, "k")
    count = _checks.integer(count, "count", low=1)
    if count > k.shape[0]:
        raise ValueError(f"count must be at most n = {k.shape[0]}, got {count}")
    vectors = np.linalg.eigh(np.asarray(k))[1][:, ::-1][:, :count]
    return np.argmax(np.abs(np.fft.rfft(vectors, axis=0)), axis=0)


def residual_on_eigenvectors(k, predictions, y):
    """Components of the residual ``u_s - y`` on the eigenvectors of ``K``, largest eigenvalue first.

    Parameters
    ----------
    k : array, shape (n, n)
        The (symmetric) kernel whose eigenbasis is used.
    predictions : array, shape (T, n) or (T, n, 1)
        Training predictions along training.
    y : array, shape (n,) or (n, 1)

    Returns
    -------
    eigenvalues : array, shape (n,)
        Decreasing.
    components : array, shape (T, n)
        ``v_i . (u_s - y)`` for eigenvector ``v_i``.

    Raises
    ------
    ValueError
        If ``predictions`` is not of shape (T, n) or (T, n, 1) for the (n, n) ``k``.
    """
    k = _checks.square(k, "k")
    n = k.shape[0]
    u = _checks.as_array(predictions, "predictions", ndim=(2, 3))
    if u.shape[1] != n or (u.ndim == 3 and u.shape[2] != 1):
        raise ValueError(f"predictions must have shape (T, {n}) or (T, {n}, 1), got {tuple(u.shape)}")
    y = _checks.targets(y, n, "y").reshape(n)
    evals, evecs = jnp.linalg.eigh(k)
    evals, evecs = evals[::-1], evecs[:, ::-1]
    return evals, (u.reshape(u.shape[0], n) - y) @ evecs


def relative_error(predictions, targets) -> float:
    """Mean squared error divided by the variance of the targets: 1 for the best constant predictor.

    Parameters
    ----------
    predictions, targets : arrays of the same shape (n,) or (n, q)

    Raises
    ------
    ValueError
        If the shapes differ.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from ntkbook import feature_learning
    >>> y = jnp.array([1.0, 2.0, 3.0])
    >>> round(feature_learning.relative_error(jnp.full(3, 2.0), y), 6)  # the mean
    1.0
    >>> round(feature_learning.relative_error(y, y), 6)
    0.0
    """
    p = jnp.asarray(predictions)
    t = jnp.asarray(targets)
    if p.shape != t.shape:
        raise ValueError(f"predictions must have the shape of targets {tuple(t.shape)}, got {tuple(p.shape)}")
    return float(jnp.mean((p - t) ** 2) / jnp.var(t, axis=0).mean())


def centred_alignment(k, y) -> jax.Array:
    """Centred kernel-target alignment (Cortes, Mohri, Rostamizadeh 2012, Definition 2); scalar.

    With the centring matrix ``H = I - 1 1^T / n``, ``K_c = H K H`` and ``Y_c = H Y``::

        A_c(K, Y) = <K_c, Y_c Y_c^T>_F / (|K_c|_F |Y_c Y_c^T|_F),

    which lies in [0, 1] for a PSD ``K`` (both centred matrices are PSD, so their
    Frobenius inner product is >= 0). Centring removes the constant mode: the
    uncentred alignment of ``K + c 1 1^T`` tends to that of ``1 1^T`` as ``c``
    grows, the centred one does not change at all.

    Parameters
    ----------
    k : array, shape (n, n)
        Kernel matrix.
    y : array, shape (n,) or (n, q)
        Targets (one-hot labels for classification; centring makes their offset irrelevant).

    Returns
    -------
    jax.Array, shape ()

    Raises
    ------
    ValueError
        For a non-square ``k``, mismatched rows, or a constant target or kernel (nothing left after centring).
    """
    k = _checks.square(k, "k")
    y = _checks.as_array(y, "y", ndim=(1, 2))
    n = k.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"y must have {n} rows (one per sample), got shape {tuple(y.shape)}")
    y = y.reshape(n, -1).astype(k.dtype)
    yc = y - y.mean(axis=0)
    kc = k - k.mean(axis=0, keepdims=True) - k.mean(axis=1, keepdims=True) + k.mean()
    target = yc @ yc.T
    denominator = jnp.linalg.norm(kc) * jnp.linalg.norm(target)
    if _checks.is_concrete(denominator) and float(denominator) == 0.0:
        raise ValueError("k and y must not be constant: their centred versions vanish and the alignment is undefined")
    return jnp.sum(kc * target) / denominator


def decay_rates(components, *, floor: float = 1e-3) -> np.ndarray:
    """Per-step exponential decay rate of each column of ``components``, fitted on a log scale.

    For column ``i`` the fit uses the steps where ``|c_i(s)| > floor * |c_i(0)|`` (before
    rounding noise takes over) and returns ``-slope`` of ``log |c_i(s)|`` against ``s``;
    for the linearised dynamics of :func:`residual_on_eigenvectors` this is
    ``-log(1 - step * lambda_i / n)``.

    Parameters
    ----------
    components : array, shape (T, k)
        Values at steps ``0, 1, ..., T - 1``.
    floor : float
        Relative level below which values are ignored.

    Returns
    -------
    numpy.ndarray, shape (k,)

    Raises
    ------
    ValueError
        If a column has fewer than two values above the floor.
    """
    c = np.abs(np.asarray(_checks.as_array(components, "components", ndim=2)))
    floor = _checks.real(floor, "floor", low=0.0)
    steps, rates = np.arange(c.shape[0]), []
    for i in range(c.shape[1]):
        keep = c[:, i] > floor * c[0, i]
        if keep.sum() < 2:
            raise ValueError(f"components column {i} has fewer than two values above floor * |c(0)|; record more steps or lower floor")
        rates.append(-np.polyfit(steps[keep], np.log(c[keep, i]), 1)[0])
    return np.array(rates)
