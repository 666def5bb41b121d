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
    "flip_history",
    "anticoncentration_bound",
    "lemma1_width",
    "lemma2_bound",
    "lemma2_probability",
    "lemma1_width_hoeffding",
    "lemma2_worst_case",
    "Lemma2WorstCase",
    "flip_probability",
    "bernstein_exponent",
    "claim_bounds",
    "ClaimBounds",
    "d_cts",
    "lemma5_radius",
    "lemma6_radius",
    "d_discrete",
    "width_theorem7",
    "smallest_width",
    "WidthSearch",
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
      flips: number of pairs (i, r) whose activation pattern changes during the
        step; when it is 0, ``C2 + C3 = 0`` exactly (the neurons that may flip
        then move linearly, and ``C3`` undoes ``C2``).
      fact4: relative error of Fact 4 for the step,
        ``|u(k+1) - u(k) - eta H(k) (y - u(k))| / |eta H(k) (y - u(k))|``; zero up to
        rounding when ``flips`` is 0 (``u`` is linear in ``W`` between flips), and
        independent of the radius.
    """

    c1: jax.Array
    c2: jax.Array
    c3: jax.Array
    c4: jax.Array
    lhs: jax.Array
    rhs: jax.Array
    flips: jax.Array
    fact4: jax.Array


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
    flips = jnp.sum((x @ w_next.T >= 0) != (pattern > 0))
    descent = eta * h @ residual  # Fact 4's step, -eta H(k) e(k)
    fact4 = jnp.linalg.norm(u_next - u - descent) / jnp.linalg.norm(descent)
    return Claim9(c1, c2, c3, c4, lhs, jnp.sum(residual**2) + c1 + c2 + c3 + c4, flips, fact4)


class ConvergenceRun(NamedTuple):
    """What :func:`train` records at steps ``0, r, 2r, ...``.

    Attributes:
      steps: (R + 1,).
      residual_sq: (R + 1,) ``|y - u(k)|**2`` (twice the loss).
      max_movement: (R + 1,) ``max_r |w_r(k) - w_r(0)|``.
      flipped: (R + 1,) number of pairs (i, r) whose pattern differs from initialisation.
      lambda_h: (R + 1,) ``lambda_min(H(k))``.
      claim9: Claim9 of (R,) arrays, or (R, len(radius)) arrays when several radii
        were given, for the step leaving each recorded iterate except the last
        (None unless ``radius`` was given).
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
        claims = jax.vmap(lambda rad: claim9_terms(w0, w, a, x, y, eta, rad))(radius) if with_claims else None
        w = lax.fori_loop(0, record_every, step, w)
        return w, (observe(w), claims)

    final, (records, claims) = lax.scan(block, w0, None, length=num_records)
    first = observe(w0)
    stacked = tuple(jnp.concatenate([f[None], r]) for f, r in zip(first, records))
    return final, stacked, claims


def _training_problem(net, w, x, y, eta, name):
    """The checked inputs of a gradient-descent run of the fixed-readout network (:func:`train`,
    :func:`flip_history`): unit-norm ``x`` (n, d), 1-d ``y`` (n,), ``w`` (m, d) matching
    ``net.readout``, the readout ``a`` (m,) in ``w``'s dtype, and ``eta > 0``."""
    x = _unit_inputs(x)
    y = _checks.targets(y, x.shape[0])
    if y.ndim != 1:
        raise ValueError(f"y must be 1-d (one scalar target per input), got shape {tuple(y.shape)}")
    w = _checks.as_array(w, name, ndim=2)
    a = jnp.asarray(net.readout, w.dtype)
    if w.shape != (a.shape[0], x.shape[1]):
        raise ValueError(f"{name} must have shape (m, d) = {(a.shape[0], x.shape[1])}, got {tuple(w.shape)}")
    return w, a, x, y, _checks.real(eta, "eta", low=0.0)


