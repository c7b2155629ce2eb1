"""Number the book's labelled equations as the paper does.

A labelled display equation that carries ``\\tag{N}`` (the paper's number) gets ``N`` as its
Sphinx number, so that its label on the page and every ``{eq}`` reference to it, from any
chapter, read "(N)"; the ``\\tag`` is taken out of the LaTeX, so that MathJax does not draw a
second number. Sphinx would otherwise count the labelled equations of the whole book 1, 2, 3, …
Needs ``math_numfig: false`` (the numbers are not the table of contents').
"""

from __future__ import annotations

import re

from docutils import nodes

TAG = re.compile(r"\\tag\{([^}]*)\}")


def _paper_numbers(app, doctree) -> None:
    domain = app.env.get_domain("math")
    for node in doctree.findall(nodes.math_block):
        found = TAG.search(node.astext())
        if not found or not node.get("label"):
            continue
        number = found.group(1)
        node["number"] = number
        node.rawsource = TAG.sub("", node.rawsource).rstrip()
        for child in list(node.children):  # the text MathJax typesets
            if isinstance(child, nodes.Text):
                node.replace(child, nodes.Text(TAG.sub("", str(child)).rstrip()))
        domain.equations[node["label"]] = (app.env.docname, number)


def setup(app):
    app.connect("doctree-read", _paper_numbers)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
