"""Infinite-width depth-3 ReLU kernels against their floor, the input Gram matrix ``x @ x.T``.

``tangent.infinite_width(MLP(widths=(1, 1, 1), activation="relu", w_std=sqrt(2),
b_std=0.1), x)`` on n random inputs of dimension 784, float32, for n in
{1000, 4000, 10000, 20000}: the NTK alone (``get="ntk"``) and both kernels in
one call. Both kernels need the Gram matrix and then an entrywise recursion,
so the Gram matrix alone (jitted ``x @ x.T``, same process) is the floor.
Printed ratios: NTK / Gram (target <= 1.3 at every n) and NNGP+NTK / NTK
(target <= 1.6). Up to n = 4000 it also times the recursion alone, jitted as
one tile without the tiling, argument checks and device placement of
``infinite_width`` but with the same compiler options (tile / Gram), which
splits the NTK's cost into the recursion's and the call's.

Timings on a shared machine are noisy, so the three calls are interleaved
(Gram, NTK, both; Gram, NTK, both; ...) and each figure is the minimum over
the rounds, after one compiling call each. Accuracy: the float32 kernels of
the first 256 rows against float64 (same inputs, ``jax_enable_x64`` switched
on afterwards in the same process), as max |error| / max |kernel|. Each n
runs in a fresh subprocess for its peak resident memory.

    .venv/bin/python benchmarks/infinite_width_speed.py [n ...]
"""

import json
import os
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import jax, jax.numpy as jnp, numpy as np
from ntkbook import blocks, networks, tangent
n = int(sys.argv[1])
rounds = 15 if n <= 4000 else 7 if n <= 10000 else 4
net = networks.MLP(widths=(1, 1, 1), activation="relu", w_std=2**0.5, b_std=0.1)
x = jax.random.normal(jax.random.key(0), (n, 784))
gram = jax.jit(lambda x: x @ x.T)
calls = {
    "gram": lambda: gram(x),
    "ntk": lambda: tangent.infinite_width(net, x, get="ntk"),
    "both": lambda: tangent.infinite_width(net, x),
}
if n <= 4000:  # the recursion alone, jitted as one tile: no argument checks, no tiling, no device placement
    arch = net.architecture
    tile = jax.jit(lambda x: tangent._InfiniteWidthKernel(arch.activation, arch.w_std, arch.b_std, "ntk")(x, None),
                   compiler_options=blocks._compiler_options(jax.devices()))
    calls["tile"] = lambda: tile(x)
for f in calls.values():
    jax.block_until_ready(f())
best = dict.fromkeys(calls, float("inf"))
cpu = dict.fromkeys(calls, float("inf"))
for _ in range(rounds):
    for name, f in calls.items():
        start, start_cpu = time.perf_counter(), time.process_time()
        jax.block_until_ready(f())
        best[name] = min(best[name], time.perf_counter() - start)
        cpu[name] = min(cpu[name], time.process_time() - start_cpu)
rows = 256
both = tangent.infinite_width(net, x)
f32 = {"nngp": np.asarray(both.nngp[:rows]), "ntk": np.asarray(both.ntk[:rows])}
del both
jax.config.update("jax_enable_x64", True)
x64 = np.asarray(x, dtype=np.float64)
ref = tangent.infinite_width(net, jnp.asarray(x64[:rows]), jnp.asarray(x64))
err = {k: float(np.max(np.abs(f32[k] - np.asarray(getattr(ref, k)))) / np.max(np.abs(np.asarray(getattr(ref, k)))))
       for k in f32}
best.setdefault("tile", None)
print(json.dumps({**best, **{"cpu_" + k: v for k, v in cpu.items()}, "rounds": rounds, "err_nngp": err["nngp"], "err_ntk": err["ntk"],
                  "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [1000, 4000, 10000, 20000]
    import jax

    print(f"machine: {os.cpu_count()} CPU cores, JAX {jax.__version__} ({jax.default_backend()}); "
          "float32, d = 784, depth-3 ReLU with bias; minimum over interleaved rounds")
    print(f"{'n':>6} {'rounds':>6} {'x @ x.T (s)':>12} {'NTK (s)':>9} {'NTK/Gram':>9} {'NNGP+NTK (s)':>13} "
          f"{'both/NTK':>9} {'both/Gram':>10} {'tile/Gram':>10} {'err NNGP':>9} {'err NTK':>9} {'peak RSS (GiB)':>15}")
    for n in sizes:
        proc = subprocess.run([sys.executable, "-c", CHILD, str(n)], capture_output=True, text=True)
        if proc.returncode:
            print(f"{n:>6} failed: {proc.stderr.strip()[-300:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{n:>6} {r['rounds']:>6} {r['gram']:>12.3f} {r['ntk']:>9.3f} {r['ntk'] / r['gram']:>9.2f} "
              f"{r['both']:>13.3f} {r['both'] / r['ntk']:>9.2f} {r['both'] / r['gram']:>10.2f} "
              f"{'-' if r['tile'] is None else format(r['tile'] / r['gram'], '.2f'):>10} "
              f"{r['err_nngp']:>9.1e} {r['err_ntk']:>9.1e} {r['peak_gib']:>15.2f}", flush=True)


if __name__ == "__main__":
    main()
