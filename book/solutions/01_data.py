"""Chapter 01, *Data: the zero-shot protocol, the real splits and a synthetic bird dataset*:
the solutions of its exercises, as code that ``tests/test_exercises.py`` runs against the answers the chapter states."""

from __future__ import annotations


def harmonic_mean_by_hand() -> float:
    """Chapter 01: H for u = 0.2 and s = 0.8."""
    from sgma_core.metrics import harmonic_mean

    u, s = 0.2, 0.8
    by_hand = 2 * u * s / (u + s)  # 2 · 0.16 / 1.0
    assert abs(harmonic_mean(u, s) - by_hand) < 1e-12
    return by_hand  # 0.32: far below the mean of u and s (0.5)


def per_image_against_per_class() -> tuple[float, float]:
    """Chapter 01: 90 images of class 0 (81 right) and 10 of class 1 (1 right)."""
    import numpy as np

    from sgma_core.metrics import per_class_accuracy

    labels = np.array([0] * 90 + [1] * 10)
    predictions = np.array([0] * 81 + [1] * 9 + [1] * 1 + [0] * 9)  # class 0: 81 of 90 right; class 1: 1 of 10
    per_image = float((predictions == labels).mean())  # 82 / 100
    return per_image, per_class_accuracy(labels, predictions)  # (0.82, (0.9 + 0.1) / 2 = 0.5)
