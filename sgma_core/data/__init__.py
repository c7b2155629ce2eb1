"""Datasets: readers of the published formats (one module per format), images and the decode cache.

* :mod:`~sgma_core.data.dataset` — :class:`ZSLDataset`, what every reader returns (0-based);
  :class:`DatasetError`; the validation re-split;
* :mod:`~sgma_core.data.xlsa17` — ``att_splits.mat`` and ``res101.mat`` of Xian et al.;
* :mod:`~sgma_core.data.cub` — the CUB-200-2011 layout (real CUB and the synthetic birds);
* :mod:`~sgma_core.data.awa2_flo` — AWA2 and Oxford flowers in the row order of ``res101.mat``;
* :mod:`~sgma_core.data.images` — decoding, normalisation, augmentation;
* :mod:`~sgma_core.data.cache` — every image decoded once into a memory-mapped ``uint8`` array.

:func:`load_dataset` finds a dataset by name under the data roots and calls its reader.
"""

from __future__ import annotations

from pathlib import Path

from sgma_core.data.awa2_flo import read_awa2, read_flo
from sgma_core.data.cub import read_cub
from sgma_core.data.dataset import DatasetError, ZSLDataset, validation_split
from sgma_core.data.xlsa17 import LOC_KEYS, Xlsa17Images, Xlsa17Splits, read_xlsa17_images, read_xlsa17_splits
from sgma_core.paths import find_dataset
from sgma_core.profiles import choices

DATASETS = choices("dataset")  # the names load_dataset serves

__all__ = ["DATASETS", "DatasetError", "LOC_KEYS", "Xlsa17Images", "Xlsa17Splits", "ZSLDataset", "load_dataset",
           "read_awa2", "read_cub", "read_flo", "read_xlsa17_images", "read_xlsa17_splits", "validation_split"]


def load_dataset(name: str = "SYN", data_root: str | Path | None = None, **kwargs) -> ZSLDataset:
    """A dataset by name from the data root: ``SYN`` (synthetic birds), ``CUB``, ``AWA2``, ``FLO``, or ``OWN``
    (a dataset of your own, laid out as CUB-200-2011 is).

    ``SYN``, ``CUB`` and ``OWN`` use the layout ``<root>/<name>/CUB_200_2011/`` and
    ``<root>/<name>/xlsa17/att_splits.mat`` (:func:`read_cub`); ``AWA2`` reads
    ``Animals_with_Attributes2/`` (:func:`read_awa2`) and ``FLO`` reads ``oxford102/``
    (:func:`read_flo`), each with ``xlsa17/att_splits.mat`` and ``xlsa17/res101.mat`` — the
    layout that ``python -m data_prep.fetch`` installs. Keyword arguments go to the reader;
    ``with_parts`` is ignored for AWA2 and FLO, which have no part annotations.
    """
    if name not in DATASETS:
        raise DatasetError(f"unknown image dataset {name!r}; the readers here serve 'SYN', 'CUB', 'AWA2', 'FLO' and "
                           "'OWN' (your own, in the CUB-200-2011 layout).")
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
