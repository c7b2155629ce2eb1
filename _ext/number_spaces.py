"""No line breaks inside a number with its unit or its error: "81.9 %", "3.2 ± 0.6", "8 × 8"; and a minus sign,
not a hyphen, before a negative number: "−0.4".

The book writes a space before "%" and around "±" and "×"; a browser may break the line at any of them, leaving
"%" or "± 0.6" alone at the start of a line. In the running text of every page (not in tables, whose cells wrap
where they can, nor in code, code outputs or math) those spaces become no-break spaces. Python's formats write a
negative number with a hyphen ("-0.4"); in text and tables alike (not in code, outputs or math) a hyphen that
starts a number, after a space, a bracket or the start of a text, becomes the minus sign.

An identifier set as code in a table's cell (`attention_norm`, `sgma_core.losses`) may break after an underscore
or a dot, as a reader splits it, rather than between any two letters where the column is narrow (sgma.css lets it
break anywhere only as a last resort): an HTML ``<wbr>`` goes after each, which copying leaves out.
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


BREAK_AFTER = re.compile(r"(?<=_)(?=\w)|(?<=\.)(?=[^\W\d])")  # after "_" in a name, after "." before a letter


def identifier_breaks(app, doctree, docname) -> None:
    """In each table, every code span's text is cut after its underscores and dots, with ``<wbr>`` at each cut."""
    for table in doctree.findall(nodes.table):
        for literal in list(table.findall(nodes.literal)):
            for text in [t for t in literal.children if isinstance(t, nodes.Text)]:
                pieces = BREAK_AFTER.split(str(text))
                if len(pieces) == 1:
                    continue
                new = [nodes.Text(pieces[0])]
                for piece in pieces[1:]:
                    new += [nodes.raw("", "<wbr>", format="html"), nodes.Text(piece)]
                index = literal.index(text)
                literal[index:index + 1] = new


def setup(app):
    app.connect("doctree-resolved", join_numbers)
    app.connect("doctree-resolved", identifier_breaks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
