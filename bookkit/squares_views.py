"""Chapter 06's figure of where two models put their squares on the same unseen-class test images: each looking
record row keeps its squares (centres and side) and maps on the first :data:`~sgma_core.studies.looking.SHOWN`
test images (``row["shown"]``); this draws them over the images, one row of panels per model, and says in a
sentence where the literal eq. (3) control's squares went beside the book's."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from bookkit.display import other_settings_sentence, record_config
from bookkit.figures import subplots
from bookkit.study_views import FLAT_SHARE
from bookkit.wording import count, join_words, number_word, points
from sgma_core import stats
from sgma_core.admissibility import summarise_checks, telling_margin

COLOURS = ("white", "cyan")  # part 1, part 2


def shown_rows(record: dict, controls, seed: int) -> dict[str, dict]:
    """``{control: row["shown"]}`` of ``seed`` for each of ``controls`` the record holds with its squares."""
    out = {}
    for control in controls:
        row = next((r for r in record["rows"] if r["control"] == control and r["seed"] == seed and "shown" in r), None)
        if row is not None:
            out[control] = row["shown"]
    return out


def plot_shown(images, shown: dict[str, dict], labels: dict[str, str], columns: int = 3):
    """The images (uint8 ``[N, 3, S, S]``, the first ``N`` test images the rows kept) with each model's larger
    map overlaid and its two squares, ``columns`` images per row of panels, the models one under the other.
    Returns the figure."""
    n = min(len(images), *(len(s["squares"]) for s in shown.values()))
    rows_per_model = -(-n // columns)
    fig, axes = subplots(rows_per_model * len(shown), columns, width=5.4,
                         height=1.9 * rows_per_model * len(shown), squeeze=False)
    size = images.shape[-1]
    for m, (control, s) in enumerate(shown.items()):
        maps, squares, side = np.asarray(s["maps"]), np.asarray(s["squares"]), np.asarray(s["side"])
        for j in range(rows_per_model * columns):
            ax = axes[m * rows_per_model + j // columns, j % columns]
            ax.axis("off")
            if j >= n:
                continue
            ax.imshow(np.asarray(images[j]).transpose(1, 2, 0))
            ax.imshow(maps[j].max(0), cmap="magma", alpha=0.45, extent=(0, size, size, 0), vmin=0, vmax=1)
            for i, colour in enumerate(COLOURS[: squares.shape[1]]):
                (x, y), t = squares[j, i], side[j, i]
                ax.add_patch(plt.Rectangle((x - t / 2, y - t / 2), t, t, fill=False, color=colour, lw=1.2))
            if j % columns == 0:
                ax.set_title(labels.get(control, control), loc="left", fontsize=9)
    fig.tight_layout()
    return fig


def literal_squares_sentence(record: dict) -> str:
    """Where the literal eq. (3) control's squares went in this record, beside the book's: distinct pairs of
    places over the test images and the seeds whose maps are flat ("" without the control)."""
    rows = {c: [r["squares"] for r in record["rows"] if r["control"] == c and "squares" in r]
            for c in ("literal_eq3", "book")}
    if not rows["literal_eq3"] or not rows["book"]:
        return ""
    span = {c: sorted(p["distinct_centres"] for p in placed) for c, placed in rows.items()}
    text = {c: f"{s[0]}" if s[0] == s[-1] else f"{s[0]} to {s[-1]}" for c, s in span.items()}
    flat, n = sum(p["most_common_share"] >= FLAT_SHARE for p in rows["literal_eq3"]), len(rows["literal_eq3"])
    one = f"{100 * FLAT_SHARE:.0f} %"
    flats = ("its maps are flat on none of them" if not flat else
             f"its maps are flat, both squares cropping one place in at least {one} of the images, on "
             + ({1: "that seed", 2: "both seeds"}.get(n, "every seed") if flat == n else
                f"{number_word(flat)} of the {count(n, 'seed')}"))
    pairs = "distinct pair" if text["literal_eq3"] == "1" else "distinct pairs"
    return (f"Trained in this record with the book's loss weights and other settings, the literal reading's squares "
            f"take {text['literal_eq3']} {pairs} of places over the {rows['literal_eq3'][0]['images']} test images "
            f"({count(n, 'seed')}), against {text['book']} for the book's configuration; {flats}.")


NOT_FROM_MAPS = {"image_centre", "random", "oracle"}  # centre rules whose squares ignore the maps


def _span(values) -> str:
    """Fractions as their range in %: ``"18–28"``, or one number where they agree."""
    low, high = 100 * min(values), 100 * max(values)
    return f"{low:.0f}" if round(low) == round(high) else f"{low:.0f}–{high:.0f}"


def _from_maps(record: dict) -> dict[str, list[dict]]:
    """The rows of each control whose squares come from its maps (twins of another control left out)."""
    out = {}
    for control, overrides in record["controls"].items():
        if record.get("same_as", {}).get(control) or overrides.get("centre_rule") in NOT_FROM_MAPS \
                or overrides.get("part_scale") == 1:
            continue
        rows = [r for r in record["rows"] if r["control"] == control and r.get("check")]
        if rows:
            out[control] = rows
    return out


def check_header(record: dict) -> list[str]:
    """The columns of :func:`check_rows`, with the check's bars (and the best single point's hits)."""
    check = next(r["check"] for rows in _from_maps(record).values() for r in rows)
    bars = check["thresholds"]
    return ["squares", f"at distinct places (%; bar {100 * bars['distinct_places']:.0f})",
            f"maps peak at different cells (%; bar {100 * bars['different_cells']:.0f})",
            f"on a telling part (%; best single point {100 * check['best_fixed_point_hits']:.0f})", "seeds passing"]


def check_rows(record: dict) -> list[list[str]]:
    """The attention check (:mod:`sgma_core.admissibility`) on the test images, lowest–highest over the seeds,
    for each control whose squares come from its maps; then the oracle's squares as measured and moved to their
    cell of the book's map grid (the most "distinct places" squares that follow the parts reach there)."""
    from bookkit.study_views import control_label

    out = []
    for control, rows in _from_maps(record).items():
        checks = [r["check"] for r in rows]
        out.append([control_label(record, control), *(_span([c[k] for c in checks]) for k in
                    ("distinct_places", "different_cells", "telling_hits")),
                    f"{sum(c['passed'] for c in checks)} of {len(checks)}"])
    oracle = [r["check"]["distinct_places"] for r in record["rows"]
              if r["control"] == "oracle_parts" and r.get("check")]
    ceiling = record.get("distinct_ceiling")
    if oracle:
        out.append(["reference: squares at the annotated parts (head; wing and tail)", _span(oracle), "–", "–", "–"])
    if ceiling:
        h, w = ceiling["map_cells"]
        exact = _span([ceiling["oracle"]])
        out.append([f"reference: squares on the head and another telling part of each bird ({exact} %), each moved "
                    f"to the centre of its cell of the {h} × {w} maps"
                    + ("" if _book_rule(record).grid_squares
                       else " (the peak rule's bound; the book's squares are not held to the grid)"),
                    _span([ceiling["oracle_on_grid"]]), "–", "–", "–"])
    return out


