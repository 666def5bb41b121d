"""ntkbook.homework: the rule checks and value checks behind the homework autograder.

Each evasion a student might try (a direct call, an alias, a helper, a partial,
a name built at run time, a jitted wrapper) must be caught, with the culprit
named; honest code (including vmap where loops are forbidden) must pass; the
library must be restored afterwards whatever happened.
"""

import functools
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook import data, homework, kernels
from ntkbook.kernels import laplace as aliased_laplace

X = jnp.array([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]])


def honest(x1, x2, bandwidth):
    gaps = x1[:, None, :] - x2[None, :, :]
    return jnp.exp(-jnp.sqrt(jnp.sum(gaps**2, axis=-1)) / bandwidth)


def direct(x1, x2, bandwidth):
    return kernels.laplace(x1, x2, bandwidth=bandwidth)


def through_alias(x1, x2, bandwidth):
    return aliased_laplace(x1, x2, bandwidth=bandwidth)


def _helper(x1, x2, bandwidth):
    return kernels.laplace(x1, x2, bandwidth=bandwidth)


def through_helper(x1, x2, bandwidth):
    return _helper(x1, x2, bandwidth) + 0.0


def built_at_run_time(x1, x2, bandwidth):
    module = importlib.import_module("ntkbook." + "kern" + "els")
    return getattr(module, "lap" + "lace")(x1, x2, bandwidth=bandwidth)


partial_twin = functools.partial(kernels.laplace, bandwidth=1.0)
jitted_wrapper = jax.jit(lambda x1, x2, bandwidth: kernels.laplace(x1, x2, bandwidth=bandwidth))


def test_honest_code_passes_and_returns_nothing():
    assert homework.check_rules(honest, X, X, 1.0) is None


@pytest.mark.parametrize(
    "fn, culprit",
    [
        (direct, "ntkbook.kernels.laplace (line 2 of direct: `return kernels.laplace(x1, x2, bandwidth=bandwidth)`)"),
        (through_alias, "ntkbook.kernels.laplace (line 2 of through_alias: `return aliased_laplace("),
        (through_helper, "_helper uses ntkbook.kernels.laplace"),
        (built_at_run_time, "ntkbook.kernels.laplace was called while the submitted function ran"),
        (jitted_wrapper, "uses ntkbook.kernels.laplace"),
        (kernels.laplace, "laplace is ntkbook.kernels.laplace itself"),
    ],
    ids=["direct", "alias", "helper", "run-time name", "jit", "the twin itself"],
)
def test_delegation_is_caught_and_named(fn, culprit):
    with pytest.raises(homework.RuleBroken, match="scores 0") as caught:
        homework.check_rules(fn, X, X, 1.0)
    assert culprit in str(caught.value)
    assert kernels.laplace.__module__ == "ntkbook.kernels" and kernels.laplace is aliased_laplace, "library restored"


def test_a_partial_of_the_twin_is_caught():
    with pytest.raises(homework.RuleBroken, match="ntkbook.kernels.laplace itself"):
        homework.check_rules(partial_twin, X, X)


def test_forbidden_inverse_and_autodiff_are_caught_but_a_solve_is_not():
    def with_inverse(k, y):
        return jnp.linalg.inv(k) @ y

    def with_solve(k, y):
        return jnp.linalg.solve(k, y)

    grad = jax.grad

    def with_autodiff(x):
        return grad(lambda z: jnp.sum(z**2))(x)

    k = jnp.array([[2.0, 1.0], [1.0, 2.0]])
    inv, grad_before = jnp.linalg.inv, jax.grad
    with pytest.raises(homework.RuleBroken, match="jax.numpy.linalg.inv"):
        homework.check_rules(with_inverse, k, jnp.ones(2), forbid=homework.INVERSES)
    homework.check_rules(with_solve, k, jnp.ones(2), forbid=homework.INVERSES)
    with pytest.raises(homework.RuleBroken, match="jax.grad"):
        homework.check_rules(with_autodiff, jnp.ones(3), forbid=homework.AUTODIFF)
    homework.check_rules(with_inverse, k, jnp.ones(2))  # allowed where no rule forbids it
    assert jnp.linalg.inv is inv and jax.grad is grad_before, "jax restored"


