"""The losses of SGMA, eqs. (5)–(9).

Shapes: attention maps ``maps`` ``[B, P, H, W]`` with values in (0, 1) (``P`` parts);
compatibility scores ``[B, S]``; CCT embeddings ``[B, D]`` and class centres ``[S, D]``.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from sgma_core.profiles import choices

CCT_NEGATIVES = choices("cct_negatives")  # which negatives eq. (8) takes


def embedding_softmax_loss(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. (7): ``L_CLS = −(1/N) Σ_n log softmax_{y ∈ S}(s_n)_{y_n}``.

    ``scores``: ``[N, S]`` fused compatibility scores over the **seen** classes only;
    ``labels``: ``[N]`` in ``0..S−1`` (seen labels remapped). Returns a scalar.
    """
    if scores.ndim != 2 or labels.ndim != 1 or scores.shape[0] != labels.shape[0]:
        raise ValueError(f"scores must be [N, S] and labels [N]; got {tuple(scores.shape)} and {tuple(labels.shape)}")
    # Checked where it costs nothing (CPU tensors); on a GPU the check would make every step wait for the device.
    if labels.device.type == "cpu" and labels.numel() and (labels.min() < 0 or labels.max() >= scores.shape[1]):
        raise ValueError(
            f"labels must lie in 0..{scores.shape[1] - 1} (seen classes remapped); got {labels.min()}..{labels.max()}"
        )
    return F.cross_entropy(scores, labels)


