"""Chapter 05's view of the search: a row per reading tried with its check and admissibility, and the path in
one sentence that reads as prose; built from a real search over readings scored by hand."""

import json

from bookkit.search_views import grid_sentence, point_text, search_rows, search_sentence
from bookkit.wording import prose_defects
from sgma_core.studies.search import search
from tests.test_search import GRID, START, FakeAblation


def _record(score, max_moves=4):
    return {"search": search(FakeAblation(score), GRID, START, max_moves=max_moves)}


def _literal_dead(p):
    alive = p["attention_norm"] != "none"
    return (0.5 + 0.1 * (p["joint_size"] == 32) if alive else 0.9), alive


def test_every_reading_tried_is_a_row_with_its_check_and_the_move_is_marked():
    record = _record(_literal_dead)
    rows = search_rows(record)
    n_rounds = len(record["search"]["rounds"])
    assert len(rows) == n_rounds * (1 + 3)  # each round: its point and one neighbour per choice
    literal = next(r for r in rows if r[1] == "`attention_norm` → `none`")
    assert literal[5].startswith("no: ") and "failed" in literal[5] and literal[2] == "90.0"
    moved = [r for r in rows if r[1].endswith("(moved here)")]
    assert [r[1] for r in moved] == ["`joint_size` → `32` (moved here)"] and moved[0][5] == "yes"
    assert rows[0][1] == "**the start** (the round's point)"


def test_the_path_is_told_in_prose_with_its_gain_and_why_it_stopped():
    text = search_sentence(_record(_literal_dead))
    assert ("moved to joint_size = 32 (+10.0 ± 0.4 points; the admissible neighbour of largest gain above two "
            "standard errors)") in text, text
    assert "settled there after one move: no admissible neighbour beats it by two standard errors." in text
    assert prose_defects(text) == [], text
    unsettled = search_sentence(_record(lambda p: (0.4 + 0.1 * (p["joint_size"] == 32)
                                                   + 0.05 * (p["attention_training"] == "none"), True), max_moves=1))
    assert "stopped after its one move, with a neighbour still better" in unsettled, unsettled


def test_every_reading_outside_the_search_has_its_check_by_the_mean_over_its_seeds():
    from bookkit.search_views import check_rows

    def check(seed, hits):
        return {"seed": seed, "distinct_places": 0.4, "different_cells": 0.95, "telling_hits": hits,
                "best_fixed_point_hits": 0.43, "passed": hits > 0.43}

    record = {"checks": [{"setting": "SEARCH", "value": {"a": 1}, **check(0, 0.9)},
                         {"setting": "lam_div", "value": 10.0, **check(0, 0.9)},
                         {"setting": "lam_div", "value": 10.0, **check(1, 0.1)},  # mean 0.5: above the fixed point
                         {"setting": "PAPER_READING", "value": "paper_reading", **check(0, 0.2)},
                         {"setting": "RETEST", "value": {"a": 1}, **check(0, 0.9)}]}  # the retest's own table shows it
    rows = check_rows(record)
    assert [r[:3] for r in rows] == [["`lam_div`", "`10`", "2"], ["the paper's reading", "–", "1"]]
    assert rows[0][4] == "yes" and rows[1][4].startswith("no: telling-part hits above the best fixed point failed")


def test_a_move_left_undone_is_not_marked_and_an_end_that_is_not_admissible_is_said():
    record = _record(lambda p: (0.4 + 0.1 * (p["joint_size"] == 32) + 0.05 * (p["attention_training"] == "none"),
                                True), max_moves=1)
    rows = search_rows(record)
    last_round = str(len(record["search"]["rounds"]))
    assert not [r for r in rows if r[0] == last_round and r[1].endswith("(moved here)")]
    assert [r for r in rows if r[0] == "1" and r[1].endswith("(moved here)")]
    dead = search_sentence(_record(lambda p: (0.5, False)))  # nothing is admissible: the search stays
    assert "The reading it ended at is not admissible" in dead and prose_defects(dead) == [], dead


