"""Extract the wanted members of a tar or zip archive, safely and with clear errors.

The caller passes a ``pick`` function that maps each member name to the relative path it
should have in the output folder, or to ``None`` to leave the member out. This is how one
archive (say ``xlsa17.zip``, which holds every dataset's split files) feeds only its
relevant part into a dataset folder, and how a top-level prefix is stripped.

Damaged archives (truncated downloads, bad CRCs, files that are not archives at all)
raise :class:`ArchiveError` naming the archive; members that would land outside the
output folder are refused.
"""

from __future__ import annotations

import gzip
import shutil
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from data_prep.errors import ArchiveError

Pick = Callable[[str], "str | None"]

KINDS = ("tgz", "zip", "file")
_DAMAGED = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, gzip.BadGzipFile)


def _is_junk(name: str) -> bool:
    """Resource-fork and Finder files that some archivers add; never part of a dataset."""
    parts = PurePosixPath(name).parts
    return any(p == "__MACOSX" or p.startswith("._") or p == ".DS_Store" for p in parts)


def _safe_target(archive: Path, dest: Path, rel: str) -> Path:
    """``dest / rel``, refusing absolute paths and ``..`` so nothing is written outside ``dest``."""
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise ArchiveError(f"{archive}: member path {rel!r} points outside the dataset folder; refusing to extract it.")
    return dest.joinpath(*pure.parts)


def _normalise(name: str) -> str:
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name


def _member_target(archive: Path, dest: Path, pick: Pick, member_name: str) -> Path | None:
    """Where a member goes in ``dest``, or ``None`` for junk and for members ``pick`` leaves out."""
    name = _normalise(member_name)
    if _is_junk(name):
        return None
    rel = pick(name.rstrip("/"))
    return None if rel is None else _safe_target(archive, dest, rel)


def _copy_stream(src, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        shutil.copyfileobj(src, out, length=1 << 20)


def _extract_tar(archive: Path, pick: Pick, dest: Path) -> int:
    """One pass over a gzip-compressed tar, then to the end of the gzip stream.

    ``tarfile`` takes a tar that is cut off between two members for a shorter, complete one;
    reading the gzip stream to its end makes :mod:`gzip` check its trailer (CRC-32 and
    length of the whole content), so a truncated or altered download is always noticed.
    """
    count = 0
    with gzip.open(archive, "rb") as gz, tarfile.open(fileobj=gz, mode="r|") as tf:
        for member in tf:
            target = _member_target(archive, dest, pick, member.name)
            if target is None:
                continue
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                src = tf.extractfile(member)
                if src is None:  # pragma: no cover - isfile() members always have data
                    continue
                _copy_stream(src, target)
                count += 1
            # links and devices are never part of these datasets: left out
        while gz.read(1 << 20):
            pass
    return count


def _extract_zip(archive: Path, pick: Pick, dest: Path) -> int:
    count = 0
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            target = _member_target(archive, dest, pick, info.filename)
            if target is None:
                continue
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            with zf.open(info) as src:  # reading to the end checks the member's CRC
                _copy_stream(src, target)
            count += 1
    return count


def extract(archive: str | Path, kind: str, pick: Pick, dest: str | Path) -> int:
    """Extract the members of ``archive`` that ``pick`` selects into ``dest``; return the file count.

    ``kind`` is ``"tgz"`` (a gzip-compressed tar), ``"zip"``, or ``"file"`` (a single plain file,
    copied to ``pick(file name)``). Raises :class:`ArchiveError` when the archive is damaged.
    """
    archive, dest = Path(archive), Path(dest)
    if kind not in KINDS:
        raise ValueError(f"unknown archive kind {kind!r}; expected one of {KINDS}")
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if kind == "file":
            rel = pick(archive.name)
            if rel is None:
                return 0
            with open(archive, "rb") as src:
                _copy_stream(src, _safe_target(archive, dest, rel))
            return 1
        if kind == "tgz":
            return _extract_tar(archive, pick, dest)
        return _extract_zip(archive, pick, dest)
    except _DAMAGED as exc:
        what = "gzip-compressed tar" if kind == "tgz" else kind
        raise ArchiveError(
            f"{archive} is damaged or not a {what} archive ({type(exc).__name__}: {exc or 'unexpected end of data'})."
        ) from exc
