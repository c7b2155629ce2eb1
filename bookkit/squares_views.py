"""Chapter 06's figure of where two models put their squares on the same unseen-class test images: each looking
record row keeps its squares (centres and side) and maps on the first :data:`~sgma_core.studies.looking.SHOWN`
test images (``row["shown"]``); this draws them over the images, one row of panels per model, and says in a
sentence where the literal eq. (3) control's squares went beside the book's."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from bookkit.figures import subplots
from bookkit.study_views import FLAT_SHARE
from bookkit.wording import count, number_word

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
