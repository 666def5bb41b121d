"""The published website, opened page by page in headless Chromium.

The book is built from scratch (the `built_site` fixture), served on
127.0.0.1, and every page is loaded in Debian's Chromium, driven by
Playwright. For each page: the math is typeset by the site's own MathJax (no
raw TeX left in the visible text), every image loaded, no request left
127.0.0.1, the theorem and exercise blocks of the source are all there, and
solution dropdowns are closed until clicked. One screenshot per chapter is
saved under `_build/screenshots/` for humans to look at. A crawl of the built
HTML checks every internal link and anchor.
"""

import functools
import http.server
import json
import os
import re
import subprocess
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

import pytest
import yaml
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BOOK_TITLE = yaml.safe_load((ROOT / "_config.yml").read_text())["title"]
SKIP_DIRS = {"_static", "_sources", "_images", "mathjax", "_sphinx_design_static"}
DIRECTIVE = re.compile(r"[`:]{3,}\{(prf:\w+|exercise|solution)\}")


def site_pages(html: Path) -> list[Path]:
    return sorted(p for p in html.rglob("*.html") if not SKIP_DIRS & set(p.relative_to(html).parts[:-1]))


def source_of(html: Path, page: Path) -> Path | None:
    """The .ipynb or .md file a page was built from (None for generated pages)."""
    stem = page.relative_to(html).with_suffix("")
    for suffix in (".ipynb", ".md"):
        if (ROOT / stem).with_suffix(suffix).exists():
            return (ROOT / stem).with_suffix(suffix)
    return None


def expected_blocks(source: Path) -> dict[str, int]:
    """How many sphinx-proof statements, exercises and solutions the source declares."""
    counts = {"proof": 0, "exercise": 0, "solution": 0}
    for name in DIRECTIVE.findall(source.read_text()):
        counts["proof" if name.startswith("prf:") else name] += 1
    return counts


# ---------------------------------------------------------------- serving and browsing


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def server(built_site):
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM}: `make test` installs Debian's chromium"

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


VISIBLE_TEXT = """() => {
  const body = document.body.cloneNode(true);
  body.querySelectorAll('pre, code, script, style, mjx-container, .highlight').forEach(e => e.remove());
  return body.innerText;
}"""

BROKEN_IMAGES = """() => Array.from(document.images)
  .filter(img => !(img.complete && img.naturalWidth > 0 && img.naturalHeight > 0))
  .map(img => img.getAttribute('src'))"""


