"""Sentences made by code read as prose: plurals, lists of numbers, settings' values, and percentages
rounded so that two numbers compared stay apart and agree with the table beside them. The sentences
of the book's tools are checked for the cases that once read as program output."""

import copy
import json

import pytest

from bookkit.wording import (
    count,
    join_words,
    number_word,
    numbered,
    percent_digits,
    percents,
    plural,
    prose_defects,
    seeds_text,
    setting_text,
    setting_value,
)
from sgma_core.paths import repo_root

LOOKING = repo_root() / "results" / "looking-cpu.json"


def test_numbers_and_plurals_read_as_words():
    assert [number_word(n) for n in (0, 1, 2, 10, 11)] == ["no", "one", "two", "ten", "11"]
    assert plural(1, "seed") == "seed" and plural(2, "seed") == "seeds" and plural(0, "class", "classes") == "classes"
    assert count(1, "CPU thread") == "one CPU thread" and count(2, "distinct pair") == "two distinct pairs"
    assert count(600, "image") == "600 images" and count(1, "seed", words=False) == "1 seed"


def test_lists_of_numbers_read_as_lists():
    assert join_words([0]) == "0" and join_words([0, 1]) == "0 and 1" and join_words([0, 1, 2]) == "0, 1 and 2"
    assert join_words(["a", "b"], "or") == "a or b"
    with pytest.raises(ValueError, match="at least one item"):
        join_words([])
    assert numbered("seed", [3]) == "seed 3" and seeds_text([2, 0, 1]) == "seeds 0, 1 and 2"


def test_settings_read_without_python_quotes():
    assert setting_value("none") == "none" and setting_value(True) == "on" and setting_value(False) == "off"
    assert setting_value(None) == "not set" and setting_value(1e-4) == "0.0001" and setting_value([0, 1]) == "0 and 1"
    assert setting_text("attention_norm", "none") == "attention_norm none"


def test_percentages_keep_two_different_numbers_apart_and_match_a_tables_decimals():
    assert percents(0.0018, 0.0121) == ["0.2 %", "1.2 %"]  # as the table shows them, not "0 % against 1 %"
    assert percents(0.12041, 0.11962) == ["12.04 %", "11.96 %"]  # one decimal would show 12.0 against 12.0
    assert percents(0.25, 0.25) == ["25.0 %", "25.0 %"]  # equal numbers need no more digits
    assert percent_digits([0.5, 0.5000001], most=3) == 3  # never more than asked for
    with pytest.raises(ValueError, match="finite"):
        percents(float("nan"), 0.1)


@pytest.mark.parametrize("text", ["the two squares take 2 distinct pair(s) of places",
                                  "This page trained with 1 CPU thread(s).",
                                  "differs by up to 5.8 points at seeds [0]", "at seeds [0, 2]",
                                  "(attention_norm = 'none' then, 'standardize' now)"])
def test_prose_defects_finds_what_reads_as_program_output(text):
    assert prose_defects(text)


@pytest.mark.parametrize("text", ["the two squares take two distinct pairs of places", "at seeds 0 and 2",
                                  "feature maps [128, 8, 8]", "the bird's head", "f(x) and g(s)"])
def test_prose_defects_leaves_prose_alone(text):
    assert prose_defects(text) == []


def _one_seed(record: dict) -> dict:
    """The looking record as if one seed had been trained: the book's configuration and the baseline, seed 0."""
    record = copy.deepcopy(record)
    record["rows"] = [r for r in record["rows"] if r["seed"] == 0]
    return record


@pytest.fixture(scope="module")
def looking():
    return json.loads(LOOKING.read_text())


def test_where_the_squares_land_is_said_for_one_seed_without_seeds_plurals(looking):
    from bookkit.study_views import looking_mechanism

    record = _one_seed(looking)
    for row in record["rows"]:  # the wording of squares in one place, whatever the committed record measured
        row.get("squares", {})["distinct_centres"] = 1
    one = looking_mechanism(record)
    assert prose_defects(one) == [], one
    assert "every seed" not in one and "between seeds" not in one and "whichever the seed" not in one
    assert "one distinct pair of places" in one
    record = copy.deepcopy(looking)
    for row in record["rows"]:
        row.get("squares", {})["distinct_centres"] = 2
    many = looking_mechanism(record)
    assert "two distinct pairs of places" in many and "(whichever the seed)" in many and prose_defects(many) == []


