"""Download, verify and install the real datasets in the layout the readers of :mod:`sgma_core.data` expect.

    python -m data_prep.fetch cub  [--root DIR] [--archive-dir DIR] [--dry-run]     # or awa2, flo

Each dataset is a folder ``<root>/<NAME>`` of *parts*, each extracted from one or more archives; which, and
from where, is :data:`DATASETS` and :data:`SOURCES` in :mod:`data_prep.catalog`. The default root is
:func:`default_root`. An archive is looked for in ``--archive-dir`` and ``<root>/downloads/``, else downloaded
there as ``<file>.part`` (resumed after an interruption) and named only once it matches its published md5 or,
where none is published, the sha256 recorded at its first use. A part is extracted into ``.partial-<part>``,
marked complete and renamed into place, so a folder under its final name is complete; extraction stops at the
limits of :mod:`data_prep.archives`. A dataset already installed touches no network. Every failure is a
:class:`~data_prep.errors.FetchError` that says what to do (without network: which file to put where), and
the command exits with status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from data_prep.catalog import DATASETS, SOURCES, DatasetSpec, Part, Source
from data_prep.download import Report
from data_prep.errors import FetchError
from data_prep.install import DOWNLOADS, STAGING_PREFIX, FetchRun, VerifiedArchive, remove_staging
from data_prep.manifest import MANIFEST, MARKER, load_manifest, part_installed, recorded_sha256
from sgma_core.cli import add_debug_flag, command
from sgma_core.paths import data_roots

# The catalogue, the bookkeeping and the installing live in their own modules; their public
# names are re-exported so that code importing them from here keeps working.
__all__ = [
    "DATASETS", "DOWNLOADS", "MANIFEST", "MARKER", "SOURCES", "STAGING_PREFIX", "DatasetSpec", "FetchRun", "Part",
    "Source", "VerifiedArchive", "default_root", "fetch", "load_manifest", "main", "part_installed", "recorded_sha256",
]


def default_root() -> Path:
    """The first folder of ``SGMA_DATA_ROOT``, else ``<repo>/data``: where the readers look first."""
    return data_roots()[0]


def fetch(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    archive_dir: str | os.PathLike | None = None,
    dry_run: bool = False,
    delete_archives: bool = False,
    retries: int = 3,
    report: Report = print,
    max_extract_gb: float | None = None,
) -> list[str]:
    """Install dataset ``name`` (``cub``, ``awa2`` or ``flo``) under ``root``; return the parts installed now.

    ``archive_dir``: a folder holding archives downloaded by hand (used in place, never
    moved). ``dry_run``: say what would be done, without network or writes.
    ``delete_archives``: remove archives under ``<root>/downloads`` once they are installed.
    ``max_extract_gb``: the most GiB one archive may unpack to, in place of the default expansion limit
    (:func:`data_prep.archives.expansion_limit`).
    Raises a :class:`~data_prep.errors.FetchError` whose message says what to do.
    """
    key = name.lower()
    if key not in DATASETS:
        raise FetchError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    root_path = Path(root).expanduser() if root not in (None, "") else default_root()
    archive_path = Path(archive_dir).expanduser() if archive_dir else None
    # SOURCES is looked up here, at call time, so that a replaced table (the tests' local server) is used.
    if max_extract_gb is not None and not max_extract_gb > 0:
        raise FetchError(f"--max-extract-gb {max_extract_gb} is not a positive number of GiB; give one, e.g. 20.")
    run = FetchRun(key, root_path, archive_path, retries, report, spec=DATASETS[key], sources=SOURCES,
                   max_extract_gb=max_extract_gb)
    spec, ds_dir = run.spec, run.dataset_dir
    if run.archive_dir is not None and not run.archive_dir.is_dir():
        raise FetchError(f"--archive-dir {run.archive_dir} is not a folder; give the folder that holds the archives.")

    _remove_unfinished(run, dry_run)
    if not dry_run and ds_dir.is_dir():
        run.sync_manifest()
    pending = _pending_parts(run)
    if not pending:
        report(f"{spec.name}: up to date in {ds_dir}; nothing to download.")
        return []
    if dry_run:
        _report_plan(run, pending)
        return []

    installed = []
    for part in pending:
        files = run.install(part)
        report(f"{spec.name}: installed {ds_dir / part.target} ({files} files)")
        installed.append(part.target)
    if delete_archives:
        _delete_downloaded_archives(run)
    if all(ds_dir.parent.resolve() != r.resolve() for r in data_roots()):
        report(f"note: {root_path} is not in SGMA_DATA_ROOT; add it there so that the readers find {spec.name}.")
    return installed


def _remove_unfinished(run: FetchRun, dry_run: bool) -> None:
    """Remove (or, in a dry run, name) the ``.partial-*`` folders of runs that were killed."""
    ds_dir = run.dataset_dir
    leftovers = sorted(ds_dir.glob(f"{STAGING_PREFIX}*")) if ds_dir.is_dir() else []
    for leftover in leftovers:
        if dry_run:
            run.report(f"would remove {leftover}, an unfinished extraction left by an earlier run")
        else:
            remove_staging(leftover)
            run.report(f"removed {leftover}, an unfinished extraction left by an earlier run")


def _pending_parts(run: FetchRun) -> list[Part]:
    """The parts still to install; a folder this tool did not install is left as it is, and said so."""
    pending: list[Part] = []
    for part in run.spec.parts:
        target = run.dataset_dir / part.target
        if part_installed(run.dataset_dir, part):
            continue
        if target.exists():
            run.report(
                f"{target} exists but was not installed by this tool (it has no {MARKER}); it is left as it is. "
                f"To have it installed from the archive, move it away and rerun `{run.command}`."
            )
            continue
        pending.append(part)
    return pending


def _report_plan(run: FetchRun, pending: list[Part]) -> None:
    """Say, for a dry run, which file each pending part would use or download, and how it would be checked."""
    for part in pending:
        for filename in part.sources:
            src = run.sources[filename]
            found = run.locate(filename)
            check = _planned_check(run, src)
            if found is not None:
                run.report(f"{filename}: would use {found}, {check}")
            else:
                part_file = run.downloads / f"{filename}.part"
                resume = f", resuming {part_file}" if part_file.exists() else ""
                size = f" ({src.approx_size})" if src.approx_size else ""
                run.report(
                    f"{filename}: would download {src.url}{size} to {run.downloads / filename}{resume}, "
                    f"{check}"
                )
        run.report(f"{run.spec.name}: would extract into {run.dataset_dir / part.target}")


def _planned_check(run: FetchRun, src: Source) -> str:
    """Which checksum ``src`` would be checked against: published md5, recorded sha256, or none yet."""
    if src.md5:
        return f"checked against md5 {src.md5} ({src.checksum_note})"
    recorded = recorded_sha256(run.root, src.filename)
    if recorded is not None:
        return f"checked against the sha256 recorded in {recorded[1]}"
    return f"{src.checksum_note}, so its sha256 would be recorded"


def _delete_downloaded_archives(run: FetchRun) -> None:
    """``--delete-archives``: remove the archives of this run under ``<root>/downloads`` (never ``--archive-dir``)."""
    for archive in run.archives.values():
        if archive.path.parent == run.downloads and archive.path.exists():
            archive.path.unlink()
            run.report(f"deleted {archive.path} (installed; --delete-archives)")


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
    p.add_argument("--max-extract-gb", type=float, default=None, metavar="GB",
                   help="the most GiB one archive may unpack to (default: 10 times its size, 256 MiB to 64 GiB)")
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
                max_extract_gb=args.max_extract_gb,
            )
        except FetchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
