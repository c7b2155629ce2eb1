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
