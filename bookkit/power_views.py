"""What chapter 05 says of the evidence's power: which of the paired gains its decisions rest on (values adopted,
and admissible values not adopted where the reference was kept) have a standard error above the bar
(:data:`sgma_core.studies.power.SE_BAR`) and how many seeds would bring each to it, and what the power study
(``make power``, :mod:`sgma_core.studies.power`) found when it added seeds to them."""

from __future__ import annotations

import math
import re

from bookkit.search_views import change_text
from bookkit.wording import count, join_words, number_word
from sgma_core.studies.power import SE_BAR, comparisons


def power_sentence(record: dict) -> str:
    """Which of the adopted values' gains (the search's moves, the values adopted after it) have a paired
    standard error above :data:`SE_BAR`, and about how many seeds would bring each to it (sd / √n = the bar); and
    which admissible values not adopted (the reference kept) have one above it too."""
    found = comparisons(record)
    gains = [(_said(c), c["gain"]) for c in found if c["kind"] == "adopted"]
    above = [(name, g) for name, g in gains if g["se"] > SE_BAR]
    open_ = [c for c in found if c["kind"] == "kept" and c["gain"]["se"] > SE_BAR]
    undecided = (f" Keeping a value is a decision too: {count(len(open_), 'admissible value')} not adopted "
                 f"{'has' if len(open_) == 1 else 'have'} a paired gain over the value kept with a standard error "
                 f"above {100 * SE_BAR:.0f} points on five seeds ({_range(open_)}); make power adds seeds to "
                 f"{'it' if len(open_) == 1 else 'them'} too." if open_ else "")
    if not gains:
        return undecided.strip()
    bar = f"{100 * SE_BAR:.0f} points"
    if not above:
        return f"On five seeds, every adopted value's paired gain has a standard error of {bar} or less." + undecided
    need = [f"{name} ({100 * g['se']:.1f}; about {math.ceil((g['se'] * math.sqrt(g['n']) / SE_BAR) ** 2)} seeds)"
            for name, g in above]
    settled = all(g["mean"] > 2 * g["se"] for _, g in above)
    one, every = len(above) == 1, len(above) == len(gains)
    counted = ("(the search's moves and the values adopted after it; a move away from a reading that failed its "
               "attention check was not decided by its gain and is not counted)")
    if one and every:
        head = (f"The one paired gain that adopted a value {counted} has a standard error above {bar} on its five "
                f"seeds, and its spread would need about this many seeds to bring it to {bar}: {join_words(need)}.")
    else:
        head = (f"Of the {count(len(gains), 'paired gain')} that adopted a value {counted}, {number_word(len(above))} "
                f"{'has' if one else 'have'} a standard error above {bar} on five seeds, each with the seeds its "
                f"spread would need to bring it to {bar}: {join_words(need)}.")
    return head + ((" It exceeds" if one else " Each of these gains exceeds") + " two of its standard errors, so which "
                   "value wins is settled; how large the gain is, less so." if settled else "") + undecided


def _range(found: list[dict]) -> str:
    """The smallest and largest five-seed standard errors of ``found``, ``"4.1 to 11.7 points"``."""
    ses = sorted(100 * c["gain"]["se"] for c in found)
    return f"{ses[0]:.1f} points" if f"{ses[0]:.1f}" == f"{ses[-1]:.1f}" else f"{ses[0]:.1f} to {ses[-1]:.1f} points"


def _said(c: dict) -> str:
    """A comparison's (or a power row's) value as the chapter writes it in the sentences and the table alike:
    each setting it changes from the value kept, then the step that decided it, ``"prototype_norm = on
    (scoring)"``; a row that keeps no sides, by its name."""
    reference = c.get("reference") or {}
    changed = {s: v for s, v in (c.get("adopted") or {}).items() if s not in reference or reference[s] != v}
    if not changed:
        return re.sub(r"'([^']*)'", r"\1", c["name"])
    step = re.search(r" \((?:search|retest|scoring)\)$", c["name"])
    return change_text("", changed) + (step.group(0) if step else "")


