"""Where does the model look? Attention peaks, square centres and part locations in one pixel
convention, and the scores that compare them.

**The pixel convention, everywhere in the book.** A coordinate is in pixels with pixel ``i``'s
centre at ``i``: the image ``0, 1, …, W − 1`` spans ``[−0.5, W − 0.5]``. So

* a feature-map cell ``c`` of a backbone with stride ``s`` is centred at pixel ``(c + 0.5)·s − 0.5``
  (:func:`cell_centres`), which is where the peak rule of eq. (4) puts a square's centre;
* a point at size ``A`` is at ``(p + 0.5)·B / A − 0.5`` at size ``B`` (:func:`rescale`), for part
  locations, peaks and square centres alike;
* a box ``(x, y, w, h)`` covers pixels ``x … x + w − 1`` and is centred at ``x + (w − 1) / 2``.

A point *hits* a part when it lies within ``radius`` pixels of the part's location and the part is
marked visible; uniformly random points over the image give the chance level of the same score.
"""

from __future__ import annotations

import numpy as np


def cell_centres(cells, stride: float):
    """Map cells (indices, any shape) → the pixel at their centre, ``(c + 0.5)·stride − 0.5``."""
    return (cells + 0.5) * stride - 0.5


def window_starts(centres, side: int, extent=None, lower_on_ties: bool = False):
    """The first pixel (or cell) of the window of ``side`` pixels whose middle is nearest each of ``centres``
    (numpy or torch, any shape): ``round(c − (side − 1)/2)``, kept inside ``[0, extent)`` when ``extent`` is
    given (a number, or one per last axis, e.g. ``(width, height)`` for points ``[..., 2]``). Where two windows
    are equally near (an even side about a whole pixel), rounding goes to the even start, or to the lower one
    with ``lower_on_ties``. Returns starts of the same shape, as floats."""
    v = centres - (side - 1) / 2
    starts = -((0.5 - v) // 1) if lower_on_ties else v.round()
    if extent is None:
        return starts
    if isinstance(extent, (tuple, list)):
        extent = np.asarray(extent)
    return starts.clip(0, extent - side)


def window_middles(starts, side: int):
    """The middle of windows of ``side`` pixels that start at ``starts``: ``start + (side − 1)/2``, as a box's
    centre ``x + (w − 1)/2``."""
    return starts + (side - 1) / 2


def map_peaks(maps) -> np.ndarray:
    """The argmax cell of every map ``[N, P, h, w]`` (numpy or torch): ``[N, P, 2]`` (x, y) as floats."""
    maps = maps.detach().cpu().numpy() if hasattr(maps, "detach") else np.asarray(maps)
    n, p, h, w = maps.shape
    flat = maps.reshape(n, p, h * w).argmax(-1)
    return np.stack([flat % w, flat // w], axis=-1).astype(np.float64)


def rescale(points: np.ndarray, from_sizes, to_sizes) -> np.ndarray:
    """Points ``[..., 2]`` (x, y) from an image of ``from_sizes`` to one of ``to_sizes`` pixels, each a
    number or ``(width, height)`` per image ``[N, 2]`` (broadcast over the points of an image)."""
    points = np.asarray(points, dtype=np.float64)
    lead = (slice(None),) + (None,) * (points.ndim - 2)  # [N, 1, …, 2] against [N, …, 2]

    def per_image(sizes):
        sizes = np.asarray(sizes, dtype=np.float64)
        return sizes[lead] if sizes.ndim == 2 else sizes

    return (points + 0.5) * (per_image(to_sizes) / per_image(from_sizes)) - 0.5


def peaks_in_pixels(maps, stride: float, size: int, sizes: np.ndarray | None = None) -> np.ndarray:
    """The peak of every map ``[N, P, h, w]`` at the centre of its cell, in the pixels of the ``size × size``
    input, or, given the original ``(width, height)`` of each image ``[N, 2]``, in its original pixels:
    ``[N, P, 2]`` (x, y)."""
    points = cell_centres(map_peaks(maps), stride)
    return points if sizes is None else rescale(points, size, sizes)


def scale_parts(part_locs: np.ndarray, original_sizes: np.ndarray, size: int) -> np.ndarray:
    """Part locations ``[N, Q, 3]`` (x, y, visible) from original pixels to a ``size × size`` resize."""
    out = np.array(part_locs, dtype=np.float64, copy=True)
    out[..., :2] = rescale(out[..., :2], original_sizes, size)
    return out


def scale_boxes(boxes: np.ndarray, original_sizes: np.ndarray, size: int) -> np.ndarray:
    """Boxes ``[N, 4]`` (x, y, w, h) from original pixels ``(width, height)`` ``[N, 2]`` to a ``size × size``
    resize: the corner rescaled as a point (:func:`rescale`), the width and height by the size ratio."""
    boxes = np.asarray(boxes, dtype=np.float64)
    scale = size / np.asarray(original_sizes).astype(np.float64)  # [N, 2]: x and y
    return np.concatenate([rescale(boxes[:, :2], original_sizes, size), boxes[:, 2:] * scale], axis=1)


def box_centres(boxes: np.ndarray) -> np.ndarray:
    """The centre of each bounding box ``[N, 4]`` (x, y, w, h): ``[N, 1, 2]``."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return (boxes[:, :2] + (boxes[:, 2:] - 1) / 2)[:, None, :]


def image_centres(sizes) -> np.ndarray:
    """The centre of each image, ``(width, height)`` ``[N, 2]`` (or one size for all): ``[N, 1, 2]``."""
    sizes = np.atleast_2d(np.asarray(sizes, dtype=np.float64))
    return ((sizes - 1) / 2)[:, None, :]


def random_points(n: int, m: int, size, seed: int = 0) -> np.ndarray:
    """Uniformly random points ``[n, m, 2]`` over images of ``size`` pixels (a number, or ``(width,
    height)`` per image ``[n, 2]``)."""
    sizes = np.asarray(size, dtype=np.float64)
    sizes = sizes[:, None, :] if sizes.ndim == 2 else sizes
    return np.random.default_rng(seed).uniform(0, 1, size=(n, m, 2)) * sizes - 0.5


def hit_radius(side):
    """How near a point must be to hit a part: an eighth of the image's (shorter) ``side``."""
    return side / 8


def hit_radii(sizes: np.ndarray) -> np.ndarray:
    """:func:`hit_radius` of each image ``(width, height)`` ``[N, 2]``: ``[N]``."""
    return hit_radius(np.asarray(sizes, dtype=np.float64).min(axis=1))


def part_distances(points: np.ndarray, parts: np.ndarray) -> np.ndarray:
    """Distance from each point ``[N, M, 2]`` to each part ``[N, Q, 3]``: ``[N, M, Q]``, ``inf`` where the
    part is not visible."""
    d = np.linalg.norm(points[:, :, None, :] - parts[:, None, :, :2], axis=-1)
    return np.where(parts[:, None, :, 2] > 0, d, np.inf)


def part_hits(points: np.ndarray, parts: np.ndarray, radius) -> np.ndarray:
    """``[N, M, Q]``: point ``m`` of image ``n`` lies within ``radius`` (a number, or ``[N]``) of visible part ``q``."""
    radius = np.asarray(radius, dtype=np.float64)
    return part_distances(points, parts) <= (radius[:, None, None] if radius.ndim else radius)


def nearest_parts(points: np.ndarray, parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For points ``[N, M, 2]`` and parts ``[N, Q, 3]``: distance to the nearest visible part and its
    index, each ``[N, M]`` (``inf`` / −1 where an image has no visible part)."""
    d = part_distances(points, parts)
    idx = d.argmin(-1)
    dist = np.take_along_axis(d, idx[..., None], -1)[..., 0]
    return dist, np.where(np.isfinite(dist), idx, -1)


def hit_rates(points: np.ndarray, parts: np.ndarray, radius) -> np.ndarray:
    """Fraction of images ``[M]`` whose point ``m`` lies within ``radius`` of a visible part."""
    return part_hits(points, parts, radius).any(-1).mean(axis=0)


def hit_summary(points: np.ndarray, parts: np.ndarray, radius) -> dict[str, np.ndarray]:
    """Per point ``m``: ``any`` — share of images whose point hits some visible part ``[M]``;
    ``per_part`` — share of the images where part ``q`` is visible whose point hits it ``[M, Q]``;
    ``visible`` — in how many images each part is visible ``[Q]``."""
    hits = part_hits(points, parts, radius)
    visible = parts[..., 2] > 0
    return {"any": hits.any(-1).mean(0), "per_part": hits.sum(0) / np.maximum(visible.sum(0), 1),
            "visible": visible.sum(0)}


def random_point_summary(parts: np.ndarray, sizes: np.ndarray, radius, draws: int = 200,
                         seed: int = 0) -> dict[str, np.ndarray]:
    """:func:`hit_summary` for points drawn uniformly over each image (``draws`` per image, averaged): the
    chance level, image by image at its own size and with its own visible parts."""
    summary = hit_summary(random_points(len(sizes), draws, sizes, seed), parts, radius)
    return {"any": np.array([summary["any"].mean()]), "per_part": summary["per_part"].mean(0, keepdims=True),
            "visible": summary["visible"]}


def square_iou(a: np.ndarray, b: np.ndarray, side: np.ndarray) -> np.ndarray:
    """IoU of two axis-aligned squares of the same ``side`` centred at ``a`` and ``b`` (``[..., 2]``; ``side``
    broadcasts): ``overlap / (2·side² − overlap)``."""
    ov = np.prod(np.clip(side[..., None] - np.abs(a - b), 0, None), axis=-1)
    return ov / (2 * side ** 2 - ov)


def part_box_score(points: np.ndarray, parts: np.ndarray, boxes: np.ndarray, iou: float = 0.5) -> dict:
    """A localisation score that a fixed point fails (after APN's): each map ``m`` is assigned the part it
    is most often nearest to; an image counts for ``m`` when that part is visible and the square of side a
    quarter of the bird's size (the mean of its box's width and height) at the peak overlaps the same square
    at the part with IoU > ``iou``. ``points`` ``[N, M, 2]``, ``parts`` ``[N, Q, 3]``, ``boxes`` ``[N, 4]``.
    Returns ``{"score": [M], "part": [M] (indices)}``; the score counts over the images where the part is
    visible."""
    _, nearest = nearest_parts(points, parts)
    side = np.asarray(boxes, dtype=np.float64)[:, 2:].mean(1) / 4  # [N]
    score, assigned = np.zeros(points.shape[1]), np.zeros(points.shape[1], dtype=np.int64)
    for m in range(points.shape[1]):
        valid = nearest[:, m][nearest[:, m] >= 0]
        q = int(np.bincount(valid, minlength=parts.shape[1]).argmax()) if len(valid) else 0
        visible = parts[:, q, 2] > 0
        ious = square_iou(points[:, m], parts[:, q, :2], side)
        score[m], assigned[m] = float((ious[visible] > iou).mean()) if visible.any() else 0.0, q
    return {"score": score, "part": assigned}


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
    keys = np.floor((points + 0.5) / cell).astype(np.int64)
    out = np.empty(points.shape[1])
    for m in range(points.shape[1]):
        _, counts = np.unique(keys[:, m], axis=0, return_counts=True)
        out[m] = counts.max() / len(keys)
    return out


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


HEAD_WORDS = {"beak", "bill", "crown", "forehead", "eye", "nape", "throat"}  # the parts of a bird's head


def oracle_centres(parts: np.ndarray, part_names: list[str], telling: np.ndarray, size: int) -> np.ndarray:
    """Where the oracle control puts its two squares: the mean of the visible telling parts of the head
    (:data:`HEAD_WORDS`), and of the other telling parts (wing, tail, …). Whichever way a bird faces, the
    annotated points say where its head is (a left and a right wing are both "wing"). A group with no visible
    part takes the mean of every visible telling part, and the image centre where there is none.
    ``parts`` ``[N, Q, 3]`` at a ``size``-pixel input; returns ``[N, 2, 2]``."""
    head = np.array([bool(HEAD_WORDS & set(name.split())) for name in part_names]) & telling
    every, count = _visible_mean(parts, telling)
    fallback = np.where(count > 0, every, (size - 1) / 2)
    out = []
    for group in (head, telling & ~head):
        mean, count = _visible_mean(parts, group)
        out.append(np.where(count > 0, mean, fallback))
    return np.stack(out, axis=1)


def _visible_mean(parts: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean ``[N, 2]`` of the visible parts that ``mask`` ``[Q]`` selects, and how many there are ``[N, 1]``."""
    visible = (parts[..., 2] > 0) & mask
    count = visible.sum(1, keepdims=True)
    return (parts[..., :2] * visible[..., None]).sum(1) / np.maximum(count, 1), count
