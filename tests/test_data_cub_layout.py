"""``read_cub`` on a fabricated dataset in the CUB layout, and every way its input can be wrong."""

import shutil

import numpy as np
import pytest
import scipy.io

from sgma_core.data import DatasetError, load_dataset, read_cub, read_xlsa17_splits
from sgma_core.data.images import ImageReadError, load_images
from sgma_core.paths import DataRootError, find_dataset


@pytest.fixture()
def syn_copy(tiny_root, tmp_path):
    """A private copy of the tiny dataset that a test may damage."""
    shutil.copytree(tiny_root / "SYN", tmp_path / "SYN")
    return tmp_path


def test_classes_are_matched_by_name(tiny_syn):
    ds = tiny_syn
    classes = (ds.root / "classes.txt").read_text().split()[1::2]
    labels = dict(line.split() for line in (ds.root / "image_class_labels.txt").read_text().splitlines())
    # the att columns are shuffled relative to class ids, as in real CUB
    assert ds.class_names != classes
    for row in range(0, ds.n_images, 7):
        class_id = int(labels[str(ds.image_ids[row])])
        assert ds.class_names[ds.labels[row]] == classes[class_id - 1]


def test_locations_are_converted_from_1_based(tiny_syn):
    ds = tiny_syn
    mat = scipy.io.loadmat(ds.root.parent / "xlsa17" / "att_splits.mat")
    ids = mat["trainval_loc"].ravel()
    assert ids.min() >= 1
    np.testing.assert_array_equal(ds.image_ids[ds.trainval], ids)  # row → image id round trip
    split_flags = dict(line.split() for line in (ds.root / "train_test_split.txt").read_text().splitlines())
    assert all(split_flags[str(i)] == "1" for i in ds.image_ids[ds.trainval])


def test_labels_are_remapped(tiny_syn):
    ds = tiny_syn
    s, u = len(ds.seen_classes), len(ds.unseen_classes)
    assert (s, u) == (8, 4)
    assert set(ds.seen_labels(ds.trainval)) == set(range(s))
    assert set(ds.seen_labels(ds.test_seen)) <= set(range(s))
    assert set(ds.unseen_labels(ds.test_unseen)) == set(range(u))
    assert set(ds.gzsl_labels(ds.test_unseen)) == set(range(s, s + u))
    with pytest.raises(ValueError, match="unseen"):
        ds.seen_labels(ds.test_unseen)
    np.testing.assert_array_equal(ds.phi_seen, ds.att[:, ds.seen_classes])


def test_parts_and_boxes_are_read(tiny_syn):
    ds = tiny_syn
    assert ds.part_names[:2] == ["beak", "crown"]
    assert ds.part_locs.shape == (ds.n_images, 7, 3) and ds.boxes.shape == (ds.n_images, 4)
    assert (ds.part_locs[..., 2] == 1).all()
    assert (ds.part_locs[..., :2] >= 0).all() and (ds.part_locs[..., :2] <= 64).all()


def test_missing_data_root_names_the_roots(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataRootError, match="nowhere") as info:
        find_dataset("SYN", missing)
    assert "make data" in str(info.value)


def test_a_missing_dataset_is_said_without_the_machines_folders_for_a_page(tmp_path):
    """A chapter prints why a dataset is missing; its page names no folder of the machine that built it."""
    with pytest.raises(DataRootError) as info:
        find_dataset("CUB", f"{tmp_path / 'one'}:{tmp_path / 'two'}")
    assert str(tmp_path / "two") in str(info.value)  # the person at the machine sees where was searched
    brief = info.value.brief
    assert "'CUB'" in brief and "SGMA_DATA_ROOT" in brief and "folder that holds CUB/" in brief
    assert str(tmp_path) not in brief and "/" not in brief.replace("CUB/", "")


