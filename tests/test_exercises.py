"""Every exercise solution is code in book/exercises.py that runs here and gives the answer its
chapter states; every solution function is shown by a chapter, and every chapter's solutions name
functions that exist."""

import importlib.util
import inspect
import re

import pytest

from sgma_core.paths import repo_root

BOOK = repo_root() / "book"


@pytest.fixture(scope="module")
def exercises():
    spec = importlib.util.spec_from_file_location("book_exercises", BOOK / "exercises.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_harmonic_mean_by_hand(exercises):
    assert exercises.harmonic_mean_by_hand() == pytest.approx(0.32)


def test_cct_on_three_points(exercises):
    hardest, mean = exercises.cct_on_three_points()
    assert hardest == pytest.approx(1.2, abs=1e-6) and mean == 0.0


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


def test_every_solution_is_shown_and_every_shown_solution_exists(exercises):
    functions = {name for name, f in inspect.getmembers(exercises, inspect.isfunction)
                 if f.__module__ == exercises.__name__}
    shown, solutions, exercises_declared = set(), set(), set()
    for path in BOOK.glob("[0-9]*.md"):
        text = path.read_text(encoding="utf-8")
        shown |= set(re.findall(r"literalinclude\} /book/exercises\.py\n:pyobject: (\w+)", text))
        exercises_declared |= set(re.findall(r"\{exercise\}[^\n]*\n:label: ([\w-]+)", text))
        solutions |= set(re.findall(r"\{solution\} ([\w-]+)", text))
        unfolded = re.findall(r"\{solution\} ([\w-]+)\n(?!:class: dropdown)", text)
        assert not unfolded, f"{path.name}: solutions not folded (:class: dropdown): {unfolded}"
    assert shown == functions
    assert exercises_declared and solutions == exercises_declared  # one folded solution per exercise
