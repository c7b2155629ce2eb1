"""Every exercise solution is code in book/solutions/<chapter>.py that runs here and gives the answer its
chapter states; every solution function is shown by its own chapter, and every chapter's solutions name
functions that exist."""

import importlib.util
import inspect
import re
import types

import pytest

from sgma_core.paths import repo_root

BOOK = repo_root() / "book"


def solution_modules() -> dict[str, types.ModuleType]:
    """Each chapter's solutions (``book/solutions/<chapter>.py``), loaded by file, keyed by chapter."""
    modules = {}
    for path in sorted((BOOK / "solutions").glob("[0-9]*.py")):
        spec = importlib.util.spec_from_file_location(f"book_solutions_{path.stem}", path)
        modules[path.stem] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(modules[path.stem])
    return modules


def own_functions(module) -> set[str]:
    return {name for name, f in inspect.getmembers(module, inspect.isfunction) if f.__module__ == module.__name__}


@pytest.fixture(scope="module")
def exercises():
    """Every chapter's solutions in one namespace (a name defined twice is refused)."""
    modules, merged = solution_modules(), {}
    for module in modules.values():
        names = own_functions(module)
        assert not names & merged.keys(), f"{module.__file__}: {sorted(names & merged.keys())} defined twice"
        merged.update({name: getattr(module, name) for name in names})
    return types.SimpleNamespace(**merged)


def test_harmonic_mean_by_hand(exercises):
    assert exercises.harmonic_mean_by_hand() == pytest.approx(0.32)


def test_cct_on_three_points(exercises):
    hardest, mean = exercises.cct_on_three_points()
    assert hardest == pytest.approx(1.2, abs=1e-6) and mean == 0.0


def test_a_centre_rule_of_your_own_places_every_square_in_the_corner_and_leaves_the_registry(exercises):
    from sgma_core.centres import CENTRE_RULES

    before = dict(CENTRE_RULES)
    tx, ty, ts = exercises.a_centre_rule_of_your_own()
    assert tx == ty == [7.5, 7.5] and ts == [16.0, 16.0]
    assert CENTRE_RULES == before


def test_mask_at_one_pixel(exercises):
    edge, inside = exercises.mask_at_one_pixel()
    assert edge == pytest.approx(0.5, abs=1e-6) and inside == pytest.approx(0.99995, abs=1e-5)


def test_per_image_against_per_class(exercises):
    per_image, per_class = exercises.per_image_against_per_class()
    assert per_image == pytest.approx(0.82) and per_class == pytest.approx(0.5)


def test_softmax_loss_by_hand(exercises):
    by_hand, library = exercises.softmax_loss_by_hand()
    assert by_hand == pytest.approx(0.1699, abs=1e-4) and library == pytest.approx(by_hand, abs=1e-6)


def test_mask_edge_width_by_k(exercises):
    assert exercises.mask_edge_width_by_k() == {0.5: 24, 1.0: 10, 2.0: 6, 10.0: 2, 50.0: 2}


def test_ridge_shrinks_by_hand(exercises):
    assert exercises.ridge_shrinks_by_hand() == {1e-4: [0.59994, 0.79992], 1.0: [0.3, 0.4]}


def test_every_solution_is_shown_by_its_chapter_and_every_shown_solution_exists():
    modules = solution_modules()
    functions = {(chapter, name) for chapter, module in modules.items() for name in own_functions(module)}
    assert set(modules) <= {path.stem for path in BOOK.glob("[0-9]*.md")}  # a solutions file names its chapter
    shown, solutions, exercises_declared = set(), set(), set()
    for path in BOOK.glob("[0-9]*.md"):
        text = path.read_text(encoding="utf-8")
        included = re.findall(r"literalinclude\} /book/solutions/([\w.]+)\.py\n:pyobject: (\w+)", text)
        assert {chapter for chapter, _ in included} <= {path.stem}, f"{path.name} shows another chapter's solutions"
        shown |= set(included)
        assert "/book/solutions.py" not in text, f"{path.name}: the solutions are in book/solutions/<chapter>.py"
        exercises_declared |= set(re.findall(r"\{exercise\}[^\n]*\n:label: ([\w-]+)", text))
        solutions |= set(re.findall(r"\{solution\} ([\w-]+)", text))
        unfolded = re.findall(r"\{solution\} ([\w-]+)\n(?!:class: dropdown)", text)
        assert not unfolded, f"{path.name}: solutions not folded (:class: dropdown): {unfolded}"
    assert shown == functions
    assert exercises_declared and solutions == exercises_declared  # one folded solution per exercise