def test_data_root_is_a_search_path(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("SGMA_DATA_ROOT", f"{tmp_path / 'empty'}:{tiny_root}")
    assert find_dataset("SYN") == tiny_root / "SYN"


@pytest.mark.parametrize("missing", ["images.txt", "classes.txt", "image_class_labels.txt"])
def test_missing_file_is_named(syn_copy, missing):
    (syn_copy / "SYN" / "CUB_200_2011" / missing).unlink()
    with pytest.raises(DatasetError, match=missing):
        load_dataset("SYN", syn_copy)


def test_missing_split_file_is_named(syn_copy):
    (syn_copy / "SYN" / "xlsa17" / "att_splits.mat").unlink()
    with pytest.raises(DatasetError, match="att_splits.mat"):
        load_dataset("SYN", syn_copy)


def test_unreadable_image_is_named(syn_copy):
    ds = load_dataset("SYN", syn_copy)
    bad = ds.image_paths[5]
    bad.write_bytes(b"this is not a jpeg")
    with pytest.raises(ImageReadError, match=bad.name):
        load_images(ds.image_paths[:10], 32)
    bad.unlink()
    with pytest.raises(ImageReadError, match="not found"):
        load_images(ds.image_paths[:10], 32)


def _rewrite_mat(path, **changes):
    mat = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
    mat.update(changes)
    for k in [k for k, v in changes.items() if v is None]:
        del mat[k]
    scipy.io.savemat(path, mat)


def test_attribute_matrix_with_wrong_class_count(syn_copy):
    path = syn_copy / "SYN" / "xlsa17" / "att_splits.mat"
    mat = scipy.io.loadmat(path)
    _rewrite_mat(path, att=mat["att"][:, :-1], original_att=None)
    with pytest.raises(DatasetError, match="11 class columns but allclasses_names lists 12"):
        read_xlsa17_splits(path)


def test_attribute_matrix_with_wrong_attribute_count(syn_copy):
    path = syn_copy / "SYN" / "xlsa17" / "att_splits.mat"
    mat = scipy.io.loadmat(path)
    _rewrite_mat(path, att=mat["att"][:-2], original_att=None)
    with pytest.raises(DatasetError, match="names 13 attributes but att .* has 11 rows"):
        load_dataset("SYN", syn_copy)


def test_classes_that_do_not_match(syn_copy):
    classes = syn_copy / "SYN" / "CUB_200_2011" / "classes.txt"
    lines = classes.read_text().splitlines()
    lines[0] = "1 001.Some_Other_Bird"
    classes.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match="001.Some_Other_Bird"):
        load_dataset("SYN", syn_copy)


def test_zero_based_locations_are_refused(syn_copy):
    path = syn_copy / "SYN" / "xlsa17" / "att_splits.mat"
    mat = scipy.io.loadmat(path)
    keys = ("trainval_loc", "test_seen_loc", "test_unseen_loc", "train_loc", "val_loc")
    _rewrite_mat(path, **{k: mat[k].astype(np.int64) - 1 for k in keys})
    with pytest.raises(DatasetError, match="1-based"):
        read_xlsa17_splits(path)


def test_overlapping_splits_are_refused(syn_copy):
    path = syn_copy / "SYN" / "xlsa17" / "att_splits.mat"
    mat = scipy.io.loadmat(path)
    _rewrite_mat(path, test_seen_loc=np.concatenate([mat["test_seen_loc"], mat["trainval_loc"][:2]]))
    with pytest.raises(DatasetError, match="share 2 images"):
        read_xlsa17_splits(path)


def test_not_a_mat_file(syn_copy):
    path = syn_copy / "SYN" / "xlsa17" / "att_splits.mat"
    path.write_bytes(b"\x00" * 300)
    with pytest.raises(DatasetError, match="cannot read"):
        read_xlsa17_splits(path)


def test_split_file_from_another_dataset(syn_copy):
    path = syn_copy / "SYN" / "xlsa17" / "att_splits.mat"
    mat = scipy.io.loadmat(path)
    _rewrite_mat(path, test_unseen_loc=mat["test_unseen_loc"].astype(np.int64) + 10_000)
    with pytest.raises(DatasetError, match="does not list"):
        read_cub(syn_copy / "SYN" / "CUB_200_2011", path)


def _resave_splits(root, change):
    path = root / "SYN" / "xlsa17" / "att_splits.mat"
    mat = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
    change(mat)
    scipy.io.savemat(path, mat)
    return path


def test_non_finite_semantics_are_refused_naming_the_class_column(syn_copy):
    ds = load_dataset("SYN", syn_copy)
    col = int(ds.unseen_classes[0])  # an unseen column: it would change the metrics silently

    def poison(mat):
        mat["att"] = mat["att"].astype(np.float64)
        mat["att"][3, col] = np.nan

    path = _resave_splits(syn_copy, poison)
    with pytest.raises(DatasetError, match=rf"{path}: att holds 1 non-finite value.*class column {col + 1} "
                                           rf"\({ds.class_names[col]}\)"):
        load_dataset("SYN", syn_copy)


def test_an_image_twice_in_a_split_is_refused(syn_copy):
    def repeat(mat):
        locs = mat["trainval_loc"].ravel()
        mat["trainval_loc"] = np.concatenate([locs, locs[:1]]).reshape(-1, 1)

    path = _resave_splits(syn_copy, repeat)
    with pytest.raises(DatasetError, match=rf"{path}: trainval_loc lists image \d+ 2 times"):
        load_dataset("SYN", syn_copy)


