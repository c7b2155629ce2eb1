"""Scoring attention peaks against ground-truth part locations."""

import numpy as np
import pytest

from sgma_core.localization import hit_rates, nearest_parts, preferred_parts, random_points, scale_parts


def test_scale_parts_to_the_resized_image():
    parts = np.array([[[100.0, 50.0, 1.0]]])
    out = scale_parts(parts, np.array([[200, 100]]), 64)
    assert out[0, 0].tolist() == [32.0, 32.0, 1.0]


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
    assert a.min() >= 0 and a.max() <= 64 and abs(a.mean() - 32) < 2
    # a single part in a 64×64 image: a random point lands within 8 px with probability ≈ π·8²/64²
    parts = np.tile(np.array([[[32.0, 32.0, 1.0]]]), (1000, 1, 1))
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
