"""The whole SGMA model: multi-attention → cropping → joint feature learning (METHOD §1–§3),
and its objective, eq. (9).

Forward pass for an image batch ``x`` ``[B, 3, A, A]`` at the attention input size ``A``:

1. ``f = backbone_attn(x)`` ``[B, C, h, w]``; ``M, a = MultiAttention(f)`` — maps ``[B, P, h, w]``;
2. for each part, a square of side ``part_scale · A`` around the map's peak (or a learned
   centre), masked by eq. (4), cropped and zoomed to the joint input size ``J``;
3. three unshared backbones — the whole image resized to ``J`` and the ``P`` part images — each
   pooled to ``θ_i`` ``[B, C]``; compatibility ``s^i = θ_iᵀ W_i Φ`` fused by summation
   (late fusion); the CCT embedding ``ϕ(x) = normalise(FC([θ_0; …; θ_P]))`` ``[B, D]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sgma_core.attention import MultiAttention
from sgma_core.backbones import Backbone
from sgma_core.compatibility import Compatibility, global_average_pool
from sgma_core.cropping import LearnedCentres, crop_and_zoom, peak_centres
from sgma_core.losses import (class_center_triplet_loss, compactness_loss, diversity_loss, embedding_softmax_loss,
                              sgma_loss)


ATTENTION_TRAINING = ("full", "heads", "none")


class SGMA(nn.Module):
    """``forward(x [B, 3, A, A], Φ [K, Y]) → dict`` with ``scores`` ``[B, Y]``, ``emb`` ``[B, D]``,
    ``maps`` ``[B, P, h, w]``, ``parts`` ``[B, P, 3, J, J]`` and the squares ``tx, ty, ts`` ``[B, P]``."""

    def __init__(self, attention_backbone: Backbone, branches: list[Backbone], semantic_dim: int, n_seen: int,
                 attention_size: int, joint_size: int, n_parts: int = 2, emb_dim: int | None = None,
                 shared_W: bool = False, centre_rule: str = "peak", part_scale: float = 0.5, mask_k: float = 10.0,
                 attention_norm: str = "standardize", attention_training: str = "heads") -> None:
        super().__init__()
        if attention_training not in ATTENTION_TRAINING:
            raise ValueError(f"attention_training={attention_training!r}; choose one of {', '.join(ATTENTION_TRAINING)}")
        self.attention_training = attention_training
        if len(branches) != n_parts + 1:
            raise ValueError(f"need {n_parts + 1} branch backbones (global + {n_parts} parts), got {len(branches)}")
        if centre_rule not in ("peak", "learned"):
            raise ValueError(f"centre_rule={centre_rule!r}; choose 'peak' or 'learned'")
        self.attention_backbone = attention_backbone
        self.attention = MultiAttention(attention_backbone.out_channels, n_parts, normalize=attention_norm)
        self.branches = nn.ModuleList(branches)
        c = branches[0].out_channels
        n_w = 1 if shared_W else n_parts + 1
        self.compat = nn.ModuleList(Compatibility(c, semantic_dim) for _ in range(n_w))
        emb_dim = emb_dim or semantic_dim
        self.embed = nn.Linear(c * (n_parts + 1), emb_dim)
        self.centers = nn.Parameter(torch.randn(n_seen, emb_dim) * 0.01)  # N(0, 0.01), as the CCT papers
        self.n_parts, self.centre_rule, self.part_scale, self.mask_k = n_parts, centre_rule, part_scale, mask_k
        self.attention_size, self.joint_size = attention_size, joint_size
        map_size = attention_size // attention_backbone.stride
        self.localizer = LearnedCentres(map_size, part_scale) if centre_rule == "learned" else None

    def attend(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eqs. (1)–(3): maps ``[B, P, h, w]`` and channel weights ``[B, P, C]``.

        ``attention_training`` says what eqs. (5)–(6) may change: ``"full"`` the backbone and the
        FC pairs; ``"heads"`` only the FC pairs and the map's scale and shift (the backbone stays
        as pretrained: eval mode, no gradient); ``"none"`` nothing (the channel-grouping
        initialisation is kept as it is).
        """
        if self.attention_training == "full":
            return self.attention(self.attention_backbone(x))
        was = self.attention_backbone.training
        self.attention_backbone.eval()
        with torch.no_grad():
            f = self.attention_backbone(x)
        self.attention_backbone.train(was)
        if self.attention_training == "heads":
            return self.attention(f)
        with torch.no_grad():
            return self.attention(f)

    def squares(self, maps: torch.Tensor, height: int, width: int):
        """``tx, ty, ts`` ``[B, P]`` in input pixels, by the configured centre rule."""
        if self.localizer is not None:
            return self.localizer(maps, height, width)
        tx, ty = peak_centres(maps, stride=height / maps.shape[2])
        ts = torch.full_like(tx, self.part_scale * min(height, width))
        return tx, ty, ts

    def forward(self, x: torch.Tensor, phi: torch.Tensor) -> dict:
        b, _, h, w = x.shape
        maps, a = self.attend(x)
        tx, ty, ts = self.squares(maps, h, w)
        parts = [crop_and_zoom(x, tx[:, i], ty[:, i], ts[:, i], self.joint_size, k=self.mask_k)
                 for i in range(self.n_parts)]
        glob = F.interpolate(x, size=(self.joint_size, self.joint_size), mode="bilinear", align_corners=False,
                             antialias=True)
        thetas = [global_average_pool(branch(img)) for branch, img in zip(self.branches, [glob] + parts)]
        scores = sum(self.compat[min(i, len(self.compat) - 1)](theta, phi) for i, theta in enumerate(thetas))
        emb = F.normalize(self.embed(torch.cat(thetas, dim=1)), dim=1)
        return {"scores": scores, "emb": emb, "maps": maps, "channel_weights": a, "thetas": thetas,
                "parts": torch.stack(parts, dim=1), "tx": tx, "ty": ty, "ts": ts}


def sgma_objective(model: SGMA, out: dict, labels: torch.Tensor, lam: float = 1.0, alpha: float = 1.0,
                   beta: float = 1.0, cpt_sigma: float = 1.5, div_margin: float = 0.2, cct_margin: float = 0.8,
                   cct_negatives: str = "hardest") -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. (9) on a forward pass whose ``scores`` are over the seen classes; returns the total
    and its four terms (detached scalars, for logging: no device synchronisation per step)."""
    cpt = compactness_loss(out["maps"], cpt_sigma)
    div = diversity_loss(out["maps"], div_margin)
    cls = embedding_softmax_loss(out["scores"], labels)
    cct = class_center_triplet_loss(out["emb"], model.centers, labels, cct_margin, cct_negatives)
    total = sgma_loss(cpt, div, cls, cct, lam=lam, alpha=alpha, beta=beta)
    return total, {"cpt": cpt.detach(), "div": div.detach(), "cls": cls.detach(), "cct": cct.detach()}
