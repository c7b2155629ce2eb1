"""The bookkeeping of :mod:`data_prep.fetch`: completion markers, the manifest, recorded checksums.

``<root>/<NAME>/<part>/.sgma-complete.json`` (:data:`MARKER`) is written last into a part's
folder, so its presence means the part is complete. ``<root>/<NAME>/.sgma-fetch.json``
(:data:`MANIFEST`) indexes the installed parts and the digests of the archives they came from;
for archives without a published md5 it holds the sha256 that later uses are checked against.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from data_prep.catalog import Part
from data_prep.errors import FetchError
from sgma_core.records import write_record

MARKER = ".sgma-complete.json"
MANIFEST = ".sgma-fetch.json"


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_json(path: Path) -> dict:
    """The JSON object in the marker or manifest ``path``; anything else is a :class:`FetchError` saying what to do."""
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
    data = read_json(path) if path.is_file() else {}
    data.setdefault("dataset", dataset_dir.name)
    data.setdefault("archives", {})
    data.setdefault("parts", {})
    return data


def recorded_sha256(root: Path, filename: str) -> tuple[str, Path] | None:
    """The sha256 recorded for ``filename`` by an earlier fetch into any dataset under ``root``."""
    for manifest in sorted(root.glob(f"*/{MANIFEST}")):
        record = read_json(manifest).get("archives", {}).get(filename)
        if isinstance(record, dict) and record.get("sha256"):
            return str(record["sha256"]), manifest
    return None


def part_installed(dataset_dir: Path, part: Part) -> bool:
    """Whether ``part`` was installed completely: its folder holds the marker written last."""
    return (dataset_dir / part.target / MARKER).is_file()


def record_part(dataset_dir: Path, part: Part, marker: dict) -> None:
    """Add an installed part and its archives' digests (from its ``marker``) to the manifest.

    An archive's first record is kept: it holds the sha256 that later uses are checked against.
    """
    manifest = load_manifest(dataset_dir)
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
    write_record(dataset_dir / MANIFEST, manifest, sort_keys=True)
