"""The notebooks a reader downloads: the *student* form of each chapter (unexecuted, exercises kept,
solutions removed) and the *executed* form the book renders (outputs and solutions included).

    python -m bookkit.notebooks --out _build/downloads       # student/, executed/ and two zip files

Both forms are plain Jupyter Markdown (:mod:`bookkit.plain_markdown`). A student notebook starts with a
set-up cell for Colab, loses every ``{solution}`` block, and shows each computed sentence, filled in, in a
folded cell when it runs; the executed form has the glued values written into its text.

The tool deletes only what it wrote: every folder it makes holds a stamp, ``.sgma-notebooks``, naming each
file it wrote with its sha256; a folder without it, or with a file it does not vouch for, is refused.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from bookkit.display import GLUE_ROLE, fill_glued, glued_values
from bookkit.plain_markdown import plain_markdown
from bookkit.publish import colab_setup, repository_from_environment
from bookkit.sources import BOOK, CHAPTERS
from sgma_core.cli import add_debug_flag, command
from sgma_core.files import save_atomically
from sgma_core.records import write_record

STAMP = ".sgma-notebooks"
TOOL = "python -m bookkit.notebooks"
STUDENT_NOTE = ("*Student notebook: run the cells from the top (Kernel → Restart & Run All), inside a checkout of "
                "the book after `make venv`, or on Colab, where the next cell installs it. The exercises are at "
                "the end; their solutions are in the book and in the instructor's (executed) notebooks.*")


class DownloadsError(ValueError):
    """The downloads cannot be written without deleting someone's files, or there is nothing to write."""


def student_markdown(text: str) -> str:
    """A chapter's Markdown for Jupyter: solutions removed, everything MyST as plain Markdown, glued values
    named (the run shows them, :func:`computed_cell`)."""
    return fill_glued(plain_markdown(text, solutions=False, keep_glue=True), {})


def computed_sentences(markdown: str) -> list[str]:
    """The paragraphs of plain Markdown (a blank line, or a blank line of a blockquote, ends one) that hold a
    ``{glue:text}`` role: the sentences a run of the notebook computes."""
    return [p.strip("\n") for p in re.split(r"\n[ \t]*>?[ \t]*\n", markdown) if GLUE_ROLE.search(p)]


def computed_cell(sentences: list[str]):
    """A folded code cell that shows ``sentences`` with their glued values when the notebook runs: at once if
    they are computed, otherwise below the cell that computes them (:func:`bookkit.display.show_computed`)."""
    import nbformat

    source = "from bookkit.display import show_computed\n\nshow_computed(\n" + \
        "".join(f"    {s!r},\n" for s in sentences) + ")"
    return nbformat.v4.new_code_cell(source, metadata={"jupyter": {"source_hidden": True},
                                                       "tags": ["computed-sentences"]})


