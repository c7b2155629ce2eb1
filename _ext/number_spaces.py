"""No line breaks inside a number with its unit or its error: "81.9 %", "3.2 ± 0.6", "8 × 8".

The book writes a space before "%" and around "±" and "×"; a browser may break the line at any of them, leaving
"%" or "± 0.6" alone at the start of a line. In the running text of every page (not in tables, whose cells wrap
where they can, nor in code, code outputs or math) those spaces become no-break spaces.
"""

from __future__ import annotations

import re

from docutils import nodes

NO_BREAK = "\u00a0"
SPACES = (re.compile(r"(?<=\d) (?=%)"), re.compile(r" (?=[±×] ?[\d+−-])"), re.compile(r"(?<=[±×]) (?=[\d+−-])"))
VERBATIM = (nodes.literal, nodes.FixedTextElement, nodes.math, nodes.raw, nodes.table)  # code, outputs, math; tables


def joined(text: str) -> str:
    """``text`` with the spaces of :data:`SPACES` made no-break spaces."""
    for pattern in SPACES:
        text = pattern.sub(NO_BREAK, text)
    return text


def _verbatim(node: nodes.Node) -> bool:
    parent = node.parent
    while parent is not None:
        if isinstance(parent, VERBATIM):
            return True
        parent = parent.parent
    return False


def join_numbers(app, doctree, docname) -> None:
    for text in list(doctree.findall(nodes.Text)):
        new = joined(str(text))
        if new != str(text) and text.parent is not None and not _verbatim(text):
            text.parent.replace(text, nodes.Text(new))


def setup(app):
    app.connect("doctree-resolved", join_numbers)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
