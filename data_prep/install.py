"""Obtain, verify and install the archives of one dataset: the work behind :func:`data_prep.fetch.fetch`.

An archive is found on disk (``--archive-dir``, else ``<root>/downloads``) or downloaded to
``<root>/downloads/<file>.part``, checked against its published md5 or the sha256 recorded at
its first use, and only then given its final name. A part is extracted into a hidden staging
folder, marked complete, and renamed into place (see :mod:`data_prep.fetch` for why).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from data_prep.archives import ExtractionLimitError, GiB, extract
from data_prep.catalog import DatasetSpec, Part, Source
from data_prep.download import Report, download, file_digests
from data_prep.errors import ArchiveError, ChecksumError, DownloadError, FetchError, NetworkUnavailableError
from data_prep.manifest import (
    MANIFEST,
    MARKER,
    load_manifest,
    now,
    part_installed,
    read_json,
    record_part,
    recorded_sha256,
)
from sgma_core.records import write_record

STAGING_PREFIX = ".partial-"
STAGING_MARK = ".sgma-staging"  # written first into a staging folder: the folder is this tool's to remove


def remove_staging(folder: Path) -> None:
    """Remove a staging folder this tool made (it holds :data:`STAGING_MARK`); refuse any other, naming it."""
    ours = (folder / STAGING_MARK).is_file() or (folder / MARKER).is_file()  # the mark goes once MARKER is written
    if folder.is_symlink() or not ours:
        raise FetchError(f"{folder} looks like an unfinished extraction but was not made by this tool (it lacks "
                         f"{STAGING_MARK}); nothing was deleted. Move it out of the way and run the fetch again.")
    shutil.rmtree(folder)
DOWNLOADS = "downloads"


@dataclass
class VerifiedArchive:
    """An archive whose checksum has been checked.

    ``digests``: ``{"md5": …, "sha256": …}`` of the file; ``checked_against``: which check ran
    (recorded in the part's marker); ``downloaded``: whether this run downloaded it.
    """

    path: Path
    digests: dict[str, str]
    checked_against: str
    downloaded: bool


class FetchRun:
    """One fetch of one dataset: its settings and the archives obtained so far.

    ``key``: the dataset's name on the command line (``cub``…); ``spec``: its parts; ``sources``:
    the download table (:data:`data_prep.catalog.SOURCES`, or a replacement pointing elsewhere).
    """

    def __init__(
        self,
        key: str,
        root: Path,
        archive_dir: Path | None,
        retries: int,
        report: Report,
        *,
        spec: DatasetSpec,
        sources: Mapping[str, Source],
        max_extract_gb: float | None = None,
    ) -> None:
        self.spec = spec
        self.sources = sources
        self.key = key
        self.root = root
        self.dataset_dir = root / self.spec.name
        self.downloads = root / DOWNLOADS
        self.archive_dir = archive_dir
        self.retries = retries
        self.report = report
        self.archives: dict[str, VerifiedArchive] = {}
        self.max_extract_gb = max_extract_gb
        # None: the expansion limit of data_prep.archives, which scales with each archive's size
        self.max_extract = None if max_extract_gb is None else int(max_extract_gb * GiB)

    @property
    def command(self) -> str:
        """The command that repeats this run, for the messages that say to rerun."""
        extra = f" --archive-dir {self.archive_dir}" if self.archive_dir else ""
        if self.max_extract_gb is not None:
            extra += f" --max-extract-gb {self.max_extract_gb:g}"
        return f"python -m data_prep.fetch {self.key} --root {self.root}{extra}"

    def locate(self, filename: str) -> Path | None:
        """A complete copy of ``filename`` already on disk: in ``--archive-dir``, else in ``<root>/downloads``."""
        for folder in (self.archive_dir, self.downloads):
            if folder is not None and (folder / filename).is_file():
                return folder / filename
        return None

    def _manual_hint(self, src: Source) -> str:
        """What to do when ``src`` cannot be downloaded: where to put a copy fetched elsewhere."""
        part = self.downloads / f"{src.filename}.part"
        kept = ""
        if part.exists():
            kept = f" The bytes received so far are kept in {part}; the next run resumes from there."
        size = f", {src.approx_size}" if src.approx_size else ""
        return (
            f"{src.filename}{size} is needed for {self.spec.name} and could not be downloaded.{kept} "
            f"Without network access here: download {src.url} on another machine (dataset page: {src.homepage}), "
            f"then put it at {self.downloads / src.filename} or in a folder you pass with --archive-dir, "
            f"and rerun `{self.command}`."
        )

    def obtain(self, src: Source) -> VerifiedArchive:
        """The verified archive ``src``: found on disk, or downloaded (resuming a ``.part``)."""
        if src.filename in self.archives:
            return self.archives[src.filename]
        found = self.locate(src.filename)
        if found is not None:
            self.report(f"{src.filename}: using {found}")
            path, downloaded = found, False
        else:
            path, downloaded = self._download(src), True
        digests = file_digests(path)
        checked = self.verify(src, path, digests, downloaded)
        if downloaded:  # only a verified download gets its final name
            final = self.downloads / src.filename
            os.replace(path, final)
            path = final
        archive = VerifiedArchive(path, digests, checked, downloaded)
        self.archives[src.filename] = archive
        return archive

    def _download(self, src: Source) -> Path:
        """Download ``src`` to ``<root>/downloads/<file>.part`` (resuming it); errors say where to put a copy."""
        part = self.downloads / f"{src.filename}.part"
        resume = f", resuming after {part.stat().st_size} bytes" if part.exists() else ""
        size = f" ({src.approx_size})" if src.approx_size else ""
        self.report(f"{src.filename}: downloading {src.url}{size}{resume}")
        try:
            download(src.url, part, retries=self.retries, report=self.report)
        except NetworkUnavailableError as exc:
            raise NetworkUnavailableError(f"{exc} {self._manual_hint(src)}") from exc
        except DownloadError as exc:
            raise DownloadError(f"{exc} {self._manual_hint(src)}") from exc
        return part

    def verify(self, src: Source, path: Path, digests: dict[str, str], downloaded: bool) -> str:
        """Check ``path`` against the published md5, else the recorded sha256; say which check ran."""
        if src.md5:
            if digests["md5"] != src.md5:
                self._mismatch(src, path, downloaded, "md5", src.md5, digests["md5"], f"published: {src.checksum_note}")
            self.report(f"{src.filename}: md5 {src.md5} matches the published checksum")
            return f"published md5 ({src.checksum_note})"
        recorded = recorded_sha256(self.root, src.filename)
        if recorded is not None:
            sha, where = recorded
            if digests["sha256"] != sha:
                self._mismatch(src, path, downloaded, "sha256", sha, digests["sha256"], f"recorded in {where}")
            self.report(f"{src.filename}: sha256 matches the one recorded at its first download ({where})")
            return f"sha256 recorded at its first download ({where})"
        self.report(
            f"{src.filename}: {src.checksum_note}; its sha256 {digests['sha256']} is recorded in "
            f"{self.dataset_dir / MANIFEST} once it has been extracted, and later runs check against it"
        )
        return "none published; sha256 recorded at this first download"

    def _mismatch(
        self, src: Source, path: Path, downloaded: bool, algo: str, expected: str, actual: str, basis: str
    ) -> None:
        """Raise the :class:`ChecksumError` for ``path``, first moving a download aside so it is never used."""
        if downloaded:
            rejected = self.downloads / f"{src.filename}.mismatch"
            os.replace(path, rejected)
            kept = f"The download was moved to {rejected} and is not used (delete it when you no longer need it)."
            todo = (
                f"Rerun `{self.command}` to download it again. If the mismatch repeats, the file served at {src.url} "
                f"is not the expected one: check {src.homepage}, or put a verified copy at "
                f"{self.downloads / src.filename} (or in a folder given with --archive-dir)."
            )
        else:
            kept = f"{path} was left where it is and is not used."
            todo = (
                f"Replace {path} with a complete copy (or delete it to have it downloaded from {src.url}) "
                f"and rerun `{self.command}`."
            )
        if algo == "sha256":
            todo += (
                f" If the publisher has replaced {src.filename} on purpose, delete its entry from the manifest "
                "named above and rerun."
            )
        raise ChecksumError(
            f"{src.filename}: checksum mismatch: expected {algo} {expected} ({basis}), got {actual}. "
            f"{kept} Nothing already installed was changed. {todo}"
        )

    def install(self, part: Part) -> int:
        """Extract ``part`` into a staging folder, mark it complete, rename it into place; return its file count."""
        archives = [(self.sources[name], self.obtain(self.sources[name])) for name in part.sources]
        target = self.dataset_dir / part.target
        staging = self.dataset_dir / f"{STAGING_PREFIX}{part.target}"
        if staging.exists() or staging.is_symlink():
            remove_staging(staging)
        created = not self.dataset_dir.exists()
        staging.mkdir(parents=True)
        try:
            (staging / STAGING_MARK).write_text(f"{part.target}\n", encoding="utf-8")
            files = self._extract_into(staging, target, part, archives)
            marker = self._marker(part, files, archives)
            write_record(staging / MARKER, marker, sort_keys=True)  # written last: its presence means "complete"
            (staging / STAGING_MARK).unlink()
            os.rename(staging, target)
        except BaseException as exc:
            if isinstance(exc, Exception):
                shutil.rmtree(staging, ignore_errors=True)
                if created and not any(self.dataset_dir.iterdir()):
                    self.dataset_dir.rmdir()  # an empty <root>/<NAME> would hide a copy under a later data root
            raise  # a kill or Ctrl-C leaves the staging folder, which the next run removes
        record_part(self.dataset_dir, part, marker)
        return files

    def _extract_into(
        self, staging: Path, target: Path, part: Part, archives: list[tuple[Source, VerifiedArchive]]
    ) -> int:
        """Extract the members ``part`` picks from each archive into ``staging``; check its required paths."""
        files = 0
        for src, archive in archives:
            self.report(f"{src.filename}: extracting into {target}")
            try:
                files += extract(archive.path, src.kind, lambda m, f=src.filename: part.pick(f, m), staging,
                                 limit=self.max_extract)
            except ExtractionLimitError as exc:  # its own message says what to do; the archive may be fine
                raise ExtractionLimitError(
                    f"{exc} What was extracted for {target} in this run was removed and nothing installed was "
                    f"changed. Once that is done, rerun `{self.command}`.", exc.limit
                ) from exc
            except ArchiveError as exc:
                raise ArchiveError(
                    f"{exc} The unfinished extraction was removed and nothing installed was changed. "
                    f"Delete {archive.path} (or replace it with a good copy) and rerun `{self.command}`."
                ) from exc
        missing = [r for r in part.required if not (staging / r).exists()]
        if missing:
            names = ", ".join(str(a.path) for _, a in archives)
            raise ArchiveError(
                f"{names} did not provide {', '.join(missing)} for {target}; it is not the expected archive. "
                f"Nothing was installed. Replace it with the file from {archives[0][0].homepage} and rerun "
                f"`{self.command}`."
            )
        return files

    def _marker(self, part: Part, files: int, archives: list[tuple[Source, VerifiedArchive]]) -> dict:
        """The completion marker of ``part``: when it was installed, and what from (URL, size, digests, check)."""
        return {
            "dataset": self.spec.name,
            "part": part.target,
            "files": files,
            "installed": now(),
            "sources": {
                src.filename: {
                    "url": src.url,
                    "bytes": archive.path.stat().st_size,
                    **archive.digests,
                    "checked_against": archive.checked_against,
                }
                for src, archive in archives
            },
        }

    def sync_manifest(self) -> None:
        """Enter parts whose marker exists but whose manifest entry is missing (a run stopped in between)."""
        for part in self.spec.parts:
            if part_installed(self.dataset_dir, part):
                if part.target not in load_manifest(self.dataset_dir)["parts"]:
                    record_part(self.dataset_dir, part, read_json(self.dataset_dir / part.target / MARKER))
