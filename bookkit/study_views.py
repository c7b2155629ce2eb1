"""What the chapters show of the looking record (``results/looking-<profile>.json``): each control's
paired difference from the book's configuration with its standard error, in percentage points, and the verdict
the book's rule gives it (a difference within two standard errors is "no difference"); where the squares land.
The ablation record's views are :mod:`bookkit.ablation_views`."""

from __future__ import annotations

import numpy as np

from bookkit.display import other_settings_sentence, record_config
from bookkit.wording import (
    count,
    join_words,
    mean_sd,
    number_word,
    percents,
    points,
    seeds_text,
    verdict,
)
from sgma_core import stats

CONTROL_TEXT = {
    "book": "the book's configuration",
    "image_centre": "both squares at the image centre",
    "random_places": "squares at random places (drawn from each image)",
    "oracle_parts": "squares at the annotated parts (head; wing and tail)",
    "whole_image": "the whole image three times (`part_scale` 1)",
    "attention_none": "attention subnet frozen after eq. (11)",
    "attention_heads": "only the attention heads train",
    "peak_centre": "squares at the maps' peaks (the paper's rule)",
    "learned_centre": "square regressed from the map",
    "no_cct": "β_CCT = 0",
    "literal_eq3": "the paper's attention as it reads (literal eq. (3), trained end to end)",
    "attention_full": "the attention subnet trains whole, its backbone included",
    "baseline": "the baseline of chapter 02 (no parts, one backbone)",
    "baseline_joint_input": "the baseline fed the images at SGMA's global-branch size (equal input)",
}
CENTRE_TEXT = {"peak": "squares at the maps' peaks", "learned": "squares regressed from the maps"}
PLACEMENT = ("image_centre", "random_places", "whole_image")  # controls that put the squares without looking


def looking_where_rows(record: dict) -> list[list[str]]:
    """Where the cropped squares land, per control (mean ± sd over its seeds) and for the references."""
    out = []
    for control in record["controls"]:
        rows = [r for r in record["rows"] if r["control"] == control]
        if rows:
            out.append([control_label(record, control), str(len(rows)),
                        *(mean_sd([r["where"][k] for r in rows]) for k in ("hits", "telling_hits", "part_box"))])
    for name, ref in record["references"].items():
        out.append([f"reference: {name}", "–", *(f"{100 * ref[k]:.1f}" for k in ("hits", "telling_hits", "part_box"))])
    return out


def looking_effect_rows(record: dict) -> list[list[str]]:
    """Each control's paired difference from the book's configuration on the test classes (points), with verdicts."""
    book = [r for r in record["rows"] if r["control"] == "book"]
    out = [[control_text(record, "book"),
            *(mean_sd([r[m] for r in book]) + " (absolute, ± sd)" for m in ("T1", "H", "H_calibrated"))]]
    for control, diffs in record["paired"].items():
        out.append([control_label(record, control),
                    *(f"{points(diffs.get(m))} ({verdict(diffs.get(m))})" for m in ("T1", "H", "H_calibrated"))])
    return out


def control_label(record: dict, control: str) -> str:
    """A control's name, saying so where its runs are another row's (the same settings, trained once)."""
    twin = record.get("same_as", {}).get(control)
    return control_text(record, control) + (f" (the same runs as {control_text(record, twin)})" if twin else "")


def control_text(record: dict | None, control: str) -> str:
    """:data:`CONTROL_TEXT`'s name of ``control``; the book's says how its squares are placed, from the record's
    configuration (``provenance.config.centre_rule``) where the record holds it."""
    if control == "book":
        rule = record_config(record).get("centre_rule")
        return CONTROL_TEXT["book"] + (f": {CENTRE_TEXT[rule]}" if rule in CENTRE_TEXT else "")
    return CONTROL_TEXT.get(control, control)


def book_twins_sentence(record: dict | None) -> str:
    """Which controls of a looking record are the book's configuration itself (``same_as`` names "book")."""
    if record is None:
        return "the record says which once it is made"
    twins = [CONTROL_TEXT.get(c, c) for c, twin in record.get("same_as", {}).items() if twin == "book"]
    if not twins:
        return "in the record rendered here no control is"
    return (f"in the record rendered here, {'this is' if len(twins) == 1 else 'these are'} "
            + join_words([f"“{t}”" for t in twins]))


