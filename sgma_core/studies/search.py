"""The attention's choices decided together, among admissible readings only (METHOD §12): a search that re-tests
each winner against every alternative, since the choices interact (a normalisation matters only if the maps are
trained; a branch size only if the squares move).

From ``start``, every neighbour (one choice of the grid changed) is trained on the validation classes over the
study's seeds. A reading is **admissible** when its attention check passes by the seeds' mean
(:func:`sgma_core.admissibility.summarise_checks`). The search moves to the admissible neighbour of largest
mean paired gain in validation T1 (compat rule) if that gain exceeds two standard errors, then tests the new
point against all of its neighbours; it stops where no neighbour beats the point, or after ``max_moves``
moves. A start that is not admissible gives way to its admissible neighbour of best mean T1. A neighbour that
cannot train is listed with the reason and never trained.

    result = search(ab, ATTENTION_GRID, start, max_moves=4)   # ab: sgma_core.studies.ablate.Ablation
"""

from __future__ import annotations

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


def _neighbours(reading: _Readings, grid: dict, current: dict, here: dict) -> list[dict]:
    out = []
    for setting, values in grid.items():
        for value in values:
            if value == current[setting]:
                continue
            point = {**current, setting: value}
            res = reading(point)
            entry = {"setting": setting, "value": value, "point": point}
            if "refused" in res:
                out.append({**entry, "refused": res["refused"]})
                continue
            out.append({**entry, "mean_T1": res["mean_T1"], "check": res["check"],
                        "admissible": res["check"]["passed"], "gain": paired(res["T1"], here["T1"])})
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
