"""Extract the wanted members of a tar or zip archive, safely and with clear errors.

:func:`extract` takes ``pick``, a function from each member's name to its relative path in the output folder or
``None`` to leave it out (how one ``xlsa17.zip`` feeds only its part into a dataset folder, and how a top-level
prefix is stripped), and returns the number of files written. It refuses, with the archive's name and what to do:

* a damaged archive, one not of its ``kind``, or a member that would land outside the folder: :class:`ArchiveError`;
* more bytes than the expansion limit (:func:`expansion_limit`, from :data:`EXPANSION_RATIO`,
  :data:`EXPANSION_FLOOR` and :data:`EXPANSION_CAP`, or the caller's ``limit``) or than the target disk's free
  space less :func:`free_space_margin`: :class:`ExtractionLimitError`. The members' declared sizes are checked
  before a byte is written (:func:`check_room`) and the bytes written are counted against the same limit, so an
  archive that understates its sizes is stopped too.

After an error every file and folder this call created is removed; what was there before is left.
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
MiB, GiB = 2**20, 2**30
EXPANSION_RATIO, EXPANSION_FLOOR, EXPANSION_CAP = 10, 256 * MiB, 64 * GiB
FREE_MARGIN = 256 * MiB
CHUNK = 1 << 20


class ExtractionLimitError(ArchiveError):
    """Extracting would pass the expansion limit, or did, or the disk has too little free space.

    ``limit``: ``"expansion"`` (the declared sizes), ``"written"`` (the bytes written) or ``"free space"``."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


def expansion_limit(archive_bytes: int) -> int:
    """The most bytes an archive of ``archive_bytes`` may unpack to, unless the caller gives a limit."""
    return min(max(EXPANSION_RATIO * archive_bytes, EXPANSION_FLOOR), EXPANSION_CAP)


def free_space_margin(needed: int) -> int:
    """The bytes left free on the target disk beyond ``needed``: the datasets are not the disk's only use."""
    return FREE_MARGIN + needed // 20


def _human(n: float) -> str:
    if n >= GiB:
        return f"{n / GiB:.2f} GiB"
    return f"{n / MiB:.1f} MiB" if n >= MiB else f"{n / 1024:.1f} KiB"


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


class _Writer:
    """Writes the members into ``dest``, counting the bytes against ``limit`` and noting what it creates,
    so that after an error exactly that can be removed."""

    def __init__(self, archive: Path, dest: Path, limit: int, declared: int, rule: str) -> None:
        self.archive, self.dest, self.limit, self.declared, self.rule = archive, dest, limit, declared, rule
        self.written = 0
        self.made: list[Path] = []

    def mkdir(self, folder: Path) -> None:
        missing = []
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for made in reversed(missing):
            made.mkdir()
            self.made.append(made)

    def copy(self, src, target: Path) -> None:
        self.mkdir(target.parent)
        if not target.exists():
            self.made.append(target)
        with open(target, "wb") as out:
            while block := src.read(CHUNK):
                self.written += len(block)
                if self.written > self.limit:
                    raise ExtractionLimitError(
                        f"{self.archive.name}: extraction stopped when {self.written} bytes "
                        f"({_human(self.written)}) had been written, over the expansion limit of {self.limit} bytes "
                        f"({_human(self.limit)}; {self.rule}), although its members declare only {self.declared} "
                        f"bytes: the archive misstates its sizes. What it had written was removed. Delete "
                        f"{self.archive} and get a good copy of it.", "written")
                out.write(block)

    def undo(self) -> None:
        for path in reversed(self.made):  # files before the folders that hold them
            if path.is_dir() and not path.is_symlink():
                if not any(path.iterdir()):
                    path.rmdir()
            else:
                path.unlink(missing_ok=True)


def _declared_tar(archive: Path, pick: Pick, dest: Path, limit: int) -> int:
    """The bytes the picked files of a gzip-compressed tar declare; stops counting once past ``limit``."""
    total = 0
    with gzip.open(archive, "rb") as gz, tarfile.open(fileobj=gz, mode="r|") as tf:
        for member in tf:
            if member.isfile() and _member_target(archive, dest, pick, member.name) is not None:
                total += member.size
                if total > limit:  # no need to decompress the rest of a bomb to know it is one
                    break
    return total


def _declared_zip(archive: Path, pick: Pick, dest: Path) -> int:
    with zipfile.ZipFile(archive) as zf:
        return sum(info.file_size for info in zf.infolist()
                   if not info.is_dir() and _member_target(archive, dest, pick, info.filename) is not None)


