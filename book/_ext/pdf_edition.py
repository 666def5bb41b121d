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
"""

from __future__ import annotations

from docutils import nodes
from sphinx import addnodes


def _document_of(env, node, parent_tag):
    """The docname of the document that contains ``node`` in the assembled LaTeX doctree."""
    current = node.parent
    while current is not None:
        if isinstance(current, (nodes.section, addnodes.start_of_file)) and "docname" in current.attributes:
            return current["docname"]
        current = current.parent
    return _original_find_parent(env, node, parent_tag)


_original_find_parent = None


def setup(app):
    global _original_find_parent
    import sphinx_proof.nodes

    if _original_find_parent is None:
        _original_find_parent = sphinx_proof.nodes.find_parent
        sphinx_proof.nodes.find_parent = _document_of
    return {"parallel_read_safe": True, "parallel_write_safe": True}