def test_score_an_unseen_class(exercises):
    assert exercises.score_an_unseen_class() == pytest.approx([1.0, 2.0, 2.4])


def test_chance_levels(exercises):
    levels = exercises.chance_levels()
    assert levels["T1"] == pytest.approx(levels["T1 by hand"], abs=0.005)
    assert levels["H"] == pytest.approx(levels["H by hand"], abs=0.002)


def test_baseline_score_by_hand(exercises):
    assert exercises.baseline_score_by_hand() == pytest.approx((3.0, 3.0))


def test_new_class_changes_no_other_score(exercises):
    assert exercises.new_class_changes_no_other_score() == 0.0


def test_total_loss_by_hand(exercises):
    assert exercises.total_loss_by_hand() == pytest.approx((3.23, 0.89), abs=1e-5)


def test_random_hit_rate(exercises):
    rates = exercises.random_hit_rate()
    assert rates["centre"] == pytest.approx(rates["centre by hand"], abs=0.002)
    assert rates["corner"] == pytest.approx(rates["corner by hand"], abs=0.001)


def test_calibration_by_hand(exercises):
    assert exercises.calibration_by_hand() == {0.0: {"u": 0.5, "s": 1.0, "H": 0.6667},
                                               0.3: {"u": 1.0, "s": 1.0, "H": 1.0},
                                               0.5: {"u": 1.0, "s": 0.5, "H": 0.6667}}


def test_choose_by_hand(exercises):
    assert exercises.choose_by_hand() == {"mean gain": 0.02, "standard error": 0.0122, "adopted": 0.8}


def test_best_of_many_on_test(exercises):
    r = exercises.best_of_many_on_test()
    assert r["one setting"] == pytest.approx(0.5, abs=0.002)
    assert r["best of many, reported on fresh classes"] == pytest.approx(0.5, abs=0.002)
    assert 0.52 < r["best of many, reported on the same classes"] < 0.54  # the chapter says "about 0.53"


def test_plateau_cuts(exercises):
    assert exercises.plateau_cuts() == {1.0: 3, 0.1: None}


def test_paired_difference(exercises):
    assert exercises.paired_difference() == {"mean": 0.0333, "standard error": 0.012,
                                             "unpaired standard error": 0.024}


@pytest.mark.book
def test_baseline_without_learning_is_flat(exercises, tiny_root, tmp_path):
    first, last = exercises.baseline_without_learning(tmp_path / "out", data_root=str(tiny_root),
                                                      runs_dir=str(tmp_path / "runs"))
    assert abs(last - first) / first < 0.05  # the loss curve is flat: nothing moved


@pytest.mark.book
def test_learned_centre_reaches_attention(exercises, tiny_root, tmp_path):
    assert exercises.learned_centre_reaches_attention(tmp_path / "out", data_root=str(tiny_root),
                                                      runs_dir=str(tmp_path / "runs")) > 0


@pytest.mark.book
def test_own_ablation_renders_in_chapter_05(exercises, tiny_root, tmp_path):
    from bookkit.chapters import execute_chapter
    from bookkit.display import glued_values

    result = exercises.own_ablation(str(tiny_root), str(tmp_path / "runs"), tmp_path / "record.json")
    assert result["adopted"] == result["by hand"]
    assert result["test rows"] == ["BOOK", "PAPER_READING"]  # the test classes: once per configuration
    notebook = execute_chapter("05_open_choices", tmp_path / "out", {"record_path": str(tmp_path / "record.json")})
    assert glued_values(notebook)["provenance"].startswith("the smoke profile")


def test_papermill_exercises_are_the_commands_the_chapters_show():
    from bookkit.exercises import EXERCISE_RUNS, exercise_command

    for label, (chapter, _) in EXERCISE_RUNS.items():
        text = (BOOK / f"{chapter}.md").read_text(encoding="utf-8")
        assert exercise_command(label) in text, f"{chapter}.md does not show the command of {label}"
        assert f":label: {label}" in text