def test_flat_maps_are_said_seed_by_seed_even_where_one_seed_has_a_second_place(looking):
    from bookkit.study_views import looking_mechanism

    record = copy.deepcopy(looking)
    book = [r for r in record["rows"] if r["control"] == "book"]
    for i, row in enumerate(book):  # every seed one place; the second seed has a second place in one image
        row["squares"].update(distinct_centres=1 + (i == 1), most_common=[15.5, 15.5, 15.5, 15.5],
                              most_common_share=1.0 - (i == 1) / row["squares"]["images"])
    text = looking_mechanism(record)
    assert f"seeds of {len(book)} the maps are flat" in text and prose_defects(text) == [], text
    for row in book:
        row["squares"].update(distinct_centres=300, most_common_share=0.01)
    assert "flat" not in looking_mechanism(record)


def test_the_part_box_score_is_rounded_as_the_table_shows_it(looking):
    from bookkit.study_views import looking_answer, looking_where_rows

    record = copy.deepcopy(looking)
    for row in record["rows"]:
        if row["control"] == "book":
            row["where"]["part_box"] = 0.0020833
    record["references"]["image centre"]["part_box"] = 0.0125
    answer = looking_answer(record)
    table = {r[0]: r for r in looking_where_rows(record)}
    book = table[[k for k in table if k.startswith("the book's")][0]][4].split(" ±")[0]
    fixed = table["reference: image centre"][4]
    assert f"part-box score {book} ± " in answer and f"over five seeds) against {fixed} %" in answer, answer


def test_a_records_agreement_names_seeds_in_words():
    from bookkit.agreement import BookRuns, agreement_sentence
    from sgma_core.profiles import config_dict, make_config

    record = BookRuns("looking-cpu.json", "06_where_to_look", {}, None, "abc1234",
                      {0: {"T1": 0.7, "H": 0.4}, 2: {"T1": 0.9, "H": 0.5}})

    class Data:
        def fingerprint(self, scheme):
            return None

    for live in ([{"seed": 0, "T1": 0.8, "H": 0.5}],
                 [{"seed": 0, "T1": 0.8, "H": 0.5}, {"seed": 2, "T1": 0.6, "H": 0.5}]):
        sentence = agreement_sentence(config_dict(make_config("cpu")), Data(), live, "cpu", records=[record])
        assert prose_defects(sentence) == [] and "[" not in sentence, sentence


def test_a_runs_settings_are_titled_with_its_seeds_in_words(monkeypatch):
    from bookkit import display
    from bookkit.display import show_settings
    from sgma_core.profiles import make_config

    for seeds, said in (([0], "(seed 0)"), ([0, 1, 2], "(seeds 0, 1 and 2)")):
        shown = []
        monkeypatch.setattr(display, "show_markdown", shown.append)  # whether or not an IPython shell exists
        show_settings(make_config("smoke"), seeds)
        assert said in shown[0]


def test_a_records_configuration_change_reads_without_python_quotes():
    from bookkit.display import record_config_note

    note = record_config_note({"attention_norm": ("none", "standardize"), "prototype_norm": (False, True)}, "cpu",
                              "configuration", "Remake it.")
    assert "attention_norm none in the record, standardize at this commit" in note
    assert "prototype_norm off in the record, on at this commit" in note and "today" not in note
    assert prose_defects(note) == [], note


def test_a_records_data_note_does_not_go_stale(tmp_path):
    from bookkit.display import record_data_note

    missing = record_data_note({"provenance": {"dataset": "SYN", "data_fingerprint": "x"}}, tmp_path / "nothing")
    assert "today" not in missing
    from sgma_core.data import load_dataset

    try:
        dataset = load_dataset("SYN")
    except Exception:  # noqa: BLE001 - no generated data here: the sentence for missing data was checked above
        pytest.skip("the synthetic birds are not generated (make data)")
    for made in (dataset.fingerprint(), "other"):
        note = record_data_note({"provenance": {"dataset": "SYN", "data_fingerprint": made,
                                                "data_fingerprint_scheme": 2}})
        assert "today" not in note, note


def test_the_introductions_mean_and_spread_say_how_many_seeds(tmp_path, looking):
    from bookkit import summary

    one = _one_seed(looking)
    (tmp_path / "looking-cpu.json").write_text(json.dumps(one))
    rows = summary.measured_rows("cpu", tmp_path)
    assert rows and all(row[2] == "1" and "±" not in row[3] for row in rows)
    assert "over" not in summary.measured_title(rows) or "seeds" not in summary.measured_title(rows)
    five = summary.measured_rows("cpu")
    assert "mean ± sd over the seeds" in summary.measured_title(five)


def test_the_papers_table_fills_every_cell_or_says_why_not():
    from bookkit import summary

    rows, notes = summary.paper_rows(), summary.paper_notes()
    cells = [cell for row in rows for cell in row[1:]]
    assert not any("not checked" in cell for cell in cells)
    for cell in cells:
        if not cell.replace(".", "").isdigit():
            key = cell.split("(")[-1].rstrip(")")
            assert any(note.startswith(f"({key})") for note in notes), cell


