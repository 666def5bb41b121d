"""Fixes for the PDF edition (`make pdf`), applied only by the LaTeX builder.

sphinx-proof labels each theorem in LaTeX with the document that contains it,
found by walking up to the section whose name equals the document's title. A
chapter with a subsection of the same title as the chapter (chapter 1 has
"Kernel regression" twice) has no such section, because docutils drops the
names of duplicate implicit targets, so its theorems were labelled
``None:thm-...`` and every reference to them printed "??". When Sphinx
assembles the single LaTeX doctree it stamps every section with the document
it came from (``sphinx.util.nodes.inline_all_toctrees``), so the nearest
enclosing section names the document directly.

The directive ``{pdf-edition}`` links the PDF from the website when ``make pdf``
has put it in ``_build/site-assets/`` (served at the site root by
``html_extra_path``); otherwise it says how to build it, so the site never
carries a broken link. In the PDF itself it points back to the website.
"""

from __future__ import annotations

from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.util.docutils import SphinxDirective

#: Where ``make pdf`` leaves the copy that the site serves, relative to the book root.
SITE_PDF = Path("_build/site-assets/ntkbook.pdf")


def _document_of(env, node, parent_tag):
    """The docname of the document that contains ``node`` in the assembled LaTeX doctree."""
    current = node.parent
    while current is not None:
        if isinstance(current, (nodes.section, addnodes.start_of_file)) and "docname" in current.attributes:
            return current["docname"]
        current = current.parent
    return _original_find_parent(env, node, parent_tag)


_original_find_parent = None


class PdfEdition(SphinxDirective):
    """``{pdf-edition}``: a paragraph that links the PDF edition, or says how to build it."""

    def run(self):
        para = nodes.paragraph()
        if self.env.app.builder.format == "latex":
            para += nodes.Text("This is the PDF edition of the book. The website has the same text with the "
                               "chapters as notebooks to download or launch, and the homework notebooks.")
            return [para]
        pdf = Path(self.env.srcdir) / SITE_PDF
        para["classes"].append("pdf-edition" if pdf.exists() else "pdf-edition-missing")
        if pdf.exists():
            size = pdf.stat().st_size / 2**20
            href = "../" * self.env.docname.count("/") + SITE_PDF.name
            para += nodes.Text("The whole book, with proofs, exercises and their solutions, is also available as one PDF for "
                               "printing and annotating: ")
            para += nodes.reference("", f"{SITE_PDF.name} ({size:.1f} MiB)", refuri=href, classes=["pdf-edition"])
            para += nodes.Text(".")
        else:
            para += nodes.Text("This copy of the site was built without the PDF edition; ")
            para += nodes.literal("", "make pdf")
            para += nodes.Text(" builds it (it needs TeX Live), and a following ")
            para += nodes.literal("", "make book")
            para += nodes.Text(" links it here.")
        return [para]


def setup(app):
    global _original_find_parent
    import sphinx_proof.nodes

    if _original_find_parent is None:
        _original_find_parent = sphinx_proof.nodes.find_parent
        sphinx_proof.nodes.find_parent = _document_of
    app.add_directive("pdf-edition", PdfEdition)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
