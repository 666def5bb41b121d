"""Measured rates: the exponent of a power law fitted on a log-log scale.

Asymptotic statements in the book ("the error shrinks like m^{-1/2}", "the
number of features grows like d^k") are checked by fitting a line to
``log y`` against ``log x`` and reading its slope.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["PowerLaw", "loglog_fit"]


class PowerLaw(NamedTuple):
    """``y ~ prefactor * x**slope``, fitted by least squares in log-log space.

    ``r2`` is the coefficient of determination of the linear fit in log space.
    """

    slope: float
    prefactor: float
    r2: float

    def __call__(self, x):
        return self.prefactor * np.asarray(x, dtype=float) ** self.slope


def loglog_fit(x, y) -> PowerLaw:
    """Fit ``log y = slope * log x + log prefactor``.

    Args: x, y: 1-d arrays of the same length >= 2, all entries > 0.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 1 or y.shape != x.shape:
        raise ValueError(f"x and y must be 1-d arrays of equal length, got shapes {x.shape} and {y.shape}")
    if x.size < 2:
        raise ValueError(f"x and y need at least 2 points to fit a slope, got {x.size}")
    if not (np.all(x > 0) and np.all(y > 0) and np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("x and y must be finite and > 0 for a log-log fit")
    lx, ly = np.log(x), np.log(y)
    slope, intercept = np.polyfit(lx, ly, 1)
    residual = ly - (slope * lx + intercept)
    spread = np.sum((ly - ly.mean()) ** 2)
    r2 = 1.0 - np.sum(residual**2) / spread if spread > 0 else 1.0
    return PowerLaw(float(slope), float(np.exp(intercept)), float(r2))
