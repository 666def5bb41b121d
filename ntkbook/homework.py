"""Checks used by the homework's autograder tests (otter-grader), not by the chapters.

A homework question asks the student to write a function that ``ntkbook``
already has (its *twin*), sometimes under a rule ("no inverse", "no
autodiff"). :func:`check_rules` fails a submission that delegates to
``ntkbook`` or breaks the rule, in two ways that cover each other's blind
spots:

- it reads the function's source (and that of every helper the student defined
  in the notebook and calls from it) and resolves each name against the
  function's globals, so ``return kernels.laplace(...)``, an alias
  ``from ntkbook.kernels import laplace as f`` or ``jnp.linalg.inv`` is caught
  however it is spelled;
- it then calls the function with every ``ntkbook`` function and every
  forbidden function replaced by one that raises :class:`RuleBroken`, which
  catches what the source does not show (``getattr`` with a built string, a
  ``functools.partial`` of the twin, ...).

:func:`assert_close` compares a value with the expected one and says what came
back, where it differs and by how much, without stating any formula.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import functools
import importlib
import inspect
import pkgutil
import sys
import textwrap
import types
from collections.abc import Callable, Iterable

import numpy as np

__all__ = ["AUTODIFF", "EXPM", "INVERSES", "LOOPS", "RuleBroken", "assert_close", "assert_true", "check_rules"]

#: Automatic differentiation (for "compute the gradients by hand").
AUTODIFF = ("jax.grad", "jax.value_and_grad", "jax.jacobian", "jax.jacfwd", "jax.jacrev", "jax.hessian",
            "jax.jvp", "jax.vjp", "jax.linearize")
#: Matrix inverses (for "solve the system, do not form an inverse").
INVERSES = ("jax.numpy.linalg.inv", "jax.numpy.linalg.pinv", "jax.scipy.linalg.inv", "numpy.linalg.inv",
            "numpy.linalg.pinv", "scipy.linalg.inv", "scipy.linalg.pinv")
# With INVERSES forbidden, these may not be used to solve against the identity (that forms the inverse too).
_SOLVES = ("jax.numpy.linalg.solve", "jax.numpy.linalg.lstsq", "jax.scipy.linalg.solve", "jax.scipy.linalg.cho_solve",
           "jax.scipy.linalg.lu_solve", "jax.scipy.linalg.solve_triangular", "numpy.linalg.solve", "numpy.linalg.lstsq",
           "scipy.linalg.solve", "scipy.linalg.cho_solve", "scipy.linalg.lu_solve", "scipy.linalg.solve_triangular")
#: Matrix exponentials (for "through an eigendecomposition").
EXPM = ("jax.scipy.linalg.expm", "jax.scipy.linalg.expm_frechet", "scipy.linalg.expm", "scipy.sparse.linalg.expm")
#: Loops that ``loops=False`` forbids besides Python's own.
LOOPS = ("jax.lax.fori_loop", "jax.lax.while_loop", "jax.lax.scan", "jax.lax.map")

_LOOP_NODES = (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_PACKAGE = "ntkbook"


class RuleBroken(AssertionError):
    """A submission called the library function it was asked to write, or broke the question's rule."""


def assert_true(condition, message: str) -> None:
    """Raise ``AssertionError(message)`` unless ``condition`` holds."""
    if not bool(condition):
        raise AssertionError(message)


def _fmt(value) -> str:
    return np.array2string(np.asarray(value), precision=6, threshold=8) if np.ndim(value) else f"{float(value):.8g}"


def assert_close(got, expected, what: str, *, atol: float = 0.0, rtol: float = 1e-7) -> None:
    """Check ``got`` against ``expected`` entrywise: ``|got - expected| <= atol + rtol |expected|``.

    ``what`` names the call that produced ``got`` (``"laplace_gram(x_pub, x_pub, 2.0)"``). A failure
    says whether the type, the shape or the values are wrong, and for values the entry with the
    largest excess error, both numbers there, and the tolerance.
    """
    expected = np.asarray(expected, dtype=np.float64)
    if got is None or got is Ellipsis:
        raise AssertionError(f"{what} returned {got!r}: the function is not written yet (it must return a value).")
    try:
        dtype = getattr(got, "dtype", None)
        array = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        raise AssertionError(f"{what} returned a {type(got).__name__}, expected numbers of shape {expected.shape}.") from None
    if array.shape != expected.shape:
        raise AssertionError(f"{what} has shape {array.shape}, expected shape {expected.shape}.")
    if not np.all(np.isfinite(array)):
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise AssertionError(f"{what} contains {array[where] if where else array} at index {where}; expected finite values.")
    excess = np.abs(array - expected) - (atol + rtol * np.abs(expected))
    if np.any(excess > 0):
        where = np.unravel_index(int(np.argmax(excess)), excess.shape) if excess.ndim else ()
        where = tuple(int(i) for i in where)
        at = f" at index {where}" if where else ""
        hint = " (your result is float32: work in float64, as the first cell sets up)" if dtype == np.float32 else ""
        raise AssertionError(
            f"{what} is wrong{at}: got {_fmt(array[where])}, expected {_fmt(expected[where])}; largest error "
            f"{float(np.max(np.abs(array - expected))):.3g} (tolerance atol={atol:g}, rtol={rtol:g}){hint}."
        )


