"""Download, verify and install the real datasets in the layout the readers expect.

    python -m data_prep.fetch cub  [--root DIR] [--archive-dir DIR] [--dry-run]
    python -m data_prep.fetch awa2
    python -m data_prep.fetch flo

Each dataset is a folder ``<root>/<NAME>`` made of *parts*, each extracted from one or more
archives (see :data:`DATASETS` and :data:`SOURCES`):

* ``CUB/CUB_200_2011/`` from ``CUB_200_2011.tgz``; ``CUB/xlsa17/`` from ``xlsa17.zip``;
* ``AWA2/Animals_with_Attributes2/`` from ``AwA2-data.zip``; ``AWA2/xlsa17/`` from ``xlsa17.zip``;
* ``FLO/oxford102/`` from ``102flowers.tgz``, ``imagelabels.mat`` and ``setid.mat``;
  ``FLO/xlsa17/`` from ``cvpr18xian.zip`` (the FLO split and features of Xian et al., CVPR 2018).

The default root is the first folder of ``SGMA_DATA_ROOT`` (else ``<repo>/data``), where the
readers in :mod:`sgma_core.data` look first.

Why it is built this way:

* Archives are downloaded to ``<root>/downloads/<file>.part`` and resumed with an HTTP
  ``Range`` request after an interruption; only a verified file gets its final name.
* Every archive is checked against its published md5 where one is published. Where none
  is, the sha256 of the first archive used is recorded in ``<root>/<NAME>/.sgma-fetch.json``
  and every later use is checked against that record (the output says which check ran).
* A part is extracted into a hidden sibling folder ``.partial-<part>``, a completion marker
  is written into it last, and only then is it renamed into place. A run that is killed
  leaves at most a ``.partial-*`` folder, which the next run removes: a folder under its
  final name is always complete.
* A run with everything installed prints that it is up to date and touches no network.
* Without network access the error says which file is missing and where to put a copy
  downloaded elsewhere: ``<root>/downloads/`` or a folder given with ``--archive-dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from data_prep.archives import extract
from data_prep.download import Report, download, file_digests
from data_prep.errors import ArchiveError, ChecksumError, DownloadError, FetchError, NetworkUnavailableError
from sgma_core.cli import add_debug_flag, command
from sgma_core.paths import data_roots

MARKER = ".sgma-complete.json"
MANIFEST = ".sgma-fetch.json"
STAGING_PREFIX = ".partial-"
DOWNLOADS = "downloads"


@dataclass(frozen=True)
class Source:
    """One file to download.

    ``kind``: ``"tgz"``, ``"zip"`` or ``"file"`` (used as it is). ``md5``: the published
    checksum, or ``None`` where none is published; ``checksum_note`` says where the md5
    comes from, or that there is none.
    """

    filename: str
    url: str
    kind: str
    md5: str | None
    checksum_note: str
    homepage: str
    approx_size: str | None = None


SOURCES: dict[str, Source] = {
    "CUB_200_2011.tgz": Source(
        filename="CUB_200_2011.tgz",
        url="https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz?download=1",
        kind="tgz",
        md5="97eceeb196236b17998738112f37df78",
        checksum_note="md5 checked by common CUB-200-2011 loaders: TDeVries/cub2011_dataset, ContinualAI/avalanche",
        homepage="https://www.vision.caltech.edu/datasets/cub_200_2011/",
        approx_size="about 1.1 GB",
    ),
    "xlsa17.zip": Source(
        filename="xlsa17.zip",
        url="https://datasets.d2.mpi-inf.mpg.de/xian/xlsa17.zip",
        kind="zip",
        md5=None,  # the authors publish no checksum for this archive
        checksum_note="no checksum is published for xlsa17.zip",
        homepage="https://www.mpi-inf.mpg.de/departments/computer-vision-and-machine-learning/research/"
        "zero-shot-learning/zero-shot-learning-the-good-the-bad-and-the-ugly",
        approx_size="about 880 MB",
    ),
    "AwA2-data.zip": Source(
        filename="AwA2-data.zip",
        url="https://cvml.ista.ac.at/AwA2/AwA2-data.zip",
        kind="zip",
        md5=None,  # the AwA2 page publishes no checksum
        checksum_note="no checksum is published for AwA2-data.zip",
        homepage="https://cvml.ista.ac.at/AwA2/",
        approx_size="about 13 GB",
    ),
    "102flowers.tgz": Source(
        filename="102flowers.tgz",
        url="https://www.robots.ox.ac.uk/~vgg/data/flowers/102/102flowers.tgz",
        kind="tgz",
        md5="52808999861908f626f3c1f4e79d11fa",
        checksum_note="md5 from torchvision.datasets.Flowers102",
        homepage="https://www.robots.ox.ac.uk/~vgg/data/flowers/102/",
        approx_size="about 330 MB",
    ),
    "imagelabels.mat": Source(
        filename="imagelabels.mat",
        url="https://www.robots.ox.ac.uk/~vgg/data/flowers/102/imagelabels.mat",
        kind="file",
        md5="e0620be6f572b9609742df49c70aed4d",
        checksum_note="md5 from torchvision.datasets.Flowers102",
        homepage="https://www.robots.ox.ac.uk/~vgg/data/flowers/102/",
    ),
    "setid.mat": Source(
        filename="setid.mat",
        url="https://www.robots.ox.ac.uk/~vgg/data/flowers/102/setid.mat",
        kind="file",
        md5="a5357ecc9cb78c4bef273ce3793fc85c",
        checksum_note="md5 from torchvision.datasets.Flowers102",
        homepage="https://www.robots.ox.ac.uk/~vgg/data/flowers/102/",
    ),
    "cvpr18xian.zip": Source(
        filename="cvpr18xian.zip",
        url="https://datasets.d2.mpi-inf.mpg.de/xian/cvpr18xian.zip",
        kind="zip",
        md5=None,  # the authors publish no checksum for this archive
        checksum_note="no checksum is published for cvpr18xian.zip",
        homepage="https://www.mpi-inf.mpg.de/departments/computer-vision-and-machine-learning/research/"
        "zero-shot-learning/feature-generating-networks-for-zero-shot-learning",
    ),
}


@dataclass(frozen=True)
class Part:
    """One folder of a dataset, ``<root>/<NAME>/<target>``, made from the files in ``sources``.

    ``pick(source file name, member name)`` gives the member's path inside ``target`` or
    ``None`` to leave it out; ``required`` lists paths that must exist after extraction.
    """

    target: str
    sources: tuple[str, ...]
    pick: Callable[[str, str], str | None]
    required: tuple[str, ...]


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    parts: tuple[Part, ...]


def _strip_prefix(prefix: str) -> Callable[[str, str], str | None]:
    """Members under ``prefix/``, with the prefix removed; everything else left out."""

    def pick(source: str, member: str) -> str | None:
        if member.startswith(prefix + "/"):
            return member[len(prefix) + 1 :] or None
        return None

    return pick


def _pick_cub(source: str, member: str) -> str | None:
    """``CUB_200_2011/…`` as it is; the archive's top-level ``attributes.txt`` goes where the CUB README puts it."""
    if member == "attributes.txt":
        return "attributes/attributes.txt"
    return _strip_prefix("CUB_200_2011")(source, member)


