"""Centre rules: where eq. (4)'s square of each part goes, ``t_x, t_y, t_s`` ``[B, P]`` in input pixels. One
class per rule, registered by its name; ``RunConfig.centre_rule`` names one, and the model, the settings'
check and the data ask the rule (:func:`rule_named`), never compare its name. A rule declares what it needs
(:attr:`CentreRule.needs_parts`, :meth:`CentreRule.head`), where the squares go (:meth:`CentreRule.centres`
or :meth:`CentreRule.place`), whether they sit on the pixel grid (:attr:`CentreRule.grid_squares`) and which
settings it refuses (:meth:`CentreRule.check`). A new rule is a subclass, decorated::

    @register
    class TopLeft(CentreRule):
        name = "top_left"

        def centres(self, seen):  # every square in the image's top-left corner
            corner = torch.full(seen.maps.shape[:2], (seen.pixels - 1) / 2, dtype=seen.images.dtype)
            return corner, corner.clone()
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from sgma_core.localization import cell_centres, oracle_centres, window_middles, window_starts


@dataclass(frozen=True)
class Seen:
    """What a rule may look at to place the squares of a batch.

    ``maps`` ``[B, P, h, w]`` on a grid of ``height / h`` input pixels; ``images`` ``[B, 3, H, W]`` (``H =
    height``, ``W = width``); ``guides`` ``[B, P, H, W]``, the painted parts (rules that need parts only);
    ``part_scale``, the configured square side as a share of the image's shorter side; ``head``, the rule's
    learned module (:meth:`CentreRule.head`), or None."""

    maps: torch.Tensor
    images: torch.Tensor | None
    height: int
    width: int
    part_scale: float
    guides: torch.Tensor | None = None
    head: nn.Module | None = None

    @property
    def side(self) -> float:
        """The configured square side in pixels, ``part_scale · min(H, W)``."""
        return self.part_scale * min(self.height, self.width)

    @property
    def pixels(self) -> int:
        """:attr:`side` as a whole number of pixels: the side of a square placed on the pixel grid."""
        return int(round(self.side))

    @property
    def stride(self) -> float:
        """Input pixels per map cell."""
        return self.height / self.maps.shape[2]


class CentreRule:
    """A centre rule: subclass it, set :attr:`name`, define :meth:`centres` (or :meth:`place`), and
    :func:`register` it. The defaults describe a rule that looks at nothing but its input and places
    squares of the configured side."""

    name: ClassVar[str]
    needs_parts: ClassVar[bool] = False  # the images carry the annotated parts, painted after their 3 channels
    grid_squares: ClassVar[bool] = True  # squares of the configured side, corners on the pixel grid when sizes allow
    map_gradient: ClassVar[bool] = False  # the joint subnet's losses reach the maps through the squares it places

    def check(self, n_parts: int) -> None:
        """Refuse settings the rule cannot run with (:class:`ValueError`); every ``n_parts`` by default."""

    def head(self, map_size: int, part_scale: float) -> nn.Module | None:
        """The module the rule learns with (trained with the model, kept in its state), or None."""
        return None

    def centres(self, seen: Seen) -> tuple[torch.Tensor, torch.Tensor]:
        """The squares' centres ``tx, ty`` ``[B, P]`` in input pixels."""
        raise NotImplementedError(f"centre rule {self.name!r} defines neither centres nor place")

    def place(self, seen: Seen) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``tx, ty, ts`` ``[B, P]``: :meth:`centres`, each square of the configured side."""
        tx, ty = self.centres(seen)
        return tx, ty, torch.full_like(tx, seen.side)

    def show(self, images: torch.Tensor, parts: np.ndarray, part_names: list[str], telling: np.ndarray) -> torch.Tensor:
        """What the model is given for uint8 ``images`` ``[N, 3, S, S]`` whose annotated ``parts`` ``[N, Q, 3]``
        (at the size ``S``) are known (rules that need parts): the images themselves by default."""
        return images


CENTRE_RULES: dict[str, CentreRule] = {}  # name → the rule; filled by @register


def register(rule: type[CentreRule]) -> type[CentreRule]:
    """Class decorator: make ``rule`` available under ``rule.name`` (:class:`ValueError` when the name is taken)."""
    if rule.name in CENTRE_RULES:
        raise ValueError(f"a centre rule named {rule.name!r} is registered already ({type(CENTRE_RULES[rule.name])})")
    CENTRE_RULES[rule.name] = rule()
    return rule


def rule_named(name: str) -> CentreRule:
    """The registered rule ``name``; :class:`ValueError` names the value and the registered rules."""
    if name not in CENTRE_RULES:
        raise ValueError(f"centre_rule={name!r} is not a registered centre rule; choose one of "
                         f"{', '.join(map(repr, CENTRE_RULES))} (sgma_core.centres).")
    return CENTRE_RULES[name]


@register
class Peak(CentreRule):
    """The paper's rule: each square centred at its map's argmax cell."""

    name = "peak"

    def centres(self, seen: Seen) -> tuple[torch.Tensor, torch.Tensor]:
        return peak_centres(seen.maps, seen.stride)


@register
class Learned(CentreRule):
    """RA-CNN style: a head regresses ``(t_x, t_y, t_s)`` from each map (:class:`LearnedCentres`)."""

    name = "learned"
    grid_squares = False  # its squares move and scale continuously
    map_gradient = True  # a soft-argmax of the map: eq. (4) carries the gradient back to it

    def head(self, map_size: int, part_scale: float) -> nn.Module:
        return LearnedCentres(map_size, part_scale)

    def place(self, seen: Seen) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return seen.head(seen.maps, seen.height, seen.width)


@register
class ImageCentre(CentreRule):
    """A control that never looks at a map: every square at the image's centre."""

    name = "image_centre"

    def centres(self, seen: Seen) -> tuple[torch.Tensor, torch.Tensor]:
        x = seen.images
        b, p = seen.maps.shape[:2]
        return (torch.full((b, p), (seen.width - 1) / 2, device=x.device, dtype=x.dtype),
                torch.full((b, p), (seen.height - 1) / 2, device=x.device, dtype=x.dtype))


