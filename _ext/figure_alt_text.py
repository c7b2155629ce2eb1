"""Every figure's image gets its caption as alternative text.

The chapters' figures are cell outputs; without this the HTML writer would give each image its file
name (a 64-character hash) as ``alt``, which is what a screen reader reads and what shows where an
image fails to load. An image that already has a real alternative text keeps it.
"""

from __future__ import annotations

import re

from docutils import nodes

FILE_NAME = re.compile(r"\.(png|jpe?g|svg|gif|webp|pdf)$", re.I)


def _caption_text(figure: nodes.figure) -> str:
    caption = next(iter(figure.findall(nodes.caption)), None)
    if caption is None:
        return ""
    text = re.sub(r"\\([A-Za-z]+)", r"\1", caption.astext())  # TeX in a caption, read as words: \Phi → Phi
    return " ".join(text.replace("{", "").replace("}", "").replace("$", "").split())


def _alt_from_captions(app, doctree, docname) -> None:
    for figure in doctree.findall(nodes.figure):
        text = _caption_text(figure)
        if not text:
            continue
        for image in figure.findall(nodes.image):
            alt = image.get("alt", "").strip()
            if not alt or FILE_NAME.search(alt) or alt == image.get("uri"):
                image["alt"] = text


def setup(app):
    app.connect("doctree-resolved", _alt_from_captions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
