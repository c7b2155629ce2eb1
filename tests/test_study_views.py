"""What chapters 05 and 06 say of the studies' records: verdicts from paired differences, and the title
question answered from the looking record whichever way it comes out."""

import pytest

from bookkit import study_views


def test_a_difference_within_two_standard_errors_is_no_difference():
    assert study_views.verdict({"mean": 0.05, "se": 0.02}) == "higher"
    assert study_views.verdict({"mean": -0.05, "se": 0.02}) == "lower"
    assert study_views.verdict({"mean": 0.039, "se": 0.02}) == "no difference"
    assert study_views.verdict(None) == "–"
    assert study_views.points({"mean": 0.0123, "se": 0.004}) == "+1.2 ± 0.4"
    assert study_views.mean_sd([0.5, 0.6, 0.7]) == "60.0 ± 10.0"  # sample standard deviation


def _record(book_box, centre_t1, oracle_t1=0.1, whole_t1=0.0):
    rows = [{"control": "book", "seed": s, "T1": 0.5, "where": {"part_box": b}} for s, b in enumerate(book_box)]
    gain = lambda m: {"mean": m, "se": 0.01, "n": 5}  # noqa: E731
    return {"rows": rows, "references": {"image centre": {"part_box": 0.2}, "random points": {"part_box": 0.1}},
            "paired": {"image_centre": {"T1": gain(centre_t1)}, "random_places": {"T1": gain(centre_t1)},
                       "whole_image": {"T1": gain(whole_t1)}, "oracle_parts": {"T1": gain(oracle_t1)}}}


@pytest.mark.parametrize("book_box, centre_t1, learns, matters", [
    ((0.6, 0.62, 0.58, 0.61, 0.59), -0.1, True, True),
    ((0.6, 0.62, 0.58, 0.61, 0.59), 0.005, True, False),
    ((0.19, 0.22, 0.18, 0.21, 0.2), -0.1, False, True),
    ((0.19, 0.22, 0.18, 0.21, 0.2), 0.0, False, False),
])
def test_the_answer_follows_the_record(book_box, centre_t1, learns, matters):
    answer = study_views.looking_answer(_record(book_box, centre_t1))
    assert ("SGMA learns where to look" in answer) is learns
    assert ("shows no sign that it learns where to look" in answer) is not learns
    assert ("squares put without looking lose T1" in answer) is matters
    assert ("recognise no worse than the book's" in answer) is not matters
    assert "squares at the annotated parts raise test T1 by 10.0 ± 1.0 points" in answer
    assert "whole image" not in answer  # within two standard errors of the book's: not mentioned
    assert "for squares at the annotated parts" not in answer  # the record holds no oracle squares to score
    record = _record(book_box, centre_t1)
    record["rows"] += [{"control": "oracle_parts", "seed": s, "T1": 0.6, "where": {"part_box": b}}
                       for s, b in enumerate((0.36, 0.37))]
    assert "random points, and 36.5 % for squares at the annotated parts" in study_views.looking_answer(record)


def test_squares_put_without_looking_that_score_higher_are_said_to_and_a_frozen_attention_finds():
    record = {**_record((0.6, 0.62, 0.58, 0.61, 0.59), 0.05),
              "provenance": {"config": {"attention_training": "none"}}}
    answer = study_views.looking_answer(record)
    assert "squares put without looking recognise better (test T1) than the book's (both squares at the image " \
           "centre, 5.0 ± 1.0 points" in answer, answer
    assert "no worse" not in answer and "lose T1" not in answer
    assert answer.startswith("SGMA finds where to look") and "does not train further" in answer, answer


def test_the_answer_names_the_oracle_and_the_whole_image_whichever_way_they_go():
    answer = study_views.looking_answer(_record((0.19, 0.22, 0.18, 0.21, 0.2), 0.0, oracle_t1=0.0, whole_t1=0.07))
    assert "even squares at the annotated parts leave test T1 where it is" in answer
    assert "the whole image three times does better by 7.0 ± 1.0 points" in answer
    answer = study_views.looking_answer(_record((0.19, 0.22, 0.18, 0.21, 0.2), 0.0, oracle_t1=-0.05, whole_t1=-0.05))
    assert "lower test T1 by 5.0 ± 1.0" in answer and "does worse by 5.0 ± 1.0" in answer
    record = _record((0.19, 0.22, 0.18, 0.21, 0.2), 0.0)
    record["paired"]["baseline"] = {"T1": {"mean": 0.19, "se": 0.02, "n": 5}}
    assert "the baseline without parts does better by 19.0 ± 2.0 points" in study_views.looking_answer(record)


