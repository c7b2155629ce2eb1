"""The AWA2 and FLO readers on fabricated xlsa17 releases, every way their input can be wrong,
and the real split files' shapes where ``shared/data`` has them.

The fabricated releases keep the real structure: ``res101.mat`` holds ``image_files`` (a MATLAB
cell of absolute paths on the authors' machine) and 1-based ``labels``; the ``*_loc`` indices
of ``att_splits.mat`` are 1-based rows of ``res101.mat`` in a shuffled order, so a reader that
took them as image numbers or class-ordered positions would fail the tests. The builders here
are also used by ``tests/test_fetch.py`` to fill its fabricated archives.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from sgma_core.data import DatasetError, load_dataset, read_awa2, read_flo, read_xlsa17_images, read_xlsa17_splits
from sgma_core.data.images import read_image
from sgma_core.paths import data_roots, repo_root

AWA2_CLASSES = ["antelope", "grizzly+bear", "killer+whale", "beaver"]
AWA2_PREDICATES = ["black", "white", "blue", "brown", "gray"]
PER_CLASS = 3
SEEN, UNSEEN = (0, 1), (2, 3)
FLO_OXFORD_LABEL = [3, 1, 4, 2]  # Oxford class of each att column in the fabricated FLO release


# --------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------


def tiny_jpeg(seed: int) -> bytes:
    """A valid 8×8 RGB JPEG whose colour depends on ``seed``."""
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), ((37 * seed) % 256, (91 * seed) % 256, 120)).save(buf, "JPEG")
    return buf.getvalue()


def mat_bytes(variables: dict) -> bytes:
    """A MATLAB v5 file holding ``variables``, as bytes."""
    buf = io.BytesIO()
    scipy.io.savemat(buf, variables)
    return buf.getvalue()


def cell(strings: list[str]) -> np.ndarray:
    """A column MATLAB cell array of strings, as ``scipy.io.savemat`` writes one."""
    out = np.empty((len(strings), 1), dtype=object)
    for i, s in enumerate(strings):
        out[i, 0] = np.array(s)
    return out


def _col(values) -> np.ndarray:
    return np.asarray(values, dtype=np.uint16).reshape(-1, 1)


def _unit_columns(k: int, c: int, seed: int) -> np.ndarray:
    att = np.random.default_rng(seed).random((k, c)) + 0.1
    return att / np.linalg.norm(att, axis=0, keepdims=True)


def xlsa17_release(image_files_of, n_attributes: int, class_names: list[str] | None, seed: int) -> dict:
    """``att_splits.mat`` and ``res101.mat`` variables for 4 classes × PER_CLASS images.

    Rows of ``res101.mat`` are a shuffled order of (class, k); ``image_files_of(j, k)`` gives the stored
    path of image ``k`` of class ``j``. Seen classes: images 0, 1 in trainval, 2 in test_seen; unseen:
    all in test_unseen; train_loc/val_loc split the seen classes' images class-disjointly.
    """
    n_classes = 4
    pairs = [(j, k) for j in range(n_classes) for k in range(PER_CLASS)]
    order = np.random.default_rng(seed).permutation(len(pairs))
    rows = [pairs[i] for i in order]
    row_of = {pair: r + 1 for r, pair in enumerate(rows)}  # 1-based
    locs = {
        "trainval_loc": [row_of[j, k] for j in SEEN for k in (0, 1)],
        "test_seen_loc": [row_of[j, 2] for j in SEEN],
        "test_unseen_loc": [row_of[j, k] for j in UNSEEN for k in range(PER_CLASS)],
        "train_loc": [row_of[SEEN[0], k] for k in range(PER_CLASS)],
        "val_loc": [row_of[SEEN[1], k] for k in range(PER_CLASS)],
    }
    att = _unit_columns(n_attributes, n_classes, seed)
    splits = {"att": att, **{key: _col(v) for key, v in locs.items()}}
    if class_names:
        splits["allclasses_names"] = cell(class_names)
        splits["original_att"] = att * 100
    res101 = {
        "features": np.random.default_rng(seed).random((4, len(rows))).astype(np.float32),
        "image_files": cell([image_files_of(j, k) for j, k in rows]),
        "labels": np.array([[j + 1] for j, _ in rows], dtype=np.float64),
    }
    return {"att_splits": splits, "res101": res101, "rows": rows, "locs": locs}


def awa2_release() -> dict:
    """A fabricated AWA2: xlsa17 variables plus the ``Animals_with_Attributes2`` files (relative path → bytes)."""

    def stored(j: int, k: int) -> str:
        c = AWA2_CLASSES[j]
        return f"/BS/xian/work/data/Animals_with_Attributes2//JPEGImages/{c}/{c}_{10001 + k}.jpg"

    release = xlsa17_release(stored, len(AWA2_PREDICATES), AWA2_CLASSES, seed=1)
    files = {
        f"JPEGImages/{c}/{c}_{10001 + k}.jpg": tiny_jpeg(3 * j + k)
        for j, c in enumerate(AWA2_CLASSES)
        for k in range(PER_CLASS)
    }
    files["classes.txt"] = "".join(f"{i + 1}\t{c}\n" for i, c in enumerate(AWA2_CLASSES)).encode()
    files["predicates.txt"] = "".join(f"{i + 1}\t{p}\n" for i, p in enumerate(AWA2_PREDICATES)).encode()
    release["files"] = files
    return release


def flo_release() -> dict:
    """A fabricated FLO: xlsa17 variables, Oxford image numbers that differ from the rows, and ``oxford102`` files."""
    n = 4 * PER_CLASS
    number = {(j, k): int(v) + 1 for (j, k), v in zip(
        [(j, k) for j in range(4) for k in range(PER_CLASS)], np.random.default_rng(7).permutation(n)
    )}

    def stored(j: int, k: int) -> str:
        return f"/BS/xian/work/data/flowers/jpg/image_{number[j, k]:05d}.jpg"

    release = xlsa17_release(stored, 6, None, seed=2)
    oxford = np.zeros((1, n), dtype=np.uint8)
    for (j, _), num in number.items():
        oxford[0, num - 1] = FLO_OXFORD_LABEL[j]
    release["number"] = number
    release["files"] = {f"jpg/image_{num:05d}.jpg": tiny_jpeg(num) for num in number.values()}
    release["files"]["imagelabels.mat"] = mat_bytes({"labels": oxford})
    release["files"]["setid.mat"] = mat_bytes(
        {"trnid": _col(range(1, 5)).T, "valid": _col(range(5, 9)).T, "tstid": _col(range(9, n + 1)).T}
    )
    return release


def write_release(base: Path, image_folder: str, release: dict) -> Path:
    """Write ``release`` in the fetched layout: ``base/<image_folder>/…`` and ``base/xlsa17/*.mat``."""
    for rel, data in release["files"].items():
        path = base / image_folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (base / "xlsa17").mkdir(parents=True, exist_ok=True)
    (base / "xlsa17" / "att_splits.mat").write_bytes(mat_bytes(release["att_splits"]))
    (base / "xlsa17" / "res101.mat").write_bytes(mat_bytes(release["res101"]))
    return base


@pytest.fixture()
def awa2(tmp_path) -> tuple[Path, dict]:
    release = awa2_release()
    write_release(tmp_path / "AWA2", "Animals_with_Attributes2", release)
    return tmp_path, release


@pytest.fixture()
def flo(tmp_path) -> tuple[Path, dict]:
    release = flo_release()
    write_release(tmp_path / "FLO", "oxford102", release)
    return tmp_path, release


def _rewrite(path: Path, **changes) -> None:
    mat = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
    mat.update(changes)
    scipy.io.savemat(path, mat)


# --------------------------------------------------------------------------------------
# AWA2
# --------------------------------------------------------------------------------------


def test_awa2_rows_follow_res101(awa2):
    root, release = awa2
    ds = load_dataset("AWA2", root, with_parts=False)  # with_parts is accepted and ignored
    assert ds.name == "AWA2" and ds.n_images == len(release["rows"])
    assert ds.class_names == AWA2_CLASSES and ds.attribute_names == AWA2_PREDICATES
    for row, (j, k) in enumerate(release["rows"]):
        c = AWA2_CLASSES[j]
        assert ds.labels[row] == j
        jpegs = root / "AWA2" / "Animals_with_Attributes2" / "JPEGImages"
        assert ds.image_paths[row] == jpegs / c / f"{c}_{10001 + k}.jpg"
    np.testing.assert_array_equal(ds.image_ids[ds.trainval], release["locs"]["trainval_loc"])  # 1-based row ids
    assert list(ds.seen_classes) == list(SEEN) and list(ds.unseen_classes) == list(UNSEEN)
    assert set(ds.labels[ds.test_unseen]) == set(UNSEEN)
    assert set(ds.labels[ds.train]) == {SEEN[0]} and set(ds.labels[ds.val]) == {SEEN[1]}
    assert ds.split_summary()["test_unseen images"] == 2 * PER_CLASS
    img, size = read_image(ds.image_paths[ds.test_unseen[0]], 8)
    assert size == (8, 8)


@pytest.mark.parametrize(
    ("mat", "variable", "index", "change", "message"),
    [
        pytest.param(  # still a seen/unseen-consistent class id, but the wrong folder
            "res101", "labels", (0, 0), lambda v: v % 2 + 1, "res101.mat: image 1 .* labels and image files disagree",
            id="label_that_disagrees_with_the_folder",
        ),
        pytest.param(
            "res101", "labels", (3, 0), lambda v: 9, "labels go up to 9 but att .* has 4 class columns",
            id="label_out_of_range",
        ),
        pytest.param(
            "att_splits", "test_unseen_loc", (0, 0), lambda v: 99,
            "att_splits.mat: test_unseen_loc names image 99 .*res101.mat lists only 12",
            id="loc_beyond_the_image_list",
        ),
    ],
)
def test_awa2_release_files_that_disagree(awa2, mat, variable, index, change, message):
    """One value of ``<mat>.mat`` changed so that the release's files no longer agree."""
    root, release = awa2
    values = release[mat][variable].copy()
    values[index] = change(values[index])
    _rewrite(root / "AWA2" / "xlsa17" / f"{mat}.mat", **{variable: values})
    with pytest.raises(DatasetError, match=message):
        load_dataset("AWA2", root)


def test_awa2_missing_images(awa2):
    root, _ = awa2
    shutil.rmtree(root / "AWA2" / "Animals_with_Attributes2" / "JPEGImages" / "beaver")
    with pytest.raises(DatasetError, match=r"3 of the 12 images .* are missing, e.g. .*beaver.*data_prep.fetch awa2"):
        load_dataset("AWA2", root)
    ds = load_dataset("AWA2", root, check_images=False)  # lazily: only reading such an image fails
    assert ds.n_images == 12


def test_awa2_missing_image_list(awa2):
    root, _ = awa2
    (root / "AWA2" / "xlsa17" / "res101.mat").unlink()
    with pytest.raises(DatasetError, match="res101.mat.*data_prep.fetch awa2"):
        load_dataset("AWA2", root)


def test_awa2_path_without_jpegimages(awa2):
    root, release = awa2
    files = [np.asarray(s[0]).item() for s in release["res101"]["image_files"]]
    files[2] = "/elsewhere/antelope_1.jpg"
    _rewrite(root / "AWA2" / "xlsa17" / "res101.mat", image_files=cell(files))
    with pytest.raises(DatasetError, match=r"image_files\[2\] .* no JPEGImages/"):
        load_dataset("AWA2", root)


def test_res101_variables_must_agree(awa2):
    root, release = awa2
    path = root / "AWA2" / "xlsa17" / "res101.mat"
    _rewrite(path, labels=release["res101"]["labels"][:-1])
    with pytest.raises(DatasetError, match="image_files lists 12 images but labels has 11"):
        read_xlsa17_images(path)
    _rewrite(path, labels=release["res101"]["labels"] - 1)
    with pytest.raises(DatasetError, match="1-based"):
        read_xlsa17_images(path)


# --------------------------------------------------------------------------------------
# FLO
# --------------------------------------------------------------------------------------


def test_flo_locs_index_res101_not_oxford_numbers(flo):
    root, release = flo
    ds = load_dataset("FLO", root)
    assert ds.class_names == ["001", "002", "003", "004"]
    assert ds.attribute_names is None and ds.original_att is None
    jpg = root / "FLO" / "oxford102" / "jpg"
    for row, (j, k) in enumerate(release["rows"]):
        assert ds.labels[row] == j
        assert ds.image_paths[row] == jpg / f"image_{release['number'][j, k]:05d}.jpg"
    # a loc value is a res101 row, and that row's image number is (here) a different number
    locs = release["locs"]["test_unseen_loc"]
    numbers = [int(ds.image_paths[r].stem[6:]) for r in ds.test_unseen]
    assert numbers != locs
    assert list(ds.unseen_classes) == list(UNSEEN)


def test_flo_disagreeing_oxford_labels(flo):
    root, release = flo
    labels_path = root / "FLO" / "oxford102" / "imagelabels.mat"
    oxford = scipy.io.loadmat(labels_path)["labels"].copy()
    first = release["number"][0, 0]
    oxford[0, first - 1] = FLO_OXFORD_LABEL[1]  # image of column 0 labelled as the Oxford class of column 1
    scipy.io.savemat(labels_path, {"labels": oxford})
    with pytest.raises(DatasetError, match="imagelabels.mat disagree"):
        load_dataset("FLO", root)


def test_flo_file_names(flo):
    root, release = flo
    path = root / "FLO" / "xlsa17" / "res101.mat"
    files = [np.asarray(s[0]).item() for s in release["res101"]["image_files"]]
    _rewrite(path, image_files=cell(files[:1] + files[:1] + files[2:]))
    with pytest.raises(DatasetError, match="listed more than once"):
        load_dataset("FLO", root)
    _rewrite(path, image_files=cell(["/x/flower.png"] + files[1:]))
    with pytest.raises(DatasetError, match=r"image_files\[0\] = '/x/flower.png' is not an image_XXXXX.jpg"):
        load_dataset("FLO", root)


def test_flo_missing_images(flo):
    root, _ = flo
    shutil.rmtree(root / "FLO" / "oxford102" / "jpg")
    with pytest.raises(DatasetError, match="12 of the 12 images .*data_prep.fetch flo"):
        load_dataset("FLO", root)


def test_flo_split_that_is_not_zero_shot(flo):
    root, release = flo
    locs = release["att_splits"]["test_unseen_loc"].copy()
    locs[0, 0] = release["att_splits"]["trainval_loc"][0, 0]  # a seen image in test_unseen
    _rewrite(root / "FLO" / "xlsa17" / "att_splits.mat", test_unseen_loc=locs)
    with pytest.raises(DatasetError, match="share 1 images"):
        load_dataset("FLO", root)


def test_unknown_dataset_name(tmp_path):
    with pytest.raises(DatasetError, match="'SYN', 'CUB', 'AWA2', 'FLO' and 'OWN'"):
        load_dataset("APY", tmp_path)


# --------------------------------------------------------------------------------------
# The real split files, where present
# --------------------------------------------------------------------------------------


def _real_split_dir(name: str) -> Path:
    """``<name>/xlsa17`` of the real metadata: under SGMA_DATA_ROOT, else the checkout's sibling ``shared/data``."""
    for root in [*data_roots(), repo_root().parent / "shared" / "data"]:
        folder = root / name / "xlsa17"
        if (folder / "att_splits.mat").is_file():
            return folder
    pytest.skip(f"the real {name} att_splits.mat is absent")


def _labels_for(splits, seen: np.ndarray, unseen: np.ndarray) -> tuple[int, np.ndarray]:
    """1-based labels for every res101 row that make the real split zero-shot (round robin within each group)."""
    n = 1 + max(int(getattr(splits, k).max()) for k in ("trainval", "test_seen", "test_unseen"))
    labels = np.zeros(n, dtype=np.int64)
    seen_rows = np.union1d(splits.trainval, splits.test_seen)
    labels[seen_rows] = seen[np.arange(len(seen_rows)) % len(seen)]
    labels[splits.test_unseen] = unseen[np.arange(len(splits.test_unseen)) % len(unseen)]
    return n, labels + 1


@pytest.mark.realdata
def test_real_awa2_split_is_accepted(tmp_path):
    folder = _real_split_dir("AWA2")
    splits = read_xlsa17_splits(folder / "att_splits.mat")
    assert splits.att.shape == (85, 50)
    test_names = (folder / "testclasses.txt").read_text().split()
    unseen = np.array([splits.class_names.index(c) for c in test_names])
    seen = np.setdiff1d(np.arange(50), unseen)
    n, labels = _labels_for(splits, seen, unseen)
    assert n == 37322
    names = [splits.class_names[c - 1] for c in labels]
    stored = "/BS/xian/work/data/Animals_with_Attributes2//JPEGImages/{0}/{0}_{1}.jpg"
    files = [stored.format(c, 10001 + i) for i, c in enumerate(names)]
    res101 = tmp_path / "res101.mat"
    scipy.io.savemat(res101, {"image_files": cell(files), "labels": labels.reshape(-1, 1).astype(np.float64)})
    awa_dir = folder.parent / "Animals_with_Attributes2"  # predicates.txt, where the real metadata has it
    ds = read_awa2(awa_dir, folder / "att_splits.mat", res101, check_images=False)
    assert (len(ds.trainval), len(ds.test_seen), len(ds.test_unseen)) == (23527, 5882, 7913)
    assert len(ds.seen_classes) == 40 and len(ds.unseen_classes) == 10
    if (awa_dir / "predicates.txt").is_file():
        assert len(ds.attribute_names) == 85 and ds.attribute_names[0] == "black"


@pytest.mark.realdata
def test_real_flo_split_is_accepted(tmp_path):
    folder = _real_split_dir("FLO")
    splits = read_xlsa17_splits(folder / "att_splits.mat")
    assert splits.att.shape == (1024, 102) and splits.class_names is None
    n, labels = _labels_for(splits, np.arange(82), np.arange(82, 102))
    assert n == 8189
    files = [f"/BS/xian/work/data/flowers/jpg/image_{i + 1:05d}.jpg" for i in range(n)]
    res101 = tmp_path / "res101.mat"
    scipy.io.savemat(res101, {"image_files": cell(files), "labels": labels.reshape(-1, 1).astype(np.float64)})
    ds = read_flo(tmp_path / "oxford102", folder / "att_splits.mat", res101, check_images=False)
    assert (len(ds.trainval), len(ds.test_seen), len(ds.test_unseen)) == (5631, 1403, 1155)
    assert len(ds.seen_classes) == 82 and len(ds.unseen_classes) == 20
    assert ds.class_names[0] == "001" and len(ds.class_names) == 102
