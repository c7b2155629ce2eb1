"""Where datasets and run outputs live.

Both are settings, never hard-coded paths:

* ``SGMA_DATA_ROOT`` — one folder, or several separated by ``os.pathsep`` (``:`` on
  Linux and macOS), each holding datasets as sub-folders named ``SYN``, ``CUB``,
  ``AWA2``, ``FLO``. Datasets are looked up in order. Default: ``<repo>/data``.
* ``SGMA_RUNS_ROOT`` — where checkpoints and metrics of training runs go.
  Default: ``<repo>/runs``.

Functions that take a ``data_root`` argument use it in place of the environment
variable, so a notebook parameter overrides the environment.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_DATA_ROOT = "SGMA_DATA_ROOT"
ENV_RUNS_ROOT = "SGMA_RUNS_ROOT"


class DataRootError(FileNotFoundError):
    """A dataset was not found under any data root. The message names every root searched, for the person at the
    machine; ``brief`` says the same without the machine's folders, for a chapter's published page."""

    def __init__(self, message: str, brief: str | None = None):
        super().__init__(message)
        self.brief = brief or message


def repo_root() -> Path:
    """The folder that holds ``sgma_core/`` (the repository root for a source checkout)."""
    return Path(__file__).resolve().parent.parent


def data_roots(data_root: str | os.PathLike | None = None) -> list[Path]:
    """The data roots to search, in order: the argument, else ``$SGMA_DATA_ROOT``, else ``<repo>/data``."""
    value = str(data_root) if data_root not in (None, "") else os.environ.get(ENV_DATA_ROOT, "")
    if not value:
        return [repo_root() / "data"]
    return [Path(part).expanduser() for part in value.split(os.pathsep) if part]


def describe_roots(data_root: str | os.PathLike | None = None) -> str:
    """The searched roots as one readable string, for error messages."""
    return os.pathsep.join(str(p) for p in data_roots(data_root))


def find_dataset(name: str, data_root: str | os.PathLike | None = None) -> Path:
    """The folder ``<root>/<name>`` of the first data root that has it.

    Raises :class:`DataRootError` naming every root searched and what to do.
    """
    roots = data_roots(data_root)
    for root in roots:
        candidate = root / name
        if candidate.is_dir():
            return candidate
    missing = [str(r) for r in roots if not r.exists()]
    hint = {
        "SYN": "run `make data` to generate the synthetic dataset",
    }.get(name, f"set SGMA_DATA_ROOT to the folder that holds {name}/ (README: 'Pointing the book at real data')")
    detail = f" (these roots do not exist: {', '.join(missing)})" if missing else ""
    raise DataRootError(f"dataset {name!r} not found under SGMA_DATA_ROOT={describe_roots(data_root)}{detail}; {hint}.",
                        brief=f"dataset {name!r} not found in the data folders searched (SGMA_DATA_ROOT); {hint}.")


def runs_root(runs_dir: str | os.PathLike | None = None) -> Path:
    """Where training runs are written: the argument, else ``$SGMA_RUNS_ROOT``, else ``<repo>/runs``."""
    if runs_dir not in (None, ""):
        return Path(runs_dir).expanduser()
    env = os.environ.get(ENV_RUNS_ROOT)
    return Path(env).expanduser() if env else repo_root() / "runs"


def current_commit(folder: str | os.PathLike | None = None, environ=os.environ) -> str:
    """The commit the code in ``folder`` (default: this checkout) comes from, as a record's provenance and the
    book's footer both name it: ``GITHUB_SHA`` where set (the commit a CI job checked out), else the checkout's
    ``HEAD``; 7 hex digits, with ``+dirty`` where tracked files changed since. ``"unknown (not a git
    checkout)"`` where there is no git or no checkout."""
    import subprocess

    if environ.get("GITHUB_SHA"):
        return environ["GITHUB_SHA"][:7]
    folder = repo_root() if folder is None else folder
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=7", "HEAD"], cwd=folder, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                               capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return commit + ("+dirty" if dirty else "")


LIBRARY = ("sgma_core", "data_prep")  # the code that trains and scores runs, whose content a run's numbers depend on


def library_fingerprint(folder: str | os.PathLike | None = None) -> str:
    """The library's code (:data:`LIBRARY`) as its files in ``folder`` (default: this checkout) hold it now, as 16
    hex digits: a SHA-256 over each file's path and git blob id, for the files git tracks there and those it
    does not ignore (every file but ``__pycache__`` where git is absent). Equal to :func:`library_at` of a
    commit whose library these files are, whatever else in the checkout has changed."""
    import hashlib
    import subprocess

    folder = Path(repo_root() if folder is None else folder)
    try:
        names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "--", *LIBRARY], cwd=folder,
                               capture_output=True, text=True, timeout=30, check=True).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        names = [p.relative_to(folder).as_posix() for top in LIBRARY for p in (folder / top).rglob("*")
                 if p.is_file() and "__pycache__" not in p.parts]
    blobs = {}
    for name in names:
        path = folder / name
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            blobs[name] = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    return _fingerprint(blobs)


_LIBRARY_AT: dict[tuple[str, str], str] = {}  # a full commit hash never changes what it holds


def library_at(commit: str, folder: str | os.PathLike | None = None) -> str | None:
    """:func:`library_fingerprint` of the library as ``commit`` holds it; None where this clone does not hold
    the commit (or there is no git). A full hash's answer is kept for the process: the code check asks it of
    the same commits once per ledger row."""
    import re
    import subprocess

    key = (commit, str(folder))
    if key in _LIBRARY_AT:
        return _LIBRARY_AT[key]
    try:
        lines = subprocess.run(["git", "ls-tree", "-r", commit, "--", *LIBRARY], cwd=repo_root() if folder is None
                               else folder, capture_output=True, text=True, timeout=30, check=True).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return None
    blobs = {}
    for line in lines:
        meta, name = line.split("\t", 1)
        mode, kind, blob = meta.split()
        if kind == "blob" and mode != "120000":
            blobs[name] = blob
    fingerprint = _fingerprint(blobs)
    if re.fullmatch(r"[0-9a-f]{40}", commit):
        _LIBRARY_AT[key] = fingerprint
    return fingerprint


def commit_with_library(library: str, since: str, folder: str | os.PathLike | None = None) -> str | None:
    """A commit whose library (:func:`library_at`) is ``library``, as 12 hex digits: the first after ``since`` on
    the way to ``HEAD``, else the nearest one at or before ``since`` (a row may carry the fingerprint of runs trained
    by an older commit); None where no commit holds it (or there is no git). Only a commit that changes a file of
    :data:`LIBRARY` can change the fingerprint, so only those are read."""
    import subprocess

    for span in (["--reverse", f"{since}..HEAD"], [since]):
        try:
            commits = subprocess.run(["git", "rev-list", "--topo-order", *span, "--", *LIBRARY],
                                     cwd=repo_root() if folder is None else folder, capture_output=True, text=True,
                                     timeout=60, check=True).stdout.split()
        except (OSError, subprocess.SubprocessError):
            return None
        found = next((c[:12] for c in commits if library_at(c, folder) == library), None)
        if found:
            return found
    return None


def _fingerprint(blobs: dict[str, str]) -> str:
    import hashlib

    text = "".join(f"{name}\t{blob}\n" for name, blob in sorted(blobs.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
