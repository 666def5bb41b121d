"""Infinite-width depth-3 ReLU NTK against its floor, the input Gram matrix ``x @ x.T``.

``tangent.infinite_width(MLP(widths=(1, 1, 1), activation="relu", w_std=sqrt(2),
b_std=0.1), x, get="ntk")`` on n random inputs of dimension 784, float32, for
n in {1000, 4000, 20000}. The kernel needs the Gram matrix and then an
entrywise recursion, so the Gram matrix alone (jitted ``x @ x.T``, same run,
same process) is the floor. Each n runs in a fresh subprocess for its peak
resident memory. Times are the best of repeated calls after compilation.

    .venv/bin/python benchmarks/infinite_width_speed.py [n ...]
"""

import json
import os
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import jax, jax.numpy as jnp
from ntkbook import networks, tangent
n = int(sys.argv[1])
reps = 5 if n <= 4000 else 2
net = networks.MLP(widths=(1, 1, 1), activation="relu", w_std=2**0.5, b_std=0.1)
x = jax.random.normal(jax.random.key(0), (n, 784))
gram = jax.jit(lambda x: x @ x.T)

def best(f):
    jax.block_until_ready(f())
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        jax.block_until_ready(f())
        times.append(time.perf_counter() - start)
    return min(times)

t_gram = best(lambda: gram(x))
t_ntk = best(lambda: tangent.infinite_width(net, x, get="ntk"))
t_both = best(lambda: tangent.infinite_width(net, x))
print(json.dumps({"gram": t_gram, "ntk": t_ntk, "both": t_both,
                  "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [1000, 4000, 20000]
    print(f"machine: {os.cpu_count()} CPU cores; float32, d = 784, depth-3 ReLU NTK with bias")
    print(f"{'n':>6} {'x @ x.T (s)':>12} {'NTK (s)':>9} {'ratio':>6} {'NNGP+NTK (s)':>13} {'ratio':>6} {'peak RSS (GiB)':>15}")
    for n in sizes:
        proc = subprocess.run([sys.executable, "-c", CHILD, str(n)], capture_output=True, text=True)
        if proc.returncode:
            print(f"{n:>6} failed: {proc.stderr.strip()[-300:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{n:>6} {r['gram']:>12.3f} {r['ntk']:>9.3f} {r['ntk'] / r['gram']:>6.2f} "
              f"{r['both']:>13.3f} {r['both'] / r['gram']:>6.2f} {r['peak_gib']:>15.2f}", flush=True)


if __name__ == "__main__":
    main()
