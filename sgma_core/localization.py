"""Where does the model look? Attention peaks scored against ground-truth part locations.

A map "hits" an image when its peak, mapped to input pixels, lies within ``radius`` pixels of
any visible ground-truth part; the part it lands nearest to, counted over images, is the part
that map prefers. Uniformly random points give the chance level of the same score.
"""

from __future__ import annotations

import numpy as np


def scale_parts(part_locs: np.ndarray, original_sizes: np.ndarray, size: int) -> np.ndarray:
    """Part locations ``[N, Q, 3]`` (x, y, visible) from original pixels to a ``size × size`` resize."""
    out = np.array(part_locs, dtype=np.float64, copy=True)
    out[..., 0] *= size / original_sizes[:, None, 0]
    out[..., 1] *= size / original_sizes[:, None, 1]
    return out


def nearest_parts(points: np.ndarray, parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For points ``[N, M, 2]`` and parts ``[N, Q, 3]``: distance to the nearest visible part and its
    index, each ``[N, M]`` (``inf`` / −1 where an image has no visible part)."""
    d = np.linalg.norm(points[:, :, None, :] - parts[:, None, :, :2], axis=-1)  # [N, M, Q]
    d = np.where(parts[:, None, :, 2] > 0, d, np.inf)
    idx = d.argmin(-1)
    dist = np.take_along_axis(d, idx[..., None], -1)[..., 0]
    return dist, np.where(np.isfinite(dist), idx, -1)


def hit_rates(points: np.ndarray, parts: np.ndarray, radius: float) -> np.ndarray:
    """Fraction of images ``[M]`` whose point ``m`` lies within ``radius`` of a visible part."""
    dist, _ = nearest_parts(points, parts)
    return (dist <= radius).mean(axis=0)


def preferred_parts(points: np.ndarray, parts: np.ndarray, part_names: list[str]) -> list[tuple[str, float]]:
    """For each point ``m``: the part it is most often nearest to, and how often."""
    _, idx = nearest_parts(points, parts)
    out = []
    for m in range(points.shape[1]):
        valid = idx[:, m][idx[:, m] >= 0]
        counts = np.bincount(valid, minlength=len(part_names))
        out.append((part_names[int(counts.argmax())], float(counts.max() / max(len(valid), 1))))
    return out


def peak_concentration(points: np.ndarray, cell: float = 1.0) -> np.ndarray:
    """For points ``[N, M, 2]``: the share ``[M]`` of images whose point ``m`` falls in the single most
    common ``cell`` × ``cell`` square. Near 1: the map peaks at the same place in every image,
    whatever the image shows; random points give about ``1 / number of cells``."""
    keys = np.floor(points / cell).astype(np.int64)
    out = np.empty(points.shape[1])
    for m in range(points.shape[1]):
        _, counts = np.unique(keys[:, m], axis=0, return_counts=True)
        out[m] = counts.max() / len(keys)
    return out


def random_points(n: int, m: int, size: int, seed: int = 0) -> np.ndarray:
    """Uniformly random points ``[n, m, 2]`` in a ``size × size`` image."""
    return np.random.default_rng(seed).uniform(0, size, size=(n, m, 2))


# Words by which an attribute group names a part (``has_bill_length`` is about the beak); a part is
# also named by the last word of its own name ("left wing" → "wing").
PART_WORDS = {"beak": ("bill",), "crown": ("head",), "forehead": ("head",), "eye": ("head",), "nape": ("head",)}


def discriminative_parts(part_names: list[str], attribute_names: list[str], att: np.ndarray) -> np.ndarray:
    """Which parts ``[Q]`` (bool) carry attributes that differ between classes.

    An attribute ``has_<words>::<value>`` belongs to a part when one of its words names the part
    (:data:`PART_WORDS`); a part is discriminative when some attribute of it takes different values
    in different classes (``att`` ``[K, C]``, one row per attribute)."""
    varies = np.ptp(np.asarray(att, dtype=np.float64), axis=1) > 1e-9  # [K]
    groups = [set(name.split("::")[0].removeprefix("has_").split("_")) for name in attribute_names]
    out = np.zeros(len(part_names), dtype=bool)
    for q, part in enumerate(part_names):
        words = {part.split()[-1], *PART_WORDS.get(part.split()[-1], ())}
        out[q] = any(varies[k] and words & g for k, g in enumerate(groups))
    return out
