"""Execution time of every chapter notebook, and of the whole book.

Each notebook in ``notebooks/`` runs top to bottom in a fresh kernel (nbclient,
as ``make execute`` and nbval do), on a copy, so the stored outputs are not
touched. Prints one line per notebook and the total.

    .venv/bin/python benchmarks/book_times.py [notebook ...]
"""

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def execute(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def main():
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    paths = [Path(p) for p in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    print(f"machine: {os.cpu_count()} CPU cores")
    total = 0.0
    for path in paths:
        seconds = execute(path)
        total += seconds
        print(f"{path.name:<40} {seconds:7.1f} s", flush=True)
    print(f"{'total':<40} {total:7.1f} s ({total / 60:.1f} min)")


if __name__ == "__main__":
    main()