def book_validation_checks(ablations: dict | None, config: dict | None = None) -> list[dict]:
    """The attention checks of the book's configuration (the ablation record's ``chosen``) on the validation
    images, one per seed (its re-test where there is one): what admitted it (chapter 05). None where ``config``
    (the settings of the runs they are set beside) differs from ``chosen`` in one of its settings."""
    if not ablations or not ablations.get("chosen"):
        return []
    chosen, by_seed = ablations["chosen"], {}
    if config and any(k in config and config[k] != v for k, v in chosen.items()):
        return []  # checks of another configuration than the runs they would be set beside
    for check in ablations.get("checks", []):
        value = check.get("value")
        if isinstance(value, dict) and value and all(chosen.get(k) == v for k, v in value.items()):
            if check["seed"] not in by_seed or check["setting"] == "RETEST":
                by_seed[check["seed"]] = check
    return [by_seed[seed] for seed in sorted(by_seed)]


def _places(checks: list[dict]) -> str:
    """The count of distinct square pairs behind each check's share, lowest–highest."""
    counts = [round(c["distinct_places"] * c["images"]) for c in checks]
    return f"{min(counts)}–{max(counts)}" if min(counts) != max(counts) else str(counts[0])


def check_sentence(record: dict, validation: list[dict] | None = None) -> str:
    """What the check says on the test images, and what its first bar can reach on the book's map grid;
    beside the same counts on the validation images where the check admitted the configuration
    (``validation``: :func:`book_validation_checks`), if given."""
    rows, ceiling = _from_maps(record), record.get("distinct_ceiling")
    if "book" not in rows or not ceiling:
        return ""
    checks = [r["check"] for r in rows["book"]]
    bars, n = checks[0]["thresholds"], checks[0]["images"]
    passing = [c for c, rs in rows.items() if any(r["check"]["passed"] for r in rs)]
    distinct = [c["distinct_places"] for c in checks]
    h, w = ceiling["map_cells"]
    grid = ceiling["oracle_on_grid"]
    verdict = ("no reading whose squares come from its maps passes it on any seed" if not passing else
               f"{count(len(passing), 'reading')} whose squares come from the maps "
               f"{'passes' if len(passing) == 1 else 'pass'} it on some seeds")
    return (f"On the {n} test images, where the check a reading must pass on validation images to become the book's "
            f"configuration (chapter 05) is measured again, {verdict}: the book's squares are at distinct places in "
            f"{_span(distinct)} % of the images (distinct pairs of square places as a share of the images; bar "
            f"{100 * bars['distinct_places']:.0f} %) and its two maps peak at different cells in "
            f"{_span([c['different_cells'] for c in checks])} % (bar {100 * bars['different_cells']:.0f} %). "
            f"{_grid_clause(record, h, w, grid, distinct)}{_validation_counts(validation, checks)} Where the book's "
            f"squares go is read from the telling parts they land on ({_span([c['telling_hits'] for c in checks])} % "
            f"of them, against {100 * checks[0]['best_fixed_point_hits']:.0f} % for the best single point: the one "
            f"pixel, the same in every image, that is near a telling part most often) and from the part-box score "
            f"above.")


