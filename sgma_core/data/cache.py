"""A decoded-image cache: every image decoded and resized once, kept as a ``uint8`` memory map.

The images of a dataset are decoded once, in parallel by DataLoader workers, into one ``[N, 3, S, S]``
``uint8`` array on disk that later runs map into memory; normalisation and augmentation then run on the
training device (:mod:`sgma_core.data.images`). Files, under ``cache_dir`` (default ``<runs root>/cache``)::

    images-<S>px-<key>.u8          the pixels, row i = paths[i]
    images-<S>px-<key>.sizes.npy   original (width, height) of each image
    images-<S>px-<key>.done.npy    which rows are written (progress, for resuming)
    images-<S>px-<key>.json        written last: the cache is complete

``key`` hashes the image paths, the size and each file's size and modification time, so a changed image
gives a new cache rather than stale pixels. An interrupted build resumes at the first row not written.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np
import torch

from sgma_core.data.images import read_image
from sgma_core.files import locked, write_array
from sgma_core.paths import runs_root
from sgma_core.records import write_record


class _Decode(torch.utils.data.Dataset):
    """Decode-and-resize of a list of image files; item ``i`` → ``(i, [3, S, S] uint8, (w, h))``."""

    def __init__(self, paths: list[Path], rows: np.ndarray, size: int) -> None:
        self.paths, self.rows, self.size = paths, rows, size

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, k: int):
        i = int(self.rows[k])
        arr, original = read_image(self.paths[i], self.size)
        return i, torch.from_numpy(arr), torch.tensor(original)


def cache_key(paths: list[Path], size: int) -> str:
    """A hash of the paths, the size and every file's byte size and modification time."""
    h = hashlib.sha256(f"{size}\n".encode())
    for p in paths:
        try:
            st = os.stat(p)
            h.update(f"{p}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
        except FileNotFoundError:
            h.update(f"{p}\tmissing\n".encode())
    return h.hexdigest()[:16]


def default_workers() -> int:
    """DataLoader workers for decoding: the usable CPU cores, at most 16."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        n = os.cpu_count() or 1
    return max(0, min(16, n))


def cached_images(paths: list[Path], size: int, cache_dir: str | Path | None = None, workers: int | None = None,
                  chunk: int = 256, progress: bool = False) -> tuple[torch.Tensor, np.ndarray, dict]:
    """``paths`` decoded at ``size`` × ``size``: ``(images [N, 3, S, S] uint8, sizes [N, 2], info)``.

    ``images`` is backed by the memory-mapped cache file (copy-on-write: writing to it never changes
    the file). ``info`` says whether the cache was built or reused, how many images were decoded
    and at what rate (images/s). Images missing or undecodable raise
    :class:`~sgma_core.data.images.ImageReadError` naming the file; the rows written so far are kept.
    """
    paths = [Path(p) for p in paths]
    n = len(paths)
    if n == 0:
        return torch.empty((0, 3, size, size), dtype=torch.uint8), np.empty((0, 2), dtype=np.int64), {"images": 0}
    cache_dir = Path(cache_dir) if cache_dir is not None else runs_root() / "cache"
    cache_dir.mkdir(parents=True, exist_ok=True)
    files = _CacheFiles(cache_dir / f"images-{size}px-{cache_key(paths, size)}")
    shape = (n, 3, size, size)
    info = {"cache": str(files.pixels), "images": n, "decoded": 0, "seconds": 0.0, "images_per_s": None}
    # One process builds a cache at a time (the ranks of a torchrun job, two chapters at once); the
    # others wait for the lock and then find the cache complete.
    with locked(files.lock):
        if files.meta.is_file() and files.pixels.is_file() and files.pixels.stat().st_size == int(np.prod(shape)):
            info["reused"] = True
        else:
            info["reused"] = False
            workers = default_workers() if workers is None else workers
            _build(files, paths, size, workers, chunk, progress, info)
    mm = np.memmap(files.pixels, dtype=np.uint8, mode="c", shape=shape)
    return torch.from_numpy(mm), np.load(files.sizes), info


class _CacheFiles:
    """The files of one cache, named ``<stem><suffix>`` (see the module docstring)."""

    def __init__(self, stem: Path) -> None:
        self.pixels, self.sizes, self.done, self.meta, self.lock = (
            stem.with_name(stem.name + s) for s in (".u8", ".sizes.npy", ".done.npy", ".json", ".lock")
        )


def _build(files: _CacheFiles, paths: list[Path], size: int, workers: int, chunk: int, progress: bool,
           info: dict) -> None:
    """Decode the rows not yet done into the pixel file, then write the metadata file that marks it complete.

    Updates ``info`` with the count decoded, the time and the rate. Called with the cache's lock held.
    """
    from tqdm import tqdm

    n = len(paths)
    shape = (n, 3, size, size)
    done, sizes = _resume_or_start(files, shape)
    todo = np.flatnonzero(~done)
    mm = np.memmap(files.pixels, dtype=np.uint8, mode="r+", shape=shape)
    loader = torch.utils.data.DataLoader(_Decode(paths, todo, size), batch_size=max(1, min(32, chunk)),
                                         num_workers=workers, shuffle=False)
    t0 = time.perf_counter()
    unsaved = 0
    bar = tqdm(total=len(todo), desc=f"decoding at {size}px", disable=not progress, mininterval=5.0)
    try:
        for rows, arrays, originals in loader:
            rows = rows.numpy()
            mm[rows] = arrays.numpy()
            sizes[rows] = originals.numpy()
            done[rows] = True
            bar.update(len(rows))
            unsaved += len(rows)
            if unsaved >= chunk:  # make the progress durable every `chunk` images
                _save_progress(mm, sizes, done, files.sizes, files.done)
                unsaved = 0
    finally:
        bar.close()
        _save_progress(mm, sizes, done, files.sizes, files.done)
        del mm
    seconds = time.perf_counter() - t0
    info.update(decoded=len(todo), seconds=round(seconds, 2),
                images_per_s=round(len(todo) / seconds, 1) if seconds > 0 else None, workers=workers)
    write_record(files.meta, {"shape": list(shape), "dtype": "uint8", "paths": len(paths),
                              "first": str(paths[0]) if paths else None, **info})
    files.done.unlink(missing_ok=True)


def _resume_or_start(files: _CacheFiles, shape: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``(done [N] bool, sizes [N, 2])`` of an interrupted build, or of a new one (whose pixel file is created)."""
    n = shape[0]
    if files.pixels.is_file() and files.pixels.stat().st_size == int(np.prod(shape)) and files.done.is_file() \
            and files.sizes.is_file():
        return np.load(files.done), np.load(files.sizes)
    with open(files.pixels, "wb") as fh:
        fh.truncate(int(np.prod(shape)))
    return np.zeros(n, dtype=bool), np.zeros((n, 2), dtype=np.int64)


def _save_progress(mm: np.memmap, sizes: np.ndarray, done: np.ndarray, sizes_path: Path, done_path: Path) -> None:
    """Flush the pixels, then record the sizes and which rows are done (each file replaced atomically)."""
    mm.flush()
    for arr, path in ((sizes, sizes_path), (done, done_path)):
        write_array(path, arr)
