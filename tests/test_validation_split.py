"""The validation re-split used to choose γ of calibrated stacking (METHOD §5–§6): validation
classes play the unseen ones, and no test-class image or test class is ever touched."""

import dataclasses

import numpy as np
import pytest

from sgma_core.data import DatasetError
from sgma_core.data import validation_split
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


def test_missing_train_val_is_a_clear_error(tiny_syn):
    with pytest.raises(DatasetError, match="train_loc/val_loc"):
        validation_split(dataclasses.replace(tiny_syn, train=None, val=None))


def test_prepare_data_val_split_labels(tiny_root, tmp_path):
    config = make_config("smoke", overrides={"image_size": 16})
    val = prepare_data(config, tiny_root, progress=False, split="val", cache_dir=tmp_path)
    test = prepare_data(config, tiny_root, progress=False, cache_dir=tmp_path)
    assert val.split == "val" and test.split == "test"
    assert val.n_seen < test.n_seen
    assert val.train.labels.max() < val.n_seen and val.test_unseen_labels.max() < val.n_unseen
    with pytest.raises(ValueError, match="split"):
        prepare_data(config, tiny_root, progress=False, split="train")
