"""Drawing one synthetic bird: the images of :mod:`data_prep.synthetic`.

A bird is a few filled shapes (legs, body, tail, wing, bill, head, eye) in a random pose on a light background;
its head colour, wing colour, tail shape and bill length are the class attributes. **What an image holds does
not depend on its class; only where it is does**: around the bird lie decoys of the parts' sizes, posed as its
parts are: each colour once as a head and once as a wing, every head with a bill (each length twice), all three
tails. Every coloured part has a halo of the background's colour, so that its edges blend alike on the bird's
dark body and beside it at every size the book trains at; tails and bills have a colour per shape and length.

Drawing happens at :data:`SUPERSAMPLE` times the output size and is downsampled. Every random number comes
from the generator passed in, in a fixed order, so the same generator state gives the same image, byte for
byte.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from data_prep.synthetic_config import COLORS, SyntheticConfig
from data_prep.worker_pool import worker_pool

PART_NAMES = ["beak", "crown", "eye", "wing", "tail", "belly", "breast"]
# Dark bodies on light backgrounds: the bird stands out from its decoys.
BODY_COLORS = [(120, 95, 70), (150, 140, 130), (95, 90, 85), (170, 150, 115), (110, 110, 120)]
BACKGROUNDS = [(200, 222, 240), (225, 228, 205), (210, 232, 212), (236, 226, 214)]
# Every coloured part, the bird's and the decoys', is ringed by a halo of the image's background colour (width: a
# share of the canvas side), so that its colour meets only its outline and the background's colour wherever it
# lies, on the bird's body or beside it, also after the image is shrunk to the sizes the book trains at.
HALO_WIDTH = 0.025
# Shape attributes are told by colour as well as shape, so that a small window at the part reads them at
# every size the book trains at: each tail shape and each bill length has a colour of its own.
TAIL_COLORS = {0: (125, 70, 160), 1: (40, 150, 150), 2: (190, 110, 60)}  # forked, rounded, pointed
BILL_COLORS = ((235, 150, 40), (220, 90, 170))  # short, long
EYE_COLOR, LEG_COLOR = (15, 15, 15), (40, 35, 30)
# Every shape is outlined in one dark colour, so a part's colour borders the outline only, wherever it lies:
# on the bird or as a decoy on the background, its edge pixels blend into the same colours.
OUTLINE, OUTLINE_WIDTH = (30, 28, 26), 0.012  # width: a share of the canvas side
SUPERSAMPLE = 2
# Tails in the bird's frame (x forward, y down; units of the body's radii rx, ry), each polygon scaled
# about the tail's root to the area of the rounded one, so that a tail's shape, not its size, tells it.
# Every tail starts just behind the body, so that none of it is hidden and every shape shows its whole area.
TAIL_ROOT = (-0.97, 0.0)
TAIL_SHAPES = {
    0: [[(-0.97, -0.3), (-1.9, -0.75), (-1.47, 0.0)], [(-0.97, 0.3), (-1.9, 0.55), (-1.47, 0.0)]],  # forked
    1: None,  # rounded: an ellipse centred at (-1.5, -0.05) with radii (0.5, 0.42)
    2: [[(-0.97, -0.45), (-2.1, -0.1), (-0.97, 0.45)]],  # pointed
}
ROUNDED_TAIL = ((-1.5, -0.05), (0.5, 0.42))
# Bills: length (head radii) by class value; every bill covers the same area, the long one thinner.
BILL_LENGTHS, BILL_AREA = (0.7, 1.5), 0.7  # area in head radii squared: half-width × length (wide enough for colour)
DECOY_TRIES = 400

Point = tuple[float, float]


def _ellipse(cx: float, cy: float, rx: float, ry: float, angle: float = 0.0, n: int = 28) -> list[tuple[float, float]]:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = rx * np.cos(t), ry * np.sin(t)
    ca, sa = math.cos(angle), math.sin(angle)
    return list(zip((cx + ca * x - sa * y).tolist(), (cy + sa * x + ca * y).tolist()))


def _area(poly: list[Point]) -> float:
    x, y = np.array(poly).T
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def _jitter(rng: np.random.Generator, color: tuple[int, int, int], amount: int = 18) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in color)


@dataclass(frozen=True)
class _Pose:
    """Where a bird (or a decoy) lies on the canvas (in supersampled pixels).

    ``cx, cy``: body centre; ``rx, ry``: body radii; ``rh``: head radius; ``tilt``: rotation in
    radians; ``facing``: ``1.0`` (right) or ``-1.0`` (left).
    """

    cx: float
    cy: float
    rx: float
    ry: float
    rh: float
    tilt: float
    facing: float

    def at(self, dx: float, dy: float) -> Point:
        """A point given in the bird's frame (x forward, y down), rotated by the tilt."""
        dx *= self.facing
        ca, sa = math.cos(self.tilt), math.sin(self.tilt)
        return self.cx + ca * dx - sa * dy, self.cy + sa * dx + ca * dy

    def moved(self, cx: float, cy: float, tilt: float, facing: float) -> _Pose:
        return _Pose(cx, cy, self.rx, self.ry, self.rh, tilt, facing)


