"""What :mod:`data_prep.fetch` downloads and where each file goes.

:data:`SOURCES` lists the files to download (URL, kind, published checksum); :data:`DATASETS`
says which *parts* (folders under ``<root>/<NAME>``) each dataset is made of, and which members
of which files each part takes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """One file to download.

    ``kind``: ``"tgz"``, ``"zip"`` or ``"file"`` (used as it is). ``md5``: the published
    checksum, or ``None`` where none is published; ``checksum_note`` says where the md5
    comes from, or that there is none.
    """

    filename: str
    url: str
    kind: str
    md5: str | None
    checksum_note: str
    homepage: str
    approx_size: str | None = None


_OXFORD = "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/"
_MPI_DATA = "https://datasets.d2.mpi-inf.mpg.de/xian/"
_MPI_ZSL = (
    "https://www.mpi-inf.mpg.de/departments/computer-vision-and-machine-learning/research/zero-shot-learning/"
)


def _unpublished_zip(filename: str, url: str, homepage: str, approx_size: str | None = None) -> Source:
    """A zip archive whose publisher gives no checksum (fetch records its sha256 at the first download)."""
    return Source(filename, url, "zip", None, f"no checksum is published for {filename}", homepage, approx_size)


def _oxford(filename: str, kind: str, md5: str, approx_size: str | None = None) -> Source:
    """A file of the Oxford 102 Flowers page, with the md5 that torchvision's loader checks."""
    return Source(filename, _OXFORD + filename, kind, md5, "md5 from torchvision.datasets.Flowers102", _OXFORD,
                  approx_size)


SOURCES: dict[str, Source] = {
    src.filename: src
    for src in (
        Source(
            filename="CUB_200_2011.tgz",
            url="https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz?download=1",
            kind="tgz",
            md5="97eceeb196236b17998738112f37df78",
            checksum_note="md5 checked by common CUB-200-2011 loaders: TDeVries/cub2011_dataset, ContinualAI/avalanche",
            homepage="https://www.vision.caltech.edu/datasets/cub_200_2011/",
            approx_size="about 1.1 GB",
        ),
        _unpublished_zip("xlsa17.zip", _MPI_DATA + "xlsa17.zip",
                         _MPI_ZSL + "zero-shot-learning-the-good-the-bad-and-the-ugly", "about 880 MB"),
        _unpublished_zip("AwA2-data.zip", "https://cvml.ista.ac.at/AwA2/AwA2-data.zip", "https://cvml.ista.ac.at/AwA2/",
                         "about 13 GB"),
        _oxford("102flowers.tgz", "tgz", "52808999861908f626f3c1f4e79d11fa", "about 330 MB"),
        _oxford("imagelabels.mat", "file", "e0620be6f572b9609742df49c70aed4d"),
        _oxford("setid.mat", "file", "a5357ecc9cb78c4bef273ce3793fc85c"),
        _unpublished_zip("cvpr18xian.zip", _MPI_DATA + "cvpr18xian.zip",
                         _MPI_ZSL + "feature-generating-networks-for-zero-shot-learning"),
    )
}


@dataclass(frozen=True)
class Part:
    """One folder of a dataset, ``<root>/<NAME>/<target>``, made from the files in ``sources``.

    ``pick(source file name, member name)`` gives the member's path inside ``target`` or
    ``None`` to leave it out; ``required`` lists paths that must exist after extraction.
    """

    target: str
    sources: tuple[str, ...]
    pick: Callable[[str, str], str | None]
    required: tuple[str, ...]


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    parts: tuple[Part, ...]


def _strip_prefix(prefix: str) -> Callable[[str, str], str | None]:
    """Members under ``prefix/``, with the prefix removed; everything else left out."""

    def pick(source: str, member: str) -> str | None:
        if member.startswith(prefix + "/"):
            return member[len(prefix) + 1 :] or None
        return None

    return pick


def _pick_cub(source: str, member: str) -> str | None:
    """``CUB_200_2011/…`` as it is; the archive's top-level ``attributes.txt`` goes where the CUB README puts it."""
    if member == "attributes.txt":
        return "attributes/attributes.txt"
    return _strip_prefix("CUB_200_2011")(source, member)


def _split_files(dataset: str) -> Callable[[str, str], str | None]:
    """The files of ``…/data/<dataset>/`` in an xlsa17-style archive (``att_splits.mat``, ``res101.mat``, lists)."""
    pattern = re.compile(rf"(?:^|/)data/{re.escape(dataset)}/([^/]+)$")

    def pick(source: str, member: str) -> str | None:
        m = pattern.search(member)
        return m.group(1) if m else None

    return pick


def _pick_oxford(source: str, member: str) -> str | None:
    """``jpg/image_XXXXX.jpg`` from the image archive; the two ``.mat`` files as they are."""
    if source == "102flowers.tgz":
        return member if member.startswith("jpg/") and member != "jpg/" else None
    return member


DATASETS: dict[str, DatasetSpec] = {
    "cub": DatasetSpec(
        "CUB",
        (
            Part(
                "CUB_200_2011",
                ("CUB_200_2011.tgz",),
                _pick_cub,
                ("images", "images.txt", "classes.txt", "image_class_labels.txt"),
            ),
            Part("xlsa17", ("xlsa17.zip",), _split_files("CUB"), ("att_splits.mat",)),
        ),
    ),
    "awa2": DatasetSpec(
        "AWA2",
        (
            Part(
                "Animals_with_Attributes2",
                ("AwA2-data.zip",),
                _strip_prefix("Animals_with_Attributes2"),
                ("JPEGImages", "classes.txt"),
            ),
            Part("xlsa17", ("xlsa17.zip",), _split_files("AWA2"), ("att_splits.mat", "res101.mat")),
        ),
    ),
    "flo": DatasetSpec(
        "FLO",
        (
            Part(
                "oxford102",
                ("102flowers.tgz", "imagelabels.mat", "setid.mat"),
                _pick_oxford,
                ("jpg", "imagelabels.mat", "setid.mat"),
            ),
            Part("xlsa17", ("cvpr18xian.zip",), _split_files("FLO"), ("att_splits.mat", "res101.mat")),
        ),
    ),
}
