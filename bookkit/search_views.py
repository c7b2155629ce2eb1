"""What chapter 05 shows of the ablation record's search of the attention's choices (``record["search"]``,
:mod:`sgma_core.studies.search`): each round's point and neighbours with their validation T1, paired gain,
attention check and admissibility, and the path in one sentence; and the scoring step's validation curves of ρ."""

from __future__ import annotations

import json
import re
import statistics

from bookkit.study_views import points, verdict
from bookkit.wording import count, join_words, number_word, setting_value
from sgma_core import stats
from sgma_core.admissibility import telling_margin
from sgma_core.studies.search import moves

CHECK_NAMES = {"distinct_places": "squares at distinct places", "different_cells": "maps peaking at different cells",
               "telling_hits": "telling-part hits above the best fixed point"}


def _name(text: str, code: bool) -> str:
    """A setting or its value as inline code (a table's cell, where a long identifier may wrap) or as it is."""
    return f"`{text}`" if code else text


def point_text(point: dict, start: dict | None = None, code: bool = False) -> str:
    """A reading as its settings (only those that differ from ``start``, where given; ``"the start"`` if none);
    ``code``: names and values as inline code."""
    shown = {k: v for k, v in point.items() if start is None or start.get(k) != v}
    return ", ".join(f"{_name(k, code)} = {_name(setting_value(v), code)}" for k, v in shown.items()) or "the start"


def change_text(setting: str, value, sep: str = " = ", code: bool = False) -> str:
    """What a tried reading changed: ``setting = value``, or, for a reading several changes away (``value`` a dict
    of them), each change in turn; ``code``: names and values as inline code."""
    changes = value.items() if isinstance(value, dict) else [(setting, value)]
    return ", ".join(f"{_name(s, code)}{sep}{_name(setting_value(v), code)}" for s, v in changes)


def check_text(check: dict) -> str:
    """The attention check's numbers, ``"distinct 35 %, cells 93 %, hits 82 % (fixed 43 %)"``."""
    return (f"distinct {100 * check['distinct_places']:.0f} %, cells {100 * check['different_cells']:.0f} %, "
            f"hits {100 * check['telling_hits']:.0f} % (fixed {100 * check['best_fixed_point_hits']:.0f} %)")


def admissible_text(check: dict, short: bool = False) -> str:
    """``"yes"``, or ``"no: …"`` naming the criteria the seeds' mean failed (``short``: by the words of
    :func:`check_text`, for a table)."""
    names = [{"distinct_places": "distinct", "different_cells": "cells", "telling_hits": "hits"}[f] if short
             else CHECK_NAMES[f] for f in check["failed"]]
    return "yes" if check["passed"] else "no: " + join_words(names) + " failed"


def search_rows(record: dict, key: str = "search") -> list[list[str]]:
    """One row per reading tried, round by round: ``[round, reading, validation T1 (%), gain over the round's
    point (points, ± SE; verdict), attention check, admissible]``; the round's own point first, settings as inline
    code (which wraps in a narrow column). ``key``: ``"retest"`` for the search gone on from its end at the adopted
    training values."""
    search, rows = record[key], []
    for k, rnd in enumerate(search["rounds"], 1):
        rows.append([str(k), f"**{point_text(rnd['point'], search['start'], code=True)}** (the round's point)",
                     f"{100 * rnd['mean_T1']:.1f}", "–", check_text(rnd["check"]), admissible_text(rnd["check"], True)])
        for n in rnd["neighbours"]:
            name = change_text(n["setting"], n["value"], " → ", code=True)
            if "refused" in n:
                rows.append([str(k), name, "–", "–", "not trained: " + n["refused"], "–"])
                continue
            moved = " (moved here)" if k < len(search["rounds"]) and rnd["moved_to"] == n["point"] else ""
            gain = f"{points(n['gain'])} ({verdict(n['gain'])})"
            rows.append([str(k), name + moved, f"{100 * n['mean_T1']:.1f}", gain, check_text(n["check"]),
                         admissible_text(n["check"], True)])
    return rows


WIDENED = re.compile(r"the point is not admissible and no reading fewer than (\d+) changes away is: to the admissible "
                     r"reading \1 changes away of best mean validation T1")


def why_text(why: str) -> str:
    """A round's reason for its move (:mod:`sgma_core.studies.search`) as a clause of the path's sentence."""
    widened = WIDENED.fullmatch(why)
    if not widened:
        return why
    n = number_word(int(widened[1]))
    return (f"the reading it left was not admissible, nor was any reading fewer than {n} changes away from it, so it "
            f"took the admissible reading {n} changes away of best mean validation T1")


