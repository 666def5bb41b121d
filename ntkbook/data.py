"""Small synthetic data sets used across the chapters.

All generators take an explicit ``jax.random`` key, so a chapter that fixes
its keys is reproducible on any machine.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from . import _checks

__all__ = ["concentric_circles", "noisy_sine", "sphere", "one_hot", "accuracy", "digits", "single_index", "with_distractors"]


def concentric_circles(key, n_per_circle: int = 100, *, radii=(1.0, 2.0), noise: float = 0.1):
    """Points on two circles around the origin, labelled by circle.

    Returns ``x`` of shape (2 * n_per_circle, 2) and labels ``y`` of shape
    (2 * n_per_circle,), ``-1`` on the inner and ``+1`` on the outer circle.
    Angles are uniform; radii get Gaussian noise of standard deviation ``noise``.
    No line separates the classes, but ``x1**2 + x2**2`` does when the noise is
    small against the gap between the radii.

    Raises:
      TypeError: ``n_per_circle`` not an integer.
      ValueError: ``n_per_circle < 1``, ``radii`` not two numbers
        ``0 < inner < outer``, or a negative ``noise``.
    """
    n = _checks.integer(n_per_circle, "n_per_circle", low=1)
    if len(radii) != 2:
        raise ValueError(f"radii must hold two radii (inner, outer), got {radii!r}")
    inner = _checks.real(radii[0], "radii[0]", low=0.0)
    outer = _checks.real(radii[1], "radii[1]", low=inner)
    noise = _checks.real(noise, "noise", low=0.0, strict=False)
    k_angle, k_radius = jax.random.split(key)
    angle = jax.random.uniform(k_angle, (2 * n,), maxval=2 * jnp.pi)
    radius = jnp.repeat(jnp.array([inner, outer]), n) + noise * jax.random.normal(k_radius, (2 * n,))
    x = jnp.stack([radius * jnp.cos(angle), radius * jnp.sin(angle)], axis=1)
    y = jnp.repeat(jnp.array([-1.0, 1.0]), n)
    return x, y


def sphere(key, n: int, d: int):
    """``n`` points drawn uniformly on the unit sphere of R^d; shape (n, d).

    Standard Gaussian vectors divided by their norms (the law is rotation invariant).
    ``TypeError``/``ValueError`` unless ``n`` and ``d`` are integers >= 1.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from ntkbook import data
        >>> x = data.sphere(jax.random.key(0), 100, 5)
        >>> x.shape
        (100, 5)
        >>> bool(jnp.allclose(jnp.linalg.norm(x, axis=1), 1.0, atol=1e-6))
        True
    """
    n = _checks.integer(n, "n", low=1)
    d = _checks.integer(d, "d", low=1)
    x = jax.random.normal(key, (n, d))
    return x / jnp.linalg.norm(x, axis=1, keepdims=True)


def noisy_sine(key, n: int = 20, *, frequency: float = 3.0, noise: float = 0.1, low: float = -1.0, high: float = 1.0):
    """A one-dimensional regression problem ``y = sin(frequency * x) + noise``.

    Returns ``x`` of shape (n, 1), sorted, drawn uniformly from [low, high],
    and ``y`` of shape (n,).
    """
    n = _checks.integer(n, "n", low=1)
    frequency = _checks.real(frequency, "frequency")
    noise = _checks.real(noise, "noise", low=0.0, strict=False)
    low = _checks.real(low, "low")
    high = _checks.real(high, "high", low=low)
    k_x, k_noise = jax.random.split(key)
    x = jnp.sort(jax.random.uniform(k_x, (n,), minval=low, maxval=high))
    y = jnp.sin(frequency * x) + noise * jax.random.normal(k_noise, (n,))
    return x[:, None], y


def one_hot(labels, num_classes: int, *, centred: bool = True):
    """Targets for classification with the squared loss; shape (n, num_classes).

    ``centred=True`` subtracts ``1 / num_classes`` from every entry, so that each
    row sums to zero and a network whose outputs are zero at initialisation
    starts from the mean target.

    Raises:
      TypeError: ``labels`` not a 1-d integer array, or ``num_classes`` not an integer.
      ValueError: ``num_classes < 2`` or a label outside ``[0, num_classes - 1]``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from ntkbook import data
        >>> t = data.one_hot(jnp.array([0, 2]), 3)
        >>> t.shape, [round(float(v), 4) for v in t[0]]
        ((2, 3), [0.6667, -0.3333, -0.3333])
        >>> data.accuracy(t, jnp.array([0, 1]))
        0.5
    """
    num_classes = _checks.integer(num_classes, "num_classes", low=2)
    labels = jnp.asarray(labels)
    if labels.ndim != 1 or not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"labels must be a 1-d array of integers, got dtype {labels.dtype} and shape {tuple(labels.shape)}")
    if _checks.is_concrete(labels) and labels.size and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes - 1}], got range [{int(labels.min())}, {int(labels.max())}]")
    out = jax.nn.one_hot(labels, num_classes)
    return out - 1.0 / num_classes if centred else out


def accuracy(outputs, labels) -> float:
    """Share of rows of ``outputs`` (n, c) whose largest entry is at ``labels`` (n,); a float in [0, 1].

    Raises ``ValueError`` when ``outputs`` is not 2-d or ``labels`` has not shape (n,).
    """
    outputs = _checks.as_array(outputs, "outputs", ndim=2)
    labels = jnp.asarray(labels)
    if labels.shape != (outputs.shape[0],):
        raise ValueError(f"labels must have shape ({outputs.shape[0]},), got {tuple(labels.shape)}")
    return float(jnp.mean(jnp.argmax(outputs, axis=1) == labels))


def digits(key, n_train: int = 500):
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes), no download.

    Pixels are centred by the training mean and each image scaled to unit norm.
    Returns ``(x_train, labels_train, x_test, labels_test)`` with x of shape
    (n, 64) and integer labels; the split is a random permutation drawn from
    ``key``. Needs scikit-learn (part of the book's environment).

    Raises:
      ImportError: scikit-learn is not installed.
      TypeError, ValueError: ``n_train`` not an integer in [1, 1796].
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("ntkbook.data.digits needs scikit-learn: pip install scikit-learn") from err
    images, labels = load_digits(return_X_y=True)
    n_train = _checks.integer(n_train, "n_train", low=1)
    if n_train >= len(labels):
        raise ValueError(f"n_train must be below the {len(labels)} available images, got {n_train}")
    order = jax.random.permutation(key, len(labels))
    x = jnp.asarray(images, jnp.result_type(float))[order]
    y = jnp.asarray(labels)[order]
    x = x - x[:n_train].mean(axis=0)
    x = x / jnp.linalg.norm(x, axis=1, keepdims=True)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def single_index(key, n: int, d: int, *, noise: float = 0.0):
    """A sparse single-index regression task: a target that reads one coordinate of the input.

    ``x`` is uniform on the sphere of radius ``sqrt(d)`` in R^d (so each coordinate
    is nearly N(0, 1) for large d) and ``y = z + (z**2 - 1) / sqrt(2) + noise * N(0, 1)``
    with ``z = x_1``: for Gaussian ``z`` these are the first two Hermite components,
    each of variance 1. The other ``d - 1`` coordinates are irrelevant. A
    rotation-invariant kernel needs a number of samples growing like ``d**2`` to
    fit the quadratic component (Ghorbani et al. 2019, 2020); a network can find
    the direction ``e_1`` from the linear component and then fit the rest.

    Returns ``x`` of shape (n, d) and ``y`` of shape (n,).
    """
    n = _checks.integer(n, "n", low=1)
    d = _checks.integer(d, "d", low=1)
    noise = _checks.real(noise, "noise", low=0.0, strict=False)
    k_x, k_noise = jax.random.split(key)
    x = sphere(k_x, n, d) * jnp.sqrt(d)
    z = x[:, 0]
    return x, z + (z**2 - 1.0) / jnp.sqrt(2.0) + noise * jax.random.normal(k_noise, (n,))


def with_distractors(key, x, num_distractors: int, *, scale: float = 1.0):
    """Append ``num_distractors`` irrelevant Gaussian coordinates to every row of ``x``.

    Each appended coordinate is ``N(0, scale**2 / num_distractors)``, so the block
    of distractors has squared norm about ``scale**2`` whatever its size.

    Returns an array of shape (n, d + num_distractors).
    """
    x = _checks.points(x, "x")
    num = _checks.integer(num_distractors, "num_distractors", low=0)
    scale = _checks.real(scale, "scale", low=0.0, strict=False)
    noise = jax.random.normal(key, (x.shape[0], num), x.dtype) * (scale / max(num, 1) ** 0.5)
    return jnp.concatenate([x, noise], axis=1)
