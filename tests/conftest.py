"""Shared test set-up: float64 available (tests pick dtypes explicitly), fixed keys."""

import jax
import pytest

jax.config.update("jax_enable_x64", True)


@pytest.fixture
def key():
    return jax.random.key(0)


def pytest_terminal_summary(terminalreporter):
    """Say how many package tests and how many notebook cells ran."""
    passed = terminalreporter.stats.get("passed", [])
    cells = sum(1 for r in passed if ".ipynb::" in r.nodeid)
    notebooks = len({r.nodeid.split("::")[0] for r in passed if ".ipynb::" in r.nodeid})
    terminalreporter.write_line(
        f"ntkbook: {len(passed) - cells} package/book tests passed; "
        f"{cells} notebook cells in {notebooks} notebooks re-run and matched (nbval strict)"
    )
