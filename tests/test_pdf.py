"""The PDF edition, built from scratch as `make pdf` does, then read back.

Jupyter Book's LaTeX builder (XeLaTeX, TeX Live from Debian) turns the whole
book into one PDF. The checks: every cross-reference and citation resolved
(nothing "??" in the text, no "undefined" warning in the LaTeX log), the
chapters of the table of contents all there with the lectures numbered 1 to
5, every proof, exercise, solution, figure and bibliography entry of the
sources present, no line wider than the page, and every page rendered by
poppler's ``pdftoppm`` without errors, blank only where LaTeX leaves the
back of a page empty before a new chapter.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TOOLS = ("xelatex", "latexmk", "pdftotext", "pdftoppm", "pdfinfo")
# An overfull box this much wider than the text still ends inside the margin
# (A4 with a 17.5 cm text block leaves 1.75 cm, about 50 pt, on each side).
MAX_OVERFULL_PT = 20.0


def toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    chapters = [entry for part in toc["parts"] for entry in part["chapters"]]
    return toc, chapters


def source_text(path: Path) -> str:
    if path.suffix == ".ipynb":
        return "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown")
    return path.read_text()


def directive_count(name: str) -> int:
    """How many ``{name}`` blocks (MyST backtick or colon fences) the chapters declare."""
    pattern = re.compile(r"^[ \t]*[`:]{3,}\{" + re.escape(name) + r"\}", re.MULTILINE)
    return sum(len(pattern.findall(source_text(nb))) for nb in NOTEBOOKS)


@pytest.fixture(scope="session")
def latex_dir(tmp_path_factory):
    """Build the PDF from scratch, warnings as errors; the folder with ntkbook.pdf/.tex/.log."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    assert not missing, f"{missing} not found: `make test` installs TeX Live and poppler-utils (make texlive)"
    out = tmp_path_factory.mktemp("pdf")
    jb = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run(
        [str(jb), "build", str(ROOT), "--builder", "pdflatex", "--path-output", str(out), "--warningiserror", "--keep-going"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    latex = out / "_build" / "latex"
    assert result.returncode == 0 and (latex / "ntkbook.pdf").exists(), result.stdout[-4000:] + result.stderr[-4000:]
    return latex


@pytest.fixture(scope="session")
def pages(latex_dir) -> list[str]:
    """The text of each page, from pdftotext (pages are separated by form feeds)."""
    text = subprocess.run(["pdftotext", "-layout", str(latex_dir / "ntkbook.pdf"), "-"], capture_output=True, text=True, check=True)
    return text.stdout.split("\f")[:-1]


def test_every_reference_and_citation_resolves(latex_dir, pages):
    unresolved = [i + 1 for i, page in enumerate(pages) if "??" in page]
    assert not unresolved, f"'??' (an unresolved reference) on pages {unresolved}"
    log = (latex_dir / "ntkbook.log").read_text(errors="replace")
    undefined = re.findall(r"LaTeX Warning: (?:Hyper reference|Reference|Citation)[^\n]*\n?[^\n]*undefined", log)
    assert not undefined, "\n".join(undefined[:10])
    assert "There were undefined references" not in log
    assert "Label(s) may have changed" not in log, "latexmk stopped before the references settled"
    missing_glyphs = sorted(set(re.findall(r"Missing character: There is no (\S+)", log)))
    assert not missing_glyphs, f"characters the fonts lack (dropped from the PDF): {missing_glyphs}"
    errors = [line for line in log.splitlines() if line.startswith("! ")]
    assert not errors, errors[:10]


def test_table_of_contents(latex_dir):
    """Every page of _toc.yml is a chapter (API modules are sections); the lectures are chapters 1 to 5."""
    toc_tex = re.sub(r"\\_(\\allowbreak\s*)?", "_", (latex_dir / "ntkbook.toc").read_text())
    parts = re.findall(r"\\contentsline \{part\}\{[IVX]+\\hspace \{1em\}([^}]*)\}", toc_tex)
    chapters = re.findall(r"\\contentsline \{chapter\}\{(\\numberline \{(\d+)\})?", toc_tex)
    toc, entries = toc_files()
    assert parts == [part["caption"] for part in toc["parts"]]
    # + the bibliography and the two generated indices (proofs, Python modules)
    assert len(chapters) == len(entries) + 3, (len(chapters), len(entries))
    numbered = [int(number) for _, number in chapters if number]
    assert numbered == list(range(1, len(NOTEBOOKS) + 1)), "only the lectures are numbered, from 1, as on the site"
    for nb in NOTEBOOKS:
        title = next(line[2:].strip() for line in source_text(nb).splitlines() if line.startswith("# "))
        assert re.sub(r"\W", "", title.split("$")[0]) in re.sub(r"\W|sphinxhyphen", "", toc_tex), f"{nb.name}: {title!r} not in the contents"
    api_pages = [e["file"] for e in entries if e["file"] == "book/api/index"][0]
    modules = [s["file"] for e in entries if e["file"] == api_pages for s in e.get("sections", [])]
    for module in modules:
        assert f"ntkbook.{Path(module).name}" in toc_tex, f"{module} missing from the contents"


def test_proofs_exercises_solutions_figures_bibliography(latex_dir, pages):
    text = "\n".join(pages)
    solutions = len(re.findall(r"Solution to Exercise \d+\.\d+", text))
    assert solutions == directive_count("solution") > 0, (solutions, directive_count("solution"))
    tex = (latex_dir / "ntkbook.tex").read_text()
    exercises = len(re.findall(r"\\begin\{sphinxadmonition\}\{note\}\{Exercise \d", tex))
    assert exercises == directive_count("exercise"), (exercises, directive_count("exercise"))
    for kind in ("theorem", "lemma", "proposition", "definition", "remark"):
        boxes = len(re.findall(r"\\begin\{sphinxadmonition\}\{note\}\{" + kind.title() + r" \d", tex))
        assert boxes == directive_count(f"prf:{kind}"), f"{boxes} {kind} boxes in the PDF, {directive_count(f'prf:{kind}')} in the chapters"
    proofs = len(re.findall(r"\\begin\{sphinxadmonition\}\{note\}\s*\\sphinxAtStartPar\s*Proof\.", tex))
    assert proofs == directive_count("prf:proof") > 0, (proofs, directive_count("prf:proof"))
    figures = re.findall(r"\\sphinxincludegraphics(?:\[[^\]]*\])?\{\{?([^}]+)\}", tex)
    stored = sum(
        "image/png" in out.get("data", {})
        for nb in NOTEBOOKS
        for cell in json.loads(nb.read_text())["cells"]
        if cell["cell_type"] == "code" and "remove-output" not in cell["metadata"].get("tags", [])
        for out in cell.get("outputs", [])
    )
    assert len(figures) >= stored > 0, (len(figures), stored)
    entries = len(re.findall(r"^@\w+\{", (ROOT / "book" / "references.bib").read_text(), re.MULTILINE))
    assert tex.count(r"\bibitem") == entries, "the bibliography lists every entry of references.bib"
    assert re.search(r"^\s*BIBLIOGRAPHY\s*$", text, re.MULTILINE)


def test_no_line_runs_off_the_page(latex_dir):
    log = (latex_dir / "ntkbook.log").read_text(errors="replace")
    problems = []
    for match in re.finditer(r"Overfull \\hbox \(([\d.]+)pt too wide\)[^\n]*\n([^\n]*)", log):
        width, content = float(match.group(1)), match.group(2)
        if "FreeMono" in content:  # code, notebook output or a signature in typewriter type
            problems.append(f"code line {width}pt too wide: {content}")
        elif width > MAX_OVERFULL_PT:
            problems.append(f"{width}pt too wide: {content}")
    assert not problems, "\n".join(problems)


def read_pgm(path: Path) -> np.ndarray:
    """A binary greyscale PGM (P5) as a (height, width) uint8 array."""
    data = path.read_bytes()
    header = re.match(rb"P5\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
    width, height = int(header.group(1)), int(header.group(2))
    return np.frombuffer(data[header.end():], np.uint8, width * height).reshape(height, width)


def test_pages_render(latex_dir, pages, tmp_path):
    pdf = latex_dir / "ntkbook.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    count = int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE).group(1))
    assert count == len(pages) >= 60, count
    assert "595.28 x 841.89" in info, "A4 pages"
    result = subprocess.run(["pdftoppm", "-gray", "-r", "24", str(pdf), str(tmp_path / "p")], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr[-2000:]
    images = sorted(tmp_path.glob("p-*.pgm"))
    assert len(images) == count
    blank = []
    for number, (image, text) in enumerate(zip(images, pages), start=1):
        pixels = read_pgm(image)
        assert pixels.shape[0] > pixels.shape[1], f"page {number} is not upright"
        ink = float(np.mean(pixels < 128))
        assert ink < 0.35, f"page {number} is mostly dark ({ink:.0%} of pixels): a broken figure or box"
        if text.strip():
            assert ink > 0.002, f"page {number} has text but renders (almost) blank"
        else:
            blank.append(number)
            assert ink == 0.0, f"page {number} has no text but is not blank"
    # Empty pages only as the back of a page before a part or chapter (openright):
    # never two in a row, never the first or the last page.
    assert all(b + 1 not in blank for b in blank), blank
    assert 1 not in blank and count not in blank, blank
