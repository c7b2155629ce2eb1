"""Machine paths — the folders of the computer that executed and built the book — kept out of what it publishes.

A path such as ``/home/alice/sgma-book/runs/…`` or ``/tmp/tmpx1y2/02_baseline.ipynb`` means nothing to a
reader and tells the world how the builder's machine is laid out. Two tools:

- :func:`portable_notebook` rewrites what papermill records about the machine in an executed chapter (its
  ``input_path`` and ``output_path``, and parameters that are folders, in the metadata and in the injected
  cell): a path inside the repository becomes repository-relative, any other is named
  ``<outside the repository>/<its last part>``. :func:`bookkit.chapters.execute_chapter` applies it to every
  notebook it stores.
- :func:`find_machine_paths` and :func:`scan_published` find machine paths in published text: every built
  HTML page and every notebook a reader can download (the executed sources the pages offer, the course
  guide's downloads and their zip files). The book's tests run the scan on the smoke build.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

from sgma_core.paths import repo_root, runs_root

OUTSIDE = "<outside the repository>"
# Folders that are somebody's machine wherever they appear: temporary folders and home directories.
GENERIC = re.compile(r"(?<![\w.~-])(?:/tmp|/var/tmp|/private/var/folders|/var/folders|/root|/home/[^/\s\"'<>]+|"
                     r"/Users/[^/\s\"'<>]+)(?=[/\s\"'<>:;,)\\]|$)")
# A path goes on to the next space, quote, angle bracket or separator of a list.
REST = r"[^\s\"'<>:;,)\\]*"
PUBLISHED_TEXT = {".html", ".ipynb", ".txt", ".md"}


def machine_folders(extra: Iterable[str | os.PathLike] = ()) -> list[str]:
    """The folders whose paths must not be published: the repository, the runs folder, the Python environment
    (a virtual or conda environment, not a system one), the home and temporary folders, and ``extra``; each as
    given and resolved, the longest first."""
    folders = [repo_root(), runs_root(), Path.home(), Path(tempfile.gettempdir()), *map(Path, extra)]
    if sys.prefix != sys.base_prefix or Path(sys.prefix, "conda-meta").is_dir():
        folders.append(Path(sys.prefix))
    names = {str(f) for f in folders} | {str(f.resolve()) for f in folders}
    return sorted((n for n in names if n.strip("/")), key=len, reverse=True)


def find_machine_paths(text: str, folders: Iterable[str] | None = None) -> list[str]:
    """The machine paths in ``text``, each as it appears there (up to the next space, quote or separator):
    any path under ``folders`` (default :func:`machine_folders`), a temporary folder or a home directory."""
    folders = machine_folders() if folders is None else list(folders)
    known = [rf"{re.escape(f.rstrip('/'))}(?=[/\s\"'<>:;,)\\]|$)" for f in folders]
    pattern = re.compile("(?:" + "|".join([*known, GENERIC.pattern]) + ")" + REST)
    return sorted({m.group(0) for m in pattern.finditer(text)})


def published_texts(build: str | os.PathLike) -> Iterable[tuple[str, str]]:
    """``(name, text)`` of everything under ``build`` that a reader sees or downloads: pages (``.html``), copied
    sources and notebooks (``.ipynb``, ``.txt``, ``.md``) and the notebooks inside zip files; the theme's own files
    (``_static``) are not the book's text. A zip member is named ``archive.zip!member``."""
    build = Path(build)
    for path in sorted(build.rglob("*")):
        if not path.is_file() or "_static" in path.relative_to(build).parts:
            continue
        rel = path.relative_to(build).as_posix()
        if path.suffix in PUBLISHED_TEXT:
            yield rel, path.read_text(encoding="utf-8", errors="replace")
        elif path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    if Path(member).suffix in PUBLISHED_TEXT:
                        yield f"{rel}!{member}", archive.read(member).decode("utf-8", errors="replace")


def scan_published(build: str | os.PathLike, folders: Iterable[str] | None = None) -> list[str]:
    """``"<file>: <path>"`` for every machine path (:func:`find_machine_paths`) in what :func:`published_texts`
    finds under ``build``; empty when the build publishes none."""
    folders = machine_folders() if folders is None else list(folders)
    return [f"{name}: {found}" for name, text in published_texts(build) for found in find_machine_paths(text, folders)]


def portable_path(value: str, root: Path | None = None) -> str:
    """``value`` without the machine: an absolute path inside ``root`` (default the repository) relative to it,
    another absolute path as ``<outside the repository>/<last part>``; a list of paths joined by ``os.pathsep`` part
    by part; anything else unchanged."""
    root = (root or repo_root()).resolve()
    parts = value.split(os.pathsep)
    if not any(os.path.isabs(p) for p in parts):
        return value
    out = []
    for part in parts:
        path = Path(part)
        if not path.is_absolute():
            out.append(part)
        elif path.resolve().is_relative_to(root):
            out.append(path.resolve().relative_to(root).as_posix() or ".")
        else:
            out.append(f"{OUTSIDE}/{path.name}")
    return os.pathsep.join(out)


def _portable_value(value, root: Path | None):
    """``value`` with every string in it (in lists and dicts too, as in ``overrides``) made :func:`portable_path`."""
    if isinstance(value, str):
        return portable_path(value, root)
    if isinstance(value, dict):
        return {k: _portable_value(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [_portable_value(v, root) for v in value]
    return value


def portable_notebook(nb, source: str, root: Path | None = None):
    """The executed notebook ``nb`` (``nbformat``) made from ``source`` (repository-relative), with papermill's
    ``input_path`` set to ``source``, its ``output_path`` and every string in a parameter made :func:`portable_path`
    (in papermill's metadata, in ``metadata.sgma`` and in the injected cell); returns ``nb``, changed in place."""
    from papermill.translators import translate_parameters

    papermill = nb.metadata.get("papermill", {})
    papermill["input_path"] = source
    if papermill.get("output_path"):
        papermill["output_path"] = portable_path(papermill["output_path"], root)
    for meta in (papermill, nb.metadata.get("sgma", {})):
        if isinstance(meta.get("parameters"), dict):
            meta["parameters"] = _portable_value(meta["parameters"], root)
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []) and "parameters" in papermill:
            cell.source = translate_parameters("python3", "python", papermill["parameters"], "Parameters")
    return nb