def train(net, w0, x, y, *, eta: float, num_steps: int, record_every: int = 1, radius: float | None = None) -> ConvergenceRun:
    """Algorithm 1: gradient descent ``W <- W - eta dL/dW`` on the seed-004 network, as one ``lax.scan``.

    Args:
      net: a :class:`ntkbook.networks.FixedReadoutReLU` (its ``readout`` are the a_r).
      w0: (m, d) initial weights (``net.init(key, d)["w"]``).
      x: (n, d) unit-norm inputs; y: (n,) targets.
      eta: step size (the theorem's is :func:`step_size`).
      radius: if given, Claim 9's terms are recorded with this R (a float), or
        with each of several radii in the same run (a 1-d sequence), for the step
        leaving each recorded iterate except the last.

    Returns:
      A :class:`ConvergenceRun` with ``num_steps // record_every + 1`` records.

    Raises:
      ValueError: rows of ``x`` not of unit norm, ``y`` not (n,), ``w0`` not
        (m, d) for this network, ``eta <= 0``, ``num_steps`` not a positive
        multiple of ``record_every``, or a diverging run (the theorem's step is
        ``lambda / (4 n^2)``).
    """
    w0, a, x, y, eta = _training_problem(net, w0, x, y, eta, "w0")
    num_records, record_every = _checks.record_schedule(num_steps, record_every)
    with_claims = radius is not None
    several = with_claims and np.ndim(radius) == 1
    if several:
        radii = [_checks.real(float(rad), "radius", low=0.0) for rad in np.asarray(radius, dtype=float)]
        if not radii:
            raise ValueError("radius must be a float or a non-empty 1-d sequence of radii, got an empty sequence")
    else:
        radii = [_checks.real(radius, "radius", low=0.0)] if with_claims else [0.0]
    final, (res, move, flips, lam), claims = _train(
        w0, a, x.astype(w0.dtype), y.astype(w0.dtype), jnp.asarray(eta, w0.dtype), jnp.asarray(radii, w0.dtype),
        num_records, record_every, with_claims,
    )
    if with_claims and not several:
        claims = Claim9(*(term[:, 0] for term in claims))
    if not bool(jnp.all(jnp.isfinite(res))):
        raise ValueError(f"gradient descent diverged with eta={eta:g}; the theorem's step is lambda / (4 n^2)")
    return ConvergenceRun(jnp.arange(num_records + 1) * record_every, res, move, flips, lam, claims, final)


@partial(jax.jit, static_argnames=("num_steps",))
def _flip_history(w, a, x, y, eta, num_steps):
    def step(w, _):
        w_next = w - eta * gradient(w, a, x, y)
        return w_next, (x @ w_next.T >= 0) != (x @ w.T >= 0)

    return lax.scan(step, w, None, length=num_steps)[1]


def flip_history(net, w, x, y, *, eta: float, num_steps: int) -> jax.Array:
    """Step-to-step pattern flips over ``num_steps`` gradient steps of Algorithm 1 from ``w``.

    :func:`train` counts patterns that differ from the initialisation; this
    function records, for each step, which pairs ``(i, r)`` change their pattern
    ``1[w_r . x_i >= 0]`` during that step (Fact 4 and Claim 9 of the notes are
    exact on steps without any).

    Parameters
    ----------
    net : ntkbook.networks.FixedReadoutReLU
        The network (its ``readout`` are the ``a_r``).
    w : array, shape (m, d)
        Weights to start from.
    x : array, shape (n, d)
        Unit-norm inputs.
    y : array, shape (n,)
        Targets.
    eta : float
        Step size, positive.
    num_steps : int
        Number of steps, positive.

    Returns
    -------
    jax.Array
        Boolean, shape (num_steps, n, m): entry ``[s, i, r]`` is true when the
        pattern of neuron ``r`` on ``x_i`` differs before and after step ``s``.

    Raises
    ------
    ValueError
        Rows of ``x`` not of unit norm, ``w`` not (m, d) for this network,
        ``eta <= 0`` or ``num_steps < 1``.
    """
    w, a, x, y, eta = _training_problem(net, w, x, y, eta, "w")
    num_steps = _checks.integer(num_steps, "num_steps", low=1)
    return _flip_history(w, a, x.astype(w.dtype), y.astype(w.dtype), jnp.asarray(eta, w.dtype), num_steps)