def _extract_tar(archive: Path, pick: Pick, dest: Path, writer: _Writer) -> int:
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
                writer.mkdir(target)
            elif member.isfile():
                src = tf.extractfile(member)
                if src is None:  # pragma: no cover - isfile() members always have data
                    continue
                writer.copy(src, target)
                count += 1
            # links and devices are never part of these datasets: left out
        while gz.read(CHUNK):
            pass
    return count


def _extract_zip(archive: Path, pick: Pick, dest: Path, writer: _Writer) -> int:
    count = 0
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            target = _member_target(archive, dest, pick, info.filename)
            if target is None:
                continue
            if info.is_dir():
                writer.mkdir(target)
                continue
            with zf.open(info) as src:  # reading to the end checks the member's CRC
                writer.copy(src, target)
            count += 1
    return count


def check_room(archive: Path, declared: int, limit: int, rule: str, dest: Path, *, exact: bool = True) -> None:
    """Raise :class:`ExtractionLimitError` if ``declared`` bytes pass ``limit`` or the free space at ``dest``.

    ``exact``: whether ``declared`` is the whole sum, or only as far as it was counted (past ``limit``)."""
    if declared > limit:
        raise ExtractionLimitError(
            f"{archive.name}: the members to extract declare {'' if exact else 'at least '}{declared} bytes "
            f"({_human(declared)}) uncompressed, over the expansion limit of {limit} bytes ({_human(limit)}; "
            f"{rule}); nothing was extracted. An archive that expands this much is damaged, not the expected file, "
            f"or a zip bomb: delete {archive} and get a good copy. If it is the genuine file, raise the limit above "
            f"{_human(declared)} (python -m data_prep.fetch NAME --max-extract-gb GB).", "expansion")
    disk = dest
    while not disk.exists():
        disk = disk.parent
    free, margin = shutil.disk_usage(disk).free, free_space_margin(declared)
    if declared + margin > free:
        raise ExtractionLimitError(
            f"{archive.name}: the members to extract need {declared} bytes ({_human(declared)}) uncompressed, "
            f"but the disk of {disk} has {free} bytes ({_human(free)}) free, and {margin} bytes "
            f"({_human(margin)}) are kept free as a margin; nothing was extracted. Free at least "
            f"{_human(declared + margin - free)} there, or install on another disk (--root DIR, then add DIR "
            "to SGMA_DATA_ROOT).", "free space")


def extract(archive: str | Path, kind: str, pick: Pick, dest: str | Path, *, limit: int | None = None) -> int:
    """Extract the members of ``archive`` that ``pick`` selects into ``dest``; return the file count.

    ``kind`` is ``"tgz"`` (a gzip-compressed tar), ``"zip"``, or ``"file"`` (a single plain file,
    copied to ``pick(file name)``). ``limit``: the most bytes it may unpack to (default
    :func:`expansion_limit` of its size). Raises :class:`ArchiveError` when the archive is damaged,
    :class:`ExtractionLimitError` when it would pass ``limit`` or the free space; after an error
    what this call created is removed.
    """
    archive, dest = Path(archive), Path(dest)
    if kind not in KINDS:
        raise ValueError(f"unknown archive kind {kind!r}; expected one of {KINDS}")
    size = archive.stat().st_size
    rule = "the limit given (--max-extract-gb)" if limit is not None else (
        f"{EXPANSION_RATIO} times the archive's {_human(size)}, at least {_human(EXPANSION_FLOOR)}, "
        f"at most {_human(EXPANSION_CAP)}")
    limit = expansion_limit(size) if limit is None else limit
    try:
        return _checked_extract(archive, kind, pick, dest, limit, rule)
    except _DAMAGED as exc:
        what = "gzip-compressed tar" if kind == "tgz" else kind
        raise ArchiveError(
            f"{archive} is damaged or not a {what} archive ({type(exc).__name__}: {exc or 'unexpected end of data'})."
        ) from exc


def _checked_extract(archive: Path, kind: str, pick: Pick, dest: Path, limit: int, rule: str) -> int:
    """:func:`extract` once ``limit`` is known: the declared sizes checked first, the writing undone on an error."""
    if kind == "file":
        rel = pick(archive.name)
        targets = [] if rel is None else [_safe_target(archive, dest, rel)]
        declared = archive.stat().st_size if targets else 0
    else:
        declared = _declared_tar(archive, pick, dest, limit) if kind == "tgz" else _declared_zip(archive, pick, dest)
    check_room(archive, declared, limit, rule, dest, exact=kind != "tgz" or declared <= limit)
    writer = _Writer(archive, dest, limit, declared, rule)
    try:
        writer.mkdir(dest)
        if kind == "file":
            for target in targets:
                with open(archive, "rb") as src:
                    writer.copy(src, target)
            return len(targets)
        return (_extract_tar if kind == "tgz" else _extract_zip)(archive, pick, dest, writer)
    except Exception:
        writer.undo()
        raise
