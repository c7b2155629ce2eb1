"""One configuration, one answer: the committed records hold the book's configuration as the cpu profile
gives it at this commit, on the same data, and where two records hold the same runs their numbers agree
seed for seed; a chapter's live runs are compared with them on the page (bookkit.agreement)."""

from dataclasses import replace

import pytest

from bookkit.agreement import BookRuns, agreement_sentence, book_runs, disagreements
from sgma_core.profiles import config_dict, make_config
from sgma_core.records import config_drift

RECORDS = book_runs("cpu")
BASELINES = book_runs("cpu", model="baseline")


@pytest.mark.parametrize("runs", RECORDS + BASELINES, ids=lambda r: r.record)
def test_every_record_holds_todays_book_configuration(runs):
    drift = config_drift(runs.config, "cpu", {"backbone": runs.config.get("backbone", "small_vgg")})
    assert not drift, (f"results/{runs.record} was made with {drift} (recorded, today): remake it "
                       "(make ablations / make looking / make real-start) so chapter " + runs.chapter[:2] +
                       " renders today's configuration")


def test_the_records_are_of_one_dataset():
    assert len({(r.data_fingerprint, r.data_scheme) for r in RECORDS + BASELINES}) <= 1


@pytest.mark.parametrize("a, b", [(a, b) for runs in (RECORDS, BASELINES) for i, a in enumerate(runs)
                                  for b in runs[i + 1:]], ids=lambda r: r.record)
def test_records_holding_the_same_runs_agree_seed_for_seed(a, b):
    if config_drift(a.config, "cpu") or config_drift(b.config, "cpu"):
        pytest.skip("one of the two is not today's configuration (the test above fails for it)")
    assert set(a.seeds) & set(b.seeds), "the records share no seed"
    assert not disagreements(a.seeds, b.seeds), f"{a.record} and {b.record} differ: {disagreements(a.seeds, b.seeds)}"


class _Data:
    """A dataset as the agreement sees it: its fingerprint in each scheme."""

    def __init__(self, **by_scheme):
        self.by_scheme = {int(k[-1]): v for k, v in by_scheme.items()}

    def fingerprint(self, scheme=2):
        if scheme not in self.by_scheme:
            raise ValueError(f"scheme {scheme}")
        return self.by_scheme[scheme]


ABC = _Data(scheme1="abc", scheme2="abc")


def _runs(seeds, **extra):
    return BookRuns("looking-cpu.json", "06_where_to_look", config_dict(make_config("cpu")), "abc", "c0ffee",
                    {s: {"T1": 0.7 + s / 100, "H": 0.4} for s in seeds}, **extra)


def test_the_page_says_when_its_runs_agree_differ_or_are_not_the_records():
    cfg = config_dict(make_config("cpu"))
    live = [{"seed": s, "T1": 0.7 + s / 100, "H": 0.4} for s in (0, 1, 2)]
    agree = agreement_sentence(cfg, ABC, live, "cpu", [_runs(range(5))])
    assert "agrees seed for seed (seeds 0, 1 and 2)" in agree
    live[1]["T1"] += 0.02
    differ = agreement_sentence(cfg, ABC, live, "cpu", [_runs(range(5))])
    assert "differs by up to 2.0 points at seed 1" in differ and "c0ffee" in differ
    other_data = agreement_sentence(cfg, _Data(scheme1="another", scheme2="another"), live, "cpu", [_runs(range(5))])
    other_config = agreement_sentence(config_dict(make_config("smoke")), ABC, live, "cpu", [_runs(range(5))])
    assert "No committed record holds" in other_data and "No committed record holds" in other_config


def test_a_baseline_is_compared_on_the_baselines_settings_only():
    cfg = config_dict(make_config("cpu", {"attention_norm": "standardize"}))  # not a setting of the baseline
    live = [{"seed": 0, "T1": 0.7, "H": 0.4}]
    assert "agrees (seed 0)" in agreement_sentence(cfg, ABC, live, "cpu", [_runs([0])], model="baseline")
    assert "No committed record" in agreement_sentence(cfg, ABC, live, "cpu", [_runs([0])], model="sgma")


def test_a_record_is_compared_with_todays_data_by_the_fingerprint_of_its_own_scheme():
    """Records made before the fingerprint covered the images' bytes hold the older fingerprint: they are
    compared with today's data by that one, and the page says so; a scheme this code does not know never
    matches."""
    cfg = config_dict(make_config("cpu"))
    live = [{"seed": 0, "T1": 0.7, "H": 0.4}]
    today = _Data(scheme1="by-names-and-sizes", scheme2="by-bytes")

    def page(fingerprint, scheme):
        return agreement_sentence(cfg, today, live, "cpu",
                                  [replace(_runs([0]), data_fingerprint=fingerprint, data_scheme=scheme)])

    older = page("by-names-and-sizes", 1)
    assert "agrees (seed 0)" in older and "older fingerprint" in older
    newer = page("by-bytes", 2)
    assert "agrees (seed 0)" in newer and "older fingerprint" not in newer
    assert "No committed record" in page("by-bytes", 1) and "No committed record" in page("by-bytes", 3)
