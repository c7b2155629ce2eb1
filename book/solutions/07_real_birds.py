"""Chapter 07, *Real birds: where ImageNet features look on CUB*:
the solutions of its exercises, as code that ``tests/test_exercises.py`` runs against the answers the chapter states."""

from __future__ import annotations


def photo_chance_level() -> dict[str, float]:
    """Chapter 07: the hit radius and the random-point chance of a 500 × 335 photograph with one part at its
    centre, by hand and with the chapter's functions."""
    import math

    import numpy as np

    from sgma_core.localization import hit_radii, random_point_summary

    sizes = np.array([[500, 335]])
    parts = np.array([[[250.0, 167.5, 1.0]]])  # one visible part, at the centre
    radius = hit_radii(sizes)[0]  # 335 / 8
    measured = random_point_summary(parts, sizes, hit_radii(sizes), draws=200_000)["any"][0]
    return {"radius": float(radius), "by hand": math.pi * radius ** 2 / (500 * 335), "measured": float(measured)}


def real_birds_at_the_head(out_dir, data_root=None, runs_dir=None) -> dict[str, float]:
    """Chapter 07: the papermill run with Lite0 cut at its head; returns the map side in cells and the hit rates."""
    from bookkit.chapters import execute_chapter
    from bookkit.display import glued_values
    from bookkit.exercises import EXERCISE_RUNS

    chapter, params = EXERCISE_RUNS["ex-real-head"]
    notebook = execute_chapter(chapter, out_dir, {**params, "data_root": data_root, "runs_dir": runs_dir})
    glued = glued_values(notebook)
    return {"cells": int(glued["fmap_cells"]), "group 1": float(glued["hit_g1"]), "group 2": float(glued["hit_g2"])}
