"""Peak memory and time of the generic empirical NTK, batched against unbatched.

Network: depth-3 ReLU MLP of width 1024 on 500 inputs of dimension 784
(about 2.9 million parameters), float32, CPU. Each configuration runs in a
fresh subprocess so that its peak resident memory (ru_maxrss) is its own.
The baseline is the unbatched Jacobian contraction (one block of all 500 rows).
The default (method="auto") picks the Jacobian-free products path here, because
the 500 Jacobians (5.8 GB) do not fit its 512 MiB budget.

    .venv/bin/python benchmarks/empirical_ntk_memory.py [--skip-unbatched]
"""

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import jax, jax.numpy as jnp
from ntkbook import networks, tangent
method, batch = sys.argv[1], (None if sys.argv[2] == "auto" else int(sys.argv[2]))
net = networks.MLP(widths=(1024, 1024, 1024), activation="relu", w_std=2**0.5, b_std=0.1)
params = net.init(jax.random.key(0), 784)
x = jax.random.normal(jax.random.key(1), (500, 784))
start = time.perf_counter()
k = tangent.empirical_ntk(net.apply, params, x, method=method, batch_size=batch)
k.block_until_ready()
print(json.dumps({"seconds": time.perf_counter() - start, "params": networks.num_params(params),
                  "trace": float(jnp.trace(k)), "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def run(method, batch):
    proc = subprocess.run([sys.executable, "-c", CHILD, method, str(batch)], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-unbatched", action="store_true", help="skip the ~6.5 GB unbatched baseline")
    args = parser.parse_args()
    configs = [("auto", "auto"), ("jacobian", "auto"), ("products", "auto")]
    if not args.skip_unbatched:
        configs.append(("jacobian", 500))
    rows = []
    for method, batch in configs:
        r = run(method, batch)
        rows.append((method, batch, r))
        print(f"{method:>9} batch={str(batch):>4}: {r['seconds']:6.1f} s, peak RSS {r['peak_gib']:.2f} GiB "
              f"(P = {r['params']:,}, trace {r['trace']:.6g})", flush=True)
    if not args.skip_unbatched:
        default, unbatched = rows[0][2], rows[-1][2]
        print(f"unbatched Jacobian contraction / default: memory {unbatched['peak_gib'] / default['peak_gib']:.1f}x, "
              f"time {unbatched['seconds'] / default['seconds']:.2f}x")


if __name__ == "__main__":
    main()
