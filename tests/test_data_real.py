"""The readers on the real xlsa17 and CUB-200-2011 metadata (skipped where it is absent).

The numbers asserted here are the published sizes of the proposed split (Xian et al.).
"""


import numpy as np
import pytest

from sgma_core.data import read_cub, read_xlsa17_splits
from sgma_core.data.cub import check_parts_within
from sgma_core.data.images import read_image
from tests.conftest import real_dataset

pytestmark = pytest.mark.realdata


@pytest.mark.parametrize(
    "name, att_shape, counts, has_names, has_train_val",
    [
        ("CUB", (312, 200), (7057, 1764, 2967), True, False),
        ("AWA2", (85, 50), (23527, 5882, 7913), True, True),
        ("FLO", (1024, 102), (5631, 1403, 1155), False, True),
    ],
)
def test_xlsa17_files(name, att_shape, counts, has_names, has_train_val):
    s = read_xlsa17_splits(real_dataset(name) / "xlsa17" / "att_splits.mat")
    assert s.att.shape == att_shape
    assert (len(s.trainval), len(s.test_seen), len(s.test_unseen)) == counts
    assert (s.class_names is not None) == has_names
    assert (s.train is not None and s.val is not None) == has_train_val
    for idx in (s.trainval, s.test_seen, s.test_unseen):
        assert idx.dtype == np.int64 and idx.min() >= 0  # converted from 1-based
    np.testing.assert_allclose(np.linalg.norm(s.att, axis=0), 1.0, atol=1e-6)
    if has_train_val:  # train/val split all seen-class images, class-disjointly (METHOD §7)
        assert np.intersect1d(s.train, s.val).size == 0
        assert set(s.train) | set(s.val) == set(s.trainval) | set(s.test_seen)


def test_cub_columns_are_not_class_id_order(cub_dir):
    s = read_xlsa17_splits(cub_dir / "xlsa17" / "att_splits.mat")
    # allclasses.txt line 151 (1-based) — 0-based column 150 — holds the first CUB class.
    assert s.class_names.index("001.Black_footed_Albatross") == 150
    assert s.class_names[0] == "002.Laysan_Albatross"
    listed = (cub_dir / "xlsa17" / "allclasses.txt").read_text().split()
    assert listed == s.class_names


def test_cub_locations_are_image_ids(cub_dir):
    """Loc value i, read as CUB image id i, puts trainval on exactly the 150 trainval classes."""
    ds = read_cub(cub_dir / "CUB_200_2011", cub_dir / "xlsa17" / "att_splits.mat", with_parts=False)
    assert ds.split_summary()["seen classes"] == 150 and ds.split_summary()["unseen classes"] == 50
    trainval_names = set((cub_dir / "xlsa17" / "trainvalclasses.txt").read_text().split())
    test_names = set((cub_dir / "xlsa17" / "testclasses.txt").read_text().split())
    assert {ds.class_names[c] for c in ds.seen_classes} == trainval_names
    assert {ds.class_names[c] for c in ds.unseen_classes} == test_names
    # labels remapped: seen 0..149, unseen 0..49, GZSL seen first
    assert sorted(set(ds.seen_labels(ds.trainval))) == list(range(150))
    assert sorted(set(ds.unseen_labels(ds.test_unseen))) == list(range(50))
    assert ds.gzsl_labels(ds.test_unseen).min() == 150


def test_cub_original_att_is_the_continuous_labels_by_name(cub_dir):
    ds = read_cub(cub_dir / "CUB_200_2011", cub_dir / "xlsa17" / "att_splits.mat", with_parts=False)
    table = np.loadtxt(cub_dir / "CUB_200_2011" / "attributes" / "class_attribute_labels_continuous.txt")
    classes = (cub_dir / "CUB_200_2011" / "classes.txt").read_text().split()[1::2]
    by_name = {n: table[i] for i, n in enumerate(classes)}
    expected = np.stack([by_name[n] for n in ds.class_names], axis=1)
    np.testing.assert_allclose(ds.original_att, expected, atol=1e-6)
    assert len(ds.attribute_names) == 312


def test_cub_demo_images_with_boxes_and_parts(cub_dir):
    ds = read_cub(cub_dir / "CUB_200_2011", cub_dir / "xlsa17" / "att_splits.mat")
    assert ds.part_locs.shape == (11788, 15, 3) and ds.boxes.shape == (11788, 4)
    demo = [line.split() for line in (cub_dir / "demo_images.txt").read_text().splitlines()
            if line and not line.startswith("#")]
    assert len(demo) == 30
    row_of = {int(i): r for r, i in enumerate(ds.image_ids)}
    rows = np.array([row_of[int(d[0])] for d in demo])
    check_parts_within(ds, rows, np.array([[int(d[6]), int(d[7])] for d in demo]))  # every visible part on its image
    for image_id, rel, class_id, split, column, _, width, height in demo:
        r = row_of[int(image_id)]
        assert ds.image_paths[r] == cub_dir / "CUB_200_2011" / "images" / rel
        assert ds.labels[r] == int(column)
        assert ds.class_names[ds.labels[r]].startswith(f"{int(class_id):03d}.")
        assert r in set({"trainval": ds.trainval, "test_seen": ds.test_seen, "test_unseen": ds.test_unseen}[split])
        pixels, size = read_image(ds.image_paths[r], 64)
        assert size == (int(width), int(height)) and pixels.shape == (3, 64, 64)
        x, y, w, h = ds.boxes[r]
        assert 0 <= x and 0 <= y and x + w <= size[0] + 1 and y + h <= size[1] + 1
        visible = ds.part_locs[r, :, 2] > 0
        assert visible.any()
        px, py = ds.part_locs[r, visible, 0], ds.part_locs[r, visible, 1]
        assert (px >= 0).all() and (px <= size[0]).all() and (py >= 0).all() and (py <= size[1]).all()
        # visible parts lie in (or within a few pixels of) the bird's box
        assert ((px >= x - 5) & (px <= x + w + 5) & (py >= y - 5) & (py <= y + h + 5)).mean() > 0.9
