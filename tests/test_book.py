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
