"""Whether this Python can run the book as it is: ``python -P sgma_core/envcheck.py``.

``make`` asks this of the active Python before it creates ``.venv``: a Python that already has
this checkout installed (``pip install -e '.[test]'``, as ``environment.yml`` does) with every
requirement at the version ``pyproject.toml`` pins runs everything itself, and no second
environment is made. Exit status 0 when it can, 1 with one line per problem when it cannot.

Only the standard library is used, so that the check runs in any Python; ``-P`` keeps the
checkout itself off ``sys.path``, so that only what is installed counts. ``--pins NAME…`` prints those
requirements as pinned (``numpy==…``), for ``make`` to install them before the rest.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTION = "sgma-book"


def pinned_requirements(pyproject: Path = ROOT / "pyproject.toml",
                        extras: tuple[str, ...] = ("test",)) -> dict[str, str]:
    """``{name: version}`` of every ``name==version`` requirement in ``pyproject.toml`` (and the extras')."""
    import tomllib

    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    lines = list(project.get("dependencies", []))
    for extra in extras:
        lines += project.get("optional-dependencies", {}).get(extra, [])
    pins = {}
    for line in lines:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;,]+)\s*", line)
        if m is None:
            raise ValueError(f"{pyproject}: requirement {line!r} is not pinned as name==version")
        pins[m.group(1)] = m.group(2)
    return pins


def installed_from(dist: metadata.Distribution) -> Path | None:
    """The folder an editable or local install was made from (PEP 610 ``direct_url.json``), else None."""
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    url = json.loads(text).get("url", "")
    return Path(url[len("file://"):]).resolve() if url.startswith("file://") else None


def problems(root: Path = ROOT) -> list[str]:
    """Why this Python cannot run this checkout's book as it is; empty when it can."""
    found = []
    if sys.version_info[:2] != (3, 11):
        found.append(f"Python {sys.version_info[0]}.{sys.version_info[1]} (the book pins 3.11)")
    # installed copies only: the build's own metadata in the checkout (sgma_book.egg-info) is not an install
    installs = [d for d in metadata.distributions(name=DISTRIBUTION)
                if Path(str(d.locate_file(""))).resolve() != root.resolve()]
    if not installs:
        found.append(f"{DISTRIBUTION} is not installed (pip install -e '.[test]' in {root})")
    else:
        source = installed_from(installs[0])
        if source != root.resolve():
            where = f"from {source}" if source else "not from a checkout"
            found.append(f"{DISTRIBUTION} is installed {where}, not from this checkout ({root})")
    for name, version in pinned_requirements(root / "pyproject.toml").items():
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            found.append(f"{name} is not installed ({version} is pinned)")
            continue
        if have.split("+")[0] != version.split("+")[0]:
            found.append(f"{name} {have} is installed, {version} is pinned")
    return found


def pins_of(names: list[str], root: Path = ROOT) -> list[str]:
    """``name==version`` of each of ``names`` as ``pyproject.toml`` pins it (``--pins NAME…``: what ``make`` installs
    before the rest); a name it does not pin is a :class:`ValueError` listing those it does."""
    pins = {name.lower(): (name, version) for name, version in pinned_requirements(root / "pyproject.toml").items()}
    unknown = [n for n in names if n.lower() not in pins]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not pinned in {root / 'pyproject.toml'}; pinned: "
                         f"{', '.join(name for name, _ in pins.values())}")
    return ["==".join(pins[n.lower()]) for n in names]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--pins"]:
        try:
            print(" ".join(pins_of(argv[1:])))
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
        return 0
    found = problems()
    if "--quiet" not in argv:
        if found:
            print(f"{sys.executable} cannot run the book as it is:")
            print("\n".join(f"  - {p}" for p in found))
        else:
            print(f"{sys.executable} has this checkout and every pinned requirement installed")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