def search_sentence(record: dict) -> str:
    """The search's path: where it started, each move with its gain, and why it stopped."""
    search = record["search"]
    rounds, start = search["rounds"], search["start"]
    first = rounds[0]
    text = (f"The search started at {point_text(start)} (validation T1 {100 * first['mean_T1']:.1f} %; admissible: "
            f"{admissible_text(first['check'])})")
    for before, after in zip(rounds, rounds[1:]):
        move = next(n for n in before["neighbours"] if n.get("point") == after["point"])
        text += (f", moved to {change_text(move['setting'], move['value'])} ({points(move['gain'])} points; "
                 f"{why_text(before['why'])})")
    last = rounds[-1]
    if search["settled"]:
        text += f" and settled there after {count(len(rounds) - 1, 'move')}: {last['why']}."
    else:
        text += (f" and stopped after its {count(search['max_moves'], 'move')}, with a neighbour still better "
                 "(the record says so: the choice is not settled).")
    if not search["admissible"]:
        text += (" The reading it ended at is not admissible (" + admissible_text(last["check"])[4:] + "): the "
                 "book's configuration is then not one whose attention is alive, and the chapters say so.")
    return text


def retest_sentence(record: dict) -> str:
    """What the search did when it went on from its end at the training values adopted there ("" without it)."""
    retest = record.get("retest")
    if not retest:
        return ""
    changed = [f"{k} = {setting_value(v)}" for k, v in retest["training"].items()]
    weights = join_words(changed) if changed else "none"
    rounds, start = retest["rounds"], retest["start"]
    opening = (f"The loss weights and other training values were adopted where the search ended (changes: {weights}), "
               "and they may change which attention reading is best, so the search went on from its end with them "
               if changed else
               "No training value was adopted one factor at a time (changes: none), so the search's end stands with "
               "the values it was searched at; the retest went on from it all the same, as the design asks, repeating "
               "its last round ")
    text = (f"{opening}(validation T1 {100 * rounds[0]['mean_T1']:.1f} %; admissible: "
            f"{admissible_text(rounds[0]['check'])})")
    for name, gain in _moves(retest):
        text += f", moved to {name} ({points(gain)} points)"
    tried = [n for n in rounds[-1]["neighbours"] if n.get("admissible") and n.get("gain")]
    best = max(tried, key=lambda n: n["gain"]["mean"], default=None)
    closest = "" if best is None else (f"; its best admissible neighbour, {change_text(best['setting'], best['value'])}"
                                       f", {points(best['gain'])} points "
                                       f"({verdict(best['gain'])})")
    if retest["settled"]:
        where = "at the reading it started from" if retest["end"] == start else "there"
        text += f", and settled {where}: {rounds[-1]['why']}{closest}."
    else:
        text += " and stopped after its last move with a neighbour still better: the choice is not settled."
    return text


# the record's rows of whole readings, as a table names them (a one-factor row names its setting and value)
WHOLE_READINGS = {"PAPER_READING": "the paper's reading", "SEARCHED": "where the search ended",
                  "BOOK": "the book's configuration"}


def check_rows(record: dict) -> list[list[str]]:
    """The attention check of every reading outside the searches (the one-factor values, the paper's reading, the
    search's end, the book's configuration), mean over its seeds: ``[setting, value, seeds, check, admissible]``;
    the search and its retest show theirs in their own tables."""
    from sgma_core.admissibility import summarise_checks

    groups: dict[tuple, list[dict]] = {}
    for c in record.get("checks", []):
        if c["setting"] not in ("SEARCH", "RETEST"):
            groups.setdefault((c["setting"], json.dumps(c["value"], sort_keys=True)), []).append(c)
    rows = []
    for (setting, value), checks in groups.items():
        summary = summarise_checks(checks)
        name, shown = ((WHOLE_READINGS[setting], "–") if setting in WHOLE_READINGS else
                       (f"`{setting}`", f"`{setting_value(json.loads(value))}`"))
        rows.append([name, shown, str(len(checks)), check_text(summary), admissible_text(summary)])
    return rows


def _signature(record: dict, point: dict) -> tuple:
    """A search reading's validation scores (every rule and metric) and attention checks, seed by seed."""
    rows = sorted((r["seed"], r["rule"], r["T1"], r["u"], r["s"], r["H"]) for r in record.get("runs", [])
                  if r["setting"] == "SEARCH" and r["value"] == point and r["split"] == "val")
    checks = sorted((c["seed"], c["distinct_places"], c["different_cells"], c["telling_hits"])
                    for c in record.get("checks", []) if c["setting"] == "SEARCH" and c["value"] == point)
    return tuple(rows), tuple(checks)


