"""The power study adds seeds to an adopted value's comparison only while its paired standard error is above the
bar, reads the ablation's five seeds from its ledger (never trains them), trains nothing with --stored-only, and
keeps its rows out of the ablation's. A stand-in ablation answers with set T1s, so no model is trained here."""

import json

import numpy as np
import pytest

from sgma_core.profiles import make_config, with_settings
from sgma_core.stats import paired
from sgma_core.studies import power
from sgma_core.studies.power import SE_BAR, add_seeds, bases, comparisons

# the adopted side's gain over the reference on seeds 0, 1, …: spread enough that five seeds leave an SE above 2
# points, steady after
GAINS = [0.10, 0.02, 0.16, 0.04, 0.12, 0.08, 0.09, 0.11, 0.10, 0.09, 0.10, 0.10]
COMPARISON = {"name": "lam_div = 0.1", "adopted": {"lam_div": 0.1}, "reference": {"lam_div": 1.0}}


class Ledger:
    folder = "ledger"

    def __init__(self, stored: set) -> None:
        self.stored = stored

    def lookup(self, kind, cfg, runs_dir, prepared):
        return None, None, ({"stored": True} if (cfg.lam_div, cfg.seed) in self.stored else None)


class Ablation:
    """What add_seeds uses of sgma_core.studies.ablation_runs.Ablation, answering with GAINS."""

    def __init__(self, stored_seeds) -> None:
        self.base, self.runs_dir, self.val_data = make_config("smoke"), None, None
        self.ledger = Ledger({(lam, s) for lam in (0.1, 1.0) for s in stored_seeds})
        self.rows, self.checks, self.schedules, self.trained = [{"setting": "OWN"}], [{"own": 1}], [], []

    def validate(self, name, value, overrides, seed):
        cfg = with_settings(self.base, seed=seed, **overrides)
        if (cfg.lam_div, seed) not in self.ledger.stored:
            self.trained.append((cfg.lam_div, seed))
            self.ledger.stored.add((cfg.lam_div, seed))
        t1 = 0.5 + (GAINS[seed] if cfg.lam_div == 0.1 else 0.0)
        self.rows += [{"setting": name, "rule": "cct", "T1": 0.0}, {"setting": name, "rule": "compat", "T1": t1}]
        self.checks.append({"setting": name})
        self.schedules.append({"setting": name})


def expected_seeds(max_seeds: int) -> list[int]:
    n = 5
    while n < max_seeds and np.std(GAINS[:n], ddof=1) / np.sqrt(n) > SE_BAR:
        n += 1
    return list(range(n))


def test_seeds_are_added_until_the_standard_error_reaches_the_bar():
    ab = Ablation(stored_seeds=range(5))
    row = add_seeds(ab, COMPARISON, make_config("smoke"), max_seeds=12, stored_only=False)
    seeds = expected_seeds(12)
    assert len(seeds) > 5 and row["seeds"] == seeds
    assert ab.trained == [(lam, s) for s in seeds[5:] for lam in (0.1, 1.0)]  # the first five read, never trained
    assert row["gain"] == pytest.approx(paired(dict(enumerate(GAINS[: len(seeds)])), dict.fromkeys(seeds, 0.0)))
    assert row["gain_first"]["n"] == 5 and row["gain_first"]["se"] > SE_BAR
    assert row["reached_bar"] and row["holds"]
    assert ab.rows == [{"setting": "OWN"}] and ab.checks == [{"own": 1}] and ab.schedules == []  # kept out


def test_the_seeds_stop_at_the_most_allowed_and_say_the_bar_was_not_reached():
    row = add_seeds(Ablation(range(5)), COMPARISON, make_config("smoke"), max_seeds=6, stored_only=False)
    assert row["seeds"] == list(range(6)) and not row["reached_bar"]


def test_stored_only_trains_nothing_and_records_the_seeds_stored_so_far():
    ab = Ablation(stored_seeds=range(7))
    row = add_seeds(ab, COMPARISON, make_config("smoke"), max_seeds=12, stored_only=True)
    assert ab.trained == [] and row["seeds"] == list(range(7))


def test_a_first_seed_missing_from_the_ledger_is_refused_not_trained():
    ab = Ablation(stored_seeds=[0, 1, 2, 4])
    with pytest.raises(LookupError, match="lam_div = 0.1: seed 3 .* not in the ablation's ledger"):
        add_seeds(ab, COMPARISON, make_config("smoke"), max_seeds=12, stored_only=False)
    assert ab.trained == []