# ---------------------------------------------------------------- forbidden objects


def _resolve(dotted: str):
    """(parent, attribute name, object) of a dotted name such as ``jax.numpy.linalg.inv``; None if absent."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            parent = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for part in parts[cut:-1]:
                parent = getattr(parent, part)
            return parent, parts[-1], getattr(parent, parts[-1])
        except AttributeError:
            return None
    return None


def _library_targets(allow: tuple[str, ...]):
    """Every function and class defined in ``ntkbook`` (but this module and ``allow``ed modules)."""
    package = importlib.import_module(_PACKAGE)
    targets = []
    for info in pkgutil.iter_modules(package.__path__):
        name = f"{_PACKAGE}.{info.name}"
        if name == __name__ or any(name == a or name.startswith(a + ".") for a in allow):
            continue
        module = importlib.import_module(name)
        for attr, obj in list(vars(module).items()):
            if callable(obj) and not isinstance(obj, types.ModuleType) and _is_library(obj, allow):
                targets.append((module, attr, obj, f"{name}.{attr}"))
    return targets


def _is_library(obj, allow: tuple[str, ...]) -> bool:
    module = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", None)
    if not isinstance(module, str) or not (module == _PACKAGE or module.startswith(_PACKAGE + ".")):
        return False
    return module != __name__ and not any(module == a or module.startswith(a + ".") for a in allow)


class _Rules:
    """What one question forbids: ``ntkbook`` (but ``allow``), the named functions, and maybe loops."""

    def __init__(self, forbid: Iterable[str], allow: Iterable[str], loops: bool):
        self.allow = tuple(allow)
        self.loops = loops
        self.by_id, self.patch_list = {}, []
        for dotted in tuple(forbid) + (LOOPS if not loops else ()):
            target = _resolve(dotted)
            if target is not None:  # a module that is not installed cannot be called either
                parent, attr, obj = target
                self.by_id[id(obj)] = dotted
                self.patch_list.append((parent, attr, obj, dotted))
        self.patch_list += _library_targets(self.allow)
        self.identity_solves = []
        if set(INVERSES) & set(forbid):
            self.identity_solves = [(*t, d) for t, d in ((_resolve(d), d) for d in _SOLVES) if t is not None]

    def forbidden(self, obj) -> str | None:
        """The name under which ``obj`` is forbidden, or None."""
        try:
            if id(obj) in self.by_id:
                return self.by_id[id(obj)]
            if _is_library(obj, self.allow):
                return obj.__name__ if isinstance(obj, types.ModuleType) else f"{obj.__module__}.{getattr(obj, '__name__', type(obj).__name__)}"
        except Exception:  # exotic objects without the usual attributes
            return None
        return None


def _unwrap(fn):
    """The Python function behind partials, bound methods and ``jax.jit``/``functools.wraps`` wrappers."""
    seen = set()
    while id(fn) not in seen:
        seen.add(id(fn))
        if isinstance(fn, functools.partial):
            fn = fn.func
        elif isinstance(fn, types.MethodType):
            fn = fn.__func__
        elif getattr(fn, "__wrapped__", None) is not None:
            fn = fn.__wrapped__
        else:
            break
    return fn


def _lookup(name: str, fn):
    closure = inspect.getclosurevars(fn).nonlocals if fn.__closure__ else {}
    for space in (closure, fn.__globals__, vars(builtins)):
        if name in space:
            return True, space[name]
    return False, None


def _chain(node):
    """``a.b.c`` as ["a", "b", "c"] for an attribute chain on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