def _foreign(power: dict, record: dict | None) -> str | None:
    """Why ``power``'s rows are not those of the ablation ``record`` rendered beside it (another ablation's values,
    or other five-seed gains), or None where they are (or no record is given)."""
    if record is None:
        return None
    wanted = {c["name"]: c["gain"] for c in comparisons(record) if c["gain"]["se"] > SE_BAR}
    if all(r["name"] in wanted and abs(r["gain_first"]["mean"] - wanted[r["name"]]["mean"]) <= 1e-9
           for r in power["rows"]):
        return None
    return ("The power study's record (results/" + power.get("ablation", "").replace("ablations-", "power-")
            + ") was made from another ablation record than the one rendered here: its comparisons are not these, "
            "so it is not quoted; make power trains them from this one.")


def _kept(row: dict) -> bool:
    return row.get("kind", "adopted") != "adopted"


def _state(row: dict) -> str:
    """Where a power row's gain on all its seeds stands against two of its standard errors."""
    gain = row["gain"]
    if _kept(row):
        return ("above two SE: would be adopted" if row["holds"] else "below by more than two SE"
                if gain["mean"] < -2 * gain["se"] else "within two SE")
    return "still above two SE" if row["holds"] else "no longer above two SE"


def power_rows(power: dict | None, record: dict | None = None) -> list[list[str]]:
    """Chapter 05's table of the power study: for each comparison, what was decided, its five-seed gain, the seeds
    it has now, its gain on them and where that stands (mean paired gain ± SE, points). None of another record."""
    if power is None or _foreign(power, record):
        return []
    return [[_said(r), "not adopted" if _kept(r) else "adopted",
             f"{100 * r['gain_first']['mean']:+.1f} ± {100 * r['gain_first']['se']:.1f}", str(r["gain"]["n"]),
             f"{100 * r['gain']['mean']:+.1f} ± {100 * r['gain']['se']:.1f}",
             _state(r) + ("" if r["reached_bar"] else "; SE above the bar")] for r in power["rows"]]


def power_study_sentence(power: dict | None, record: dict | None = None) -> str:
    """What the power study (:mod:`sgma_core.studies.power`) found so far, beside :func:`power_rows`: how many
    comparisons reached the bar, which decisions their gains on more seeds no longer settle, and how far it is.
    ``record``: the ablation record rendered beside it; a power record whose comparisons are not that record's
    is named as such, not quoted."""
    if power is None:
        return ("The power study (make power) trains these comparisons on more seeds, one at a time, until each "
                "standard error is at most the bar; it has not been run for the record rendered here.")
    rows = power["rows"]
    if (foreign := _foreign(power, record)) is not None:
        return foreign
    if not rows:
        return ("No gain that a decision rests on has a standard error above the bar: the power study had nothing "
                "to add.")
    reached = sum(r["reached_bar"] for r in rows)
    text = (f"The power study (make power) adds seeds to each of these comparisons, up to {power['max_seeds']}, "
            f"until its standard error is at most {100 * SE_BAR:.0f} points; the table below gives each one's gain "
            f"on its five seeds and on the seeds it has now (mean paired gain ± SE, points). "
            f"{_at_bar(reached, len(rows))} ")
    lost = [_said(r) for r in rows if not _kept(r) and not r["holds"]]
    won = [_said(r) for r in rows if _kept(r) and r["holds"]]
    if lost:
        text += (f"The gain that adopted {join_words(lost)} no longer exceeds two standard errors, so this record "
                 "does not settle it: the ablation decides it again on the seeds it has. ")
    if won:
        text += (f"Not adopted on five seeds, {join_words(won)} now {'beats' if len(won) == 1 else 'beat'} the value "
                 "kept by more than two standard errors, so keeping that value is not settled by this record either: "
                 "the ablation decides it again on the seeds it has. ")
    if not lost and not won:
        adopted = any(not _kept(r) for r in rows)
        text += ("No decision changes with the seeds added: "
                 + ("each adopted value's gain still exceeds two standard errors, and " if adopted else "")
                 + "no value not adopted now beats the value kept by more than two. ")
    if power["provenance"].get("complete"):
        rest = "" if reached == len(rows) else f", the others at its {power['max_seeds']} seeds"
        return text + f"The power study is complete{rest}."
    return text + "The study is in progress; make power goes on where it stopped."


def _at_bar(reached: int, n: int) -> str:
    """How many of the ``n`` comparisons have their standard error at the bar, as a sentence."""
    if reached == n:
        return "Its one comparison is at the bar." if n == 1 else f"All {n} of its comparisons are at the bar."
    return f"{reached} of its {n} comparisons {'is' if reached == 1 else 'are'} at the bar."
