"""What a published book knows about where it comes from: its repository, version, commit and build date,
the addresses its buttons open, and the set-up cell that lets a student notebook run on Colab.

The repository is taken from ``GITHUB_REPOSITORY`` (``owner/name``; GitHub Actions sets it), never written
into the project, so a fork publishes under its own name and a book built on a laptop shows no button
that points nowhere. The set-up page's ``git clone`` also takes the address from the checkout's ``origin``
remote when that is on the web (:func:`repository_address`). ``_ext/repository_links.py`` puts these into the
pages, :mod:`bookkit.notebooks` into the student notebooks.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import subprocess
import urllib.parse
from pathlib import Path

from sgma_core.paths import current_commit

REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
NOTEBOOKS_BRANCH = "notebooks"
BINDER = "https://mybinder.org"
COLAB = "https://colab.research.google.com"


class RepositoryError(ValueError):
    """GITHUB_REPOSITORY is set to something that is not owner/name."""


def repository_from_environment(environ=os.environ) -> str | None:
    """``owner/name`` from ``GITHUB_REPOSITORY``, or None where it is unset or empty."""
    value = environ.get("GITHUB_REPOSITORY", "").strip()
    if not value:
        return None
    if not REPOSITORY.match(value):
        raise RepositoryError(f"GITHUB_REPOSITORY={value!r} is not owner/name (for example "
                              "GITHUB_REPOSITORY=octocat/sgma-book); unset it for a book without repository buttons")
    return value


# A remote written as scp does (git@github.com:owner/name.git): a host with a dot in its name, a colon, a path.
SCP_LIKE = re.compile(r"^(?:[\w.-]+@)?(?P<host>[\w-]+(?:\.[\w-]+)+):(?!//)(?P<path>[^\\]+)$")
NO_ADDRESS = "<the book's repository>"
NO_ADDRESS_NOTE = ("This copy of the book was built without the address of its repository: neither on GitHub Actions "
                   "nor in a clone whose `origin` is on the web. The published book shows the address here, and its "
                   "GitHub button (at the top of every page) opens the repository; in a clone of the book, "
                   "`git remote get-url origin` prints it.")


def repository_address(srcdir: Path, environ=os.environ) -> str | None:
    """The web address of the book's repository, to clone it from: ``https://github.com/<GITHUB_REPOSITORY>`` where
    that is set, else the ``origin`` remote of the checkout at ``srcdir`` (:func:`web_address`); None where neither
    names one."""
    repository = repository_from_environment(environ)
    if repository:
        return f"https://github.com/{repository}"
    try:
        remote = subprocess.run(["git", "remote", "get-url", "origin"], cwd=srcdir, capture_output=True, text=True,
                                check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return web_address(remote)


def web_address(remote: str) -> str | None:
    """A git remote as the ``https://`` address a reader opens and clones (no user name, password or ``.git``); None
    for a remote that is a folder or a ``file://`` address, which name a machine, not a place on the web."""
    found = SCP_LIKE.match(remote)
    if found:
        host, path = found["host"], found["path"]
    else:
        parts = urllib.parse.urlsplit(remote)
        if parts.scheme not in ("https", "http", "ssh", "git") or not parts.hostname:
            return None
        port = f":{parts.port}" if parts.port and parts.scheme in ("https", "http") else ""
        host, path = parts.hostname + port, parts.path
    path = path.strip("/").removesuffix(".git")
    return f"https://{host}/{path}" if path else None


def clone_commands(template: str, address: str | None) -> str:
    """The set-up page's commands ``template`` with ``{repository}`` replaced by ``address``, or by
    :data:`NO_ADDRESS` where the build does not know it (the page then says where to find it,
    :data:`NO_ADDRESS_NOTE`)."""
    return template.replace("{repository}", address or NO_ADDRESS)


def build_provenance(srcdir: Path, environ=os.environ) -> dict[str, str]:
    """The book's version, the commit it is built from (:func:`sgma_core.paths.current_commit`) and the date
    (``SOURCE_DATE_EPOCH`` where set, for a build that repeats byte for byte)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        book_version = version("sgma-book")
    except PackageNotFoundError:
        book_version = "unknown (the project is not installed)"
    epoch = environ.get("SOURCE_DATE_EPOCH")
    when = _dt.datetime.fromtimestamp(int(epoch), _dt.UTC) if epoch else _dt.datetime.now(_dt.UTC)
    return {"version": book_version, "commit": current_commit(srcdir, environ), "date": when.strftime("%Y-%m-%d")}



def chapter_urls(repository: str, branch: str, name: str) -> dict[str, str]:
    """Where a chapter's buttons go: its MyST source to edit and open on Binder, its student notebook on Colab."""
    return {"edit": f"https://github.com/{repository}/edit/{branch}/book/{name}.md",
            "Binder": f"{BINDER}/v2/gh/{repository}/{branch}?urlpath=lab/tree/book/{name}.md",
            "Colab": f"{COLAB}/github/{repository}/blob/{NOTEBOOKS_BRANCH}/{name}.ipynb"}


COLAB_SETUP = """\
# Set-up on Colab: fetch the book, install it and generate the synthetic birds.
# Anywhere else (a checkout after `make venv`) this cell does nothing.
import os, subprocess, sys
if "google.colab" in sys.modules and not os.path.isdir("/content/sgma-book"):
    subprocess.run(["git", "clone", "--depth", "1", "https://github.com/{repository}", "/content/sgma-book"],
                   check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "/content/sgma-book"], check=True)
    subprocess.run([sys.executable, "-m", "data_prep.synthetic", "--out", "/content/sgma-book/data/SYN"],
                   cwd="/content/sgma-book", check=True)
if "google.colab" in sys.modules:
    os.chdir("/content/sgma-book")
    sys.path.insert(0, "/content/sgma-book")
    os.environ["SGMA_DATA_ROOT"] = "/content/sgma-book/data"
"""

NO_REPOSITORY_SETUP = ("*To run this notebook on Colab, open it from the published book (its Colab button), "
                       "which knows where the book's repository is. Here, run it inside a checkout of the book "
                       "after `make venv`.*")


def colab_setup(repository: str | None) -> tuple[str, str]:
    """The student notebook's first cell, as ``(cell type, source)``: a code cell that installs the project on
    Colab when the repository is known, otherwise a Markdown cell saying where to run it."""
    if repository is None:
        return "markdown", NO_REPOSITORY_SETUP
    if not REPOSITORY.match(repository):
        raise RepositoryError(f"{repository!r} is not owner/name")
    return "code", COLAB_SETUP.format(repository=repository)