class WidthSearch(NamedTuple):
    """What :func:`smallest_width` found, one entry per seed.

    Attributes
    ----------
    width : numpy.ndarray of int, shape (seeds,)
        Smallest width of the grid from which on gradient descent fits (see :func:`smallest_width`).
    steps : int
        The most steps any run took before it fitted or stalled.
    capped : int
        Number of runs stopped by ``max_steps`` before either happened (0 means the
        step cap played no part in the answer).
    dead : int
        Number of dead neurons (inactive on every input, so that their gradient
        vanishes for good) at the end of the runs, summed over all runs of the search.
    """

    width: np.ndarray
    steps: int
    capped: int
    dead: int


@partial(jax.jit, static_argnames=("block", "max_blocks"))
def _fits(w_all, a_all, width, x, y, eta, tol, stall, block, max_blocks):
    # Gradient descent on the first `width` neurons of a nested family (a_r = 0 switches
    # a neuron off: its gradient vanishes), until the loss falls below tol * loss(0)
    # (fitted) or falls by less than a fraction `stall` over a block (stalled).
    a = a_all * (jnp.arange(w_all.shape[0]) < width)
    scale = 1 / jnp.sqrt(width.astype(w_all.dtype))

    def residual(w):
        return jax.nn.relu(x @ w.T) @ a * scale - y

    def step(_, w):
        pattern = (x @ w.T >= 0).astype(w.dtype)
        return w - eta * a[:, None] * ((pattern * residual(w)[:, None]).T @ x) * scale

    loss0 = jnp.sum(residual(w_all) ** 2)

    def body(state):
        w, _, loss, b = state
        w = lax.fori_loop(0, block, step, w)
        return w, loss, jnp.sum(residual(w) ** 2), b + 1

    def going(state):
        _, previous, loss, b = state
        return (loss > tol * loss0) & (loss < (1 - stall) * previous) & (b < max_blocks)

    w, previous, loss, b = lax.while_loop(going, body, (w_all, jnp.inf, loss0, 0))
    dead = jnp.sum(jnp.all(x @ w.T < 0, axis=0) & (a != 0))
    return loss <= tol * loss0, b, (b >= max_blocks) & (loss > tol * loss0) & (loss < (1 - stall) * previous), dead


_fits_seeds = jax.vmap(_fits, in_axes=(0, 0, 0, None, None, None, None, None, None, None))


