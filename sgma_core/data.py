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

For AWA2 and FLO the ``*_loc`` values index the rows of the release's ``res101.mat``, whose
``image_files`` (paths on the authors' machine) and ``labels`` (1-based ``att`` columns) fix
the image order. :func:`read_awa2` and :func:`read_flo` map those paths to the local images
and use the 1-based row number as the image id.
"""

from __future__ import annotations

import dataclasses
import re
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


# --------------------------------------------------------------------------------------
# AWA2 and FLO: images in the row order of the xlsa17 res101.mat
# --------------------------------------------------------------------------------------


@dataclass
class Xlsa17Images:
    """The image list of an xlsa17 ``res101.mat``: the rows that the ``*_loc`` indices refer to.

    ``image_files`` ``[N]``: paths as stored by the authors (absolute paths on their machine);
    ``labels`` ``[N]``: 0-based column of ``att`` of each image's class.
    """

    path: Path
    image_files: list[str]
    labels: np.ndarray


def read_xlsa17_images(path: str | Path) -> Xlsa17Images:
    """Read ``image_files`` and ``labels`` of an xlsa17 ``res101.mat`` (the features are not loaded).

    ``labels`` are converted from 1-based to 0-based. Raises :class:`DatasetError` naming
    the file when it is missing, unreadable, or the two variables disagree.
    """
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise DatasetError(
            f"image list not found: {path}. It is the res101.mat of the xlsa17 release (FLO: of the CVPR 2018 "
            "release); its image_files fix the image order of the *_loc indices. Fetch it with "
            "`python -m data_prep.fetch awa2` (or flo)."
        )
    try:
        mat = scipy.io.loadmat(str(path), variable_names=["image_files", "labels"])
    except NotImplementedError as exc:
        raise DatasetError(f"{path} is a MATLAB v7.3 (HDF5) file; the published res101.mat files are v5.") from exc
    except Exception as exc:  # scipy raises several types for damaged files
        raise DatasetError(f"cannot read {path} as a MATLAB file ({exc}); download it again.") from exc
    for key in ("image_files", "labels"):
        if key not in mat:
            raise DatasetError(f"{path}: variable {key!r} missing; is this an xlsa17 res101.mat?")
    files = _cell_strings(mat["image_files"])
    raw = np.asarray(mat["labels"]).ravel()
    labels = raw.astype(np.int64)
    if not np.array_equal(labels, raw):
        raise DatasetError(f"{path}: labels holds non-integer values; expected 1-based class columns.")
    if len(files) != len(labels):
        raise DatasetError(f"{path}: image_files lists {len(files)} images but labels has {len(labels)} entries.")
    if len(files) == 0:
        raise DatasetError(f"{path}: image_files is empty; the file is damaged — download it again.")
    if labels.min() < 1:
        raise DatasetError(f"{path}: labels has the value {labels.min()}, but xlsa17 labels are 1-based class columns.")
    return Xlsa17Images(path=path, image_files=files, labels=labels - 1)


def _xlsa17_dataset(
    name: str,
    root: Path,
    splits: Xlsa17Splits,
    images: Xlsa17Images,
    image_paths: list[Path],
    class_names: list[str],
    attribute_names: list[str] | None,
    check_images: bool,
    fetch_hint: str,
) -> ZSLDataset:
    """A :class:`ZSLDataset` whose rows are the rows of ``res101.mat``, after the consistency checks."""
    n, c = len(images.labels), splits.n_classes
    if images.labels.max() >= c:
        raise DatasetError(
            f"{images.path}: labels go up to {images.labels.max() + 1} but att in {splits.path} has {c} class "
            "columns; the two files belong to different datasets."
        )
    for key in LOC_KEYS:
        locs = getattr(splits, key)
        if locs is not None and locs.max() >= n:
            raise DatasetError(
                f"{splits.path}: {key}_loc names image {locs.max() + 1} but {images.path} lists only {n} images; "
                "the split file and the image list belong to different releases."
            )
    labels = images.labels
    seen = np.unique(labels[splits.trainval])
    unseen = np.unique(labels[splits.test_unseen])
    if np.intersect1d(seen, unseen).size:
        raise DatasetError(f"{splits.path}: some classes are both in trainval and test_unseen; not a zero-shot split.")
    if not np.isin(labels[splits.test_seen], seen).all():
        raise DatasetError(f"{splits.path}: test_seen holds images of classes that trainval does not.")
    if check_images:
        if not root.is_dir():
            raise DatasetError(f"image folder not found: {root}. {fetch_hint}")
        missing = [p for p in image_paths if not p.is_file()]
        if missing:
            raise DatasetError(
                f"{len(missing)} of the {n} images listed in {images.path} are missing, e.g. {missing[0]}. "
                f"{fetch_hint}"
            )
    return ZSLDataset(
        name=name,
        root=root,
        image_paths=image_paths,
        image_ids=np.arange(1, n + 1, dtype=np.int64),
        labels=labels,
        class_names=class_names,
        att=splits.att,
        seen_classes=seen,
        unseen_classes=unseen,
        trainval=splits.trainval,
        test_seen=splits.test_seen,
        test_unseen=splits.test_unseen,
        train=splits.train,
        val=splits.val,
        attribute_names=attribute_names,
        original_att=splits.original_att,
    )


def read_awa2(
    awa_dir: str | Path,
    splits_path: str | Path,
    res101_path: str | Path,
    name: str = "AWA2",
    check_images: bool = True,
) -> ZSLDataset:
    """Read Animals with Attributes 2 in the xlsa17 proposed split.

    ``awa_dir`` is the ``Animals_with_Attributes2`` folder of ``AwA2-data.zip``. Row ``i`` of the
    result is row ``i`` of ``res101.mat``; each stored path (e.g.
    ``/BS/xian/work/data/Animals_with_Attributes2//JPEGImages/antelope/antelope_10001.jpg``) is
    mapped to the local file by its part after ``JPEGImages/``, and its class folder must be the
    name of its class. ``predicates.txt`` names the attributes where present. With
    ``check_images`` every image must exist; otherwise they are read lazily.
    """
    awa_dir = Path(awa_dir)
    splits = read_xlsa17_splits(splits_path)
    images = read_xlsa17_images(res101_path)
    class_names = splits.class_names or [f"{j + 1:03d}" for j in range(splits.n_classes)]
    image_paths = []
    for i, stored in enumerate(images.image_files):
        text = stored.replace("\\", "/")
        at = text.rfind("JPEGImages/")
        rel = text[at + len("JPEGImages/") :].lstrip("/") if at >= 0 else ""
        if not rel:
            raise DatasetError(f"{images.path}: image_files[{i}] = {stored!r} has no JPEGImages/ part to map.")
        if splits.class_names is not None and int(images.labels[i]) < len(class_names):
            folder = rel.split("/")[0]
            if folder != class_names[images.labels[i]]:
                raise DatasetError(
                    f"{images.path}: image {i + 1} ({rel}) is labelled {class_names[images.labels[i]]!r} but lies in "
                    f"the folder {folder!r}; labels and image files disagree."
                )
        image_paths.append(awa_dir / "JPEGImages" / rel)

    attribute_names = None
    rows = _read_table(awa_dir / "predicates.txt", 2, "predicate id and name", required=False)
    if rows is not None:
        attribute_names = [r[1] for r in rows]
        if len(attribute_names) != splits.n_attributes:
            raise DatasetError(
                f"{awa_dir / 'predicates.txt'} names {len(attribute_names)} predicates but att in {splits.path} has "
                f"{splits.n_attributes} rows; the attribute matrix does not match."
            )
    hint = "Extract AwA2-data.zip there: `python -m data_prep.fetch awa2`."
    return _xlsa17_dataset(name, awa_dir, splits, images, image_paths, class_names, attribute_names, check_images, hint)


_FLO_IMAGE = re.compile(r"image_(\d{5})\.jpg$")


def read_flo(
    flowers_dir: str | Path,
    splits_path: str | Path,
    res101_path: str | Path,
    name: str = "FLO",
    check_images: bool = True,
) -> ZSLDataset:
    """Read Oxford 102 Flowers in the proposed split of Xian et al. (CVPR 2018).

    ``flowers_dir`` holds ``jpg/image_XXXXX.jpg`` (from ``102flowers.tgz``) and, where present,
    ``imagelabels.mat``. Row ``i`` of the result is row ``i`` of the FLO ``res101.mat``: the
    ``*_loc`` values index that order, not Oxford image numbers (METHOD §7). Each stored path is
    mapped to ``jpg/`` by its ``image_XXXXX.jpg`` name. The split file has no class names, so
    classes are named by their 1-based column of ``att`` (``"001"``…). Where ``imagelabels.mat``
    is present, every ``att`` column must hold the images of exactly one Oxford class.
    """
    flowers_dir = Path(flowers_dir)
    splits = read_xlsa17_splits(splits_path)
    images = read_xlsa17_images(res101_path)
    class_names = splits.class_names or [f"{j + 1:03d}" for j in range(splits.n_classes)]
    numbers = np.empty(len(images.image_files), dtype=np.int64)
    image_paths = []
    for i, stored in enumerate(images.image_files):
        m = _FLO_IMAGE.search(stored.replace("\\", "/"))
        if m is None:
            raise DatasetError(f"{images.path}: image_files[{i}] = {stored!r} is not an image_XXXXX.jpg name.")
        numbers[i] = int(m.group(1))
        image_paths.append(flowers_dir / "jpg" / f"image_{m.group(1)}.jpg")
    values, counts = np.unique(numbers, return_counts=True)
    if (counts > 1).any():
        raise DatasetError(f"{images.path}: image_{values[counts > 1][0]:05d}.jpg is listed more than once.")

    labels_path = flowers_dir / "imagelabels.mat"
    if labels_path.is_file():
        import scipy.io

        try:
            oxford = np.asarray(scipy.io.loadmat(str(labels_path))["labels"]).ravel().astype(np.int64)
        except Exception as exc:
            raise DatasetError(f"cannot read labels from {labels_path} ({exc}); download it again.") from exc
        if numbers.max() > len(oxford):
            raise DatasetError(
                f"{images.path} lists image_{numbers.max():05d}.jpg but {labels_path} labels only {len(oxford)} images."
            )
        pairs = np.unique(np.stack([images.labels, oxford[numbers - 1]], axis=1), axis=0)
        if len(np.unique(pairs[:, 0])) != len(pairs) or len(np.unique(pairs[:, 1])) != len(pairs):
            raise DatasetError(
                f"{images.path} and {labels_path} disagree: some att column holds images of several Oxford classes "
                "(or one class is split over columns); image_files do not match the labels."
            )
    hint = "Extract 102flowers.tgz there: `python -m data_prep.fetch flo`."
    return _xlsa17_dataset(name, flowers_dir, splits, images, image_paths, class_names, None, check_images, hint)


def validation_split(ds: ZSLDataset, held_out: float = 0.2) -> ZSLDataset:
    """The same dataset re-split for choosing hyper-parameters on validation classes (METHOD §6).

    xlsa17's ``train_loc`` / ``val_loc`` divide all seen-class images class-disjointly. Here the
    classes of ``train_loc`` play the seen classes and those of ``val_loc`` the unseen ones:
    ``trainval`` = train-class images of the original ``trainval``, ``test_seen`` = train-class images
    of the original ``test_seen`` (where that is empty, a fixed ``held_out`` share of each
    train class's images), ``test_unseen`` = ``val_loc``. No test-class image is used.
    """
    if ds.train is None or ds.val is None:
        raise DatasetError(
            f"{ds.name}: its att_splits.mat has no train_loc/val_loc, so there are no validation classes. "
            "Use the xlsa17 release's att_splits.mat (CUB's is also in sent_splits.mat) or choose γ = 0."
        )
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


def load_dataset(name: str = "SYN", data_root: str | Path | None = None, **kwargs) -> ZSLDataset:
    """A dataset by name from the data root: ``SYN`` (synthetic birds), ``CUB``, ``AWA2`` or ``FLO``.

    ``SYN`` and ``CUB`` use the layout ``<root>/<name>/CUB_200_2011/`` and
    ``<root>/<name>/xlsa17/att_splits.mat`` (:func:`read_cub`); ``AWA2`` reads
    ``Animals_with_Attributes2/`` (:func:`read_awa2`) and ``FLO`` reads ``oxford102/``
    (:func:`read_flo`), each with ``xlsa17/att_splits.mat`` and ``xlsa17/res101.mat`` — the
    layout that ``python -m data_prep.fetch`` installs. Keyword arguments go to the reader;
    ``with_parts`` is ignored for AWA2 and FLO, which have no part annotations.
    """
    if name not in ("SYN", "CUB", "AWA2", "FLO"):
        raise DatasetError(f"unknown image dataset {name!r}; the readers here serve 'SYN', 'CUB', 'AWA2' and 'FLO'.")
    base = find_dataset(name, data_root)
    if name == "AWA2":
        kwargs.pop("with_parts", None)
        splits = base / "xlsa17"
        return read_awa2(base / "Animals_with_Attributes2", splits / "att_splits.mat", splits / "res101.mat", **kwargs)
    if name == "FLO":
        kwargs.pop("with_parts", None)
        splits = base / "xlsa17"
        return read_flo(base / "oxford102", splits / "att_splits.mat", splits / "res101.mat", **kwargs)
    return read_cub(base / "CUB_200_2011", base / "xlsa17" / "att_splits.mat", name=name, **kwargs)
