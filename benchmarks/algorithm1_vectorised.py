"""Algorithm 1 (seed 004): the vectorised step of ntkbook.convergence against a
direct per-neuron, per-sample loop (tests/reference_algorithm1.py), in one run.

    .venv/bin/python benchmarks/algorithm1_vectorised.py [--m 512] [--n 32] [--d 10]
"""

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from reference_algorithm1 import loop_step  # noqa: E402

from ntkbook import convergence, networks  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=512)
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--d", type=int, default=10)
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)
    x = jax.random.normal(jax.random.key(0), (args.n, args.d))
    x = x / jnp.linalg.norm(x, axis=1, keepdims=True)
    y = jnp.sin(x[:, 0])
    net = networks.FixedReadoutReLU.create(jax.random.key(1), args.m)
    w = net.init(jax.random.key(2), args.d)["w"]
    eta = 0.1

    step = jax.jit(lambda w: w - eta * convergence.gradient(w, net.readout, x, y))
    step(w).block_until_ready()
    reps = 200
    start = time.perf_counter()
    for _ in range(reps):
        out = step(w)
    out.block_until_ready()
    t_vec = (time.perf_counter() - start) / reps

    w_np, a_np, x_np, y_np = (np.asarray(v) for v in (w, net.readout, x, y))
    start = time.perf_counter()
    ref = loop_step(w_np, a_np, x_np, y_np, eta)
    t_loop = time.perf_counter() - start

    gap = float(np.max(np.abs(np.asarray(out) - ref)))
    print(f"m = {args.m}, n = {args.n}, d = {args.d}, float64, {jax.devices()[0].platform}")
    print(f"vectorised step: {t_vec * 1e3:9.3f} ms   per-neuron loop: {t_loop * 1e3:9.1f} ms")
    print(f"speed ratio loop / vectorised: {t_loop / t_vec:,.0f}x   (max difference {gap:.1e})")


if __name__ == "__main__":
    main()
