"""Homework built from the masters in notebooks/homework/ with otter-grader.

The tests use the output of `make homework` (`_build/homework/`), building
it first when it is missing or older than a master, so that a hand-edited
student notebook is what gets checked. For every homework: the student
notebook carries no line of any solution and no hidden test, it runs as handed
out, and `otter run` gives the solutions full marks and the untouched
template a low score. A master with a broken solution must stop the build
with the question's name.
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
HOMEWORK = ROOT / "notebooks" / "homework"
OUT = ROOT / "_build" / "homework"
MASTERS = sorted(HOMEWORK.glob("hw*.ipynb"))
_spec = importlib.util.spec_from_file_location("homework_build", HOMEWORK / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


def student_path(master: Path) -> Path:
    return OUT / master.stem / "student" / master.name


@pytest.fixture(scope="session")
def built():
    """`make homework`'s output, rebuilt when it is missing or stale."""
    stale = [m for m in MASTERS if not student_path(m).exists() or student_path(m).stat().st_mtime < m.stat().st_mtime]
    for master in stale:
        build.build(master, OUT)
    return OUT


def test_one_master_per_chapter_with_three_to_six_questions():
    assert [m.stem[:4] for m in MASTERS] == ["hw01", "hw02", "hw03", "hw04"]
    for master in MASTERS:
        questions = [c for c in nbformat.read(master, 4).cells if c.cell_type == "raw" and c.source.startswith("# BEGIN QUESTION")]
        assert 3 <= len(questions) <= 6, master.name
        kinds = {"manual: true" in q.source for q in questions}
        assert kinds == {True, False}, f"{master.name} must mix written and autograded questions"


# ---------------------------------------------------------------- what must not leak


def _strings(tree):
    if isinstance(tree, str):
        yield tree
    elif isinstance(tree, dict):
        for value in tree.values():
            yield from _strings(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _strings(value)


def secrets(master: Path) -> tuple[set[str], set[str]]:
    """Lines of the master that students must not see: solution lines (between
    solution markers, in code or Markdown) and hidden-test lines. Lines that
    the master also shows outside solutions and hidden tests are not secret."""
    solutions, hidden, public = set(), set(), set()
    in_solution = False
    for cell in nbformat.read(master, 4).cells:
        lines = [line.strip() for line in cell.source.splitlines()]
        if cell.cell_type == "raw":
            in_solution = {"# BEGIN SOLUTION": True, "# END SOLUTION": False}.get(cell.source.strip(), in_solution)
            continue
        if cell.cell_type == "code" and lines and lines[0] == "# HIDDEN":
            hidden.update(lines[1:])
            continue
        if cell.cell_type == "markdown" and in_solution:
            solutions.update(lines)
            continue
        marked = False
        for line in lines:
            if line == "# BEGIN SOLUTION":
                marked = True
            elif line == "# END SOLUTION":
                marked = False
            elif marked:
                solutions.add(line)
            else:
                public.add(line)
    meaningful = lambda line: len(line) > 3 and line not in public
    return {s for s in solutions if meaningful(s)}, {h for h in hidden if meaningful(h)}


def leaks(master: Path, student: Path) -> list[str]:
    """Every secret line of ``master`` found anywhere in ``student`` (cells, outputs, metadata)."""
    text = "\n".join(_strings(json.loads(student.read_text())))
    solutions, hidden = secrets(master)
    return [f"solution line: {s}" for s in sorted(solutions) if s in text] + [
        f"hidden test line: {h}" for h in sorted(hidden) if h in text
    ]


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_student_version_leaks_nothing(built, master):
    solutions, hidden = secrets(master)
    assert len(solutions) >= 5 and len(hidden) >= 3, "the master declares solutions and hidden tests"
    found = leaks(master, student_path(master))
    assert not found, f"{student_path(master)} leaks:\n" + "\n".join(found)


def test_leak_check_catches_a_pasted_line(built, tmp_path):
    master = MASTERS[0]
    nb = nbformat.read(student_path(master), 4)
    solution_line = sorted(secrets(master)[0])[0]
    nb.cells[-1].source += "\n" + solution_line
    nbformat.write(nb, tmp_path / master.name)
    assert leaks(master, tmp_path / master.name) == [f"solution line: {solution_line}"]


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_student_version_runs_as_handed_out(built, master, tmp_path):
    nb = nbformat.read(student_path(master), 4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(student_path(master).parent)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors[0]


# ---------------------------------------------------------------- grading


def grade(master: Path, notebook: Path, out: Path) -> tuple[float, float]:
    """Score and maximum from `otter run` with the homework's autograder zip, read from results.json."""
    (zip_path,) = (OUT / master.stem / "autograder").glob("*.zip")
    out.mkdir(parents=True)
    otter = Path(sys.executable).with_name("otter")
    result = subprocess.run([str(otter), "run", "-a", str(zip_path), "-o", str(out), str(notebook)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    tests = [t for t in json.loads((out / "results.json").read_text())["tests"] if "score" in t]
    assert tests, "results.json lists no scored question"
    return sum(t["score"] for t in tests), sum(t["max_score"] for t in tests)


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_solutions_get_full_marks_and_the_template_a_low_score(built, master, tmp_path):
    solved = OUT / master.stem / "autograder" / master.name
    full, possible = grade(master, solved, tmp_path / "solved")
    assert full == possible > 0, (full, possible)
    low, _ = grade(master, student_path(master), tmp_path / "template")
    assert low <= 0.25 * possible, (low, possible)
    print(f"{master.stem}: solutions {full:g}/{possible:g}, untouched template {low:g}/{possible:g}")


def test_broken_master_stops_the_build_naming_the_question(tmp_path):
    master = HOMEWORK / "hw01_kernel_regression.ipynb"
    nb = nbformat.read(master, 4)
    for cell in nb.cells:
        if "def ridge_predict" in cell.source:
            cell.source = cell.source.replace("return k_test_train @ alpha", "return k_test_train @ alpha + 1.0")
            break
    else:
        pytest.fail("question 2's solution not found in the master")
    nbformat.write(nb, tmp_path / master.name)
    result = subprocess.run(
        [sys.executable, str(HOMEWORK / "build.py"), "--out", str(tmp_path / "out"), str(tmp_path / master.name)],
        capture_output=True, text=True,
    )
    assert result.returncode == 1
    assert "the solutions fail their own tests in question(s) q2" in result.stderr, result.stderr[-2000:]
