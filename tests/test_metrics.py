"""Per-class accuracy, the harmonic mean, and the ZSL/GZSL protocol (METHOD §6)."""

import numpy as np
import pytest

from sgma_core.metrics import harmonic_mean, per_class_accuracy, zsl_gzsl


def test_per_class_accuracy_is_not_per_sample():
    y_true = [0, 0, 0, 0, 1]
    y_pred = [0, 0, 0, 0, 0]
    assert per_class_accuracy(y_true, y_pred) == pytest.approx(0.5)  # per-sample would be 0.8


def test_per_class_accuracy_counts_only_classes_in_y_true():
    # class 7 is predicted but absent from y_true: it must not enter the mean
    assert per_class_accuracy([1, 1, 2], [1, 7, 2]) == pytest.approx((0.5 + 1.0) / 2)


def test_per_class_accuracy_hand_value():
    y_true = np.array([3, 3, 3, 5, 5, 9])
    y_pred = np.array([3, 5, 3, 5, 3, 9])
    assert per_class_accuracy(y_true, y_pred) == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)


def test_per_class_accuracy_rejects_bad_input():
    with pytest.raises(ValueError, match="y_pred has 1"):
        per_class_accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="empty"):
        per_class_accuracy([], [])


def test_harmonic_mean():
    assert harmonic_mean(0.2, 0.8) == pytest.approx(0.32)
    assert harmonic_mean(0.0, 0.0) == 0.0
    assert harmonic_mean(0.5, 0.5) == pytest.approx(0.5)


def test_zsl_gzsl_protocol():
    # S = 2 seen, U = 2 unseen; columns: seen0, seen1, unseen0, unseen1
    su = np.array([
        [9.0, 0.0, 1.0, 0.0],  # unseen0 image: ZSL right (1 > 0), GZSL wrong (seen0 wins)
        [0.0, 0.0, 0.0, 1.0],  # unseen1 image: right in both
    ])
    ss = np.array([
        [1.0, 0.0, 0.0, 0.0],  # seen0: right
        [0.0, 0.0, 5.0, 0.0],  # seen1: wrong (unseen0 wins)
    ])
    m = zsl_gzsl(su, ss, np.array([0, 1]), np.array([0, 1]), n_seen=2)
    assert m["T1"] == pytest.approx(1.0)
    assert m["u"] == pytest.approx(0.5)
    assert m["s"] == pytest.approx(0.5)
    assert m["H"] == pytest.approx(0.5)