class _Canvas:
    """The image and a mask of what is drawn on it, so decoys are placed where nothing lies yet."""

    def __init__(self, image: Image.Image) -> None:
        self.image, self.draw = image, ImageDraw.Draw(image)
        self.mask = Image.new("L", image.size, 0)
        self.mask_draw = ImageDraw.Draw(self.mask)
        self.outline = max(2, int(round(OUTLINE_WIDTH * image.size[0])))
        self.background = np.asarray(image)[:, 0].astype(np.int64)  # [S, 3]: the background's colour down its ramp

    def polygon(self, points: list[Point], fill) -> None:
        self.draw.polygon(points, fill=fill, outline=OUTLINE, width=self.outline)
        self.mask_draw.polygon(points, fill=255, outline=255, width=self.outline)

    def part(self, points: list[Point], fill) -> None:
        """A coloured part: its halo (:data:`HALO_WIDTH`) first, then the outlined shape."""
        ring, width = list(points) + [points[0]], 2 * max(2, int(round(HALO_WIDTH * self.image.size[0]))) + self.outline
        row = int(np.clip(np.mean([y for _, y in points]), 0, len(self.background) - 1))
        halo = tuple(int(c) for c in self.background[row])  # the background's colour at the part's height
        self.draw.line(ring, fill=halo, width=width, joint="curve")
        self.draw.polygon(points, fill=halo)
        self.mask_draw.line(ring, fill=255, width=width, joint="curve")
        self.polygon(points, fill)

    def free(self, points: list[Point], gap: float) -> bool:
        """Whether the shape ``points``, grown by ``gap`` pixels, lies inside the canvas on nothing drawn."""
        pts = np.array(points)
        lo, hi = np.floor(pts.min(0) - gap).astype(int), np.ceil(pts.max(0) + gap).astype(int)
        w, h = self.image.size
        if lo.min() < 0 or hi[0] >= w or hi[1] >= h:
            return False
        test = Image.new("L", (int(hi[0] - lo[0] + 1), int(hi[1] - lo[1] + 1)), 0)
        shifted = [(x - lo[0], y - lo[1]) for x, y in points]
        ImageDraw.Draw(test).polygon(shifted, fill=255, outline=255, width=max(1, int(2 * gap)))
        box = (int(lo[0]), int(lo[1]), int(hi[0]) + 1, int(hi[1]) + 1)
        return not (np.asarray(test) & np.asarray(self.mask.crop(box))).any()


def render_bird(rng: np.random.Generator, combo: tuple[int, ...],
                size: int) -> tuple[Image.Image, np.ndarray, np.ndarray]:
    """One image of a bird of the class ``combo`` among its decoys.

    Returns the RGB image (``size`` × ``size``), the bird's box ``[4]`` (x, y, w, h in pixels) and
    its part locations ``[P, 3]`` (x, y in pixels, visible) in the order of :data:`PART_NAMES`.
    """
    palette = list(COLORS.values())
    s = size * SUPERSAMPLE
    canvas = _Canvas(_background(rng, s))
    pose = _random_pose(rng, s)
    body = _jitter(rng, BODY_COLORS[rng.integers(len(BODY_COLORS))], 12)
    parts, extent = _draw_bird(rng, canvas, pose, combo, body, palette, s)
    _draw_decoys(rng, canvas, pose, combo, palette, s)
    lo = np.clip(extent.min(axis=0), 0, s - 1) / SUPERSAMPLE
    hi = np.clip(extent.max(axis=0), 0, s - 1) / SUPERSAMPLE
    box = np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])
    locs = np.array([[x / SUPERSAMPLE, y / SUPERSAMPLE, 1.0] for x, y in (parts[p] for p in PART_NAMES)])

    img = canvas.image.resize((size, size), Image.LANCZOS)
    arr = np.asarray(img, dtype=np.float32) + rng.normal(0.0, 5.0, size=(size, size, 3)).astype(np.float32)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB"), box, locs


