"""The book's sources agree with each other, checked without executing anything: each chapter's Markdown and its
paired percent script hold the same cells, and the table of contents lists every chapter. Part of `make test-fast`."""

import pytest

from bookkit.chapters import CHAPTERS
from sgma_core.paths import repo_root

ROOT = repo_root()


@pytest.mark.parametrize("name", CHAPTERS)
def test_md_and_py_are_in_sync(name):
    import jupytext

    md = jupytext.read(ROOT / "book" / f"{name}.md")
    py_path = ROOT / "book" / f"{name}.py"
    assert py_path.is_file(), f"{py_path} missing: run jupytext --sync book/{name}.md"
    py = jupytext.read(py_path)
    cells = lambda nb: [(c.cell_type, c.source.strip()) for c in nb.cells]  # noqa: E731
    assert cells(md) == cells(py), f"book/{name}.md and .py differ: run jupytext --sync book/{name}.md"


def test_toc_lists_every_chapter():
    toc = (ROOT / "_toc.yml").read_text()
    for name in CHAPTERS:
        assert f"book/_executed/{name}" in toc