def test_the_flag_table_lists_the_searched_choices_against_the_papers_reading():
    from bookkit.ablation_views import flag_rows

    record = {**_record(_literal_dead), "decisions": {}, "scoring": {}, "chosen": {},
              "paper_reading": {"attention_norm": "none", "attention_training": "full"}}
    rows = {r[0]: r for r in flag_rows(record)}
    assert rows["`attention_norm`"][1:3] == ["`none`", "`standardize`"]
    assert rows["`joint_size`"][1:3] == ["half the image, the paper's 224 px of 448", "`32`"]
    assert "admissible" in rows["`joint_size`"][3]
    ran = {r[0]: r for r in flag_rows({**record, "paper_reading_as_run": {"joint_size": 16}})}
    assert ran["`joint_size`"][1] == "half the image, the paper's 224 px of 448 (run at `16`)"  # and its size here


def test_readings_that_scored_exactly_alike_on_every_seed_are_named():
    from bookkit.search_views import alike_sentence

    record = _record(_literal_dead)
    tried = {json.dumps(n["point"], sort_keys=True) for rnd in record["search"]["rounds"] for n in rnd["neighbours"]}
    points = [json.loads(k) for k in sorted(tried)]
    assert alike_sentence(record) == ""  # no rows: nothing can be said alike

    def rows_of(point, t1):
        return [{"setting": "SEARCH", "value": point, "seed": s, "split": "val", "rule": "compat", "T1": t1 + s,
                 "u": 0.1, "s": 0.2, "H": 0.3} for s in range(5)]

    def checks_of(point, hits):
        return [{"setting": "SEARCH", "value": point, "seed": s, "distinct_places": 0.4, "different_cells": 0.95,
                 "telling_hits": hits} for s in range(5)]

    a, b, c = points[:3]
    record["runs"] = rows_of(a, 0.5) + rows_of(b, 0.5) + rows_of(c, 0.5)
    record["checks"] = checks_of(a, 0.8) + checks_of(b, 0.8) + checks_of(c, 0.7)  # c: the same scores, other squares
    text = alike_sentence(record)
    start = record["search"]["start"]
    assert f"({point_text(a, start)}) and ({point_text(b, start)})" in text or \
        f"({point_text(b, start)}) and ({point_text(a, start)})" in text, text
    assert f"({point_text(c, start)})" not in text and prose_defects(text) == [], text
    record["runs"][0] = {**record["runs"][0], "T1": 0.51}  # one seed differs: no longer alike
    assert alike_sentence(record) == ""


def test_the_grid_is_read_from_what_the_search_tried_and_the_bars_from_their_declaration():
    from bookkit.search_views import bars_sentence, grid_sentence
    from sgma_core.admissibility import THRESHOLDS

    text = grid_sentence(_record(_literal_dead, max_moves=3))
    assert text.startswith("The search decided three choices, each among the values it tried: "), text
    assert "`attention_norm` standardize or none" in text and "could move at most three times (a budget" in text, text
    assert prose_defects(text) == [], text
    bars = bars_sentence()
    assert f"{100 * THRESHOLDS['different_cells']:.0f} % of the images" in bars and prose_defects(bars) == []


def test_what_admissibility_costs_is_the_best_inadmissible_reading_against_the_end_paired_by_seed():
    from bookkit.search_views import price_sentence

    def score(p):  # the literal reading scores best and dies; the search ends at joint_size 32
        return _literal_dead(p)

    record = _record(score)
    end = record["search"]["end"]
    literal = next(n["point"] for n in record["search"]["rounds"][0]["neighbours"] if n["value"] == "none")
    rows = [{"setting": "SEARCH", "value": p, "seed": s, "split": "val", "rule": "compat", "T1": t1 + 0.01 * s * k}
            for p, t1, k in ((literal, 0.9, 1), (end, 0.6, 0)) for s in range(5)]
    text = price_sentence({**record, "runs": rows})
    assert text.startswith("The best mean validation T1 of any reading tried, 90.0 % (attention_norm = none)"), text
    assert "it scores +32.0 ± 0.7 points of validation T1, paired by seed. That is what keeping" in text, text
    assert "at the settings the search holds fixed (eq. (9)'s weights among them" in text, text
    assert prose_defects(text) == [], text
    alive = _record(lambda p: (0.5 + 0.1 * (p["joint_size"] == 32), True))  # the best is admissible: nothing to say
    assert price_sentence(alive) == ""


