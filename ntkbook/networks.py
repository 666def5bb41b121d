"""Fully connected networks in the NTK parameterisation (chapter 2).

One architecture description gives the finite network (``init``, ``apply``)
and, through :func:`ntkbook.tangent.infinite_width`, its infinite-width
kernels.

The convention is that of Jacot et al. (2018) and of neural-tangents'
``stax.Dense(parameterization='ntk')``: a dense layer maps ``h`` of width
``fan_in`` to::

    w_std / sqrt(fan_in) * h @ W + b_std * b,     W, b ~ N(0, 1) entrywise,

and the trainable parameters are the standard-normal ``W`` and ``b``. The
activation is applied between dense layers, not after the last one.

The seeds' two-layer models are special cases:

- :func:`two_layer` (lecture 6 of Lei): ``f(x) = m^{-1/2} sum_i b_i sigma(<a_i, x>)``
  with ``a_i ~ N(0, I_d)``, ``b_i ~ N(0, 1)``, both trained. There is no
  ``1/sqrt(d)`` on the first layer, so it is ``MLP(widths=(m,),
  w_std=(sqrt(d), 1.0), b_std=0.0)``: the ``sqrt(d)`` cancels ``1/sqrt(fan_in)``.
- :class:`FixedReadoutReLU` (Song's lecture, after Du et al. 2019):
  ``f(W; x) = m^{-1/2} sum_r a_r relu(<w_r, x>)`` with ``w_r ~ N(0, I_d)``
  trained and ``a_r`` uniform in ``{-1, +1}`` and fixed. It is the same
  network with a readout that is not Gaussian and not trained.
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial
from typing import Callable, Union

import jax
import jax.numpy as jnp

from . import _checks

__all__ = ["ACTIVATIONS", "Architecture", "MLP", "two_layer", "FixedReadoutReLU", "outputs_at_init", "num_params"]

#: Activations known by name; the infinite-width kernels exist for these.
ACTIVATIONS: dict[str, Callable] = {"relu": jax.nn.relu, "erf": jax.scipy.special.erf}

Std = Union[float, tuple]


def _per_layer(value, name: str, n_layers: int, *, low: float, strict: bool) -> tuple[float, ...]:
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n_layers
    if len(values) != n_layers:
        raise ValueError(f"{name} must be a number or a tuple of {n_layers} numbers (one per dense layer), got {value!r}")
    return tuple(_checks.real(v, f"{name}", low=low, strict=strict) for v in values)


@dataclasses.dataclass(frozen=True)
class MLP:
    """A multilayer perceptron in the NTK parameterisation.

    Args:
      widths: hidden-layer widths, e.g. ``(512, 512)`` for two hidden layers
        (depth 2); every width >= 1. An empty tuple is a linear model.
      out_dim: number of outputs k.
      activation: ``"relu"``, ``"erf"`` (infinite-width kernels available) or
        any elementwise callable (finite networks only).
      w_std: weight scale, one number or one per dense layer
        (``len(widths) + 1`` of them).
      b_std: bias scale, likewise; ``0`` means no bias parameters at all.
      parameterization: ``"ntk"`` (default) scales every layer by
        ``1 / sqrt(fan_in)``; ``"standard"`` puts the same scales into the
        initialisation instead, ``W ~ N(0, w_std^2 / fan_in)`` and
        ``b ~ N(0, b_std^2)`` trained as they are (Lee et al. 2019, section
        2.3): with the same key the network computes the same function as in
        the NTK parameterisation, but its gradients, its tangent kernel (the
        readout part grows like the width) and its usable step size differ;
        ``"mean_field"`` scales the readout by
        ``1 / fan_in`` instead (Mei, Montanari, Nguyen 2018; Chizat and Bach
        2018; the muP readout of Yang and Hu 2021). Then the NTK is O(1/m), a
        step O(m) is needed for O(1) progress, and with it the hidden features
        move by O(1): the network learns features instead of training lazily.

    Parameters are a list with one dict per dense layer, ``{"w": (fan_in,
    fan_out), "b": (fan_out,)}``; ``"b"`` is absent when that layer's
    ``b_std`` is 0.

    Raises:
      TypeError: ``widths`` not a sequence, a non-integer width or
        ``out_dim``, or an ``activation`` that is neither a name nor callable.
      ValueError: a width or ``out_dim`` below 1, an unknown activation name
        or parameterisation, scales of the wrong length or sign, or a
        mean-field network with a readout bias.

    Examples:
        >>> import jax
        >>> from ntkbook import networks
        >>> net = networks.MLP(widths=(64, 64), out_dim=2, w_std=2**0.5, b_std=0.1)
        >>> params = net.init(jax.random.key(0), in_dim=3)
        >>> [p["w"].shape for p in params]
        [(3, 64), (64, 64), (64, 2)]
        >>> net.apply(params, jax.numpy.ones((5, 3))).shape
        (5, 2)
        >>> networks.num_params(params)  # 3*64 + 64 + 64*64 + 64 + 64*2 + 2
        4546
    """

    widths: tuple = ()
    out_dim: int = 1
    activation: Union[str, Callable] = "relu"
    w_std: Std = 1.0
    b_std: Std = 0.0
    parameterization: str = "ntk"

    def __post_init__(self):
        if isinstance(self.widths, (int, float)) or not hasattr(self.widths, "__iter__"):
            raise TypeError(f"widths must be a tuple of hidden-layer widths, got {self.widths!r}")
        widths = tuple(self.widths)
        for w in widths:
            _checks.integer(w, "width", low=1)
        object.__setattr__(self, "widths", tuple(int(w) for w in widths))
        _checks.integer(self.out_dim, "out_dim", low=1)
        if isinstance(self.activation, str):
            if self.activation not in ACTIVATIONS:
                raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)} or a callable, got {self.activation!r}")
        elif not callable(self.activation):
            raise TypeError(f"activation must be a name or a callable, got {type(self.activation).__name__}")
        n = len(widths) + 1
        object.__setattr__(self, "w_std", _per_layer(self.w_std, "w_std", n, low=0.0, strict=True))
        object.__setattr__(self, "b_std", _per_layer(self.b_std, "b_std", n, low=0.0, strict=False))
        if self.parameterization not in ("ntk", "standard", "mean_field"):
            raise ValueError(f"parameterization must be 'ntk', 'standard' or 'mean_field', got {self.parameterization!r}")
        if self.parameterization == "mean_field" and self.b_std[-1] > 0:
            # The readout bias is not divided by the width; under the width-scaled
            # step that mean-field training needs it would move O(width) per step.
            raise ValueError(
                f"parameterization='mean_field' needs no readout bias (b_std[-1] = 0), got b_std={self.b_std}; "
                "pass b_std=(..., 0.0)"
            )

    @property
    def depth(self) -> int:
        """Number of hidden layers."""
        return len(self.widths)

    @property
    def sigma(self) -> Callable:
        """The activation as a function."""
        return ACTIVATIONS[self.activation] if isinstance(self.activation, str) else self.activation

    @property
    def architecture(self) -> "Architecture":
        """The width-free part of this network: what its infinite-width kernels depend on."""
        return Architecture(depth=self.depth, activation=self.activation, w_std=self.w_std, b_std=self.b_std)

    def layer_scale(self, layer: int, fan_in: int) -> float:
        """The factor multiplying ``h @ W`` in dense layer ``layer`` (0 = first):
        ``w_std / sqrt(fan_in)``, ``w_std / fan_in`` for a mean-field readout,
        1 in the standard parameterisation (the scale is in the initialisation)."""
        if self.parameterization == "standard":
            return 1.0
        readout = layer == self.depth and layer > 0
        power = 1.0 if (readout and self.parameterization == "mean_field") else 0.5
        return self.w_std[layer] / fan_in**power

    def bias_scale(self, layer: int) -> float:
        """The factor multiplying the bias parameters of dense layer ``layer``:
        ``b_std``, or 1 in the standard parameterisation."""
        return 1.0 if self.parameterization == "standard" else self.b_std[layer]

    def init(self, key, in_dim: int) -> list:
        """Draw parameters: all entries i.i.d. N(0, 1) (float32 unless x64 is on); in the
        standard parameterisation weights N(0, w_std^2 / fan_in) and biases N(0, b_std^2)."""
        in_dim = _checks.integer(in_dim, "in_dim", low=1)
        sizes = (in_dim,) + self.widths + (self.out_dim,)
        params = []
        for layer, k in enumerate(jax.random.split(key, len(sizes) - 1)):
            kw, kb = jax.random.split(k)
            entry = {"w": jax.random.normal(kw, (sizes[layer], sizes[layer + 1]))}
            if self.b_std[layer] > 0:
                entry["b"] = jax.random.normal(kb, (sizes[layer + 1],))
            if self.parameterization == "standard":
                entry = {"w": self.w_std[layer] / math.sqrt(sizes[layer]) * entry["w"],
                         **({"b": self.b_std[layer] * entry["b"]} if "b" in entry else {})}
            params.append(entry)
        return params

    def apply(self, params, x):
        """Network outputs; ``x`` of shape (n, d), returns (n, out_dim). Jit- and vmap-friendly.

        Raises ``ValueError`` when ``x`` is not 2-d, ``params`` has the wrong number of
        layers, or ``x`` has not the ``in_dim`` columns ``params`` was drawn for.
        """
        x = _checks.as_array(x, "x", ndim=2)
        if len(params) != self.depth + 1:
            raise ValueError(f"params must hold {self.depth + 1} layers for this MLP, got {len(params)}")
        if x.shape[1] != params[0]["w"].shape[0]:
            raise ValueError(
                f"x must have {params[0]['w'].shape[0]} features (the in_dim of params), got shape {tuple(x.shape)}"
            )
        h = x
        for layer, p in enumerate(params):
            if layer > 0:
                h = self.sigma(h)
            h = self.layer_scale(layer, p["w"].shape[0]) * (h @ p["w"])
            if "b" in p:
                h = h + self.bias_scale(layer) * p["b"]
        return h


@dataclasses.dataclass(frozen=True)
class Architecture:
    """A fully connected architecture without its widths: what the infinite-width limit sees.

    The NNGP and NTK of an :class:`MLP` at infinite width depend on its depth,
    activation and layer scales, not on its widths (Jacot et al. 2018,
    Theorem 1). This object describes exactly that, so the limit is asked
    for as ``tangent.infinite_width(Architecture(depth=2, w_std=2**0.5), x)``;
    :meth:`at_width` builds the finite networks whose limit it is.

    Parameters
    ----------
    depth : int
        Number of hidden layers ``L >= 0`` (0 is a linear model).
    activation : str or callable
        As for :class:`MLP`; the infinite-width kernels exist for ``"relu"``
        and ``"erf"``.
    w_std, b_std : float or tuple
        Weight and bias scales ``sigma_w``, ``sigma_b``: one number, or one per
        dense layer (``depth + 1`` of them).

    Raises
    ------
    ValueError, TypeError
        For a negative or non-integer depth, an unknown activation or scales of
        the wrong length or sign (the checks of :class:`MLP`).
    """

    depth: int = 1
    activation: Union[str, Callable] = "relu"
    w_std: Std = 1.0
    b_std: Std = 0.0

    def __post_init__(self):
        depth = _checks.integer(self.depth, "depth", low=0)
        probe = MLP(widths=(1,) * depth, activation=self.activation, w_std=self.w_std, b_std=self.b_std)
        object.__setattr__(self, "depth", int(depth))
        object.__setattr__(self, "w_std", probe.w_std)
        object.__setattr__(self, "b_std", probe.b_std)

    @classmethod
    def two_layer(cls, in_dim: int, activation: Union[str, Callable] = "relu") -> "Architecture":
        """Seed 001's two-layer network without its width: ``w_std = (sqrt(d), 1)``, no biases."""
        in_dim = _checks.integer(in_dim, "in_dim", low=1)
        return cls(depth=1, activation=activation, w_std=(math.sqrt(in_dim), 1.0), b_std=0.0)

    def at_width(self, width, *, out_dim: int = 1, parameterization: str = "ntk") -> MLP:
        """The finite network of this architecture.

        Parameters
        ----------
        width : int or tuple of int
            One width for every hidden layer, or ``depth`` widths.
        out_dim : int
            Number of outputs q.
        parameterization : str
            ``"ntk"``, ``"standard"`` or ``"mean_field"``, see :class:`MLP`.

        Returns
        -------
        MLP
            A network whose ``architecture`` is this one.

        Raises
        ------
        ValueError
            If ``width`` is a tuple whose length is not ``depth``, or for any
            value :class:`MLP` rejects.
        """
        widths = tuple(width) if isinstance(width, (tuple, list)) else (width,) * self.depth
        if len(widths) != self.depth:
            raise ValueError(f"width must be one number or a tuple of {self.depth} widths (one per hidden layer), got {width!r}")
        return MLP(widths=widths, out_dim=out_dim, activation=self.activation, w_std=self.w_std, b_std=self.b_std,
                   parameterization=parameterization)


