"""The SHA-256 of each file a dataset's images are read from, kept so that a file is hashed once per version.

A run's identity holds a digest of its images' bytes (:meth:`~sgma_core.data.ZSLDataset.fingerprint`);
:func:`file_digests` gives one hex digest per path (:data:`MISSING` for a path that is not a file) from a cache
beside the decoded images (:mod:`sgma_core.data.cache`), one JSON file per dataset folder::

    <cache_dir>/file-digests-<key>.json    key: a hash of the folder's absolute path

A cached digest is used only while its file keeps the size and modification time (ns) it had when hashed, and
is kept only for a file last modified at least :data:`SETTLED_SECONDS` before (a file rewritten within one tick
of the file system's clock at the same size would keep its time and so a stale digest). The cache is plain JSON,
never unpickled; a damaged one or one of another :data:`FORMAT` is not trusted (what it lacks is hashed again),
and one that cannot be written costs the hashing next time, nothing else.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import time
from pathlib import Path

from sgma_core.files import write_text

FORMAT = 1
SETTLED_SECONDS = 2.0
MISSING = "missing"  # the digest of a path that is not a file
_HEX = re.compile(r"[0-9a-f]{64}")


def sha256_file(path: Path) -> str:
    """The SHA-256 of the file's bytes (hex), read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_path(folder: Path, cache_dir: Path) -> Path:
    """The digest cache of the files under ``folder``."""
    key = hashlib.sha256(os.path.abspath(folder).encode()).hexdigest()[:16]
    return cache_dir / f"file-digests-{key}.json"


def _read_cache(path: Path) -> dict[str, list]:
    """``{absolute path: [size, mtime_ns, sha256]}`` of a cache file; what is not of that shape is left out."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("files"), dict):
        return {}
    return {name: entry for name, entry in data["files"].items()
            if isinstance(entry, list) and len(entry) == 3 and all(type(v) is int for v in entry[:2])
            and isinstance(entry[2], str) and _HEX.fullmatch(entry[2])}


def _write_cache(path: Path, files: dict[str, list]) -> None:
    text = json.dumps({"format": FORMAT, "files": files}, separators=(",", ":")) + "\n"
    try:
        write_text(path, text)
    except OSError:
        pass  # a cache only saves time: without it the files are hashed again next time


def file_digests(paths: list[Path], folder: Path, cache_dir: Path) -> list[str]:
    """The SHA-256 (hex) of each file of ``paths`` (:data:`MISSING` where it is not a file), taken from the
    cache of ``folder`` in ``cache_dir`` where the file is unchanged, hashed otherwise; the cache is
    written again when anything in it changed."""
    cache = cache_path(folder, cache_dir)
    known = _read_cache(cache)
    kept: dict[str, list] = {}
    out = []
    settled_before = time.time_ns() - int(SETTLED_SECONDS * 1e9)
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append(MISSING)
            continue
        if not stat.S_ISREG(st.st_mode):
            out.append(MISSING)
            continue
        name = os.path.abspath(path)
        entry = known.get(name)
        if entry is None or entry[:2] != [st.st_size, st.st_mtime_ns]:
            entry = [st.st_size, st.st_mtime_ns, sha256_file(path)]
        if st.st_mtime_ns <= settled_before:
            kept[name] = entry
        out.append(entry[2])
    if kept != known:
        _write_cache(cache, kept)
    return out