def _split_files(dataset: str) -> Callable[[str, str], str | None]:
    """The files of ``…/data/<dataset>/`` in an xlsa17-style archive (``att_splits.mat``, ``res101.mat``, lists)."""
    pattern = re.compile(rf"(?:^|/)data/{re.escape(dataset)}/([^/]+)$")

    def pick(source: str, member: str) -> str | None:
        m = pattern.search(member)
        return m.group(1) if m else None

    return pick


def _pick_oxford(source: str, member: str) -> str | None:
    """``jpg/image_XXXXX.jpg`` from the image archive; the two ``.mat`` files as they are."""
    if source == "102flowers.tgz":
        return member if member.startswith("jpg/") and member != "jpg/" else None
    return member


DATASETS: dict[str, DatasetSpec] = {
    "cub": DatasetSpec(
        "CUB",
        (
            Part(
                "CUB_200_2011",
                ("CUB_200_2011.tgz",),
                _pick_cub,
                ("images", "images.txt", "classes.txt", "image_class_labels.txt"),
            ),
            Part("xlsa17", ("xlsa17.zip",), _split_files("CUB"), ("att_splits.mat",)),
        ),
    ),
    "awa2": DatasetSpec(
        "AWA2",
        (
            Part(
                "Animals_with_Attributes2",
                ("AwA2-data.zip",),
                _strip_prefix("Animals_with_Attributes2"),
                ("JPEGImages", "classes.txt"),
            ),
            Part("xlsa17", ("xlsa17.zip",), _split_files("AWA2"), ("att_splits.mat", "res101.mat")),
        ),
    ),
    "flo": DatasetSpec(
        "FLO",
        (
            Part(
                "oxford102",
                ("102flowers.tgz", "imagelabels.mat", "setid.mat"),
                _pick_oxford,
                ("jpg", "imagelabels.mat", "setid.mat"),
            ),
            Part("xlsa17", ("cvpr18xian.zip",), _split_files("FLO"), ("att_splits.mat", "res101.mat")),
        ),
    ),
}


