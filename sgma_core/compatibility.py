"""The compatibility score of a visual feature with a class's semantics (report §2.3, eq. 7's logits).

``s_y = θ(x)ᵀ W φ(y)``: a bias-free bilinear map between the pooled visual feature
``θ ∈ R^C`` and the class semantics ``φ(y) ∈ R^K``. There is no classifier layer after pooling,
so any class with a semantic vector — seen or unseen — gets a score.
"""

from __future__ import annotations

import torch
from torch import nn


class Compatibility(nn.Module):
    """``W ∈ R^{C×K}``; ``forward(θ [B, C], Φ [K, Y]) → s [B, Y]``."""

    def __init__(self, feature_dim: int, semantic_dim: int) -> None:
        super().__init__()
        self.W = nn.Linear(feature_dim, semantic_dim, bias=False)

    def forward(self, theta: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        return self.W(theta) @ phi
