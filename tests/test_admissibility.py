"""The functional check of the attention (METHOD §12): dead attention fails it, squares that follow the
parts pass it, on hand-made points whose answers can be counted."""

import numpy as np
import pytest

from sgma_core.admissibility import (
    THRESHOLDS,
    attention_check,
    best_fixed_point,
    different_cells_share,
    distinct_share,
    summarise_checks,
    telling_margin,
)

SIZE, RADIUS = 32, 4.0


def _birds(n: int = 40, seed: int = 0) -> np.ndarray:
    """Two telling parts per image at random places, both visible: ``[N, 2, 3]``."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(4, SIZE - 5, size=(n, 2, 2))
    return np.concatenate([xy, np.ones((n, 2, 1))], axis=-1)


def test_distinct_share_counts_pairs_not_points():
    same = np.zeros((10, 2, 2))
    assert distinct_share(same) == pytest.approx(0.1)
    moving = np.arange(40, dtype=float).reshape(10, 2, 2)
    assert distinct_share(moving) == 1.0
    with pytest.raises(ValueError, match=r"\[N, P, 2\]"):
        distinct_share(np.zeros((3, 2)))


def test_different_cells_share():
    cells = np.array([[[0, 0], [1, 0]], [[2, 2], [2, 2]], [[3, 1], [1, 3]], [[0, 0], [0, 0]]])
    assert different_cells_share(cells) == 0.5


def test_best_fixed_point_finds_where_every_part_sits():
    parts = np.zeros((5, 1, 3))
    parts[:, 0] = [10.0, 20.0, 1.0]
    rate, (x, y) = best_fixed_point(parts, RADIUS, SIZE)
    assert rate == 1.0 and np.hypot(x - 10, y - 20) <= RADIUS


def test_dead_attention_fails_every_criterion():
    parts = _birds()
    corner = np.full((len(parts), 2, 2), 15.5)  # both squares at one place in every image
    cells = np.zeros((len(parts), 2, 2), dtype=int)  # both maps peak at the same cell
    check = attention_check(corner, cells, parts, np.array([True, True]), RADIUS, SIZE)
    assert not check["passed"]
    assert set(check["failed"]) == {"distinct_places", "different_cells", "telling_hits"}
    assert check["telling_hits"] <= check["best_fixed_point_hits"]


def test_squares_that_follow_the_parts_pass():
    parts = _birds()
    squares = parts[..., :2] + 0.5  # each square on its own part
    cells = np.stack([np.zeros((len(parts), 2)), np.ones((len(parts), 2))], axis=1).astype(int)
    check = attention_check(squares, cells, parts, np.array([True, True]), RADIUS, SIZE)
    assert check["passed"], check
    assert check["telling_hits"] == 1.0 > check["best_fixed_point_hits"]
    assert check["thresholds"] == THRESHOLDS


def test_a_reading_passes_on_its_seeds_mean():
    good = {"distinct_places": 0.5, "different_cells": 0.95, "telling_hits": 0.8, "best_fixed_point_hits": 0.3,
            "passed": True}
    bad = {"distinct_places": 0.01, "different_cells": 0.0, "telling_hits": 0.1, "best_fixed_point_hits": 0.3,
           "passed": False}
    assert summarise_checks([good] * 5)["passed"]
    mixed = summarise_checks([good, bad, bad, bad, bad])
    assert not mixed["passed"] and mixed["seeds_passed"] == 1
    assert "different_cells" in mixed["failed"]



def test_the_telling_margin_is_paired_over_seeds():
    # seed by seed the hits beat the fixed point by 0.10, 0.02, 0.06: a paired mean of 0.06, SE 0.04 / sqrt(3)
    checks = [{"telling_hits": h, "best_fixed_point_hits": f} for h, f in ((0.5, 0.4), (0.3, 0.28), (0.9, 0.84))]
    margin = telling_margin(checks)
    assert margin["n"] == 3 and margin["mean"] == pytest.approx(0.06)
    assert margin["se"] == pytest.approx(0.04 / np.sqrt(3))  # unpaired, the spread of the hits would dominate
def test_points_on_a_grid_count_as_one_place_per_cell_and_squares_stay_inside_the_image():
    from sgma_core.admissibility import distinct_on_grid

    same_cell = np.array([[[1.0, 1.0]], [[2.0, 2.0]]])  # one square per image, both in cell (0, 0) of a 2 × 2 map
    other_cells = np.array([[[1.0, 1.0]], [[6.0, 6.0]]])
    assert distinct_share(same_cell) == 1.0
    assert distinct_on_grid(same_cell, (2, 2), size=8, side=2) == 0.5
    assert distinct_on_grid(other_cells, (2, 2), size=8, side=2) == 1.0
    assert distinct_on_grid(other_cells, (2, 2), size=8, side=8) == 0.5  # whole-image squares: one place
    assert distinct_on_grid(other_cells, (8, 8), size=8, side=1) == 1.0
