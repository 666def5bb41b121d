"""Build the homework: student notebooks and autograder zips from the masters, with otter-grader.

    python notebooks/homework/build.py [--out _build/homework] [MASTER.ipynb ...]

For each master ``notebooks/homework/<name>.ipynb`` (otter's assign format:
solutions, public and hidden tests in one notebook), ``otter assign`` writes

    <out>/<name>/student/<name>.ipynb       the notebook to hand out
    <out>/<name>/autograder/<name>-autograder_<time>.zip   for `otter run` or Gradescope
    <out>/<name>/autograder/<name>.ipynb    the solutions, as otter ran them

No PDFs are made and nothing is downloaded. ``otter assign`` runs every test
against the master's solutions; if one fails, this script stops with the
names of the failing questions. The student notebooks are also copied to
``_build/site-assets/homework/``, from where the website serves them.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SITE_COPY = ROOT / "_build" / "site-assets" / "homework"


class MasterError(RuntimeError):
    """A master whose solutions fail its own tests, or that otter cannot assign."""


def failing_questions(log: str) -> list[str]:
    """Questions with a failed test case in the report of ``otter assign``."""
    failed, question = [], None
    for line in log.splitlines():
        match = re.match(r"\s*(\S+) results:", line)
        if match:
            question = match.group(1)
        elif question and ("Test case failed" in line or "❌" in line) and question not in failed:
            failed.append(question)
    return failed


def build(master: Path, out: Path) -> Path:
    """Assign one master into ``out / master.stem``; return that folder."""
    dest = out / master.stem
    shutil.rmtree(dest, ignore_errors=True)
    otter = Path(sys.executable).with_name("otter")
    result = subprocess.run([str(otter), "assign", str(master), str(dest)], capture_output=True, text=True)
    if result.returncode != 0:
        log = result.stdout + result.stderr
        failed = failing_questions(log)
        if failed:
            raise MasterError(f"{master.name}: the solutions fail their own tests in question(s) {', '.join(failed)}")
        raise MasterError(f"{master.name}: otter assign failed:\n{log[-3000:]}")
    return dest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "homework")
    parser.add_argument("masters", nargs="*", type=Path)
    args = parser.parse_args(argv)
    masters = args.masters or sorted(HERE.glob("hw*.ipynb"))
    if not masters:
        print("no homework masters found", file=sys.stderr)
        return 1
    SITE_COPY.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for master in masters:
        try:
            dest = build(master, args.out)
        except MasterError as error:
            print(f"homework build failed: {error}", file=sys.stderr)
            return 1
        shutil.copy2(dest / "student" / master.name, SITE_COPY / master.name)
        print(f"{master.stem}: {dest.relative_to(Path.cwd()) if dest.is_relative_to(Path.cwd()) else dest}")
    print(f"built {len(masters)} homework(s) in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
