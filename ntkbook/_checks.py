"""Input validation shared by every public function of ``ntkbook``.

Each helper raises ``TypeError`` (wrong kind of object) or ``ValueError``
(right kind, wrong shape or value) with a message naming the argument, what
was received and what was expected. Checks on array *values* (finiteness,
signs) run only on concrete arrays: under ``jax.jit`` the values are traced and
only shapes can be checked.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np


def is_concrete(x) -> bool:
    """True outside a jax transformation, where values can be inspected."""
    return not isinstance(x, jax.core.Tracer)


def as_array(x, name: str, *, ndim: int | tuple[int, ...]) -> jax.Array:
    """Return ``x`` as a floating-point JAX array with one of the given ranks.

    Integer and boolean inputs are promoted to JAX's default float type; complex
    inputs are rejected. Concrete inputs must be finite.
    """
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be an array of real numbers, got {type(x).__name__}")
    try:
        arr = x if isinstance(x, jax.Array) else jnp.asarray(x)  # (asarray of an Array is the Array, at a cost)
    except TypeError as err:
        raise TypeError(
            f"{name} must be an array of real numbers, got {type(x).__name__}"
        ) from err
    if jnp.issubdtype(arr.dtype, jnp.complexfloating) or not (
        jnp.issubdtype(arr.dtype, jnp.number) or arr.dtype == jnp.bool_
    ):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        arr = arr.astype(jnp.result_type(float))
    ranks = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in ranks:
        expected = " or ".join(f"{r}-d" for r in ranks)
        raise ValueError(f"{name} must be {expected}, got shape {tuple(arr.shape)}")
    # NumPy, not jnp: inside a trace, jnp operations on a concrete constant give tracers.
    if is_concrete(arr) and not np.all(finite := np.isfinite(np.asarray(arr))):
        bad = int(finite.size - finite.sum())
        raise ValueError(f"{name} must be finite, got {bad} NaN or infinite entries")
    return arr


def points(x, name: str) -> jax.Array:
    """A batch of inputs: shape (n, d) with n >= 1 and d >= 1."""
    arr = as_array(x, name, ndim=2)
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have shape (n, d) with n, d >= 1, got {tuple(arr.shape)}")
    return arr


def point_pair(x1, x2, names=("x1", "x2")) -> tuple[jax.Array, jax.Array]:
    """Two batches of inputs of the same dimension; ``x2=None`` means ``x1``."""
    a = points(x1, names[0])
    if x2 is None:
        return a, a
    b = points(x2, names[1])
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same number of features, "
            f"got {names[0]}.shape={tuple(a.shape)} and {names[1]}.shape={tuple(b.shape)}"
        )
    return a, b


def square(k, name: str) -> jax.Array:
    """A square (n, n) matrix."""
    arr = as_array(k, name, ndim=2)
    if arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square (n, n) matrix, got shape {tuple(arr.shape)}")
    return arr


def targets(y, n: int, name: str = "y") -> jax.Array:
    """Targets for n samples: shape (n,) or (n, k)."""
    arr = as_array(y, name, ndim=(1, 2))
    if arr.shape[0] != n:
        raise ValueError(f"{name} must have {n} rows (one per sample), got shape {tuple(arr.shape)}")
    return arr


def real(value, name: str, *, low: float | None = None, strict: bool = True) -> float:
    """A real scalar, optionally bounded below (``> low`` or ``>= low``)."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.ndarray, jax.Array)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if isinstance(value, (np.ndarray, jax.Array)):
        if np.ndim(value) != 0:
            raise ValueError(f"{name} must be a scalar, got shape {np.shape(value)}")
        if not is_concrete(value):
            return value
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if low is not None and (v <= low if strict else v < low):
        relation = ">" if strict else ">="
        raise ValueError(f"{name} must be {relation} {low}, got {v}")
    return v


def integer(value, name: str, *, low: int) -> int:
    """A Python integer ``>= low``."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value}")
    return int(value)


def record_schedule(num_steps, record_every) -> tuple[int, int]:
    """Validate a training length and recording interval; return ``(num_records, record_every)``."""
    num_steps = integer(num_steps, "num_steps", low=1)
    record_every = integer(record_every, "record_every", low=1)
    if num_steps % record_every:
        raise ValueError(
            f"num_steps must be a multiple of record_every, got num_steps={num_steps}, record_every={record_every}"
        )
    return num_steps // record_every, record_every