@register
class RandomPlaces(CentreRule):
    """A control that never looks at a map: squares at places drawn from the image itself (a hash of some of
    its pixels, computed on its device: the same image gets the same places, different images different
    ones), their corners on the pixel grid and inside the image."""

    name = "random"

    def centres(self, seen: Seen) -> tuple[torch.Tensor, torch.Tensor]:
        return random_places(seen.images, seen.maps.shape[1], seen.pixels)


GUIDE_SIGMA = 1.5  # pixels: the width of a painted part, wide enough to survive a bilinear shift


@register
class Oracle(CentreRule):
    """A control shown where the parts are: one square on the head, one on the other telling parts
    (:func:`~sgma_core.localization.oracle_centres`), painted into the images (:func:`paint_guides`) and
    read back from them (:func:`guided_centres`), so that the squares follow the parts under augmentation."""

    name = "oracle"
    needs_parts = True

    def check(self, n_parts: int) -> None:
        if n_parts != 2:
            raise ValueError(f"centre_rule='oracle' with n_parts={n_parts}: the oracle puts one square on the "
                             "head and one on the body; use n_parts 2.")

    def centres(self, seen: Seen) -> tuple[torch.Tensor, torch.Tensor]:
        return guided_centres(seen.guides, seen.pixels)

    def show(self, images: torch.Tensor, parts: np.ndarray, part_names: list[str], telling: np.ndarray) -> torch.Tensor:
        centres = oracle_centres(parts, part_names, telling, images.shape[-1])
        return paint_guides(images, torch.from_numpy(centres))


