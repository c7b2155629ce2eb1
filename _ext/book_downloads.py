"""The course guide's generated parts: the notebooks to download and the table of run times.

At the start of every build the student and executed notebooks are written to ``_build/downloads``
(``bookkit.notebooks``), where ``:download:`` links find them. Two directives:

- ``run-times``: one row per chapter, its recorded execution time on the smoke and cpu profiles
  (``book/run_times.json``, written by ``make run-times``);
- ``notebook-downloads``: one row per chapter, its student and executed notebook.
"""

from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList

DOWNLOADS = "_build/downloads"


class _Table(Directive):
    """A Markdown table parsed in place (the pages are MyST, so roles are written ``{doc}`…```)."""

    def table(self, header: list[str], rows: list[list[str]]) -> list[nodes.Node]:
        from bookkit.display import markdown_table

        lines = markdown_table(header, rows).splitlines()
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source="book_downloads"), self.content_offset, container)
        return container.children


class RunTimes(_Table):
    def run(self):
        from bookkit.display import format_seconds
        from bookkit.exercises import EXERCISE_RUNS
        from bookkit.run_times import PROFILES_TIMED, read_run_times, run_time_text
        from bookkit.sources import CHAPTERS

        env = self.state.document.settings.env
        srcdir = Path(env.srcdir)
        path = srcdir / "book" / "run_times.json"
        env.note_dependency(str(path))
        record = read_run_times(path)
        rows = [[f"{{doc}}`/book/_executed/{name}`"] + [run_time_text(name, p, record) for p in PROFILES_TIMED]
                for name in CHAPTERS]
        total = {p: sum(e["seconds"] for n, e in record["profiles"].get(p, {}).items() if n in CHAPTERS)
                 for p in PROFILES_TIMED}
        rows.append(["**the whole book**"] + [f"**{format_seconds(total[p])}**" if total[p] else "not measured yet"
                                               for p in PROFILES_TIMED])
        for label, (chapter, _) in EXERCISE_RUNS.items():
            rows.append([f"exercise `{label}` of {{doc}}`/book/_executed/{chapter}`"]
                        + [run_time_text(label, p, record) for p in PROFILES_TIMED])
        note = nodes.paragraph(text=f"Measured on {record['machine']}, each chapter from an empty runs folder; the "
                                    "exercises with the chapter's runs already stored." if "machine" in record else
                                    "Not measured yet: `make run-times` measures every chapter.")
        return self.table(["chapter"] + [f"`{p}` profile" for p in PROFILES_TIMED], rows) + [note]


class NotebookDownloads(_Table):
    def run(self):
        from bookkit.sources import CHAPTERS

        srcdir = Path(self.state.document.settings.env.srcdir)
        rows = []
        for name in CHAPTERS:
            executed = srcdir / DOWNLOADS / "executed" / f"{name}.ipynb"
            rows.append([f"{{doc}}`/book/_executed/{name}`",
                         f"{{download}}`{name}.ipynb </{DOWNLOADS}/student/{name}.ipynb>`",
                         f"{{download}}`{name}.ipynb </{DOWNLOADS}/executed/{name}.ipynb>`" if executed.is_file()
                         else "not executed yet"])
        rows.append(["**all chapters**",
                     f"{{download}}`student notebooks (zip) </{DOWNLOADS}/sgma-student-notebooks.zip>`",
                     f"{{download}}`executed notebooks (zip) </{DOWNLOADS}/sgma-executed-notebooks.zip>`"])
        return self.table(["chapter", "student (no outputs, no solutions)", "executed (instructor)"], rows)


def write_downloads(app) -> None:
    from bookkit.notebooks import write_downloads as write

    srcdir = Path(app.srcdir)
    write(srcdir / DOWNLOADS, srcdir / "book" / "_executed")


def setup(app):
    app.connect("builder-inited", write_downloads)
    app.add_directive("run-times", RunTimes)
    app.add_directive("notebook-downloads", NotebookDownloads)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