def test_what_could_not_be_run_follows_the_data_found(tmp_path):
    from bookkit import summary

    text = " ".join(" ".join(row) for row in summary.not_run_rows(tmp_path / "nothing"))
    assert "model hub" not in text and "cannot be downloaded here" not in text
    assert "CUB not found" in text
    cub = tmp_path / "CUB"
    (cub / "xlsa17").mkdir(parents=True)
    found = " ".join(" ".join(row) for row in summary.not_run_rows(tmp_path))
    assert "CUB not found" not in found and "CUB found, not complete" in found


# ---- the book's sources and pages, scanned for what reads as program output ----------------------------

import ast  # noqa: E402

from bookkit.sources import BOOK, CHAPTERS  # noqa: E402
from bookkit.wording import PROSE_DEFECTS, markdown_prose, page_prose  # noqa: E402

PROSE_SOURCES = [*(BOOK / f"{name}.md" for name in CHAPTERS), BOOK / "course_guide.md", BOOK / "setup.md",
                 BOOK / "glossary.md", repo_root() / "README.md"]
SENTENCE_CODE = [*sorted((repo_root() / "bookkit").glob("*.py")), *(BOOK / f"{name}.py" for name in CHAPTERS)]


def test_markdown_prose_keeps_prose_and_drops_code_math_and_roles():
    source = ("---\njupytext: {}\n---\n\n# Title\n\nSome prose with `code(s)` and $f(s)$ and {glue:text}`x`.\n\n"
              "```{code-cell} ipython3\nprint(f'{n} seed(s)')\n```\n\n(sec-x)=\n## Part\n\n"
              "````{exercise} A question\n:label: ex-q\n\nIn seeds [0] the prose stays.\n\n"
              "```{literalinclude} /book/solutions.py\n:pyobject: f(s)\n```\n````\n\n```text\nmake seeds [0]\n```\n"
              "After the fences.\n")
    prose = markdown_prose(source)
    assert "Some prose with" in prose and "In seeds [0] the prose stays." in prose and "After the fences." in prose
    assert "(s)" not in prose and "print" not in prose and "make seeds" not in prose and "jupytext" not in prose
    assert "sec-x" not in prose and ":label:" not in prose


def test_page_prose_drops_code_outputs_and_math():
    html = ("<html><body><nav>seed(s) menu</nav><article><p>One seed, \\(f(s)\\).</p>"
            "<div class='cell_input'><pre>print('thread(s)')</pre></div><div class='output'><pre>3 run(s)</pre>"
            "<p>A glued sentence at seeds [0].</p></div><p>Inline <code>x = 'none'</code>.</p></article></body></html>")
    prose = page_prose(html)
    assert "One seed" in prose and "A glued sentence at seeds [0]." in prose
    assert "(s)" not in prose and "none" not in prose and "menu" not in prose


@pytest.mark.parametrize("path", PROSE_SOURCES, ids=lambda p: p.name)
def test_the_books_prose_has_no_program_output_wording(path):
    assert prose_defects(markdown_prose(path.read_text(encoding="utf-8"))) == []


def _strings(tree) -> list[str]:
    """Every string constant and every literal part of an f-string of a module, docstrings aside (they may quote
    what a sentence must not say)."""
    documented = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree) if isinstance(node, documented) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings]


@pytest.mark.parametrize("path", SENTENCE_CODE, ids=lambda p: p.name)
def test_the_code_that_writes_sentences_writes_no_plural_as_s_in_brackets(path):
    plural = PROSE_DEFECTS["a plural written as '(s)'"]
    found = [s for s in _strings(ast.parse(path.read_text(encoding="utf-8"))) if plural.search(s)]
    assert not found, f"{path.name}: use bookkit.wording.count or plural: {found}"


def test_the_telling_parts_are_named_as_the_part_files_name_them_with_the_attribute_word_they_carry():
    from types import SimpleNamespace

    import numpy as np

    from bookkit.display import telling_parts_phrase

    names = ["has_head_color::red", "has_head_color::blue", "has_bill_length::long", "has_bill_length::short",
             "has_wing_color::red", "has_wing_color::blue", "has_belly_color::grey"]
    att = np.array([[1, 0], [0, 1], [1, 0], [0, 1], [1, 0], [0, 1], [1, 1]], dtype=float)  # the belly never differs
    birds = SimpleNamespace(part_names=["beak", "crown", "eye", "left wing", "right wing", "belly"],
                            attribute_names=names, att=att)
    assert telling_parts_phrase(birds) == "beak (the bill), crown and eye (the head), left wing and right wing"
    assert telling_parts_phrase(SimpleNamespace(part_names=None, attribute_names=names, att=att)) == ""


