"""The book itself: table of contents, stored notebook outputs, and a clean build.

The build runs Jupyter Book from scratch into a temporary folder with
warnings as errors, as the README's `make book` does, so a bad citation,
cross-reference or directive fails the tests.
"""

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [entry["file"] for entry in part["chapters"]]
    return files


def test_every_chapter_is_in_the_table_of_contents():
    listed = set(toc_files())
    assert CHAPTERS, "no chapter notebooks found"
    for nb in CHAPTERS:
        assert f"notebooks/{nb.stem}" in listed, f"{nb.name} is missing from _toc.yml"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_is_stored_with_outputs_and_clean_stderr(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    assert code and all(c.get("execution_count") for c in code), "run `make execute` to store outputs"
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), "cells were not executed top to bottom in one run"
    for cell in code:
        for out in cell["outputs"]:
            assert out["output_type"] != "error"
            assert not (out["output_type"] == "stream" and out["name"] == "stderr"), "".join(out["text"])
    markdown = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    for block in ("{prf:proof}", "{exercise}", "{solution}", "{cite}"):
        assert block in markdown, f"{path.name} has no {block} block"
    statements = ("{prf:theorem}", "{prf:lemma}", "{prf:proposition}", "{prf:definition}")
    assert any(s in markdown for s in statements), f"{path.name} states nothing in a sphinx-proof block"
    assert "assert " in "".join("".join(c["source"]) for c in code), "a chapter must assert its claims"


def test_clean_build_has_no_warnings(built_site):
    html = built_site
    index = (html / "index.html").read_text()
    landing = re.search(r'url=([^"]+)"', index).group(1)
    landing_html = (html / landing).read_text()
    for nb in CHAPTERS:
        assert f"notebooks/{nb.stem}.html" in landing_html, f"landing page does not link to {nb.stem}"
        page = (html / "notebooks" / f"{nb.stem}.html").read_text()
        assert re.search(r"proof (theorem|lemma|proposition|definition) admonition", page), f"{nb.stem}: no statement rendered"
        assert 'class="reference internal" href="../book/references.html' in page, f"{nb.stem}: no citation rendered"
        assert not re.search(r"\{(prf:|cite|exercise|solution)", page), "an unrendered directive leaked into the page"


# ---------------------------------------------------------------- the API reference


def public_modules():
    import ntkbook

    return [name for name in ntkbook.__all__ if not name.startswith("_")]


def api_toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    index = [e for part in toc["parts"] for e in part["chapters"] if e["file"] == "book/api/index"]
    assert index, "_toc.yml has no API reference (book/api/index)"
    return [section["file"] for section in index[0].get("sections", [])]


def test_every_public_module_has_an_api_page():
    """Adding a module to ntkbook.__all__ needs book/api/<module>.md and one line in _toc.yml."""
    pages = api_toc_pages()
    for module in public_modules():
        page = f"book/api/{module}"
        assert page in pages, f"ntkbook.{module} has no API page: copy book/api/kernels.md to {page}.md and list it in _toc.yml"
        assert f".. ntkbook-module:: ntkbook.{module}\n" in (ROOT / f"{page}.md").read_text()
    assert len(pages) == len(set(pages)) == len(public_modules()), "an API page for a module that is not public"


def public_objects():
    """(dotted name, object) for every public name of every public module, and the
    public methods and properties of public classes."""
    import importlib
    import inspect

    for module_name in public_modules():
        module = importlib.import_module(f"ntkbook.{module_name}")
        for name in module.__all__:
            obj = getattr(module, name)
            yield f"ntkbook.{module_name}.{name}", obj
            if inspect.isclass(obj):
                for attr, value in vars(obj).items():
                    if attr.startswith("_") and attr != "__call__":
                        continue
                    if isinstance(value, property):
                        yield f"ntkbook.{module_name}.{name}.{attr}", value.fget
                    elif isinstance(value, (classmethod, staticmethod)):
                        yield f"ntkbook.{module_name}.{name}.{attr}", value.__func__
                    elif inspect.isfunction(value):
                        yield f"ntkbook.{module_name}.{name}.{attr}", value


def test_public_api_is_documented():
    """Every public function, class, method and property has a docstring; every
    NamedTuple field is described in its class's docstring; every exception a
    public function raises itself is named in its docstring."""
    import inspect

    problems = []
    for dotted, obj in public_objects():
        if not (callable(obj) or isinstance(obj, type)):
            continue  # data (ACTIVATIONS, PALETTE) carry #: comments
        doc = inspect.getdoc(obj) or ""
        if not doc.strip() or (inspect.isclass(obj) and doc == inspect.getdoc(obj.__mro__[1])):
            problems.append(f"{dotted}: no docstring")
            continue
        for field in getattr(obj, "_fields", ()) if inspect.isclass(obj) else ():
            if not re.search(rf"\b{field}\b", doc, re.IGNORECASE):
                problems.append(f"{dotted}: field {field!r} not described")
        body = obj.__dict__.get("__post_init__", obj.__init__) if inspect.isclass(obj) else inspect.unwrap(obj)
        try:
            source = inspect.getsource(body)
        except (TypeError, OSError):
            continue
        for error in sorted(set(re.findall(r"raise (\w+Error)\b", source))):
            if error not in doc:
                problems.append(f"{dotted}: raises {error}, docstring does not say when")
    assert not problems, "\n".join(problems)


def test_every_module_has_a_doctested_example():
    import importlib
    import inspect

    for module_name in public_modules():
        module = importlib.import_module(f"ntkbook.{module_name}")
        docs = [inspect.getdoc(obj) or "" for _, obj in public_objects() if _.startswith(f"ntkbook.{module_name}.")]
        assert any(">>> " in doc for doc in docs + [module.__doc__ or ""]), f"ntkbook.{module_name}: no example in any docstring"


def test_api_reference_lists_every_public_name(built_site):
    """The built API pages carry an entry (an anchor) for every public name, and the
    per-chapter table links each chapter to the functions its cells call."""
    for module_name in public_modules():
        page = (built_site / "book" / "api" / f"{module_name}.html").read_text()
        module = __import__(f"ntkbook.{module_name}", fromlist=["__all__"])
        missing = [name for name in module.__all__ if f'id="ntkbook.{module_name}.{name}"' not in page]
        assert not missing, f"book/api/{module_name}.html has no entry for {missing}"
        assert 'class="autosummary longtable' in page or "autosummary" in page, f"{module_name}: no summary table"
    index = (built_site / "book" / "api" / "index.html").read_text()
    for nb in CHAPTERS:
        assert f"notebooks/{nb.stem}.html" in index, f"usage table has no row for {nb.stem}"
    assert 'href="tangent.html#ntkbook.tangent.infinite_width"' in index, "usage table does not link infinite_width"