def capacity_sentence(record: dict | None) -> str:
    """Whether three more backbones that look nowhere in particular (the whole image three times) account for what
    separates the book's configuration from the baseline: both paired differences of test T1, with their verdicts."""
    def t1(control: str) -> dict:
        return {r["seed"]: r["T1"] for r in (record or {}).get("rows", []) if r["control"] == control}

    capacity, places = stats.paired(t1("whole_image"), t1("baseline")), stats.paired(t1("book"), t1("whole_image"))
    if capacity is None or places is None:
        return ""
    told = {("higher", "no difference"): "the three more backbones account for the book's gain over the baseline, "
                                         "not where its squares go",
            ("no difference", "higher"): "where the squares go accounts for it, not the three more backbones"}
    return (f"Here the whole image three times minus the baseline is {points(capacity)} points of test T1 "
            f"({stats.verdict(capacity)}), and the book's configuration minus the whole image three times is "
            f"{points(places)} ({stats.verdict(places)}): "
            + told.get((stats.verdict(capacity), stats.verdict(places)),
                       f"on {count(places['n'], 'seed')} neither alone accounts for it") + ".")


def plot_controls(ax, record: dict, metric: str = "T1") -> None:
    """Each control's paired ``metric`` difference from the book's configuration, mean ± 2 standard errors."""
    items = [(c, d[metric]) for c, d in record["paired"].items() if d.get(metric)]
    y = np.arange(len(items))[::-1]
    for yi, (_control, d) in zip(y, items):
        ax.errorbar([100 * d["mean"]], [yi], xerr=[200 * d["se"]], fmt="o", capsize=2, ms=4,
                    color={"higher": "C2", "lower": "C3"}.get(verdict(d), "0.4"))
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, [c.replace("_", " ") for c, _ in items])
    ax.set_xlabel(f"test {metric} minus the book's (points, ± 2 SE)")


def _placement_clause(record: dict) -> str:
    """What putting the squares without looking, or at the annotated parts, does to test T1."""
    paired = record["paired"]
    t1 = {c: paired[c]["T1"] for c in (*PLACEMENT, "oracle_parts") if paired.get(c, {}).get("T1")}
    blind = {c: d for c, d in t1.items() if c in ("image_centre", "random_places")}
    parts = []
    oracle = t1.get("oracle_parts")
    if oracle is not None:
        parts.append(f"squares at the annotated parts {'raise' if verdict(oracle) == 'higher' else 'lower'} test T1 "
                     f"by {points(oracle).lstrip('+-')} points" if verdict(oracle) != "no difference"
                     else "even squares at the annotated parts leave test T1 where it is")
    if blind:
        lower = [CONTROL_TEXT[c] for c, d in blind.items() if verdict(d) == "lower"]
        higher = [f"{CONTROL_TEXT[c]}, {points(d).lstrip('+')} points" for c, d in blind.items()
                  if verdict(d) == "higher"]
        if lower:
            parts.append(f"squares put without looking lose T1 ({'; '.join(lower)})")
        if higher:
            parts.append(f"squares put without looking recognise better (test T1) than the book's "
                         f"({'; '.join(higher)})")
        if not lower and not higher:
            parts.append(f"squares put without looking ({'; '.join(CONTROL_TEXT[c] for c in blind)}) recognise no "
                         "worse than the book's (test T1 within two standard errors)")
    for control, what in (("whole_image", "the whole image three times"), ("baseline", "the baseline without parts"),
                          ("literal_eq3", "the paper's literal eq. (3)")):
        gain = paired.get(control, {}).get("T1")
        if gain is not None and verdict(gain) != "no difference":
            parts.append(f"{what} does {'better' if verdict(gain) == 'higher' else 'worse'} by "
                         f"{points(gain).lstrip('+-')} points")
    return "; ".join(parts)


CEILING = 0.97  # a mean test T1 at or above which recognition leaves where the squares go little room to show


