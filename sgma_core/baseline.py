"""The baseline of the report's §3.3 (the paper's ablation without attention):

``x → backbone → GAP → θ(x) → s_y = θ(x)ᵀ W φ(y)``, trained with the embedding softmax loss,
eq. (7), over the seen classes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sgma_core.backbones import Backbone, global_average_pool
from sgma_core.compatibility import Compatibility
from sgma_core.losses import embedding_softmax_loss


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


class BaselineObjective(nn.Module):
    """What one training step of the baseline minimises: ``forward(x [B, 3, S, S], y [B]) → eq. (7)``,
    the embedding softmax over the seen classes' semantics ``Φ_s`` ``[K, S]``."""

    def __init__(self, model: BaselineZSL, phi_seen: torch.Tensor) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("phi_seen", phi_seen, persistent=False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        theta = self.model.features(x)  # [B, C]: backbone, then eq. (1)
        scores = self.model.compat(theta, self.phi_seen)  # [B, S]: θᵀ W Φ_s
        return embedding_softmax_loss(scores, y)  # scalar: eq. (7)


class SeenClassifier(nn.Module):
    """Backbone → GAP → linear layer over the seen classes: the CPU stand-in for ImageNet
    pretraining. Trained on seen-class images only; its head is discarded afterwards."""

    def __init__(self, backbone: Backbone, n_seen: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.out_channels, n_seen)

    def forward(self, x: torch.Tensor, phi: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(global_average_pool(self.backbone(x)))


def seen_classifier_loss(model: SeenClassifier, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the seen classes: the loss of the backbone's pretraining."""
    return F.cross_entropy(model(x), y)
