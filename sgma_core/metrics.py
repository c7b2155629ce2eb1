"""Zero-shot evaluation metrics (METHOD §6).

Accuracy is always the **mean over classes of per-class top-1 accuracy** (Xian et al.), never
the fraction of correct images: on unbalanced test sets the two differ, and only the former
is comparable with published numbers.
"""

from __future__ import annotations

import numpy as np


def per_class_accuracy(y_true, y_pred) -> float:
    """Mean over the classes present in ``y_true`` of each class's top-1 accuracy.

    ``y_true``, ``y_pred``: ``[N]`` integer labels in the same label space. Returns a float in
    [0, 1]. Classes that appear only in ``y_pred`` do not count.
    """
    y_true = np.asarray(y_true).ravel()
    y_pred = np.asarray(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} labels but y_pred has {y_pred.size}")
    if y_true.size == 0:
        raise ValueError("per_class_accuracy of an empty set is undefined")
    classes, inverse = np.unique(y_true, return_inverse=True)
    correct = np.bincount(inverse, weights=(y_true == y_pred).astype(np.float64), minlength=len(classes))
    counts = np.bincount(inverse, minlength=len(classes))
    return float(np.mean(correct / counts))


def harmonic_mean(u: float, s: float) -> float:
    """GZSL ``H = 2us / (u + s)``; 0 when both are 0."""
    return 0.0 if u + s == 0 else float(2 * u * s / (u + s))


def zsl_gzsl(
    scores_unseen_imgs: np.ndarray,
    scores_seen_imgs: np.ndarray,
    unseen_labels: np.ndarray,
    seen_labels: np.ndarray,
    n_seen: int,
) -> dict[str, float]:
    """ZSL T1 and GZSL u / s / H from compatibility scores.

    Scores are over the GZSL candidates in the order *seen classes, then unseen classes*:
    ``scores_unseen_imgs`` ``[Nu, S+U]`` for the ``test_unseen`` images and
    ``scores_seen_imgs`` ``[Ns, S+U]`` for ``test_seen``. Labels: ``unseen_labels`` in
    ``0..U-1`` and ``seen_labels`` in ``0..S-1``.

    * T1: argmax over the unseen columns only, on ``test_unseen``;
    * u: argmax over all columns, on ``test_unseen`` (correct = ``S + label``);
    * s: argmax over all columns, on ``test_seen``;
    * H: harmonic mean of u and s.
    """
    t1 = per_class_accuracy(unseen_labels, scores_unseen_imgs[:, n_seen:].argmax(1))
    u = per_class_accuracy(unseen_labels + n_seen, scores_unseen_imgs.argmax(1))
    s = per_class_accuracy(seen_labels, scores_seen_imgs.argmax(1))
    return {"T1": t1, "u": u, "s": s, "H": harmonic_mean(u, s)}
