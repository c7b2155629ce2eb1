"""The synthetic birds can be read only by looking: a whole-image colour histogram stays near chance on
the unseen classes, and the same histogram of small windows at the telling parts reads them almost all."""

import numpy as np
import pytest

from data_prep.audit import audit, colour_histograms, window_features, zsl_t1
from data_prep.synthetic import SyntheticConfig, generate


def test_a_histogram_counts_pixels_in_eight_bins_per_channel():
    pixels = np.array([[[0, 0, 0], [255, 255, 255], [255, 255, 255], [31, 32, 0]]], dtype=np.uint8)
    h = colour_histograms(pixels) ** 2  # square-rooted shares
    assert h.shape == (1, 512) and h.sum() == pytest.approx(1.0)
    assert h[0, 0] == pytest.approx(0.25) and h[0, 511] == pytest.approx(0.5)
    assert h[0, (0 * 8 + 1) * 8 + 0] == pytest.approx(0.25)  # 31 → bin 0, 32 → bin 1, 0 → bin 0


def test_a_window_is_cut_around_its_part_and_kept_inside_the_image():
    images = np.zeros((1, 3, 16, 16), dtype=np.uint8)
    images[0, :, 0:4, 0:4] = 255  # a white corner
    parts = np.array([[[0.0, 0.0, 1.0], [12.0, 12.0, 1.0]]])
    feats = window_features(images, parts, np.array([True, True]), side=4)
    assert (feats[0, 511] ** 2) == pytest.approx(1.0)  # the first window, clamped into the corner: all white
    assert (feats[0, 512] ** 2) == pytest.approx(1.0)  # the second: all black


@pytest.mark.slow
def test_the_birds_need_looking_at_every_size_the_book_trains_at(tmp_path):
    config = SyntheticConfig(seed=11, images_per_class=20)  # the book's birds, half as many images
    generate(tmp_path / "SYN", config, workers=2, progress=False)
    from sgma_core.data import load_dataset
    from sgma_core.profiles import make_config

    ds = load_dataset("SYN", tmp_path)
    for size in (make_config("cpu").image_size, None):  # what the cpu profile's networks see; the images' own
        record = audit(ds, size)
        assert record["chance_T1"] == pytest.approx(1 / 36)
        assert record["global"]["T1"] <= 2 * record["chance_T1"], (size, record["global"])
        assert record["windows"]["T1"] >= 0.9, (size, record["windows"])
        assert set(record["windows"]["parts"]) >= {"beak", "crown", "wing", "tail"}
    # the smoke profile's 32 pixels (a check that the code runs): the whole image still tells nothing
    record = audit(ds, make_config("smoke").image_size)
    assert record["global"]["T1"] <= 2 * record["chance_T1"], record["global"]


def test_the_ridge_probe_reads_features_that_carry_the_attributes(tiny_syn):
    """A control of the probe itself: given the class attributes as features, it ranks every unseen class right."""
    ds = tiny_syn
    noise = 1e-3 * np.random.default_rng(0).normal(size=(ds.n_images, ds.att.shape[0]))
    features = np.asarray(ds.att).T[ds.labels] + noise
    assert zsl_t1(ds, features, ds.trainval, ds.test_unseen, np.sort(ds.unseen_classes), 1e-3) == 1.0


def test_the_audit_refuses_a_part_location_that_is_no_pixel(tiny_root, tmp_path, capsys):
    import shutil

    from data_prep.audit import main

    shutil.copytree(tiny_root / "SYN", tmp_path / "SYN")
    path = tmp_path / "SYN" / "CUB_200_2011" / "parts" / "part_locs.txt"
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = "1 2 nan 1e308 1\n"
    path.write_text("".join(lines))
    assert main(["--data-root", str(tmp_path)]) == 2
    assert f"{path}:2: x is 'nan'" in capsys.readouterr().err
