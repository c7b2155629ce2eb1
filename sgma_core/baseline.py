"""The baseline of the report's §3.3 (the paper's ablation without attention):

``x → backbone → GAP → θ(x) → s_y = θ(x)ᵀ W φ(y)``, trained with the embedding softmax loss,
eq. (7), over the seen classes.
"""

from __future__ import annotations

import torch
from torch import nn

from sgma_core.backbones import Backbone
from sgma_core.compatibility import Compatibility, global_average_pool


class BaselineZSL(nn.Module):
    """``forward(x [B, 3, H, W], Φ [K, Y]) → scores [B, Y]`` for whichever classes ``Φ`` holds."""

    def __init__(self, backbone: Backbone, semantic_dim: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.compat = Compatibility(backbone.out_channels, semantic_dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``θ(x)``: ``[B, C]``."""
        return global_average_pool(self.backbone(x))

    def forward(self, x: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        return self.compat(self.features(x), phi)


class SeenClassifier(nn.Module):
    """Backbone → GAP → linear layer over the seen classes: the CPU stand-in for ImageNet
    pretraining. Trained on seen-class images only; its head is discarded afterwards."""

    def __init__(self, backbone: Backbone, n_seen: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.out_channels, n_seen)

    def forward(self, x: torch.Tensor, phi: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(global_average_pool(self.backbone(x)))
