"""Scoring attention peaks against ground-truth part locations."""

import numpy as np
import pytest

from sgma_core.localization import hit_rates, nearest_parts, preferred_parts, random_points, scale_parts


def test_scale_parts_to_the_resized_image():
    # pixel i's centre at i: 200 pixels span [-0.5, 199.5], so x = 99.5 (the middle) stays the middle, 31.5 of 64
    parts = np.array([[[99.5, 49.5, 1.0], [-0.5, 99.5, 0.0]]])
    out = scale_parts(parts, np.array([[200, 100]]), 64)
    assert out[0].tolist() == [[31.5, 31.5, 1.0], [-0.5, 63.5, 0.0]]


def test_hits_ignore_invisible_parts_and_name_the_preferred_part():
    parts = np.array([
        [[10.0, 10.0, 1.0], [50.0, 50.0, 1.0]],
        [[10.0, 10.0, 0.0], [52.0, 50.0, 1.0]],  # first part invisible here
    ])
    points = np.array([[[11.0, 10.0], [49.0, 49.0]], [[10.0, 10.0], [30.0, 30.0]]])
    dist, idx = nearest_parts(points, parts)
    assert idx.tolist() == [[0, 1], [1, 1]]
    np.testing.assert_allclose(hit_rates(points, parts, radius=3.0), [0.5, 0.5])
    assert preferred_parts(points, parts, ["head", "tail"]) == [("head", 0.5), ("tail", 1.0)]


def test_random_points_are_uniform_and_seeded():
    a, b = random_points(1000, 2, 64, seed=1), random_points(1000, 2, 64, seed=1)
    np.testing.assert_array_equal(a, b)
    assert a.min() >= -0.5 and a.max() <= 63.5 and abs(a.mean() - 31.5) < 2  # over the image, [-0.5, 63.5]
    # a single part in a 64×64 image: a random point lands within 8 px with probability ≈ π·8²/64²
    parts = np.tile(np.array([[[31.5, 31.5, 1.0]]]), (1000, 1, 1))
    assert hit_rates(a, parts, 8.0).mean() == pytest.approx(np.pi * 64 / 4096, abs=0.02)


def test_peak_concentration_tells_a_fixed_position_from_a_moving_one():
    from sgma_core.localization import peak_concentration, random_points

    rng = np.random.default_rng(0)
    fixed = np.tile([[60.0, 52.0]], (100, 1))[:, None, :] + rng.uniform(0, 0.5, (100, 1, 2))
    moving = random_points(100, 1, 64, seed=1)
    got = peak_concentration(np.concatenate([fixed, moving], axis=1), cell=8)
    assert got[0] == 1.0 and got[1] < 0.1


def test_discriminative_parts_are_those_whose_attributes_differ_between_classes():
    from sgma_core.localization import discriminative_parts

    parts = ["beak", "crown", "left wing", "belly", "tail"]
    names = ["has_bill_length::short", "has_head_color::red", "has_wing_color::red", "has_tail_shape::forked"]
    att = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=float)  # wing colour is the same everywhere
    assert discriminative_parts(parts, names, att).tolist() == [True, True, False, False, True]


def test_the_synthetic_birds_tell_classes_apart_by_head_wing_tail_and_beak(tiny_syn):
    from sgma_core.localization import discriminative_parts

    flags = discriminative_parts(tiny_syn.part_names, tiny_syn.attribute_names, tiny_syn.att)
    assert dict(zip(tiny_syn.part_names, flags.tolist())) == {
        "beak": True, "crown": True, "eye": True, "wing": True, "tail": True, "belly": False, "breast": False}


def test_one_pixel_convention_for_peaks_squares_and_parts():
    """A hand-made 4 × 4 map at stride 16 (a 64-pixel input): its peak cell (2, 1) is centred at pixel
    (2.5·16 − 0.5, 1.5·16 − 0.5) = (39.5, 23.5), where eq. (4)'s peak rule centres the square and where a
    part drawn at that pixel is hit at distance 0; in a 128-pixel original the same point is (79.5, 47.5)."""
    import torch

    from sgma_core.centres import peak_centres
    from sgma_core.localization import box_centres, cell_centres, image_centres, peaks_in_pixels, rescale

    maps = torch.zeros(1, 1, 4, 4)
    maps[0, 0, 1, 2] = 1.0  # row 1, column 2
    tx, ty = peak_centres(maps, stride=16)
    assert (tx.item(), ty.item()) == (39.5, 23.5)
    assert peaks_in_pixels(maps, 16, 64).tolist() == [[[39.5, 23.5]]]
    assert peaks_in_pixels(maps, 16, 64, np.array([[128, 128]])).tolist() == [[[79.5, 47.5]]]
    assert cell_centres(np.array([0, 3]), 16).tolist() == [7.5, 55.5]  # the first and last cell of 64 pixels
    assert rescale(np.array([[[79.5, 47.5]]]), np.array([[128, 128]]), 64).tolist() == [[[39.5, 23.5]]]
    parts = np.array([[[39.5, 23.5, 1.0]]])
    assert hit_rates(peaks_in_pixels(maps, 16, 64), parts, radius=0.0).tolist() == [1.0]
    assert box_centres(np.array([[10, 20, 5, 4]])).tolist() == [[[12.0, 21.5]]]  # pixels 10…14 and 20…23
    assert image_centres([64, 64]).tolist() == [[[31.5, 31.5]]]


