"""Chapter 04, *Training SGMA, and where it looks*:
the solutions of its exercises, as code that ``tests/test_exercises.py`` runs against the answers the chapter states."""

from __future__ import annotations


def total_loss_by_hand() -> tuple[float, float]:
    """Chapter 04: eq. (9) for one batch's four terms, with λ = α = β = 1 and with λ = 0.1."""
    import torch

    from sgma_core.losses import sgma_loss

    cpt, div, cls, cct = (torch.tensor(v) for v in (0.1, 2.6, 0.5, 0.03))
    # Σ_i [L_CPT + λ L_DIV] + α L_CLS + β L_CCT; cpt and div are already summed over the two parts
    ones = {"alpha": 1.0, "beta": 1.0}  # the weights are named: the library's defaults are chapter 05's choice
    return (float(sgma_loss(cpt, div, cls, cct, lam=1.0, **ones)),
            float(sgma_loss(cpt, div, cls, cct, lam=0.1, **ones)))  # (3.23, 0.89)


def random_hit_rate() -> dict[str, float]:
    """Chapter 04: how often a uniformly random point lands within side/8 of one part, at the centre
    and in a corner of a 64-pixel image; by hand and by 200,000 random points."""
    import math

    import numpy as np

    from sgma_core.localization import hit_rates, random_points

    size, n = 64, 200_000
    radius = size / 8
    points = random_points(n, 1, size, seed=0)  # [n, 1, 2]
    rates = {}
    # pixel i's centre is at i (sgma_core.localization), so the image spans [-0.5, 63.5] and its corner is at -0.5
    for where, (x, y) in (("centre", (31.5, 31.5)), ("corner", (-0.5, -0.5))):
        parts = np.tile(np.array([[[x, y, 1.0]]]), (n, 1, 1))  # one visible part per image
        rates[where] = float(hit_rates(points, parts, radius)[0])
    rates["centre by hand"] = math.pi * radius ** 2 / size ** 2  # a disc of radius side/8: π/64 ≈ 4.9 %
    rates["corner by hand"] = rates["centre by hand"] / 4  # a quarter of the disc lies in the image
    return rates


def calibration_by_hand() -> dict[float, dict[str, float]]:
    """Chapter 04: calibrated stacking on four images (one seen class 0, one unseen class 1): GZSL u, s
    and H without calibration and with γ = 0.3 and 0.5 subtracted from the seen-class score."""
    import numpy as np

    from sgma_core.metrics import zsl_gzsl

    # columns: the seen class, then the unseen class (the GZSL candidates, seen first: classes 0 and 1)
    unseen_imgs = np.array([[0.9, 0.7], [0.6, 0.8]])  # two images of the unseen class
    seen_imgs = np.array([[1.5, 0.4], [0.9, 0.5]])  # two images of the seen class
    results = {}
    for gamma in (0.0, 0.3, 0.5):
        shift = np.array([gamma, 0.0])
        r = zsl_gzsl(unseen_imgs - shift, seen_imgs - shift, np.array([0, 0]), np.array([0, 0]), n_seen=1)
        results[gamma] = {k: round(float(r[k]), 4) for k in ("u", "s", "H")}
    return results  # γ = 0: u 0.5, s 1, H 0.667; γ = 0.3: u = s = H = 1; γ = 0.5: u 1, s 0.5, H 0.667


def learned_centre_reaches_attention(out_dir, profile: str = "smoke", data_root=None, runs_dir=None) -> float:
    """Chapter 04: the papermill run with centre_rule = "learned"; returns the gradient of L_CLS that
    reaches the attention layers (0 with the peak rule's argmax-placed squares)."""
    from bookkit.chapters import execute_chapter
    from bookkit.display import glued_values
    from bookkit.exercises import EXERCISE_RUNS

    chapter, params = EXERCISE_RUNS["ex-learned-centre"]
    notebook = execute_chapter(chapter, out_dir, {**params, "profile": profile, "data_root": data_root,
                                                  "runs_dir": runs_dir})
    return float(glued_values(notebook)["attention_grad"])