def record_of(rounds, decisions) -> dict:
    return {"search": {"rounds": rounds, "end": rounds[-1]["point"]}, "decisions": decisions,
            "start": {"grouping_smoothing": 0.0, "lam_div": 1.0, "ridge_lambda": 1e-4},
            "grids": {"attention": {"grouping_smoothing": [0.0, 0.1]}, "training": {"lam_div": [1.0, 0.1]},
                      "scoring": {"ridge_lambda": [1e-4]}},
            "retest": {"training": {"lam_div": 0.1}, "rounds": [{"point": rounds[-1]["point"], "neighbours": []}]}}


def test_the_comparisons_are_the_search_moves_and_the_values_adopted_on_their_bases():
    gain = {"mean": 0.08, "se": 0.03, "n": 5}
    rounds = [{"point": {"grouping_smoothing": 0.0},
               "neighbours": [{"setting": "grouping_smoothing", "value": 0.1, "point": {"grouping_smoothing": 0.1},
                               "gain": gain}]},
              {"point": {"grouping_smoothing": 0.1}, "neighbours": []}]
    decisions = {"lam_div": {"reference": 1.0, "adopted": 0.1, "gains": [{"value": 0.1, "gain": gain}]},
                 "cct_negatives": {"reference": "all", "adopted": "all", "gains": [{"value": "mean", "gain": gain}]}}
    record = record_of(rounds, decisions)
    found = comparisons(record)
    assert [(c["name"], c["base"], c["kind"], c["adopted"], c["reference"]) for c in found] == [
        ("grouping_smoothing = 0.1 (search)", "start", "adopted", {"grouping_smoothing": 0.1},
         {"grouping_smoothing": 0.0}),
        ("lam_div = 0.1", "searched", "adopted", {"lam_div": 0.1}, {"lam_div": 1.0}),
        ("cct_negatives = 'mean'", "searched", "kept", {"cct_negatives": "mean"}, {"cct_negatives": "all"})]
    base = bases(record, make_config("smoke", {"grouping_smoothing": 0.1, "lam_div": 10.0}))
    # the record's start, not the profile's values
    assert (base["start"].grouping_smoothing, base["start"].lam_div) == (0.0, 1.0)
    assert (base["searched"].grouping_smoothing, base["searched"].lam_div) == (0.1, 1.0)
    assert (base["retest"].grouping_smoothing, base["retest"].lam_div) == (0.1, 0.1)



def test_keeping_the_reference_is_a_decision_whose_admissible_alternatives_are_powered():
    """Deliver: every validation decision's standard error at most 2 points, a value kept over others included;
    a value whose attention fails its check was decided by the check, and one beside an adopted value is no
    comparison of that decision."""
    def g(mean, se=0.03):
        return {"mean": mean, "se": se, "n": 5}

    decisions = {"beta_cct": {"reference": 1.0, "adopted": 1.0, "gains": [
                     {"value": 10.0, "gain": g(0.046), "admissible": True},      # within 2 SE: powered
                     {"value": 0.1, "gain": g(0.055), "admissible": False},      # its attention fails: never chosen
                     {"value": 3.0, "gain": g(-0.08), "admissible": True}]},     # below, and still a decision
                 "lam_div": {"reference": 1.0, "adopted": 0.1, "gains": [
                     {"value": 0.1, "gain": g(0.09), "admissible": True},
                     {"value": 10.0, "gain": g(0.05), "admissible": True}]}}  # against a reference no longer kept
    found = comparisons(record_of([{"point": {}, "neighbours": []}], decisions))
    assert [(c["name"], c["kind"], c["adopted"], c["reference"]) for c in found] == [
        ("beta_cct = 10.0", "kept", {"beta_cct": 10.0}, {"beta_cct": 1.0}),
        ("beta_cct = 3.0", "kept", {"beta_cct": 3.0}, {"beta_cct": 1.0}),
        ("lam_div = 0.1", "adopted", {"lam_div": 0.1}, {"lam_div": 1.0})]
    from bookkit.power_views import power_rows, power_sentence, power_study_sentence

    said = power_sentence(record_of([{"point": {}, "neighbours": []}], decisions))
    assert "Keeping a value is a decision too: two admissible values not adopted have a paired gain" in said
    assert "standard error above 2 points on five seeds (3.0 points); make power adds seeds to them too" in said
    row = {"name": "beta_cct = 10.0", "kind": "kept", "gain_first": g(0.046), "gain": g(0.05, 0.018),
           "holds": True, "reached_bar": True}
    power = {"max_seeds": 12, "rows": [row], "provenance": {"complete": True}}
    text = power_study_sentence(power)
    assert "Not adopted on five seeds, beta_cct = 10.0 now beats the value kept by more than two standard errors" \
        in text and "not settled by this record either" in text and "Its one comparison is at the bar" in text
    assert power_rows(power) == [["beta_cct = 10.0", "not adopted", "+4.6 ± 3.0", "5", "+5.0 ± 1.8",
                                  "above two SE: would be adopted"]]
    power["rows"] = [{**row, "holds": False}]
    assert power_rows(power)[0][-1] == "within two SE" and "not settled" not in power_study_sentence(power)
    power["rows"] = [{**row, "holds": False, "gain": g(-0.06, 0.018), "reached_bar": False}]
    assert power_rows(power)[0][-1] == "below by more than two SE; SE above the bar"
    made = record_of([{"point": {}, "neighbours": []}], decisions)
    power = {"max_seeds": 12, "rows": [row], "provenance": {"complete": True}, "ablation": "ablations-cpu.json"}
    assert power_study_sentence(power, made).startswith("The power study (make power) adds")  # the record's own
    made["decisions"]["beta_cct"]["gains"][0]["gain"] = g(0.03)  # another ablation's five-seed gain
    text = power_study_sentence(power, made)
    assert "results/power-cpu.json) was made from another ablation record" in text and "+4.6" not in text
    assert "another ablation record" in power_study_sentence({**power, "rows": [{**row, "name": "x = 1"}]}, made)
    assert power_rows(power, made) == []  # nor tabled


