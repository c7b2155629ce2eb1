"""The chapters' MyST Markdown as plain Jupyter Markdown, for the notebooks a reader downloads.

Jupyter, VS Code, Colab and GitHub show MyST roles and directives as source; here each becomes what they show:

- a labelled ``{math}`` block → ``$$ … \\tag{N} $$`` (the paper's number stays), ``{eq}`label``` → "(N)";
- ``{cite}`key``` → "([Zhu et al., 2019](link))", from ``references.bib``;
- ``{doc}`` / ``{ref}`` → a link to the chapter's notebook (the downloads sit side by side) or, for a page that is
  not a chapter, its title; ``{numref}`` → "the figure …" from its caption;
- ``{admonition}`` → a blockquote, ``{exercise}`` → a heading, ``{solution}`` → removed (student) or a
  "Solution" paragraph (instructor), ``{literalinclude}`` → the code itself, read from the library;
- ``{glue:text}`` → the value the executed notebook glued, or a placeholder where it has not run.

:func:`book_index` reads what the conversion needs from the sources once; :func:`plain_markdown` converts one
cell. :data:`MYST_LEFT` finds anything MyST that is left (the tests use it).
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass, field
from functools import lru_cache

from bookkit.display import fill_glued
from bookkit.sources import BOOK, CHAPTERS

ROOT = BOOK.parent
MYST_LEFT = re.compile(r"\{[a-z][a-z0-9:_-]*\}`|^\s*[`:]{3,}\{[a-z]|^\([A-Za-z0-9_-]+\)=\s*$", re.M)

SOLUTION = re.compile(r"^(?P<fence>`{4,})\{solution\}[^\n]*\n(?P<options>(?::[^\n]*\n)*)(?P<body>.*?)"
                      r"^(?P=fence)[ \t]*$\n?", re.M | re.S)
EXERCISE = re.compile(r"^(`{4,})\{exercise\}[ \t]*(?P<title>[^\n]*)\n(?P<options>(?::[^\n]*\n)*)(?P<body>.*?)"
                      r"^\1[ \t]*$", re.M | re.S)
ADMONITION = re.compile(r"^(?P<fence>```|:::)\{admonition\}[ \t]*(?P<title>[^\n]*)\n(?P<options>(?::[^\n]*\n)*)"
                        r"(?P<body>.*?)^(?P=fence)[ \t]*$", re.M | re.S)
CONTAINER = re.compile(r"^```\{container\}[^\n]*\n(?::[^\n]*\n)*(?P<body>.*?)^```[ \t]*$", re.M | re.S)
MATH = re.compile(r"^```\{math\}[ \t]*\n(?P<options>(?::[^\n]*\n)*)(?P<body>.*?)^```[ \t]*$", re.M | re.S)
LITERALINCLUDE = re.compile(r"^```\{literalinclude\}[ \t]*/?(?P<path>\S+)\n(?P<options>(?::[^\n]*\n)*)```[ \t]*$", re.M)
TARGET = re.compile(r"^\((?P<label>[A-Za-z0-9_-]+)\)=[ \t]*$", re.M)
ROLE = re.compile(r"\{(?P<role>[a-z][a-z0-9:_-]*)\}`(?P<content>[^`]*)`")
TITLED = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.S)


@dataclass
class BookIndex:
    """What a conversion looks up: chapter titles, section labels, equation numbers, figure captions and
    the bibliography."""

    titles: dict[str, str] = field(default_factory=dict)  # "04_sgma_training" or "course_guide" → its title
    sections: dict[str, tuple[str, str]] = field(default_factory=dict)  # label → (page, heading)
    equations: dict[str, str] = field(default_factory=dict)  # label → the paper's number
    figures: dict[str, str] = field(default_factory=dict)  # figure name → the caption's first words
    citations: dict[str, tuple[str, str]] = field(default_factory=dict)  # key → ("Zhu et al., 2019", url)


def _first_heading(text: str) -> str:
    found = re.search(r"^# (.+)$", text, re.M)
    return found.group(1).strip() if found else ""


def _bib_entries(text: str) -> dict[str, tuple[str, str]]:
    out = {}
    for entry in re.split(r"(?m)^@", text)[1:]:
        key = entry.split("{", 1)[1].split(",", 1)[0].strip()
        fields = dict((k.lower(), v) for k, v in re.findall(r"^\s*(\w+)\s*=\s*\{(.*)\},?\s*$", entry, re.M))
        authors = [a.strip() for a in fields.get("author", "").split(" and ")]
        names = [a.split(",")[0] if "," in a else a.split()[-1] for a in authors if a]
        names = [n.strip("{}") for n in names]
        who = names[0] if len(names) == 1 else " and ".join(names) if len(names) == 2 else f"{names[0]} et al."
        link = fields.get("url") or (f"https://doi.org/{fields['doi']}" if "doi" in fields else "")
        out[key] = (f"{who}, {fields.get('year', 'n.d.')}", link)
    return out


@lru_cache(maxsize=1)
def book_index() -> BookIndex:
    index = BookIndex()
    pages = {name: BOOK / f"{name}.md" for name in CHAPTERS}
    pages.update({p.stem: p for p in BOOK.glob("*.md") if not p.stem[:2].isdigit()})
    for page, path in pages.items():
        text = path.read_text(encoding="utf-8")
        index.titles[page] = _first_heading(text)
        for m in re.finditer(r"^\(([A-Za-z0-9_-]+)\)=[ \t]*\n+(#+) (.+)$", text, re.M):
            index.sections[m.group(1)] = (page, m.group(3).strip())
        for m in MATH.finditer(text):
            label, tag = re.search(r":label:\s*(\S+)", m["options"]), re.search(r"\\tag\{([^}]*)\}", m["body"])
            if label and tag:
                index.equations[label.group(1)] = tag.group(1)
        for m in re.finditer(r"name: (\S+)\n\s+caption: '?(.+?)[.:;(']", text):
            index.figures[m.group(1)] = m.group(2).strip()
    index.citations = _bib_entries((ROOT / "references.bib").read_text(encoding="utf-8"))
    return index


def _page_link(page: str, text: str | None, index: BookIndex, anchor: str = "") -> str:
    text = text or index.titles.get(page, page)
    if page in CHAPTERS:
        return f"[{text}]({page}.ipynb{anchor})"
    return f"{text} (a page of the book)" if page not in ("glossary", "references", "course_guide") else text


def _role(m: re.Match, index: BookIndex, glued: dict[str, str] | None, keep_glue: bool = False) -> str:
    role, content = m["role"], m["content"]
    titled = TITLED.match(content)
    text, target = (titled["text"], titled["target"]) if titled else (None, content)
    if role == "cite":
        cites = [index.citations.get(k.strip(), (k.strip(), "")) for k in target.split(",")]
        return "(" + "; ".join(f"[{who}]({url})" if url else who for who, url in cites) + ")"
    if role == "eq":
        return f"({index.equations.get(target, target)})"
    if role == "doc":
        return _page_link(target.strip("/").removeprefix("book/").removeprefix("_executed/"), text, index)
    if role == "ref":
        page, heading = index.sections.get(target, ("", target))
        anchor = "#" + heading.replace(" ", "-") if page else ""
        return _page_link(page, text or heading, index, anchor) if page else (text or heading)
    if role == "numref":
        return f"the figure \"{index.figures.get(target, target)}\""
    if role == "glue:text":
        return m[0] if keep_glue else fill_glued(m[0], glued or {})
    return text or target


def python_object_source(path: str, obj: str) -> str:
    """The source of ``obj`` (``function``, ``Class`` or ``Class.method``) in ``path`` under the repository."""
    source = (ROOT / path).read_text(encoding="utf-8")
    body = ast.parse(source).body
    node = None
    for part in obj.split("."):
        node = next((n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                     and n.name == part), None)
        if node is None:
            raise LookupError(f"{path} has no {obj}: the chapter's literalinclude names something that is not there")
        body = node.body
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return textwrap.dedent("\n".join(source.splitlines()[first - 1:node.end_lineno]))


def _include(m: re.Match) -> str:
    obj = re.search(r":pyobject:[ \t]*(\S+)", m["options"])
    code = python_object_source(m["path"], obj.group(1)) if obj else (ROOT / m["path"]).read_text(encoding="utf-8")
    where = f"`{obj.group(1)}` in `{m['path']}`" if obj else f"`{m['path']}`"
    return f"*From {where}:*\n\n```python\n{code.rstrip()}\n```"


def _admonition(m: re.Match) -> str:
    """A box as a blockquote; a folded one (``:class: dropdown``) as HTML details, which Jupyter folds too."""
    if re.search(r":class:[^\n]*\bdropdown\b", m["options"]):
        return f"<details><summary>{m['title'].strip()}</summary>\n\n{m['body'].strip()}\n\n</details>"
    return _blockquote(m["title"], m["body"])


def _blockquote(title: str, body: str) -> str:
    lines = ["> **" + title.strip() + "**", ">"] if title.strip() else []
    return "\n".join(lines + ["> " + line if line else ">" for line in body.strip().splitlines()])


def plain_markdown(text: str, *, solutions: bool, glued: dict[str, str] | None = None,
                   index: BookIndex | None = None, keep_glue: bool = False) -> str:
    """One Markdown cell in plain Jupyter Markdown; ``solutions`` keeps the exercises' solutions (the
    instructor's notebook), ``glued`` gives the values the executed notebook glued, and ``keep_glue`` leaves
    every ``{glue:text}`` role as it is (for :func:`bookkit.display.fill_glued` to fill when the values exist)."""
    index = index or book_index()

    def solution(m: re.Match) -> str:
        return f"**Solution.**\n\n{m['body'].strip()}\n" if solutions else ""

    def exercise(m: re.Match) -> str:
        label = re.search(r":label:[ \t]*(\S+)", m["options"])
        tag = f" <a id=\"{label.group(1)}\"></a>" if label else ""
        return f"### Exercise: {m['title'].strip()}{tag}\n\n{m['body'].strip()}\n"

    text = SOLUTION.sub(solution, text)
    text = EXERCISE.sub(exercise, text)
    text = LITERALINCLUDE.sub(_include, text)
    text = MATH.sub(lambda m: f"$$\n{m['body'].strip()}\n$$", text)
    text = CONTAINER.sub(lambda m: m["body"].strip(), text)
    text = ADMONITION.sub(_admonition, text)
    text = TARGET.sub(lambda m: f'<a id="{m["label"]}"></a>', text)
    return ROLE.sub(lambda m: _role(m, index, glued, keep_glue), text)
