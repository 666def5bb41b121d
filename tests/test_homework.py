"""Homework built from the masters in notebooks/homework/ with otter-grader.

Generic over every master ``notebooks/homework/hw*.ipynb`` (a new one is
covered as soon as it exists). The tests use the output of `make homework`
(`_build/homework/`), rebuilding what is missing or older than its master, the
builder or `ntkbook`. For every homework:

- the master follows the conventions of notebooks/homework/README.md and is
  worth 10 points; the student notebook carries no line of a solution, a
  hidden test or an attempt;
- graded by `grade.py` (what `make grade` runs): the solutions get full marks;
  the untouched template, and the master's *wrapper* (calls the `ntkbook`
  twin), *rule-breaking* and *trivial* attempts score 0 on every autograded
  question, the first two with the broken rule named in the feedback;
- the wrapper and rule-breaking attempts are correct code: with the rule check
  taken out they pass every value check, so it is the rule that zeroes them;
  the trivial attempts fail a value check even then;
- the autograder zip builds a clean virtual environment from its own files and
  grades the solutions there with full marks.

A folder of mixed submissions (solutions, a notebook that raises, one that
never ends, a file that is not a notebook) gets one row each in the gradebook.
"""

import concurrent.futures
import csv
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HOMEWORK = ROOT / "notebooks" / "homework"
OUT = ROOT / "_build" / "homework"
MASTERS = sorted(HOMEWORK.glob("hw*.ipynb"))
ATTEMPTS = ("wrapper", "rule_breaking", "trivial")


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


build = _load("homework_build", HOMEWORK / "build.py")
grading = _load("homework_grade", HOMEWORK / "grade.py")


def student_path(master: Path) -> Path:
    return OUT / master.stem / "student" / master.name


def solved_path(master: Path) -> Path:
    return OUT / master.stem / "autograder" / master.name


def autograded(master: Path) -> list[dict]:
    return [q for q in build.questions(nbformat.read(master, 4)) if not q.get("manual")]


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """`make homework`'s output, rebuilt when missing or older than its master, the builder or ntkbook."""
    inputs = [HOMEWORK / "build.py", ROOT / "pyproject.toml", *(ROOT / "ntkbook").glob("*.py")]
    newest_input = max(p.stat().st_mtime for p in inputs)

    def stale(master):
        zips = list((OUT / master.stem / "autograder").glob("*.zip"))
        if not student_path(master).exists() or not (OUT / master.stem / "solutions" / master.name).exists() or len(zips) != 1:
            return True
        return zips[0].stat().st_mtime < max(master.stat().st_mtime, newest_input)

    todo = [m for m in MASTERS if stale(m)]
    if todo:
        wheel = build.build_wheel(tmp_path_factory.mktemp("wheel"))
        for master in todo:
            build.build(master, OUT, wheel)
    return OUT


# ---------------------------------------------------------------- conventions


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_master_follows_the_conventions(master):
    nb = nbformat.read(master, 4)
    questions = build.questions(nb)
    assert 3 <= len(questions) <= 6, master.name
    assert {bool(q.get("manual")) for q in questions} == {True, False}, f"{master.name} must mix written and autograded questions"
    assert build.convention_errors(nb) == []
    assert sum(q["points"] for q in questions) == 10, "every homework is worth 10 points (book/homework.md)"
    intro = nb.cells[1].source
    assert "float64" in intro and "may not call `ntkbook`" in intro, "the introduction states the dtype and the rule"


