"""No line breaks inside a number with its unit or its error: "81.9 %", "3.2 ± 0.6", "8 × 8"; and a minus sign,
not a hyphen, before a negative number: "−0.4".

The book writes a space before "%" and around "±" and "×"; a browser may break the line at any of them, leaving
"%" or "± 0.6" alone at the start of a line. In the running text of every page (not in tables, whose cells wrap
where they can, nor in code, code outputs or math) those spaces become no-break spaces. Python's formats write a
negative number with a hyphen ("-0.4"); in text and tables alike (not in code, outputs or math) a hyphen that
starts a number, after a space, a bracket or the start of a text, becomes the minus sign.
"""

from __future__ import annotations

import re

from docutils import nodes

NO_BREAK = "\u00a0"
SPACES = (re.compile(r"(?<=\d) (?=%)"), re.compile(r" (?=[±×] ?[\d+−-])"), re.compile(r"(?<=[±×]) (?=[\d+−-])"))
MINUS = (re.compile(r"(?<![\w.\-−+])-(?=\.?\d)"), "−")
CODE = (nodes.literal, nodes.FixedTextElement, nodes.math, nodes.raw)  # code, outputs, math
VERBATIM = (*CODE, nodes.table)  # and tables, for the no-break spaces


def joined(text: str) -> str:
    """``text`` with the spaces of :data:`SPACES` made no-break spaces."""
    for pattern in SPACES:
        text = pattern.sub(NO_BREAK, text)
    return text


def minus_signs(text: str) -> str:
    """``text`` with the hyphen that starts a negative number made the minus sign."""
    return MINUS[0].sub(MINUS[1], text)


def _inside(node: nodes.Node, kinds: tuple) -> bool:
    parent = node.parent
    while parent is not None:
        if isinstance(parent, kinds):
            return True
        parent = parent.parent
    return False


def join_numbers(app, doctree, docname) -> None:
    for text in list(doctree.findall(nodes.Text)):
        if text.parent is None or _inside(text, CODE):
            continue
        new = minus_signs(str(text))
        new = new if _inside(text, VERBATIM) else joined(new)
        if new != str(text):
            text.parent.replace(text, nodes.Text(new))


def setup(app):
    app.connect("doctree-resolved", join_numbers)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
