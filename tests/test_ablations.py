"""The ablation pipeline end to end on a tiny grid (smoke profile), its adoption rule on rows made by hand,
and the book's defaults against the committed record of the cpu profile."""

import json

import pytest

from sgma_core.paths import repo_root
from sgma_core.profiles import PAPER_READING, RunConfig, make_config
from sgma_core.studies.ablate import SELECTION, adopt, decide, main, paired, read_record, run_ablations

ROW_KEYS = {"setting", "value", "seed", "split", "rule", "T1", "u", "s", "H"}


def _rows(setting, value, t1s, rule="compat"):
    return [{"setting": setting, "value": value, "seed": s, "split": "val", "rule": rule, "T1": t, "H": 0.0}
            for s, t in enumerate(t1s)]


def test_paired_gain_is_the_mean_and_standard_error_of_per_seed_differences():
    g = paired({0: 0.5, 1: 0.6, 2: 0.7}, {0: 0.4, 1: 0.4, 2: 0.4, 3: 0.9})  # seed 3 has no pair: left out
    assert g["n"] == 3 and g["mean"] == pytest.approx(0.2)
    assert g["se"] == pytest.approx(0.1 / 3 ** 0.5)  # differences 0.1, 0.2, 0.3: sample sd 0.1
    assert paired({0: 1.0}, {0: 0.0}) is None  # one seed has no standard error


def test_a_value_is_adopted_only_when_its_paired_gain_exceeds_two_standard_errors():
    rows = (_rows("x", "paper", [0.50, 0.60, 0.40, 0.55, 0.45])
            + _rows("x", "steady", [0.52, 0.62, 0.42, 0.57, 0.47])  # +2 points on every seed: adopted
            + _rows("x", "noisy", [0.80, 0.40, 0.70, 0.35, 0.75]))  # +10 points on average, but seed noise
    d = decide(rows, "x", ("paper", "steady", "noisy"), "paper")
    assert d["adopted"] == "steady" and d["reference"] == "paper"
    noisy = next(g["gain"] for g in d["gains"] if g["value"] == "noisy")
    assert noisy["mean"] > 0.02 and noisy["mean"] < 2 * noisy["se"]
    rows = _rows("x", "paper", [0.5, 0.6, 0.4]) + _rows("x", "noisy", [0.8, 0.4, 0.7])
    assert decide(rows, "x", ("paper", "noisy"), "paper")["adopted"] == "paper"  # the reference stays
    assert adopt([], "paper") == "paper"


