"""Eq. (10) and the decision rules."""

import numpy as np
import pytest

from sgma_core.inference import (
    calibrated_stacking,
    choose_gamma,
    ridge_coefficients,
    rule_scores,
    seen_prototypes,
    unseen_prototypes,
)


def test_ridge_matches_scikit_learn_without_intercept():
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    phi_s, phi_u = rng.random((12, 7)), rng.random((12, 3))
    beta = ridge_coefficients(phi_s, phi_u, lam=0.3)
    assert beta.shape == (7, 3)
    ref = Ridge(alpha=0.3, fit_intercept=False).fit(phi_s, phi_u).coef_.T  # rows: seen classes
    np.testing.assert_allclose(beta, ref, rtol=1e-8, atol=1e-10)


def test_ridge_recovers_an_exact_combination():
    rng = np.random.default_rng(1)
    phi_s = rng.random((20, 5))
    true = rng.random((5, 2))
    np.testing.assert_allclose(ridge_coefficients(phi_s, phi_s @ true, lam=0.0), true, atol=1e-8)


def test_ridge_rejects_mismatched_semantics():
    with pytest.raises(ValueError, match="attributes"):
        ridge_coefficients(np.ones((4, 3)), np.ones((5, 2)), 1.0)


def test_prototypes_and_rules():
    emb = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    p_s = seen_prototypes(emb, np.array([0, 0, 1]), 2)
    np.testing.assert_allclose(p_s, [[2.0, 0.0], [0.0, 2.0]])
    beta = np.array([[0.5], [0.5]])
    np.testing.assert_allclose(unseen_prototypes(p_s, beta), [[1.0], [1.0]])
    compat = np.array([[1.0, 0.0]])
    x = np.array([[0.0, 1.0]])
    assert rule_scores("compat", compat, x, p_s).tolist() == [[1.0, 0.0]]
    assert rule_scores("cct", compat, x, p_s).tolist() == [[0.0, 2.0]]
    assert rule_scores("combined", compat, x, p_s).tolist() == [[1.0, 2.0]]  # argmax, not argmin
    with pytest.raises(ValueError, match="combined"):
        rule_scores("max", compat, x, p_s)


def test_calibrated_stacking_and_gamma_on_validation():
    scores = np.array([[2.0, 1.0, 1.5]])
    np.testing.assert_allclose(calibrated_stacking(scores, 2, 1.0), [[1.0, 0.0, 1.5]])
    # validation: unseen images lose to a seen class by 0.3; seen images win by 1.0
    vu = np.array([[1.3, 0.0, 1.0], [0.0, 1.3, 1.0]])
    vs = np.array([[2.0, 0.0, 1.0], [0.0, 2.0, 1.0]])
    gamma, h = choose_gamma(vu, vs, np.array([0, 0]), np.array([0, 1]), n_seen=2, grid=np.linspace(0, 2, 21))
    assert 0.3 < gamma < 1.0 and h == pytest.approx(1.0)


def test_calibrated_gzsl_picks_gamma_on_validation_and_applies_it_to_every_seed():
    from types import SimpleNamespace

    from sgma_core.experiment import calibrated_gzsl

    rng = np.random.default_rng(0)
    s, u, n = 4, 3, 60

    def scores(labels_u, labels_s):
        # correct class scored 1 above the rest, but every seen class gets a +2 bias: without
        # calibration every unseen image is labelled seen (u = 0)
        su = rng.normal(0, 0.1, (len(labels_u), s + u))
        su[np.arange(len(labels_u)), s + labels_u] += 1
        ss = rng.normal(0, 0.1, (len(labels_s), s + u))
        ss[np.arange(len(labels_s)), labels_s] += 1
        su[:, :s] += 2
        ss[:, :s] += 2
        return su, ss

    def prep(lu, ls):
        return SimpleNamespace(test_unseen_labels=lu, test_seen_labels=ls, n_seen=s)

    lu, ls = rng.integers(0, u, n), rng.integers(0, s, n)
    val = prep(lu, ls)
    test = prep(rng.integers(0, u, n), rng.integers(0, s, n))
    out = calibrated_gzsl({"compat": scores(lu, ls)}, val,
                          {0: {"compat": scores(test.test_unseen_labels, test.test_seen_labels)},
                           1: {"compat": scores(test.test_unseen_labels, test.test_seen_labels)}}, test)["compat"]
    assert 1.0 < out["gamma"] < 3.0  # removes the bias without flipping the correct seen classes
    assert out["val_H0"] == 0.0 and out["val_H"] > 0.9
    assert len(out["plain"]) == len(out["calibrated"]) == 2
    for plain, cal in zip(out["plain"], out["calibrated"]):
        assert plain["u"] == 0.0 and cal["H"] > 0.9
        assert cal["T1"] == plain["T1"]  # ZSL is unaffected by γ


def test_the_chapters_spread_over_seeds_is_the_sample_standard_deviation():
    from sgma_core.experiment import mean_sd_by_metric

    by_metric = mean_sd_by_metric([{"T1": 0.5, "H": 0.2}, {"T1": 0.7, "H": 0.2}], keys=("T1", "H"))
    assert by_metric["T1"] == (pytest.approx(0.6), pytest.approx(np.sqrt(0.02)))  # ddof = 1, as the studies
    assert by_metric["H"] == (pytest.approx(0.2), 0.0)
    assert mean_sd_by_metric([{"T1": 0.5}], keys=("T1",)) == {"T1": (0.5, None)}  # one seed has no spread