def test_solving_against_the_identity_counts_as_forming_an_inverse():
    def through_solve(k, y):
        identity = jnp.eye(k.shape[0])
        return jnp.linalg.solve(k, identity) @ y

    k = jnp.array([[2.0, 1.0], [1.0, 2.0]])
    solve = jnp.linalg.solve
    with pytest.raises(homework.RuleBroken, match="identity as right-hand side"):
        homework.check_rules(through_solve, k, jnp.ones(2), forbid=homework.INVERSES)
    homework.check_rules(through_solve, k, jnp.ones(2))  # no rule against inverses here
    assert jnp.linalg.solve is solve


def test_loops_are_caught_only_where_forbidden_and_vmap_is_not_a_loop():
    w = jax.random.normal(jax.random.key(0), (30, 2))

    def python_loop(w, x):
        total = jnp.zeros((x.shape[0], x.shape[0]))
        for w_r in w:
            on = (x @ w_r >= 0).astype(x.dtype)
            total = total + jnp.outer(on, on)
        return total

    def comprehension(w, x):
        return sum(jnp.outer(p, p) for p in (x @ w.T >= 0).T.astype(x.dtype))

    def lax_loop(w, x):
        add = lambda r, t: t + jnp.outer(x @ w[r] >= 0, x @ w[r] >= 0)
        return jax.lax.fori_loop(0, w.shape[0], add, jnp.zeros((x.shape[0], x.shape[0])))

    def vmapped(w, x):
        on = (x @ w.T >= 0).astype(x.dtype)
        return jax.vmap(lambda p: jnp.outer(p, p), in_axes=1)(on).sum(axis=0)

    for fn, kind in ((python_loop, "loops (for)"), (comprehension, "loops (generatorexp)"), (lax_loop, "jax.lax.fori_loop")):
        with pytest.raises(homework.RuleBroken, match=kind.replace("(", r"\(").replace(")", r"\)")):
            homework.check_rules(fn, w, X, loops=False)
        homework.check_rules(fn, w, X)  # loops allowed by default
    homework.check_rules(vmapped, w, X, loops=False)


def test_allow_exempts_a_module():
    def uses_data(key, x):
        return data.sphere(key, 3, 2) @ x.T

    with pytest.raises(homework.RuleBroken, match="ntkbook.data.sphere"):
        homework.check_rules(uses_data, jax.random.key(0), X)
    homework.check_rules(uses_data, jax.random.key(0), X, allow=("ntkbook.data",))


def test_a_non_function_is_rejected():
    with pytest.raises(homework.RuleBroken, match="expected the function"):
        homework.check_rules(Ellipsis)


@pytest.mark.parametrize(
    "got, message",
    [
        (None, "returned None: the function is not written yet"),
        (jnp.zeros((2, 3)), "has shape (2, 3), expected shape (3, 2)"),
        (jnp.full((3, 2), jnp.nan), "contains nan at index (0, 0)"),
        (jnp.ones((3, 2)), "is wrong at index (0, 1): got 1, expected 0.08208"),
        (honest(X, X[:2], 2.0).astype(jnp.float32) + 0.01, "your result is float32"),
        ("text", "returned a str, expected numbers of shape (3, 2)"),
    ],
    ids=["None", "shape", "nan", "values", "float32", "type"],
)
def test_assert_close_says_what_came_back_and_what_was_expected(got, message):
    expected = kernels.laplace(X, X[:2], bandwidth=2.0)
    with pytest.raises(AssertionError) as caught:
        homework.assert_close(got, expected, "laplace_gram(x_pub, x_pub[:2], 2.0)", atol=1e-6)
    assert str(caught.value).startswith("laplace_gram(x_pub, x_pub[:2], 2.0)") and message in str(caught.value), str(caught.value)


def test_assert_close_passes_within_tolerance_and_assert_true_carries_its_message():
    homework.assert_close(honest(X, X[:2], 2.0), kernels.laplace(X, X[:2], bandwidth=2.0), "laplace_gram", atol=1e-6)
    homework.assert_close(0.25, 1 / 4, "a float", rtol=1e-12)
    with pytest.raises(AssertionError, match="^should be symmetric$"):
        homework.assert_true(False, "should be symmetric")
