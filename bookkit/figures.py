"""How the book draws its figures: one style, at most 6.6 inches wide, text no smaller than 9 pt.

The book's column is about 6.7 inches wide at 100 dpi, so a figure drawn at most that wide is shown
at its own size and its 9-10 pt text stays 9-10 pt on the page; a wider figure is shrunk, text and
all. Every chapter draws through :func:`subplots`::

    fig, axes = subplots(1, 3, height=2.6)   # 6.6 × 2.6 inches, the book's fonts

Every chapter that draws imports this module in its kernel, which on import takes the lower priority its runner
passed on (``$SGMA_NICENESS``, :func:`sgma_core.child_processes.adopt_niceness`), as Jupyter starts each
kernel in a session of its own, whose scheduling group Linux weighs apart from the runner's.
"""

from __future__ import annotations

import matplotlib.pyplot as plt

from sgma_core import child_processes

child_processes.adopt_niceness()  # a chapter run beside a heavier one yields the core to it (make book)

MAX_WIDTH = 6.6  # inches: the book's column is 672 px at 1280 px, 6.7 inches at 100 dpi
DPI = 100
MIN_FONT = 9.0  # points
STYLE = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "font.size": 10.0,
    "axes.titlesize": 10.0,
    "axes.labelsize": 10.0,
    "xtick.labelsize": MIN_FONT,
    "ytick.labelsize": MIN_FONT,
    "legend.fontsize": MIN_FONT,
    "legend.title_fontsize": MIN_FONT,
    "figure.titlesize": 10.0,
}


def book_style() -> None:
    """Set the book's fonts and resolution for every figure drawn after it; in a notebook, figures are
    sent at twice their size in pixels and shown at their size (sharp on high-density screens)."""
    plt.rcParams.update(STYLE)
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # outside IPython there is no inline backend to set
        return
    if get_ipython() is not None:
        set_matplotlib_formats("retina")


def subplots(nrows: int = 1, ncols: int = 1, width: float = MAX_WIDTH, height: float = 3.0, **kwargs):
    """``plt.subplots`` in the book's style, ``width`` × ``height`` inches (``width`` ≤ 6.6)."""
    if not 0 < width <= MAX_WIDTH:
        raise ValueError(f"width={width}: the book's figures are at most {MAX_WIDTH} inches wide (its column), "
                         "so that their text is not shrunk; draw fewer panels per row instead.")
    book_style()
    return plt.subplots(nrows, ncols, figsize=(width, height), **kwargs)


def small_fonts(fig) -> list[tuple[str, float]]:
    """The texts of ``fig`` drawn smaller than :data:`MIN_FONT` (visible, non-empty): ``(text, size)``."""
    small = []
    for text in fig.findobj(lambda a: hasattr(a, "get_fontsize") and hasattr(a, "get_text")):
        if text.get_visible() and text.get_text().strip() and text.get_fontsize() < MIN_FONT:
            small.append((text.get_text(), float(text.get_fontsize())))
    return small