def open_page(browser, url):
    """Load a page and let MathJax finish if the page uses it.
    Returns the page, every URL it requested, and failed requests."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests, failed = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("requestfailed", lambda r: failed.append(f"failed {r.url}"))
    page.goto(url, wait_until="load")
    if page.evaluate("() => !!document.querySelector('script[src*=\"mathjax\"]')"):
        try:
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=15_000)
            page.evaluate("() => MathJax.startup.promise")
        except PlaywrightError:
            pass  # reported below as untypeset math
    page.wait_for_load_state("networkidle")
    return page, requests, failed


def test_every_page_renders_offline(built_site, server, browser):
    pages = site_pages(built_site)
    assert len(pages) >= 10, [p.name for p in pages]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    failures = []
    for path in pages:
        rel = path.relative_to(built_site).as_posix()
        redirect = re.search(r'http-equiv="refresh" content="0; url=([^"]+)"', path.read_text(), re.IGNORECASE)
        if redirect:  # Jupyter Book's index.html only forwards to the landing page
            if not (path.parent / redirect.group(1)).exists():
                failures.append(f"{rel}: redirects to missing {redirect.group(1)}")
            continue
        page, requests, failed = open_page(browser, server + rel)
        problems = [f"request failed: {f}" for f in failed]
        outside = [u for u in requests if urlparse(u).scheme in ("http", "https") and urlparse(u).hostname != "127.0.0.1"]
        problems += [f"request outside 127.0.0.1: {u}" for u in outside]
        problems += [f"image not loaded: {src}" for src in page.evaluate(BROKEN_IMAGES)]
        title = page.title()  # "<page> — <book>"
        if not (title.endswith(BOOK_TITLE) and len(title) > len(BOOK_TITLE) + 3):
            problems.append(f"title {title!r} does not name the page and the book")
        if page.locator('link[rel="icon"]').count() != 1:
            problems.append("no favicon link")
        raw = path.read_text()
        text = page.evaluate(VISIBLE_TEXT)
        if 'class="math' in raw:
            if page.locator("mjx-container").count() == 0:
                problems.append("math not typeset (no mjx-container)")
            for token in ("$$", "\\(", "\\[", "\\begin{"):
                if token in text:
                    problems.append(f"raw TeX {token!r} left in the visible text")
        source = source_of(built_site, path)
        if source is not None:
            for kind, count in expected_blocks(source).items():
                shown = page.locator(f"div.{kind}.admonition, details.{kind}").count()
                if shown != count:
                    problems.append(f"{count} {kind} blocks in {source.name}, {shown} on the page")
        if rel.startswith("notebooks/"):  # before any solution is opened
            page.screenshot(path=str(SCREENSHOTS / f"{path.stem}.png"), full_page=True)
        if source is not None:
            problems += check_solutions(page)
        page.close()
        failures += [f"{rel}: {p}" for p in problems]
    assert not failures, "\n".join(failures)


def check_solutions(page) -> list[str]:
    """Each solution starts closed (its body hidden) and opens when its toggle button is clicked."""
    problems = []
    solutions = page.locator("div.solution.dropdown")
    for i in range(solutions.count()):
        solution = solutions.nth(i)
        body = solution.locator("section").first
        button = solution.locator("button.toggle-button").first
        if body.is_visible() or button.get_attribute("aria-expanded") != "false":
            problems.append(f"solution {i + 1} is open before any click")
            continue
        button.click()
        try:
            body.wait_for(state="visible", timeout=5_000)
        except Exception:
            problems.append(f"solution {i + 1} did not open on click")
    return problems


# ---------------------------------------------------------------- links


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.hrefs = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])


@functools.lru_cache(maxsize=None)
def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(errors="replace"))
    return parser


def broken_links(html: Path) -> list[str]:
    broken = []
    for page in site_pages(html):
        base = "file://" + page.as_posix()
        for href in _parse(page).hrefs:
            if urlparse(href).scheme in ("http", "https", "mailto", "javascript"):
                continue
            target, fragment = urldefrag(urljoin(base, href))
            file = Path(unquote(urlparse(target).path))
            if file.is_dir():
                file = file / "index.html"
            if not file.exists():
                broken.append(f"{page.relative_to(html)}: {href} (no such file)")
            elif fragment and file.suffix == ".html" and unquote(fragment) not in _parse(file).ids:
                broken.append(f"{page.relative_to(html)}: {href} (no anchor #{fragment})")
    return broken


def test_no_broken_internal_links(built_site):
    assert not broken_links(built_site), "\n".join(broken_links(built_site))


def test_link_check_finds_a_broken_anchor(tmp_path):
    (tmp_path / "a.html").write_text('<a href="b.html#here">ok</a> <a href="b.html#gone">x</a> <a href="c.html">y</a>')
    (tmp_path / "b.html").write_text('<h1 id="here">B</h1>')
    assert sorted(broken_links(tmp_path)) == ["a.html: b.html#gone (no anchor #gone)", "a.html: c.html (no such file)"]


# ---------------------------------------------------------------- launch and deployment files


def config():
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def test_install_cells_use_the_configured_repository():
    """Colab starts from a bare Python: each chapter's first code cell installs ntkbook
    from the repository named once in _config.yml."""
    repo = config()["repository"]
    expected = f"ntkbook @ git+{repo['url']}@{repo['branch']}"
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        first = next(c for c in cells if c["cell_type"] == "code")
        assert expected in "".join(first["source"]), f"{nb.name}: first code cell does not install {expected}"
        assert "remove-cell" in first["metadata"].get("tags", []), f"{nb.name}: install cell shown on the site"


def test_launch_buttons_and_binder_files():
    cfg = config()
    assert cfg["launch_buttons"]["binderhub_url"] and cfg["launch_buttons"]["colab_url"]
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert "requirements/book.txt" in post_build and os.access(ROOT / "binder" / "postBuild", os.X_OK)
    assert (ROOT / "binder" / "runtime.txt").read_text().strip().startswith("python-3.")


def test_deploy_workflow_is_valid(tmp_path):
    path = ROOT / ".github" / "workflows" / "book.yml"
    workflow = yaml.safe_load(path.read_text())
    steps = [s for job in workflow["jobs"].values() for s in job.get("steps", [])]
    assert any("make book" in s.get("run", "") for s in steps), "the workflow must build with the README's command"
    assert any(s.get("with", {}).get("path") == "_build/html" for s in steps), "the workflow must publish _build/html"
    lint = lambda file: subprocess.run(["node", str(ROOT / "tests" / "lint_workflows.cjs"), str(file)], capture_output=True, text=True, cwd=ROOT)
    result = lint(path)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(path.read_text().replace("steps.deployment.outputs", "steps.nowhere.outputs"))
    assert lint(broken).returncode == 1, "actionlint accepted a workflow that names a missing step"


# ---------------------------------------------------------------- API reference and PDF edition


def test_api_pages_are_served_and_crawled(built_site):
    """The API reference pages are among the pages the browser test opens and the link check crawls."""
    import ntkbook

    pages = {p.relative_to(built_site).as_posix() for p in site_pages(built_site)}
    modules = [m for m in ntkbook.__all__ if not m.startswith("_")]
    assert {"book/api/index.html"} | {f"book/api/{m}.html" for m in modules} <= pages


def test_how_to_page_links_the_pdf_edition(built_site):
    """With a PDF from `make pdf` the how-to page links it (and the file is served);
    without one it says how to build it, so the site never has a dead link."""
    how_to = (built_site / "book" / "how_to_use.html").read_text()
    if (built_site / "ntkbook.pdf").exists():
        assert 'href="../ntkbook.pdf"' in how_to
    else:
        assert 'class="pdf-edition-missing"' in how_to and 'href="../ntkbook.pdf"' not in how_to