def instructor_notebook(path: Path):
    """The executed chapter at ``path`` with its Markdown in plain Jupyter Markdown: solutions kept, glued
    values written in."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    glued = glued_values(nb)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = plain_markdown(cell.source, solutions=True, glued=glued)
        for output in cell.get("outputs", []):  # the chapters' tables and boxes, shown as Markdown
            data = output.get("data", {})
            if "text/markdown" in data:
                text = data["text/markdown"]
                data["text/markdown"] = plain_markdown("".join(text) if isinstance(text, list) else text,
                                                       solutions=True, glued=glued)
    return nb


def student_notebook(name: str):
    """The student form of chapter ``name`` (an ``nbformat`` notebook without outputs)."""
    import jupytext
    import nbformat

    nb = jupytext.read(BOOK / f"{name}.md")
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            cell.outputs, cell.execution_count = [], None
            cells.append(cell)
            continue
        markdown = plain_markdown(cell.source, solutions=False, keep_glue=True)
        cell.source = fill_glued(markdown, {})
        if cell.source.strip():
            cells.append(cell)
        sentences = computed_sentences(markdown)
        if sentences:  # the glued values, which the text above only names, shown when the notebook runs
            cells.append(computed_cell(sentences))
    nb.cells = cells
    kind, setup = colab_setup(repository_from_environment())
    nb.cells[:0] = [nbformat.v4.new_markdown_cell(STUDENT_NOTE),
                    nbformat.v4.new_code_cell(setup) if kind == "code" else nbformat.v4.new_markdown_cell(setup)]
    nb.metadata.pop("jupytext", None)
    return nb


def _zip(folder: Path, archive: Path) -> None:
    notebooks = sorted(folder.glob("*.ipynb"))
    if not notebooks:  # an empty zip linked from the course guide would look like a download that worked
        raise DownloadsError(f"{folder} holds no notebook, so {archive.name} would be empty; nothing was zipped.")

    def write(partial: Path) -> None:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as z:
            for path in notebooks:
                z.write(path, f"{folder.name}/{path.name}")

    save_atomically(archive, write)  # a half-written zip is removed, never the one in place


# ---- what this tool may replace: only what carries its stamp ----------------------------------------------
def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_stamp(folder: Path) -> dict[str, str] | None:
    """``{file name: sha256}`` of what this tool wrote into ``folder``; ``None`` where it has no (readable) stamp."""
    try:
        stamp = json.loads((folder / STAMP).read_text(encoding="utf-8"))
        files = stamp["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return files if isinstance(files, dict) else None


def _write_stamp(folder: Path, names: list[str]) -> None:
    files = {name: _digest(folder / name) for name in sorted(names)}
    write_record(folder / STAMP, {"written_by": TOOL, "files": files})


def _check_replaceable(folder: Path) -> None:
    """Refuse, before anything is deleted, a ``folder`` that holds files this tool did not write."""
    if not folder.exists() and not folder.is_symlink():
        return
    if folder.is_symlink() or not folder.is_dir():
        raise DownloadsError(f"{folder} is not a folder this tool made; nothing was deleted. Move it elsewhere "
                             "(or give another --out) and run again.")
    files = _read_stamp(folder)
    if files is None:
        raise DownloadsError(f"{folder} exists but was not made by `{TOOL}` (it has no {STAMP} stamp), so it may hold "
                             "someone's files; nothing was deleted. Move it elsewhere (or delete it yourself, if it "
                             "is only an old build) and run again, or give another --out.")
    foreign = _foreign(folder, files, {p.name for p in folder.iterdir()} - {STAMP})
    if foreign:
        raise DownloadsError(f"{folder} holds files `{TOOL}` did not write or that were changed since: "
                             f"{', '.join(foreign)}; nothing was deleted. Move them out of {folder} and run again.")


def _foreign(folder: Path, files: dict[str, str], names: set[str]) -> list[str]:
    """Which of ``names`` in ``folder`` the stamp ``files`` does not vouch for (unknown, changed, or a folder)."""
    return sorted(n for n in names if n not in files or not (folder / n).is_file() or (folder / n).is_symlink()
                  or _digest(folder / n) != files[n])


def _remove_own(folder: Path) -> None:
    """Delete ``folder``, which :func:`_check_replaceable` found to hold only what this tool wrote."""
    if folder.is_dir():
        for name in _read_stamp(folder) or {}:
            (folder / name).unlink(missing_ok=True)
        (folder / STAMP).unlink()
        folder.rmdir()  # fails, rather than deletes, if anything appeared since the check


def _replace_folder(folder: Path, write: Callable[[Path], None]) -> None:
    """Write the new ``folder`` into a hidden sibling, stamp it, then put it in place of the old one."""
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", suffix=".partial", dir=folder.parent))
    try:
        os.chmod(staging, 0o755)  # mkdtemp's 0700 would make the downloads unreadable to a web server's user
        write(staging)
        names = [p.name for p in staging.iterdir()]
        if not names:
            raise DownloadsError(f"nothing was written for {folder}; the folder was left as it was.")
        _write_stamp(staging, names)
        _remove_own(folder)
        os.rename(staging, folder)
    finally:
        if staging.exists():  # made by this run, so it is this run's to remove
            shutil.rmtree(staging)


def _executed_chapters(executed: Path, replaced: list[Path]) -> list[str]:
    """The chapters of which ``executed`` holds a notebook; an error if none, or if ``executed`` is to be replaced."""
    for folder in replaced:
        where = folder.resolve()
        if executed.resolve() == where or where in executed.resolve().parents:
            raise DownloadsError(f"--executed {executed} is inside {folder}, which this tool deletes and writes "
                                 "again; nothing was deleted. Give the folder the chapters were executed into "
                                 f"(by default {BOOK / '_executed'}), outside --out.")
    if not executed.is_dir():
        raise DownloadsError(f"--executed {executed} is not a folder; execute the chapters first (`make chapters`, "
                             f"or python -m bookkit.chapters --all --out {executed}) "
                             "or give the folder that holds them.")
    found = [name for name in CHAPTERS if (executed / f"{name}.ipynb").is_file()]
    if not found:
        raise DownloadsError(f"--executed {executed} holds no executed chapter (<chapter>.ipynb for "
                             f"{', '.join(CHAPTERS)}); execute them first (`make chapters`) or give the folder "
                             "that holds them.")
    return found


def _check_out(out: Path, folders: list[Path], archives: list[Path]) -> None:
    """Refuse an ``out`` whose folders or zip files this tool may not replace, before anything is changed."""
    if out.exists() and not out.is_dir():
        raise DownloadsError(f"--out {out} is a file; give a folder (it is made if missing).")
    for folder in folders:
        _check_replaceable(folder)
    present = {a.name for a in archives if a.exists() or a.is_symlink()}
    foreign = _foreign(out, _read_stamp(out) or {}, present) if present else []
    if foreign:
        raise DownloadsError(f"{', '.join(str(out / n) for n in foreign)} was not written by `{TOOL}` (or was changed "
                             "since); nothing was deleted. Move it elsewhere and run again, or give another --out.")


def write_downloads(out: str | Path, executed: str | Path = BOOK / "_executed") -> dict[str, Path]:
    """``out/student/<chapter>.ipynb``, ``out/executed/<chapter>.ipynb`` (those in ``executed``) and a zip of each
    folder; returns ``{"student": zip, "executed": zip}``.

    Each folder it makes carries a stamp (``.sgma-notebooks``: the files it wrote and their sha256), and a
    later run replaces only a folder or zip file that the stamp vouches for; anything else is refused with
    a :class:`DownloadsError` before a file is deleted."""
    import nbformat

    out, executed = Path(out), Path(executed)
    folders = {"student": out / "student", "executed": out / "executed"}
    archives = {kind: out / f"sgma-{kind}-notebooks.zip" for kind in folders}
    chapters = _executed_chapters(executed, list(folders.values()))
    _check_out(out, list(folders.values()), list(archives.values()))
    out.mkdir(parents=True, exist_ok=True)

    def students(folder: Path) -> None:
        for name in CHAPTERS:
            nbformat.write(student_notebook(name), folder / f"{name}.ipynb")

    def instructors(folder: Path) -> None:
        for name in chapters:
            nbformat.write(instructor_notebook(executed / f"{name}.ipynb"), folder / f"{name}.ipynb")

    _replace_folder(folders["student"], students)
    _replace_folder(folders["executed"], instructors)
    for kind, folder in folders.items():
        _zip(folder, archives[kind])
    _write_stamp(out, [a.name for a in archives.values()])
    return archives


@command
def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bookkit.notebooks", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="_build/downloads", help="folder for student/, executed/ and the zip files")
    p.add_argument("--executed", default=str(BOOK / "_executed"), help="folder of the executed chapters")
    add_debug_flag(p)
    args = p.parse_args(argv)
    for kind, path in write_downloads(args.out, args.executed).items():
        print(f"{kind}: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
