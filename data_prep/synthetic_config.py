"""What a synthetic dataset is made of: the attribute groups its classes combine (the palette's colours for the
head and the wing, the tail shapes, the bill lengths) and the settings of its size and randomness. The
generator (:mod:`data_prep.synthetic`), the drawing (:mod:`data_prep.synthetic_render`) and the tables
(:mod:`data_prep.synthetic_layout`) all read them from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# The palette of heads and wings: a colour's name is an attribute value, its RGB what the drawing paints.
COLORS = {
    "red": (205, 40, 45),
    "blue": (40, 80, 210),
    "yellow": (235, 200, 35),
    "green": (40, 165, 70),
}

ATTRIBUTE_GROUPS: list[tuple[str, list[str]]] = [
    ("has_head_color", list(COLORS)),
    ("has_wing_color", list(COLORS)),
    ("has_tail_shape", ["forked", "rounded", "pointed"]),
    ("has_bill_length", ["short", "long"]),
]


@dataclass(frozen=True)
class SyntheticConfig:
    """Size and randomness of the synthetic dataset. The defaults are the book's dataset."""

    seed: int = 0
    classes: int = 96
    unseen: int = 36
    images_per_class: int = 40
    image_size: int = 128
    test_seen_fraction: float = 0.2
    val_class_fraction: float = 1 / 3
    jpeg_quality: int = 92

    def __post_init__(self) -> None:
        n_combos = math.prod(len(v) for _, v in ATTRIBUTE_GROUPS)
        if not 2 <= self.classes <= n_combos:
            raise ValueError(f"classes={self.classes}: must be between 2 and {n_combos} (attribute combinations).")
        if not 1 <= self.unseen < self.classes:
            raise ValueError(f"unseen={self.unseen}: must be at least 1 and fewer than classes={self.classes}.")
        if self.images_per_class < 2:
            raise ValueError(f"images_per_class={self.images_per_class}: need at least 2 (trainval and test_seen).")
        if self.image_size < 32:
            raise ValueError(f"image_size={self.image_size}: must be at least 32 pixels.")
