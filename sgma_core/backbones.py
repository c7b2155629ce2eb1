"""Convolutional backbones ``x [B, 3, H, W] → f(x) [B, C, H/stride, W/stride]``.

* ``vgg19`` — torchvision's VGG19 (config "E" of Simonyan & Zisserman), cut at ``conv5_4``
  after its ReLU (default; 28 × 28 at a 448 input) or at ``pool5``. ImageNet weights come
  from torchvision's weights API and the torch cache; nothing is downloaded unless asked.
* ``small_vgg`` — a VGG-shaped network small enough to train on a laptop CPU. It stands in
  for ImageNet pretraining by first being trained on the **seen** classes only.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class WeightsNotFoundError(FileNotFoundError):
    """Pretrained weights are not in the torch cache and downloading was not allowed."""


class Backbone(nn.Module):
    """A feature extractor with ``out_channels`` and ``stride`` (input pixels per map cell)."""

    def __init__(self, features: nn.Sequential, out_channels: int, stride: int) -> None:
        super().__init__()
        self.features = features
        self.out_channels = out_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` → ``[B, C, H/stride, W/stride]``."""
        fmap = self.features(x)
        if fmap.requires_grad and not fmap.is_contiguous() and fmap.is_contiguous(memory_format=torch.channels_last):
            fmap.register_hook(_channels_last)
        return fmap


def _channels_last(grad: torch.Tensor) -> torch.Tensor:
    """The gradient of a channels-last feature map, handed back to the backbone channels-last.

    What the layers after the backbone send back (the backward of a pooling, of a matrix product)
    is NCHW; given that, the last layer's backward mixes the two formats and hands NCHW on. One
    conversion here keeps the whole backward channels-last (a few per cent of a CPU training step
    of small_vgg at 64², measured by alternating the two in one process).
    """
    return grad.contiguous(memory_format=torch.channels_last)


def global_average_pool(fmap: torch.Tensor) -> torch.Tensor:
    """Eq. (1), ``p = GAP(f(x))``: ``[B, C, H, W] → [B, C]``.

    The same pooling gives the attention subnet's ``p`` and every joint branch's ``θ_i``. (A sum
    divided after pooling: its backward hands the map a broadcast gradient instead of dividing a
    full-size one.)
    """
    return fmap.sum(dim=(2, 3)) / (fmap.shape[2] * fmap.shape[3])


def small_vgg(widths: tuple[int, ...] = (16, 32, 64, 128), convs_last: int = 2) -> Backbone:
    """VGG-shaped: 3×3 conv, batch norm, ReLU, 2×2 max-pool between stages; no pool after the last.

    Batch norm is there so that it trains from scratch at the paper's learning rate (0.05).
    The feature map is taken after the last ReLU, like ``conv5_4`` of VGG19.
    """
    layers: list[nn.Module] = []
    c_in = 3
    for i, width in enumerate(widths):
        last = i == len(widths) - 1
        for _ in range(convs_last if last else 1):
            layers += [nn.Conv2d(c_in, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            c_in = width
        if not last:
            layers.append(nn.MaxPool2d(2))
    return Backbone(nn.Sequential(*layers), out_channels=widths[-1], stride=2 ** (len(widths) - 1))


VGG19_CUTS = {"conv5_4": (36, 16), "pool5": (37, 32)}
VGG_LAYERS = tuple(VGG19_CUTS)  # where VGG19 is cut (RunConfig.vgg_layer)


def vgg19_weights_path() -> Path:
    """Where torchvision's ImageNet VGG19 weights live in the torch cache."""
    from torchvision.models import VGG19_Weights

    url = VGG19_Weights.IMAGENET1K_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def vgg19(pretrained: bool = True, layer: str = "conv5_4", download: bool = False) -> Backbone:
    """torchvision VGG19 features up to ``layer`` (``conv5_4`` after ReLU, or ``pool5``).

    With ``pretrained`` the ImageNet weights are loaded from the torch cache; if they are not
    there and ``download`` is false, :class:`WeightsNotFoundError` names the cache path and the
    command that fetches them.
    """
    from torchvision.models import VGG19_Weights
    from torchvision.models import vgg19 as tv_vgg19

    if layer not in VGG19_CUTS:
        raise ValueError(f"layer={layer!r}; choose one of {sorted(VGG19_CUTS)}")
    weights = None
    if pretrained:
        path = vgg19_weights_path()
        if not path.is_file() and not download:
            raise WeightsNotFoundError(
                f"ImageNet VGG19 weights not found at {path}. Fetch them once (needs internet) with "
                "`python -m data_prep.weights vgg19`, or use backbone='small_vgg' / pretrained=False."
            )
        weights = VGG19_Weights.IMAGENET1K_V1
    try:
        net = tv_vgg19(weights=weights, progress=False)
    except OSError as exc:  # URLError is an OSError: no network while downloading
        raise WeightsNotFoundError(
            f"could not download the VGG19 weights to {vgg19_weights_path()} ({exc}); "
            "run `python -m data_prep.weights vgg19` on a machine with internet and copy the file there."
        ) from exc
    cut, stride = VGG19_CUTS[layer]
    return Backbone(nn.Sequential(*list(net.features.children())[:cut]), out_channels=512, stride=stride)


BACKBONES = ("small_vgg", "vgg19")  # RunConfig.backbone


def build_backbone(name: str, **kwargs) -> Backbone:
    """A backbone by name, one of :data:`BACKBONES`."""
    if name == "small_vgg":
        return small_vgg(**kwargs)
    if name == "vgg19":
        return vgg19(**kwargs)
    raise ValueError(f"backbone={name!r}; choose one of {', '.join(map(repr, BACKBONES))}")