# --------------------------------------------------------------------------------------
# Bookkeeping: markers, manifest, recorded checksums
# --------------------------------------------------------------------------------------


def default_root() -> Path:
    """The first folder of ``SGMA_DATA_ROOT``, else ``<repo>/data``: where the readers look first."""
    return data_roots()[0]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _write_json(path: Path, data: dict) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file renamed over it)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FetchError(
            f"{path} cannot be read ({exc}). It only indexes what was fetched: move it away and rerun; installed "
            "folders keep their own completion markers, and checksums of archives without a published md5 are "
            "recorded again."
        ) from exc
    if not isinstance(data, dict):
        raise FetchError(f"{path} does not hold a JSON object; move it away and rerun.")
    return data


def load_manifest(dataset_dir: Path) -> dict:
    """The manifest of ``<root>/<NAME>`` (``archives`` and ``parts`` records), empty where absent."""
    path = dataset_dir / MANIFEST
    data = _read_json(path) if path.is_file() else {}
    data.setdefault("dataset", dataset_dir.name)
    data.setdefault("archives", {})
    data.setdefault("parts", {})
    return data


def recorded_sha256(root: Path, filename: str) -> tuple[str, Path] | None:
    """The sha256 recorded for ``filename`` by an earlier fetch into any dataset under ``root``."""
    for manifest in sorted(root.glob(f"*/{MANIFEST}")):
        record = _read_json(manifest).get("archives", {}).get(filename)
        if isinstance(record, dict) and record.get("sha256"):
            return str(record["sha256"]), manifest
    return None


def part_installed(dataset_dir: Path, part: Part) -> bool:
    """Whether ``part`` was installed completely: its folder holds the marker written last."""
    return (dataset_dir / part.target / MARKER).is_file()


# --------------------------------------------------------------------------------------
# The fetch
# --------------------------------------------------------------------------------------


@dataclass
class _Archive:
    path: Path
    digests: dict[str, str]
    checked_against: str
    downloaded: bool


