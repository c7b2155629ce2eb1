"""The CUB-200-2011 layout (real CUB and the synthetic birds) with an xlsa17 ``att_splits.mat``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sgma_core.data.dataset import DatasetError, ZSLDataset, read_table
from sgma_core.data.xlsa17 import LOC_KEYS, Xlsa17Splits, read_attribute_names, read_xlsa17_splits, seen_and_unseen


def _id_column(path: Path, rows: list[list[str]], n_images: int, id_to_row: dict[int, int]) -> np.ndarray:
    """Row index of each table line's image id, checking every image appears exactly once."""
    ids = np.array([int(r[0]) for r in rows], dtype=np.int64)
    if len(ids) != n_images or set(ids.tolist()) != set(id_to_row):
        raise DatasetError(f"{path}: lists {len(ids)} images, images.txt lists {n_images}; the files disagree.")
    return np.array([id_to_row[i] for i in ids], dtype=np.int64)


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
    # The checks run in this order so that the first inconsistency reported is the most basic one.
    image_ids, image_paths, id_to_row = _read_images(cub_dir)
    labels = _read_labels(cub_dir, splits, id_to_row)
    rows = {key: _split_rows(cub_dir, splits, key, id_to_row) for key in LOC_KEYS}
    seen, unseen = seen_and_unseen(splits.path, labels, rows["trainval"], rows["test_seen"], rows["test_unseen"])
    attribute_names = read_attribute_names(
        cub_dir / "attributes" / "attributes.txt", splits, "attribute names", "attributes"
    )
    boxes = _read_boxes(cub_dir, id_to_row)
    part_names, part_locs = _read_part_locs(cub_dir, id_to_row) if with_parts else (None, None)
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


def _read_images(cub_dir: Path) -> tuple[np.ndarray, list[Path], dict[int, int]]:
    """``images.txt``: the ``[N]`` image ids, the ``N`` image paths and ``{image id: row}``."""
    images = read_table(cub_dir / "images.txt", 2, "image id and path")
    id_to_row = {}
    for row, (image_id, _) in enumerate(images):
        if int(image_id) in id_to_row:
            raise DatasetError(f"{cub_dir / 'images.txt'}: image id {image_id} appears twice.")
        id_to_row[int(image_id)] = row
    image_ids = np.array([int(r[0]) for r in images], dtype=np.int64)
    image_paths = [cub_dir / "images" / r[1] for r in images]
    return image_ids, image_paths, id_to_row


def _read_labels(cub_dir: Path, splits: Xlsa17Splits, id_to_row: dict[int, int]) -> np.ndarray:
    """The ``att`` column of each image's class, ``[N]``, matching ``classes.txt`` to ``allclasses_names`` by name."""
    classes = read_table(cub_dir / "classes.txt", 2, "class id and name")
    class_id_to_name = {int(cid): cname for cid, cname in classes}
    column_of = {cname: j for j, cname in enumerate(splits.class_names)}
    unknown = sorted(set(class_id_to_name.values()) - set(column_of))
    if unknown or len(classes) != len(splits.class_names):
        raise DatasetError(
            f"{cub_dir / 'classes.txt'} lists {len(classes)} classes and {splits.path} has {len(splits.class_names)} "
            f"columns in att{'; not in allclasses_names: ' + ', '.join(unknown[:3]) if unknown else ''}. "
            "The attribute matrix does not match this dataset's classes."
        )
    n = len(id_to_row)
    label_rows = read_table(cub_dir / "image_class_labels.txt", 2, "image id and class id", integer=(0, 1))
    order = _id_column(cub_dir / "image_class_labels.txt", label_rows, n, id_to_row)
    labels = np.empty(n, dtype=np.int64)
    for row, (_, cid) in zip(order, label_rows):
        if int(cid) not in class_id_to_name:
            raise DatasetError(f"{cub_dir / 'image_class_labels.txt'}: class id {cid} is not in classes.txt.")
        labels[row] = column_of[class_id_to_name[int(cid)]]
    return labels


def _split_rows(cub_dir: Path, splits: Xlsa17Splits, key: str, id_to_row: dict[int, int]) -> np.ndarray | None:
    """The rows of split ``key``: xlsa17 gives CUB image ids (0-based after reading, so ``+ 1``)."""
    locs = getattr(splits, key)
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


def _read_boxes(cub_dir: Path, id_to_row: dict[int, int]) -> np.ndarray | None:
    """``bounding_boxes.txt`` as ``[N, 4]`` (x, y, width, height in pixels), or ``None`` where absent."""
    box_rows = read_table(cub_dir / "bounding_boxes.txt", 5, "image id, x, y, width, height", required=False,
                          numeric=(1, 2, 3, 4))
    if box_rows is None:
        return None
    n = len(id_to_row)
    order = _id_column(cub_dir / "bounding_boxes.txt", box_rows, n, id_to_row)
    boxes = np.empty((n, 4), dtype=np.float32)
    boxes[order] = np.array([[float(v) for v in r[1:5]] for r in box_rows], dtype=np.float32)
    return boxes