def peak_centres(maps: torch.Tensor, stride: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The argmax cell of each map ``[B, P, h, w]`` at its centre in input pixels
    (:func:`~sgma_core.localization.cell_centres`). Returns ``tx, ty`` ``[B, P]`` (no gradient)."""
    b, p, h, w = maps.shape
    flat = maps.detach().reshape(b, p, h * w).argmax(-1)
    return cell_centres((flat % w).to(maps.dtype), stride), cell_centres((flat // w).to(maps.dtype), stride)


def random_places(x: torch.Tensor, parts: int, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The centres ``tx, ty`` ``[B, parts]`` of squares of ``side`` pixels at places drawn from each image of
    ``x`` ``[B, 3, H, W]`` (:class:`RandomPlaces`; no gradient)."""
    b, _, h, w = x.shape
    probe = x.detach().float().flatten(1)[:, ::97].sum(1, keepdim=True)  # [B, 1]: which image this is
    salt = torch.arange(2 * parts, device=x.device, dtype=torch.float32)[None, :]
    u = torch.frac(torch.sin(probe * 12.9898 + salt * 78.233).abs() * 43758.5453)  # [B, 2P] in [0, 1)
    corner_x = torch.floor(u[:, :parts] * (w - side + 1))
    corner_y = torch.floor(u[:, parts:] * (h - side + 1))
    return window_middles(corner_x, side).to(x.dtype), window_middles(corner_y, side).to(x.dtype)


def paint_guides(images: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """The oracle control's input: uint8 ``images`` ``[N, 3, S, S]`` with one more channel per square
    ``centres`` ``[N, P, 2]`` (x, y in input pixels), holding a small blob at the centre. The blobs move
    with the image under every flip and shift of :func:`sgma_core.data.images.augment`, so the squares
    follow the parts through training; :func:`guided_centres` reads them back. ``[N, 3 + P, S, S]``."""
    n, _, h, w = images.shape
    ys = torch.arange(h, dtype=torch.float32)[None, None, :, None]
    xs = torch.arange(w, dtype=torch.float32)[None, None, None, :]
    c = centres.to(torch.float32)
    d2 = (xs - c[..., 0, None, None]) ** 2 + (ys - c[..., 1, None, None]) ** 2  # [N, P, H, W]
    blobs = (255 * torch.exp(-d2 / (2 * GUIDE_SIGMA ** 2))).round().to(torch.uint8)
    return torch.cat([images, blobs], dim=1)


def guided_centres(guides: torch.Tensor, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The squares of ``side`` pixels at the painted parts (:func:`paint_guides`), read from ``guides``
    ``[B, P, H, W]`` (the channels after the third) as the centroid of each blob's top half, with their
    corners on the pixel grid. Returns ``tx, ty`` ``[B, P]`` (no gradient)."""
    g = guides.detach().float()
    w = torch.where(g >= 0.5 * g.amax(dim=(2, 3), keepdim=True), g, torch.zeros_like(g))
    total = w.sum(dim=(2, 3)).clamp_min(1e-12)
    xs = torch.arange(g.shape[3], dtype=g.dtype, device=g.device)
    ys = torch.arange(g.shape[2], dtype=g.dtype, device=g.device)
    x, y = (w.sum(2) * xs).sum(-1) / total, (w.sum(3) * ys).sum(-1) / total
    return (window_middles(window_starts(x, side), side).to(guides.dtype),
            window_middles(window_starts(y, side), side).to(guides.dtype))


class LearnedCentres(nn.Module):
    """The head of :class:`Learned`: a small network regresses ``(t_x, t_y, t_s)`` from each map, so that
    gradients of the losses reach the square through eq. (4).

    ``forward(maps [B, P, h, w], height, width) → tx, ty, ts`` each ``[B, P]`` in pixels. It starts
    at the map's soft-argmax centre and the default side, and learns offsets from there.
    """

    def __init__(self, map_size: int, part_scale: float = 0.5, hidden: int = 32) -> None:
        super().__init__()
        self.part_scale = part_scale
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(map_size * map_size, hidden), nn.Tanh(), nn.Linear(hidden, 3))
        nn.init.normal_(self.net[-1].weight, std=1e-3)  # near zero: start at the soft peak, but let
        nn.init.zeros_(self.net[-1].bias)  # gradients reach the first layer from the first step

    def forward(self, maps: torch.Tensor, height: int, width: int):
        b, p, h, w = maps.shape
        weights = maps / maps.sum(dim=(2, 3), keepdim=True)
        xs = (torch.arange(w, dtype=maps.dtype, device=maps.device) + 0.5) / w
        ys = (torch.arange(h, dtype=maps.dtype, device=maps.device) + 0.5) / h
        cx = (weights.sum(2) * xs).sum(-1)  # [B, P] in (0, 1)
        cy = (weights.sum(3) * ys).sum(-1)
        off = self.net(maps.reshape(b * p, 1, h, w)).view(b, p, 3)
        tx = (cx + 0.25 * torch.tanh(off[..., 0])) * width - 0.5
        ty = (cy + 0.25 * torch.tanh(off[..., 1])) * height - 0.5
        ts = self.part_scale * (1 + 0.5 * torch.tanh(off[..., 2])) * min(height, width)
        return tx, ty, ts
