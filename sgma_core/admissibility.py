"""Is the attention alive? The check a reading must pass, on validation images only, before it can become
the book's configuration ("admissible before preferred"); the bars are declared in :data:`THRESHOLDS`.

* **distinct places** (:func:`distinct_share`): distinct pairs of square centres per image, in ``(0, 1]``
  (squares at one place in every image score ``1 / N``; :func:`distinct_on_grid`: what squares that follow the
  parts exactly score on a map's grid);
* **different cells** (:func:`different_cells_share`): the share of images whose part maps peak at pairwise
  different cells (what eq. (6) asks for);
* **telling hits**: the share of squares within the hit radius of a part that tells the classes apart must
  beat :func:`best_fixed_point`, the best share any single pixel reaches.

    check = attention_check(squares, peak_cells, parts, telling, radius, size)   # [N, P, 2], [N, P, 2], [N, Q, 3]
    check["passed"], check["failed"]          # True / ["distinct_places", …]
"""

from __future__ import annotations

import numpy as np

from sgma_core.localization import cell_centres, hit_rates

THRESHOLDS = {
    "distinct_places": 0.30,  # distinct square pairs per image, at least
    "different_cells": 0.90,  # share of images whose maps peak at different cells, at least
}
ROUNDING = 1  # square centres are compared at 0.1 pixel


def distinct_share(squares: np.ndarray) -> float:
    """Distinct square pairs per image: ``squares`` ``[N, P, 2]`` (pixels) → a share in ``(0, 1]``."""
    squares = np.asarray(squares, dtype=np.float64)
    if squares.ndim != 3 or squares.shape[-1] != 2 or len(squares) == 0:
        raise ValueError(f"squares must be [N, P, 2] with N > 0, got shape {squares.shape}")
    pairs = np.unique(np.round(squares.reshape(len(squares), -1), ROUNDING), axis=0)
    return len(pairs) / len(squares)


def distinct_on_grid(points: np.ndarray, cells: tuple[int, int], size: int, side: float) -> float:
    """:func:`distinct_share` of ``points`` ``[N, P, 2]`` (pixels of a ``size``-pixel input) once each is moved to
    the centre of its cell of a ``cells = (h, w)`` map and its square of ``side`` pixels inside the image, as the
    peak rule places and eq. (4) crops: what squares that follow the points exactly score on that grid."""
    points = np.asarray(points, dtype=np.float64)
    stride = np.array([size / cells[1], size / cells[0]])  # (x, y) pixels per cell
    cell = np.clip(np.floor((points + 0.5) / stride), 0, np.array([cells[1], cells[0]]) - 1)
    centres = cell_centres(cell, stride)
    return distinct_share(np.clip(centres, side / 2 - 0.5, size - 0.5 - side / 2))


def different_cells_share(peak_cells: np.ndarray) -> float:
    """The share of images whose maps all peak at different cells: ``peak_cells`` ``[N, P, 2]`` (cell indices)."""
    cells = np.asarray(peak_cells)
    if cells.ndim != 3 or cells.shape[-1] != 2 or len(cells) == 0:
        raise ValueError(f"peak_cells must be [N, P, 2] with N > 0, got shape {cells.shape}")
    keys = cells[..., 0] * 100_003 + cells[..., 1]  # [N, P]
    distinct = np.array([len(np.unique(row)) == len(row) for row in keys])
    return float(distinct.mean())


def best_fixed_point(parts: np.ndarray, radius: float, size: int) -> tuple[float, tuple[float, float]]:
    """The highest hit rate a single fixed pixel reaches over the images, and that pixel (x, y).

    ``parts`` ``[N, Q, 3]`` (x, y, visible) at a ``size × size`` input; every pixel centre is tried."""
    grid = np.arange(size, dtype=np.float64)
    xs, ys = np.meshgrid(grid, grid, indexing="xy")
    candidates = np.stack([xs.ravel(), ys.ravel()], axis=-1)  # [size², 2]
    best, where = -1.0, (0.0, 0.0)
    for chunk in np.array_split(candidates, max(1, len(candidates) // 256)):
        points = np.broadcast_to(chunk[None], (len(parts), len(chunk), 2))
        rates = hit_rates(points, parts, radius)  # [len(chunk)]
        i = int(rates.argmax())
        if rates[i] > best:
            best, where = float(rates[i]), (float(chunk[i, 0]), float(chunk[i, 1]))
    return best, where


def attention_check(squares: np.ndarray, peak_cells: np.ndarray, parts: np.ndarray, telling: np.ndarray,
                    radius: float, size: int) -> dict:
    """The three criteria on ``N`` validation images.

    ``squares`` ``[N, P, 2]``: the cropped squares' centres (pixels of the ``size`` input); ``peak_cells``
    ``[N, P, 2]``: each map's argmax cell; ``parts`` ``[N, Q, 3]`` at the same input; ``telling`` ``[Q]`` bool;
    ``radius``: the hit radius in pixels. Returns the measured values, the bars, ``passed`` and the names of
    the criteria that ``failed``."""
    telling_parts = np.asarray(parts)[:, np.asarray(telling, dtype=bool)]
    if telling_parts.shape[1] == 0:
        raise ValueError("no part tells the classes apart: the telling-part criterion cannot be scored")
    hits = float(hit_rates(np.asarray(squares, dtype=np.float64), telling_parts, radius).mean())
    fixed, point = best_fixed_point(telling_parts, radius, size)
    values = {"distinct_places": distinct_share(squares), "different_cells": different_cells_share(peak_cells),
              "telling_hits": hits, "best_fixed_point_hits": fixed, "best_fixed_point": list(point)}
    failed = [name for name, bar in THRESHOLDS.items() if not values[name] >= bar]
    if not hits > fixed:
        failed.append("telling_hits")
    return {**values, "thresholds": dict(THRESHOLDS), "passed": not failed, "failed": failed, "images": len(squares)}


def summarise_checks(checks: list[dict]) -> dict:
    """One reading over its seeds: the mean of each measured value, and whether the reading passes (every
    criterion met by the seeds' mean, the telling hits above the mean best fixed point)."""
    if not checks:
        raise ValueError("no checks to summarise")
    keys = ("distinct_places", "different_cells", "telling_hits", "best_fixed_point_hits")
    mean = {k: float(np.mean([c[k] for c in checks])) for k in keys}
    failed = [name for name, bar in THRESHOLDS.items() if not mean[name] >= bar]
    if not mean["telling_hits"] > mean["best_fixed_point_hits"]:
        failed.append("telling_hits")
    return {**mean, "seeds_passed": sum(c["passed"] for c in checks), "seeds": len(checks),
            "passed": not failed, "failed": failed}


def telling_margin(checks: list[dict]) -> dict:
    """How far a reading's telling-part hits are above the best fixed point's, paired over its seeds' ``checks``:
    the mean ± standard error of the per-seed differences (:func:`sgma_core.stats.mean_se`), in shares."""
    from sgma_core.stats import mean_se

    return mean_se(c["telling_hits"] - c["best_fixed_point_hits"] for c in checks)