def two_layer(width: int, in_dim: int, activation: Union[str, Callable] = "relu") -> MLP:
    """Seed 001's network ``m^{-1/2} sum_i b_i sigma(<a_i, x>)``, both layers trained, no biases.

    Parameters: ``params[0]["w"]`` is (d, m) with columns ``a_i``;
    ``params[1]["w"]`` is (m, 1) holding the ``b_i``.
    """
    return Architecture.two_layer(in_dim, activation).at_width(width)


@dataclasses.dataclass(frozen=True, eq=False)
class FixedReadoutReLU:
    """Seed 004's network ``f(W; x) = m^{-1/2} sum_r a_r relu(<w_r, x>)``; only ``W`` is trained.

    Build it with :meth:`create`, which draws the fixed signs ``a_r``.
    Parameters are ``{"w": (m, d)}`` with rows ``w_r ~ N(0, I_d)``;
    ``apply`` returns shape (n,), the scalar output for each input.
    """

    readout: jax.Array  # (m,) entries in {-1, +1}

    @classmethod
    def create(cls, key, width: int) -> "FixedReadoutReLU":
        """The network of width ``width`` with readout signs ``a_r`` drawn uniformly from
        {-1, +1} with ``key``; raises ``TypeError``/``ValueError`` unless ``width`` is an integer >= 1."""
        width = _checks.integer(width, "width", low=1)
        return cls(readout=jax.random.rademacher(key, (width,)).astype(jnp.result_type(float)))

    @property
    def width(self) -> int:
        """Number of neurons m."""
        return self.readout.shape[0]

    def init(self, key, in_dim: int) -> dict:
        """Trainable weights ``{"w": (m, in_dim)}``, i.i.d. N(0, 1), so each row ``w_r ~ N(0, I_d)``."""
        in_dim = _checks.integer(in_dim, "in_dim", low=1)
        return {"w": jax.random.normal(key, (self.width, in_dim))}

    def apply(self, params, x):
        """Outputs of shape (n,) for ``x`` of shape (n, d); ``ValueError`` if ``x`` is not 2-d with d columns."""
        x = _checks.as_array(x, "x", ndim=2)
        if x.shape[1] != params["w"].shape[1]:
            raise ValueError(f"x must have {params['w'].shape[1]} features, got shape {tuple(x.shape)}")
        return jax.nn.relu(x @ params["w"].T) @ self.readout.astype(x.dtype) / math.sqrt(self.width)