def test_no_cost_is_claimed_where_the_end_is_not_alive_either_or_no_seeds_pair():
    from bookkit.search_views import price_sentence

    record = _record(_literal_dead)
    end = record["search"]["end"]
    literal = next(n["point"] for n in record["search"]["rounds"][0]["neighbours"] if n["value"] == "none")
    rows = [{"setting": "SEARCH", "value": p, "seed": s, "split": "val", "rule": "compat", "T1": t1}
            for p, t1 in ((literal, 0.9), (end, 0.6)) for s in range(5)]
    assert price_sentence({**record, "runs": rows[:1] + rows[5:6]}) == ""  # one seed each: no paired difference
    dead_end = {**record, "search": {**record["search"], "admissible": False}, "runs": rows}
    assert price_sentence(dead_end) == ""


def _schedules(setting, value, cuts, share):
    return [{"setting": setting, "value": value, "seed": i, "lr_cut_after_epoch": c, "attention_share": share}
            for i, c in enumerate(cuts)]


def test_the_schedule_sentence_names_the_first_cut_and_the_values_that_move_it():
    from bookkit.search_views import schedule_sentence

    record = {"provenance": {"config": {"lr_factor": 0.1, "plateau_threshold": 0.05, "plateau_patience": 1,
                                        "epochs": 16}},
              "search": {"end": {"attention_training": "none"}},
              "decisions": {"lam_div": {}, "cct_negatives": {}, "alpha_cls": {}},
              "schedules": _schedules("SEARCHED", "searched", [4, 6, 4, 4, 4], 0.95)
              + _schedules("lam_div", 0.1, [11, 8, 11, 10, 10], 0.9)
              + _schedules("cct_negatives", "hardest", [4, 5, 4, 4, 5], 0.94)  # moves it by less than two epochs
              + _schedules("alpha_cls", 3.0, [None, None, None, 9, 8], 0.9)}  # most seeds never cut
    text = schedule_sentence(record)
    assert "cut 10-fold" in text and "5 % (relative) for two epochs in a row" in text
    assert "95 % of the loss and the learning rate is first cut after epoch 4 (of 16" in text
    assert "have no gradient and train nothing" in text
    assert "lam_div = 0.1: eqs. (5)–(6) are 90 % of the loss and the learning rate is first cut after epoch 10;" in text
    assert "alpha_cls = 3: eqs. (5)–(6) are 90 % of the loss and the learning rate is never cut" in text
    assert "cct_negatives" not in text and "L_DIV moves no gradient of a frozen attention" in text
    assert "adopted together" not in text  # no book's configuration in this record
    book = {**record, "book_on_validation": {"settings": {"lam_div": 0.1}},
            "schedules": record["schedules"] + _schedules("BOOK", "book", [12, 13, 12, 14, 12], 0.8)}
    assert ("With the values adopted together (the book's configuration), eqs. (5)–(6) are 80 % of the loss and the "
            "learning rate is first cut after epoch 12.") in schedule_sentence(book)
    trained = {**record, "search": {"end": {"attention_training": "full"}}}
    assert "train nothing" not in schedule_sentence(trained) and "frozen" not in schedule_sentence(trained)
    assert schedule_sentence({**record, "schedules": []}) == "" and schedule_sentence({"runs": []}) == ""


def test_the_search_gone_on_at_the_adopted_training_values_is_told_with_its_best_neighbour():
    from bookkit.search_views import retest_sentence

    settled = _record(_literal_dead)["search"]
    again = search(FakeAblation(_literal_dead), GRID, settled["end"], max_moves=4)
    record = {"search": settled, "retest": {"training": {"lam_div": 0.1}, **again}}
    text = retest_sentence(record)
    assert "(changes: lam_div = 0.1)" in text and "settled at the reading it started from" in text, text
    assert "no admissible neighbour beats it by two standard errors; its best admissible neighbour" in text, text
    assert prose_defects(text) == [], text
    assert search_rows(record, "retest")[0][1].endswith("(the round's point)")
    moved = {"search": settled, "retest": {"training": {}, **search(FakeAblation(_literal_dead), GRID, START, 4)}}
    assert "moved to joint_size = 32 (+10.0 ± 0.4 points)" in retest_sentence(moved)
    assert "(changes: none)" in retest_sentence(moved) and retest_sentence({"search": settled}) == ""
    assert "No training value was adopted one factor at a time" in retest_sentence(moved)
    assert "they may change" not in retest_sentence(moved) and "they may change" in text


