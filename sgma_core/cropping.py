"""The cropping subnet, eq. (4): a differentiable square mask around each attended part, and the
crop-and-zoom of the masked image to the joint subnet's input size.

Coordinates are in input pixels, with pixel ``i``'s centre at ``i`` (so ``x = 0, 1, …, W−1``): the
convention of :mod:`sgma_core.localization`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sgma_core.localization import cell_centres
from sgma_core.profiles import choices

CENTRE_RULES = choices("centre_rule")  # peak_centres, LearnedCentres, or the controls fixed_centres, guided_centres


def boxcar_mask(tx: torch.Tensor, ty: torch.Tensor, ts: torch.Tensor, height: int, width: int,
                k: float = 10.0) -> torch.Tensor:
    """Eq. (4): ``V(x, y) = V_x(x) · V_y(y)`` with
    ``V_x = σ_k(x − t_x + t_s/2) − σ_k(x − t_x − t_s/2)``, ``σ_k(z) = 1 / (1 + e^{−kz})``.

    ``tx, ty, ts``: ``[B]`` in pixels; returns ``[B, height, width]`` evaluated at the pixel
    centres. As ``k`` grows the mask approaches the indicator of the square; its gradient with
    respect to ``t_x`` lives on the square's left and right edges.
    """
    x = torch.arange(width, dtype=tx.dtype, device=tx.device)[None, :]
    y = torch.arange(height, dtype=ty.dtype, device=ty.device)[None, :]
    vx, vy = _boxcar(x, tx, ts, k), _boxcar(y, ty, ts, k)
    return vy[:, :, None] * vx[:, None, :]


def _boxcar(coords: torch.Tensor, centre: torch.Tensor, side: torch.Tensor, k: float) -> torch.Tensor:
    """One factor of eq. (4), ``σ_k(x − t + t_s/2) − σ_k(x − t − t_s/2)``, at ``coords`` ``[1 or B, M]``: ``[B, M]``."""
    half = (side / 2)[:, None]
    return torch.sigmoid(k * (coords - centre[:, None] + half)) - torch.sigmoid(k * (coords - centre[:, None] - half))


def clamp_square(tx: torch.Tensor, ty: torch.Tensor, ts: torch.Tensor, height: int, width: int):
    """Move a square of side ``ts`` centred at ``(tx, ty)`` inside the image (``ts`` ≤ the image side)."""
    ts = torch.clamp(ts, max=float(min(height, width)))
    lo = ts / 2 - 0.5
    tx = torch.maximum(torch.minimum(tx, width - 0.5 - ts / 2), lo)
    ty = torch.maximum(torch.minimum(ty, height - 0.5 - ts / 2), lo)
    return tx, ty, ts


def crop_and_zoom(images: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor, ts: torch.Tensor, out_size: int,
                  k: float = 10.0, mask: bool = True) -> torch.Tensor:
    """The part image: ``images`` ``[B, C, H, W]`` times the eq. (4) mask, cropped to the square
    (clamped inside the image) and resized bilinearly to ``[B, C, out_size, out_size]``.

    ``tx, ty, ts`` are ``[B]`` (one square per image) or ``[B, P]`` (``P`` squares per image, all
    cut in one pass; the result is then ``[B, P, C, out_size, out_size]``).
    Differentiable with respect to the images and to ``tx, ty, ts``.
    """
    b, c, h, w = images.shape
    per_image = tx.shape[1:] if tx.ndim == 2 else None
    if per_image is not None:  # [B, P] squares: B·P part images, each from its own image
        p = tx.shape[1]
        tx, ty, ts = tx.reshape(-1), ty.reshape(-1), ts.reshape(-1)
    tx, ty, ts = clamp_square(tx, ty, ts, h, w)
    n = tx.shape[0]  # B, or B·P
    if per_image is not None:
        if mask:  # [B, 1, C, H, W] × [B, P, 1, H, W]
            images = images[:, None] * boxcar_mask(tx, ty, ts, h, w, k).view(b, p, 1, h, w)
        else:
            images = images[:, None].expand(b, p, c, h, w)
        images = images.reshape(n, c, h, w)
    elif mask:
        images = images * boxcar_mask(tx, ty, ts, h, w, k)[:, None]
    u = (torch.arange(out_size, dtype=images.dtype, device=images.device) + 0.5) / out_size  # (0, 1)
    # pixel-centre coordinate → grid_sample's normalised coordinate (align_corners=False)
    gx = ((tx[:, None] - ts[:, None] / 2 + 0.5 + u[None, :] * ts[:, None]) / w) * 2 - 1  # [n, out]
    gy = ((ty[:, None] - ts[:, None] / 2 + 0.5 + u[None, :] * ts[:, None]) / h) * 2 - 1
    grid = torch.stack([gx[:, None, :].expand(n, out_size, out_size), gy[:, :, None].expand(n, out_size, out_size)], -1)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out if per_image is None else out.view(b, p, c, out_size, out_size)


def crop_pixels(images: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor, size: int, k: float = 10.0,
                mask: bool = True) -> torch.Tensor:
    """:func:`crop_and_zoom` for squares of side ``size`` pixels cut to ``size`` pixels, whose corners
    lie on the pixel grid (``t − size/2 + 0.5`` an integer after clamping): nothing has to be
    resampled, so the part images are cut by indexing, and eq. (4)'s mask is evaluated at the cut
    pixels only. The values equal :func:`crop_and_zoom`'s up to float rounding; the square's
    position carries no gradient (the peak rule's carries none anyway), the mask's values do.

    ``images`` ``[B, C, H, W]``; ``tx, ty`` ``[B, P]``. Returns ``[B, P, C, size, size]``; each part
    ``[:, i]`` is in the memory format of ``images`` (channels-last stays channels-last).
    """
    b, c, h, w = images.shape
    p = tx.shape[1]
    # part-major order (all images' part 1, then part 2, ...), so that each part is one contiguous block
    tx, ty = tx.t().reshape(-1), ty.t().reshape(-1)  # [P·B]
    tx, ty, ts = clamp_square(tx, ty, torch.full_like(tx, float(size)), h, w)
    offsets = torch.arange(size, device=images.device)
    cols = (tx - size / 2 + 0.5).round().long()[:, None] + offsets  # [P·B, size]: pixel columns cut
    rows = (ty - size / 2 + 0.5).round().long()[:, None] + offsets
    image = torch.arange(b, device=images.device).repeat(p)  # [P·B]: the image each square is cut from
    channels_last = images.is_contiguous(memory_format=torch.channels_last) and not images.is_contiguous()
    # the cut pixels as rows of a [B·H·W, C] table: one index_select gives [P·B, size, size, C]
    pixel = (image[:, None, None] * h + rows[:, :, None]) * w + cols[:, None, :]  # [P·B, size, size]
    table = images.permute(0, 2, 3, 1).reshape(b * h * w, c)  # a view for channels-last images, else a copy
    out = table.index_select(0, pixel.reshape(-1)).view(p * b, size, size, c)
    if mask:  # V_y(y) · V_x(x) at the cut pixels: the same values as boxcar_mask's there
        v = _boxcar(rows.to(tx.dtype), ty, ts, k)[:, :, None] * _boxcar(cols.to(tx.dtype), tx, ts, k)[:, None, :]
        out = out * v[..., None]
    out = out.view(p, b, size, size, c).permute(1, 0, 4, 2, 3)  # [B, P, C, size, size]
    return out if channels_last else out.contiguous()


def peak_centres(maps: torch.Tensor, stride: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre rule "peak": the argmax cell of each map ``[B, P, h, w]`` at its centre in input pixels
    (:func:`~sgma_core.localization.cell_centres`, the book's one pixel convention). Returns ``tx, ty``
    ``[B, P]`` (no gradient)."""
    b, p, h, w = maps.shape
    flat = maps.detach().reshape(b, p, h * w).argmax(-1)
    return cell_centres((flat % w).to(maps.dtype), stride), cell_centres((flat // w).to(maps.dtype), stride)


def fixed_centres(rule: str, x: torch.Tensor, parts: int, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The centres of the controls of where the squares go, which never look at a map: ``"image_centre"``,
    every square at the image's centre; ``"random"``, squares of ``side`` pixels at places drawn from the image
    itself (a hash of some of its pixels, computed on its device: the same image gets the same places,
    different images different ones), their corners on the pixel grid and inside the image.
    ``x`` ``[B, 3, H, W]``; returns ``tx, ty`` ``[B, parts]`` (no gradient)."""
    b, _, h, w = x.shape
    if rule == "image_centre":
        return (torch.full((b, parts), (w - 1) / 2, device=x.device, dtype=x.dtype),
                torch.full((b, parts), (h - 1) / 2, device=x.device, dtype=x.dtype))
    if rule != "random":
        raise ValueError(f"centre rule {rule!r} is not a control; choose 'image_centre' or 'random'.")
    probe = x.detach().float().flatten(1)[:, ::97].sum(1, keepdim=True)  # [B, 1]: which image this is
    salt = torch.arange(2 * parts, device=x.device, dtype=torch.float32)[None, :]
    u = torch.frac(torch.sin(probe * 12.9898 + salt * 78.233).abs() * 43758.5453)  # [B, 2P] in [0, 1)
    corner_x = torch.floor(u[:, :parts] * (w - side + 1))
    corner_y = torch.floor(u[:, parts:] * (h - side + 1))
    return (corner_x + (side - 1) / 2).to(x.dtype), (corner_y + (side - 1) / 2).to(x.dtype)


GUIDE_SIGMA = 1.5  # pixels: the width of a painted part, wide enough to survive a bilinear shift


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
    """Centre rule ``"oracle"``: the squares of ``side`` pixels at the painted parts (:func:`paint_guides`),
    read from ``guides`` ``[B, P, H, W]`` (the channels after the third) as the centroid of each blob's top
    half, with their corners on the pixel grid. Returns ``tx, ty`` ``[B, P]`` (no gradient)."""
    g = guides.detach().float()
    w = torch.where(g >= 0.5 * g.amax(dim=(2, 3), keepdim=True), g, torch.zeros_like(g))
    total = w.sum(dim=(2, 3)).clamp_min(1e-12)
    xs = torch.arange(g.shape[3], dtype=g.dtype, device=g.device)
    ys = torch.arange(g.shape[2], dtype=g.dtype, device=g.device)
    x, y = (w.sum(2) * xs).sum(-1) / total, (w.sum(3) * ys).sum(-1) / total
    half = (side - 1) / 2
    return (torch.round(x - half) + half).to(guides.dtype), (torch.round(y - half) + half).to(guides.dtype)


class LearnedCentres(nn.Module):
    """Centre rule "learned" (RA-CNN style): a small head regresses ``(t_x, t_y, t_s)`` from each map,
    so that gradients of the losses reach the square through eq. (4).

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