def test_a_scoring_value_is_compared_on_the_book_model_of_each_seed_scored_with_every_combination():
    made = record_of([{"point": {}, "neighbours": []}], {})
    made["grids"]["scoring"] = {"ridge_lambda": [1.0, 0.1], "prototype_norm": [False, True]}
    made["scoring"] = {"reference": {"ridge_lambda": 1.0, "prototype_norm": False},
                       "adopted": {"ridge_lambda": 1.0, "prototype_norm": True},
                       "gains": [{"value": {"ridge_lambda": 1.0, "prototype_norm": True},
                                  "gain": {"mean": 0.1, "se": 0.03, "n": 5}}]}
    (c,) = comparisons(made)
    assert (c["name"], c["base"], c["kind"]) == ("ridge_lambda = 1.0, prototype_norm = True (scoring)", "retest",
                                                 "adopted")
    assert len(c["combos"]) == 4 and c["adopted"] == made["scoring"]["adopted"]

    class Scored(Ablation):
        def scored(self, step, prepared, overrides, seed, measure):
            assert step == "scoring" and overrides == {}
            self.trained.append(("scored", seed))
            gain = 0.3 if seed == 0 else 0.1  # one seed apart, as a failed run is
            return {"scores": {json.dumps(k, sort_keys=True): {"cct": {"T1": 0.5 + gain * k["prototype_norm"]}}
                               for k in c["combos"]}}

    ab = Scored(stored_seeds=range(5))
    ab.ledger.sub = lambda name: ab.ledger
    ab.ledger.stored |= {(ab.base.lam_div, s) for s in range(12)}
    row = add_seeds(ab, c, make_config("smoke"), max_seeds=12, stored_only=False)
    assert row["gain"]["mean"] == pytest.approx(0.1 + 0.2 / len(row["seeds"]))
    assert ("scored", 5) in ab.trained and row["kind"] == "adopted"


def test_a_move_two_changes_away_is_one_comparison_naming_both_changes():
    gain = {"mean": -0.02, "se": 0.03, "n": 5}
    start, to = {"attention_training": "full", "grouping_smoothing": 0.0}, {"attention_training": "heads",
                                                                          "grouping_smoothing": 0.1}
    rounds = [{"point": start, "neighbours": [{"setting": "attention_training + grouping_smoothing", "value": to,
                                               "point": to, "gain": gain, "changes": 2}]},
              {"point": to, "neighbours": []}]
    record = record_of(rounds, {})
    assert [(c["name"], c["adopted"], c["reference"]) for c in comparisons(record)] == [
        ("attention_training = 'heads', grouping_smoothing = 0.1 (search)", to, start)]
    rounds[0]["check"] = {"passed": False}  # forced away from a dead attention: no gain decided it, no power to add
    assert comparisons(record_of(rounds, {})) == []


