"""Doctests of ntkbook (the examples in its docstrings, shown in the book's API
reference) run as a user runs them: in JAX's default float32, even when other
tests in the same session switched float64 on (tests/conftest.py does)."""

import jax
import pytest
from _pytest.doctest import DoctestItem


@pytest.fixture(autouse=True)
def _doctests_in_float32(request):
    if not isinstance(request.node, DoctestItem):
        yield
        return
    x64 = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", False)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", x64)
