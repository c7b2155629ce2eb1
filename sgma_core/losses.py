"""The losses of SGMA, eqs. (5)–(9). This module starts with the one the baseline uses."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def embedding_softmax_loss(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. (7): ``L_CLS = −(1/N) Σ_n log softmax_{y ∈ S}(s_n)_{y_n}``.

    ``scores``: ``[N, S]`` fused compatibility scores over the **seen** classes only;
    ``labels``: ``[N]`` in ``0..S−1`` (seen labels remapped). Returns a scalar.
    """
    if scores.ndim != 2 or labels.ndim != 1 or scores.shape[0] != labels.shape[0]:
        raise ValueError(f"scores must be [N, S] and labels [N]; got {tuple(scores.shape)} and {tuple(labels.shape)}")
    if labels.numel() and (labels.min() < 0 or labels.max() >= scores.shape[1]):
        raise ValueError(
            f"labels must lie in 0..{scores.shape[1] - 1} (seen classes remapped); got {labels.min()}..{labels.max()}"
        )
    return F.cross_entropy(scores, labels)
