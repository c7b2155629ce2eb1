"""Resumable HTTP(S) downloads and file digests.

A download is written to a ``.part`` file that the caller renames to its final name only
after the checksum has been verified, so a file under its final name is always complete.
An interrupted transfer is resumed with an HTTP ``Range`` request for the bytes still
missing; a server that ignores ``Range`` (it answers 200 instead of 206) is downloaded
again from the start. Only the standard library is used, so the tool works in a bare
virtual environment.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from data_prep.errors import DownloadError, NetworkUnavailableError

CHUNK = 1 << 20
USER_AGENT = "sgma-book-fetch/0.1 (python urllib)"

Report = Callable[[str], None]


class _Interrupted(Exception):
    """The transfer ended before every byte arrived; the caller resumes it."""


def file_digests(path: str | os.PathLike) -> dict[str, str]:
    """``{"md5": ..., "sha256": ...}`` of a file, computed in one pass over it."""
    md5 = hashlib.md5()
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            md5.update(block)
            sha.update(block)
    return {"md5": md5.hexdigest(), "sha256": sha.hexdigest()}


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """``(first byte, total size)`` from a ``Content-Range`` header; ``None`` where absent."""
    if not value:
        return None, None
    m = re.match(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)", value)
    if not m:
        return None, None
    start = int(m.group(1)) if m.group(1) is not None else None
    total = int(m.group(2)) if m.group(2) != "*" else None
    return start, total


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _transfer(url: str, part: Path, timeout: float, report: Report) -> None:
    """One request: append the missing bytes to ``part`` (or rewrite it). Raises :class:`_Interrupted`."""
    name = part.name.removesuffix(".part")
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            _, total = _content_range(exc.headers.get("Content-Range"))
            if total == offset:
                return  # the part already holds the whole file; the checksum decides
            part.unlink()
            raise _Interrupted(f"the server refused to resume at byte {offset}; starting again") from exc
        raise DownloadError(f"{url}: the server answered HTTP {exc.code} ({exc.reason}).") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (TimeoutError, socket.timeout, ConnectionResetError)):
            raise _Interrupted(f"no complete answer from the server ({exc.reason})") from exc
        raise NetworkUnavailableError(f"cannot reach {url} ({exc.reason}).") from exc
    except (ConnectionError, TimeoutError, http.client.HTTPException) as exc:
        raise _Interrupted(f"{type(exc).__name__}: {exc}") from exc

    with response:
        if offset and response.status == 206:
            start, _ = _content_range(response.headers.get("Content-Range"))
            if start != offset:
                part.unlink()
                raise _Interrupted(f"the server resumed at byte {start}, not {offset}; starting again")
            mode = "ab"
        else:
            if offset:
                report(f"  the server does not resume downloads; downloading {name} from the start")
            mode, offset = "wb", 0
        length = response.headers.get("Content-Length")
        expected = offset + int(length) if length and length.isdigit() else None
        received = offset
        step = max(expected // 10, CHUNK) if expected else 256 * CHUNK
        next_report = received + step
        with open(part, mode) as fh:
            while True:
                try:
                    block = response.read(CHUNK)
                except http.client.IncompleteRead as exc:
                    fh.write(exc.partial)
                    raise _Interrupted(f"connection closed after {received + len(exc.partial)} bytes") from exc
                except (ConnectionError, TimeoutError, http.client.HTTPException) as exc:
                    raise _Interrupted(f"{type(exc).__name__}: {exc}") from exc
                if not block:
                    break
                fh.write(block)
                received += len(block)
                if received >= next_report:
                    total = f" of {_human(expected)}" if expected else ""
                    report(f"  {name}: {_human(received)}{total}")
                    next_report += step
        if expected is not None and received < expected:
            raise _Interrupted(f"connection closed after {received} of {expected} bytes")


def download(
    url: str,
    part: str | os.PathLike,
    *,
    retries: int = 3,
    timeout: float = 60.0,
    backoff: float = 2.0,
    report: Report = print,
) -> Path:
    """Download ``url`` into ``part`` (a ``.part`` path), resuming from the bytes it already holds.

    A transfer that breaks off is resumed up to ``retries`` times, waiting ``backoff`` seconds
    times the attempt number in between. Raises :class:`NetworkUnavailableError` when the
    server cannot be reached, :class:`DownloadError` when it refuses the file or the transfer
    keeps breaking off; the bytes received so far stay in ``part`` for the next run.
    """
    part = Path(part)
    part.parent.mkdir(parents=True, exist_ok=True)
    attempt = 0
    while True:
        try:
            _transfer(url, part, timeout, report)
            return part
        except _Interrupted as exc:
            attempt += 1
            have = part.stat().st_size if part.exists() else 0
            if attempt > retries:
                raise DownloadError(
                    f"the download of {url} broke off ({exc}); {_human(have)} received so far are kept in {part}."
                ) from exc
            report(f"  transfer interrupted ({exc}); resuming from byte {have} (retry {attempt} of {retries})")
            time.sleep(backoff * attempt)
