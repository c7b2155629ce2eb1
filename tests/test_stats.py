"""The statistics the studies and chapters share (sgma_core.stats)."""

import math

import pytest

from sgma_core import stats


def test_a_paired_difference_is_the_mean_and_standard_error_of_the_per_seed_differences():
    gain = stats.paired({0: 0.9, 1: 0.8, 2: 0.7, 5: 0.1}, {0: 0.8, 1: 0.8, 2: 0.5})
    assert gain["n"] == 3
    assert gain["mean"] == pytest.approx(0.1)
    assert gain["se"] == pytest.approx(0.1 / math.sqrt(3))  # differences 0.1, 0.0, 0.2: sd 0.1 (ddof = 1)


def test_one_shared_seed_gives_no_paired_difference():
    assert stats.paired({0: 0.9, 1: 0.8}, {1: 0.5, 2: 0.5}) is None


def test_the_verdict_needs_two_standard_errors_either_way():
    assert stats.verdict({"mean": 0.21, "se": 0.1}) == "higher"
    assert stats.verdict({"mean": 0.2, "se": 0.1}) == "no difference"  # exactly two standard errors is not more
    assert stats.verdict({"mean": -0.21, "se": 0.1}) == "lower"
    assert stats.verdict(None) is None
    assert stats.beats({"mean": 0.21, "se": 0.1}) and not stats.beats({"mean": -0.21, "se": 0.1})


def test_one_value_has_a_mean_but_no_spread():
    assert stats.mean_sd([0.5]) == (0.5, None)
    assert stats.mean_se([0.5])["se"] == math.inf
    mean, sd = stats.mean_sd([1.0, 3.0])
    assert (mean, sd) == (2.0, pytest.approx(math.sqrt(2)))


def test_no_values_are_refused():
    with pytest.raises(ValueError, match="at least one value"):
        stats.mean_sd([])
    with pytest.raises(ValueError, match="at least one value"):
        stats.mean_se(iter(()))


def test_the_book_and_the_summary_format_a_spread_the_same_way():
    from bookkit import study_views, summary

    assert summary.mean_sd is study_views.mean_sd
    assert study_views.mean_sd([0.5]) == "50.0"
    assert study_views.mean_sd([0.5, 0.7]) == "60.0 ± 14.1"
