"""Gradient-flow predictions at many times: one eigendecomposition against a
matrix exponential per time point.

Kernel: infinite-width NTK of a depth-3 ReLU MLP on n_train random inputs in
R^784 (float32), m_test = 500 test inputs, 50 flow times spread
logarithmically. ``ntkbook.dynamics.gradient_flow`` computes the training
residuals and test predictions at all times from one ``eigh``. The baseline
computes ``expm(-K t / n)`` for each time (and a Cholesky factor once, for the
test predictions). Both are jitted and timed after a warm-up call; the script
checks that they agree.

    .venv/bin/python benchmarks/gradient_flow_times.py [--n 4000] [--times 50]
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from ntkbook import dynamics, networks, tangent


def timed(fn):
    jax.block_until_ready(fn())  # compile
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    return out, time.perf_counter() - start


@jax.jit
def _baseline_one(k, k_test, factor, residual0, t):
    n = k.shape[0]
    decay = jax.scipy.linalg.expm(-k * t / n)
    residual = decay @ residual0
    test = -k_test @ jax.scipy.linalg.cho_solve((factor, True), residual0 - residual)
    return residual, test


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--times", type=int, default=50)
    args = parser.parse_args()
    n, m = args.n, 500
    net = networks.MLP(widths=(1, 1, 1), activation="relu", w_std=2**0.5, b_std=0.1)
    x = jax.random.normal(jax.random.key(0), (n + m, 784))
    k_all = tangent.infinite_width(net, x, x[:n]).ntk
    k, k_test = k_all[:n] + 1e-3 * jnp.eye(n), k_all[n:]
    y = jnp.sin(x[:n, 0])
    times = jnp.asarray(np.geomspace(1e-2, 1e3, args.times) * n / float(jnp.trace(k) / n), jnp.float32)

    ours, t_ours = timed(lambda: dynamics.gradient_flow(k, y, jnp.zeros(n), times, k_test_train=k_test))
    factor = jnp.linalg.cholesky(k)

    def baseline():
        outs = [_baseline_one(k, k_test, factor, -y, t) for t in times]
        return jnp.stack([o[0] for o in outs]), jnp.stack([o[1] for o in outs])

    (res_b, test_b), t_base = timed(baseline)
    # float32 expm loses accuracy (and can overflow) once |K t / n| is large; compare
    # where the baseline is finite and say how often it was not.
    finite = jnp.all(jnp.isfinite(res_b), axis=1) & jnp.all(jnp.isfinite(test_b), axis=1)
    scale_test = float(jnp.max(jnp.abs(jnp.where(finite[:, None], test_b, 0.0))))
    gap_train = float(jnp.max(jnp.where(finite[:, None], jnp.abs((ours.train - y) - res_b), 0.0)) / jnp.max(jnp.abs(y)))
    gap_test = float(jnp.max(jnp.where(finite[:, None], jnp.abs(ours.test - test_b), 0.0)) / scale_test)
    per_time = jnp.max(jnp.abs((ours.train - y) - res_b), axis=1) / jnp.max(jnp.abs(y))
    agree = int(jnp.sum(finite & (per_time < 1e-2)))
    print(f"n_train = {n}, m_test = {m}, {args.times} times, float32, {jax.devices()[0].platform}")
    print(f"one eigendecomposition (ntkbook):  {t_ours:8.2f} s")
    print(f"expm per time point (baseline):    {t_base:8.2f} s")
    print(f"ratio baseline / ntkbook: {t_base / t_ours:.1f}x")
    print(f"baseline finite at {int(jnp.sum(finite))}/{len(times)} times, within 1e-2 of ntkbook at {agree}/{len(times)}; "
          f"max relative difference where finite: train {gap_train:.1e}, test {gap_test:.1e}")
    small = times <= times[len(times) // 2]
    early = float(jnp.max(jnp.where(small, per_time, 0.0)))
    print(f"over the first half of the times (|K t / n| moderate): max relative difference {early:.1e}")


if __name__ == "__main__":
    main()