def outputs_at_init(net, key, x, *, n_samples: int, batch_size: int = 500):
    """Network outputs at ``n_samples`` independent initialisations: shape (n_samples, n, q).

    The law of ``f(theta_0; x)`` over the initialisation, sampled: its
    variance and kurtosis are what chapter 2 measures (:class:`MLP` outputs are
    Gaussian in the infinite-width limit with covariance the NNGP kernel).

    Parameters
    ----------
    net : object
        A network with ``init(key, in_dim)`` and ``apply(params, x)`` (hashable,
        such as :class:`MLP`), whose ``apply`` returns (n,) or (n, q).
    key : jax.Array
        PRNG key; draw ``i`` uses ``jax.random.split(key, n_samples)[i]``.
    x : array, shape (n, d)
        Inputs.
    n_samples : int
        Number of initialisations, >= 1.
    batch_size : int
        Initialisations computed at once (vectorised), >= 1.

    Returns
    -------
    jax.Array, shape (n_samples, n, q)

    Raises
    ------
    TypeError
        If ``net`` has no ``init`` or ``apply``.
    ValueError
        For ``n_samples`` or ``batch_size`` not an integer >= 1, or ``x`` not a finite 2-d array.
    """
    if not (callable(getattr(net, "init", None)) and callable(getattr(net, "apply", None))):
        raise TypeError(f"net must have init(key, in_dim) and apply(params, x), got {type(net).__name__}")
    n_samples = _checks.integer(n_samples, "n_samples", low=1)
    batch_size = _checks.integer(batch_size, "batch_size", low=1)
    x = _checks.as_array(x, "x", ndim=2)
    return _outputs_at_init(net, jax.random.split(key, n_samples), x, batch_size)


@partial(jax.jit, static_argnames=("net", "batch_size"))
def _outputs_at_init(net, keys, x, batch_size):
    def one(k):
        out = net.apply(net.init(k, x.shape[1]), x)
        return out.reshape(out.shape[0], -1)

    return jax.lax.map(one, keys, batch_size=batch_size)


def num_params(params) -> int:
    """Total number of scalar parameters in a pytree."""
    return sum(int(leaf.size) for leaf in jax.tree_util.tree_leaves(params))
