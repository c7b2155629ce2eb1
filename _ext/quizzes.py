"""The course guide's quizzes: ``{quiz} N`` lists session N's questions from ``book/quizzes.yml``.

The answers are for the instructor only: they are rendered in the single-page build that ``make pdf``
prints, inside a box of class ``solution`` (so the student PDF, which hides solutions, hides them too),
and never in the HTML book.
"""

from __future__ import annotations

from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive


class QuizError(ValueError):
    """book/quizzes.yml does not hold what the course guide asks for."""


def read_quizzes(path: Path) -> dict[int, list[dict[str, str]]]:
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise QuizError(f"{path}: expected a mapping from session number to a list of questions")
    for session, items in data.items():
        if not isinstance(items, list) or not all(isinstance(i, dict) and {"q", "a"} <= set(i) for i in items):
            raise QuizError(f"{path}: session {session} must be a list of {{q: question, a: answer}}")
    return data


def _list(texts: list[str], state, offset) -> nodes.enumerated_list:
    listing = nodes.enumerated_list(enumtype="arabic", prefix="", suffix=".")
    for text in texts:
        item = nodes.list_item()
        paragraph = nodes.paragraph()
        paragraph += state.inline_text(text, offset)[0]
        item += paragraph
        listing += item
    return listing


class Quiz(Directive):
    required_arguments = 1

    def run(self):
        env = self.state.document.settings.env
        path = Path(env.srcdir) / "book" / "quizzes.yml"
        env.note_dependency(str(path))
        session = int(self.arguments[0])
        items = read_quizzes(path).get(session)
        if not items:
            raise self.error(f"{path} has no quiz for session {session}")
        box = nodes.container(classes=["solution", "quiz-answers"])  # removed on writing, but for the printed book
        title = nodes.paragraph()
        title += nodes.strong(text=f"Answers to the session {session} quiz")
        box += title
        box += _list([i["a"] for i in items], self.state, self.lineno)
        return [_list([i["q"] for i in items], self.state, self.lineno), box]


def _answers_only_in_print(app, doctree, docname) -> None:
    """Every builder but the single page that ``make pdf`` prints loses the answers (the doctree read from
    the cache is the same for every builder; this runs on writing)."""
    if app.builder.name == "singlehtml":
        return
    for node in list(doctree.findall(lambda n: isinstance(n, nodes.container) and "quiz-answers" in n["classes"])):
        node.parent.remove(node)


def setup(app):
    app.add_directive("quiz", Quiz)
    app.connect("doctree-resolved", _answers_only_in_print)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