@pytest.mark.slow
def test_the_pipeline_decides_on_validation_and_reports_test_once(tiny_root, tmp_path):
    grid = {"cct_negatives": ("hardest", "all")}
    scoring = {"ridge_lambda": (1e-4, 1.0), "prototype_norm": (True, False)}
    attention = {"grouping_smoothing": (0.0, 0.1)}
    ledger = tmp_path / "ledger"
    record = run_ablations("smoke", [0, 1], tiny_root, tmp_path / "runs", training_grid=grid, scoring_grid=scoring,
                           attention_grid=attention, progress=False, ledger=ledger)
    rows = record["runs"]
    assert all(set(r) == ROW_KEYS and all(0 <= r[k] <= 1 for k in ("T1", "u", "s", "H")) for r in rows)
    val = [r for r in rows if r["split"] == "val"]
    test = [r for r in rows if r["split"] == "test"]
    assert {r["setting"] for r in val} == {"SEARCH", "cct_negatives", "PAPER_READING", "SEARCHED", "BOOK", "SCORING",
                                           "RETEST"}
    search = record["search"]  # the start and its neighbour, each with its check; the end is where it settled
    assert search["start"] == {"grouping_smoothing": 0.0} and search["rounds"][0]["point"] == search["start"]
    assert [n["value"] for n in search["rounds"][0]["neighbours"]] == [0.1]
    assert all(isinstance(n["admissible"], bool) and "distinct_places" in n["check"]
               for r in search["rounds"] for n in r["neighbours"])
    # the search goes on from its end at the adopted training values: the attention it ends at is the book's
    retest = record["retest"]
    assert retest["start"] == search["end"] and retest["training"] == record["book_on_validation"]["settings"]
    assert [n["value"] for n in retest["rounds"][0]["neighbours"]] == \
        [v for v in (0.0, 0.1) if v != search["end"]["grouping_smoothing"]]
    assert record["chosen"]["grouping_smoothing"] == retest["end"]["grouping_smoothing"]
    assert {(c["setting"], c["seed"]) for c in record["checks"]} >= {("SEARCH", 0), ("SEARCH", 1)}
    # every validation run's schedule, labelled as its check: when the plateau rule first cut lr, and eqs. (5)-(6)'s
    # share of the loss it read
    assert [(c["setting"], c["value"], c["seed"]) for c in record["checks"]] == \
        [(c["setting"], c["value"], c["seed"]) for c in record["schedules"]]
    assert all(0 < c["attention_share"] < 1 and c["lr_cut_after_epoch"] in (None, *range(1, 9))
               for c in record["schedules"])
    assert len({json.dumps(r["value"], sort_keys=True) for r in val if r["setting"] == "SCORING"}) == 4  # every pair
    assert {r["setting"] for r in test} == {"BOOK", "PAPER_READING"}  # the test classes: once per configuration
    assert {r["seed"] for r in test} == {0, 1}
    assert set(record["chosen"]) == {"grouping_smoothing", "cct_negatives", "ridge_lambda", "prototype_norm"}
    assert record["selection_metric"] == SELECTION
    d = record["decisions"]["cct_negatives"]  # the reference is the paper's reading, and the rule decides
    assert d["reference"] == PAPER_READING["cct_negatives"] == "all"
    assert d["adopted"] == adopt(d["gains"], "all") == record["chosen"]["cct_negatives"]
    s = record["scoring"]
    assert s["read"] == ["prototype_norm"] and s["reference"]["prototype_norm"] is PAPER_READING["prototype_norm"]
    assert record["chosen"]["ridge_lambda"] == s["adopted"]["ridge_lambda"]
    # its ρ: the best for its own normalisation on validation (the scoring step's reference), stated
    assert record["paper_reading_as_run"]["ridge_lambda"] == s["reference"]["ridge_lambda"]
    # the compat rule does not read the prototypes: scoring choices leave it unchanged
    assert len({r["T1"] for r in val if r["setting"] == "SCORING" and r["rule"] == "compat" and r["seed"] == 0}) == 1
    assert record["book_on_validation"]["vs_searched"]["n"] == 2
    assert record["provenance"]["profile"] == "smoke" and record["provenance"]["seconds"] > 0
    # a second run trains nothing: every run is stored (no stored file is written again), and the record comes
    # out the same
    stored = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file() and "sgma" in p.parts}
    again = run_ablations("smoke", [0, 1], tiny_root, tmp_path / "runs", training_grid=grid, scoring_grid=scoring,
                          attention_grid=attention, progress=False, ledger=ledger)
    assert again["runs"] == record["runs"]
    assert stored and {p: p.stat().st_mtime_ns for p in stored} == stored
    # on another machine, with the ledger only: nothing is trained again (the validation runs, the book's models
    # scored with every scoring combination, the test-class models: each step's ledger holds what it measured)
    elsewhere = run_ablations("smoke", [0, 1], tiny_root, tmp_path / "elsewhere", training_grid=grid,
                              scoring_grid=scoring, attention_grid=attention, progress=False, ledger=ledger)
    assert elsewhere["runs"] == record["runs"] and elsewhere["search"] == record["search"]
    assert elsewhere["calibration_gamma"] == record["calibration_gamma"]
    assert elsewhere["schedules"] == record["schedules"]
    assert not (tmp_path / "elsewhere" / "sgma").exists() or not list((tmp_path / "elsewhere" / "sgma").iterdir())
    assert {p.name for p in ledger.iterdir() if p.is_dir()} == {"scoring", "test"}


def test_the_command_line_refuses_a_bad_profile(capsys):
    assert main(["--profile", "smok"]) == 2
    assert "unknown profile 'smok'" in capsys.readouterr().err


def test_a_grid_without_the_papers_reading_is_refused_before_any_work(tiny_root, tmp_path):
    with pytest.raises(ValueError, match="cct_negatives.*lacks its (starting value|paper's reading) 'all'"):
        run_ablations("smoke", [0], tiny_root, tmp_path, training_grid={"cct_negatives": ("hardest", "mean")},
                      scoring_grid={}, progress=False)


def test_the_cpu_defaults_are_the_recorded_choices():
    path = repo_root() / "results" / "ablations-cpu.json"
    record = read_record(path)
    cpu = make_config("cpu")
    assert {s: getattr(cpu, s) for s in record["chosen"]} == record["chosen"], \
        f"RunConfig's cpu defaults differ from the choices recorded in {path}"
    assert record["paper_reading"] == json.loads(json.dumps(PAPER_READING))
    assert set(record["chosen"]) <= {f for f in RunConfig.__dataclass_fields__}
    assert len(record["provenance"]["seeds"]) >= 5