def test_the_part_box_score_counts_overlapping_squares_and_fails_a_fixed_point():
    from sgma_core.localization import box_centres, part_box_score, square_iou

    assert square_iou(np.array([0.0, 0.0]), np.array([0.0, 0.0]), np.array(4.0)) == 1.0
    assert square_iou(np.array([0.0, 0.0]), np.array([2.0, 0.0]), np.array(4.0)) == pytest.approx(8 / 24)  # 1/3
    rng = np.random.default_rng(0)
    n = 200
    boxes = np.column_stack([rng.uniform(0, 60, n), rng.uniform(0, 60, n), np.full(n, 40.0), np.full(n, 40.0)])
    head = boxes[:, :2] + rng.uniform(5, 35, size=(n, 2))  # the part moves inside the bird from image to image
    parts = np.concatenate([head[:, None, :], np.ones((n, 1, 1))], axis=-1)  # one visible part, [N, 1, 3]
    follows = head[:, None, :] + rng.normal(0, 1.0, size=(n, 1, 2))  # a map that follows the part
    assert part_box_score(follows, parts, boxes)["score"][0] > 0.9
    fixed = box_centres(boxes)  # the box centre: near the part now and then, on it rarely
    assert part_box_score(fixed, parts, boxes)["score"][0] < 0.2


def test_the_oracle_puts_one_square_on_the_head_and_one_on_the_other_telling_parts():
    from sgma_core.localization import oracle_centres

    names = ["beak", "crown", "left eye", "left wing", "right wing", "tail", "belly"]
    telling = np.array([True, True, True, True, True, True, False])
    parts = np.array([[[50, 10, 1], [40, 8, 1], [44, 12, 1], [30, 30, 1], [0, 0, 0], [10, 36, 1], [30, 40, 1]],
                      [[0, 0, 0], [0, 0, 0], [0, 0, 0], [20, 20, 1], [22, 24, 1], [0, 0, 0], [30, 40, 1]],
                      [[0, 0, 0]] * 7], dtype=float)
    c = oracle_centres(parts, names, telling, 64)
    np.testing.assert_allclose(c[0], [[134 / 3, 10], [20, 33]])  # head: beak, crown, eye; body: wing, tail
    np.testing.assert_allclose(c[1], [[21, 22], [21, 22]])  # no head visible: every visible telling part
    np.testing.assert_allclose(c[2], [[31.5, 31.5], [31.5, 31.5]])  # nothing visible: the image centre


def test_windows_start_where_their_middle_is_nearest_the_centre_and_stay_inside():
    """One formula for every square cut at a point (eq. (4)'s pixel crop, the oracle's squares, the audit's
    windows, the frozen study's pooled cells): ``round(c − (side − 1)/2)``, kept inside the image."""
    import torch

    from sgma_core.localization import window_middles, window_starts

    centres = np.array([15.5, 16.2, 0.0, 63.0, 10.0, 11.0])
    assert window_starts(centres, 8).tolist() == [12, 13, -4, 60, 6, 8]  # 6.5 → 6 and 7.5 → 8: ties to even
    assert window_starts(centres, 8, 64).tolist() == [12, 13, 0, 56, 6, 8]  # inside [0, 64)
    assert window_starts(centres, 8, 64, lower_on_ties=True).tolist() == [12, 13, 0, 56, 6, 7]  # ties down
    assert window_starts(np.array([3, 4]), 3, lower_on_ties=True).tolist() == [2, 3]  # odd side: no tie
    assert window_middles(window_starts(centres, 8, 64), 8).tolist() == [15.5, 16.5, 3.5, 59.5, 9.5, 11.5]
    assert window_starts(torch.tensor(centres), 8, 64).tolist() == window_starts(centres, 8, 64).tolist()
    points = np.array([[[2.0, 70.0]]])  # x and y against a 64 × 80 image: each kept inside its own side
    assert window_starts(points, 16, (64, 80)).tolist() == [[[0, 62]]]


def test_boxes_and_hit_radii_at_another_size():
    from sgma_core.localization import hit_radii, hit_radius, rescale, scale_boxes

    boxes, sizes = np.array([[10.0, 20.0, 100.0, 50.0]]), np.array([[200, 100]])
    scaled = scale_boxes(boxes, sizes, 64)
    assert scaled[0, :2].tolist() == rescale(boxes[:, :2], sizes, 64)[0].tolist()  # the corner, as a point
    assert scaled[0, 2:].tolist() == [32.0, 32.0]  # 100 of 200 and 50 of 100 pixels: half the side each
    assert hit_radius(64) == 8.0 and hit_radii(np.array([[200, 100], [64, 80]])).tolist() == [12.5, 8.0]


@pytest.mark.parametrize("side", [1, 2, 3, 4, 7, 8])
def test_the_window_formula_keeps_every_window_cut_before_it(side):
    """The audit cut its windows with ``clip(round(c − side/2 + 0.5), 0, w − side)`` and the frozen study its
    squares of cells with ``min(max(c − side // 2, 0), w − side)`` at whole cells: the same windows now."""
    from sgma_core.localization import window_starts

    rng = np.random.default_rng(side)
    points = np.concatenate([rng.uniform(-3, 30, 500), rng.integers(-3, 30, 500) + rng.choice([0, 0.5], 500)])
    audit = np.clip(np.round(points - side / 2 + 0.5).astype(int), 0, 24 - side)
    assert window_starts(points, side, 24).astype(int).tolist() == audit.tolist()
    cells = rng.integers(0, 14, 500)
    frozen = [min(max(int(c) - side // 2, 0), 14 - side) for c in cells]
    assert window_starts(cells.astype(float), side, 14, lower_on_ties=True).astype(int).tolist() == frozen