def smallest_width(keys, x, y, widths, *, eta: float, tol: float = 1e-2, stall: float = 1e-2, block: int = 200, max_steps: int = 100_000) -> WidthSearch:
    """Smallest width on a grid from which on gradient descent fits the data, for each seed.

    For each key, one family of nested networks is drawn (the first ``m`` neurons of
    ``max(widths)``, drawn as :class:`ntkbook.networks.FixedReadoutReLU`), so that the
    width is the only thing that changes. A run *fits* when ``|y - u|^2`` falls below
    ``tol`` times its initial value; it *stalls* when it falls by less than a fraction
    ``stall`` over ``block`` steps. The criterion does not depend on a step budget:
    ``max_steps`` is a safety cap, and :attr:`WidthSearch.capped` says whether it was
    ever reached. The search walks down the grid from the largest width, all seeds
    at once, and returns for each seed the smallest width such that it and every
    larger width of the grid fit (fitting is not monotone in the width for small
    networks, so a bisection would depend on the grid). The largest width must fit
    (a ValueError says when it does not).

    Parameters
    ----------
    keys : array of PRNG keys, shape (seeds,)
        One key per seed (network family).
    x : array, shape (n, d)
        Unit-norm inputs.
    y : array, shape (n,)
        Targets.
    widths : sequence of int
        Increasing grid of widths.
    eta : float
        Step size.
    tol, stall : float
        Fitting threshold and stall fraction, in ``(0, 1)``.
    block : int
        Steps between two checks.
    max_steps : int
        Safety cap on the steps of one run.

    Returns
    -------
    WidthSearch

    Raises
    ------
    ValueError
        If the grid is not increasing, or some seed does not fit at the largest width.
    """
    from .networks import FixedReadoutReLU

    x = _unit_inputs(x)
    y = _checks.targets(y, x.shape[0])
    grid = np.asarray(widths)
    if grid.ndim != 1 or grid.size < 2 or not np.issubdtype(grid.dtype, np.integer) or np.any(np.diff(grid) <= 0) or grid[0] < 1:
        raise ValueError(f"widths must be an increasing 1-d sequence of at least 2 positive integers, got {widths!r}")
    eta = _checks.real(eta, "eta", low=0.0)
    for name, value in (("tol", tol), ("stall", stall)):
        if not 0 < _checks.real(value, name) < 1:
            raise ValueError(f"{name} must be in (0, 1), got {value}")
    block = _checks.integer(block, "block", low=1)
    max_blocks = max(1, _checks.integer(max_steps, "max_steps", low=1) // block)
    families = [FixedReadoutReLU.create(jax.random.fold_in(k, 0), int(grid[-1])) for k in keys]
    w_all = jnp.stack([f.init(jax.random.fold_in(k, 1), x.shape[1])["w"] for f, k in zip(families, keys)])
    a_all = jnp.stack([f.readout for f in families]).astype(w_all.dtype)
    x, y = x.astype(w_all.dtype), y.astype(w_all.dtype)

    def run(index):
        fitted, b, capped, dead = _fits_seeds(w_all, a_all, jnp.asarray(grid[index]), x, y, eta, tol, stall, block, max_blocks)
        return np.asarray(fitted), int(jnp.max(b)) * block, int(jnp.sum(capped)), int(jnp.sum(dead))

    seeds = w_all.shape[0]
    index, searching = np.full(seeds, grid.size - 1), np.ones(seeds, bool)  # fits at every width above index
    steps = capped = dead = 0
    while searching.any():
        ok, s, c, k = run(np.where(searching, index, grid.size - 1))  # finished seeds rerun the widest (fast) net
        steps, capped, dead = max(steps, s), capped + c, dead + k
        if not ok[searching & (index == grid.size - 1)].all():
            raise ValueError(f"widths: the largest width {grid[-1]} does not fit for seeds {np.flatnonzero(~ok & (index == grid.size - 1)).tolist()}; extend the grid")
        searching &= ok
        index = np.where(searching, index - 1, index)
        searching &= index >= 0
    return WidthSearch(grid[np.where(index < 0, 0, np.minimum(index + 1, grid.size - 1))], steps, capped, dead)


# ------------------------------------------------------------------ the bounds


def anticoncentration_bound(radius):
    """``P[|z| < R] <= 2R / sqrt(2 pi)`` for ``z ~ N(0, 1)`` (the density is at most 1/sqrt(2 pi))."""
    return 2 * _checks.real(radius, "radius", low=0.0, strict=False) / math.sqrt(2 * math.pi)


def lemma1_width(n: int, lam: float, delta: float) -> float:
    """Lemma 1 (Du et al. 2019, Lemma 3.1): ``m = Omega(lambda^{-2} n^2 log(n / delta))``, up to constants."""
    n, lam, delta = _bound_args(n, lam, delta)
    return n**2 * math.log(n / delta) / lam**2


def lemma1_width_hoeffding(n: int, lam: float, delta: float) -> float:
    """Lemma 1's width with the constants of its Hoeffding proof: ``32 n^2 log(2 n^2 / delta) / lambda_0^2``.

    Each entry of ``H^dis`` averages ``m`` variables in ``[-1, 1]``; Hoeffding's
    inequality with deviation ``lambda_0 / (4 n)`` and a union bound over the ``n^2``
    entries give ``|H^dis - H^cts|_F <= lambda_0 / 4`` with probability ``1 - delta``
    from this width on (Du et al. 2019, Lemma 3.1).

    Parameters
    ----------
    n : int
        Number of inputs.
    lam : float
        ``lambda_0``.
    delta : float
        Failure probability in ``(0, 1)``.

    Returns
    -------
    float
    """
    n, lam, delta = _bound_args(n, lam, delta)
    return 32 * n**2 * math.log(2 * n**2 / delta) / lam**2


def bernstein_exponent(constant: float) -> float:
    """Rate ``c`` with ``P[#{r : A_ir or A_jr} >= constant m R] <= exp(-c m R)`` (Lemma 2's proof).

    The indicators of ``A_ir or A_jr`` are independent over ``r`` with mean and
    variance at most ``p R``, ``p = 4 / sqrt(2 pi)`` (anti-concentration). Bernstein's
    inequality with deviation ``t = (constant - p) R`` gives the exponent
    ``(t^2 / 2) / (p R + t / 3)``, returned divided by ``m R``. With ``constant = 3``
    (the notes' proof) it is about ``1 / 2.1``; with ``constant = 2`` (needed for the
    stated ``2 n R``) about ``1 / 21``.

    Parameters
    ----------
    constant : float
        Per-entry count bound in units of ``R``; must exceed ``4 / sqrt(2 pi)``.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If ``constant <= 4 / sqrt(2 pi)``.
    """
    p = 4 / math.sqrt(2 * math.pi)
    c = _checks.real(constant, "constant", low=p)
    t = c - p
    return (t**2 / 2) / (p + t / 3)


class Lemma2WorstCase(NamedTuple):
    """Lemma 2 for the worst move: an explicit bad move and an upper bound over the whole ball.

    Attributes
    ----------
    adversarial : float
        ``|H(W) - H(W~)|_F`` for the switch-off or switch-on move, whichever is larger.
    upper : float
        ``|U|_F`` with ``U_ij = |x_i . x_j| #{r : A_ir or A_jr} / m``: no move in the ball does more.
    max_share : float
        ``max_ij #{r : A_ir or A_jr} / (m R)``, the per-entry count the proof bounds by ``2 R`` or ``3 R``.
    counts : numpy.ndarray of int, shape (n, n)
        ``N_ij = #{r : A_ir or A_jr}``; for Gaussian ``W~`` it is binomial with ``m``
        trials and the probability :func:`flip_probability`.
    """

    adversarial: float
    upper: float
    max_share: float
    counts: np.ndarray


@jax.jit
def _pushed(w, x, radius, sign):
    # Move each neuron by at most radius so that every input with 0 <= sign * w.x < radius
    # changes side: the least-norm move putting them all just across, if it fits in the
    # ball, else the move across the nearest such input alone.
    pre = x @ w.T  # (n, m)
    near = ((sign * pre >= 0) & (sign * pre < radius)).T.astype(w.dtype)  # (m, n)
    target = sign * (jnp.abs(pre.T) + 1e-9 * radius) * near  # amount to remove along each x_i
    gram = x @ x.T
    g = near[:, :, None] * gram[None] * near[:, None, :] + jax.vmap(jnp.diag)(1 - near)
    coef = jnp.linalg.solve(g, target[:, :, None])[:, :, 0]
    joint = coef @ x  # (m, d)
    nearest = jnp.argmin(jnp.where(near > 0, jnp.abs(pre.T), jnp.inf), axis=1)
    single = target[jnp.arange(w.shape[0]), nearest][:, None] * x[nearest]
    fits = jnp.linalg.norm(joint, axis=1, keepdims=True) <= radius
    return w - jnp.where(fits, joint, single)


def lemma2_worst_case(w_tilde, x, radius: float) -> Lemma2WorstCase:
    """Bracket ``max ||H(W) - H(W~)||_F`` over all ``W`` with ``||w_r - w~_r|| <= R`` (Lemma 2).

    A neuron changes ``H_ij`` by at most ``|x_i . x_j| / m``, and only if it can flip
    its pattern on ``x_i`` or on ``x_j`` (events ``A_ir``, ``A_jr``); that count gives an
    upper bound valid for every move in the ball. The explicit switch-off move
    (every neuron turns off the inputs it can reach, all of them if one move of
    length ``R`` does it, else the nearest) and the switch-on move give lower bounds.

    Parameters
    ----------
    w_tilde : array, shape (m, d)
        Centre of the ball, ``W~``.
    x : array, shape (n, d)
        Unit-norm inputs.
    radius : float
        ``R``.

    Returns
    -------
    Lemma2WorstCase

    Raises
    ------
    ValueError
        If ``x`` does not have unit-norm rows or ``w_tilde`` is not (m, d).
    """
    x = _unit_inputs(x)
    w_tilde = _checks.as_array(w_tilde, "w_tilde", ndim=2)
    if w_tilde.shape[1] != x.shape[1]:
        raise ValueError(f"w_tilde must have shape (m, {x.shape[1]}), got {tuple(w_tilde.shape)}")
    rad = _checks.real(radius, "radius", low=0.0)
    x = x.astype(w_tilde.dtype)
    h0 = gram_discrete(w_tilde, x)
    moves = [gram_discrete(_pushed(w_tilde, x, rad, sign), x) - h0 for sign in (1.0, -1.0)]
    adversarial = max(float(jnp.linalg.norm(dh)) for dh in moves)
    unsure = (jnp.abs(x @ w_tilde.T) < rad).astype(w_tilde.dtype)  # (n, m): A_ir
    either = unsure.shape[1] - (1 - unsure) @ (1 - unsure).T  # #{r : A_ir or A_jr}
    m = w_tilde.shape[0]
    upper = float(jnp.linalg.norm(jnp.abs(x @ x.T) * either / m))
    return Lemma2WorstCase(adversarial, upper, float(jnp.max(either)) / (m * rad), np.rint(np.asarray(either)).astype(int))


def flip_probability(x, radius: float, nodes: int = 200) -> np.ndarray:
    """Exact ``P[A_ir or A_jr]`` for ``w_r ~ N(0, I_d)``: the mean of ``N_ij / m`` in Lemma 2.

    For unit inputs ``z_i = w_r . x_i`` and ``z_j`` are standard normal with correlation
    ``rho = x_i . x_j``, so ``P[|z_i| < R or |z_j| < R] = 2 erf(R / sqrt 2) - P[|z_i| < R, |z_j| < R]``,
    at most ``4 R / sqrt(2 pi)`` (anti-concentration). The joint term is the integral over
    ``|a| < R`` of the normal density times ``P[|rho a + sqrt(1 - rho^2) b| < R]``,
    ``b ~ N(0, 1)``, computed by Gauss-Legendre quadrature.

    Parameters
    ----------
    x : array, shape (n, d)
        Unit-norm inputs.
    radius : float
        ``R``.
    nodes : int
        Quadrature nodes on ``[-R, R]``.

    Returns
    -------
    numpy.ndarray, shape (n, n)
        Symmetric; the diagonal is ``P[|z| < R] = erf(R / sqrt 2)``.

    Raises
    ------
    ValueError
        If ``x`` does not have unit-norm rows, ``radius <= 0`` or ``nodes < 2``.
    """
    x = np.asarray(_unit_inputs(x), dtype=float)
    rad = _checks.real(radius, "radius", low=0.0)
    nodes = _checks.integer(nodes, "nodes", low=2)
    ndtr = lambda z: np.asarray(jax.scipy.special.ndtr(jnp.asarray(z)), dtype=float)

    rho = np.clip(x @ x.T, -1.0, 1.0)[:, :, None]
    s = np.sqrt(np.maximum(1 - rho**2, 1e-300))
    t, weight = np.polynomial.legendre.leggauss(nodes)
    a = rad * t  # nodes on [-R, R]
    inner = ndtr((rad - rho * a) / s) - ndtr((-rad - rho * a) / s)
    both = rad * np.sum(weight * np.exp(-(a**2) / 2) / math.sqrt(2 * math.pi) * inner, axis=-1)
    single = math.erf(rad / math.sqrt(2))
    union = 2 * single - both
    np.fill_diagonal(union, single)
    return union


class ClaimBounds(NamedTuple):
    """Claims 11-14 of the notes: bounds on Claim 9's terms, in units of ``|y - u(s)|^2``.

    ``C1 <= -eta lambda_0``, ``C2 <= 8 eta n R``, ``C3 <= 8 eta n R``, ``C4 <= eta^2 n^2``.
    """

    c1: float
    c2: float
    c3: float
    c4: float


def claim_bounds(n: int, lam: float, eta: float, radius: float) -> ClaimBounds:
    """Claims 11-14's bounds at step ``eta`` and radius ``R``, per unit of ``|y - u(s)|^2``.

    Theorem 7 closes when ``c2 + c3 + c4 <= eta lambda_0 / 2``: with
    ``eta = lambda_0 / (4 n^2)`` that is ``16 n R <= lambda_0 / 4``, i.e. ``R <= lambda_0 / (64 n)``.

    Parameters
    ----------
    n : int
        Number of inputs.
    lam, eta, radius : float
        ``lambda_0``, the step and ``R``.

    Returns
    -------
    ClaimBounds
    """
    n = _checks.integer(n, "n", low=1)
    lam, eta = _checks.real(lam, "lam", low=0.0), _checks.real(eta, "eta", low=0.0)
    rad = _checks.real(radius, "radius", low=0.0)
    return ClaimBounds(-eta * lam, 8 * eta * n * rad, 8 * eta * n * rad, eta**2 * n**2)


def lemma2_bound(n: int, radius: float) -> float:
    """Lemma 2's Frobenius bound ``|H(w) - H(w~)|_F < 2 n R`` as stated (its proof supports 3 n R)."""
    n = _checks.integer(n, "n", low=1)
    return 2 * n * _checks.real(radius, "radius", low=0.0)


def lemma2_probability(n: int, m: int, radius: float) -> float:
    """Lemma 2's success probability ``1 - n^2 exp(-m R / 10)`` (vacuous, i.e. <= 0, for small m R)."""
    n, m = _checks.integer(n, "n", low=1), _checks.integer(m, "m", low=1)
    return 1 - n**2 * math.exp(-m * _checks.real(radius, "radius", low=0.0) / 10)


def d_cts(n: int, m: int, lam: float, residual0: float) -> float:
    """The notes' ``D_cts = sqrt(n) |y - u(0)| / (sqrt(m) lambda)``: half of what Lemma 5's proof gives.

    Lemma 5's proof bounds the movement by ``2 D_cts``, :func:`lemma5_radius`
    (Du et al. 2019, Lemma 3.3); the notes drop the 2.
    """
    n, m = _checks.integer(n, "n", low=1), _checks.integer(m, "m", low=1)
    return math.sqrt(n) * _checks.real(residual0, "residual0", low=0.0, strict=False) / (math.sqrt(m) * _checks.real(lam, "lam", low=0.0))


def lemma5_radius(n: int, m: int, lam: float, residual0: float) -> float:
    """Lemma 5's movement bound ``2 sqrt(n) |y - u(0)| / (sqrt(m) lambda_0)`` (Du et al. 2019, Lemma 3.3).

    If ``lambda_min(H(s)) >= lambda_0 / 2`` on ``[0, t]``, the residual norm decays like
    ``exp(-lambda_0 s / 2)`` and each neuron's speed is at most ``sqrt(n / m)`` times it;
    the integral over ``[0, inf)`` is this radius, twice the notes' :func:`d_cts`.

    Parameters
    ----------
    n, m : int
        Number of inputs and width.
    lam : float
        ``lambda_0 = lambda_min(H^cts)``.
    residual0 : float
        ``|y - u(0)|``.

    Returns
    -------
    float
    """
    return 2 * d_cts(n, m, lam, residual0)


def lemma6_radius(n: int, lam: float, constant: float = 2.0) -> float:
    """The radius ``R = lambda_0 / (4 c n)`` that keeps ``lambda_min(H(W)) >= lambda_0 / 2`` (Lemma 6).

    Lemma 1 gives ``lambda_min(H(0)) >= 3 lambda_0 / 4``; Lemma 2 moves ``H`` by at most
    ``c n R`` in Frobenius norm for moves of radius ``R`` (``c = 2`` as the notes state,
    ``c = 3`` as their proof supports), and Weyl's inequality keeps
    ``lambda_min >= 3 lambda_0 / 4 - c n R >= lambda_0 / 2`` once ``R <= lambda_0 / (4 c n)``.
    This is not Theorem 7's ``lambda_0 / (64 n)`` (:func:`radius`), which also pays for Claims 12-13.

    Parameters
    ----------
    n : int
        Number of inputs.
    lam : float
        ``lambda_0``.
    constant : float
        Lemma 2's constant ``c``.

    Returns
    -------
    float
    """
    c = _checks.real(constant, "constant", low=0.0)
    return _checks.real(lam, "lam", low=0.0) / (4 * c * _checks.integer(n, "n", low=1))


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
    up to constants, for bounded labels (the notes' proof carries extra ``log(m / delta) log(n / delta)``
    factors; a sub-Gaussian bound on ``|y - u(0)|`` removes them, see chapter 4)."""
    n, lam, delta = _bound_args(n, lam, delta)
    return n**4 * math.log(n / delta) / lam**4


def width_theorem7(n: int, lam: float, residual0: float, delta: float) -> float:
    """The width Theorem 7's proof needs, with the notes' own constants.

    The largest of three requirements: ``D < R`` with Lemma 8's
    ``D = 4 sqrt(n) |y - u(0)| / (sqrt(m) lambda_0)`` and ``R = lambda_0 / (64 n)``, i.e.
    ``m > 65536 n^3 |y - u(0)|^2 / lambda_0^4``; Claims 11-13's failure probability
    ``3 n^2 exp(-m R / 10) <= delta``; and Lemma 1 with its Hoeffding constants
    (:func:`lemma1_width_hoeffding`). The first dominates for all but tiny ``n``.

    Parameters
    ----------
    n : int
        Number of inputs.
    lam : float
        ``lambda_0``.
    residual0 : float
        ``|y - u(0)|`` (its typical value is ``sqrt(|y|^2 + n / 2)``).
    delta : float
        Failure probability in ``(0, 1)``.

    Returns
    -------
    float
    """
    n, lam, delta = _bound_args(n, lam, delta)
    res = _checks.real(residual0, "residual0", low=0.0)
    stay = 65536 * n**3 * res**2 / lam**4
    probability = 10 * math.log(3 * n**2 / delta) / radius(n, lam)
    return max(stay, probability, lemma1_width_hoeffding(n, lam, delta))


def width_seed000(n: int) -> float:
    """Bhaskara's lecture, Theorem 2.1: width of order ``N^3``, up to constants."""
    return float(_checks.integer(n, "n", low=1)) ** 3
