"""The validation re-split used to choose γ of calibrated stacking (METHOD §5–§6): validation
classes play the unseen ones, and no test-class image or test class is ever touched."""

import dataclasses

import numpy as np
import pytest

from sgma_core.data import DatasetError, validation_split
from sgma_core.experiment import prepare_data
from sgma_core.profiles import make_config


def test_validation_split_is_class_disjoint_and_avoids_test_classes(tiny_syn):
    ds = tiny_syn
    val = validation_split(ds)
    seen, unseen = set(val.seen_classes.tolist()), set(val.unseen_classes.tolist())
    assert seen and unseen and not seen & unseen
    assert not (seen | unseen) & set(ds.unseen_classes.tolist()), "a test (unseen) class leaked into validation"
    assert set(ds.labels[val.trainval].tolist()) == seen
    assert set(ds.labels[val.test_seen].tolist()) <= seen
    assert set(ds.labels[val.test_unseen].tolist()) == unseen
    assert not set(val.trainval.tolist()) & set(val.test_seen.tolist())
    assert not set(val.trainval.tolist()) & set(ds.test_unseen.tolist())
    assert np.array_equal(val.att, ds.att)


def test_held_out_images_fall_back_to_a_fixed_share(tiny_syn):
    no_overlap = dataclasses.replace(tiny_syn, train=np.intersect1d(tiny_syn.train, tiny_syn.trainval))
    val = validation_split(no_overlap)
    assert len(val.test_seen) > 0 and not set(val.trainval.tolist()) & set(val.test_seen.tolist())
    assert np.array_equal(validation_split(no_overlap).test_seen, val.test_seen)  # deterministic


def test_missing_train_val_is_a_clear_error(tiny_syn, tmp_path):
    bare = dataclasses.replace(tiny_syn, root=tmp_path / "CUB_200_2011", train=None, val=None)
    with pytest.raises(DatasetError, match="no train_loc/val_loc and .* has no trainclasses1.txt"):
        validation_split(bare)


def test_prepare_data_val_split_labels(tiny_root, tmp_path):
    config = make_config("smoke", overrides={"image_size": 16})
    val = prepare_data(config, tiny_root, progress=False, split="val", cache_dir=tmp_path)
    test = prepare_data(config, tiny_root, progress=False, cache_dir=tmp_path)
    assert val.split == "val" and test.split == "test"
    assert val.n_seen < test.n_seen
    assert val.train.labels.max() < val.n_seen and val.test_unseen_labels.max() < val.n_unseen
    with pytest.raises(ValueError, match="split"):
        prepare_data(config, tiny_root, progress=False, split="train")


def test_class_lists_divide_the_seen_classes_where_the_split_file_has_no_train_val(tiny_syn, tmp_path):
    import shutil

    lists = tmp_path / "xlsa17"
    lists.mkdir()
    shutil.copy(tiny_syn.root.parent / "xlsa17" / "trainclasses1.txt", lists)
    shutil.copy(tiny_syn.root.parent / "xlsa17" / "valclasses1.txt", lists)
    bare = dataclasses.replace(tiny_syn, root=tmp_path / "CUB_200_2011", train=None, val=None)
    from_lists, from_locs = validation_split(bare), validation_split(tiny_syn)
    np.testing.assert_array_equal(from_lists.unseen_classes, from_locs.unseen_classes)
    np.testing.assert_array_equal(from_lists.test_unseen, from_locs.test_unseen)
    assert not np.isin(from_lists.unseen_classes, tiny_syn.unseen_classes).any()


@pytest.mark.realdata
def test_real_cub_validation_classes_come_from_its_class_lists():
    from sgma_core.data import load_dataset
    from tests.conftest import real_dataset

    real_dataset("CUB")
    try:
        ds = load_dataset("CUB", with_parts=False)
    except DatasetError as exc:  # the real metadata here has 30 images, not the whole archive
        pytest.skip(f"CUB images absent: {exc}")
    val = validation_split(ds)
    assert (len(val.seen_classes), len(val.unseen_classes)) == (100, 50)
