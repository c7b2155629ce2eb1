"""Writing the synthetic dataset's tables in the CUB-200-2011 layout and its xlsa17 split file.

:mod:`data_prep.synthetic` decides the classes and images and renders them; this module writes
what the readers of :mod:`sgma_core.data` read: the CUB text tables (``images.txt``, boxes,
parts, attributes…) and ``xlsa17/att_splits.mat`` with its class lists, byte-identical for the
same input.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from data_prep.synthetic_config import SyntheticConfig

MAT_HEADER = b"MATLAB 5.0 MAT-file, written by data_prep.synthetic (deterministic header)"
SPLITS = ("trainval", "test_seen", "test_unseen")
# What the render results go into: the boxes and the part locations of every image.
ANNOTATION_TABLES = ("CUB_200_2011/bounding_boxes.txt", "CUB_200_2011/parts/part_locs.txt")
# Every file of a dataset but its images, as paths under the dataset's folder.
TABLES = (
    "CUB_200_2011/images.txt", "CUB_200_2011/classes.txt", "CUB_200_2011/image_class_labels.txt",
    "CUB_200_2011/train_test_split.txt", *ANNOTATION_TABLES, "CUB_200_2011/parts/parts.txt",
    "CUB_200_2011/attributes/attributes.txt", "CUB_200_2011/attributes/class_attribute_labels_continuous.txt",
    "xlsa17/att_splits.mat", "xlsa17/allclasses.txt", "xlsa17/trainvalclasses.txt", "xlsa17/testclasses.txt",
    "xlsa17/trainclasses1.txt", "xlsa17/valclasses1.txt",
)


def _write_mat(path: Path, variables: dict) -> None:
    """``scipy.io.savemat`` with a fixed header (scipy stamps the creation time into it)."""
    import scipy.io

    buf = io.BytesIO()
    scipy.io.savemat(buf, variables, format="5", do_compression=False, oned_as="column")
    data = bytearray(buf.getvalue())
    data[:116] = MAT_HEADER.ljust(116, b" ")
    path.write_bytes(bytes(data))


def _fmt(x: float) -> str:
    return f"{x:.1f}"


def write_cub_tables(
    cub: Path,
    images: list[tuple[int, str]],
    labels: list[int],
    split: list[str],
    class_names: list[str],
    attrs: np.ndarray,
    attribute_names: list[str],
    part_names: list[str],
) -> None:
    """The text tables of ``CUB_200_2011/`` but the boxes and part locations (:func:`write_annotation_tables`).

    ``images``: ``(image id, path under images/)`` of the ``N`` images; ``labels``: their 1-based
    class ids; ``split``: ``trainval``, ``test_seen`` or ``test_unseen`` each; ``attrs``: ``[C, K]``
    continuous class attributes, named by ``attribute_names``; ``part_names``: the ``P`` parts.
    """
    ids = [i for i, _ in images]
    for folder in ("parts", "attributes"):
        (cub / folder).mkdir(parents=True, exist_ok=True)
    (cub / "images.txt").write_text("".join(f"{i} {rel}\n" for i, rel in images))
    (cub / "classes.txt").write_text("".join(f"{i + 1} {n}\n" for i, n in enumerate(class_names)))
    (cub / "image_class_labels.txt").write_text("".join(f"{i} {c}\n" for i, c in zip(ids, labels)))
    (cub / "train_test_split.txt").write_text("".join(f"{i} {int(s == 'trainval')}\n" for i, s in zip(ids, split)))
    (cub / "parts" / "parts.txt").write_text("".join(f"{p + 1} {n}\n" for p, n in enumerate(part_names)))
    (cub / "attributes" / "attributes.txt").write_text(
        "".join(f"{k + 1} {a}\n" for k, a in enumerate(attribute_names)))
    (cub / "attributes" / "class_attribute_labels_continuous.txt").write_text(
        "".join(" ".join(f"{v:.6f}" for v in row) + "\n" for row in attrs))


def write_annotation_tables(cub: Path, ids: list[int],
                            results: dict[int, tuple[list[float], list[list[float]]]]) -> None:
    """``bounding_boxes.txt`` and ``parts/part_locs.txt`` of the images ``ids``, from each one's box ``[4]``
    and part locations ``[P, 3]`` in ``results``."""
    (cub / "parts").mkdir(parents=True, exist_ok=True)
    (cub / "bounding_boxes.txt").write_text(
        "".join(f"{i} " + " ".join(_fmt(v) for v in results[i][0]) + "\n" for i in ids))
    (cub / "parts" / "part_locs.txt").write_text("".join(
        f"{i} {p + 1} {_fmt(x)} {_fmt(y)} {int(v)}\n" for i in ids for p, (x, y, v) in enumerate(results[i][1])))


def write_xlsa17(
    xl: Path,
    config: SyntheticConfig,
    class_names: list[str],
    attrs: np.ndarray,
    unseen: np.ndarray,
    ids: list[int],
    labels: list[int],
    split: list[str],
) -> dict[str, np.ndarray]:
    """``att_splits.mat`` and the class lists of ``xlsa17/``; returns the 1-based image ids of each split.

    ``attrs``: ``[C, K]``; ``unseen``: ``[C]`` bool; ``ids``, ``labels`` (1-based classes) and
    ``split`` describe the ``N`` images. A third of the seen classes (``val_class_fraction``)
    become the validation classes of the ``train``/``val`` re-split.
    """
    # Columns in a shuffled class order, as in the real files, so readers must map by name.
    column_order = np.random.default_rng([config.seed, 4]).permutation(config.classes)
    original_att = attrs[column_order].T
    att = original_att / np.linalg.norm(original_att, axis=0, keepdims=True)
    val_classes = _validation_classes(config, unseen)
    loc = _split_locations(ids, labels, split, val_classes)
    names_col = np.empty((config.classes, 1), dtype=object)
    for j, c in enumerate(column_order):
        names_col[j, 0] = class_names[c]
    _write_mat(xl / "att_splits.mat", {
        "att": att, "original_att": original_att, "allclasses_names": names_col,
        **{f"{k}_loc": v.reshape(-1, 1) for k, v in loc.items()},
    })
    ordered = [class_names[c] for c in column_order]
    (xl / "allclasses.txt").write_text("".join(n + "\n" for n in ordered))
    (xl / "trainvalclasses.txt").write_text("".join(n + "\n" for n in ordered if not unseen[class_names.index(n)]))
    (xl / "testclasses.txt").write_text("".join(n + "\n" for n in ordered if unseen[class_names.index(n)]))
    (xl / "trainclasses1.txt").write_text("".join(
        n + "\n" for n in ordered if not unseen[class_names.index(n)] and class_names.index(n) not in val_classes))
    (xl / "valclasses1.txt").write_text("".join(n + "\n" for n in ordered if class_names.index(n) in val_classes))
    return loc


def _validation_classes(config: SyntheticConfig, unseen: np.ndarray) -> set[int]:
    """The 0-based seen classes held out for validation (at least one)."""
    seen_ids = [i for i in range(config.classes) if not unseen[i]]
    val_rng = np.random.default_rng([config.seed, 5])
    n_val = max(1, int(round(config.val_class_fraction * len(seen_ids))))
    return set(val_rng.choice(seen_ids, size=n_val, replace=False).tolist())


def _split_locations(
    ids: list[int], labels: list[int], split: list[str], val_classes: set[int]
) -> dict[str, np.ndarray]:
    """The 1-based image ids of ``trainval``, ``test_seen``, ``test_unseen``, ``train`` and ``val``."""
    loc = {key: np.array([i for i, s in zip(ids, split) if s == key], dtype=np.uint16) for key in SPLITS}
    loc["train"] = np.array([i for i, s, c in zip(ids, split, labels)
                             if s != "test_unseen" and c - 1 not in val_classes], dtype=np.uint16)
    loc["val"] = np.array([i for i, s, c in zip(ids, split, labels) if c - 1 in val_classes], dtype=np.uint16)
    return loc
