"""Convergence of gradient descent on wide two-layer ReLU networks (chapter 4).

The setting of Du, Zhai, Poczos and Singh (2019) and Song and Yang (2019), as
in Song's lecture notes: inputs ``x`` (n, d) with unit norm, targets ``y``
(n,), the network::

    f(W; x) = m^{-1/2} sum_r a_r relu(<w_r, x>),     w_r ~ N(0, I_d),  a_r uniform in {-1, +1},

(:class:`ntkbook.networks.FixedReadoutReLU`), only ``W`` (m, d) trained, on
``L(W) = 1/2 sum_i (y_i - f(W; x_i))**2``: no 1/n, unlike chapters 1-3.
Everything here is vectorised over neurons and samples: one step costs O(mnd).

Bounds carry the constants their source states; where a source states only a
rate (``m = Omega(...)``), the function says "up to constants" and uses 1.
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import _checks
from .tangent import two_layer_relu

__all__ = [
    "ConvergenceRun",
    "Claim9",
    "predictions",
    "gradient",
    "gram_continuous",
    "gram_discrete",
    "lambda_min",
    "claim9_terms",
    "train",
    "anticoncentration_bound",
    "lemma1_width",
    "lemma2_bound",
    "lemma2_probability",
    "d_cts",
    "d_discrete",
    "step_size",
    "radius",
    "theorem7_bound",
    "width_du2019",
    "width_song_yang2019",
    "width_seed000",
]


def _unit_inputs(x, name="x"):
    arr = _checks.points(x, name)
    if _checks.is_concrete(arr):
        norms = np.linalg.norm(np.asarray(arr), axis=1)
        if not np.allclose(norms, 1.0, atol=1e-6):
            raise ValueError(f"{name} must have unit-norm rows (the setting of the convergence proof), got norms in [{norms.min():.3g}, {norms.max():.3g}]")
    return arr


# ------------------------------------------------------------------ model and Algorithm 1


@jax.jit
def predictions(w, a, x):
    """``u_i = m^{-1/2} sum_r a_r relu(<w_r, x_i>)``; w (m, d), a (m,), x (n, d) -> (n,)."""
    return jax.nn.relu(x @ w.T) @ a / jnp.sqrt(w.shape[0])


@jax.jit
def gradient(w, a, x, y):
    """``dL/dw_r = m^{-1/2} sum_i (u_i - y_i) a_r 1[<w_r, x_i> >= 0] x_i`` for all r at once; (m, d).

    The activation indicator uses ``>= 0`` as in the source; ReLU's derivative at 0
    is immaterial since ``<w_r, x_i> = 0`` has probability zero.
    """
    pattern = (x @ w.T >= 0).astype(w.dtype)  # (n, m)
    residual = predictions(w, a, x) - y  # (n,)
    return a[:, None] * ((pattern * residual[:, None]).T @ x) / jnp.sqrt(w.shape[0])


def gram_continuous(x):
    """``H^cts_ij = E_w[<x_i, x_j> 1[<w, x_i> >= 0, <w, x_j> >= 0]] = <x_i, x_j> (pi - angle_ij) / (2 pi)``; (n, n).

    It is the first-layer part of the two-layer NTK of chapter 2. Raises
    ``ValueError`` when ``x`` is not a finite (n, d) array.

    Examples:
        For unit inputs the diagonal is 1/2, and an orthogonal pair gives 0:

        >>> import jax.numpy as jnp
        >>> from ntkbook import convergence
        >>> h = convergence.gram_continuous(jnp.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]))
        >>> [round(float(v), 6) for v in (h[0, 0], h[0, 1])]
        [0.5, 0.0]
        >>> convergence.lambda_min(jnp.array([[1.0, 0.0], [0.0, 1.0]]))  # H = I / 2
        0.5
    """
    return two_layer_relu(_checks.points(x, "x")).a


@jax.jit
def gram_discrete(w, x):
    """``H^dis_ij = (1/m) sum_r <x_i, x_j> 1[<w_r, x_i> >= 0, <w_r, x_j> >= 0]``; (n, n).

    The empirical NTK of the network in ``W`` at the weights ``w`` (a_r**2 = 1).
    """
    pattern = (x @ w.T >= 0).astype(w.dtype)
    return (x @ x.T) * (pattern @ pattern.T) / w.shape[0]


def lambda_min(x) -> float:
    """``lambda = lambda_min(H^cts)``; positive when no two inputs are parallel (Du et al. 2019, Thm 3.1)."""
    return float(jnp.linalg.eigvalsh(gram_continuous(x))[0])


# ------------------------------------------------------------------ the proof's decomposition


class Claim9(NamedTuple):
    """The four terms of Claim 9 at one step, and both sides of its identity:
    ``|y - u(k+1)|**2 = |y - u(k)|**2 + C1 + C2 + C3 + C4``.

    Attributes:
      c1: ``C1 = -2 eta (y - u)^T H(k) (y - u)``, the decrease the kernel drives.
      c2: ``C2``, the same quadratic form restricted to the neurons that may
        flip (``r`` not in ``S_i``), with the opposite sign.
      c3: ``C3 = -2 (y - u)^T v2``, with ``v2`` the change in the outputs of
        the neurons that may flip.
      c4: ``C4 = |u(k+1) - u(k)|**2``, the second-order term.
      lhs: ``|y - u(k+1)|**2`` computed directly.
      rhs: ``|y - u(k)|**2 + c1 + c2 + c3 + c4``; equal to ``lhs`` when no
        neuron moved farther than the radius.
    """

    c1: jax.Array
    c2: jax.Array
    c3: jax.Array
    c4: jax.Array
    lhs: jax.Array
    rhs: jax.Array


@jax.jit
def claim9_terms(w0, w_k, a, x, y, eta, radius):
    """Claim 9's terms for the step from ``w_k`` to ``w_k - eta * gradient``.

    ``S_i`` holds the neurons whose pattern on ``x_i`` cannot change within
    distance ``radius`` of their initialisation: ``|<w_r(0), x_i>| > radius`` for unit
    ``x_i``. The identity is exact when no neuron moves farther than ``radius``
    from its initialisation at steps k and k + 1.
    """
    m = w0.shape[0]
    u = predictions(w_k, a, x)
    w_next = w_k - eta * gradient(w_k, a, x, y)
    u_next = predictions(w_next, a, x)
    residual = y - u
    pattern = (x @ w_k.T >= 0).astype(w_k.dtype)  # (n, m)
    unsure = (jnp.abs(x @ w0.T) <= radius).astype(w_k.dtype)  # (n, m): r not in S_i
    h = (x @ x.T) * (pattern @ pattern.T) / m
    h_perp = (x @ x.T) * ((pattern * unsure) @ pattern.T) / m  # row i sums over r not in S_i
    change = jax.nn.relu(x @ w_next.T) - jax.nn.relu(x @ w_k.T)  # (n, m)
    v2 = (change * unsure) @ a / jnp.sqrt(m)
    c1 = -2 * eta * residual @ h @ residual
    c2 = 2 * eta * residual @ h_perp @ residual
    c3 = -2 * residual @ v2
    c4 = jnp.sum((u_next - u) ** 2)
    lhs = jnp.sum((y - u_next) ** 2)
    return Claim9(c1, c2, c3, c4, lhs, jnp.sum(residual**2) + c1 + c2 + c3 + c4)


class ConvergenceRun(NamedTuple):
    """What :func:`train` records at steps ``0, r, 2r, ...``.

    Attributes:
      steps: (R + 1,).
      residual_sq: (R + 1,) ``|y - u(k)|**2`` (twice the loss).
      max_movement: (R + 1,) ``max_r |w_r(k) - w_r(0)|``.
      flipped: (R + 1,) number of pairs (i, r) whose pattern differs from initialisation.
      lambda_h: (R + 1,) ``lambda_min(H(k))``.
      claim9: Claim9 of (R,) arrays for the step leaving each recorded iterate
        after the first (None unless ``radius`` was given).
      w: (m, d) final weights.
    """

    steps: jax.Array
    residual_sq: jax.Array
    max_movement: jax.Array
    flipped: jax.Array
    lambda_h: jax.Array
    claim9: Claim9 | None
    w: jax.Array


@partial(jax.jit, static_argnames=("num_records", "record_every", "with_claims"))
def _train(w0, a, x, y, eta, radius, num_records, record_every, with_claims):
    def observe(w):
        return (
            jnp.sum((y - predictions(w, a, x)) ** 2),
            jnp.max(jnp.linalg.norm(w - w0, axis=1)),
            jnp.sum((x @ w.T >= 0) != (x @ w0.T >= 0)),
            jnp.linalg.eigvalsh(gram_discrete(w, x))[0],
        )

    def step(_, w):
        return w - eta * gradient(w, a, x, y)

    def block(w, _):
        claims = claim9_terms(w0, w, a, x, y, eta, radius) if with_claims else None
        w = lax.fori_loop(0, record_every, step, w)
        return w, (observe(w), claims)

    final, (records, claims) = lax.scan(block, w0, None, length=num_records)
    first = observe(w0)
    stacked = tuple(jnp.concatenate([f[None], r]) for f, r in zip(first, records))
    return final, stacked, claims


def train(net, w0, x, y, *, eta: float, num_steps: int, record_every: int = 1, radius: float | None = None) -> ConvergenceRun:
    """Algorithm 1: gradient descent ``W <- W - eta dL/dW`` on the seed-004 network, as one ``lax.scan``.

    Args:
      net: a :class:`ntkbook.networks.FixedReadoutReLU` (its ``readout`` are the a_r).
      w0: (m, d) initial weights (``net.init(key, d)["w"]``).
      x: (n, d) unit-norm inputs; y: (n,) targets.
      eta: step size (the theorem's is :func:`step_size`).
      radius: if given, Claim 9's terms are recorded with this R, for the step
        leaving each recorded iterate.

    Returns:
      A :class:`ConvergenceRun` with ``num_steps // record_every + 1`` records.

    Raises:
      ValueError: rows of ``x`` not of unit norm, ``y`` not (n,), ``w0`` not
        (m, d) for this network, ``eta <= 0``, ``num_steps`` not a positive
        multiple of ``record_every``, or a diverging run (the theorem's step is
        ``lambda / (4 n^2)``).
    """
    x = _unit_inputs(x)
    y = _checks.targets(y, x.shape[0])
    if y.ndim != 1:
        raise ValueError(f"y must be 1-d (one scalar target per input), got shape {tuple(y.shape)}")
    w0 = _checks.as_array(w0, "w0", ndim=2)
    a = jnp.asarray(net.readout, w0.dtype)
    if w0.shape != (a.shape[0], x.shape[1]):
        raise ValueError(f"w0 must have shape (m, d) = {(a.shape[0], x.shape[1])}, got {tuple(w0.shape)}")
    eta = _checks.real(eta, "eta", low=0.0)
    num_records, record_every = _checks.record_schedule(num_steps, record_every)
    with_claims = radius is not None
    r = _checks.real(radius, "radius", low=0.0) if with_claims else 0.0
    final, (res, move, flips, lam), claims = _train(
        w0, a, x.astype(w0.dtype), y.astype(w0.dtype), jnp.asarray(eta, w0.dtype), jnp.asarray(r, w0.dtype),
        num_records, record_every, with_claims,
    )
    if not bool(jnp.all(jnp.isfinite(res))):
        raise ValueError(f"gradient descent diverged with eta={eta:g}; the theorem's step is lambda / (4 n^2)")
    return ConvergenceRun(jnp.arange(num_records + 1) * record_every, res, move, flips, lam, claims, final)


# ------------------------------------------------------------------ the bounds


def anticoncentration_bound(radius):
    """``P[|z| < R] <= 2R / sqrt(2 pi)`` for ``z ~ N(0, 1)`` (the density is at most 1/sqrt(2 pi))."""
    return 2 * _checks.real(radius, "radius", low=0.0, strict=False) / math.sqrt(2 * math.pi)


def lemma1_width(n: int, lam: float, delta: float) -> float:
    """Lemma 1 (Du et al. 2019, Lemma 3.1): ``m = Omega(lambda^{-2} n^2 log(n / delta))``, up to constants."""
    n, lam, delta = _bound_args(n, lam, delta)
    return n**2 * math.log(n / delta) / lam**2


def lemma2_bound(n: int, radius: float) -> float:
    """Lemma 2's Frobenius bound ``|H(w) - H(w~)|_F < 2 n R`` as stated (its proof supports 3 n R)."""
    n = _checks.integer(n, "n", low=1)
    return 2 * n * _checks.real(radius, "radius", low=0.0)


def lemma2_probability(n: int, m: int, radius: float) -> float:
    """Lemma 2's success probability ``1 - n^2 exp(-m R / 10)`` (vacuous, i.e. <= 0, for small m R)."""
    n, m = _checks.integer(n, "n", low=1), _checks.integer(m, "m", low=1)
    return 1 - n**2 * math.exp(-m * _checks.real(radius, "radius", low=0.0) / 10)


def d_cts(n: int, m: int, lam: float, residual0: float) -> float:
    """Lemma 5's radius ``D_cts = sqrt(n) |y - u(0)| / (sqrt(m) lambda)``."""
    n, m = _checks.integer(n, "n", low=1), _checks.integer(m, "m", low=1)
    return math.sqrt(n) * _checks.real(residual0, "residual0", low=0.0, strict=False) / (math.sqrt(m) * _checks.real(lam, "lam", low=0.0))


def d_discrete(n: int, m: int, lam: float, residual0: float) -> float:
    """Lemma 8's radius ``D = 4 sqrt(n) |y - u(0)| / (sqrt(m) lambda)``."""
    return 4 * d_cts(n, m, lam, residual0)


def step_size(n: int, lam: float) -> float:
    """Theorem 7's step ``eta = lambda / (4 n^2)``."""
    return _checks.real(lam, "lam", low=0.0) / (4 * _checks.integer(n, "n", low=1) ** 2)


def radius(n: int, lam: float) -> float:
    """The proof's radius ``R = lambda / (64 n)``."""
    return _checks.real(lam, "lam", low=0.0) / (64 * _checks.integer(n, "n", low=1))


def theorem7_bound(steps, eta: float, lam: float, residual0_sq: float):
    """Theorem 7: ``|u(k) - y|**2 <= (1 - eta lambda / 2)**k |u(0) - y|**2``; same shape as ``steps``."""
    eta, lam = _checks.real(eta, "eta", low=0.0), _checks.real(lam, "lam", low=0.0)
    return residual0_sq * (1 - eta * lam / 2) ** jnp.asarray(steps)


def _bound_args(n, lam, delta):
    n = _checks.integer(n, "n", low=1)
    lam = _checks.real(lam, "lam", low=0.0)
    delta = _checks.real(delta, "delta", low=0.0)
    if delta >= 1:
        raise ValueError(f"delta must be a failure probability in (0, 1), got {delta}")
    return n, lam, delta


def width_du2019(n: int, lam: float, delta: float) -> float:
    """Du et al. (2019), Theorem 3.2: ``m = Omega(n^6 / (lambda^4 delta^3))``, up to constants."""
    n, lam, delta = _bound_args(n, lam, delta)
    return n**6 / (lam**4 * delta**3)


def width_song_yang2019(n: int, lam: float, delta: float) -> float:
    """Song and Yang (2019), Theorem 7 of the notes: ``m = Omega(lambda^{-4} n^4 log(n / delta))``,
    up to constants and the notes' extra ``log(m / delta) log(n / delta)`` factors."""
    n, lam, delta = _bound_args(n, lam, delta)
    return n**4 * math.log(n / delta) / lam**4


def width_seed000(n: int) -> float:
    """Bhaskara's lecture, Theorem 2.1: width of order ``N^3``, up to constants."""
    return float(_checks.integer(n, "n", low=1)) ** 3
