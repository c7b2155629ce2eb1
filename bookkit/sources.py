"""The book's chapters and their sources, read without executing anything: the list of chapters, taken from
``_toc.yml``; each chapter's MyST source ``book/<name>.md`` and its paired percent script ``book/<name>.py``;
the parameters its ``parameters`` cell declares, and what a parameter that is not a run's setting may be.

A chapter is a toc entry rendered from an executed notebook, ``book/_executed/<name>``, whose source is
``book/<name>.md``; the other entries (the course guide, the set-up page) are pages, not chapters. Adding a
chapter to the book is adding it to ``_toc.yml``.
"""

from __future__ import annotations

import ast
import difflib
import re
from pathlib import Path
from typing import Literal

import yaml

from sgma_core.lite0 import LITE0_LAYERS
from sgma_core.paths import repo_root

BOOK = repo_root() / "book"
TOC = repo_root() / "_toc.yml"
EXECUTED = "book/_executed/"  # where the toc's chapters are rendered from (bookkit.chapters writes them)
PAGE_SUFFIXES = (".md", ".ipynb", ".rst")


def _toc_entries(node) -> list[str]:
    """The ``root`` and every ``file`` entry of a table of contents (or a part of one), in order."""
    if isinstance(node, list):
        return [entry for item in node for entry in _toc_entries(item)]
    if not isinstance(node, dict):
        return []
    found = [str(node[key]) for key in ("root", "file") if key in node]
    return found + [entry for key in ("parts", "chapters", "sections") for entry in _toc_entries(node.get(key))]


def toc_chapters(toc: str | Path = TOC) -> list[str]:
    """The chapters of the book in the order of ``toc`` (the root first): each entry ``book/_executed/<name>``
    gives chapter ``<name>``. Every entry must name a file that exists beside ``toc`` (for a chapter, its source
    ``book/<name>.md``), else :class:`ValueError` names the toc, the entry and the file missing."""
    toc = Path(toc)
    try:
        entries = _toc_entries(yaml.safe_load(toc.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{toc} cannot be read as a table of contents ({exc}).") from None
    chapters = []
    for entry in entries:
        if entry.startswith(EXECUTED):
            chapters.append(entry.removeprefix(EXECUTED))
            candidates = [toc.parent / "book" / f"{chapters[-1]}.md"]
        else:
            candidates = [toc.parent / entry] + [toc.parent / f"{entry}{suffix}" for suffix in PAGE_SUFFIXES]
        if not any(path.is_file() for path in candidates):
            raise ValueError(f"{toc} lists {entry}, but {candidates[0]} does not exist: add the file, or take the "
                             "entry out of the table of contents.")
    if not chapters:
        raise ValueError(f"{toc} lists no chapter (no entry under {EXECUTED}).")
    return chapters


CHAPTERS = toc_chapters()


def chapter_source(name: str) -> Path:
    """``book/<name>.md`` of a chapter of the book (:data:`CHAPTERS`); any other name is refused."""
    path = BOOK / f"{name}.md"
    if name not in CHAPTERS or not path.is_file():
        close = difflib.get_close_matches(name, CHAPTERS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"no chapter {name!r} ({path} not found).{hint} Chapters: {', '.join(CHAPTERS)}.")
    return path


def percent_cells(name: str) -> list[tuple[str, list[str], str]]:
    """The cells of ``book/<name>.py`` (jupytext percent format): ``(kind, tags, source)`` with kind
    ``"code"`` or ``"markdown"``."""
    path = BOOK / f"{name}.py"
    if not path.is_file():
        chapter_source(name)  # names the chapters when the name is wrong
        raise ValueError(f"{path} is missing: run `make sync` to pair book/{name}.md with its percent script.")
    cells: list[tuple[str, list[str], list[str]]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# %%"):
            header = line[4:]
            tags = re.findall(r'"([^"]+)"', header.split("tags=", 1)[1]) if "tags=" in header else []
            cells.append(("markdown" if "[markdown]" in header else "code", tags, []))
        elif cells:
            cells[-1][2].append(line)
    return [(kind, tags, "\n".join(lines).strip("\n")) for kind, tags, lines in cells]


def parameters_at(code: list[tuple[list[str], str]]) -> int | None:
    """The index, among a chapter's code cells ``(tags, source)``, of its ``parameters`` cell; None without one."""
    return next((i for i, (tags, _) in enumerate(code) if "parameters" in tags), None)


def declared_parameters(name: str) -> dict[str, object]:
    """The parameters chapter ``name`` declares in its ``parameters`` cell (none without one): name → default (the
    value where it is a Python literal, else the expression's source)."""
    code = [(tags, src) for kind, tags, src in percent_cells(name) if kind == "code"]
    at = parameters_at(code)
    source = "" if at is None else code[at][1]
    declared = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    try:
                        declared[target.id] = ast.literal_eval(node.value)
                    except ValueError:
                        declared[target.id] = ast.get_source_segment(source, node.value)
    return declared


# The parameters of the training chapters that make their experiment (sgma_core.profiles.make_experiment checks them).
TRAINING_PARAMETERS = ("profile", "dataset", "seeds", "overrides")
# Every other parameter a chapter declares: name → (its type, its limit or None), checked as a run's settings are
# (sgma_core.profiles.check_setting); tests/test_book_sources.py holds every chapter's parameters to this list.
CHAPTER_SETTINGS: dict[str, tuple[object, tuple | None]] = {
    "data_root": (str | None, None),  # a folder, or null
    "runs_dir": (str | None, None),
    "record_path": (str | None, None),  # a file, or null
    "real_start_record": (str | None, None),
    "progress": (bool, None),
    "frozen": (bool, None),
    "size": (int, ((lambda v: v >= 32), "at least 32 (pixels)")),
    "max_images": (int, ((lambda v: v >= 1), "at least 1")),
    "literal_epochs": (int, ((lambda v: v >= 1), "at least 1")),  # chapter 04's run of the literal attention
    "calibrate": (bool | None, None),  # chapter 04's calibrated stacking: null = the profile's default
    "frozen_max_images": (int | None, ((lambda v: v >= 1), "at least 1, or null (every photograph)")),
    "layer": (Literal[tuple(LITE0_LAYERS)], None),  # where chapter 07 cuts Lite0
}
