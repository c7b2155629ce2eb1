"""AWA2 and FLO: images in the row order of the xlsa17 ``res101.mat``."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from sgma_core.data.dataset import DatasetError, ZSLDataset
from sgma_core.data.xlsa17 import (
    Xlsa17Images,
    Xlsa17Splits,
    read_attribute_names,
    read_xlsa17_images,
    read_xlsa17_splits,
    xlsa17_dataset,
)


def _read_release(splits_path: str | Path, res101_path: str | Path) -> tuple[Xlsa17Splits, Xlsa17Images, list[str]]:
    """The split file, the image list and the ``C`` class names (``"001"``… where the split file names none)."""
    splits = read_xlsa17_splits(splits_path)
    images = read_xlsa17_images(res101_path)
    class_names = splits.class_names or [f"{j + 1:03d}" for j in range(splits.n_classes)]
    return splits, images, class_names


def read_awa2(awa_dir: str | Path, splits_path: str | Path, res101_path: str | Path, name: str = "AWA2",
              check_images: bool = True) -> ZSLDataset:
    """Read Animals with Attributes 2 in the xlsa17 proposed split.

    ``awa_dir`` is the ``Animals_with_Attributes2`` folder of ``AwA2-data.zip``. Row ``i`` of the
    result is row ``i`` of ``res101.mat``; each stored path (e.g.
    ``/BS/xian/work/data/Animals_with_Attributes2//JPEGImages/antelope/antelope_10001.jpg``) is
    mapped to the local file by its part after ``JPEGImages/``, and its class folder must be the
    name of its class. ``predicates.txt`` names the attributes where present. With
    ``check_images`` every image must exist; otherwise they are read lazily.
    """
    awa_dir = Path(awa_dir)
    splits, images, class_names = _read_release(splits_path, res101_path)
    image_paths = _awa2_image_paths(awa_dir, splits, images, class_names)
    attribute_names = read_attribute_names(awa_dir / "predicates.txt", splits, "predicate id and name", "predicates")
    hint = "Extract AwA2-data.zip there: `python -m data_prep.fetch awa2`."
    return xlsa17_dataset(name, awa_dir, splits, images, image_paths, class_names, attribute_names, check_images, hint)


def _awa2_image_paths(awa_dir: Path, splits: Xlsa17Splits, images: Xlsa17Images, class_names: list[str]) -> list[Path]:
    """The local file of each of the ``N`` stored paths: its part after ``JPEGImages/``, in a folder named by its
    class."""
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
    return image_paths


_FLO_IMAGE = re.compile(r"image_(\d{5})\.jpg$")


def read_flo(flowers_dir: str | Path, splits_path: str | Path, res101_path: str | Path, name: str = "FLO",
             check_images: bool = True) -> ZSLDataset:
    """Read Oxford 102 Flowers in the proposed split of Xian et al. (CVPR 2018).

    ``flowers_dir`` holds ``jpg/image_XXXXX.jpg`` (from ``102flowers.tgz``) and, where present,
    ``imagelabels.mat``. Row ``i`` of the result is row ``i`` of the FLO ``res101.mat``: the
    ``*_loc`` values index that order, not Oxford image numbers (METHOD §7). Each stored path is
    mapped to ``jpg/`` by its ``image_XXXXX.jpg`` name. The split file has no class names, so
    classes are named by their 1-based column of ``att`` (``"001"``…). Where ``imagelabels.mat``
    is present, every ``att`` column must hold the images of exactly one Oxford class.
    """
    flowers_dir = Path(flowers_dir)
    splits, images, class_names = _read_release(splits_path, res101_path)
    numbers, image_paths = _flo_image_numbers(flowers_dir, images)
    labels_path = flowers_dir / "imagelabels.mat"
    if labels_path.is_file():
        _check_oxford_labels(labels_path, images, numbers)
    hint = "Extract 102flowers.tgz there: `python -m data_prep.fetch flo`."
    return xlsa17_dataset(name, flowers_dir, splits, images, image_paths, class_names, None, check_images, hint)


def _flo_image_numbers(flowers_dir: Path, images: Xlsa17Images) -> tuple[np.ndarray, list[Path]]:
    """The Oxford number ``[N]`` of each stored ``image_XXXXX.jpg`` name and its file under ``jpg/``; each once."""
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
    return numbers, image_paths


def _check_oxford_labels(labels_path: Path, images: Xlsa17Images, numbers: np.ndarray) -> None:
    """Every ``att`` column holds the images of exactly one class of ``imagelabels.mat`` (1-based image numbers)."""
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
