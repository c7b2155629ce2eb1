"""A dataset's images in memory at a run's input size, with the labels and semantics a ZSL run needs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sgma_core.data import ZSLDataset, load_dataset, validation_split
from sgma_core.data.cache import cached_images
from sgma_core.data.cub import check_parts_within
from sgma_core.data.images import load_images
from sgma_core.engine.step import TrainData
from sgma_core.paths import runs_root
from sgma_core.profiles import RunConfig


@dataclass
class PreparedData:
    """A dataset's images in memory at the run's input size, with labels remapped.

    ``train``: trainval images with seen labels ``0..S−1``; ``test_unseen_*``: unseen labels
    ``0..U−1``; ``test_seen_*``: seen labels; ``phi_seen`` ``[K, S]``; ``phi_gzsl``
    ``[K, S+U]`` (seen columns first).
    """

    dataset: ZSLDataset
    image_size: int
    train: TrainData
    trainval_rows: np.ndarray
    test_unseen_rows: np.ndarray
    test_seen_rows: np.ndarray
    test_unseen_images: torch.Tensor
    test_unseen_labels: np.ndarray
    test_seen_images: torch.Tensor
    test_seen_labels: np.ndarray
    phi_seen: torch.Tensor
    phi_gzsl: torch.Tensor
    split: str = "test"
    decode_info: dict | None = None
    original_sizes: dict[int, tuple[int, int]] | None = None  # dataset row → (width, height) before resizing

    def sizes_of(self, rows: np.ndarray) -> np.ndarray:
        """Original ``(width, height)`` ``[len(rows), 2]`` of decoded dataset rows (to map part locations)."""
        return np.array([self.original_sizes[int(r)] for r in rows], dtype=np.int64)

    @property
    def n_seen(self) -> int:
        return int(self.phi_seen.shape[1])

    @property
    def n_unseen(self) -> int:
        return int(self.phi_gzsl.shape[1] - self.phi_seen.shape[1])


def _subsample(rows: np.ndarray, labels: np.ndarray, limit: int | None) -> np.ndarray:
    """At most ``limit`` rows, spread over classes (round-robin), deterministic."""
    if limit is None or len(rows) <= limit:
        return rows
    rng = np.random.default_rng(0)
    by_class = [rng.permutation(rows[labels[rows] == c]).tolist() for c in np.unique(labels[rows])]
    picked: list[int] = []
    while len(picked) < limit:
        for bucket in by_class:
            if bucket and len(picked) < limit:
                picked.append(bucket.pop())
    return np.sort(np.array(picked, dtype=np.int64))


def prepare_data(config: RunConfig, data_root: str | Path | None = None, progress: bool = True,
                 split: str = "test", cache_dir: str | Path | None = None,
                 runs_dir: str | Path | None = None) -> PreparedData:
    """Load ``config.dataset`` and decode its trainval and test images at ``config.image_size``.

    With ``config.cache_images`` the decoded images come from (or go into) the memory-mapped cache
    of :mod:`sgma_core.data.cache` in ``cache_dir`` (default: ``cache/`` in the runs folder,
    ``runs_dir`` or ``$SGMA_RUNS_ROOT`` or ``<repo>/runs``); the digests of the image files that the
    dataset's fingerprint holds are kept there too.

    ``split="val"``: the validation re-split of :func:`validation_split` (validation classes play
    the unseen ones), for choosing hyper-parameters such as the calibration ``γ``.
    """
    if split not in ("test", "val"):
        raise ValueError(f"split={split!r}; choose 'test' or 'val'")
    cache_dir = cache_dir if cache_dir is not None else runs_root(runs_dir) / "cache"
    ds = load_dataset(config.dataset, data_root)
    if split == "val":
        ds = validation_split(ds)
    ds.fingerprint(cache_dir=cache_dir)  # what names its runs; the images' digests are kept beside their pixels
    tv = _subsample(ds.trainval, ds.labels, config.max_train_images)
    tu = _subsample(ds.test_unseen, ds.labels, config.max_test_images)
    ts = _subsample(ds.test_seen, ds.labels, config.max_test_images)
    rows = np.concatenate([tv, tu, ts])
    paths = [ds.image_paths[i] for i in rows]
    if config.cache_images:
        images, sizes, decode_info = cached_images(paths, config.image_size, cache_dir, progress=progress)
    else:
        t0 = time.perf_counter()
        images, sizes = load_images(paths, config.image_size, progress=progress)
        decode_info = {"cache": None, "images": len(paths), "decoded": len(paths),
                       "seconds": round(time.perf_counter() - t0, 2)}
    check_parts_within(ds, rows, sizes)  # where parts are scored, they must lie on their images
    a, b = len(tv), len(tv) + len(tu)
    att = torch.tensor(ds.att, dtype=torch.float32)
    return PreparedData(
        dataset=ds, image_size=config.image_size,
        train=TrainData(images[:a], torch.from_numpy(ds.seen_labels(tv))),
        trainval_rows=tv, test_unseen_rows=tu, test_seen_rows=ts,
        test_unseen_images=images[a:b], test_unseen_labels=ds.unseen_labels(tu),
        test_seen_images=images[b:], test_seen_labels=ds.seen_labels(ts),
        phi_seen=att[:, ds.seen_classes],
        phi_gzsl=torch.cat([att[:, ds.seen_classes], att[:, ds.unseen_classes]], dim=1),
        split=split, decode_info=decode_info, original_sizes=dict(zip(rows.tolist(), map(tuple, sizes.tolist()))),
    )