def test_convention_check_names_a_partial_credit_question_and_a_missing_rule_check(tmp_path):
    nb = nbformat.read(MASTERS[0], 4)
    first, second = autograded(MASTERS[0])[:2]
    for cell in nb.cells:
        if cell.cell_type == "raw" and f"name: {first['name']}\n" in cell.source + "\n" and "BEGIN QUESTION" in cell.source:
            cell.source = cell.source.replace("all_or_nothing: true", "all_or_nothing: false")
        if cell.source == second["tests"][0].source:
            cell.source = "\n".join(line for line in cell.source.splitlines() if "check_rules" not in line)
    errors = build.convention_errors(nb)
    assert any(e.startswith(f"{first['name']}: an autograded question must be all_or_nothing") for e in errors), errors
    assert any(e.startswith(f"{second['name']}: the first test cell must be public and call homework.check_rules") for e in errors), errors
    nbformat.write(nb, tmp_path / MASTERS[0].name)
    with pytest.raises(build.MasterError, match="breaks the homework conventions"):
        build.prepare(tmp_path / MASTERS[0].name, tmp_path, tmp_path / "unused.whl")


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
    """Lines of the master that students must not see: solution lines (between solution markers, in
    code or Markdown, and the attempts) and hidden-test lines. Lines that the master also shows
    outside solutions and hidden tests are not secret."""
    solutions, hidden, public = set(), set(), set()
    in_solution = False
    for cell in nbformat.read(master, 4).cells:
        lines = [line.strip() for line in cell.source.splitlines()]
        if cell.cell_type == "raw":
            in_solution = {"# BEGIN SOLUTION": True, "# END SOLUTION": False}.get(cell.source.strip(), in_solution)
            if lines and lines[0].startswith("# ATTEMPTS"):
                solutions.update(lines[1:])
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
    meaningful = lambda line: len(line) > 3 and line not in public and not line.endswith(": |")
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


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_published_solutions_hold_every_solution_and_no_test(built, master):
    path = OUT / master.stem / "solutions" / master.name
    nb = nbformat.read(path, 4)
    text = "\n".join(_strings(json.loads(path.read_text())))
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "otter" not in nb.metadata and "grader.check(" not in code and "# BEGIN SOLUTION" not in code
    hidden = secrets(master)[1]
    assert not [line for line in hidden if line in text], "a hidden test line is in the published solutions"
    for q in autograded(master):
        body = q["solution"][0].source.split("# BEGIN SOLUTION")[1].split("# END SOLUTION")[0]
        assert all(line.strip() in text for line in body.splitlines() if line.strip()), f"{q['name']}'s solution is missing"
    assert sum("**Rubric.**" in c.source for c in nb.cells) == sum(1 for q in build.questions(nbformat.read(master, 4)) if q.get("manual"))


def test_leak_check_catches_a_pasted_line(built, tmp_path):
    master = MASTERS[0]
    nb = nbformat.read(student_path(master), 4)
    solution_line = sorted(secrets(master)[0])[0]
    nb.cells[-1].source += "\n" + solution_line
    nbformat.write(nb, tmp_path / master.name)
    assert leaks(master, tmp_path / master.name) == [f"solution line: {solution_line}"]


# ---------------------------------------------------------------- the attempts are what they claim

_CHECK_ATTEMPTS = textwrap.dedent('''
    import json, sys
    import nbformat
    sys.path.insert(0, sys.argv[1])
    import build
    report = []
    for path in sys.argv[2:]:
        nb = nbformat.read(path, 4)
        setup = next(c.source for c in nb.cells if c.cell_type == "code")
        tried = build.attempts(nb)
        for q in build.questions(nb):
            if q.get("manual"):
                continue
            for kind in ("wrapper", "rule_breaking", "trivial"):
                space = {}
                exec(setup, space)
                exec(tried[q["name"]][kind], space)
                failures = []
                for k, cell in enumerate(q["tests"]):
                    source = "\\n".join(l for l in cell.source.splitlines() if "homework.check_rules(" not in l)
                    try:
                        exec(source, space)
                    except Exception as error:
                        hidden = cell.source.lstrip().startswith("# HIDDEN")
                        failures.append(f"{'hidden' if hidden else 'public'} test {k + 1}: {type(error).__name__}: {str(error)[:200]}")
                report.append({"master": path, "question": q["name"], "kind": kind, "failures": failures})
    print(json.dumps(report))
''')