def _background(rng: np.random.Generator, s: int) -> Image.Image:
    """An ``s`` × ``s`` canvas of a jittered background colour with a vertical brightness ramp."""
    bg = np.array(_jitter(rng, BACKGROUNDS[rng.integers(len(BACKGROUNDS))], 10), dtype=np.float32)
    ramp = np.linspace(-18, 18, s, dtype=np.float32)[:, None, None]
    canvas = np.clip(bg[None, None, :] + ramp + np.zeros((s, s, 3), np.float32), 0, 255).astype(np.uint8)
    return Image.fromarray(canvas, "RGB")


def _random_pose(rng: np.random.Generator, s: int) -> _Pose:
    """A random scale, facing, position and tilt, keeping the whole bird on the ``s`` × ``s`` canvas."""
    scale = rng.uniform(0.6, 0.8)
    facing = 1.0 if rng.random() < 0.5 else -1.0
    rx, ry = 0.21 * s * scale, 0.12 * s * scale
    rh = 0.62 * ry
    margin_x, margin_y = 2.1 * rx + 0.03 * s, ry + 2.2 * rh
    cx = rng.uniform(margin_x, s - margin_x)
    cy = rng.uniform(margin_y, s - margin_y)
    tilt = rng.uniform(-0.2, 0.2)
    return _Pose(cx, cy, rx, ry, rh, tilt, facing)


def tail_polygons(pose: _Pose, shape: int) -> list[list[Point]]:
    """The tail of ``shape`` (0 forked, 1 rounded, 2 pointed) at ``pose``, every shape of the same area."""
    (ex, ey), (erx, ery) = ROUNDED_TAIL
    target = math.pi * erx * ery
    if shape == 1:
        return [_ellipse(*pose.at(ex * pose.rx, ey * pose.ry), erx * pose.rx, ery * pose.ry, pose.tilt)]
    polys = TAIL_SHAPES[shape]
    k = math.sqrt(target / sum(_area(p) for p in polys))
    ax, ay = TAIL_ROOT
    return [[pose.at((ax + k * (x - ax)) * pose.rx, (ay + k * (y - ay)) * pose.ry) for x, y in p] for p in polys]


def bill_polygon(pose: _Pose, length_value: int) -> tuple[list[Point], Point]:
    """The bill (short or long, of one area) at ``pose``, and the middle of it (the ``beak`` part)."""
    at, rx, ry, rh = pose.at, pose.rx, pose.ry, pose.rh
    length = BILL_LENGTHS[length_value] * rh
    half = BILL_AREA * rh * rh / length
    x0 = 0.95 * rx + rh  # at the head's edge, so that no bill is hidden under it whatever its width
    tip = at(x0 + length, -0.78 * ry)
    poly = [at(x0, -0.85 * ry - half), tip, at(x0, -0.85 * ry + half)]
    return poly, at(x0 + 0.5 * length, -0.82 * ry)


def _head(canvas: _Canvas, centre: Point, rh: float, facing: float, color) -> Point:
    """A head of radius ``rh`` at ``centre`` with its eye; returns the eye's centre."""
    canvas.part(_ellipse(*centre, rh, rh), color)
    eye = (centre[0] + facing * 0.35 * rh, centre[1] - 0.2 * rh)
    canvas.polygon(_ellipse(*eye, 0.16 * rh, 0.16 * rh, n=12), EYE_COLOR)
    return eye


