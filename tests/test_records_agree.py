"""One configuration, one answer: the committed records hold the book's configuration as the cpu profile
gives it at this commit, on the same data, and where two records hold the same runs their numbers agree
seed for seed; a chapter's live runs are compared with them on the page (bookkit.agreement)."""

from dataclasses import replace

import pytest

from bookkit.agreement import BookRuns, Page, agreement_sentence, book_runs, disagreements
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


CFG = config_dict(make_config("cpu"))
AVX2 = {"aten": "AVX2", "onednn": "AVX2", "mkl_cbwr": "AVX2"}
AVX512 = {"aten": "AVX512", "onednn": "native", "mkl_cbwr": "native"}
PAGE = Page("cpu", AVX2, 1, "2.14.1")  # the made-up page: the CPU, the pinned levels, one thread
T1 = (0.70, 0.72, 0.74, 0.76, 0.78)  # the made-up record's seeds: mean 74.0 %, sample sd 3.2 points


def _runs(seeds=range(5), record="looking-cpu.json", chapter="06_where_to_look", **extra):
    """A made-up record of the book's configuration, made as PAGE was unless ``extra`` says otherwise."""
    made = {"data_scheme": 2, "cpu_dispatch": AVX2, "torch": "2.14.1", **extra}
    return BookRuns(record, chapter, CFG, "abc", "c0ffee", {s: {"T1": T1[s], "H": 0.4} for s in seeds}, **made)


def _page(live, records=None, cfg=CFG, data=ABC, page=PAGE, model="sgma"):
    results = [{"seed": s, "T1": t1, "H": 0.4} for s, t1 in live.items()]
    return agreement_sentence(cfg, data, results, "cpu", [_runs()] if records is None else records, model=model,
                              page=page)


def test_a_page_made_as_the_record_was_repeats_it_bit_for_bit():
    one = _page({0: T1[0]})
    assert one.startswith("This page's seed 0 repeats results/looking-cpu.json (chapter 06) bit for bit: the same "
                          "settings, data and torch, the CPU instruction sets AVX2 / AVX2 / AVX2"), one
    assert "one thread" in one and "range" not in one and "differ" not in one
    assert "This page's seeds 0, 1 and 2 repeat" in _page({s: T1[s] for s in range(3)})


@pytest.mark.parametrize("gap, said", [(0.02, "by up to 2.0 points at seed 1"),
                                       (1e-12, "by up to less than 0.1 point at seed 1")])
def test_a_page_made_as_the_record_was_that_gives_other_numbers_says_so_to_the_last_bit(gap, said):
    text = _page({0: T1[0], 1: T1[1] + gap})
    assert said in text and "(chapter 06, commit c0ffee)" in text and "repeat" not in text, text
    assert "T1 70.0 and 7" in text and "% both lie inside their range 70.0–78.0 %" in text  # placed too


def test_a_record_made_before_the_levels_were_recorded_is_a_distribution_to_compare_with():
    text = _page({0: 0.73}, [_runs(cpu_dispatch=None)])
    assert "Whether this page's run repeats results/looking-cpu.json (chapter 06) bit for bit cannot be told" in text
    assert "cannot be told: the record does not say which CPU instruction sets computed it" in text, text
    assert ("Beside the record's 5 seeds, T1 73.0 % lies inside their range 70.0–78.0 % (mean 74.0 ± 3.2 %; 0.3 sd "
            "below it); H") in text, text
    for said in ("thread", "the data", "torch (", "bit for bit:", "agrees"):  # nothing that does not differ is named
        assert said not in text, (said, text)
    assert "outside their range" in _page({0: 0.9}, [_runs(cpu_dispatch=None)])
    assert "T1 60.0, 71.0 and 75.0 % 2 of 3 lie inside" in _page({0: 0.6, 1: 0.71, 2: 0.75}, [_runs(cpu_dispatch=None)])
    same = _page({0: T1[0]}, [_runs(cpu_dispatch=None)])
    assert "Its numbers at seed 0 are the record's, bit for bit." in same and "range" not in same, same