class _Run:
    """One ``fetch`` of one dataset: its settings and the archives obtained so far."""

    def __init__(
        self,
        key: str,
        root: Path,
        archive_dir: Path | None,
        retries: int,
        report: Report,
    ) -> None:
        self.spec = DATASETS[key]
        self.key = key
        self.root = root
        self.dataset_dir = root / self.spec.name
        self.downloads = root / DOWNLOADS
        self.archive_dir = archive_dir
        self.retries = retries
        self.report = report
        self.archives: dict[str, _Archive] = {}

    @property
    def command(self) -> str:
        extra = f" --archive-dir {self.archive_dir}" if self.archive_dir else ""
        return f"python -m data_prep.fetch {self.key} --root {self.root}{extra}"

    def locate(self, filename: str) -> Path | None:
        """A complete copy of ``filename`` already on disk: in ``--archive-dir``, else in ``<root>/downloads``."""
        for folder in (self.archive_dir, self.downloads):
            if folder is not None and (folder / filename).is_file():
                return folder / filename
        return None

    def _manual_hint(self, src: Source) -> str:
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

    def obtain(self, src: Source) -> _Archive:
        """The verified archive ``src``: found on disk, or downloaded (resuming a ``.part``)."""
        if src.filename in self.archives:
            return self.archives[src.filename]
        found = self.locate(src.filename)
        if found is not None:
            self.report(f"{src.filename}: using {found}")
            path, downloaded = found, False
        else:
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
            path, downloaded = part, True
        digests = file_digests(path)
        checked = self.verify(src, path, digests, downloaded)
        if downloaded:
            final = self.downloads / src.filename
            os.replace(path, final)
            path = final
        archive = _Archive(path, digests, checked, downloaded)
        self.archives[src.filename] = archive
        return archive

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
        """Extract ``part`` into a staging folder, mark it complete, rename it into place."""
        archives = [(SOURCES[name], self.obtain(SOURCES[name])) for name in part.sources]
        target = self.dataset_dir / part.target
        staging = self.dataset_dir / f"{STAGING_PREFIX}{part.target}"
        if staging.exists():
            shutil.rmtree(staging)
        created = not self.dataset_dir.exists()
        staging.mkdir(parents=True)
        try:
            files = 0
            for src, archive in archives:
                self.report(f"{src.filename}: extracting into {target}")
                try:
                    files += extract(archive.path, src.kind, lambda m, f=src.filename: part.pick(f, m), staging)
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
            marker = {
                "dataset": self.spec.name,
                "part": part.target,
                "files": files,
                "installed": _now(),
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
            _write_json(staging / MARKER, marker)  # written last: its presence means "complete"
            os.rename(staging, target)
        except BaseException as exc:
            if isinstance(exc, Exception):
                shutil.rmtree(staging, ignore_errors=True)
                if created and not any(self.dataset_dir.iterdir()):
                    self.dataset_dir.rmdir()  # an empty <root>/<NAME> would hide a copy under a later data root
            raise  # a kill or Ctrl-C leaves the staging folder, which the next run removes
        self._record(part, marker)
        return files

    def _record(self, part: Part, marker: dict) -> None:
        """Add an installed part and its archives' digests to the manifest."""
        manifest = load_manifest(self.dataset_dir)
        for filename, info in marker["sources"].items():
            record = manifest["archives"].setdefault(filename, {})
            if not record.get("sha256"):
                record.update(info)
                record["recorded"] = marker["installed"]
        manifest["parts"][part.target] = {
            "sources": sorted(marker["sources"]),
            "files": marker["files"],
            "installed": marker["installed"],
        }
        _write_json(self.dataset_dir / MANIFEST, manifest)

    def sync_manifest(self) -> None:
        """Enter parts whose marker exists but whose manifest entry is missing (a run stopped in between)."""
        for part in self.spec.parts:
            if part_installed(self.dataset_dir, part):
                if part.target not in load_manifest(self.dataset_dir)["parts"]:
                    self._record(part, _read_json(self.dataset_dir / part.target / MARKER))


def fetch(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    archive_dir: str | os.PathLike | None = None,
    dry_run: bool = False,
    delete_archives: bool = False,
    retries: int = 3,
    report: Report = print,
) -> list[str]:
    """Install dataset ``name`` (``cub``, ``awa2`` or ``flo``) under ``root``; return the parts installed now.

    ``archive_dir``: a folder holding archives downloaded by hand (used in place, never
    moved). ``dry_run``: say what would be done, without network or writes.
    ``delete_archives``: remove archives under ``<root>/downloads`` once they are installed.
    Raises a :class:`~data_prep.errors.FetchError` whose message says what to do.
    """
    key = name.lower()
    if key not in DATASETS:
        raise FetchError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    root_path = Path(root).expanduser() if root not in (None, "") else default_root()
    run = _Run(key, root_path, Path(archive_dir).expanduser() if archive_dir else None, retries, report)
    spec, ds_dir = run.spec, run.dataset_dir

    if run.archive_dir is not None and not run.archive_dir.is_dir():
        raise FetchError(f"--archive-dir {run.archive_dir} is not a folder; give the folder that holds the archives.")

    leftovers = sorted(ds_dir.glob(f"{STAGING_PREFIX}*")) if ds_dir.is_dir() else []
    for leftover in leftovers:
        if dry_run:
            report(f"would remove {leftover}, an unfinished extraction left by an earlier run")
        else:
            shutil.rmtree(leftover)
            report(f"removed {leftover}, an unfinished extraction left by an earlier run")

    if not dry_run and ds_dir.is_dir():
        run.sync_manifest()

    pending: list[Part] = []
    for part in spec.parts:
        target = ds_dir / part.target
        if part_installed(ds_dir, part):
            continue
        if target.exists():
            report(
                f"{target} exists but was not installed by this tool (it has no {MARKER}); it is left as it is. "
                f"To have it installed from the archive, move it away and rerun `{run.command}`."
            )
            continue
        pending.append(part)

    if not pending:
        report(f"{spec.name}: up to date in {ds_dir}; nothing to download.")
        return []

    if dry_run:
        for part in pending:
            for filename in part.sources:
                src = SOURCES[filename]
                found = run.locate(filename)
                if src.md5:
                    check = f"checked against md5 {src.md5} ({src.checksum_note})"
                elif (recorded := recorded_sha256(run.root, filename)) is not None:
                    check = f"checked against the sha256 recorded in {recorded[1]}"
                else:
                    check = f"{src.checksum_note}, so its sha256 would be recorded"
                if found is not None:
                    report(f"{filename}: would use {found}, {check}")
                else:
                    part_file = run.downloads / f"{filename}.part"
                    resume = f", resuming {part_file}" if part_file.exists() else ""
                    size = f" ({src.approx_size})" if src.approx_size else ""
                    report(
                        f"{filename}: would download {src.url}{size} to {run.downloads / filename}{resume}, "
                        f"{check}"
                    )
            report(f"{spec.name}: would extract into {ds_dir / part.target}")
        return []

    installed = []
    for part in pending:
        files = run.install(part)
        report(f"{spec.name}: installed {ds_dir / part.target} ({files} files)")
        installed.append(part.target)

    if delete_archives:
        for archive in run.archives.values():
            if archive.path.parent == run.downloads and archive.path.exists():
                archive.path.unlink()
                report(f"deleted {archive.path} (installed; --delete-archives)")

    if all(ds_dir.parent.resolve() != r.resolve() for r in data_roots()):
        report(f"note: {root_path} is not in SGMA_DATA_ROOT; add it there so that the readers find {spec.name}.")
    return installed


@command
def main(argv: list[str]) -> int:
    """Command line: ``python -m data_prep.fetch {cub,awa2,flo} [...]``; returns the exit status."""
    p = argparse.ArgumentParser(
        prog="python -m data_prep.fetch",
        description="Download, verify and install a real dataset in the layout the readers expect.",
    )
    p.add_argument("names", nargs="+", choices=sorted(DATASETS), metavar="{" + ",".join(DATASETS) + "}")
    p.add_argument("--root", default=None, help="data root (default: first folder of SGMA_DATA_ROOT, else ./data)")
    p.add_argument(
        "--archive-dir",
        default=None,
        help="folder holding archives downloaded by hand; they are used in place (also looked for: ROOT/downloads/)",
    )
    p.add_argument("--dry-run", action="store_true", help="say what would be downloaded and extracted; change nothing")
    p.add_argument(
        "--delete-archives", action="store_true", help="delete archives under ROOT/downloads once they are installed"
    )
    p.add_argument("--retries", type=int, default=3, help="resume an interrupted download this many times (default 3)")
    add_debug_flag(p)
    args = p.parse_args(argv)
    for name in args.names:
        try:
            fetch(
                name,
                args.root,
                archive_dir=args.archive_dir,
                dry_run=args.dry_run,
                delete_archives=args.delete_archives,
                retries=args.retries,
            )
        except FetchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