def _source_violations(fn, rules: _Rules, seen: set) -> list[str]:
    """Reasons, with the offending line, why the source of ``fn`` breaks ``rules``."""
    fn = _unwrap(fn)
    label = getattr(fn, "__name__", repr(fn))
    culprit = rules.forbidden(fn)
    if culprit:
        return [f"{label} is {culprit} itself"]
    if not isinstance(fn, types.FunctionType) or id(fn) in seen:
        return []
    seen.add(id(fn))
    try:
        lines, first = inspect.getsourcelines(fn)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, TypeError, SyntaxError):
        return []  # no source to read (built in a string, say): the call under patches still checks it

    def where(node):
        text = lines[node.lineno - 1].strip() if 0 < node.lineno <= len(lines) else ""
        return f"line {node.lineno} of {label}: `{text}`"

    reasons, helpers = [], []
    inner_parts = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                if module == _PACKAGE or module.startswith(_PACKAGE + "."):
                    reasons.append(f"{label} imports {module} ({where(node)})")
        elif not rules.loops and isinstance(node, _LOOP_NODES):
            kind = type(node).__name__.replace("Async", "").lower()
            reasons.append(f"{label} loops ({kind}) where the question asks for array operations ({where(node)})")
        if isinstance(node, (ast.Attribute, ast.Name)) and isinstance(node.ctx, ast.Load) and id(node) not in inner_parts:
            chain = _chain(node)
            found, obj = _lookup(chain[0], fn) if chain else (False, None)
            if not found:
                continue
            culprit, complete = rules.forbidden(obj), True
            for attr in chain[1:]:  # the deepest forbidden object along a.b.c names the culprit best
                try:
                    obj = getattr(obj, attr)
                except Exception:
                    complete = False
                    break
                culprit = rules.forbidden(obj) or culprit
            if culprit:
                reasons.append(f"{label} uses {culprit} ({where(node)})")
            elif complete:
                # a helper the student defined in the notebook: read its source too
                inner = _unwrap(obj)
                culprit = rules.forbidden(inner)
                if culprit:
                    reasons.append(f"{label} uses {culprit} ({where(node)})")
                elif isinstance(inner, types.FunctionType) and inner.__globals__ is fn.__globals__:
                    helpers.append(inner)
    for helper in helpers:
        reasons += _source_violations(helper, rules, seen)
    return list(dict.fromkeys(reasons))


_LIBRARIES = ("jax", "jaxlib", "numpy", "scipy", _PACKAGE)


def _guard(original, name: str, trusted: tuple[str, ...]):
    """``original``, except that a call from outside the ``trusted`` modules raises :class:`RuleBroken`.

    Library code keeps working (an allowed ``ntkbook`` module calls its helpers, jax calls its own
    functions); only the student's code, calling directly, is stopped.
    """
    def guarded(*args, **kwargs):
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if any(caller == t or caller.startswith(t + ".") for t in trusted):
            return original(*args, **kwargs)
        raise RuleBroken(f"{name} was called while the submitted function ran")
    return guarded


def _no_identity(original, name: str):
    """``original`` (a solver ``f(a, b)``), refusing a concrete identity matrix as right-hand side."""
    def guarded(*args, **kwargs):
        b = args[1] if len(args) > 1 else kwargs.get("b")
        try:
            b = np.asarray(b)
            identity = b.ndim == 2 and b.shape[0] == b.shape[1] > 1 and np.array_equal(b, np.eye(b.shape[0]))
        except Exception:  # a tracer (inside jit) has no value to look at
            identity = False
        if identity and not sys._getframe(1).f_globals.get("__name__", "").startswith(_LIBRARIES):
            raise RuleBroken(f"{name} was called with the identity as right-hand side, which forms the inverse")
        return original(*args, **kwargs)
    return guarded


@contextlib.contextmanager
def _patched(targets, identity_solves=()):
    saved = []
    try:
        for parent, attr, obj, name in targets:
            saved.append((parent, attr, obj))
            trusted = (_PACKAGE,) if name.startswith(_PACKAGE + ".") else _LIBRARIES
            setattr(parent, attr, _guard(obj, name, trusted))
        for parent, attr, obj, name in identity_solves:
            saved.append((parent, attr, obj))
            setattr(parent, attr, _no_identity(obj, name))
        yield
    finally:
        for parent, attr, obj in reversed(saved):
            setattr(parent, attr, obj)


def check_rules(fn: Callable, *args, forbid: Iterable[str] = (), allow: Iterable[str] = (), loops: bool = True, **kwargs) -> None:
    """Fail with :class:`RuleBroken` if ``fn`` uses ``ntkbook`` or a forbidden function while computing ``fn(*args, **kwargs)``.

    ``forbid`` lists dotted names (``"jax.numpy.linalg.inv"``, or a preset: :data:`INVERSES`,
    :data:`AUTODIFF`, :data:`EXPM`); every function defined in ``ntkbook`` is forbidden too, except in
    the modules named in ``allow``. ``loops=False`` also forbids Python loops, comprehensions and
    :data:`LOOPS`. The source of ``fn`` (and of the notebook's helpers it calls) is read first; then
    ``fn`` runs on ``args`` with every forbidden function replaced by one that raises, after clearing
    JAX's compilation caches so that a jitted ``fn`` is traced again.
    """
    if not callable(fn):
        raise RuleBroken(f"expected the function you were asked to write, got {type(fn).__name__} {fn!r}")
    rules = _Rules(forbid, allow, loops)
    name = getattr(_unwrap(fn), "__name__", repr(fn))
    reasons = _source_violations(fn, rules, set())
    if reasons:
        raise RuleBroken(
            "; ".join(reasons) + f". The question asks you to compute this yourself under its rules, so {name} scores 0."
        )
    jax = sys.modules.get("jax")
    if jax is not None:
        jax.clear_caches()
    with _patched(rules.patch_list, rules.identity_solves):
        try:
            fn(*args, **kwargs)
        except RuleBroken as error:
            raise RuleBroken(f"{name} broke the question's rules: {error}. It scores 0.") from None
