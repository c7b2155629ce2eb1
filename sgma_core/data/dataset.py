"""The dataset every reader returns, :class:`ZSLDataset` (everything 0-based), the error every
reader raises, the whitespace tables of the CUB-200-2011 layout, and the validation re-split."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sgma_core.data.digests import file_digests
from sgma_core.paths import runs_root

# The data fingerprint's scheme (ZSLDataset.fingerprint): 2 since it covers the images' bytes and every table.
FINGERPRINT_SCHEME = 2


class DatasetError(ValueError):
    """A dataset file is missing, unreadable or inconsistent. The message names the file."""


def read_table(path: Path, n_cols: int, what: str, required: bool = True, integer: tuple[int, ...] = (0,),
               numeric: tuple[int, ...] = ()) -> list[list[str]] | None:
    """Whitespace-separated rows with at least ``n_cols`` fields (the last field keeps its spaces).

    UTF-8 text, with or without a byte-order mark. The fields at the positions ``integer`` must be
    integers (the ids: by default the first field), those at ``numeric`` numbers. Every problem is
    a :class:`DatasetError` naming the file and the line."""
    if not path.is_file():
        if required:
            raise DatasetError(
                f"{path} is missing ({what}). The CUB_200_2011 folder is incomplete: extract the archive again "
                "or regenerate the synthetic data (make data)."
            )
        return None
    rows = []
    raw = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    for lineno, data in enumerate(raw.split(b"\n"), 1):
        try:
            line = data.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise DatasetError(f"{path}:{lineno}: not UTF-8 text ({exc.reason} at byte {exc.start}: "
                               f"{data[max(0, exc.start - 10) : exc.start + 10]!r}). Save the file as UTF-8, or "
                               "extract it again from the original archive.") from None
        if not line:
            continue
        parts = line.split(maxsplit=n_cols - 1)
        if len(parts) < n_cols:
            raise DatasetError(f"{path}:{lineno}: expected {n_cols} fields ({what}), found {line!r}.")
        for col, kind in [(c, int) for c in integer] + [(c, float) for c in numeric]:
            try:
                kind(parts[col])
            except ValueError:
                expected = "an integer" if kind is int else "a number"
                raise DatasetError(f"{path}:{lineno}: field {col + 1} is {parts[col]!r}, "
                                   f"not {expected} ({what}).") from None
        rows.append(parts)
    return rows


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


@dataclass
class ZSLDataset:
    """A dataset in the proposed split, everything 0-based.

    Shapes (``N`` images, ``C`` classes, ``K`` attributes, ``P`` parts):

    * ``image_paths`` ``[N]``, ``image_ids`` ``[N]`` (the dataset's own ids), ``labels`` ``[N]``
      — the column of ``att`` of each image's class;
    * ``att`` ``[K, C]``, ``class_names`` ``[C]``;
    * ``seen_classes`` ``[S]`` and ``unseen_classes`` ``[U]`` — columns of ``att``;
    * ``trainval``, ``test_seen``, ``test_unseen`` (and ``train``, ``val`` where present) —
      row indices into the image arrays;
    * ``boxes`` ``[N, 4]`` (x, y, width, height in pixels) and ``part_locs`` ``[N, P, 3]``
      (x, y in pixels, visible ∈ {0, 1}), where the dataset has them.
    """

    name: str
    root: Path
    image_paths: list[Path]
    image_ids: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    att: np.ndarray
    seen_classes: np.ndarray
    unseen_classes: np.ndarray
    trainval: np.ndarray
    test_seen: np.ndarray
    test_unseen: np.ndarray
    train: np.ndarray | None = None
    val: np.ndarray | None = None
    attribute_names: list[str] | None = None
    boxes: np.ndarray | None = None
    part_names: list[str] | None = None
    part_locs: np.ndarray | None = None
    original_att: np.ndarray | None = None
    _seen_index: np.ndarray = field(init=False, repr=False)
    _unseen_index: np.ndarray = field(init=False, repr=False)
    _fingerprints: dict = field(init=False, repr=False, compare=False, default_factory=dict)  # scheme → digest

    def __post_init__(self) -> None:
        c = len(self.class_names)
        self._seen_index = np.full(c, -1, dtype=np.int64)
        self._seen_index[self.seen_classes] = np.arange(len(self.seen_classes))
        self._unseen_index = np.full(c, -1, dtype=np.int64)
        self._unseen_index[self.unseen_classes] = np.arange(len(self.unseen_classes))

    @property
    def n_images(self) -> int:
        return len(self.image_paths)

    def fingerprint(self, scheme: int = FINGERPRINT_SCHEME, cache_dir: str | Path | None = None) -> str:
        """Sixteen hex digits of a SHA-256 over what a run learns from. Part of every run's identity, so a run
        is never reused for other data (regenerated synthetic birds, another split file, other photographs,
        moved part locations) and is reused for the same data.

        Scheme 2 (today's): every table as read — the class semantics, the class, attribute and part names,
        the image ids, labels, every split, the boxes and part locations — and the SHA-256 of every image
        file's bytes with its path relative to the root. The file digests are computed once per version of
        each file and kept in ``cache_dir`` (default ``<runs root>/cache``; :mod:`sgma_core.data.digests`).

        Scheme 1, what records made before scheme 2 hold (``provenance.data_fingerprint`` without
        ``data_fingerprint_scheme``): the class semantics, labels and splits as read, and each image's path
        and size in bytes (−1 where it is missing). Computed only to tell whether such a record was made on
        today's data by that measure, which cannot tell pictures of the same size apart."""
        if scheme not in self._fingerprints:
            if scheme not in (1, 2):
                raise ValueError(f"data fingerprint scheme {scheme!r}: this code knows schemes 1 and 2")
            digest = hashlib.sha256()
            if scheme == 1:
                self._scheme1(digest)
            else:
                self._tables(digest)
                folder_cache = Path(cache_dir) if cache_dir is not None else runs_root() / "cache"
                for path, sha in zip(self.image_paths, file_digests(self.image_paths, self.root, folder_cache)):
                    digest.update(f"{_relative(path, self.root)}\t{sha}\n".encode())
            self._fingerprints[scheme] = digest.hexdigest()[:16]
        return self._fingerprints[scheme]

    def data_provenance(self, cache_dir: str | Path | None = None) -> dict:
        """What a record says of the data it was made on: ``data_fingerprint`` and its scheme."""
        return {"data_fingerprint": self.fingerprint(cache_dir=cache_dir),
                "data_fingerprint_scheme": FINGERPRINT_SCHEME}

    def _tables(self, digest) -> None:
        """Every table of the dataset as read, with its name, dtype and shape, into ``digest``."""
        for name in ("att", "original_att", "image_ids", "labels", "seen_classes", "unseen_classes", "trainval",
                     "test_seen", "test_unseen", "train", "val", "boxes", "part_locs"):
            value = getattr(self, name)
            if value is None:
                digest.update(f"{name} none\n".encode())
                continue
            array = np.ascontiguousarray(value)
            digest.update(f"{name} {array.dtype.str} {array.shape}\n".encode())
            digest.update(array.tobytes())
        digest.update(json.dumps([self.class_names, self.attribute_names, self.part_names]).encode())

    def _scheme1(self, digest) -> None:
        """What scheme 1 held (:meth:`fingerprint`), into ``digest``: unchanged, so that older records match."""
        for array in (self.att, self.labels, self.seen_classes, self.unseen_classes, self.trainval,
                      self.test_seen, self.test_unseen):
            digest.update(np.ascontiguousarray(array).tobytes())
        digest.update("\n".join(self.class_names).encode())
        for path in self.image_paths:
            try:
                size = path.stat().st_size
            except OSError:
                size = -1
            digest.update(f"{_relative(path, self.root)}\t{size}\n".encode())

    def seen_labels(self, rows: np.ndarray) -> np.ndarray:
        """Labels of ``rows`` remapped to ``0..S-1`` (the order of ``seen_classes``)."""
        out = self._seen_index[self.labels[rows]]
        if (out < 0).any():
            raise ValueError("seen_labels() was given images of unseen classes")
        return out

    def unseen_labels(self, rows: np.ndarray) -> np.ndarray:
        """Labels of ``rows`` remapped to ``0..U-1`` (the order of ``unseen_classes``)."""
        out = self._unseen_index[self.labels[rows]]
        if (out < 0).any():
            raise ValueError("unseen_labels() was given images of seen classes")
        return out

    def gzsl_labels(self, rows: np.ndarray) -> np.ndarray:
        """Labels of ``rows`` in the GZSL candidate order: seen classes first, then unseen (``0..S+U-1``)."""
        s = len(self.seen_classes)
        labels = self.labels[rows]
        seen = self._seen_index[labels]
        return np.where(seen >= 0, seen, s + self._unseen_index[labels])

    @property
    def phi_seen(self) -> np.ndarray:
        """``Φ_s``: ``[K, S]``."""
        return self.att[:, self.seen_classes]

    @property
    def phi_unseen(self) -> np.ndarray:
        """``Φ_u``: ``[K, U]``."""
        return self.att[:, self.unseen_classes]

    def split_summary(self) -> dict[str, int]:
        """Image and class counts of the proposed split."""
        out = {
            "classes": len(self.class_names),
            "seen classes": len(self.seen_classes),
            "unseen classes": len(self.unseen_classes),
            "attributes": int(self.att.shape[0]),
            "trainval images": len(self.trainval),
            "test_seen images": len(self.test_seen),
            "test_unseen images": len(self.test_unseen),
        }
        return out


def _with_class_list_split(ds: ZSLDataset) -> ZSLDataset:
    """``train`` / ``val`` rows from xlsa17's ``trainclasses1.txt`` / ``valclasses1.txt`` (class names)."""
    lists = ds.root.parent / "xlsa17"
    paths = [lists / "trainclasses1.txt", lists / "valclasses1.txt"]
    if not all(p.is_file() for p in paths):
        raise DatasetError(
            f"{ds.name}: its att_splits.mat has no train_loc/val_loc and {lists} has no trainclasses1.txt/"
            "valclasses1.txt, so there are no validation classes. Use the xlsa17 release's files (CUB's split "
            "lists come with it).")
    column = {name: j for j, name in enumerate(ds.class_names)}
    groups = []
    for path in paths:
        names = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
        unknown = [n for n in names if n not in column]
        if unknown:
            raise DatasetError(f"{path} names {len(unknown)} class(es) that {ds.name}'s split file does not, "
                               f"e.g. {unknown[0]!r}.")
        groups.append(np.array([column[n] for n in names]))
    seen_rows = np.union1d(ds.trainval, ds.test_seen)
    train = seen_rows[np.isin(ds.labels[seen_rows], groups[0])]
    val = seen_rows[np.isin(ds.labels[seen_rows], groups[1])]
    return dataclasses.replace(ds, train=train, val=val)


def validation_split(ds: ZSLDataset, held_out: float = 0.2) -> ZSLDataset:
    """The same dataset re-split for choosing hyper-parameters on validation classes (METHOD §6).

    xlsa17's ``train_loc`` / ``val_loc`` divide all seen-class images class-disjointly. Here the
    classes of ``train_loc`` play the seen classes and those of ``val_loc`` the unseen ones:
    ``trainval`` = train-class images of the original ``trainval``, ``test_seen`` = train-class images
    of the original ``test_seen`` (where that is empty, a fixed ``held_out`` share of each
    train class's images), ``test_unseen`` = ``val_loc``. No test-class image is used.

    Where the split file has no ``train_loc`` / ``val_loc`` (the CUB copy of xlsa17), the class lists
    ``trainclasses1.txt`` / ``valclasses1.txt`` beside it divide the seen classes instead, and all
    seen-split images of a validation class are its ``val_loc``.
    """
    if ds.train is None or ds.val is None:
        ds = _with_class_list_split(ds)
    train_classes = np.unique(ds.labels[ds.train])
    val_classes = np.unique(ds.labels[ds.val])
    if np.intersect1d(train_classes, val_classes).size or np.isin(val_classes, ds.unseen_classes).any():
        raise DatasetError(f"{ds.name}: train_loc and val_loc must split the seen classes class-disjointly.")
    fit_rows = np.intersect1d(ds.train, ds.trainval)
    held = np.intersect1d(ds.train, ds.test_seen)
    if held.size == 0:
        rng = np.random.default_rng(0)
        held = np.sort(np.concatenate([rng.permutation(fit_rows[ds.labels[fit_rows] == c])[
            : max(1, int(round(held_out * (ds.labels[fit_rows] == c).sum())))] for c in train_classes]))
        fit_rows = np.setdiff1d(fit_rows, held)
    return dataclasses.replace(ds, seen_classes=train_classes, unseen_classes=val_classes, trainval=fit_rows,
                               test_seen=held, test_unseen=np.sort(ds.val), train=None, val=None)
