"""Build the homework: student notebooks and autograder zips from the masters, with otter-grader.

    python notebooks/homework/build.py [--out _build/homework] [MASTER.ipynb ...]

For each master ``notebooks/homework/<name>.ipynb`` (otter's assign format:
solutions, public and hidden tests in one notebook), ``otter assign`` writes

    <out>/<name>/student/<name>.ipynb       the notebook to hand out
    <out>/<name>/autograder/<name>-autograder_<time>.zip   for `otter run` or Gradescope
    <out>/<name>/autograder/<name>.ipynb    the solutions, as otter ran them
    <out>/<name>/solutions/<name>.ipynb     the solutions and rubrics to publish (no tests)

No PDFs are made and nothing is downloaded. ``otter assign`` runs every test
against the master's solutions; if one fails, this script stops with the
names of the failing questions. The student notebooks are also copied to
``_build/site-assets/homework/``, from where the website serves them.

Before ``otter assign`` sees a master, this script checks the conventions of
``notebooks/homework/README.md`` (every autograded question all-or-nothing,
opening with a public ``homework.check_rules`` test, with wrapper,
rule-breaking and trivial attempts), removes the ``# ATTEMPTS`` cells, and
adds to the assignment config what makes the autograder zip self-sufficient:
the ``ntkbook`` wheel built from this repository (``files/`` in the zip) and a
requirements list pinning jax, jaxlib, numpy and matplotlib to the versions of
``requirements/``, which the zip's ``environment.yml`` installs together with
otter-grader (on Gradescope, or with ``pip`` from the unpacked zip's folder).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SITE_COPY = ROOT / "_build" / "site-assets" / "homework"
PYTHON_VERSION = "3.11"  # the book's environment (requirements/ is resolved for it)
# What the tests import, pinned to the book's versions (ntkbook itself comes as a wheel).
PINNED = ("jax", "jaxlib", "numpy", "matplotlib")
ATTEMPT_KINDS = ("wrapper", "rule_breaking", "trivial")


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


def _yaml_cell(cell, header: str) -> dict | None:
    """The YAML under ``header`` in a raw cell that starts with it, else None."""
    lines = cell.source.strip().splitlines()
    if cell.cell_type != "raw" or not lines or not re.fullmatch(header, lines[0].strip()):
        return None
    return yaml.safe_load("\n".join(lines[1:])) or {}


def attempts(nb) -> dict[str, dict[str, str]]:
    """The ``# ATTEMPTS <question>`` cells of a master: question -> {wrapper, rule_breaking, trivial: source}."""
    found = {}
    for cell in nb.cells:
        lines = cell.source.strip().splitlines()
        if cell.cell_type == "raw" and lines and lines[0].startswith("# ATTEMPTS"):
            found[lines[0].split()[-1]] = yaml.safe_load("\n".join(lines[1:])) or {}
    return found


def questions(nb) -> list[dict]:
    """Each question's config, with its solution cells (``solution``) and test cells (``tests``) added."""
    found, current, region = [], None, None
    for cell in nb.cells:
        config = _yaml_cell(cell, r"#\s*BEGIN\s+QUESTION")
        if config is not None:
            current = dict(config, solution=[], tests=[])
            found.append(current)
            continue
        marker = cell.source.strip() if cell.cell_type == "raw" else ""
        if marker in ("# BEGIN SOLUTION", "# BEGIN TESTS"):
            region = marker.split()[-1].lower()
        elif marker in ("# END SOLUTION", "# END TESTS"):
            region = None
        elif marker == "# END QUESTION":
            current = None
        elif current is not None and region == "solution" and cell.cell_type == "code":
            current["solution"].append(cell)
        elif current is not None and region == "tests" and cell.cell_type == "code":
            current["tests"].append(cell)
    return found


def convention_errors(nb) -> list[str]:
    """How a master breaks the conventions of notebooks/homework/README.md (empty when it follows them)."""
    errors, tried = [], attempts(nb)
    autograded = [q for q in questions(nb) if not q.get("manual")]
    if not autograded:
        errors.append("no autograded question")
    for q in autograded:
        name = q.get("name")
        if q.get("all_or_nothing") is not True:
            errors.append(f"{name}: an autograded question must be all_or_nothing: true")
        first = q["tests"][0].source if q["tests"] else ""
        if first.lstrip().startswith("# HIDDEN") or "homework.check_rules(" not in first:
            errors.append(f"{name}: the first test cell must be public and call homework.check_rules")
        if len(q["solution"]) != 1:
            errors.append(f"{name}: expected exactly one solution code cell, found {len(q['solution'])}")
        missing = [k for k in ATTEMPT_KINDS if not str(tried.get(name, {}).get(k, "")).strip()]
        if missing:
            errors.append(f"{name}: the # ATTEMPTS {name} cell lacks {', '.join(missing)}")
    return errors


