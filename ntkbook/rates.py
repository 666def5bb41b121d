"""Measured rates: the exponent of a power law fitted on a log-log scale.

Asymptotic statements in the book ("the error shrinks like m^{-1/2}", "the
number of features grows like d^k") are checked by fitting a line to
``log y`` against ``log x`` and reading its slope.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["PowerLaw", "loglog_fit", "SeedFit", "loglog_fit_seeds", "Exponential", "exponential_fit"]


class PowerLaw(NamedTuple):
    """``y ~ prefactor * x**slope``, fitted by least squares in log-log space.

    Attributes:
      slope: the fitted exponent.
      prefactor: the fitted constant, ``exp`` of the intercept in log space.
      r2: coefficient of determination of the linear fit in log space.
    """

    slope: float
    prefactor: float
    r2: float

    def __call__(self, x):
        """The fitted law at ``x`` (any shape): ``prefactor * x**slope``, a NumPy array."""
        return self.prefactor * np.asarray(x, dtype=float) ** self.slope


def loglog_fit(x, y) -> PowerLaw:
    """Fit ``log y = slope * log x + log prefactor``; returns a :class:`PowerLaw`.

    Args:
      x, y: 1-d arrays of the same length >= 2, all entries finite and > 0.

    Raises:
      ValueError: ``x`` and ``y`` not 1-d of one length, fewer than 2 points,
        or an entry that is not finite and positive.

    Examples:
        >>> from ntkbook import rates
        >>> fit = rates.loglog_fit([1, 10, 100], [3.0, 0.3, 0.03])
        >>> round(fit.slope, 6), round(fit.prefactor, 6), round(fit.r2, 6)
        (-1.0, 3.0, 1.0)
        >>> round(float(fit(1000)), 9)
        0.003
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


class SeedFit(NamedTuple):
    """Power laws fitted separately to each seed's measurements (:func:`loglog_fit_seeds`).

    ``slope`` is the mean of the per-seed slopes, ``spread`` their sample standard
    deviation (0 for a single seed), ``r2`` the smallest per-seed coefficient of
    determination and ``prefactor`` the geometric mean of the per-seed prefactors;
    ``fits`` holds the per-seed :class:`PowerLaw` fits. Calling it evaluates
    ``prefactor * x**slope``.
    """

    slope: float
    spread: float
    r2: float
    prefactor: float
    fits: tuple

    def __call__(self, x):
        return self.prefactor * np.asarray(x, dtype=float) ** self.slope

    def __str__(self) -> str:
        return f"{self.slope:.2f} +- {self.spread:.2f} (min r2 {self.r2:.2f})"


def loglog_fit_seeds(x, y) -> SeedFit:
    """Fit one power law per seed and report the mean slope and its spread over seeds.

    A rate asserted from one fit of averaged data hides how much it moves from
    one initialisation to the next; the spread says how sharp a window around a
    theoretical exponent the data can support.

    Parameters
    ----------
    x : array_like, shape (k,)
        The positive abscissae (widths, step sizes), shared by all seeds.
    y : array_like, shape (seeds, k)
        One row of positive measurements per seed.

    Returns
    -------
    SeedFit
        Mean slope, standard deviation over seeds (``ddof=1``), smallest ``r2``,
        geometric-mean prefactor and the per-seed fits.

    Raises
    ------
    ValueError
        If ``y`` is not 2-d with one column per entry of ``x``, or any value is
        not finite and positive (the errors of :func:`loglog_fit`).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if y.ndim != 2 or x.ndim != 1 or y.shape[1] != x.shape[0] or y.shape[0] < 1:
        raise ValueError(f"y must have shape (seeds, {x.shape[0] if x.ndim == 1 else 'k'}) matching x of shape (k,), got x {x.shape} and y {y.shape}")
    fits = tuple(loglog_fit(x, row) for row in y)
    slopes = np.array([f.slope for f in fits])
    spread = float(np.std(slopes, ddof=1)) if len(fits) > 1 else 0.0
    prefactor = float(np.exp(np.mean([np.log(f.prefactor) for f in fits])))
    return SeedFit(float(slopes.mean()), spread, float(min(f.r2 for f in fits)), prefactor, fits)


class Exponential(NamedTuple):
    """``y ~ prefactor * exp(rate * x)``, fitted by least squares on ``log y`` (:func:`exponential_fit`).

    Attributes:
      rate: the fitted rate (negative for a decay); ``exp(rate)`` is the factor per unit of ``x``.
      prefactor: ``exp`` of the intercept.
      r2: coefficient of determination of the linear fit of ``log y`` against ``x``.
    """

    rate: float
    prefactor: float
    r2: float

    def __call__(self, x):
        """The fitted law at ``x`` (any shape): ``prefactor * exp(rate * x)``, a NumPy array."""
        return self.prefactor * np.exp(self.rate * np.asarray(x, dtype=float))


def exponential_fit(x, y) -> Exponential:
    """Fit ``log y = rate * x + log prefactor``: an exponential (geometric) decay or growth.

    A residual component of gradient descent with a fixed kernel is multiplied by
    the same factor every step (chapter 3); fitted against the step count ``s``,
    ``exp(rate)`` estimates that factor.

    Parameters
    ----------
    x : array_like, shape (k,)
        Finite abscissae (steps, times), at least 2 distinct values.
    y : array_like, shape (k,)
        Finite positive values.

    Returns
    -------
    Exponential
        ``rate``, ``prefactor`` and ``r2``.

    Raises
    ------
    ValueError
        If ``x`` and ``y`` are not 1-d of one length, there are fewer than 2
        points or fewer than 2 distinct ``x``, or an entry is not finite (``y``
        must also be positive).

    Examples
    --------
    >>> from ntkbook import rates
    >>> fit = rates.exponential_fit([0, 1, 2, 3], [8.0, 4.0, 2.0, 1.0])
    >>> round(float(np.exp(fit.rate)), 6), round(fit.prefactor, 6), round(fit.r2, 6)
    (0.5, 8.0, 1.0)
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 1 or y.shape != x.shape:
        raise ValueError(f"x and y must be 1-d arrays of equal length, got shapes {x.shape} and {y.shape}")
    if x.size < 2 or np.unique(x).size < 2:
        raise ValueError(f"x needs at least 2 distinct points to fit a rate, got {x.size} points")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(y > 0)):
        raise ValueError("x must be finite and y finite and > 0 for an exponential fit")
    ly = np.log(y)
    rate, intercept = np.polyfit(x, ly, 1)
    residual = ly - (rate * x + intercept)
    spread = np.sum((ly - ly.mean()) ** 2)
    r2 = 1.0 - np.sum(residual**2) / spread if spread > 0 else 1.0
    return Exponential(float(rate), float(np.exp(intercept)), float(r2))