def _book_rule(record: dict):
    """The registered centre rule of the record's book configuration (the peak rule where the record does not say)."""
    from sgma_core.centres import rule_named

    return rule_named(record_config(record).get("centre_rule", "peak"))


def _grid_clause(record: dict, h: int, w: int, grid: float, distinct: list[float]) -> str:
    """What the maps' grid lets the first bar reach: a bound on squares at the maps' peaks (the peak rule), none on
    squares whose centres a rule computes from the whole map (the record's ``provenance.config.centre_rule``)."""
    oracle = (f"the squares that sit on each bird's head and on its other telling parts, moved to the centre of "
              f"their cell of the {h} × {w} maps as the peak rule places squares, are at distinct places in "
              f"{100 * grid:.0f} % of these images")
    rule = _book_rule(record)
    if not rule.grid_squares:
        return (f"The book's squares are not held to the maps' grid (its centre rule, {rule.name}, computes them "
                f"from the whole map), so the grid's bound on the first bar does not apply to them: {oracle}. ")
    return (f"The first bar counts the maps' grid as much as the looking: {oracle}, "
            f"{'fewer than' if grid < min(distinct) else 'as many as' if grid <= max(distinct) else 'more than'} "
            f"the book's: a square can take only {h * w} places on that grid, and the bar divides a count of places "
            f"by a count of images.")


def _validation_counts(validation: list[dict] | None, checks: list[dict]) -> str:
    if not validation:
        return ""
    n_val, n = validation[0]["images"], checks[0]["images"]
    passing = sum(c["distinct_places"] >= c["thresholds"]["distinct_places"] for c in validation)
    return (f" The book's squares took {_places(validation)} distinct pairs of places on the {n_val} validation "
            f"images of chapter 05 ({_span([c['distinct_places'] for c in validation])} %, over the bar on "
            f"{passing} of {len(validation)} seeds) and {_places(checks)} on these {n} "
            f"({_span([c['distinct_places'] for c in checks])} %). On the validation images {_admitted(validation)}, "
            f"and it passed on {sum(c['passed'] for c in validation)} of the {len(validation)} seeds one by one.")


def _admitted(validation: list[dict]) -> str:
    """Whether the seeds' mean met every bar, as the rule to admit a reading asks, and which bars it missed."""
    summary = summarise_checks(validation)
    if summary["passed"]:
        margin = telling_margin(validation)
        return ("the configuration met every bar on the mean over its seeds, as the rule to admit a reading asks"
                + ("" if len(validation) < 2 or stats.beats(margin) else
                   f", its telling hits above the best fixed point's by {points(margin)} points (mean ± standard "
                   f"error, paired), within two standard errors"))
    names = {"distinct_places": "distinct places", "different_cells": "different cells",
             "telling_hits": "telling hits above the best fixed point"}
    return ("the configuration missed " + join_words([names[f] for f in summary["failed"]])
            + " on the mean over its seeds, so the rule to admit a reading would not have admitted it")


def record_hits_sentence(record: dict | None, seed: int, hits: float, telling: float,
                         config: dict | None = None) -> str:
    """Where the looking record's squares of the book's configuration land, beside a page's own run of ``seed``
    (``hits``, ``telling``: its shares of squares near a part and near a telling part, the record's measures):
    the range over the record's seeds, and its ``seed`` against the page's. Empty without the record's book rows;
    where the record's settings differ from the page's ``config``, it says how instead."""
    book = {r["seed"]: r["where"] for r in (record or {}).get("rows", []) if r["control"] == "book" and "where" in r}
    if not book:
        return ""
    other = other_settings_sentence(record, config, "its squares are")
    if other:
        return other
    text = (f"The record chapter 06 renders puts the same configuration's squares near a part in "
            f"{_span([w['hits'] for w in book.values()])} % of these squares and near a telling part in "
            f"{_span([w['telling_hits'] for w in book.values()])} % over its {count(len(book), 'seed')}")
    if seed in book:
        theirs = book[seed]
        if abs(theirs["hits"] - hits) < 1e-9 and abs(theirs["telling_hits"] - telling) < 1e-9:
            text += f"; its seed {seed} is this page's run, square for square"
        else:
            text += (f"; its seed {seed} gives {100 * theirs['hits']:.1f} % and {100 * theirs['telling_hits']:.1f} %, "
                     f"this page's run {100 * hits:.1f} % and {100 * telling:.1f} %: the page trained other bits (the "
                     f"sentence under the results says so), and its squares land elsewhere")
    return text + "."