def test_a_byte_order_mark_is_accepted(syn_copy, tiny_syn):
    for name in ("images.txt", "classes.txt", "image_class_labels.txt"):
        path = syn_copy / "SYN" / "CUB_200_2011" / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    ds = load_dataset("SYN", syn_copy)
    np.testing.assert_array_equal(ds.labels, tiny_syn.labels)


@pytest.mark.parametrize("name, edit, match", [
    ("classes.txt", lambda b: b.replace(b"\n", "\nAuklet_caf\xe9\n".encode("latin-1"), 1),
     r"classes\.txt:2: not UTF-8"),
    ("image_class_labels.txt", lambda b: b.replace(b"1 ", b"one ", 1), r"image_class_labels\.txt:1: field 1 is 'one'"),
    ("bounding_boxes.txt", lambda b: b.replace(b" ", b" wide ", 1), r"bounding_boxes\.txt:1: field 2 is 'wide'"),
    ("parts/part_locs.txt", lambda b: b.replace(b" ", b" x ", 1), r"part_locs\.txt: not a table of numbers"),
])
def test_undecodable_or_non_numeric_metadata_names_the_file_and_line(syn_copy, name, edit, match):
    path = syn_copy / "SYN" / "CUB_200_2011" / name
    path.write_bytes(edit(path.read_bytes()))
    with pytest.raises(DatasetError, match=match):
        load_dataset("SYN", syn_copy)


def test_an_image_too_large_for_pillow_is_named(tiny_syn, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # the 64 × 64 images are "bombs" now
    with pytest.raises(ImageReadError, match=rf"image {tiny_syn.image_paths[0]} is larger than Pillow accepts"):
        load_images(tiny_syn.image_paths[:1], 32)


def _edit_part_line(syn_copy, line: int, column: int, text: str):
    """Set field ``column`` (0-based) of line ``line`` (1-based) of part_locs.txt to ``text``; returns the file."""
    path = syn_copy / "SYN" / "CUB_200_2011" / "parts" / "part_locs.txt"
    lines = path.read_text().splitlines(keepends=True)
    fields = lines[line - 1].split()
    fields[column] = text
    lines[line - 1] = " ".join(fields) + "\n"
    path.write_text("".join(lines))
    return path


@pytest.mark.parametrize("column, text, field", [
    (2, "nan", "x"), (3, "inf", "y"), (2, "-inf", "x"), (3, "1e308", "y"), (2, "-4.5", "x"),
    (4, "2", "visible"), (4, "nan", "visible"), (1, "1.5", "part id"), (0, "3.25", "image id"),
])
def test_a_part_location_that_is_no_pixel_is_refused_naming_line_and_field(syn_copy, column, text, field):
    path = _edit_part_line(syn_copy, 3, column, text)
    with pytest.raises(DatasetError, match=rf"{path}:3: {field} is '{text}'"):
        load_dataset("SYN", syn_copy)


def test_a_comment_or_blank_line_does_not_shift_the_line_named(syn_copy):
    path = syn_copy / "SYN" / "CUB_200_2011" / "parts" / "part_locs.txt"
    path.write_text("# image_id part_id x y visible\n\n" + path.read_text())
    _edit_part_line(syn_copy, 5, 2, "nan")
    with pytest.raises(DatasetError, match=rf"{path}:5: x is 'nan'"):
        load_dataset("SYN", syn_copy)


def test_a_visible_part_beyond_its_image_is_refused_where_images_are_decoded(syn_copy):
    from data_prep.audit import audit
    from sgma_core.experiment.prepare import prepare_data
    from sgma_core.profiles import make_config

    path = _edit_part_line(syn_copy, 10, 2, "64.5")  # image 2's part 3; the images are 64 pixels wide
    ds = load_dataset("SYN", syn_copy)  # a number of pixels the reader cannot tell wrong without the image
    match = rf"{path}:10: x is '64.5', beyond the 64 pixels of image 2's width"
    with pytest.raises(DatasetError, match=match):
        audit(ds)
    with pytest.raises(DatasetError, match=match):
        prepare_data(make_config("smoke", overrides={"device": "cpu", "max_train_images": None}), syn_copy,
                     progress=False)
    _edit_part_line(syn_copy, 10, 4, "0")  # invisible: where it lies is not read
    audit(load_dataset("SYN", syn_copy))
