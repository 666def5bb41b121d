"""Empirical NTK of a depth-3 ReLU MLP: structured versus Jacobian contraction versus jvp/vjp.

Network: ``MLP(widths=(w, w, w), activation="relu", w_std=sqrt(2), b_std=0.1)``
on n inputs of dimension 784, float32, one output. For each width w in
{1024, 4096} and n in {500, 2000}, each method of ``tangent.empirical_ntk``
runs in a fresh subprocess, so that its peak resident memory (ru_maxrss) is
its own. Times are the second of two calls (the first compiles). A method is
skipped, with the reason printed, when its Jacobians would not fit in this
machine's memory or when its estimated time exceeds ``--max-seconds``.

    .venv/bin/python benchmarks/empirical_ntk_speed.py [--max-seconds 300]
"""

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import jax, jax.numpy as jnp
from ntkbook import networks, tangent
method, width, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
net = networks.MLP(widths=(width,) * 3, activation="relu", w_std=2**0.5, b_std=0.1)
params = net.init(jax.random.key(0), 784)
x = jax.random.normal(jax.random.key(1), (n, 784))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
times = []
for _ in range(2):
    start = time.perf_counter()
    k = tangent.empirical_ntk(net.apply, params, x, method=method).block_until_ready()
    times.append(time.perf_counter() - start)
    del k
k = tangent.empirical_ntk(net.apply, params, x[:64], method=method)
print(json.dumps({"first": times[0], "seconds": times[1], "params": networks.num_params(params),
                  "probe": jnp.asarray(k, jnp.float64).tolist(),
                  "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                  "before_gib": before / 2**20}))
"""

METHODS = ("structured", "jacobian", "products")
MEMORY_GIB = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def params_of(width, d=784):
    return d * width + 2 * width * width + 4 * width + 1  # weights, then 3 hidden biases and 1 readout bias


def skip_reason(method, width, n, products_rate, max_seconds):
    """Why a run is not attempted, from its size: Jacobians that do not fit, or a jvp/vjp
    run whose cost (n^2 * P, scaled from the measured rate) is over the time limit."""
    p = params_of(width)
    if method == "jacobian" and 2 * n * p * 4 / 2**30 > 0.8 * MEMORY_GIB:
        return f"its {n} x {p:,} Jacobian and contraction need ~{2 * n * p * 4 / 2**30:.0f} GiB > {MEMORY_GIB:.0f} GiB of memory"
    if method == "products" and products_rate is not None:
        estimate = products_rate * n * n * p
        if estimate > max_seconds:
            return f"estimated {estimate:.0f} s (n^2 P scaling of the measured run) > --max-seconds {max_seconds:.0f}"
    return None


def run(method, width, n):
    proc = subprocess.run([sys.executable, "-c", CHILD, method, str(width), str(n)], capture_output=True, text=True)
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1][:200] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-seconds", type=float, default=300.0, help="skip jvp/vjp runs estimated to take longer")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPU cores, {MEMORY_GIB:.0f} GiB memory", flush=True)
    products_rate = None
    for width, n in ((1024, 500), (1024, 2000), (4096, 500), (4096, 2000)):
        print(f"\nwidth {width}, n = {n} (P = {params_of(width):,})", flush=True)
        results = {}
        for method in METHODS:
            reason = skip_reason(method, width, n, products_rate, args.max_seconds)
            if reason:
                print(f"  {method:>10}: skipped, {reason}", flush=True)
                continue
            r = results[method] = run(method, width, n)
            if "error" in r:
                print(f"  {method:>10}: failed: {r['error']}", flush=True)
                continue
            if method == "products":
                products_rate = r["seconds"] / (n * n * params_of(width))
            print(f"  {method:>10}: {r['seconds']:8.3f} s (first call {r['first']:.2f} s), "
                  f"peak RSS {r['peak_gib']:.2f} GiB (before the call {r['before_gib']:.2f} GiB)", flush=True)
        fast = results.get("structured")
        if fast and "error" not in fast:
            for method in ("jacobian", "products"):
                other = results.get(method)
                if other and "error" not in other:
                    diff = max(abs(a - b) for ra, rb in zip(fast["probe"], other["probe"]) for a, b in zip(ra, rb))
                    scale = max(abs(a) for row in other["probe"] for a in row)
                    print(f"  structured vs {method}: {other['seconds'] / fast['seconds']:.1f}x faster, "
                          f"{other['peak_gib'] / fast['peak_gib']:.1f}x less peak memory; "
                          f"kernels on 64 inputs agree to {diff / scale:.1e} relative", flush=True)


if __name__ == "__main__":
    main()