def test_sgma_against_the_baseline_at_equal_input_is_said_with_its_paired_standard_error(looking):
    from bookkit.study_views import equal_input_sentence, looking_answer

    record = copy.deepcopy(looking)
    assert equal_input_sentence({"paired": {}}) == ""
    record["same_as"] = {}  # a baseline fed another size than its own
    record["paired"]["baseline_joint_input"] = {"T1": {"mean": -0.031, "se": 0.012, "n": 5}}  # control − book
    text = equal_input_sentence(record)
    assert "SGMA minus the baseline fed the images at the size SGMA's global branch sees is +3.1 ± 1.2 points" in text
    assert "paired over five seeds (mean ± standard error; SGMA higher)" in text and prose_defects(text) == []
    assert text in looking_answer(record)
    record["same_as"] = {"baseline_joint_input": "baseline"}  # SGMA's global branch sees the images at their size
    assert "global branch sees (here its own size) is +3.1 ± 1.2 points" in equal_input_sentence(record)
    record["paired"]["baseline_joint_input"]["T1"]["se"] = 0.02
    assert "no difference: within two standard errors" in equal_input_sentence(record)


def test_heads_that_train_are_said_to_move_the_squares_only_where_they_do(looking):
    from bookkit.study_views import looking_mechanism

    record = copy.deepcopy(looking)
    frozen = [dict(r, control="attention_none") for r in record["rows"] if r["control"] == "book"]
    heads = [dict(r, control="attention_heads", T1=r["T1"] - 0.01) for r in frozen]  # other numbers, same squares
    record["rows"] = [r for r in record["rows"] if r["control"] not in ("attention_none", "attention_heads")]
    record["rows"] += frozen + heads
    text = looking_mechanism(record)
    assert ("gives other test numbers than the frozen subnet (they differ in T1 on every seed and H on none), "
            "not where its squares land.") in text
    heads[0]["T1"], heads[0]["H"] = frozen[0]["T1"], frozen[0]["H"] + 0.01  # seed 0: H differs, T1 does not
    heads[1]["H"] = frozen[1]["H"] - 0.01
    n, m = number_word(len(heads)), number_word(len(heads) - 1)
    assert f"(they differ in T1 on {m} of the {n} and H on two of the" in looking_mechanism(record)
    heads[0]["where"] = {**heads[0]["where"], "hits": heads[0]["where"]["hits"] - 0.1}
    text = looking_mechanism(record)
    assert f"frozen subnet (they differ in T1 on {number_word(len(heads) - 1)} of the" in text
    assert "not where its squares land" not in text and prose_defects(text) == []
    made = looking["provenance"]["config"]
    assert looking_mechanism(record, config=made) == text  # quoted on a page of the record's own settings
    other = looking_mechanism(record, config={**made, "centre_rule": "image_centre"})
    assert "centre_rule" in other and "image_centre here" in other and "frozen subnet" not in other


def test_a_book_that_trains_its_attention_whole_is_set_against_the_controls_that_train_less(looking):
    from bookkit.study_views import looking_mechanism

    record = copy.deepcopy(looking)
    record["provenance"]["config"]["attention_training"] = "full"
    record["same_as"] = {}
    record["paired"]["attention_heads"]["T1"] = {"mean": -0.05, "se": 0.01, "n": 5}
    record["paired"]["attention_none"]["T1"] = {"mean": -0.002, "se": 0.01, "n": 5}
    text = looking_mechanism(record)
    assert "Against the book's attention trained whole, training only the heads moves test T1 by -5.0 ± 1.0" in text
    assert "freezing the attention subnet moves test T1 by -0.2 ± 1.0 points (no difference)" in text
    assert prose_defects(text) == [], text
    record["provenance"]["config"]["attention_training"] = "none"
    assert "against the book's attention" not in looking_mechanism(record)


def test_the_answer_says_when_the_literal_reading_recognises_otherwise(looking):
    from bookkit.study_views import looking_answer

    record = copy.deepcopy(looking)
    record["paired"]["literal_eq3"] = {"T1": {"mean": 0.006, "se": 0.001, "n": 5}}  # control − book
    assert "the paper's literal eq. (3) does better by 0.6 ± 0.1 points" in looking_answer(record)
    record["paired"]["literal_eq3"]["T1"]["se"] = 0.004
    assert "literal eq. (3) does" not in looking_answer(record)
