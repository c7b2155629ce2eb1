"""The cropping subnet, eq. (4): a differentiable square mask around each attended part, and the
crop-and-zoom of the masked image to the joint subnet's input size. Where the squares go is the
centre rule's (:mod:`sgma_core.centres`).

Coordinates are in input pixels, with pixel ``i``'s centre at ``i`` (so ``x = 0, 1, …, W−1``): the
convention of :mod:`sgma_core.localization`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sgma_core.localization import window_starts


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
    cols = window_starts(tx, size).long()[:, None] + offsets  # [P·B, size]: pixel columns cut
    rows = window_starts(ty, size).long()[:, None] + offsets
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
