"""Folded code cells in the single-page build (``make pdf``).

MyST-NB registers how to write its folded-input node for the ``html`` builder only; with
sphinx-exercise loaded, the ``singlehtml`` builder then stops at the first ``hide-input`` cell
("unknown node type: HideCodeCellNode"). This registers MyST-NB's own visitor for ``singlehtml`` too.
"""

from myst_nb.sphinx_ import HideCodeCellNode, depart_HideCellInput, visit_HideCellInput


def setup(app):
    app.add_node(HideCodeCellNode, override=True, html=(visit_HideCellInput, depart_HideCellInput),
                 singlehtml=(visit_HideCellInput, depart_HideCellInput))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
