"""Chapter 06's figure of where two models put their squares on the same unseen-class test images: each looking
record row keeps its squares (centres and side) and maps on the first :data:`~sgma_core.studies.looking.SHOWN`
test images (``row["shown"]``); this draws them over the images, one row of panels per model."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from bookkit.figures import subplots

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