def test_the_page_names_only_what_really_differs():
    levels = _page({0: 0.73}, [_runs(cpu_dispatch=AVX512)])
    assert ("cannot repeat results/looking-cpu.json (chapter 06) bit for bit: the CPU instruction sets of PyTorch / "
            "oneDNN / MKL (AVX2 / AVX2 / AVX2 here, AVX512 / native / native in the record) differs.") in levels
    assert "thread" not in levels and "the data" not in levels and "torch (" not in levels
    threads = _page({0: 0.73}, page=Page("cpu", AVX2, 2, "2.14.1"))
    assert "the CPU threads (2 threads here, one thread in the record) differs." in threads, threads
    assert "instruction sets" not in threads
    other = _page({0: 0.73}, [_runs(torch="2.11.0", cpu_dispatch=None)], data=_Data(scheme2="another"))
    assert ("the data (another fingerprint) and torch (2.14.1 here, 2.11.0 in the record) differ, and the record "
            "does not say which CPU instruction sets computed it") in other, other
    unknown = _page({0: 0.73}, page=Page("cpu", AVX2, None, "2.14.1"))
    assert "cannot be told: this page's runs do not state one thread count" in unknown, unknown
    gpu = _page({0: 0.73}, page=Page("cuda", AVX2, 1, "2.14.1"))
    assert "the device (this page trained on cuda" in gpu and "AVX2 /" not in gpu


def test_records_holding_the_same_runs_made_the_same_way_are_named_together():
    text = _page({0: T1[0]}, [_runs(), _runs(record="ablations-cpu.json", chapter="05_open_choices")])
    assert text.count("repeats") == 1 and ("results/looking-cpu.json (chapter 06) and results/ablations-cpu.json "
                                           "(chapter 05) bit for bit") in text, text
    fewer = _page({0: 0.73}, [_runs(cpu_dispatch=None), _runs(range(3), "real-start-cpu.json", "07_real_birds",
                                                                cpu_dispatch=None)])
    assert fewer.count("cannot be told") == 1 and "Beside the records' 5 seeds" in fewer, fewer
    apart = _page({0: T1[0]}, [_runs(), _runs(record="ablations-cpu.json", chapter="05_open_choices",
                                              cpu_dispatch=None)])
    assert "repeats results/looking-cpu.json (chapter 06) bit for bit" in apart
    assert "Its numbers at seed 0 are the record's" in apart


def test_a_page_whose_settings_no_record_holds_says_which_settings_differ():
    text = _page({0: 0.73}, cfg=config_dict(make_config("cpu", {"epochs": 5})))
    assert text.startswith("No committed record holds this page's settings (the nearest differs in epochs (16 "
                           "there, 5 here))"), text
    smoke = _page({0: 0.73}, cfg=config_dict(make_config("smoke")))
    assert "No committed record holds" in smoke and ", and " in smoke and " more)" in smoke
    assert "no record is of the cpu profile" in _page({0: 0.73}, records=[])


def test_the_page_knows_how_its_runs_were_made():
    from sgma_core.dispatch import levels

    page = Page.of(CFG, {0: [{"threads": 1}, {"threads": 1}], 1: [{"threads": 1}]})
    assert page.threads == 1 and page.levels == levels() and page.device == "cpu"
    assert Page.of(CFG, {0: [{"threads": 1}, {"threads": 2}]}).threads is None  # a run resumed at another count
    assert Page.of(CFG, {0: [{"epoch": 0}]}).threads is None  # a run made before epochs recorded their threads
    assert Page.of(CFG, None).threads is None


def test_a_baseline_is_compared_on_the_baselines_settings_only():
    other = "none" if make_config("cpu").attention_norm != "none" else "standardize"
    cfg = config_dict(make_config("cpu", {"attention_norm": other}))  # not a setting of the baseline
    assert "repeats" in _page({0: T1[0]}, [_runs([0])], cfg=cfg, model="baseline")
    assert "No committed record" in _page({0: T1[0]}, [_runs([0])], cfg=cfg)


def test_a_record_is_compared_with_todays_data_by_the_fingerprint_of_its_own_scheme():
    """Records made before the fingerprint covered the images' bytes hold the older fingerprint: they are
    compared with today's data by that one, and the page says so; a scheme this code does not know never
    matches."""
    today = _Data(scheme1="by-names-and-sizes", scheme2="by-bytes")

    def page(fingerprint, scheme):
        return _page({0: T1[0]}, [replace(_runs([0]), data_fingerprint=fingerprint, data_scheme=scheme)], data=today)

    older = page("by-names-and-sizes", 1)
    assert "repeats" in older and "older fingerprint" in older
    newer = page("by-bytes", 2)
    assert "repeats" in newer and "older fingerprint" not in newer
    for other in (page("by-bytes", 1), page("by-bytes", 3)):
        assert "the data (another fingerprint) differs" in other and "older fingerprint" not in other