def _draw_bird(rng, canvas: _Canvas, pose: _Pose, combo: tuple[int, ...], body, palette: list,
               s: int) -> tuple[dict[str, Point], np.ndarray]:
    """Draw the bird of class ``combo``; return its part locations ``{name: (x, y)}`` and the
    points ``[M, 2]`` whose bounding box is the bird's box (supersampled pixels)."""
    head_c, wing_c, tail_shape, bill_len = combo
    at, rx, ry, rh, tilt = pose.at, pose.rx, pose.ry, pose.rh, pose.tilt
    # Painter's order: legs, body, then the coloured parts with their halos: tail, wing, head with its eye, and
    # the bill last (after the head: the head's halo would cover it), from the head's edge.
    for off in (-0.25, 0.15):
        top, foot = at(off * rx, 0.8 * ry), at(off * rx, 1.6 * ry)
        canvas.draw.line([top, foot], fill=LEG_COLOR, width=max(1, int(0.012 * s)))
        canvas.mask_draw.line([top, foot], fill=255, width=max(1, int(0.012 * s)))
    canvas.polygon(_ellipse(pose.cx, pose.cy, rx, ry, tilt), body)
    tail = tail_polygons(pose, tail_shape)
    for poly in tail:
        canvas.part(poly, TAIL_COLORS[tail_shape])
    wing_center = at(-0.12 * rx, -0.15 * ry)
    canvas.part(_ellipse(*wing_center, 0.58 * rx, 0.45 * ry, tilt - pose.facing * 0.25),
                _jitter(rng, palette[wing_c]))
    head = at(0.95 * rx, -0.85 * ry)
    eye = _head(canvas, head, rh, pose.facing, _jitter(rng, palette[head_c]))
    bill, beak = bill_polygon(pose, bill_len)
    canvas.part(bill, BILL_COLORS[bill_len])
    parts = {
        "beak": beak,
        "crown": at(0.95 * rx, -0.85 * ry - 0.6 * rh),
        "eye": eye,
        "wing": wing_center,
        "tail": at(-1.5 * rx, -0.05 * ry),
        "belly": at(-0.1 * rx, 0.7 * ry),
        "breast": at(0.6 * rx, 0.35 * ry),
    }
    extent = np.array(_ellipse(pose.cx, pose.cy, rx, ry, tilt) + _ellipse(*head, rh, rh) + bill
                      + [p for poly in tail for p in poly] + [at(0, 1.6 * ry)])
    return parts, extent


def _place(rng, canvas: _Canvas, shape_at, s: int, gap: float) -> tuple[list[list[Point]], float] | None:
    """Polygons ``shape_at(x, y, tilt, facing)`` at the first random place where they lie free, posed as a bird's
    parts are (a tilt of at most 0.2 radians, facing either way, so that their edges fall on the pixel grid as
    the bird's do), and the facing (``None`` if there is none after :data:`DECOY_TRIES` tries: left out)."""
    for _ in range(DECOY_TRIES):
        x, y = rng.uniform(0, s, size=2)
        tilt, facing = rng.uniform(-0.2, 0.2), 1.0 if rng.random() < 0.5 else -1.0
        polys = shape_at(x, y, tilt, facing)
        if all(canvas.free(p, gap) for p in polys):
            return polys, facing
    return None


def _decoy_shape(kind: str, value: int, pose: _Pose):
    """``shape_at(x, y, tilt, facing)``: the polygons of a decoy part of the bird's own size near ``(x, y)``,
    posed as the bird's part would be."""
    rh, rx, ry = pose.rh, pose.rx, pose.ry
    if kind == "head":  # a head with its bill, as on the bird: value = (colour, bill length)
        def head_at(x: float, y: float, a: float, f: float) -> list[list[Point]]:
            frame = pose.moved(x, y, a, f)
            return [bill_polygon(frame, value[1])[0], _ellipse(*frame.at(0.95 * rx, -0.85 * ry), rh, rh)]
        return head_at
    if kind == "wing":
        return lambda x, y, a, f: [_ellipse(x, y, 0.58 * rx, 0.45 * ry, a - f * 0.25)]
    return lambda x, y, a, f: tail_polygons(pose.moved(x + f * 1.5 * rx, y, a, f), value)  # a tail


