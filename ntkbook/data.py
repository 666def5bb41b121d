"""Small synthetic data sets used across the chapters.

All generators take an explicit ``jax.random`` key, so a chapter that fixes
its keys is reproducible on any machine.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from . import _checks

__all__ = ["concentric_circles", "noisy_sine"]


def concentric_circles(key, n_per_circle: int = 100, *, radii=(1.0, 2.0), noise: float = 0.1):
    """Points on two circles around the origin, labelled by circle.

    Returns ``x`` of shape (2 * n_per_circle, 2) and labels ``y`` of shape
    (2 * n_per_circle,), ``-1`` on the inner and ``+1`` on the outer circle.
    Angles are uniform; radii get Gaussian noise of standard deviation ``noise``.
    No line separates the classes, but ``x1**2 + x2**2`` does when the noise is
    small against the gap between the radii.
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