def test_a_setting_pair_that_cannot_train_is_refused_before_any_work():
    with pytest.raises(ValueError, match="alternating.*attention_training='none'.*would train nothing"):
        make_config("smoke", {"training_schedule": "alternating", "attention_training": "none"})
    make_config("smoke", {"training_schedule": "alternating", "attention_training": "heads"})  # this pair trains


def test_values_adopted_one_by_one_that_do_not_go_together_are_not_trained_together():

    from sgma_core.studies.ablate import _together

    def gain(mean):
        return [{"value": "x", "gain": {"mean": mean, "se": 0.01, "n": 5}}]

    decisions = {"attention_training": {"adopted": "none", "gains": [{**gain(0.10)[0], "value": "none"}]},
                 "training_schedule": {"adopted": "alternating", "gains": [{**gain(0.05)[0], "value": "alternating"}]}}
    ab = _FakeBook(passes=lambda overrides: True, seeds=(0,))
    ab.base = make_config("smoke", {"attention_training": "full"})  # where the step starts, the attention trains
    training, record = _together(ab, decisions)
    assert training == {"attention_training": "none"} and ab.trained == [{"attention_training": "none"}]
    assert "would train nothing" in record["refused"]["reason"]


class _FakeBook:
    """Validates the book's configuration by hand: T1 0.5 on every seed, an attention check from ``passes``."""

    def __init__(self, passes, seeds=(0, 1, 2, 3, 4)):
        self.base, self.seeds, self.rows, self.checks, self.trained = make_config("smoke"), seeds, [], [], []
        self.passes = passes

    def validate(self, name, value, overrides, seed):
        self.trained.append(overrides)
        ok = self.passes(overrides)
        self.rows += [{"setting": name, "value": value, "seed": seed, "split": "val", "rule": "compat", "T1": 0.5}]
        self.checks.append({"setting": name, "value": value, "seed": seed, "passed": ok, "distinct_places": 0.5,
                            "different_cells": 1.0 if ok else 0.2, "telling_hits": 0.8,
                            "best_fixed_point_hits": 0.4})


def test_values_adopted_one_by_one_whose_attention_fails_together_give_way_to_the_searched_point():
    from sgma_core.studies.ablate import _together

    decisions = {"lam_div": {"adopted": 10.0, "gains": [{"value": 10.0, "gain": {"mean": 0.1, "se": 0.01, "n": 5}}]},
                 "beta_cct": {"adopted": 0.1, "gains": [{"value": 0.1, "gain": {"mean": 0.1, "se": 0.01, "n": 5}}]}}
    ab = _FakeBook(passes=lambda overrides: len(overrides) < 2)  # each alone passes, the two together do not
    ab.rows += [{"setting": s, "value": s.lower(), "seed": k, "split": "val", "rule": "compat", "T1": 0.5}
                for s in ("SEARCHED", "PAPER_READING") for k in range(5)]
    training, record = _together(ab, decisions)
    assert training == {} and record["settings"] == {}
    assert record["inadmissible"]["settings"] == {"lam_div": 10.0, "beta_cct": 0.1}
    assert record["inadmissible"]["check"]["failed"] == ["different_cells"]
    assert [c["passed"] for c in ab.checks if c["setting"] == "BOOK"] == [True] * 5  # only the kept book's checks
    assert [c["passed"] for c in ab.checks if c["setting"] == "BOOK_TOGETHER"] == [False] * 5  # kept, labelled
    assert record["vs_searched"]["mean"] == 0.0 and record["inadmissible"]["vs_searched"]["n"] == 5
    ab = _FakeBook(passes=lambda overrides: len(overrides) < 2)  # the searched point fails too: nothing to fall to
    ab.checks += [{"setting": "SEARCHED", "value": "searched", "seed": k, "passed": False, "distinct_places": 0.0,
                   "different_cells": 0.2, "telling_hits": 0.1, "best_fixed_point_hits": 0.4} for k in range(5)]
    training, record = _together(ab, decisions)
    assert training == {"lam_div": 10.0, "beta_cct": 0.1} and "inadmissible" not in record


def test_make_ablations_pairs_five_seeds_without_being_told():
    from sgma_core.studies import ablate, looking

    assert ablate.SEEDS == looking.SEEDS and len(ablate.SEEDS) >= 5  # `make ablations` passes no --seeds