def test_photo_chance_level(exercises):
    r = exercises.photo_chance_level()
    assert r["radius"] == pytest.approx(41.875) and r["by hand"] == pytest.approx(0.0329, abs=1e-4)
    assert r["measured"] == pytest.approx(r["by hand"], abs=0.002)


@pytest.mark.book
def test_real_birds_at_the_head(exercises, tmp_path):
    from sgma_core import data as zsl_data
    from sgma_core.paths import DataRootError

    try:
        ds = zsl_data.load_dataset("CUB")
    except (DataRootError, zsl_data.DatasetError):
        pytest.skip("no CUB folder under the data root")
    if not any(p.is_file() for p in ds.image_paths):
        pytest.skip("no CUB photographs under the data root")
    r = exercises.real_birds_at_the_head(tmp_path / "out", runs_dir=str(tmp_path / "runs"))
    assert r["cells"] == 7 and 0 <= r["group 1"] <= 100


def _declared_exercises() -> dict[str, list[str]]:
    """``{chapter: [exercise labels]}`` for every chapter, in the order the chapter declares them."""
    from bookkit.sources import CHAPTERS

    return {name: re.findall(r"\{exercise\}[^\n]*\n:label: ([\w-]+)", (BOOK / f"{name}.md").read_text(encoding="utf-8"))
            for name in CHAPTERS}


def test_the_course_guide_assigns_every_chapter_and_every_exercise():
    guide = (BOOK / "course_guide.md").read_text(encoding="utf-8")
    sessions = guide.split("## Three sessions", 1)[1].split("\n## ", 1)[0]
    for chapter, labels in _declared_exercises().items():
        assert f"<_executed/{chapter}>`" in sessions, f"the course guide's sessions never assign {chapter}"
        missing = [label for label in labels if f"{{ref}}`{label}`" not in sessions]
        assert not missing, f"the course guide's sessions never assign {chapter}'s exercises {missing}"


def test_every_chapter_has_at_least_two_exercises():
    counts = {chapter: len(labels) for chapter, labels in _declared_exercises().items()}
    assert all(n >= 2 for n in counts.values()), counts


def test_the_readme_states_the_number_of_exercises_the_chapters_hold():
    readme = (BOOK.parent / "README.md").read_text(encoding="utf-8")
    total = sum(map(len, _declared_exercises().values()))
    stated = re.findall(r"exercises: (\d+) in all", readme)
    assert stated == [str(total)], f"README states {stated} exercises in all; the chapters hold {total}"


def test_part_box_by_hand(exercises):
    assert exercises.part_box_by_hand() == {"hits, centre": 1.0, "part-box, centre": 0.0, "part-box, on the head": 1.0}


def test_hit_radius_sweep(exercises, tiny_root, tmp_path):
    rows = exercises.hit_radius_sweep(str(tiny_root), str(tmp_path / "runs"))
    assert list(rows) == [4, 8, 16, 32]
    for name in ("image centre", "box centre", "random points"):
        hits = [rows[d][name]["hits"] for d in rows]
        assert hits == sorted(hits, reverse=True), (name, hits)  # a smaller radius never hits more
        assert len({rows[d][name]["part_box"] for d in rows}) == 1  # the part-box score has no radius
    for d in rows:  # the solution's claim: no radius brings the image centre down to random points
        assert rows[d]["image centre"]["hits"] > rows[d]["random points"]["hits"]
        fixed = max(rows[d][n]["part_box"] for n in ("image centre", "random points"))
        assert rows[d]["box centre"]["part_box"] > fixed  # only the point that follows the bird scores


@pytest.mark.book
def test_fewer_seeds_renders_chapter_06_with_the_paired_errors_worked_by_hand(exercises, tiny_root, tmp_path):
    r = exercises.fewer_seeds(tmp_path / "out", data_root=str(tiny_root))
    assert r["paired"] and set(r["by hand"]) == set(r["paired"])
    for control, (mean, se) in r["by hand"].items():
        t1 = r["paired"][control]["T1"]
        assert t1["n"] == 2 and (mean, se) == pytest.approx((t1["mean"], t1["se"]), abs=1e-12)
    assert "SGMA" in r["answer"] and "no record" not in r["answer"]  # the chapter answered from the cut record