def test_wrapper_and_rule_breaking_attempts_are_correct_and_trivial_ones_are_not():
    """Without the rule checks, the wrapper and rule-breaking attempts pass every value check (so the 0
    they get is the rules' doing) and each trivial attempt fails a public one (it computes nothing,
    and the public tests are not degenerate)."""
    result = subprocess.run([sys.executable, "-c", _CHECK_ATTEMPTS, str(HOMEWORK), *map(str, MASTERS)],
                            capture_output=True, text=True, env=dict(os.environ, JAX_PLATFORMS="cpu"), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(report) == 3 * sum(len(autograded(m)) for m in MASTERS)
    for entry in report:
        where = f"{Path(entry['master']).stem} {entry['question']} {entry['kind']}"
        if entry["kind"] == "trivial":  # and the student sees it fail before submitting
            assert any(f.startswith("public") for f in entry["failures"]), f"{where} passes every public value check"
        else:
            assert not entry["failures"], f"{where} is not a correct delegation: {entry['failures']}"


# ---------------------------------------------------------------- grading (grade.py, what `make grade` runs)


def attempt_notebook(master: Path, kind: str, dest: Path) -> Path:
    """The solved notebook with every autograded question's solution cell replaced by the master's ``kind`` attempt."""
    nb = nbformat.read(solved_path(master), 4)
    tried = build.attempts(nbformat.read(master, 4))
    for q in autograded(master):
        name = re.search(r"def (\w+)\(", q["solution"][0].source).group(1)
        cells = [c for c in nb.cells if c.cell_type == "code" and re.search(rf"^def {name}\(", c.source, re.M)]
        assert len(cells) == 1, f"{master.stem} {q['name']}: the cell defining {name} not found in the solved notebook"
        cells[0].source = tried[q["name"]][kind]
    nbformat.write(nb, dest)
    return dest


def gradebook(path: Path) -> dict[str, dict]:
    with path.open() as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def _grade_folder(master, folder, out, timeout):
    code = grading.main([master.stem, str(folder), "--out", str(out), "--built", str(OUT), "--timeout", str(timeout), "--jobs", "2"])
    assert code == 0
    return gradebook(out / "grades.csv")


def _check_attempts(master, book, out):
    questions = autograded(master)
    possible = sum(q["points"] for q in questions)
    rows = {name: book[name] for name in ("solutions", "template", *ATTEMPTS)}
    assert rows["solutions"]["status"] == "graded" and float(rows["solutions"]["total"]) == possible > 0, rows["solutions"]
    assert rows["template"]["status"] == "graded", f"the template raised as handed out: {rows['template']['note']}"
    for name in ("template", *ATTEMPTS):
        scored = {q["name"]: float(rows[name][q["name"]]) for q in questions}
        assert scored == {q["name"]: 0.0 for q in questions}, f"{master.stem} {name}: {scored}"
    for name in ("wrapper", "rule_breaking"):
        outputs = {t["name"]: t.get("output", "") for t in json.loads((out / name / "results.json").read_text())["tests"]}
        for q in questions:
            assert "RuleBroken" in outputs[q["name"]], f"{master.stem} {q['name']} {name}: the feedback names no broken rule"
    print(f"{master.stem}: " + ", ".join(f"{n} {rows[n]['total']}/{possible:g}" for n in rows))


def _folder_of_attempts(master, folder):
    folder.mkdir()
    shutil.copy2(solved_path(master), folder / "solutions.ipynb")
    shutil.copy2(student_path(master), folder / "template.ipynb")
    for kind in ATTEMPTS:
        attempt_notebook(master, kind, folder / f"{kind}.ipynb")


@pytest.mark.parametrize("master", MASTERS[1:], ids=lambda p: p.stem)
def test_solutions_full_marks_attempts_and_template_zero(built, master, tmp_path):
    _folder_of_attempts(master, tmp_path / "in")
    book = _grade_folder(master, tmp_path / "in", tmp_path / "out", timeout=300)
    _check_attempts(master, book, tmp_path / "out")


def test_a_mixed_folder_gets_a_row_per_submission_with_reasons(built, tmp_path):
    """MASTERS[0]'s solutions, template and attempts, plus a notebook that raises, one that never ends,
    and files that are not notebooks: every one gets a row; the failures say why."""
    master = MASTERS[0]
    folder = tmp_path / "in"
    _folder_of_attempts(master, folder)
    raising = nbformat.read(solved_path(master), 4)
    raising.cells.insert(len(raising.cells) - 1, nbformat.v4.new_code_cell("1 / 0"))
    nbformat.write(raising, folder / "raises.ipynb")
    endless = nbformat.read(solved_path(master), 4)
    after_imports = next(i for i, c in enumerate(endless.cells) if c.cell_type == "code" and "import jax" in c.source) + 1
    endless.cells.insert(after_imports, nbformat.v4.new_code_cell("import time\nwhile True:\n    time.sleep(1)"))
    nbformat.write(endless, folder / "endless.ipynb")
    (folder / "garbled.ipynb").write_text('{"cells": [')
    (folder / "essay.pdf").write_bytes(b"%PDF-1.4 not a notebook")
    book = _grade_folder(master, folder, tmp_path / "out", timeout=90)

    assert set(book) == {"solutions", "template", *ATTEMPTS, "raises", "endless", "garbled", "essay"}
    _check_attempts(master, book, tmp_path / "out")
    possible = sum(q["points"] for q in autograded(master))
    assert book["raises"]["status"] == "raised" and "ZeroDivisionError" in book["raises"]["note"], book["raises"]
    assert float(book["raises"]["total"]) == possible, "a cell that raises after the answers costs nothing"
    assert book["endless"]["status"] == "timed out" and "90 s" in book["endless"]["note"], book["endless"]
    for name in ("garbled", "essay"):
        assert book[name]["status"] == "not a notebook" and "cannot be read as a notebook" in book[name]["note"], book[name]
        assert float(book[name]["total"]) == 0
    header = (tmp_path / "out" / "grades.csv").read_text().splitlines()[0].split(",")
    columns = [f"{q['name']} (written)" if q.get("manual") else q["name"] for q in build.questions(nbformat.read(master, 4))]
    assert header == ["student", *columns, "total", "possible", "status", "note"]


def test_make_grade_runs_grade_py():
    result = subprocess.run(["make", "-n", "grade", "HW=hw01_kernel_regression", "SUBMISSIONS=/some/folder"],
                            capture_output=True, text=True, cwd=ROOT)
    assert 'notebooks/homework/grade.py "hw01_kernel_regression" "/some/folder" --timeout 600' in result.stdout, result.stdout[-2000:]
    usage = subprocess.run(["make", "-s", "grade"], capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, MAKEFLAGS=""))
    assert "usage: make grade HW=" in usage.stdout + usage.stderr


