"""Image loading and augmentation.

Images are decoded and resized once into a ``uint8`` tensor ``[N, 3, S, S]`` kept in memory;
augmentation and normalisation then run as tensor operations on the training device, seeded
per epoch so that an interrupted run resumes with exactly the same batches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from sgma_core.backbones import IMAGENET_MEAN, IMAGENET_STD  # the input every backbone takes


class ImageReadError(OSError):
    """An image file is missing or cannot be decoded. The message names the file."""


def read_image(path: str | Path, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Decode ``path`` as RGB and resize to ``size`` × ``size`` (bilinear).

    Returns ``[3, size, size]`` uint8 and the original ``(width, height)``.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            original = im.size
            im = im.resize((size, size), Image.BILINEAR)
            return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1).copy(), original
    except FileNotFoundError as exc:
        raise ImageReadError(
            f"image not found: {path}. The dataset is incomplete; extract or regenerate it "
            "(make data for the synthetic set)."
        ) from exc
    except Image.DecompressionBombError as exc:
        raise ImageReadError(
            f"image {path} is larger than Pillow accepts ({exc}); no dataset of this book has such images. "
            "Replace the file, or raise PIL.Image.MAX_IMAGE_PIXELS if you trust it."
        ) from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageReadError(
            f"cannot decode image {path} ({exc}). The file is damaged; extract or regenerate the dataset."
        ) from exc


def load_images(paths: list[Path], size: int, progress: bool = False) -> tuple[torch.Tensor, np.ndarray]:
    """Decode ``paths`` into ``[N, 3, size, size]`` uint8 and their original sizes ``[N, 2]`` (w, h)."""
    from tqdm import tqdm

    out = torch.empty((len(paths), 3, size, size), dtype=torch.uint8)
    sizes = np.empty((len(paths), 2), dtype=np.int64)
    for i, p in enumerate(tqdm(paths, desc="decoding", disable=not progress, mininterval=5.0)):
        arr, sizes[i] = read_image(p, size)
        out[i] = torch.from_numpy(arr)
    return out, sizes


def normalize(x: torch.Tensor) -> torch.Tensor:
    """uint8 ``[B, 3, H, W]`` → float, ImageNet mean and std (the torchvision VGG convention). Channels after
    the third (the oracle control's painted parts, :func:`sgma_core.centres.paint_guides`) come out in [0, 1]."""
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    rgb = (x[:, :3].float() / 255.0 - mean) / std
    return rgb if x.shape[1] == 3 else torch.cat([rgb, x[:, 3:].float() / 255.0], dim=1)


def augment(x: torch.Tensor, generator: torch.Generator, max_shift: float = 0.1, draw_for: int | None = None,
            offset: int = 0) -> torch.Tensor:
    """Random horizontal flip and translation of a float batch ``[B, 3, H, W]`` (same shape out).

    ``generator`` must live on the CPU; the draws are made there so that results do not depend
    on the device. ``draw_for``: draw the parameters of a batch of that many rows and apply those
    of rows ``offset … offset+B−1`` to ``x``. This is how one process of a distributed run
    augments its share of a global batch exactly as a single process augments the whole batch;
    since every process draws for the whole batch, their generators stay in step. Default: ``B``
    rows from 0 (the parameters of ``x`` itself).
    """
    b = x.shape[0]
    n = b if draw_for is None else draw_for
    if not 0 <= offset <= n - b:
        raise ValueError(f"rows {offset}…{offset + b - 1} are outside a drawn batch of {n}")
    flip = torch.rand(n, generator=generator) < 0.5
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * max_shift * 2
    flip, shift = flip[offset : offset + b], shift[offset : offset + b]
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = torch.where(flip, -1.0, 1.0)
    theta[:, 1, 1] = 1.0
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
