"""Drawing one synthetic bird: the images of :mod:`data_prep.synthetic`.

A bird is a few filled shapes (legs, tail, body, wing, head, bill, eye) in a random pose on a
shaded background with class-coloured distractors. The head colour, wing colour, tail shape
and bill length are the class attributes; everything else is random. Drawing happens at
:data:`SUPERSAMPLE` times the output size and is downsampled, for smooth edges.

Every random number comes from the generator passed in, in a fixed order, so the same
generator state always gives the same image, byte for byte.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

COLORS = {
    "red": (205, 40, 45),
    "blue": (40, 80, 210),
    "yellow": (235, 200, 35),
    "green": (40, 165, 70),
    "purple": (145, 55, 175),
}
PART_NAMES = ["beak", "crown", "eye", "wing", "tail", "belly", "breast"]
BODY_COLORS = [(120, 95, 70), (150, 140, 130), (95, 90, 85), (170, 150, 115), (110, 110, 120)]
BACKGROUNDS = [(200, 222, 240), (225, 228, 205), (210, 232, 212), (236, 226, 214)]
SUPERSAMPLE = 2

Point = tuple[float, float]


def _ellipse(cx: float, cy: float, rx: float, ry: float, angle: float = 0.0, n: int = 28) -> list[tuple[float, float]]:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = rx * np.cos(t), ry * np.sin(t)
    ca, sa = math.cos(angle), math.sin(angle)
    return list(zip((cx + ca * x - sa * y).tolist(), (cy + sa * x + ca * y).tolist()))


def _jitter(rng: np.random.Generator, color: tuple[int, int, int], amount: int = 18) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in color)


@dataclass(frozen=True)
class _Pose:
    """Where a bird stands on the canvas (in supersampled pixels).

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


def render_bird(
    rng: np.random.Generator, combo: tuple[int, ...], size: int, distractors: tuple[int, int] = (3, 7)
) -> tuple[Image.Image, np.ndarray, np.ndarray]:
    """One image of a bird of the class ``combo``.

    Returns the RGB image (``size`` × ``size``), its box ``[4]`` (x, y, w, h in pixels) and part
    locations ``[P, 3]`` (x, y in pixels, visible) in the order of :data:`PART_NAMES`.
    """
    palette = list(COLORS.values())
    s = size * SUPERSAMPLE
    img = _background(rng, s)
    draw = ImageDraw.Draw(img)
    _draw_distractors(rng, draw, s, distractors, palette)
    pose = _random_pose(rng, s)
    body = _jitter(rng, BODY_COLORS[rng.integers(len(BODY_COLORS))], 12)
    parts, extent = _draw_bird(rng, draw, pose, combo, body, palette, s)
    lo = np.clip(extent.min(axis=0), 0, s - 1) / SUPERSAMPLE
    hi = np.clip(extent.max(axis=0), 0, s - 1) / SUPERSAMPLE
    box = np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])
    locs = np.array([[x / SUPERSAMPLE, y / SUPERSAMPLE, 1.0] for x, y in (parts[p] for p in PART_NAMES)])

    img = img.resize((size, size), Image.LANCZOS)
    arr = np.asarray(img, dtype=np.float32) + rng.normal(0.0, 5.0, size=(size, size, 3)).astype(np.float32)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB"), box, locs


def _background(rng: np.random.Generator, s: int) -> Image.Image:
    """An ``s`` × ``s`` canvas of a jittered background colour with a vertical brightness ramp."""
    bg = np.array(_jitter(rng, BACKGROUNDS[rng.integers(len(BACKGROUNDS))], 10), dtype=np.float32)
    ramp = np.linspace(-18, 18, s, dtype=np.float32)[:, None, None]
    canvas = np.clip(bg[None, None, :] + ramp + np.zeros((s, s, 3), np.float32), 0, 255).astype(np.uint8)
    return Image.fromarray(canvas, "RGB")


def _draw_distractors(
    rng: np.random.Generator, draw: ImageDraw.ImageDraw, s: int, distractors: tuple[int, int], palette: list
) -> None:
    """Ellipses and rectangles in the class colours, anywhere, at part-like sizes.

    They make a global colour histogram misleading: only the colours *on the bird* tell the class.
    """
    for _ in range(int(rng.integers(distractors[0], distractors[1] + 1))):
        color = _jitter(rng, palette[rng.integers(len(palette))])
        cx, cy = rng.uniform(0, s, size=2)
        r = rng.uniform(0.03, 0.08) * s
        if rng.random() < 0.5:
            draw.polygon(_ellipse(cx, cy, r, r * rng.uniform(0.5, 1.0), rng.uniform(0, np.pi)), fill=color)
        else:
            draw.rectangle([cx - r, cy - r * 0.6, cx + r, cy + r * 0.6], fill=color)


