"""Shared test set-up: float64 available (tests pick dtypes explicitly), fixed keys,
and one clean build of the book per session for the book and site tests."""

import subprocess
import sys
from pathlib import Path

import jax
import pytest

ROOT = Path(__file__).resolve().parents[1]

jax.config.update("jax_enable_x64", True)


@pytest.fixture
def key():
    return jax.random.key(0)


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    """Build the book from scratch with warnings as errors, as `make book` does; the html folder."""
    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run(
        [str(jb), "build", str(ROOT), "--path-output", str(out), "--warningiserror", "--keep-going"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return out / "_build" / "html"


def pytest_terminal_summary(terminalreporter):
    """Say how many package tests and how many notebook cells ran."""
    passed = terminalreporter.stats.get("passed", [])
    cells = sum(1 for r in passed if ".ipynb::" in r.nodeid)
    notebooks = len({r.nodeid.split("::")[0] for r in passed if ".ipynb::" in r.nodeid})
    terminalreporter.write_line(
        f"ntkbook: {len(passed) - cells} package/book tests passed; "
        f"{cells} notebook cells in {notebooks} notebooks re-run and matched (nbval strict)"
    )
    # Each chapter's execution time in this run (its cells' run times, kernel start-up excluded):
    # the chapters have time budgets on a 2-core machine, and CI's log is where they are measured.
    seconds = {}
    for r in passed:
        if ".ipynb::" in r.nodeid:
            name = r.nodeid.split("::")[0]
            seconds[name] = seconds.get(name, 0.0) + r.duration
    for name, total in sorted(seconds.items()):
        terminalreporter.write_line(f"ntkbook: {name} executed in {total:.0f} s")
