"""Chapter 00, *Learning where to look, reproduced*:
the solutions of its exercises, as code that ``tests/test_exercises.py`` runs against the answers the chapter states."""

from __future__ import annotations


def score_an_unseen_class() -> list[float]:
    """Introduction: s_y = θᵀ W φ(y) for one image and three classes, the third never seen in training."""
    import numpy as np

    theta = np.array([1.0, 2.0])  # the image's pooled features, C = 2
    W = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5]])  # C × K, K = 3 attributes
    # K × 3 classes: columns (1,0,0), (0,1,0), (0,.6,.8)
    phi = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.6], [0.0, 0.0, 0.8]])
    return (theta @ W @ phi).round(6).tolist()  # θᵀW = (1, 2, 1.5); scores (1, 2, 2.4): the unseen class wins


def chance_levels(n_seen: int = 150, n_unseen: int = 50, images_per_class: int = 40) -> dict[str, float]:
    """Introduction: per-class accuracy of a uniformly random guess, ZSL and GZSL (CUB's 150 + 50 classes)."""
    import numpy as np

    from sgma_core.metrics import zsl_gzsl

    rng = np.random.default_rng(0)
    n_classes = n_seen + n_unseen
    unseen_labels = np.repeat(np.arange(n_unseen), images_per_class)
    seen_labels = np.repeat(np.arange(n_seen), images_per_class)
    # random scores: the argmax is a uniformly random class, over the unseen (T1) or over all (GZSL)
    result = zsl_gzsl(rng.random((len(unseen_labels), n_classes)), rng.random((len(seen_labels), n_classes)),
                      unseen_labels, seen_labels, n_seen)
    return {"T1": result["T1"], "H": result["H"], "T1 by hand": 1 / n_unseen, "H by hand": 1 / n_classes}