def _random_pose(rng: np.random.Generator, s: int) -> _Pose:
    """A random scale, facing, position and tilt, keeping the whole bird on the ``s`` × ``s`` canvas."""
    scale = rng.uniform(0.75, 1.1)
    facing = 1.0 if rng.random() < 0.5 else -1.0
    rx, ry = 0.21 * s * scale, 0.12 * s * scale
    rh = 0.62 * ry
    margin_x, margin_y = rx + 2.2 * rh + 0.05 * s, ry + 2.2 * rh
    cx = rng.uniform(margin_x, s - margin_x)
    cy = rng.uniform(margin_y, s - margin_y)
    tilt = rng.uniform(-0.2, 0.2)
    return _Pose(cx, cy, rx, ry, rh, tilt, facing)


def _draw_bird(
    rng: np.random.Generator,
    draw: ImageDraw.ImageDraw,
    pose: _Pose,
    combo: tuple[int, ...],
    body: tuple[int, int, int],
    palette: list,
    s: int,
) -> tuple[dict[str, Point], np.ndarray]:
    """Draw the bird of class ``combo``; return its part locations ``{name: (x, y)}`` and the
    points ``[M, 2]`` whose bounding box is the bird's box (supersampled pixels)."""
    head_c, wing_c, tail_shape, bill_len = combo
    at, rx, ry, rh, tilt = pose.at, pose.rx, pose.ry, pose.rh, pose.tilt
    dark = (40, 35, 30)
    # Painter's order: legs, tail, body, wing, head, bill, eye.
    for off in (-0.25, 0.15):
        top, foot = at(off * rx, 0.8 * ry), at(off * rx, 1.6 * ry)
        draw.line([top, foot], fill=dark, width=max(1, int(0.012 * s)))
    tail_tip = _draw_tail(draw, pose, tail_shape, tuple(int(c * 0.8) for c in body))
    draw.polygon(_ellipse(pose.cx, pose.cy, rx, ry, tilt), fill=body)
    wing_center = at(-0.12 * rx, -0.15 * ry)
    draw.polygon(_ellipse(*wing_center, 0.58 * rx, 0.45 * ry, tilt - pose.facing * 0.25),
                 fill=_jitter(rng, palette[wing_c]))
    head = at(0.95 * rx, -0.85 * ry)
    draw.polygon(_ellipse(*head, rh, rh), fill=_jitter(rng, palette[head_c]))
    bill_length = (0.7 if bill_len == 0 else 1.5) * rh
    beak_tip = at(0.95 * rx + 0.9 * rh + bill_length, -0.75 * ry)
    draw.polygon([at(0.95 * rx + 0.8 * rh, -0.85 * ry - 0.3 * rh), beak_tip, at(0.95 * rx + 0.8 * rh, -0.85 * ry + 0.3 * rh)],
                 fill=(235, 150, 40))
    eye = at(0.95 * rx + 0.35 * rh, -0.85 * ry - 0.2 * rh)
    er = 0.16 * rh
    draw.ellipse([eye[0] - er, eye[1] - er, eye[0] + er, eye[1] + er], fill=(15, 15, 15))

    parts = {
        "beak": at(0.95 * rx + 0.9 * rh + 0.5 * bill_length, -0.8 * ry),
        "crown": at(0.95 * rx, -0.85 * ry - 0.6 * rh),
        "eye": eye,
        "wing": wing_center,
        "tail": at(-1.35 * rx, -0.05 * ry),
        "belly": at(-0.1 * rx, 0.7 * ry),
        "breast": at(0.6 * rx, 0.35 * ry),
    }
    # The outermost points: body and head outlines, bill and tail tips (both forks), a foot.
    extent = np.array(
        _ellipse(pose.cx, pose.cy, rx, ry, tilt) + _ellipse(*head, rh, rh)
        + [beak_tip, tail_tip, at(-1.8 * rx, -0.75 * ry), at(-1.8 * rx, 0.55 * ry), at(0, 1.6 * ry)]
    )
    return parts, extent


def _draw_tail(draw: ImageDraw.ImageDraw, pose: _Pose, tail_shape: int, color: tuple[int, ...]) -> Point:
    """Draw the tail: 0 forked, 1 rounded, 2 pointed. Returns the tip of a pointed tail, which bounds the box
    of every bird whatever its tail."""
    at, rx, ry = pose.at, pose.rx, pose.ry
    tail_tip = at(-1.75 * rx, -0.15 * ry)
    if tail_shape == 0:  # forked
        draw.polygon([at(-0.85 * rx, -0.3 * ry), at(-1.8 * rx, -0.75 * ry), at(-1.35 * rx, 0.0)], fill=color)
        draw.polygon([at(-0.85 * rx, 0.3 * ry), at(-1.8 * rx, 0.55 * ry), at(-1.35 * rx, 0.0)], fill=color)
    elif tail_shape == 1:  # rounded
        draw.polygon(_ellipse(*at(-1.25 * rx, -0.05 * ry), 0.5 * rx, 0.42 * ry, pose.tilt), fill=color)
    else:  # pointed
        draw.polygon([at(-0.85 * rx, -0.22 * ry), tail_tip, at(-0.85 * rx, 0.22 * ry)], fill=color)
    return tail_tip