def pinned_requirements() -> list[str]:
    """``name==version`` for :data:`PINNED`, read from requirements/*.txt."""
    pins = {}
    for path in sorted((ROOT / "requirements").glob("*.txt")):
        for line in path.read_text().splitlines():
            match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)==([^\s;#]+).*", line)
            if match and match.group(1).lower() in PINNED:
                pins[match.group(1).lower()] = f"{match.group(1).lower()}=={match.group(2)}"
    missing = [name for name in PINNED if name not in pins]
    if missing:
        raise MasterError(f"requirements/ pins no version of {', '.join(missing)}")
    return [pins[name] for name in PINNED]


def build_wheel(dest: Path) -> Path:
    """The ``ntkbook`` wheel of this checkout, built from a copy so the tree stays clean."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        shutil.copytree(ROOT / "ntkbook", src / "ntkbook", ignore=shutil.ignore_patterns("__pycache__"))
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(ROOT / name, src / name)
        command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(dest), str(src)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:  # no setuptools here: let pip fetch the build backend
            result = subprocess.run([c for c in command if c != "--no-build-isolation"], capture_output=True, text=True)
        if result.returncode != 0:
            raise MasterError(f"could not build the ntkbook wheel:\n{result.stderr[-2000:]}")
    (wheel,) = dest.glob("ntkbook-*.whl")
    return wheel


def prepare(master: Path, workdir: Path, wheel: Path) -> Path:
    """A copy of ``master`` in ``workdir`` without its attempts and with the zip's environment in its config."""
    nb = nbformat.read(master, as_version=4)
    errors = convention_errors(nb)
    if errors:
        raise MasterError(f"{master.name} breaks the homework conventions (notebooks/homework/README.md):\n  " + "\n  ".join(errors))
    nb.cells = [c for c in nb.cells if not (c.cell_type == "raw" and c.source.lstrip().startswith("# ATTEMPTS"))]
    config_cell = nb.cells[0]
    config = _yaml_cell(config_cell, r"#\s*ASSIGNMENT\s+CONFIG")
    if config is None:
        raise MasterError(f"{master.name}: the first cell must be the # ASSIGNMENT CONFIG raw cell")
    shutil.copy2(wheel, workdir / wheel.name)
    (workdir / "requirements.txt").write_text("\n".join([*pinned_requirements(), f"./files/{wheel.name}"]) + "\n")
    config.update(requirements="requirements.txt", autograder_files=[wheel.name], python_version=PYTHON_VERSION)
    config_cell.source = "# ASSIGNMENT CONFIG\n" + yaml.safe_dump(config, sort_keys=False)
    path = workdir / master.name
    nbformat.write(nb, path)
    return path


def build(master: Path, out: Path, wheel: Path | None = None) -> Path:
    """Assign one master into ``out / master.stem``; return that folder."""
    master = master.resolve()
    dest = (out / master.stem).resolve()
    shutil.rmtree(dest, ignore_errors=True)
    otter = Path(sys.executable).with_name("otter")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        wheel = wheel or build_wheel(workdir / "wheel")
        prepared = prepare(master, workdir, wheel)
        result = subprocess.run([str(otter), "assign", prepared.name, str(dest)], capture_output=True, text=True, cwd=workdir)
    if result.returncode != 0:
        log = result.stdout + result.stderr
        failed = failing_questions(log)
        if failed:
            raise MasterError(f"{master.name}: the solutions fail their own tests in question(s) {', '.join(failed)}")
        raise MasterError(f"{master.name}: otter assign failed:\n{log[-3000:]}")
    write_solutions(dest / "autograder" / master.name, dest / "solutions" / master.name)
    return dest


def write_solutions(solved: Path, path: Path) -> None:
    """The solutions to publish after the deadline: the solved notebook without otter's cells,
    solution markers and metadata (which carries every test, hidden ones included)."""
    nb = nbformat.read(solved, as_version=4)
    nb.metadata.pop("otter", None)
    otter_cell = lambda c: c.source.startswith("# Initialize Otter") or re.fullmatch(r'grader\.check\("[^"]+"\)', c.source.strip())
    nb.cells = [c for c in nb.cells if not (c.cell_type == "code" and otter_cell(c))]
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = "\n".join(l for l in cell.source.splitlines() if l.strip() not in ("# BEGIN SOLUTION", "# END SOLUTION"))
        elif cell.source.strip() == "_Type your answer here, replacing this text._":
            cell.source = ""
    nb.cells = [c for c in nb.cells if c.source.strip()]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


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
    with tempfile.TemporaryDirectory() as tmp:
        try:
            wheel = build_wheel(Path(tmp))
        except MasterError as error:
            print(f"homework build failed: {error}", file=sys.stderr)
            return 1
        built = []
        for master in masters:
            try:
                built.append((master, build(master, args.out, wheel)))
            except MasterError as error:
                print(f"homework build failed: {error}", file=sys.stderr)
                return 1
    for master, dest in built:
        shutil.copy2(dest / "student" / master.name, SITE_COPY / master.name)
        print(f"{master.stem}: {dest.relative_to(Path.cwd()) if dest.is_relative_to(Path.cwd()) else dest}")
    print(f"built {len(masters)} homework(s) in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