def gaussian_peak_targets(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """``m̃``: for each map a Gaussian blob of peak 1 centred at the map's argmax, same shape ``[B, P, H, W]``.

    ``sigma`` is in feature cells. The target depends on the argmax only, so it carries no gradient.
    """
    b, p, h, w = maps.shape
    flat = maps.detach().reshape(b, p, h * w).argmax(-1)  # [B, P]: the peak cell, y · W + x
    return _blob_table(h, w, float(sigma), maps.dtype, maps.device)[flat]


@functools.lru_cache(maxsize=16)
def _blob_table(h: int, w: int, sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``[H·W, H, W]``: the blob centred at each cell (row ``y · W + x``), computed once per map size."""
    cy = torch.arange(h, dtype=dtype, device=device).repeat_interleave(w).view(h * w, 1, 1)
    cx = torch.arange(w, dtype=dtype, device=device).repeat(h).view(h * w, 1, 1)
    ys = torch.arange(h, dtype=dtype, device=device).view(1, h, 1)
    xs = torch.arange(w, dtype=dtype, device=device).view(1, 1, w)
    return torch.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * sigma**2))


def compactness_loss(maps: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """Eq. (5): ``L_CPT(M_i) = (1/|Z|) Σ_z (m_i^z − m̃_i^z)²``, summed over the ``P`` parts, mean over the batch.

    ``maps``: ``[B, P, H, W]``; ``m̃_i`` is :func:`gaussian_peak_targets` (σ in cells). The
    earlier reproduction compared the map with the crop mask instead; the target here is a
    concentrated blob at the map's own peak, as the paper describes.
    """
    if maps.ndim != 4:
        raise ValueError(f"maps must be [B, P, H, W]; got {tuple(maps.shape)}")
    b, _, h, w = maps.shape
    target = gaussian_peak_targets(maps, sigma)
    return F.mse_loss(maps, target, reduction="sum") / (b * h * w)  # Σ_b Σ_i (1/|Z|) Σ_z (…)², over B


def diversity_loss(maps: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """Eq. (6): ``L_DIV(M_i) = Σ_z m_i^z · max(0, max_{k≠i} m_k^z − mrg_div)``, summed over parts, mean over the batch.

    ``maps``: ``[B, P, H, W]`` with ``P ≥ 2``. A location that is high in one map is penalised in
    the others unless they stay below the margin there.
    """
    if maps.ndim != 4 or maps.shape[1] < 2:
        raise ValueError(f"maps must be [B, P ≥ 2, H, W]; got {tuple(maps.shape)}")
    p = maps.shape[1]
    others = []
    for i in range(p):
        rest = torch.cat([maps[:, :i], maps[:, i + 1 :]], dim=1)
        others.append(rest.max(dim=1).values)
    other_max = torch.stack(others, dim=1)  # [B, P, H, W]: max over k ≠ i
    return (maps * torch.clamp(other_max - margin, min=0)).sum(dim=(2, 3)).sum(dim=1).mean()


def class_centre_triplet_loss(
    emb: torch.Tensor, centres: torch.Tensor, labels: torch.Tensor, margin: float = 0.8, negatives: str = "all"
) -> torch.Tensor:
    """Eq. (8): ``L_CCT = (1/N) Σ_n max(0, mrg_cct + ‖ϕ̂_n − Ĉ_{y_n}‖² − d⁻_n)``.

    ``emb`` ``[B, D]`` and ``centres`` ``[S, D]`` are L2-normalised here; ``labels`` ``[B]`` in
    ``0..S−1``. Three readings of the negatives:

    * ``"hardest"``: ``d⁻_n = min_{k≠y_n} ‖ϕ̂_n − Ĉ_k‖²`` (the triplet-centre loss papers);
    * ``"mean"``: ``d⁻_n`` is the mean distance to all ``k ≠ y_n``, inside one hinge;
    * ``"all"``: one hinge per negative class, averaged over the ``S − 1`` of them (the
      reproduction report: "the rest of the class prototypes are considered as faulty inputs"),
      ``(1/N) Σ_n (1/(S−1)) Σ_{k≠y_n} max(0, mrg_cct + ‖ϕ̂_n − Ĉ_{y_n}‖² − ‖ϕ̂_n − Ĉ_k‖²)``.

    The earlier reproduction summed the distances to all centres, which is none of these.
    """
    if negatives not in CCT_NEGATIVES:
        raise ValueError(f"negatives={negatives!r}; choose one of {', '.join(map(repr, CCT_NEGATIVES))}")
    if centres.shape[0] < 2:
        raise ValueError("class_centre_triplet_loss needs at least two centres")
    e = F.normalize(emb, dim=1)
    c = F.normalize(centres, dim=1)
    # ‖ϕ̂_n − Ĉ_k‖² = ‖ϕ̂_n‖² + ‖Ĉ_k‖² − 2 ϕ̂_n·Ĉ_k: one matrix product, never a [B, S, D] difference tensor
    d = (e.pow(2).sum(1, keepdim=True) + c.pow(2).sum(1)[None, :] - 2 * e @ c.T).clamp_min(0)  # [B, S]
    pos = d.gather(1, labels[:, None]).squeeze(1)
    is_pos = F.one_hot(labels, c.shape[0]).bool()
    if negatives == "all":
        hinges = torch.clamp(margin + pos[:, None] - d, min=0).masked_fill(is_pos, 0.0)  # [B, S]
        return (hinges.sum(dim=1) / (c.shape[0] - 1)).mean()
    if negatives == "hardest":
        neg = d.masked_fill(is_pos, float("inf")).min(dim=1).values
    else:
        neg = d.masked_fill(is_pos, 0.0).sum(dim=1) / (c.shape[0] - 1)
    return torch.clamp(margin + pos - neg, min=0).mean()


def sgma_loss(cpt: torch.Tensor, div: torch.Tensor, cls: torch.Tensor, cct: torch.Tensor,
              lam: float = 1.0, alpha: float = 1.0, beta: float = 1.0) -> torch.Tensor:
    """Eq. (9): ``L = Σ_i [L_CPT(M_i) + λ L_DIV(M_i)] + α L_CLS + β L_CCT``.

    ``cpt`` and ``div`` are already summed over parts (as :func:`compactness_loss` and
    :func:`diversity_loss` return them).
    """
    return cpt + _times(lam, div) + _times(alpha, cls) + _times(beta, cct)


def _times(weight: float, term: torch.Tensor) -> torch.Tensor:
    """``weight · term``, without a multiplication (and its node in the backward graph) when the weight is 1."""
    return term if weight == 1 else weight * term
