"""Sphinx directive ``execution-status``: a table of every chapter notebook's last run.

The site is built from the outputs stored in the notebooks, so the record of
that run is in the notebooks themselves: nbclient (``make execute``) stamps
each code cell with the times its execution started and ended. The table lists,
per notebook, when it was executed, how long it took, and whether it finished
without an error or a stderr message. nbval re-runs the same notebooks in the
tests, so an entry marked "ok" is also one whose outputs still reproduce.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective


def _stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def notebook_status(path: Path) -> dict:
    """Title, execution date, seconds and status of one stored notebook."""
    nb = json.loads(path.read_text())
    title = next(
        (line.lstrip("# ").strip() for c in nb["cells"] if c["cell_type"] == "markdown"
         for line in "".join(c["source"]).splitlines() if line.startswith("# ")),
        path.stem,
    )
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    timing = [c.get("metadata", {}).get("execution", {}) for c in code]
    problems = [
        o.get("ename", "stderr") for c in code for o in c.get("outputs", [])
        if o["output_type"] == "error" or (o["output_type"] == "stream" and o.get("name") == "stderr")
    ]
    if not code or not all("iopub.execute_input" in t and "shell.execute_reply" in t for t in timing):
        return {"title": title, "date": "not executed", "seconds": None, "status": "not executed"}
    start = min(_stamp(t["iopub.execute_input"]) for t in timing)
    end = max(_stamp(t["shell.execute_reply"]) for t in timing)
    status = "ok" if not problems else "failed: " + ", ".join(sorted(set(problems)))
    return {"title": title, "date": start.strftime("%Y-%m-%d"), "seconds": (end - start).total_seconds(), "status": status}


class ExecutionStatus(SphinxDirective):
    """``{execution-status} notebooks``: one row per ``*.ipynb`` in the folder (relative to the source root)."""

    required_arguments = 1

    def run(self):
        folder = Path(self.env.srcdir) / self.arguments[0]
        paths = sorted(folder.glob("*.ipynb"))
        if not paths:
            raise self.error(f"execution-status: no notebooks in {folder}")
        rows = []
        for path in paths:
            self.env.note_dependency(str(path))
            rows.append((path, notebook_status(path)))
        total = sum(s["seconds"] or 0.0 for _, s in rows)
        header = ("Chapter", "Notebook", "Executed", "Time (s)", "Status")
        body = [
            (s["title"], path.name, s["date"], "" if s["seconds"] is None else f"{s['seconds']:.1f}", s["status"])
            for path, s in rows
        ]
        body.append(("Whole book", "", "", f"{total:.1f}", ""))
        return [self._table(header, body)]

    def _table(self, header, body):
        table = nodes.table(classes=["execution-status"])
        group = nodes.tgroup(cols=len(header))
        table += group
        group += [nodes.colspec(colwidth=1) for _ in header]
        thead, tbody = nodes.thead(), nodes.tbody()
        group += [thead, tbody]
        for target, cells in [(thead, header)] + [(tbody, row) for row in body]:
            row = nodes.row()
            for text in cells:
                entry = nodes.entry()
                entry += nodes.paragraph(text=text)
                row += entry
            target += row
        return table


def setup(app):
    app.add_directive("execution-status", ExecutionStatus)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
