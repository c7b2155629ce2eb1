"""The book's sources agree with each other, checked without executing anything: each chapter's Markdown and its
paired percent script hold the same cells, the chapters are those the table of contents lists, and every parameter a
chapter declares has its type declared once. Part of `make test-fast`."""

from pathlib import Path

import pytest

from bookkit.sources import CHAPTER_SETTINGS, CHAPTERS, TRAINING_PARAMETERS, declared_parameters, toc_chapters
from sgma_core.paths import repo_root
from sgma_core.profiles import check_setting

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


def test_the_toc_lists_every_chapter_of_the_book_folder():
    assert CHAPTERS == sorted(p.stem for p in (ROOT / "book").glob("[0-9][0-9]_*.md"))


def _toc(folder: Path, *entries: str) -> Path:
    toc = folder / "_toc.yml"
    toc.write_text("format: jb-book\nroot: book/_executed/00_a\nchapters:\n"
                   + "".join(f"  - file: {entry}\n" for entry in entries))
    return toc


def test_adding_or_removing_a_chapter_in_the_toc_changes_the_chapters(tmp_path):
    (tmp_path / "book").mkdir()
    for name in ("00_a", "01_b", "02_c", "guide"):
        (tmp_path / "book" / f"{name}.md").write_text("")
    assert toc_chapters(_toc(tmp_path, "book/_executed/01_b", "book/guide")) == ["00_a", "01_b"]
    assert toc_chapters(_toc(tmp_path, "book/_executed/01_b", "book/_executed/02_c", "book/guide")) == \
        ["00_a", "01_b", "02_c"]
    assert toc_chapters(_toc(tmp_path, "book/_executed/02_c")) == ["00_a", "02_c"]


@pytest.mark.parametrize("entry, missing", [("book/_executed/03_gone", "book/03_gone.md"), ("book/gone", "book/gone")])
def test_a_toc_entry_whose_file_does_not_exist_is_named(tmp_path, entry, missing):
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "00_a.md").write_text("")
    with pytest.raises(ValueError, match=rf"_toc.yml lists {entry}, but .*{missing} does not exist"):
        toc_chapters(_toc(tmp_path, entry))


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_chapter_parameter_is_declared_once_and_its_default_passes_the_check(name):
    for key, default in declared_parameters(name).items():
        assert key in TRAINING_PARAMETERS or key in CHAPTER_SETTINGS, \
            f"{name} declares {key!r}: declare its type in bookkit.sources.CHAPTER_SETTINGS"
        if key in CHAPTER_SETTINGS:
            assert check_setting(key, default, *CHAPTER_SETTINGS[key]) == default


def test_every_declared_chapter_setting_is_a_parameter_of_a_chapter():
    assert set(CHAPTER_SETTINGS) <= {key for name in CHAPTERS for key in declared_parameters(name)}


@pytest.mark.parametrize("name", CHAPTERS)
def test_papermill_reads_every_parameter_with_its_help(name):
    """papermill --help-notebook lists a chapter's parameters from their lines (name = value  # help); a line it
    cannot read (an "=" in the comment, say) drops the parameter from that list with a warning in every run."""
    import jupytext
    from papermill.translators import PythonTranslator

    cell = next((c for c in jupytext.read(ROOT / "book" / f"{name}.md").cells
                 if "parameters" in c.metadata.get("tags", [])), None)
    read = {} if cell is None else {p.name: p.help for p in PythonTranslator.inspect({"source": cell.source})}
    assert set(read) == set(declared_parameters(name))
    assert all(read.values()), f"{name}: a parameter without a # comment saying what it is"