def _read_part_locs(cub_dir: Path, id_to_row: dict[int, int]) -> tuple[list[str] | None, np.ndarray | None]:
    """The ``P`` part names and their locations ``[N, P, 3]`` (x, y, visible); ``(None, None)``
    unless both ``parts/parts.txt`` and ``parts/part_locs.txt`` are present. A line that is not
    ``image_id part_id x y visible`` with pixel coordinates is refused (:func:`_check_part_values`)."""
    part_rows = read_table(cub_dir / "parts" / "parts.txt", 2, "part id and name", required=False)
    loc_path = cub_dir / "parts" / "part_locs.txt"
    if part_rows is None or not loc_path.is_file():
        return None, None
    part_names = [r[1] for r in part_rows]
    part_ids = {int(r[0]): j for j, r in enumerate(part_rows)}
    try:
        raw = np.loadtxt(loc_path, dtype=np.float64, ndmin=2, encoding="utf-8-sig")
    except (ValueError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{loc_path}: not a table of numbers (image_id part_id x y visible): "
                           f"{str(exc).splitlines()[0][:160]}.") from None
    if raw.shape[1] < 5:
        raise DatasetError(f"{loc_path}: expected 5 columns (image_id part_id x y visible), found {raw.shape[1]}.")
    _check_part_values(loc_path, raw)
    part_locs = np.zeros((len(id_to_row), len(part_names), 3), dtype=np.float32)
    try:
        r_idx = np.array([id_to_row[int(i)] for i in raw[:, 0]], dtype=np.int64)
        p_idx = np.array([part_ids[int(p)] for p in raw[:, 1]], dtype=np.int64)
    except KeyError as exc:
        raise DatasetError(f"{loc_path}: unknown image or part id {exc}.") from exc
    part_locs[r_idx, p_idx] = raw[:, 2:5]
    return part_names, part_locs


# No image a reader here decodes is wider or taller (the most a JPEG can have); a coordinate beyond is no pixel.
MAX_PIXEL = 65535
PART_FIELDS = ("image id", "part id", "x", "y", "visible")
_PART_RULES = ("a whole number", "a whole number", f"a pixel coordinate from 0 to {MAX_PIXEL}",
               f"a pixel coordinate from 0 to {MAX_PIXEL}", "0 or 1")


def _check_part_values(path: Path, raw: np.ndarray) -> None:
    """Refuse, naming the line and the field, ids that are not whole numbers, coordinates that are not
    finite pixels (negative, NaN, infinite, beyond any image) and a visibility other than 0 or 1."""
    with np.errstate(invalid="ignore"):
        good = np.concatenate([
            np.isfinite(raw[:, :2]) & (raw[:, :2] == np.round(raw[:, :2])),
            np.isfinite(raw[:, 2:4]) & (raw[:, 2:4] >= 0) & (raw[:, 2:4] <= MAX_PIXEL),
            np.isin(raw[:, 4:5], (0.0, 1.0)),
        ], axis=1)
    if good.all():
        return
    row, col = (int(v) for v in np.argwhere(~good)[0])
    lineno, fields = _data_line(path, lambda index, _: index == row)
    raise DatasetError(f"{path}:{lineno}: {PART_FIELDS[col]} is {fields[col]!r}, not {_PART_RULES[col]} "
                       "(image_id part_id x y visible: pixels of the image, an invisible part at 0 0 0). "
                       "Correct the line, or remove parts/ to go without part annotations.")


def _data_line(path: Path, wanted) -> tuple[int, list[str]]:
    """The number and fields of the first line of a table that ``wanted(index among data lines, fields)``
    picks, counting data lines as ``np.loadtxt`` does (blank lines and ``#`` comments skipped)."""
    index = -1
    for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if fields:
            index += 1
            if wanted(index, fields):
                return lineno, fields
    raise DatasetError(f"{path}: changed while it was read; read it again.")


def check_parts_within(ds: ZSLDataset, rows: np.ndarray, sizes: np.ndarray) -> None:
    """Refuse a visible part of the images ``rows`` that lies beyond its image, ``sizes`` ``[len(rows), 2]``
    (width, height of each, as decoded), naming the line and the field of ``parts/part_locs.txt``.

    The reader cannot tell (it opens no image); what decodes the images calls this. Nothing to check
    where the dataset has no part annotations."""
    if ds.part_locs is None:
        return
    locs = ds.part_locs[np.asarray(rows, dtype=np.int64)]  # [n, P, 3]
    limits = np.asarray(sizes, dtype=np.float64)[:, None, :]  # [n, 1, 2]
    outside = (locs[..., 2:3] > 0) & (locs[..., :2] > limits)  # [n, P, 2]
    if not outside.any():
        return
    i, part, axis = (int(v) for v in np.argwhere(outside)[0])
    image_id = int(ds.image_ids[int(rows[i])])
    part_rows = read_table(ds.root / "parts" / "parts.txt", 2, "part id and name")
    path = ds.root / "parts" / "part_locs.txt"
    lineno, fields = _data_line(path, lambda _, f: (float(f[0]), float(f[1])) == (image_id, float(part_rows[part][0])))
    raise DatasetError(
        f"{path}:{lineno}: {'xy'[axis]} is {fields[2 + axis]!r}, beyond the {int(limits[i, 0, axis])} pixels of "
        f"image {image_id}'s {('width', 'height')[axis]} ({ds.image_paths[int(rows[i])]}). Part locations are "
        "pixels of the original image; correct the line, or mark the part invisible (0 0 0).")