def test_a_ceiling_of_recognition_is_said_only_where_every_control_that_moves_the_squares_reaches_it():
    record = _record((0.6, 0.62, 0.58, 0.61, 0.59), 0.0)
    assert "little room" not in study_views.looking_answer(record)  # T1 0.5: far from the ceiling
    near = {c: t for c, t in (("book", 0.99), ("image_centre", 0.995), ("random_places", 0.985),
                              ("whole_image", 0.98), ("oracle_parts", 0.99))}
    record["rows"] = [{"control": c, "seed": s, "T1": t, "where": {"part_box": 0.6}} for c, t in near.items()
                      for s in range(5)]
    answer = study_views.looking_answer(record)
    assert "These test classes leave recognition little room" in answer
    assert "recognise 98.0 % or more of the unseen test images" in answer and "by 2.0 points at most" in answer
    record["rows"] = [r for r in record["rows"] if r["control"] != "random_places"] + [
        {"control": "random_places", "seed": s, "T1": 0.9, "where": {"part_box": 0.2}} for s in range(5)]
    assert study_views.ceiling_sentence(record) == ""  # one control below the ceiling: T1 has room to show it


def test_the_answer_waits_for_runs_it_does_not_have():
    record = _record((0.6, 0.6), 0.0)
    record["paired"] = {}
    assert "awaits the controls' runs" in study_views.looking_answer(record)
    assert "no run of the book's configuration" in study_views.looking_answer({**record, "rows": []})


def test_an_answer_from_a_study_in_progress_says_so_and_names_what_is_missing():
    record = {**_record((0.6, 0.62, 0.58, 0.61, 0.59), -0.1), "provenance": {"complete": False},
              "controls": ["book", "image_centre", "random_places", "whole_image", "oracle_parts", "no_cct"]}
    answer = study_views.looking_answer(record)
    assert answer.startswith("So far (the study is in progress; no runs yet of: β_CCT = 0): SGMA learns")


def test_a_study_in_progress_is_not_said_to_predate_the_rows_it_has_yet_to_reach():
    from sgma_core.studies.looking import CONTROLS

    record = {"controls": dict(CONTROLS), "rows": [{"control": "book", "seed": 0}],
              "provenance": {"complete": False}}
    assert study_views.missing_controls_note(record) == ""  # the baselines come last: not reached yet
    finished = {**record, "provenance": {"complete": True}}  # finished without them: made before they existed
    assert "the baseline of chapter 02" in study_views.missing_controls_note(finished)
    older = {**record, "controls": {c: v for c, v in CONTROLS.items() if c != "no_cct"}}
    assert study_views.CONTROL_TEXT["no_cct"] in study_views.missing_controls_note(older)


def test_a_control_trained_as_another_rows_runs_says_so():
    record = {"same_as": {"attention_none": "book"}}
    assert study_views.control_label(record, "attention_none") == (
        f"{study_views.CONTROL_TEXT['attention_none']} (the same runs as {study_views.CONTROL_TEXT['book']})")
    assert study_views.control_label(record, "no_cct") == study_views.CONTROL_TEXT["no_cct"]
    assert study_views.control_label({}, "attention_none") == study_views.CONTROL_TEXT["attention_none"]


def test_the_books_row_says_how_its_squares_are_placed_from_the_records_configuration():
    learned = {"same_as": {"learned_centre": "book"}, "provenance": {"config": {"centre_rule": "learned"}}}
    assert study_views.control_text(learned, "book") == "the book's configuration: squares regressed from the maps"
    assert study_views.control_label(learned, "learned_centre").endswith(
        "(the same runs as the book's configuration: squares regressed from the maps)")
    peak = {"provenance": {"config": {"centre_rule": "peak"}}}
    assert study_views.control_text(peak, "book") == "the book's configuration: squares at the maps' peaks"
    assert study_views.control_text({}, "book") == "the book's configuration"  # a record that does not say
    assert study_views.control_text(peak, "no_cct") == study_views.CONTROL_TEXT["no_cct"]


