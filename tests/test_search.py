"""The search of the attention's choices on readings whose scores are made by hand: it moves only to admissible
neighbours that beat the point by two standard errors, re-tests every winner against all its neighbours, lists
a neighbour that cannot train, and stops after its moves."""

from sgma_core.profiles import make_config
from sgma_core.studies.search import search

GRID = {"attention_norm": ("standardize", "none"), "attention_training": ("full", "none"),
        "joint_size": (16, 32)}
START = {"attention_norm": "standardize", "attention_training": "full", "joint_size": 16}
NOISE = (0.01, -0.01, 0.005, -0.005, 0.0)  # per seed: paired differences of a steady gain vary little


class FakeAblation:
    """Validation T1 and the attention check of a reading come from ``score(point) -> (T1, passed)``."""

    def __init__(self, score, base=None) -> None:
        self.score, self.base, self.seeds = score, base or make_config("smoke"), (0, 1, 2, 3, 4)
        self.rows, self.checks, self.trained = [], [], []

    def validate(self, name, value, overrides, seed) -> None:
        t1, passed = self.score(overrides)
        self.trained.append((dict(overrides), seed))
        self.rows.append({"setting": name, "value": value, "seed": seed, "split": "val", "rule": "compat",
                          "T1": t1 + NOISE[seed] * (overrides.get("joint_size") == 32)})
        self.checks.append({"setting": name, "value": value, "seed": seed, "passed": passed,
                            "distinct_places": 0.5 if passed else 0.0, "different_cells": 1.0 if passed else 0.0,
                            "telling_hits": 0.8 if passed else 0.1, "best_fixed_point_hits": 0.3})

    def log(self, text) -> None:
        pass


def test_an_inadmissible_reading_is_never_chosen_however_well_it_scores():
    def score(p):  # the literal eq. (3) scores best but its attention is dead; joint 32 helps steadily
        return (0.9 if p["attention_norm"] == "none" else 0.5 + 0.1 * (p["joint_size"] == 32)), \
            p["attention_norm"] != "none"

    ab = FakeAblation(score)
    result = search(ab, GRID, START, max_moves=4)
    assert result["end"] == {**START, "joint_size": 32} and result["settled"] and result["admissible"]
    first = result["rounds"][0]
    literal = next(n for n in first["neighbours"] if n["value"] == "none" and n["setting"] == "attention_norm")
    assert literal["admissible"] is False and literal["gain"]["mean"] > 0.3  # shown, with its gain, not chosen
    assert first["moved_to"] == result["end"]
    # the winner is re-tested against every alternative of every choice, and each reading is trained once per seed
    assert [n["setting"] for n in result["rounds"][1]["neighbours"]] == list(GRID)
    points = [tuple(sorted(p.items())) for p, _ in ab.trained]
    assert len(points) == len(set(zip(points, [s for _, s in ab.trained])))


def test_a_neighbour_that_cannot_train_is_listed_with_its_reason():
    result = search(FakeAblation(lambda p: (0.5, True)), {"attention_training": ("full", "none"),
                                                          "training_schedule": ("joint", "alternating")},
                    {"attention_training": "none", "training_schedule": "joint"}, max_moves=1)
    refused = [n for n in result["rounds"][0]["neighbours"] if "refused" in n]
    assert [n["value"] for n in refused] == ["alternating"] and "would train nothing" in refused[0]["refused"]
    assert result["end"] == {"attention_training": "none", "training_schedule": "joint"}  # no gain: it stays


def test_an_inadmissible_start_gives_way_to_its_best_admissible_neighbour_and_moves_are_bounded():
    def score(p):  # every step up in joint size or away from the start's training helps; the start is dead
        return 0.4 + 0.1 * (p["joint_size"] == 32) + 0.05 * (p["attention_training"] == "none"), \
            p != START

    result = search(FakeAblation(score), GRID, START, max_moves=1)
    assert result["rounds"][0]["why"].startswith("the point is not admissible")
    assert result["end"] == {**START, "joint_size": 32}  # one move allowed: the best admissible neighbour
    assert not result["settled"] and result["rounds"][-1]["moved_to"] is not None


def test_with_no_admissible_neighbour_the_search_widens_one_change_at_a_time_to_an_admissible_reading():
    far = {"attention_norm": "none", "attention_training": "none", "joint_size": 32}  # three changes away

    def score(p):  # only readings two changes away with the attention frozen pass; the far corner scores best
        changed = sum(p[s] != START[s] for s in GRID)
        return 0.9 if p == far else 0.5 + 0.05 * (p["joint_size"] == 32), \
            changed == 2 and p["attention_training"] == "none"

    ab = FakeAblation(score)
    result = search(ab, GRID, START, max_moves=4)
    first = result["rounds"][0]
    wider = [n for n in first["neighbours"] if n.get("changes") == 2]
    assert len(wider) == 3 and all(" + " in n["setting"] and len(n["value"]) == 2 for n in wider)
    assert far not in [n["point"] for n in first["neighbours"]]  # it stopped widening where a reading passed
    assert first["moved_to"] == {**START, "attention_training": "none", "joint_size": 32}  # the best of those passing
    assert "2 changes away" in first["why"]
    assert result["admissible"] and result["end"] == first["moved_to"]


def test_a_grid_with_no_admissible_reading_stops_at_the_start_and_says_so():
    ab = FakeAblation(lambda p: (0.5, False))
    result = search(ab, GRID, START, max_moves=4)
    assert result["end"] == START and not result["admissible"] and len(result["rounds"]) == 1
    assert result["rounds"][0]["why"] == ("the point is not admissible and no reading of the grid is (up to 3 changes "
                                          "away)")
    assert len({tuple(sorted(p.items())) for p, _ in ab.trained}) == 8  # every reading of the 2 × 2 × 2 grid, once