# ---------------------------------------------------------------- the zip on a clean grader


def _zip_pip_requirements(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as archive:
        environment = yaml.safe_load(archive.read("environment.yml"))
    return next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))


def test_autograder_zip_pins_the_books_versions_and_carries_ntkbook(built):
    pins = dict(line.split("==") for line in build.pinned_requirements())
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    for master in MASTERS:
        (zip_path,) = (OUT / master.stem / "autograder").glob("*.zip")
        requirements = _zip_pip_requirements(zip_path)
        assert [r for r in requirements if "==" in r and not r.startswith("otter-grader")] == [f"{k}=={v}" for k, v in pins.items()]
        (wheel,) = [r for r in requirements if r.endswith(".whl")]
        assert Path(wheel).name == f"ntkbook-{version}-py3-none-any.whl", wheel
        # The contents are as fresh as the build: `make homework` rebuilds when ntkbook changes.
        with zipfile.ZipFile(zip_path) as archive:
            with archive.open(wheel.removeprefix("./")) as handle:
                with zipfile.ZipFile(handle) as whl:
                    modules = {Path(n).name for n in whl.namelist() if n.startswith("ntkbook/") and n.endswith(".py")}
        assert {"__init__.py", "homework.py"} <= modules <= {p.name for p in (ROOT / "ntkbook").glob("*.py")}, modules


def test_autograder_zip_grades_the_solutions_in_a_clean_environment(built, tmp_path):
    """Unpack the first homework's zip, build a fresh virtual environment from its environment.yml
    alone (pip, from the unpacked folder, as conda does on Gradescope), and grade every homework's
    solutions there with full marks."""
    (zip_path,) = (OUT / MASTERS[0].stem / "autograder").glob("*.zip")
    unpacked = tmp_path / "autograder"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(unpacked)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bin_dir = venv / "bin"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "JUPYTER"))}
    env.update(PATH=f"{bin_dir}:{env.get('PATH', '')}", PYTHONNOUSERSITE="1", JUPYTER_DATA_DIR=str(tmp_path / "jupyter"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter"), JAX_PLATFORMS="cpu")
    install = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                              *_zip_pip_requirements(zip_path)], cwd=unpacked, capture_output=True, text=True, env=env)
    assert install.returncode == 0, install.stderr[-3000:]
    probe = subprocess.run([str(bin_dir / "python"), "-c", textwrap.dedent("""
        import json, jupyter_client.kernelspec as ks, ntkbook, jax
        spec = ks.KernelSpecManager().get_kernel_spec("python3")
        print(json.dumps({"kernel": spec.argv[0], "ntkbook": ntkbook.__file__, "jax": jax.__version__}))
    """)], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert probe.returncode == 0, probe.stderr[-2000:]
    found = json.loads(probe.stdout)
    assert str(venv) in found["ntkbook"], found
    kernel = shutil.which(found["kernel"], path=env["PATH"]) or found["kernel"]
    assert str(venv) in kernel, f"the grading kernel would run {kernel}, not the clean environment's Python"

    def grade_solutions(master):
        (zip_path,) = (OUT / master.stem / "autograder").glob("*.zip")
        assert _zip_pip_requirements(zip_path) == install.args[-len(_zip_pip_requirements(zip_path)):], "one environment serves every zip"
        results = tmp_path / "results" / master.stem
        results.mkdir(parents=True)
        shutil.copy2(solved_path(master), results / f"{master.stem}.ipynb")
        run = subprocess.run([str(bin_dir / "otter"), "run", "-a", str(zip_path), "-o", str(results), f"{master.stem}.ipynb"],
                             cwd=results, capture_output=True, text=True, env=env)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        tests = [t for t in json.loads((results / "results.json").read_text())["tests"] if "score" in t]
        assert tests and sum(t["score"] for t in tests) == sum(t["max_score"] for t in tests) > 0, (master.stem, tests)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:  # two at a time, as on two cores
        list(pool.map(grade_solutions, MASTERS))


# ---------------------------------------------------------------- a broken master


def test_broken_master_stops_the_build_naming_the_question(tmp_path):
    master = MASTERS[0]
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
