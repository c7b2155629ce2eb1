"""Readers for zero-shot-learning datasets: xlsa17 split files and the CUB-200-2011 layout.

The evaluation protocol is the "proposed split" of Xian et al. (METHOD §6). Its files,
``att_splits.mat``, hold

* ``att`` — class semantics ``Φ``, shape ``[K, C]`` (one L2-normalised column per class);
* ``allclasses_names`` — the class of each column (absent for FLO);
* ``trainval_loc``, ``test_seen_loc``, ``test_unseen_loc`` and, where present,
  ``train_loc``, ``val_loc`` — **1-based** image indices (MATLAB).

For CUB the ``*_loc`` values are CUB image ids, and the columns of ``att`` are not in CUB
class-id order (``001.Black_footed_Albatross`` is column 150), so classes are mapped by
name. :func:`read_cub` does that mapping and returns everything as 0-based arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sgma_core.paths import find_dataset


class DatasetError(ValueError):
    """A dataset file is missing, unreadable or inconsistent. The message names the file."""


LOC_KEYS = ("trainval", "test_seen", "test_unseen", "train", "val")


@dataclass
class Xlsa17Splits:
    """The content of an xlsa17 ``att_splits.mat``, converted to 0-based indices.

    ``att``: ``[K, C]``; ``class_names``: ``C`` names in column order, or ``None`` where the
    file has no ``allclasses_names`` (FLO); index arrays: 0-based ``int64`` positions in the
    dataset's image list, or ``None`` where the file lacks them.
    """

    path: Path
    att: np.ndarray
    class_names: list[str] | None
    trainval: np.ndarray
    test_seen: np.ndarray
    test_unseen: np.ndarray
    train: np.ndarray | None = None
    val: np.ndarray | None = None
    original_att: np.ndarray | None = None

    @property
    def n_attributes(self) -> int:
        return int(self.att.shape[0])

    @property
    def n_classes(self) -> int:
        return int(self.att.shape[1])


def _cell_strings(value: np.ndarray) -> list[str]:
    """MATLAB cell array of strings (as scipy loads it) to a list of Python strings."""
    out = []
    for item in np.asarray(value, dtype=object).ravel():
        arr = np.asarray(item).ravel()
        out.append(str(arr[0]) if arr.size else "")
    return out


def _locs(path: Path, key: str, raw: np.ndarray) -> np.ndarray:
    values = np.asarray(raw).ravel()
    if values.size == 0:
        raise DatasetError(f"{path}: {key} is empty; the split file is damaged — download it again.")
    as_int = values.astype(np.int64)
    if not np.array_equal(as_int, values):
        raise DatasetError(f"{path}: {key} holds non-integer values; expected 1-based image indices.")
    if as_int.min() < 1:
        raise DatasetError(
            f"{path}: {key} has the value {as_int.min()}, but xlsa17 locations are 1-based (MATLAB); "
            "this file was re-saved with 0-based indices — use the original xlsa17 file."
        )
    return as_int - 1


def read_xlsa17_splits(path: str | Path) -> Xlsa17Splits:
    """Read an xlsa17 ``att_splits.mat`` (MATLAB v5 format, as published).

    Returns :class:`Xlsa17Splits` with 0-based index arrays. Raises :class:`DatasetError`
    naming the file when it is missing, unreadable, or inconsistent (overlapping splits,
    names that do not match the columns of ``att``).
    """
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise DatasetError(
            f"split file not found: {path}. Put the xlsa17 file there (README: 'Pointing the book at real data') "
            "or point SGMA_DATA_ROOT at the folder that holds <DATASET>/xlsa17/att_splits.mat."
        )
    try:
        mat = scipy.io.loadmat(str(path))
    except NotImplementedError as exc:
        raise DatasetError(
            f"{path} is a MATLAB v7.3 (HDF5) file; the published xlsa17 files are v5. "
            "Re-save it in MATLAB with save(..., '-v7') or use the original file."
        ) from exc
    except Exception as exc:  # scipy raises several types for damaged files
        raise DatasetError(f"cannot read {path} as a MATLAB file ({exc}); download it again.") from exc

    for key in ("att", "trainval_loc", "test_seen_loc", "test_unseen_loc"):
        if key not in mat:
            present = sorted(k for k in mat if not k.startswith("__"))
            raise DatasetError(f"{path}: variable {key!r} missing (found {present}); is this an xlsa17 att_splits.mat?")

    att = np.asarray(mat["att"], dtype=np.float64)
    if att.ndim != 2:
        raise DatasetError(f"{path}: att has shape {att.shape}; expected [attributes, classes].")
    class_names = _cell_strings(mat["allclasses_names"]) if "allclasses_names" in mat else None
    if class_names is not None and len(class_names) != att.shape[1]:
        raise DatasetError(
            f"{path}: att has {att.shape[1]} class columns but allclasses_names lists {len(class_names)} classes."
        )
    original_att = None
    if "original_att" in mat:
        original_att = np.asarray(mat["original_att"], dtype=np.float64)
        if original_att.shape != att.shape:
            raise DatasetError(f"{path}: original_att {original_att.shape} and att {att.shape} differ in shape.")

    locs = {key: _locs(path, f"{key}_loc", mat[f"{key}_loc"]) if f"{key}_loc" in mat else None for key in LOC_KEYS}
    main = ("trainval", "test_seen", "test_unseen")
    for i, a in enumerate(main):
        for b in main[i + 1 :]:
            common = np.intersect1d(locs[a], locs[b])
            if common.size:
                raise DatasetError(
                    f"{path}: {a}_loc and {b}_loc share {common.size} images (first: {common[0] + 1}); "
                    "the proposed split is disjoint — the file is damaged."
                )
    return Xlsa17Splits(path=path, att=att, class_names=class_names, original_att=original_att, **locs)


# --------------------------------------------------------------------------------------
# CUB-200-2011 layout
# --------------------------------------------------------------------------------------


def _read_table(path: Path, n_cols: int, what: str, required: bool = True) -> list[list[str]] | None:
    """Whitespace-separated rows with at least ``n_cols`` fields (the last field keeps its spaces)."""
    if not path.is_file():
        if required:
            raise DatasetError(
                f"{path} is missing ({what}). The CUB_200_2011 folder is incomplete: extract the archive again "
                "or regenerate the synthetic data (make data)."
            )
        return None
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.split(maxsplit=n_cols - 1)
            if len(parts) < n_cols:
                raise DatasetError(f"{path}:{lineno}: expected {n_cols} fields ({what}), found {line!r}.")
            rows.append(parts)
    return rows


def _id_column(path: Path, rows: list[list[str]], n_images: int, id_to_row: dict[int, int]) -> np.ndarray:
    """Row index of each table line's image id, checking every image appears exactly once."""
    ids = np.array([int(r[0]) for r in rows], dtype=np.int64)
    if len(ids) != n_images or set(ids.tolist()) != set(id_to_row):
        raise DatasetError(f"{path}: lists {len(ids)} images, images.txt lists {n_images}; the files disagree.")
    return np.array([id_to_row[i] for i in ids], dtype=np.int64)


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

    def __post_init__(self) -> None:
        c = len(self.class_names)
        self._seen_index = np.full(c, -1, dtype=np.int64)
        self._seen_index[self.seen_classes] = np.arange(len(self.seen_classes))
        self._unseen_index = np.full(c, -1, dtype=np.int64)
        self._unseen_index[self.unseen_classes] = np.arange(len(self.unseen_classes))

    @property
    def n_images(self) -> int:
        return len(self.image_paths)

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


