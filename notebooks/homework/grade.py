"""Grade a folder of homework submissions into one gradebook CSV, with otter-grader and no Docker.

    python notebooks/homework/grade.py HW SUBMISSIONS [--out DIR] [--timeout 600] [--jobs 2]
    make grade HW=hw01_kernel_regression SUBMISSIONS=path/to/folder

``HW`` names a homework built by ``make homework`` (its autograder zip is
``_build/homework/<HW>/autograder/*.zip``). Every file in ``SUBMISSIONS`` is a
submission, named after the file's stem (a sub-folder holding one notebook
counts as one submission, named after the folder). Each is graded by
``otter run`` (``otter.run.main``) in its own process, under a time limit, in
the environment this script runs in: the project's ``.venv``, which has the
same ``ntkbook``, jax and numpy as the zip's environment.

Writes ``<out>/grades.csv`` (default ``_build/grades/<HW>/``) with a row per
student and a column per question (written questions left empty for hand
grading), the autograded total, a status (``graded``, ``raised``,
``timed out``, ``not a notebook``, ``error``) and a note giving the reason;
``<out>/<student>/feedback.txt`` holds otter's output for each question (the
rule a submission broke, the failing value check). A submission that fails to
execute never stops the others from being graded; the summary printed at the
end lists those that could not be graded, and why.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import build  # noqa: E402  (the same question parser as the build)


@dataclass
class Row:
    student: str
    file: str
    status: str = "graded"
    scores: dict[str, float] = field(default_factory=dict)
    note: str = ""


def autograder_zip(homework: str, built: Path) -> Path:
    zips = sorted((built / homework / "autograder").glob("*.zip"))
    if not zips:
        raise SystemExit(f"no autograder for {homework!r} in {built}: run `make homework` first")
    return zips[-1]


def questions(homework: str) -> list[tuple[str, float, bool]]:
    """(name, points, written) for every question of the homework's master, in order."""
    master = HERE / f"{homework}.ipynb"
    if not master.exists():
        return []
    return [(q["name"], float(q.get("points", 1)), bool(q.get("manual"))) for q in build.questions(nbformat.read(master, 4))]


def submissions(folder: Path) -> list[tuple[str, Path]]:
    """(student, path) for every file, or folder with one notebook, in ``folder``."""
    found = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_dir():
            notebooks = sorted(path.glob("*.ipynb"))
            found.append((path.name, notebooks[0] if len(notebooks) == 1 else path))
        else:
            found.append((path.stem, path))
    return found


def first_error(nb) -> str:
    """'<ename>: <evalue> (code cell k)' for the first cell of an executed notebook that raised, or ''."""
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    for k, cell in enumerate(code_cells, start=1):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                value = str(output.get("evalue", "")).strip().splitlines()
                return f"{output.get('ename')}: {value[0] if value else ''} (code cell {k} of {len(code_cells)})"
    return ""


def worker(zip_path: Path, notebook: Path, out: Path) -> int:
    """Grade one notebook with otter (in this process); write results.json and execution.json to ``out``."""
    import contextlib
    import io

    import otter.run

    out.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(io.StringIO()):
        results = otter.run.main(str(notebook), autograder=str(zip_path), output_dir=str(out), no_logo=True)
    executed = getattr(results, "notebook", None)
    (out / "execution.json").write_text(json.dumps({"error": first_error(executed) if executed is not None else ""}))
    return 0


def grade_one(student: str, path: Path, zip_path: Path, out: Path, timeout: float) -> Row:
    row = Row(student, path.name)
    if path.is_dir():
        return Row(student, path.name, "not a notebook", note="a folder without exactly one .ipynb file")
    try:
        nbformat.read(path, as_version=4)
    except Exception as error:  # not JSON, not a notebook, or a notebook format nbformat cannot read
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return Row(student, path.name, "not a notebook", note=f"{path.name} cannot be read as a notebook ({reason[:200]})")
    # Graded under the homework's own file name, which the notebook's first cell opens
    # (``otter.Notebook("<homework>.ipynb")``), whatever the student named the file.
    staging = Path(tempfile.mkdtemp(prefix=f"grade-{student}-"))
    path = Path(shutil.copy2(path, staging / f"{zip_path.name.split('-autograder_')[0]}.ipynb"))
    folder = out / student
    shutil.rmtree(folder, ignore_errors=True)
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(zip_path), str(path), str(folder)]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    try:
        log, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the worker and its kernel
        process.communicate()
        return Row(student, row.file, "timed out", note=f"grading did not finish within {timeout:g} s (a cell that never ends?)")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    results = folder / "results.json"
    if process.returncode != 0 or not results.exists():
        lines = [line for line in log.strip().splitlines() if line.strip()]
        return Row(student, row.file, "error", note=f"otter could not grade it: {lines[-1] if lines else 'no output'}"[:300])
    tests = json.loads(results.read_text())["tests"]
    row.scores = {t["name"]: float(t["score"]) for t in tests if "score" in t}
    error = json.loads((folder / "execution.json").read_text())["error"]
    if error:
        row.status, row.note = "raised", f"the notebook raised {error}; graded what it defined"
    feedback = [f"{t['name']}: {t.get('score', '-')}/{t.get('max_score', '-')}\n{t.get('output', '').strip()}\n" for t in tests]
    (folder / "feedback.txt").write_text(f"{student} ({row.file}), graded in {time.perf_counter() - start:.0f} s\n\n" + "\n".join(feedback))
    return row


def write_csv(rows: list[Row], plan: list[tuple[str, float, bool]], path: Path) -> None:
    graded_names = sorted({q for row in rows for q in row.scores})
    plan = plan or [(name, 0.0, False) for name in graded_names]
    columns = [f"{name} (written)" if written else name for name, _, written in plan]
    auto = [name for name, _, written in plan if not written]
    possible = sum(points for _, points, written in plan if not written)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["student", *columns, "total", "possible", "status", "note"])
        for row in rows:
            cells = ["" if written or name not in row.scores else f"{row.scores[name]:g}" for name, _, written in plan]
            total = sum(row.scores.get(name, 0.0) for name in auto)
            out.writerow([row.student, *cells, f"{total:g}", f"{possible:g}", row.status, row.note])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("homework", help="a homework name, e.g. hw01_kernel_regression")
    parser.add_argument("submissions", type=Path, help="folder of submitted notebooks")
    parser.add_argument("--out", type=Path, help="output folder (default _build/grades/<homework>)")
    parser.add_argument("--built", type=Path, default=ROOT / "_build" / "homework", help="where `make homework` wrote the autograders")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed to grade one submission")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="submissions graded at once")
    args = parser.parse_args(argv)
    homework = Path(args.homework).stem
    if not args.submissions.is_dir():
        parser.error(f"SUBMISSIONS must be a folder, got {args.submissions}")
    zip_path = autograder_zip(homework, args.built)
    out = args.out or ROOT / "_build" / "grades" / homework
    found = submissions(args.submissions)
    if not found:
        parser.error(f"no submissions in {args.submissions}")
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        rows = list(pool.map(lambda item: grade_one(*item, zip_path, out, args.timeout), found))
    write_csv(rows, questions(homework), out / "grades.csv")
    for row in rows:
        flag = "" if row.status == "graded" else f"  [{row.status}] {row.note}"
        print(f"{row.student}: {sum(row.scores.values()):g}{flag}")
    failed = [row.student for row in rows if row.status not in ("graded", "raised")]
    print(f"{len(rows)} submission(s), {len(failed)} not graded{': ' + ', '.join(failed) if failed else ''}; gradebook {out / 'grades.csv'}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        sys.exit(worker(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])))
    sys.exit(main())
