"""The notebooks a reader downloads: the *student* form of each chapter (unexecuted, exercises kept,
solutions removed) and the *executed* form the book renders (outputs and solutions included).

    python -m bookkit.notebooks --out _build/downloads       # student/, executed/ and two zip files

The book's build calls :func:`write_downloads` (``_ext/book_downloads.py``) and links the files from
the course guide. A student notebook is made from the chapter's MyST source with jupytext; its
Markdown keeps the exercises as plain headings that Jupyter shows, and loses every ``{solution}``
block, so no answer travels with it.
"""

from __future__ import annotations

import argparse
import re
import shutil
import zipfile
from pathlib import Path

from bookkit.chapters import BOOK, CHAPTERS
from sgma_core.cli import command

SOLUTION = re.compile(r"^(`{4,})\{solution\}.*?^\1[ \t]*$\n?", re.M | re.S)
EXERCISE = re.compile(r"^(`{4,})\{exercise\}[ \t]*(?P<title>[^\n]*)\n(?P<options>(?::[^\n]*\n)*)(?P<body>.*?)^\1[ \t]*$",
                      re.M | re.S)
ADMONITION = re.compile(r"^```\{admonition\}[ \t]*(?P<title>[^\n]*)\n(?::[^\n]*\n)*(?P<body>.*?)^```[ \t]*$", re.M | re.S)
LITERALINCLUDE = re.compile(r"^```\{literalinclude\}[ \t]*/?(?P<path>\S+)\n(?::pyobject:[ \t]*(?P<obj>\S+)\n)?(?::[^\n]*\n)*```[ \t]*$",
                            re.M)
GLUE = re.compile(r"\{glue:text\}`([^`:]+)(?::[^`]*)?`")
STUDENT_NOTE = ("*Student notebook: run the cells from the top (Kernel → Restart & Run All) inside a checkout of "
                "the book, after `make venv`. The exercises are at the end; their solutions are in the book "
                "and in the instructor's (executed) notebooks.*")


def student_markdown(text: str) -> str:
    """A chapter's Markdown for Jupyter: solutions removed, exercises and boxes as plain Markdown, glued
    values named (they appear when the notebook has run)."""
    text = SOLUTION.sub("", text)
    text = LITERALINCLUDE.sub(lambda m: f"*The code: `{m['obj']}` in `{m['path']}`.*" if m["obj"]
                              else f"*The code: `{m['path']}`.*", text)

    def exercise(m: re.Match) -> str:
        label = re.search(r":label:[ \t]*(\S+)", m["options"])
        tag = f" <a id=\"{label.group(1)}\"></a>" if label else ""
        return f"### Exercise: {m['title'].strip()}{tag}\n\n{m['body'].strip()}\n"

    text = EXERCISE.sub(exercise, text)
    text = ADMONITION.sub(lambda m: "\n".join(["> **" + m["title"].strip() + "**", ">"]
                                              + ["> " + line if line else ">" for line in m["body"].strip().splitlines()]),
                          text)
    return GLUE.sub(lambda m: f"*[{m.group(1)}, computed by this notebook]*", text)


def student_notebook(name: str):
    """The student form of chapter ``name`` (an ``nbformat`` notebook without outputs)."""
    import jupytext
    import nbformat

    nb = jupytext.read(BOOK / f"{name}.md")
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = student_markdown(cell.source)
        else:
            cell.outputs, cell.execution_count = [], None
    nb.cells = [c for c in nb.cells if c.cell_type != "markdown" or c.source.strip()]
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(STUDENT_NOTE))
    nb.metadata.pop("jupytext", None)
    return nb


def _zip(folder: Path, archive: Path) -> None:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(folder.glob("*.ipynb")):
            z.write(path, f"{folder.name}/{path.name}")


def write_downloads(out: str | Path, executed: str | Path | None = BOOK / "_executed") -> dict[str, Path]:
    """``out/student/<chapter>.ipynb``, ``out/executed/<chapter>.ipynb`` (those that exist) and a zip of each
    folder; returns ``{"student": zip, "executed": zip}``."""
    import nbformat

    out = Path(out)
    student, done = out / "student", out / "executed"
    for folder in (student, done):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    for name in CHAPTERS:
        nbformat.write(student_notebook(name), student / f"{name}.ipynb")
        if executed is not None and (Path(executed) / f"{name}.ipynb").is_file():
            shutil.copyfile(Path(executed) / f"{name}.ipynb", done / f"{name}.ipynb")
    archives = {"student": out / "sgma-student-notebooks.zip", "executed": out / "sgma-executed-notebooks.zip"}
    _zip(student, archives["student"])
    _zip(done, archives["executed"])
    return archives


@command
def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bookkit.notebooks", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="_build/downloads", help="folder for student/, executed/ and the zip files")
    p.add_argument("--executed", default=str(BOOK / "_executed"), help="folder of the executed chapters")
    args = p.parse_args(argv)
    for kind, path in write_downloads(args.out, args.executed).items():
        print(f"{kind}: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
