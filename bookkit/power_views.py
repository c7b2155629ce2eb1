"""What chapter 05 says of the evidence's power: which of the paired gains its decisions rest on (values adopted,
and admissible values not adopted where the reference was kept) have a standard error above the bar
(:data:`sgma_core.studies.power.SE_BAR`) and how many seeds would bring each to it, and what the power study
(``make power``, :mod:`sgma_core.studies.power`) found when it added seeds to them."""

from __future__ import annotations

import math
import re

from bookkit.search_views import change_text
from bookkit.study_views import points
from bookkit.wording import count, join_words, number_word
from sgma_core.studies.power import SE_BAR, comparisons


def power_sentence(record: dict) -> str:
    """Which of the adopted values' gains (the search's moves, the values adopted one at a time) have a paired
    standard error above :data:`SE_BAR`, and about how many seeds would bring each to it (sd / √n = the bar); and
    which admissible values not adopted (the reference kept) have one above it too."""
    found = comparisons(record)
    gains = [(_said(c), c["gain"]) for c in found if c["kind"] == "adopted"]
    above = [(name, g) for name, g in gains if g["se"] > SE_BAR]
    open_ = [f"{_said(c)} ({points(c['gain'])})" for c in found if c["kind"] == "kept" and c["gain"]["se"] > SE_BAR]
    undecided = (f" Keeping a value is a decision too: {count(len(open_), 'admissible value')} not adopted "
                 f"{'has' if len(open_) == 1 else 'have'} a paired gain over the value kept with a standard error "
                 f"above {100 * SE_BAR:.0f} points (mean ± SE, points): {join_words(open_)}; make power adds seeds to "
                 f"{'it' if len(open_) == 1 else 'them'} too." if open_ else "")
    if not gains:
        return undecided.strip()
    bar = f"{100 * SE_BAR:.0f} points"
    if not above:
        return f"Every adopted value's paired gain has a standard error of {bar} or less." + undecided
    need = [f"{name} ({100 * g['se']:.1f}; about {math.ceil((g['se'] * math.sqrt(g['n']) / SE_BAR) ** 2)} seeds)"
            for name, g in above]
    settled = all(g["mean"] > 2 * g["se"] for _, g in above)
    one, every = len(above) == 1, len(above) == len(gains)
    counted = ("(the search's moves and the values adopted one at a time; a move away from a reading that failed its "
               "attention check was not decided by its gain and is not counted)")
    if one and every:
        head = (f"The one paired gain that adopted a value {counted} has a standard error above {bar}, "
                f"and its spread would need about this many seeds to bring it to {bar}: {join_words(need)}.")
    else:
        head = (f"Of the {count(len(gains), 'paired gain')} that adopted a value {counted}, {number_word(len(above))} "
                f"{'has' if one else 'have'} a standard error above {bar}, each with the seeds its spread would need "
                f"to bring it to {bar}: {join_words(need)}.")
    return head + ((" It exceeds" if one else " Each of these gains exceeds") + " two of its standard errors, so which "
                   "value wins is settled; how large the gain is, less so." if settled else "") + undecided


def _said(c: dict) -> str:
    """A comparison's value as the chapter writes it: a scoring value names each of its settings."""
    return change_text(c["setting"], c["value"]) + (" (scoring)" if "combos" in c else "")


def power_study_sentence(power: dict | None, record: dict | None = None) -> str:
    """What the power study (:mod:`sgma_core.studies.power`) found so far: each comparison's paired gain on the
    seeds it has beside its five-seed gain, whether it still exceeds two standard errors, and how far it is.
    ``record``: the ablation record rendered beside it; a power record whose comparisons are not that record's
    (another ablation's values, or five-seed gains) is named as such, not quoted."""
    if power is None:
        return ("The power study (make power) trains these comparisons on more seeds, one at a time, until each "
                "standard error is at most the bar; it has not been run for the record rendered here.")
    rows = power["rows"]
    if record is not None:
        wanted = {c["name"]: c["gain"] for c in comparisons(record) if c["gain"]["se"] > SE_BAR}
        if any(r["name"] not in wanted or abs(r["gain_first"]["mean"] - wanted[r["name"]]["mean"]) > 1e-9
               for r in rows):
            return ("The power study's record (results/" + power.get("ablation", "").replace("ablations-", "power-")
                    + ") was made from another ablation record than the one rendered here: its comparisons are not "
                    "these, so it is not quoted; make power trains them from this one.")
    if not rows:
        return ("No gain that a decision rests on has a standard error above the bar: the power study had nothing "
                "to add.")
    said, undecided = [], [r for r in rows if r.get("kind", "adopted") != "adopted"]
    for r in rows:
        first, gain = r["gain_first"], r["gain"]
        if r in undecided:
            state = ("now above two standard errors: it would be adopted" if r["holds"]
                     else "below by more than two standard errors" if gain["mean"] < -2 * gain["se"]
                     else "within two standard errors")
        else:
            state = "still above two standard errors" if r["holds"] else "no longer above two standard errors"
        name = re.sub(r"'([^']*)'", r"\1", r["name"])  # a string value as the other sentences write it
        said.append(f"{name}{' (not adopted)' if r in undecided else ''}: {100 * first['mean']:+.1f} ± "
                    f"{100 * first['se']:.1f} on {first['n']} seeds, "
                    f"{100 * gain['mean']:+.1f} ± {100 * gain['se']:.1f} on {gain['n']} ({state})")
    reached = f"{sum(r['reached_bar'] for r in rows)} of the {len(rows)} comparisons at the bar"
    text = (f"With seeds added by the power study (make power; up to {power['max_seeds']} a comparison; mean paired "
            f"gain ± SE, in points): {'; '.join(said)}. ")
    if not all(r["holds"] for r in rows if r not in undecided):
        text += ("A value whose gain no longer exceeds two standard errors is not settled by this record: the ablation "
                 "decides it again on the seeds it has. ")
    if any(r["holds"] for r in undecided):
        text += ("A value not adopted on five seeds whose gain now exceeds two standard errors is not settled by this "
                 "record either: the ablation decides it again on the seeds it has. ")
    if power["provenance"].get("complete"):
        rest = "" if all(r["reached_bar"] for r in rows) else f", the others at its {power['max_seeds']} seeds"
        return text + (f"The power study is complete: {reached} (a standard error of {100 * SE_BAR:.0f} points or "
                       f"less){rest}.")
    return text + f"The study is in progress ({reached} so far); make power goes on where it stopped."