def alike_sentence(record: dict) -> str:
    """Readings of the search that differ in their settings but scored exactly alike, with the same attention
    checks, on every seed (``""`` where there are none): what differs between them moved no square."""
    search = record.get("search") or {}
    points = {json.dumps(p, sort_keys=True): p for rnd in search.get("rounds", [])
              for p in [rnd["point"], *(n["point"] for n in rnd["neighbours"] if "refused" not in n)]}
    groups: dict[tuple, list[dict]] = {}
    for p in points.values():
        sig = _signature(record, p)
        if sig[0]:
            groups.setdefault(sig, []).append(p)
    alike = [g for g in groups.values() if len(g) > 1]
    if not alike:
        return ""
    start = search["start"]
    said = "; ".join(join_words([f"({point_text(p, start)})" for p in g]) for g in alike)
    return (f"Some readings differ in their settings but scored exactly alike on every seed, with the same attention "
            f"checks: {said}. Whatever differs between them moved no square.")


def grid_sentence(record: dict) -> str:
    """The choices the search decided, each with the values it tried (the start's first), read from the record's
    first round: what ran, not what the code would run today."""
    search = record["search"]
    values = {setting: [value] for setting, value in search["start"].items()}
    for n in search["rounds"][0]["neighbours"]:
        if "refused" not in n and "changes" not in n and n["value"] not in values.setdefault(n["setting"], []):
            values[n["setting"]].append(n["value"])
    said = "; ".join(f"`{s}` {join_words([setting_value(v) for v in vs], 'or')}" for s, vs in values.items())
    return (f"The search decided {count(len(values), 'choice')}, each among the values it tried: {said}. It started "
            f"at the first of each ({point_text(search['start'])}) and could move at most "
            f"{count(search['max_moves'], 'time')} (a budget fixed before it ran).")


def bars_sentence() -> str:
    """The check's bars as declared in :data:`sgma_core.admissibility.THRESHOLDS`, in words."""
    from sgma_core.admissibility import THRESHOLDS

    return (f"at least as many distinct pairs of square positions as {100 * THRESHOLDS['distinct_places']:.0f} % of "
            "the images "
            "(squares at one place in every image make one pair), the two maps peaking at different cells in at "
            f"least {100 * THRESHOLDS['different_cells']:.0f} % of the images, and squares on a telling part (one "
            "whose attributes tell the classes apart) more often than at the best single fixed point")


def margin_sentence(record: dict) -> str:
    """How far the book's configuration's telling-part hits are above the best fixed point's on validation images,
    paired over its seeds (``record["checks"]`` rows of ``BOOK``), and what the check's third bar, a comparison of
    the two means, can and cannot say from it; ``""`` where the record keeps no such rows."""
    checks = [c for c in record.get("checks", []) if c["setting"] == "BOOK"]
    if len(checks) < 2:
        return ""
    margin = telling_margin(checks)
    hits = statistics.fmean(c["telling_hits"] for c in checks)
    fixed = statistics.fmean(c["best_fixed_point_hits"] for c in checks)
    text = (f"The book's configuration puts {100 * hits:.1f} % of its validation squares near a telling part, the best "
            f"fixed point {100 * fixed:.1f} %: a margin of {points(margin)} points (mean ± standard error over "
            f"{count(margin['n'], 'seed')}, paired; {verdict(margin)}).")
    if stats.beats(margin):
        return text + " Its squares find the telling parts more often than any pixel fixed in advance."
    return text + (" The check's third bar compares the two means, as it was declared before any score was seen, and "
                   + ("admits the configuration on them" if hits > fixed else "does not admit it")
                   + "; that its squares find the telling parts more often than one pixel fixed in advance, these "
                   "seeds do not show.")


def price_sentence(record: dict) -> str:
    """What admissibility cost: the reading of best mean validation T1 among those the search tried, where its
    attention fails the check, against the reading the search ended at, paired by seed (``""`` where the best
    is admissible or is the end itself)."""
    from sgma_core.stats import beats, paired

    search = record["search"]
    tried = {}
    for rnd in search["rounds"]:
        tried[json.dumps(rnd["point"], sort_keys=True)] = (rnd["point"], rnd["mean_T1"], rnd["check"])
        for n in rnd["neighbours"]:
            if "refused" not in n:
                tried[json.dumps(n["point"], sort_keys=True)] = (n["point"], n["mean_T1"], n["check"])
    best, best_t1, best_check = max(tried.values(), key=lambda t: t[1])
    if best_check["passed"] or best == search["end"] or not search["admissible"]:
        return ""  # nothing to pay: the best is alive, or is the end, or the end's attention is not alive either

    def t1(point):
        return {r["seed"]: r["T1"] for r in record.get("runs", []) if r["setting"] == "SEARCH"
                and r["value"] == point and r["rule"] == "compat" and r["split"] == "val"}

    gain = paired(t1(best), t1(search["end"]))
    if gain is None:  # fewer than two seeds in common: no paired difference to report
        return ""
    cost = ("That is what keeping the attention alive costs on these birds, at the settings the search holds fixed "
            "(eq. (9)'s weights among them, which the step below decides)." if beats(gain) else
            "That is within two standard errors: no difference, so keeping the attention alive costs nothing "
            "measurable here.")
    return (f"The best mean validation T1 of any reading tried, {100 * best_t1:.1f} % "
            f"({point_text(best, search['start'])}), belongs to a reading whose attention fails the check "
            f"({admissible_text(best_check)[4:]}; {check_text(best_check)}): against the reading the search ended "
            f"at, it scores {points(gain)} points of validation T1, paired by seed. {cost}")