def ceiling_sentence(record: dict) -> str:
    """A sentence where the book's model and every control moving its squares reach :data:`CEILING` of test T1."""
    t1 = {c: float(np.mean([r["T1"] for r in record["rows"] if r["control"] == c])) for c in
          ("book", *PLACEMENT, "oracle_parts") if any(r["control"] == c for r in record["rows"])}
    if "book" not in t1 or len(t1) < 2 or min(t1.values()) < CEILING:
        return ""
    names = join_words([CONTROL_TEXT[c] for c in t1 if c != "book"])
    return (f"These test classes leave recognition little room: the book's configuration and the controls that move "
            f"its squares ({names}) recognise {100 * min(t1.values()):.1f} % or more of the unseen test images (ZSL "
            f"T1, mean over seeds), so T1 can differ between them by {100 * (1 - min(t1.values())):.1f} points at "
            "most, and where the squares go is read from the part-box score, not from recognition.")


def looking_answer(record: dict) -> str:
    """The title question answered from the record in one sentence, whichever way it comes out: does SGMA put
    its squares on the telling parts better than a fixed point (the part-box score), and what do the squares'
    places do to recognition (the oracle, the squares put without looking, the whole image)?"""
    book = [r for r in record["rows"] if r["control"] == "book"]
    if not book:
        return "The record holds no run of the book's configuration yet."
    part_box = stats.mean_se(r["where"]["part_box"] for r in book)
    score, se = part_box["mean"], part_box["se"]
    fixed = max(record["references"]["image centre"]["part_box"], record["references"]["random points"]["part_box"])
    learns = stats.beats({"mean": score - fixed, "se": se})  # above the better fixed reference
    # as many decimals as chapter 06's table shows, and more where they would make the two numbers look equal
    shown, shown_fixed = percents(score, fixed, digits=1)
    trained = record_config(record).get("attention_training", "full") != "none"
    verb = ("learns" if learns else "shows no sign that it learns") if trained else (
        "finds" if learns else "shows no sign that it finds")  # not above a fixed point by two standard errors
    oracle = [r["where"]["part_box"] for r in record["rows"] if r["control"] == "oracle_parts" and "where" in r]
    where = (f"SGMA {verb} where to look on the synthetic birds (its squares' part-box score "
             f"{shown.removesuffix(' %')} ± {100 * se:.1f} % (mean ± standard error over {count(len(book), 'seed')}) "
             f"against {shown_fixed} for the better of a fixed centre and random points"
             + (f", and {percents(float(np.mean(oracle)), digits=1)[0]} for squares at the annotated parts"
                if oracle else "")
             + ("; its attention is eq. (11)'s channel grouping on the pretrained backbone, which the book's "
                "configuration does not train further" if not trained else "") + ")")
    if not record.get("provenance", {}).get("complete", True):
        missing = [CONTROL_TEXT.get(c, c) for c in record.get("controls", ())
                   if c != "book" and c not in record["paired"]]
        where = "So far (the study is in progress" + (f"; no runs yet of: {'; '.join(missing)}" if missing else "") \
            + "): " + where
    clause = _placement_clause(record)
    after = " ".join(filter(None, [equal_input_sentence(record), ceiling_sentence(record)]))
    if not clause:
        return where + "; whether it matters awaits the controls' runs." + (f" {after}" if after else "")
    return f"{where}; {clause}." + (f" {after}" if after else "")


def equal_input_sentence(record: dict) -> str:
    """SGMA minus the baseline fed the images at SGMA's global-branch size, in test T1 (paired mean ± SE, points,
    and the verdict), or "" where the record has no such baseline."""
    gain = record["paired"].get("baseline_joint_input", {}).get("T1")
    if gain is None:
        return ""
    sgma_minus = {**gain, "mean": -gain["mean"]}  # paired stores control − book
    same = record.get("same_as", {}).get("baseline_joint_input") == "baseline"
    said = {"higher": "SGMA higher", "lower": "SGMA lower"}.get(verdict(sgma_minus), "no difference: within two "
                                                                                   "standard errors")
    return (f"At equal input, SGMA minus the baseline fed the images at the size SGMA's global branch sees"
            f"{' (here its own size)' if same else ''} is {points(sgma_minus)} points of test T1, paired over "
            f"{count(gain['n'], 'seed')} (mean ± standard error; {said}).")


