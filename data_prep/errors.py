"""Errors raised while fetching a dataset.

All of them are :class:`sgma_core.data.DatasetError`, so code that already handles an
unreadable or inconsistent dataset handles a failed fetch the same way. Each message names
the file involved and says what to do next.
"""

from __future__ import annotations

from sgma_core.data import DatasetError


class FetchError(DatasetError):
    """A dataset could not be downloaded, verified or installed."""


class DownloadError(FetchError):
    """A download failed: the server refused it, or the transfer broke off too often."""


class NetworkUnavailableError(DownloadError):
    """The server could not be reached at all (no network, name lookup failed, connection refused)."""


class ChecksumError(FetchError):
    """A file's digest differs from the published one or from the one recorded at its first download."""


class ArchiveError(FetchError):
    """An archive is damaged, truncated, unsafe, or does not hold the files the dataset needs."""
