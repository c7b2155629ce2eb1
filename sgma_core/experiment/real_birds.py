"""Real photographs through a real ImageNet backbone: where eq. (11)'s channel groups look on CUB images.

This module picks the photographs the data root holds (:func:`present_rows`), computes a backbone's feature maps
(:func:`feature_maps`) and sums them per channel group (:func:`group_maps`); the grouping itself is
:func:`sgma_core.attention.channel_grouping` (fitted on seen-class images only) and the scoring against CUB's
annotated parts is :mod:`sgma_core.localization`, in its one pixel convention::

    rows = present_rows(ds, max_images=400)                 # the photographs the data root holds
    images, sizes = load_images(paths, 224)                 # uint8 [N, 3, 224, 224], each image's (w, h)
    fmaps = feature_maps(images, backbone)                  # [N, C, h, w]
    indicators = channel_grouping(fmaps[seen], 2)           # eq. (11), [2, C]
    points = peaks_in_pixels(group_maps(fmaps, indicators), backbone.stride, 224, sizes)
    summary = hit_summary(points, ds.part_locs[rows], hit_radii(sizes))
"""

from __future__ import annotations

import numpy as np
import torch

from sgma_core.data.images import normalize


def present_rows(ds, max_images: int | None = None, seed: int = 0) -> np.ndarray:
    """The dataset rows whose image file exists, at most ``max_images`` of them (half from seen classes,
    half from unseen ones where both have enough, drawn with ``seed``), in row order."""
    rows = np.array([i for i, p in enumerate(ds.image_paths) if p.is_file()], dtype=np.int64)
    if max_images is None or len(rows) <= max_images:
        return rows
    rng = np.random.default_rng(seed)
    seen = np.isin(ds.labels[rows], ds.seen_classes)
    n_seen = min(int(seen.sum()), max(max_images // 2, max_images - int((~seen).sum())))
    picked = np.concatenate([rng.choice(rows[seen], n_seen, replace=False),
                             rng.choice(rows[~seen], max_images - n_seen, replace=False)])
    return np.sort(picked)


@torch.no_grad()
def feature_maps(images: torch.Tensor, backbone, batch: int = 16) -> torch.Tensor:
    """``backbone``'s feature maps of decoded images (uint8 ``[N, 3, S, S]``, :func:`load_images`):
    ``[N, C, S / stride, S / stride]`` float32 on the CPU."""
    backbone = backbone.eval()
    device = next(backbone.parameters()).device
    out = [backbone(normalize(images[i:i + batch].to(device))).float().cpu() for i in range(0, len(images), batch)]
    return torch.cat(out)


def group_maps(fmaps: torch.Tensor, indicators: np.ndarray) -> torch.Tensor:
    """Each channel group's summed feature map: ``[N, C, h, w]``, ``[P, C]`` → ``[N, P, h, w]``."""
    return torch.einsum("pc,nchw->nphw", torch.as_tensor(indicators, dtype=fmaps.dtype), fmaps)