FLAT_SHARE = 0.99  # a model whose squares take one place in this share of the images or more has flat maps


def looking_mechanism(record: dict, config: dict | None = None) -> str:
    """Why the book's squares land where they do, from the record: whether they move between seeds, and
    whether training the attention heads changes anything against a frozen subnet (same seeds). ``config``: the
    settings of the page it is quoted on; where the record's differ, it says how instead."""
    book = [r for r in record["rows"] if r["control"] == "book"]
    if not book:
        return ""
    other = other_settings_sentence(record, config, "what it says of its squares is")
    if other:
        return other
    out = [_across_seeds(book)] if len(book) > 1 else []  # one seed says nothing of how seeds differ
    placed = [r["squares"] for r in book if "squares" in r]
    if placed:
        most = max(p["distinct_centres"] for p in placed)
        spread = max(p["map_spread"] for p in placed)
        text = (f"over the {placed[0]['images']} test images the two squares take {count(most, 'distinct pair')} of "
                f"places{' at most (whichever the seed)' if len(placed) > 1 else ''}, and the maps' values range over "
                f"{spread:.3g}{' at most' if len(placed) > 1 else ''} (largest minus smallest, all test images)")
        flat = [p for p in placed if p["most_common_share"] >= FLAT_SHARE]  # one place for (almost) every image
        if flat:
            x0, y0, x1, y1 = flat[0]["most_common"]
            where = (f"centred at ({x0:g}, {y0:g}) and ({x1:g}, {y1:g}) of its {flat[0]['image_size']} × "
                     f"{flat[0]['image_size']} pixels (x, y)")
            text += (f": the maps are flat, and both squares crop one place in at least {100 * FLAT_SHARE:.0f} % of "
                     f"the images, {where}" if len(placed) == 1 else
                     f"; on {count(len(flat), 'seed')} of {len(placed)} the maps are flat and both squares crop one "
                     f"place in at least {100 * FLAT_SHARE:.0f} % of the images (the first such seed: {where})")
        out.append(text)
    by = {(r["control"], r["seed"]): r for r in record["rows"]}
    seeds = sorted(s for c, s in by if c == "attention_heads" and ("attention_none", s) in by)
    if seeds:
        same = [s for s in seeds if all(abs(by["attention_heads", s][m] - by["attention_none", s][m]) < 1e-9
                                        for m in ("T1", "H"))]
        what, moved = "training only the attention heads", any(
            by["attention_heads", s].get("where") != by["attention_none", s].get("where") for s in seeds)
        still = "" if moved else ", not where its squares land"  # heads whose sigmoids saturate do not move them
        if len(seeds) == 1:
            out.append(f"{what} {'gives exactly' if same else 'changes'} the test numbers (T1, H) of the frozen "
                       f"subnet ({seeds_text(seeds)}){'' if same else still}")
        else:
            out.append(f"{what} gives exactly the test numbers (T1, H) of the frozen subnet on "
                       f"{number_word(len(same))} of the {count(len(seeds), 'seed')}" if same else
                       f"{what} gives other test numbers than the frozen subnet (they differ in "
                       f"{_changed_on(by, seeds)}){still}")
    out += _against_book_training(record)
    return " ".join(f"{s[0].upper()}{s[1:]}." for s in out)  # one sentence each


def _against_book_training(record: dict) -> list[str]:
    """Where the book trains more of its attention than the heads-or-nothing controls: what training less does to
    test T1 against the book (paired, control − book), from the record's ``paired``; none otherwise."""
    trains = record_config(record).get("attention_training")
    lesser = {"full": ("attention_heads", "attention_none"), "heads": ("attention_none",)}.get(trains, ())
    said = {"attention_heads": "training only the heads", "attention_none": "freezing the attention subnet"}
    out = []
    for control in lesser:
        gain = record.get("paired", {}).get(control, {}).get("T1")
        if gain is not None and record.get("same_as", {}).get(control) != "book":
            out.append(f"against the book's attention trained {'whole' if trains == 'full' else 'in its heads'}, "
                       f"{said[control]} moves test T1 by {points(gain)} points ({verdict(gain)})")
    return out