def _schedule_by_reading(record: dict) -> dict[tuple[str, str], dict]:
    """``{(setting, value as JSON): {"cut": median epochs before the first cut (None: most seeds never cut),
    "share": mean share of eqs. (5)-(6) in the last epoch's loss, "n": seeds}}`` of ``record["schedules"]``."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for s in record.get("schedules") or []:
        groups.setdefault((s["setting"], json.dumps(s["value"])), []).append(s)
    out = {}
    for key, items in groups.items():
        cuts = sorted(s["lr_cut_after_epoch"] for s in items if s["lr_cut_after_epoch"] is not None)
        out[key] = {"cut": statistics.median(cuts) if 2 * len(cuts) > len(items) else None, "n": len(items),
                    "share": sum(s["attention_share"] for s in items) / len(items)}
    return out


def _cut_text(item: dict) -> str:
    cut = "never cut" if item["cut"] is None else f"first cut after epoch {item['cut']:g}"
    return f"eqs. (5)–(6) are {100 * item['share']:.0f} % of the loss and the learning rate is {cut}"


def schedule_sentence(record: dict) -> str:
    """What the plateau schedule saw where the one-factor step started and for each value that moved its first
    cut by two epochs or more (medians over seeds); ``""`` where the record keeps no schedules."""
    by = _schedule_by_reading(record)
    base = by.get(("SEARCHED", json.dumps("searched")))
    if base is None:
        return ""
    cfg = record["provenance"]["config"]
    frozen = record.get("search", {}).get("end", {}).get("attention_training") == "none"
    text = (f"The learning rate is cut {1 / cfg['lr_factor']:g}-fold when the epoch's "
            f"training loss has not fallen by {100 * cfg['plateau_threshold']:g} % (relative) for "
            f"{count(cfg['plateau_patience'] + 1, 'epoch')} in a row. Where the one-factor step starts, "
            f"{_cut_text(base)} (of {cfg['epochs']} epochs; the share is the mean over {count(base['n'], 'seed')}, the "
            "epoch of the first cut their median)")
    text += (": with the attention frozen those terms have no gradient and train nothing, yet they fill the loss "
             "the schedule reads." if frozen else ".")
    moved = [(s, json.loads(v), item) for (s, v), item in by.items() if s in record.get("decisions", {})
             and item["cut"] != base["cut"] and (item["cut"] is None or base["cut"] is None
                                                 or abs(item["cut"] - base["cut"]) >= 2)]
    if moved:
        text += " Values that move the first cut: " + "; ".join(
            f"{s} = {setting_value(v)}: {_cut_text(item)}" for s, v, item in moved) + "."
        if frozen and any(s == "lam_div" for s, _, _ in moved):
            text += (" What λ_DIV changes can only come through the schedule: L_DIV moves no gradient of a frozen "
                     "attention.")
    book = by.get(("BOOK", json.dumps("book")))
    if book is not None and record.get("book_on_validation", {}).get("settings"):
        text += f" With the values adopted together (the book's configuration), {_cut_text(book)}."
    return text


def scoring_curves(ax, record: dict) -> None:
    """The cct rule's validation T1 against ρ, for raw and for unit-length prototypes (mean ± standard error)."""
    rows = [r for r in record["runs"] if r["setting"] == "SCORING" and r["rule"] == "cct" and r["split"] == "val"]
    for norm, marker in ((False, "o-"), (True, "s-")):
        rhos = sorted({r["value"]["ridge_lambda"] for r in rows if r["value"]["prototype_norm"] is norm})
        by_rho = [stats.mean_se(100 * r["T1"] for r in rows
                                if r["value"] == {"ridge_lambda": rho, "prototype_norm": norm}) for rho in rhos]
        ax.errorbar(rhos, [m["mean"] for m in by_rho], yerr=[m["se"] for m in by_rho],
                    fmt=marker, capsize=2, label="unit-length prototypes" if norm else "raw prototypes")
    ax.set_xscale("log")
    ax.set_xlabel("ridge penalty ρ of eq. (10)")
    ax.set_ylabel("validation T1 (%), cct rule")
    ax.legend(loc="best")




def _moves(search: dict) -> list[tuple[str, dict]]:
    """The moves a search made: ``(setting = value, gain)`` of each."""
    return [(change_text(move["setting"], move["value"]), move["gain"]) for _, _, move in moves(search)]