def test_the_study_refuses_an_ablation_made_on_other_seeds(tmp_path, monkeypatch):
    path = tmp_path / "ablations-smoke.json"
    path.write_text(json.dumps({"provenance": {"seeds": [0, 1]}}))
    monkeypatch.setattr(power, "FIRST_SEEDS", (0, 1, 2, 3, 4))
    from sgma_core.studies import ablate

    monkeypatch.setattr(ablate, "read_record", lambda p: json.loads(path.read_text()))
    with pytest.raises(ValueError, match=r"made on seeds \[0, 1\], not \[0, 1, 2, 3, 4\]"):
        power.run_power("smoke", ablation=path, progress=False)


def test_chapter_05_says_what_the_seeds_added_changed_and_how_far_the_study_is():
    from bookkit.power_views import power_rows, power_study_sentence

    assert "has not been run" in power_study_sentence(None)
    g5, g9 = {"mean": 0.093, "se": 0.024, "n": 5}, {"mean": 0.031, "se": 0.019, "n": 9}
    row = {"name": "lam_div = 0.1", "gain_first": g5, "gain": g9, "holds": False, "reached_bar": True}
    power = {"max_seeds": 12, "rows": [row], "provenance": {"complete": False}}
    text = power_study_sentence(power)
    assert "The gain that adopted lam_div = 0.1 no longer exceeds two standard errors, so this record does not " \
        "settle it" in text and "The study is in progress" in text
    assert power_rows(power) == [["lam_div = 0.1", "adopted", "+9.3 ± 2.4", "9", "+3.1 ± 1.9",
                                  "no longer above two SE"]]
    text = power_study_sentence({**power, "rows": [{**row, "holds": True}], "provenance": {"complete": True}})
    assert "not settle" not in text and "The power study is complete." in text
    assert "No decision changes with the seeds added: each adopted value's gain still exceeds" in text
    kept = {**row, "name": "beta_cct = 3.0", "kind": "kept", "holds": False, "reached_bar": False}
    text = power_study_sentence({**power, "rows": [{**row, "holds": True}, kept]})
    assert "1 of its 2 comparisons is at the bar" in text and "No decision changes" in text
    assert "0 of its 2 comparisons are at the bar" in power_study_sentence({**power, "rows": [kept, kept]})
    text = power_study_sentence({**power, "rows": [kept, {**kept, "reached_bar": True}]})
    assert "No decision changes with the seeds added: no value not adopted now beats" in text
    text = power_study_sentence({**power, "rows": [{**kept, "reached_bar": True}] * 3})
    assert "All 3 of its comparisons are at the bar." in text
    assert "No decision changes" not in power_study_sentence({**power, "rows": [row]})  # the adoption lost


def test_a_second_process_takes_the_comparisons_from_the_last_and_seeds_are_refused_otherwise(monkeypatch):
    from types import SimpleNamespace

    seen = {}
    monkeypatch.setattr(power, "run_power", lambda *a, **k: seen.update(k) or {})
    args = SimpleNamespace(profile="smoke", data_root=None, runs_dir=None, stored_only=False, seeds=[1, 2, 0],
                           helper=True, retrain=True)
    power._run(args, None)
    assert seen["last_first"] and seen["out"] is None and seen["retrain"]
    with pytest.raises(ValueError, match="--seeds"):
        power._run(SimpleNamespace(**{**vars(args), "helper": False}), None)


def test_the_table_and_the_sentences_name_a_comparison_alike():
    from bookkit.power_views import power_rows, power_study_sentence

    g5, g12 = {"mean": 0.108, "se": 0.029, "n": 5}, {"mean": -0.01, "se": 0.02, "n": 12}
    row = {"name": "ridge_lambda = 1.0, prototype_norm = True (scoring)", "kind": "adopted", "gain_first": g5,
           "gain": g12, "holds": False, "reached_bar": True, "adopted": {"ridge_lambda": 1.0, "prototype_norm": True},
           "reference": {"ridge_lambda": 1.0, "prototype_norm": False}}
    power = {"max_seeds": 30, "rows": [row], "provenance": {"complete": False}}
    assert power_rows(power)[0][0] == "prototype_norm = on (scoring)"  # only what changed, as a sentence says it
    assert "The gain that adopted prototype_norm = on (scoring) no longer exceeds" in power_study_sentence(power)