def _changed_on(by: dict, seeds: list[int]) -> str:
    """On how many of ``seeds`` training the attention heads changed T1, and H, against the frozen subnet."""
    n = {m: sum(abs(by["attention_heads", s][m] - by["attention_none", s][m]) >= 1e-9 for s in seeds)
         for m in ("T1", "H")}
    return join_words([f"{m} on " + ("every seed" if k == len(seeds) else "none" if k == 0 else
                                     f"{number_word(k)} of the {number_word(len(seeds))}") for m, k in n.items()])


def _across_seeds(book: list[dict]) -> str:
    """Whether the book's squares land alike for all of its seeds (two or more), by their three scores."""
    spread = max(float(np.ptp([r["where"][k] for r in book])) for k in ("hits", "telling_hits", "part_box"))
    if spread < 0.005:
        return ("The book's squares land in the same places for every seed: their three place scores differ by "
                f"{100 * spread:.1f} points at most across the {count(len(book), 'seed')}")
    return (f"The book's squares move between seeds: their three place scores (near a part, near a telling part, "
            f"part-box) differ by up to {100 * spread:.1f} points across the {count(len(book), 'seed')}")


def looking_spread(record: dict, model: str = "sgma", config: dict | None = None) -> str:
    """The spread over the looking record's seeds of the book's configuration and the baseline (compat rule, test
    classes, mean ± sample sd) and, for SGMA, their paired difference (mean ± standard error), as one plain
    sentence: what a training chapter that runs one seed shows beside it. Empty when the record holds neither.
    ``config``: the page's settings; where the record's differ, the sentence says how instead of a spread."""
    by = {c: [r for r in record["rows"] if r["control"] == c] for c in ("book", "baseline")}
    if len(by["book"]) < 2 or len(by["baseline"]) < 2:
        return ""
    seeds = sorted(r["seed"] for r in by["book"])
    where = f"Over the {count(len(seeds), 'seed')} of results/looking-{record['profile']}.json " \
            f"({seeds_text(seeds)}, chapter 06)"
    other = other_settings_sentence(record, config, "the spread over its seeds is") if model == "sgma" else ""
    if other:
        return other
    baseline = (f"T1 {mean_sd([r['T1'] for r in by['baseline']])} % and H "
                f"{mean_sd([r['H'] for r in by['baseline']])} %")
    if model == "baseline":
        return f"{where} the same baseline reaches test {baseline} (mean ± sd): the spread one seed cannot show."
    text = (f"{where} the same configuration reaches test T1 {mean_sd([r['T1'] for r in by['book']])} % and H "
            f"{mean_sd([r['H'] for r in by['book']])} % (mean ± sd), the baseline {baseline}")
    gain = record["paired"].get("baseline", {})
    if gain.get("T1") and gain.get("H"):
        said = {m: verdict(gain[m]) if verdict(gain[m]) == "no difference" else f"the baseline {verdict(gain[m])}"
                for m in ("T1", "H")}
        text += (f"; the baseline minus SGMA, paired seed for seed (mean ± standard error): T1 {points(gain['T1'])} "
                 f"points ({said['T1']}), "
                 f"H {points(gain['H'])} ({said['H']})")
    return text + "."


def missing_controls_note(record: dict) -> str:
    """For a looking record made before controls the study has since gained: which, and what remakes it."""
    from sgma_core.studies.looking import BASELINES, CONTROLS

    rows = {r["control"] for r in record["rows"]}
    done = record.get("provenance", {}).get("complete", True)  # a study in progress has yet to reach some rows
    missing = [c for c in CONTROLS if c not in record["controls"]] + [b for b in BASELINES if b not in rows and done]
    if not missing:
        return ""
    return (f"This record was made before the study gained {count(len(missing), 'row')} of models, "
            f"{join_words([CONTROL_TEXT.get(c, c) for c in missing])}; `make looking` adds "
            f"{'it' if len(missing) == 1 else 'them'} (its stored runs are reused where the data is the same).")
