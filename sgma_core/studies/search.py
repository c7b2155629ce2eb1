"""The attention's choices decided together, among admissible readings only (METHOD §12): a search that re-tests
each winner against every alternative, since the choices interact (a normalisation matters only if the maps are
trained; a branch size only if the squares move).

From ``start``, every neighbour (one choice of the grid changed) is trained on the validation classes over the
study's seeds. A reading is **admissible** when its attention check passes by the seeds' mean
(:func:`sgma_core.admissibility.summarise_checks`). The search moves to the admissible neighbour of largest
mean paired gain in validation T1 (compat rule) if that gain exceeds two standard errors, then tests the new
point against all of its neighbours; it stops where no neighbour beats the point, or after ``max_moves``
moves. A point that is not admissible gives way to its admissible neighbour of best mean T1; where no neighbour
is admissible, to the admissible reading of best mean T1 two changes away, else three, … (every reading of the
grid, at most). A reading that cannot train is listed with the reason and never trained.

    result = search(ab, ATTENTION_GRID, start, max_moves=4)   # ab: sgma_core.studies.ablate.Ablation
"""

from __future__ import annotations

import itertools
import json

import numpy as np

from sgma_core.admissibility import summarise_checks
from sgma_core.profiles import with_settings
from sgma_core.stats import beats, paired

LABEL = "SEARCH"  # the record rows of the search's readings: setting "SEARCH", value the reading's settings


def _key(point: dict) -> str:
    return json.dumps(point, sort_keys=True)


class _Readings:
    """Each reading trained once over the seeds: its validation T1 by seed and its check's summary."""

    def __init__(self, ab, label: str = LABEL) -> None:
        self.ab, self.done, self.label = ab, {}, label

    def __call__(self, point: dict) -> dict:
        key = _key(point)
        if key not in self.done:
            try:
                with_settings(self.ab.base, **point)
            except ValueError as exc:
                self.done[key] = {"refused": str(exc)}
                return self.done[key]
            for seed in self.ab.seeds:
                self.ab.validate(self.label, point, point, seed)
            t1 = {r["seed"]: r["T1"] for r in self.ab.rows if r["setting"] == self.label and r["value"] == point
                  and r["rule"] == "compat" and r["split"] == "val"}
            checks = [c for c in self.ab.checks if c["setting"] == self.label and c["value"] == point]
            self.done[key] = {"T1": t1, "mean_T1": float(np.mean(list(t1.values()))),
                              "check": summarise_checks(checks)}
        return self.done[key]


def _entry(reading: _Readings, here: dict, point: dict, setting: str, value) -> dict:
    """A reading tried from ``here``: where it is, what changed, and its check and paired gain (or why it cannot
    train)."""
    res = reading(point)
    entry = {"setting": setting, "value": value, "point": point}
    if "refused" in res:
        return {**entry, "refused": res["refused"]}
    return {**entry, "mean_T1": res["mean_T1"], "check": res["check"], "admissible": res["check"]["passed"],
            "gain": paired(res["T1"], here["T1"])}


def _neighbours(reading: _Readings, grid: dict, current: dict, here: dict) -> list[dict]:
    return [_entry(reading, here, {**current, setting: value}, setting, value)
            for setting, values in grid.items() for value in values if value != current[setting]]


def _wider(reading: _Readings, grid: dict, current: dict, here: dict, changes: int) -> list[dict]:
    """The readings exactly ``changes`` choices away from ``current``: ``setting`` names them joined by " + ",
    ``value`` maps each to its new value."""
    out = []
    for settings in itertools.combinations(grid, changes):
        for values in itertools.product(*[[v for v in grid[s] if v != current[s]] for s in settings]):
            moved = dict(zip(settings, values))
            out.append({**_entry(reading, here, {**current, **moved}, " + ".join(settings), moved),
                        "changes": changes})
    return out


def _move(here: dict, neighbours: list[dict]) -> tuple[dict | None, str]:
    admissible = [n for n in neighbours if n.get("admissible")]
    if not here["check"]["passed"]:
        if not admissible:
            return None, "the point is not admissible and no neighbour is"
        best = max(admissible, key=lambda n: n["mean_T1"])
        return best, "the point is not admissible: to its admissible neighbour of best mean validation T1"
    better = [n for n in admissible if beats(n["gain"])]
    if not better:
        return None, "no admissible neighbour beats it by two standard errors"
    best = max(better, key=lambda n: n["gain"]["mean"])
    return best, "the admissible neighbour of largest gain above two standard errors"


def search(ab, grid: dict, start: dict, max_moves: int, label: str = LABEL) -> dict:
    """The search (module docstring) from ``start`` over ``grid``; returns the record's ``search``: ``start``,
    ``end``, ``settled`` (no neighbour beats the end), and each round's point, check and neighbours. ``label``:
    the record rows' setting (another search of the same study, at other settings, keeps its rows apart)."""
    reading, current, rounds = _Readings(ab, label), dict(start), []
    for _ in range(max_moves + 1):
        here = reading(current)
        if "refused" in here:
            raise ValueError(f"the search's point {current} cannot train: {here['refused']}")
        neighbours = _neighbours(reading, grid, current, here)
        move, why = _move(here, neighbours)
        changes = 1
        while move is None and not here["check"]["passed"] and changes < len(grid):
            changes += 1  # nothing admissible one change away: widen, one change more at a time
            wider = _wider(reading, grid, current, here, changes)
            neighbours += wider
            move, why = _move(here, wider)
            why = (f"the point is not admissible and no reading fewer than {changes} changes away is: to the "
                   f"admissible reading {changes} changes away of best mean validation T1" if move else
                   f"the point is not admissible and no reading of the grid is (up to {changes} changes away)")
        rounds.append({"point": current, "mean_T1": here["mean_T1"], "check": here["check"],
                       "neighbours": neighbours, "moved_to": move and move["point"], "why": why})
        if move is None or len(rounds) == max_moves + 1:  # settled, or no move left
            break
        current = move["point"]
        ab.log(f"search: moved to {current} ({why})")
    settled = rounds[-1]["moved_to"] is None
    return {"start": dict(start), "end": current, "settled": settled, "admissible": reading(current)["check"]["passed"],
            "max_moves": max_moves, "rounds": rounds}


def moves(record_search: dict) -> list[tuple[dict, dict, dict]]:
    """The moves a recorded search (:func:`search`'s return) made, in order: ``(before, after, neighbour)``, the
    points it moved from and to and the neighbour it took (``setting``, ``value``, ``gain``)."""
    rounds = record_search.get("rounds", [])
    return [(before["point"], after["point"], next(n for n in before["neighbours"] if n.get("point") == after["point"]))
            for before, after in zip(rounds, rounds[1:])]
