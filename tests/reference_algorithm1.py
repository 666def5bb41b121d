"""A direct, per-neuron transcription of Algorithm 1 (seed 004), for checking and
benchmarking the vectorised implementation in ntkbook.convergence. Not for use."""

import numpy as np


def loop_step(w, a, x, y, eta):
    """One gradient step with explicit loops over neurons r and samples i."""
    m, _ = w.shape
    n = x.shape[0]
    u = np.zeros(n)
    for i in range(n):
        for r in range(m):
            u[i] += a[r] * max(w[r] @ x[i], 0.0)
        u[i] /= np.sqrt(m)
    new = w.copy()
    for r in range(m):
        g = np.zeros_like(w[r])
        for i in range(n):
            if w[r] @ x[i] >= 0:
                g += (u[i] - y[i]) * a[r] * x[i]
        new[r] = w[r] - eta * g / np.sqrt(m)
    return new