def _draw_decoys(rng, canvas: _Canvas, pose: _Pose, combo: tuple[int, ...], palette: list, s: int) -> None:
    """The decoys (module docstring): heads of the other colours, each with a bill as the bird's head has
    (of the other length twice and of the bird's once, so that each length is drawn twice in all), wings of
    the other colours, the other tails."""
    head_c, wing_c, tail_shape, bill_len = combo
    bills = [1 - bill_len, 1 - bill_len, bill_len]
    rng.shuffle(bills)
    decoys = ([("head", (c, bills.pop())) for c in range(len(palette)) if c != head_c]
              + [("wing", c) for c in range(len(palette)) if c != wing_c]
              + [("tail", t) for t in TAIL_SHAPES if t != tail_shape])
    for kind, value in decoys:
        placed = _place(rng, canvas, _decoy_shape(kind, value, pose), s, (0.015 + HALO_WIDTH) * s)
        if placed is None:
            continue
        polys, facing = placed
        if kind == "head":  # as on the bird: the head, then its bill
            centre = tuple(np.mean(np.array(polys[1]), axis=0).tolist())
            _head(canvas, centre, pose.rh, facing, _jitter(rng, palette[value[0]]))
            canvas.part(polys[0], BILL_COLORS[value[1]])
            continue
        color = _jitter(rng, palette[value]) if kind == "wing" else TAIL_COLORS[value]
        for poly in polys:
            canvas.part(poly, color)


# --------------------------------------------------------------------------------------
# Every image of a dataset, in worker processes
# --------------------------------------------------------------------------------------

# (image id, seed, combo, path under images/, config, images folder to save into, or "" to only measure)
Job = tuple[int, int, tuple[int, ...], str, "SyntheticConfig", str]


def plan_images(
    config: SyntheticConfig, combos: list[tuple[int, ...]], unseen: np.ndarray, names: list[str]
) -> tuple[list[Job], list[int], list[str]]:
    """Every image to render, class by class: its render job (saving nowhere yet), its 1-based class id and
    its split. The images of an unseen class are ``test_unseen``; a random ``test_seen_fraction`` of each
    seen class's are ``test_seen``, the rest ``trainval``."""
    rng = np.random.default_rng([config.seed, 3])
    jobs, labels, split = [], [], []
    image_id = 0
    for cls, name in enumerate(names):
        order = rng.permutation(config.images_per_class)
        n_test = max(1, int(round(config.test_seen_fraction * config.images_per_class)))
        for k in range(config.images_per_class):
            image_id += 1
            short = name.split(".", 1)[1]
            jobs.append((image_id, config.seed, combos[cls], f"{name}/{short}_{k + 1:04d}_{image_id}.jpg", config, ""))
            labels.append(cls + 1)
            split.append("test_unseen" if unseen[cls] else ("test_seen" if order[k] < n_test else "trainval"))
    return jobs, labels, split


def render_one(job: Job) -> tuple[int, list[float], list[list[float]]]:
    """Render one image, save it where its job says (into a folder that must exist); return its id, box
    ``[4]`` and part locations ``[P, 3]``. The image's random stream is seeded by ``(seed, image id)``
    alone, so the result does not depend on which worker renders it."""
    image_id, seed, combo, rel_path, config, image_dir = job
    img, box, locs = render_bird(np.random.default_rng([seed, 2, image_id]), combo, config.image_size)
    if image_dir:
        # full-resolution colour (4:4:4): chroma subsampling would blend a part's colour into its neighbours'
        img.save(Path(image_dir) / rel_path, format="JPEG", quality=config.jpeg_quality, subsampling=0)
    return image_id, box.tolist(), locs.tolist()


def render_all(jobs: list[Job], workers: int | None,
               progress: bool) -> dict[int, tuple[list[float], list[list[float]]]]:
    """Render every job in worker processes that end with this one; ``{image id: (box, part locations)}``."""
    from tqdm import tqdm

    if not jobs:
        return {}
    workers = max(1, min(workers or min(os.cpu_count() or 1, 8), len(jobs)))
    results: dict[int, tuple[list[float], list[list[float]]]] = {}
    with worker_pool(workers) as pool:
        for iid, box, locs in tqdm(pool.imap(render_one, jobs, chunksize=max(1, len(jobs) // (workers * 8))),
                                   total=len(jobs), desc="rendering", disable=not progress, mininterval=2.0):
            results[iid] = (box, locs)
    return results
