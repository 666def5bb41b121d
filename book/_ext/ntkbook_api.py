"""Sphinx directives for the book's API reference, generated from ``ntkbook``'s docstrings.

``.. ntkbook-module:: ntkbook.tangent`` (inside an ``{eval-rst}`` block) writes
one module's page: the module docstring, a summary table (autosummary) and the
full entry of every public name (autodoc, docstrings read by napoleon). The
public names are the module's ``__all__``, so a function added there appears
in the reference with no edit to the book.

``.. ntkbook-modules::`` tabulates the module pages listed under the current
page in ``_toc.yml`` with the first line of each module's docstring, so the
index needs no edit when a module is added.

``.. ntkbook-usage::`` tabulates, per chapter notebook, the ``ntkbook``
functions and classes its code cells call, each linked to its entry.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles


def public_names(module) -> list[str]:
    """The documented names of a module: its ``__all__``, in order."""
    names = getattr(module, "__all__", None)
    if names is None:
        raise ValueError(f"{module.__name__} has no __all__; the API reference documents exactly __all__")
    return list(names)


def _entry(modname: str, name: str, obj) -> list[str]:
    """RST for one public name: autoclass, autofunction or autodata."""
    if inspect.isclass(obj):
        lines = [f".. autoclass:: {modname}.{name}", "   :members:"]
        fields = getattr(obj, "_fields", None)
        if fields:  # NamedTuple: the fields are documented in the docstring's Attributes section
            lines.append("   :exclude-members: " + ", ".join(fields))
        if "__call__" in vars(obj):
            lines.append("   :special-members: __call__")
        return lines + [""]
    if callable(obj):  # plain and jax.jit-wrapped functions
        return [f".. autofunction:: {modname}.{name}", ""]
    return [f".. autodata:: {modname}.{name}", "   :no-value:", ""]


class ModuleDirective(SphinxDirective):
    """``.. ntkbook-module:: ntkbook.<module>``: the whole reference page of one module."""

    required_arguments = 1

    def run(self):
        modname = self.arguments[0]
        module = importlib.import_module(modname)
        self.env.note_dependency(module.__file__)
        names = public_names(module)
        lines = [f".. automodule:: {modname}", "", f".. currentmodule:: {modname}", "", ".. rubric:: Summary", ""]
        lines += [".. autosummary::", "   :nosignatures:", ""] + [f"   {name}" for name in names] + [""]
        lines += [".. rubric:: Reference", ""]
        for name in names:
            if not hasattr(module, name):
                raise self.error(f"{modname}.__all__ lists {name!r}, which the module does not define")
            lines += _entry(modname, name, getattr(module, name))
        container = nodes.container()
        nested_parse_with_titles(self.state, StringList(lines, source=f"<ntkbook-module {modname}>"), container)
        return container.children


class ModulesDirective(SphinxDirective):
    """``.. ntkbook-modules::``: one row per module page below this page in ``_toc.yml``."""

    def run(self):
        import yaml

        toc_path = Path(self.env.srcdir) / "_toc.yml"
        self.env.note_dependency(str(toc_path))
        toc = yaml.safe_load(toc_path.read_text())
        entries = [e for part in toc.get("parts", []) for e in part["chapters"] if e.get("file") == self.env.docname]
        if not entries:
            raise self.error(f"ntkbook-modules: {self.env.docname} is not a chapter of _toc.yml")
        lines = [".. list-table::", "   :header-rows: 1", "   :widths: 30 70", "", "   * - Module", "     - Contents"]
        for section in entries[0].get("sections", []):
            modname = f"ntkbook.{Path(section['file']).name}"
            module = importlib.import_module(modname)
            summary = (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else ""
            lines += [f"   * - :py:mod:`{modname}`", f"     - {summary}"]
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source="<ntkbook-modules>"), self.content_offset, container)
        return container.children


_IMPORT = re.compile(r"^\s*from ntkbook import ([\w, ]+)$", re.MULTILINE)


def chapter_usage(path: Path, package) -> list[str]:
    """Dotted names ``module.name`` of public ``ntkbook`` objects used in a notebook's code cells, in order of first use."""
    cells = json.loads(path.read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    modules = {m.strip() for group in _IMPORT.findall(code) for m in group.split(",")} & set(package.__all__)
    used = []
    for mod, name in re.findall(r"\b(\w+)\.(\w+)\b", code):
        dotted = f"{mod}.{name}"
        if mod in modules and name in getattr(package, mod).__all__ and dotted not in used:
            used.append(dotted)
    for mod, name in re.findall(r"^\s*from ntkbook\.(\w+) import (\w+)", code, re.MULTILINE):
        if name in getattr(package, mod).__all__ and f"{mod}.{name}" not in used:
            used.append(f"{mod}.{name}")
    return used


class UsageDirective(SphinxDirective):
    """``.. ntkbook-usage:: notebooks``: which public functions each chapter notebook calls."""

    required_arguments = 1

    def run(self):
        package = importlib.import_module("ntkbook")
        folder = Path(self.env.srcdir) / self.arguments[0]
        paths = sorted(folder.glob("*.ipynb"))
        if not paths:
            raise self.error(f"ntkbook-usage: no notebooks in {folder}")
        lines = [".. list-table::", "   :header-rows: 1", "   :widths: 25 75", "", "   * - Chapter", "     - Functions and classes used"]
        for path in paths:
            self.env.note_dependency(str(path))
            docname = path.relative_to(self.env.srcdir).with_suffix("").as_posix()
            used = chapter_usage(path, package)
            refs = ", ".join(f":py:obj:`{dotted} <ntkbook.{dotted}>`" for dotted in used) or "none"
            lines += [f"   * - :doc:`/{docname}`", f"     - {refs}"]
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source="<ntkbook-usage>"), self.content_offset, container)
        return container.children


def setup(app):
    app.add_directive("ntkbook-module", ModuleDirective)
    app.add_directive("ntkbook-usage", UsageDirective)
    app.add_directive("ntkbook-modules", ModulesDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
