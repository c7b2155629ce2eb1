"""Every figure of the book is drawn at most the column's width, with text of 9 pt or more."""

import re

import matplotlib
import pytest

from bookkit.figures import MAX_WIDTH, MIN_FONT, small_fonts, subplots
from bookkit.sources import BOOK, CHAPTERS

matplotlib.use("Agg")


def test_subplots_refuses_a_figure_wider_than_the_column():
    with pytest.raises(ValueError, match="at most 6.6 inches"):
        subplots(1, 3, width=10)
    fig, axes = subplots(1, 2, height=2)
    assert tuple(fig.get_size_inches()) == (MAX_WIDTH, 2)


def test_small_fonts_finds_text_under_9_pt():
    fig, ax = subplots()
    ax.set_title("readable")
    ax.set_xlabel("too small", fontsize=7)
    assert small_fonts(fig) == [("too small", 7.0)]
    fig, ax = subplots()  # the book's style alone: every text at 9 pt or more, ticks and legend included
    ax.plot([1, 2], label="a line")
    ax.set_xlabel("fine")
    ax.legend()
    fig.canvas.draw()
    assert small_fonts(fig) == []


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapters_draw_through_the_book_style(name):
    source = (BOOK / f"{name}.md").read_text(encoding="utf-8")
    assert "plt.subplots(" not in source and "figsize=" not in source, f"{name}: use bookkit.figures.subplots"
    small = [m for m in re.findall(r"(?:fontsize|labelsize)=(\d+(?:\.\d+)?)", source) if float(m) < MIN_FONT]
    assert not small, f"{name}: font sizes under {MIN_FONT} pt: {small}"
    widths = [float(w) for w in re.findall(r"subplots\([^)]*width=(\d+(?:\.\d+)?)", source)]
    assert all(w <= MAX_WIDTH for w in widths)