def test_the_command_line_refuses_no_processes(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--profile", "smoke", "--jobs", "0"])
    assert stopped.value.code == 2 and "--jobs: 0 is not at least 1" in capsys.readouterr().err


def test_a_value_whose_attention_dies_is_not_adopted_however_it_scores():
    rows = _rows("x", "paper", [0.50, 0.60, 0.40, 0.55, 0.45]) + _rows("x", "dead", [0.60, 0.70, 0.50, 0.65, 0.55])

    def check(value, seed, passed):
        return {"setting": "x", "value": value, "seed": seed, "passed": passed, "distinct_places": 0.5 if passed else 0,
                "different_cells": 1.0, "telling_hits": 0.8 if passed else 0.1, "best_fixed_point_hits": 0.4}

    checks = [check("paper", s, True) for s in range(5)] + [check("dead", s, False) for s in range(5)]
    d = decide(rows, "x", ("paper", "dead"), "paper", checks=checks)
    assert d["adopted"] == "paper" and d["gains"][0]["admissible"] is False and d["gains"][0]["gain"]["mean"] > 0.09
    assert decide(rows, "x", ("paper", "dead"), "paper")["adopted"] == "dead"  # without checks: the gain alone


def test_a_one_factor_value_that_cannot_train_where_the_search_ended_is_listed_not_trained():
    from sgma_core.studies.ablate import _one_factor

    ab = _FakeBook(passes=lambda overrides: True)
    ab.base = make_config("smoke", {"attention_training": "none"})  # a frozen attention: alternating trains nothing
    decisions = _one_factor(ab, {"training_schedule": ("joint", "alternating"), "lam_div": (1.0, 10.0)}, {})
    assert {"training_schedule": "alternating"} not in ab.trained and {"lam_div": 10.0} in ab.trained
    d = decisions["training_schedule"]
    assert d["adopted"] == "joint" and d["gains"] == []
    assert d["refused"][0]["value"] == "alternating" and "would train nothing" in d["refused"][0]["reason"]
    assert "refused" not in decisions["lam_div"]
    from bookkit.ablation_views import decision_rows

    record = {"runs": ab.rows, "decisions": decisions, "chosen": {"training_schedule": "joint", "lam_div": 1.0},
              "grids": {"training": {"training_schedule": ["joint", "alternating"], "lam_div": [1.0, 10.0]}}}
    rows = decision_rows(record)
    assert rows[1][:3] == ["`training_schedule`", "`alternating`", "not trained"] and "train nothing" in rows[1][5]


@pytest.mark.parametrize("corner", ["start", "learned"])
def test_every_value_the_study_may_train_takes_two_epochs(corner, tmp_path):
    """The study trains for hours, one reading at a time: each value of its grids, changed alone from where it
    starts (the peak rule) and from the learned rule's corner, trains two epochs of a tiny SGMA to a finite loss,
    so that no reading the search or the one-factor step can reach stops it midway (the alternating schedule's
    second epoch did, under the learned rule). A pair of settings the configuration check refuses is skipped."""
    import math

    import torch

    from sgma_core.engine.loop import fit
    from sgma_core.engine.step import TrainData
    from sgma_core.sgma import SGMAObjective
    from sgma_core.studies.ablate import ATTENTION_GRID, START, TRAINING_GRID
    from tests.conftest import tiny_sgma

    torch.set_num_threads(1)  # tiny tensors: threads only wait on each other, more so beside other work
    size = {32: 12, 64: 24}  # the cpu profile's branch sizes, half the image and the image, at the tiny image's
    base = {k: v for k, v in START.items() if k not in ("ridge_lambda", "prototype_norm")}
    if corner == "learned":
        base |= {"attention_norm": "standardize_learned", "centre_rule": "learned"}
    images = torch.randint(0, 256, (16, 3, 24, 24), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    trained = 0
    for setting, values in {**ATTENTION_GRID, **TRAINING_GRID}.items():
        for value in values:
            settings = {**base, setting: value}
            settings["joint_size"] = size[settings["joint_size"]]
            try:
                config = make_config("smoke", {**settings, "epochs": 2, "batch_size": 8, "device": "cpu",
                                               "image_size": 24})
            except ValueError:
                continue
            model = tiny_sgma(**{k: v for k, v in settings.items() if k != "joint_size"}, joint=settings["joint_size"])
            objective = SGMAObjective.from_config(model, torch.randn(6, 5), config)
            history = fit(model, TrainData(images, torch.arange(16) % 5), objective, config,
                          tmp_path / f"{setting}-{value}", progress=False)
            assert len(history) == 2 and all(math.isfinite(r["train_loss"]) for r in history), (setting, value)
            trained += 1
    assert trained >= 20
