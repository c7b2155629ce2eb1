"""The xlsa17 files of Xian et al. (the "proposed split"): ``att_splits.mat`` and ``res101.mat``.

:func:`read_xlsa17_splits` reads ``att_splits.mat`` into :class:`Xlsa17Splits`, everything 0-based:

* ``att`` — class semantics ``Φ`` ``[K, C]``, one L2-normalised column per class;
* ``allclasses_names`` — the class of each column (absent for FLO);
* ``trainval_loc``, ``test_seen_loc``, ``test_unseen_loc`` and, where present, ``train_loc``, ``val_loc`` —
  1-based (MATLAB) image indices.

For CUB the indices are CUB image ids and ``att``'s columns are not in CUB's class-id order, so
:func:`sgma_core.data.cub.read_cub` maps classes by name. For AWA2 and FLO they index the rows of ``res101.mat``
(:func:`read_xlsa17_images`), whose ``image_files`` and ``labels`` fix the image order;
:mod:`sgma_core.data.awa2_flo` maps those paths to local images. A missing, MATLAB v7.3, damaged or
inconsistent file (overlapping splits, 0-based or repeated indices) is a :class:`~sgma_core.data.DatasetError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sgma_core.data.dataset import DatasetError, ZSLDataset, read_table

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
    values, counts = np.unique(as_int, return_counts=True)
    if (counts > 1).any():
        raise DatasetError(f"{path}: {key} lists image {values[counts > 1][0]} {counts.max()} times "
                           f"({int((counts > 1).sum())} image(s) repeated); each image belongs once to a split. "
                           "The file is damaged: use the original xlsa17 file.")
    return as_int - 1


def read_xlsa17_splits(path: str | Path) -> Xlsa17Splits:
    """Read an xlsa17 ``att_splits.mat`` (MATLAB v5 format, as published).

    Returns :class:`Xlsa17Splits` with 0-based index arrays. Raises :class:`DatasetError`
    naming the file when it is missing, unreadable, or inconsistent (overlapping splits,
    names that do not match the columns of ``att``).
    """
    path = Path(path)
    mat = _load_splits_mat(path)
    for key in ("att", "trainval_loc", "test_seen_loc", "test_unseen_loc"):
        if key not in mat:
            present = sorted(k for k in mat if not k.startswith("__"))
            raise DatasetError(f"{path}: variable {key!r} missing (found {present}); is this an xlsa17 att_splits.mat?")
    att, class_names, original_att = _class_semantics(path, mat)
    locs = {key: _locs(path, f"{key}_loc", mat[f"{key}_loc"]) if f"{key}_loc" in mat else None for key in LOC_KEYS}
    _check_disjoint(path, locs)
    return Xlsa17Splits(path=path, att=att, class_names=class_names, original_att=original_att, **locs)


def _load_splits_mat(path: Path) -> dict:
    """The variables of the MATLAB v5 file ``path``; a missing, v7.3 or damaged file is a :class:`DatasetError`."""
    import scipy.io

    if not path.is_file():
        raise DatasetError(
            f"split file not found: {path}. Put the xlsa17 file there (README: 'Pointing the book at real data') "
            "or point SGMA_DATA_ROOT at the folder that holds <DATASET>/xlsa17/att_splits.mat."
        )
    try:
        return scipy.io.loadmat(str(path))
    except NotImplementedError as exc:
        raise DatasetError(
            f"{path} is a MATLAB v7.3 (HDF5) file; the published xlsa17 files are v5. "
            "Re-save it in MATLAB with save(..., '-v7') or use the original file."
        ) from exc
    except Exception as exc:  # scipy raises several types for damaged files
        raise DatasetError(f"cannot read {path} as a MATLAB file ({exc}); download it again.") from exc


def _class_semantics(path: Path, mat: dict) -> tuple[np.ndarray, list[str] | None, np.ndarray | None]:
    """``att`` ``[K, C]``, the ``C`` column names (``None`` without ``allclasses_names``) and
    ``original_att`` ``[K, C]`` (``None`` where absent), checked for shape and finiteness."""
    att = np.asarray(mat["att"], dtype=np.float64)
    if att.ndim != 2:
        raise DatasetError(f"{path}: att has shape {att.shape}; expected [attributes, classes].")
    class_names = _cell_strings(mat["allclasses_names"]) if "allclasses_names" in mat else None
    bad = ~np.isfinite(att)
    if bad.any():
        col = int(np.flatnonzero(bad.any(axis=0))[0])
        name = f" ({class_names[col]})" if class_names is not None and col < len(class_names) else ""
        raise DatasetError(
            f"{path}: att holds {int(bad.sum())} non-finite value(s) (NaN or infinity), the first in class column "
            f"{col + 1}{name}; class semantics must be finite numbers. The file is damaged or was written wrongly: "
            "download the xlsa17 release again.")
    if class_names is not None and len(class_names) != att.shape[1]:
        raise DatasetError(
            f"{path}: att has {att.shape[1]} class columns but allclasses_names lists {len(class_names)} classes."
        )
    original_att = None
    if "original_att" in mat:
        original_att = np.asarray(mat["original_att"], dtype=np.float64)
        if original_att.shape != att.shape:
            raise DatasetError(f"{path}: original_att {original_att.shape} and att {att.shape} differ in shape.")
    return att, class_names, original_att


def _check_disjoint(path: Path, locs: dict[str, np.ndarray | None]) -> None:
    """The three evaluation splits share no image (``train``/``val`` re-split ``trainval`` and may)."""
    main = ("trainval", "test_seen", "test_unseen")
    for i, a in enumerate(main):
        for b in main[i + 1 :]:
            common = np.intersect1d(locs[a], locs[b])
            if common.size:
                raise DatasetError(
                    f"{path}: {a}_loc and {b}_loc share {common.size} images (first: {common[0] + 1}); "
                    "the proposed split is disjoint — the file is damaged."
                )


def seen_and_unseen(
    splits_path: Path, labels: np.ndarray, trainval: np.ndarray, test_seen: np.ndarray, test_unseen: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The seen (``trainval``) and unseen (``test_unseen``) classes, sorted, after the zero-shot checks.

    ``labels`` ``[N]``: 0-based class of each image; the split arrays: 0-based rows of it. The
    two class sets must be disjoint and ``test_seen`` must hold seen classes only; otherwise a
    :class:`DatasetError` names ``splits_path``.
    """
    seen = np.unique(labels[trainval])
    unseen = np.unique(labels[test_unseen])
    if np.intersect1d(seen, unseen).size:
        raise DatasetError(f"{splits_path}: some classes are both in trainval and test_unseen; not a zero-shot split.")
    if not np.isin(labels[test_seen], seen).all():
        raise DatasetError(f"{splits_path}: test_seen holds images of classes that trainval does not.")
    return seen, unseen


def read_attribute_names(path: Path, splits: Xlsa17Splits, what: str, noun: str) -> list[str] | None:
    """The names of the ``K`` attributes, one per row of ``att``, from the table ``path`` (``id name`` per line).

    ``None`` where the file is absent (it is optional in every layout). ``what`` describes the
    columns in :func:`read_table`'s messages; ``noun`` is what the file calls them
    (``attributes``, ``predicates``). A count other than ``K`` is a :class:`DatasetError`.
    """
    rows = read_table(path, 2, what, required=False)
    if rows is None:
        return None
    names = [r[1] for r in rows]
    if len(names) != splits.n_attributes:
        raise DatasetError(
            f"{path} names {len(names)} {noun} but att in {splits.path} has {splits.n_attributes} rows; "
            "the attribute matrix does not match."
        )
    return names


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


def xlsa17_dataset(
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
    seen, unseen = seen_and_unseen(splits.path, labels, splits.trainval, splits.test_seen, splits.test_unseen)
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
