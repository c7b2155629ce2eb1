"""Real birds, real ImageNet features: where eq. (11)'s two channel groups look on CUB photographs.

The paper's Figure 2 shows the two attention maps of a trained SGMA on CUB birds. Without the
paper's ImageNet VGG19 this can still be measured at its starting point: EfficientNet-Lite0's
ImageNet features of real photographs, grouped by eq. (11) into two channel groups on *seen-class*
images, each group's summed map and its peak, scored against CUB's annotated parts.

    rows = present_rows(ds, max_images=400)                 # the photographs the data root holds
    images, sizes = load_images(paths, 224)                 # decoded once: uint8 [N, 3, 224, 224], (w, h)
    fmaps = feature_maps(images, backbone)                  # [N, C, h, w]
    indicators = channel_grouping(fmaps[seen], 2)           # eq. (11), on seen-class images only
    points = peaks_in_pixels(group_maps(fmaps, indicators), backbone.stride, 224, sizes)
    table = part_hit_table(points, ds.part_locs[rows], hit_radii(sizes))

A peak *hits* a part when it lies within an eighth of the image's shorter side of the part's
annotated location (each image at its own size); a part counts only where it is marked visible.
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


def peaks_in_pixels(maps: torch.Tensor, stride: int, size: int, sizes: np.ndarray) -> np.ndarray:
    """The peak of every map, at the centre of its cell, in the original image's pixels: ``[N, P, 2]`` (x, y)."""
    n, p, h, w = maps.shape
    flat = maps.reshape(n, p, h * w).argmax(-1).numpy()
    cells = np.stack([flat % w, flat // w], axis=-1).astype(np.float64)  # [N, P, 2]
    scale = np.asarray(sizes, dtype=np.float64)[:, None, :] / size  # original pixels per input pixel
    return (cells + 0.5) * stride * scale


def hit_radii(sizes: np.ndarray) -> np.ndarray:
    """An eighth of each image's shorter side: ``[N]``."""
    return np.asarray(sizes, dtype=np.float64).min(axis=1) / 8


def part_hits(points: np.ndarray, parts: np.ndarray, radii: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``hits [N, M, Q]``: point ``m`` of image ``n`` lies within ``radii[n]`` of its visible part ``q``;
    ``visible [N, Q]``."""
    visible = parts[..., 2] > 0
    dist = np.linalg.norm(points[:, :, None, :] - parts[:, None, :, :2], axis=-1)  # [N, M, Q]
    return (dist <= radii[:, None, None]) & visible[:, None, :], visible


def hit_summary(points: np.ndarray, parts: np.ndarray, radii: np.ndarray) -> dict[str, np.ndarray]:
    """Per point ``m``: ``any`` — share of images whose point hits some visible part ``[M]``;
    ``per_part`` — share of the images where part ``q`` is visible whose point hits it ``[M, Q]``."""
    hits, visible = part_hits(points, parts, radii)
    shown = np.maximum(visible.sum(0), 1)  # [Q]
    return {"any": hits.any(-1).mean(0), "per_part": hits.sum(0) / shown, "visible": visible.sum(0)}


def random_point_summary(parts: np.ndarray, sizes: np.ndarray, radii: np.ndarray, draws: int = 200,
                         seed: int = 0) -> dict[str, np.ndarray]:
    """:func:`hit_summary` for points drawn uniformly over each image (``draws`` per image, averaged): the
    chance level, image by image at its own size and with its own visible parts."""
    rng = np.random.default_rng(seed)
    sizes = np.asarray(sizes, dtype=np.float64)
    points = rng.uniform(0, 1, size=(len(sizes), draws, 2)) * sizes[:, None, :]
    summary = hit_summary(points, parts, radii)
    return {"any": np.array([summary["any"].mean()]), "per_part": summary["per_part"].mean(0, keepdims=True),
            "visible": summary["visible"]}


def box_centres(boxes: np.ndarray) -> np.ndarray:
    """The centre of each bounding box ``[N, 4]`` (x, y, w, h): ``[N, 1, 2]``."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return (boxes[:, :2] + boxes[:, 2:] / 2)[:, None, :]
