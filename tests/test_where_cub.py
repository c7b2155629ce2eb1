"""The "where does it look" path on real CUB files: the 30 real images with their part
annotations, read through the CUB reader, attention peaks from an SGMA model, part locations
scaled from each image's own (non-square) size. Skipped where ../shared/data is absent."""

import shutil

import numpy as np
import pytest
import scipy.io
import torch

from sgma_core.experiment import build_sgma, initialise_grouping, prepare_data, pretrained_backbone, sgma_outputs
from sgma_core.localization import hit_rates, preferred_parts, scale_parts
from sgma_core.profiles import make_config


@pytest.fixture(scope="module")
def mini_cub(cub_dir, tmp_path_factory):
    """A data root whose CUB holds only the 30 real demo images, with a split over their 10 classes."""
    src = cub_dir / "CUB_200_2011"
    demo = [line.split() for line in (cub_dir / "demo_images.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    if not demo or not all((src / "images" / row[1]).is_file() for row in demo):
        pytest.skip("the 30 CUB demo images are not all present")
    ids = {int(row[0]) for row in demo}
    root = tmp_path_factory.mktemp("mini") / "CUB"
    dst = root / "CUB_200_2011"
    (dst / "parts").mkdir(parents=True)
    (dst / "attributes").mkdir()
    for rel in ("classes.txt", "parts/parts.txt", "attributes/attributes.txt"):
        shutil.copy(src / rel, dst / rel)
    for rel in ("images.txt", "image_class_labels.txt", "bounding_boxes.txt", "parts/part_locs.txt"):
        rows = [line for line in (src / rel).read_text().splitlines() if int(line.split()[0]) in ids]
        (dst / rel).write_text("\n".join(rows) + "\n")
    for row in demo:
        (dst / "images" / row[1]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / "images" / row[1], dst / "images" / row[1])
    mat = scipy.io.loadmat(cub_dir / "xlsa17" / "att_splits.mat")
    by_split = {s: sorted(int(r[0]) for r in demo if r[3] == s) for s in ("trainval", "test_seen", "test_unseen")}
    seen_only = [i for i in by_split["test_seen"]]  # demo test_seen images of seen classes
    out = {k: v for k, v in mat.items() if not k.startswith("__")}
    out["trainval_loc"] = np.array(by_split["trainval"], dtype=np.uint16)[:, None]
    out["test_seen_loc"] = np.array(seen_only, dtype=np.uint16)[:, None]
    out["test_unseen_loc"] = np.array(by_split["test_unseen"], dtype=np.uint16)[:, None]
    (root / "xlsa17").mkdir()
    scipy.io.savemat(root / "xlsa17" / "att_splits.mat", out)
    return root.parent


def test_peaks_on_real_cub_images_are_scored_against_their_parts(mini_cub, tmp_path):
    config = make_config("smoke", overrides={"dataset": "CUB", "image_size": 64, "joint_size": 32,
                                             "grouping_images": 8, "pretrain_epochs": 0})
    prepared = prepare_data(config, mini_cub, progress=False, cache_dir=tmp_path / "cache")
    ds = prepared.dataset
    assert ds.part_names is not None and len(ds.part_names) == 15 and ds.part_names[0] == "back"
    assert len(prepared.test_unseen_labels) == 15 and prepared.n_unseen == 5

    backbone, _ = pretrained_backbone(prepared, config, tmp_path / "runs", progress=False)
    model = build_sgma(prepared, config, backbone)
    initialise_grouping(model, prepared, config)
    out = sgma_outputs(model, prepared.test_unseen_images, prepared.phi_gzsl)
    peaks = np.stack([out["tx"], out["ty"]], axis=-1)  # [N, 2 maps, 2] in input pixels
    assert peaks.shape == (15, 2, 2) and ((peaks >= 0) & (peaks <= 64)).all()

    from PIL import Image

    rows = prepared.test_unseen_rows
    sizes = prepared.sizes_of(rows)
    assert np.array_equal(sizes, [Image.open(ds.image_paths[r]).size for r in rows])
    assert (sizes.max(1) == 500).all() and (sizes[:, 0] != sizes[:, 1]).any()  # real, non-square images
    parts = scale_parts(ds.part_locs[rows], sizes, config.image_size)
    visible = parts[..., 2] > 0
    assert visible.any(axis=1).all()
    assert ((parts[..., :2][visible] >= 0) & (parts[..., :2][visible] <= 64)).all()
    rates = hit_rates(peaks, parts, radius=8)
    assert rates.shape == (2,) and ((rates >= 0) & (rates <= 1)).all()
    # a point put exactly on each image's first visible part hits; one far outside never does
    first = np.array([parts[i, np.flatnonzero(visible[i])[0], :2] for i in range(len(rows))])[:, None]
    assert hit_rates(first, parts, radius=0.5)[0] == 1.0
    assert hit_rates(np.full((len(rows), 1, 2), -100.0), parts, radius=8)[0] == 0.0
    names = [name for name, _ in preferred_parts(peaks, parts, ds.part_names)]
    assert all(name in ds.part_names for name in names)
    assert torch.isfinite(torch.as_tensor(out["maps"])).all()