def test_the_power_sentence_names_each_adopted_gain_whose_standard_error_is_above_two_points():
    from bookkit.power_views import power_sentence

    def gain(mean, se, n=5):
        return {"mean": mean, "se": se, "n": n}

    record = {"search": {"rounds": []},
              "decisions": {"lam_div": {"reference": 1.0, "adopted": 0.1,
                                        "gains": [{"value": 0.1, "gain": gain(0.09, 0.024)},
                                                  {"value": 10.0, "gain": gain(-0.05, 0.05)}]},
                            "beta_cct": {"reference": 1.0, "adopted": 10.0,
                                         "gains": [{"value": 10.0, "gain": gain(0.07, 0.012)}]},
                            "shared_W": {"reference": False, "adopted": False,
                                         "gains": [{"value": True, "gain": gain(-0.09, 0.007)}]}}}
    text = power_sentence(record)
    # sd = 0.024 · √5 ≈ 0.0537; (0.0537 / 0.02)² ≈ 7.2 → 8 seeds; the value not adopted is not counted
    assert "Of the two paired gains that adopted a value" in text and "one has a standard error above 2 points" in text
    assert "lam_div = 0.1 (2.4; about 8 seeds)" in text and "which value wins is settled" in text, text
    assert prose_defects(text) == [], text
    record["decisions"]["lam_div"]["gains"][0]["gain"] = gain(0.01, 0.024)  # within two SE: nothing settled
    assert "settled" not in power_sentence(record)
    record["decisions"]["lam_div"]["gains"][0]["gain"] = gain(0.09, 0.01)
    assert power_sentence(record) == "On five seeds, every adopted value's paired gain has a standard error of 2 " \
        "points or less."


def test_a_widened_move_is_a_row_and_a_step_of_the_path_naming_each_change():
    def two_away_frozen(p):  # only readings two changes away with the attention frozen are alive
        changed = sum(p[s] != START[s] for s in GRID)
        return 0.5 + 0.05 * (p["joint_size"] == 32), changed == 2 and p["attention_training"] == "none"

    record = _record(two_away_frozen)
    rows = search_rows(record)
    moved = [r for r in rows if r[1].endswith("(moved here)")]
    assert [r[1] for r in moved] == ["`attention_training` → `none`, `joint_size` → `32` (moved here)"]
    assert sum(r[0] == "1" for r in rows) == 1 + 3 + 3  # the point, three neighbours, three readings two away
    text = search_sentence(record)
    assert ("moved to attention_training = none, joint_size = 32 (+5.0 ± 0.4 points; the reading it left was not "
            "admissible, nor was any reading fewer than two changes away from it, so it took the admissible reading "
            "two changes away of best mean validation T1)") in text, text
    assert prose_defects(text) == [], text
    assert grid_sentence(record).count("`joint_size` 16 or 32") == 1


def test_the_margin_over_the_best_fixed_point_is_paired_and_said_with_its_verdict():
    def record(hits):
        return {"checks": [{"setting": "BOOK", "seed": s, "telling_hits": h, "best_fixed_point_hits": 0.426}
                           for s, h in enumerate(hits)] + [{"setting": "SEARCH", "telling_hits": 0.0,
                                                            "best_fixed_point_hits": 0.426}]}

    from bookkit.search_views import margin_sentence

    noisy = margin_sentence(record([0.379, 0.425, 0.523, 0.470, 0.412]))  # the means differ, within two SEs
    assert "44.2 %" in noisy and "42.6 %" in noisy and not prose_defects(noisy)
    assert "+1.6 ± 2.5 points (mean ± standard error over five seeds, paired; no difference)" in noisy
    assert "admits the configuration on them" in noisy and "these seeds do not show" in noisy
    below = margin_sentence(record([0.40, 0.41, 0.42, 0.39, 0.45]))
    assert "no difference" in below and "does not admit it" in below
    clear = margin_sentence(record([0.84, 0.86, 0.85, 0.83, 0.85]))
    assert "; higher)" in clear and "more often than any pixel fixed in advance" in clear
    assert margin_sentence(record([0.9])) == "" and margin_sentence({}) == ""