def read_cub(
    cub_dir: str | Path,
    splits_path: str | Path,
    name: str = "CUB",
    with_parts: bool = True,
) -> ZSLDataset:
    """Read a dataset in the CUB-200-2011 layout with an xlsa17 ``att_splits.mat``.

    ``cub_dir`` holds ``images.txt``, ``classes.txt``, ``image_class_labels.txt`` and
    ``images/``; ``bounding_boxes.txt``, ``parts/parts.txt``, ``parts/part_locs.txt`` and
    ``attributes/attributes.txt`` are read when present. Classes are matched to the columns
    of ``att`` by name; xlsa17 locations are taken as 1-based image ids.
    """
    cub_dir = Path(cub_dir)
    if not cub_dir.is_dir():
        raise DatasetError(
            f"CUB folder not found: {cub_dir}. Extract CUB_200_2011 there, or run make data for the synthetic set."
        )
    splits = read_xlsa17_splits(splits_path)
    if splits.class_names is None:
        raise DatasetError(f"{splits.path}: no allclasses_names, so classes cannot be matched to {cub_dir}.")

    images = _read_table(cub_dir / "images.txt", 2, "image id and path")
    id_to_row = {}
    for row, (image_id, _) in enumerate(images):
        if int(image_id) in id_to_row:
            raise DatasetError(f"{cub_dir / 'images.txt'}: image id {image_id} appears twice.")
        id_to_row[int(image_id)] = row
    image_ids = np.array([int(r[0]) for r in images], dtype=np.int64)
    image_paths = [cub_dir / "images" / r[1] for r in images]
    n = len(images)

    classes = _read_table(cub_dir / "classes.txt", 2, "class id and name")
    class_id_to_name = {int(cid): cname for cid, cname in classes}
    column_of = {cname: j for j, cname in enumerate(splits.class_names)}
    unknown = sorted(set(class_id_to_name.values()) - set(column_of))
    if unknown or len(classes) != len(splits.class_names):
        raise DatasetError(
            f"{cub_dir / 'classes.txt'} lists {len(classes)} classes and {splits.path} has {len(splits.class_names)} "
            f"columns in att{'; not in allclasses_names: ' + ', '.join(unknown[:3]) if unknown else ''}. "
            "The attribute matrix does not match this dataset's classes."
        )

    label_rows = _read_table(cub_dir / "image_class_labels.txt", 2, "image id and class id")
    order = _id_column(cub_dir / "image_class_labels.txt", label_rows, n, id_to_row)
    labels = np.empty(n, dtype=np.int64)
    for row, (_, cid) in zip(order, label_rows):
        if int(cid) not in class_id_to_name:
            raise DatasetError(f"{cub_dir / 'image_class_labels.txt'}: class id {cid} is not in classes.txt.")
        labels[row] = column_of[class_id_to_name[int(cid)]]

    def to_rows(locs: np.ndarray | None, key: str) -> np.ndarray | None:
        if locs is None:
            return None
        ids = locs + 1
        missing = [int(i) for i in ids if int(i) not in id_to_row]
        if missing:
            raise DatasetError(
                f"{splits.path}: {key}_loc names image id {missing[0]} ({len(missing)} in all) that "
                f"{cub_dir / 'images.txt'} does not list; the split file belongs to another dataset."
            )
        return np.array([id_to_row[int(i)] for i in ids], dtype=np.int64)

    rows = {key: to_rows(getattr(splits, key), key) for key in LOC_KEYS}
    seen = np.unique(labels[rows["trainval"]])
    unseen = np.unique(labels[rows["test_unseen"]])
    if np.intersect1d(seen, unseen).size:
        raise DatasetError(f"{splits.path}: some classes are both in trainval and test_unseen; not a zero-shot split.")
    if not np.isin(labels[rows["test_seen"]], seen).all():
        raise DatasetError(f"{splits.path}: test_seen holds images of classes that trainval does not.")

    attribute_names = None
    attr_rows = _read_table(cub_dir / "attributes" / "attributes.txt", 2, "attribute names", required=False)
    if attr_rows is not None:
        attribute_names = [r[1] for r in attr_rows]
        if len(attribute_names) != splits.n_attributes:
            raise DatasetError(
                f"{cub_dir / 'attributes' / 'attributes.txt'} names {len(attribute_names)} attributes but att in "
                f"{splits.path} has {splits.n_attributes} rows; the attribute matrix does not match."
            )

    boxes = None
    box_rows = _read_table(cub_dir / "bounding_boxes.txt", 5, "image id, x, y, width, height", required=False)
    if box_rows is not None:
        order = _id_column(cub_dir / "bounding_boxes.txt", box_rows, n, id_to_row)
        boxes = np.empty((n, 4), dtype=np.float32)
        boxes[order] = np.array([[float(v) for v in r[1:5]] for r in box_rows], dtype=np.float32)

    part_names = part_locs = None
    if with_parts:
        part_rows = _read_table(cub_dir / "parts" / "parts.txt", 2, "part id and name", required=False)
        loc_path = cub_dir / "parts" / "part_locs.txt"
        if part_rows is not None and loc_path.is_file():
            part_names = [r[1] for r in part_rows]
            part_ids = {int(r[0]): j for j, r in enumerate(part_rows)}
            raw = np.loadtxt(loc_path, dtype=np.float64, ndmin=2)
            if raw.shape[1] < 5:
                raise DatasetError(f"{loc_path}: expected 5 columns (image_id part_id x y visible), found {raw.shape[1]}.")
            part_locs = np.zeros((n, len(part_names), 3), dtype=np.float32)
            try:
                r_idx = np.array([id_to_row[int(i)] for i in raw[:, 0]], dtype=np.int64)
                p_idx = np.array([part_ids[int(p)] for p in raw[:, 1]], dtype=np.int64)
            except KeyError as exc:
                raise DatasetError(f"{loc_path}: unknown image or part id {exc}.") from exc
            part_locs[r_idx, p_idx] = raw[:, 2:5]

    return ZSLDataset(
        name=name,
        root=cub_dir,
        image_paths=image_paths,
        image_ids=image_ids,
        labels=labels,
        class_names=list(splits.class_names),
        att=splits.att,
        seen_classes=seen,
        unseen_classes=unseen,
        attribute_names=attribute_names,
        boxes=boxes,
        part_names=part_names,
        part_locs=part_locs,
        original_att=splits.original_att,
        **rows,
    )


def load_dataset(name: str = "SYN", data_root: str | Path | None = None, **kwargs) -> ZSLDataset:
    """A dataset by name from the data root: ``SYN`` (synthetic birds) or ``CUB``.

    Both use the layout ``<root>/<name>/CUB_200_2011/`` and ``<root>/<name>/xlsa17/att_splits.mat``.
    AWA2 and FLO images need their own readers; their split files are read with
    :func:`read_xlsa17_splits`.
    """
    if name not in ("SYN", "CUB"):
        raise DatasetError(f"unknown image dataset {name!r}; the readers here serve 'SYN' and 'CUB'.")
    base = find_dataset(name, data_root)
    return read_cub(base / "CUB_200_2011", base / "xlsa17" / "att_splits.mat", name=name, **kwargs)