def test_the_controls_that_are_the_book_itself_are_named_from_the_record():
    from bookkit.study_views import book_twins_sentence

    record = {"same_as": {"attention_heads": "book", "baseline_joint_input": "baseline"}}
    assert book_twins_sentence(record) == "in the record rendered here, this is “only the attention heads train”"
    assert book_twins_sentence({"same_as": {}}) == "in the record rendered here no control is"
    assert book_twins_sentence(None) == "the record says which once it is made"


def test_the_introductions_finding_names_the_attentions_settings_the_search_changed_from_the_papers():
    from bookkit.summary import _attention_found

    paper = {"attention_norm": "none", "attention_training": "full", "centre_rule": "peak", "grouping_smoothing": 0.0}
    end = {**paper, "attention_norm": "standardize_learned", "centre_rule": "learned", "joint_size": 64}
    record = {"search": {"end": end}, "paper_reading": paper, "provenance": {"config": {"image_size": 64}}}
    text = _attention_found(record)
    assert "ended at attention_norm = standardize_learned, centre_rule = learned and joint_size = 64" in text
    record["search"]["end"] = {**paper, "joint_size": 32}  # the paper's attention, branches at half the image
    assert "ended at the paper's reading of the attention" in _attention_found(record)
    assert _attention_found({"paper_reading": paper}) == ""  # a record made before the search


def test_a_training_chapter_quotes_the_records_spread_only_for_its_own_settings():
    rows = [{"control": c, "seed": s, "T1": t + 0.01 * s, "H": t} for c, t in (("book", 0.9), ("baseline", 0.8))
            for s in range(5)]
    gain = {"T1": {"mean": -0.1, "se": 0.01, "n": 5}, "H": {"mean": -0.1, "se": 0.01, "n": 5}}
    made = {"centre_rule": "peak", "lam_div": 0.1, "epochs": 16}
    record = {"profile": "cpu", "rows": rows, "paired": {"baseline": gain}, "provenance": {"config": made}}
    same = study_views.looking_spread(record, config={**made, "seed": 3})
    assert "the same configuration reaches test T1 92.0 ± 1.6 %" in same
    other = study_views.looking_spread(record, config={**made, "centre_rule": "learned", "lam_div": 1.0})
    assert "the same configuration" not in other and "92.0" not in other
    assert "centre_rule peak there, learned here; lam_div 0.1 there, 1 here" in other
    assert "`make looking`" in other
    assert "the same baseline reaches" in study_views.looking_spread(record, model="baseline", config={})


def test_the_views_of_a_record_with_other_settings_say_so_in_one_sentence():
    from bookkit.squares_views import record_hits_sentence

    made = {"centre_rule": "peak", "lam_div": 0.1}
    rows = [{"control": c, "seed": s, "T1": 0.9, "H": 0.9, "where": {"hits": 0.5, "telling_hits": 0.4},
             "squares": {"images": 10, "distinct_centres": 3, "map_spread": 1.0, "most_common_share": 0.5}}
            for c in ("book", "baseline") for s in range(3)]
    record = {"profile": "cpu", "rows": rows, "paired": {}, "provenance": {"config": made}}
    page = {**made, "lam_div": 1.0}
    said = [study_views.looking_spread(record, config=page), study_views.looking_mechanism(record, page),
            record_hits_sentence(record, 0, 0.5, 0.4, page)]
    for text in said:
        assert text.startswith("The record chapter 06 renders was made with other settings than this page's "
                               "(lam_div 0.1 there, 1 here), so ")
        assert text.endswith("not this run's: `make looking` makes it again.")
    assert len(set(said)) == 3  # each names what of the record is not the page's run
    assert "other settings" not in study_views.looking_spread(record, config=made)


def test_the_capacity_sentence_pairs_the_whole_image_with_the_baseline_and_the_book():
    from bookkit.study_views import capacity_sentence

    def rows(control, values):
        return [{"control": control, "seed": s, "T1": v} for s, v in enumerate(values)]

    record = {"rows": rows("book", [0.90, 0.91, 0.92, 0.93, 0.94]) + rows("whole_image", [0.90, 0.91, 0.92, 0.92, 0.94])
              + rows("baseline", [0.80, 0.82, 0.81, 0.80, 0.83])}
    said = capacity_sentence(record)
    assert "minus the baseline is +10.6 ± 0.5 points of test T1 (higher)" in said
    assert "the three more backbones account for the book's gain over the baseline" in said
    assert capacity_sentence({"rows": rows("book", [0.9, 0.9])}) == "" and capacity_sentence(None) == ""
