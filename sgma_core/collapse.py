"""Is the attention alive? What a model's maps are, and what reaches the attention subnet, measured.

The literal eq. (3), ``σ(Σ_c a_c f_c)`` with ``a ≥ 0`` and ReLU features ``f ≥ 0``, never falls below 0.5; eqs.
(5)–(6) are then smallest when every feature of the attention backbone is zero and the maps are 0.5 everywhere.
These measure whether that happened (:func:`map_state`), what eqs. (5)–(6) cost at that floor
(:func:`floors`), and which loss terms reach which part of the attention subnet (:func:`gradient_table`).

    state = map_state(model, x)          # {"constant", "at_floor", "dead_features", "lowest", "spread"}
    table = gradient_table(model, x, y, phi_seen, config)   # {term: {"fc_pairs": norm, "backbone": norm}}
    floors(maps, config)                 # {"cpt": …, "div": …} of maps at 0.5 everywhere
    by_epoch(snapshots)                  # {epoch: {"constant", "at_floor"}} of a run's stored maps
"""

from __future__ import annotations

import numpy as np
import torch

from sgma_core.losses import class_centre_triplet_loss, compactness_loss, diversity_loss, embedding_softmax_loss

FLOOR = 0.5  # σ(0): the lowest value of the literal eq. (3) over non-negative weights and features
TOLERANCE = 1e-6  # a map within this of a constant is constant


@torch.no_grad()
def map_state(model, x: torch.Tensor) -> dict[str, float]:
    """For images ``x`` (normalised, ``[B, 3, A, A]``): the share of images whose every map is constant (max −
    min ≤ :data:`TOLERANCE`), the share whose maps are all at the 0.5 floor, the share of the attention
    backbone's output activations that are exactly zero, the lowest map value and the mean spread (max − min)."""
    was = model.training
    model.eval()
    images = model.split_guides(x)[0]
    features = model.attention_backbone(images)
    maps, _ = model.attention(features)
    model.train(was)
    flat = maps.flatten(2)  # [B, P, h·w]
    spread = flat.max(-1).values - flat.min(-1).values  # [B, P]
    return {"constant": float((spread <= TOLERANCE).all(1).float().mean()),
            "at_floor": float(((flat - FLOOR).abs() <= TOLERANCE).flatten(1).all(1).float().mean()),
            "dead_features": float((features == 0).float().mean()),
            "lowest": float(flat.min()), "spread": float(spread.mean())}


def _shares(maps) -> dict[str, float]:
    flat = np.asarray(maps, dtype=np.float64).reshape(len(maps), maps.shape[1], -1)  # [N, P, h·w]
    spread = flat.max(-1) - flat.min(-1)
    return {"constant": float((spread <= TOLERANCE).all(1).mean()),
            "at_floor": float((np.abs(flat - FLOOR) <= TOLERANCE).reshape(len(flat), -1).all(1).mean())}


def by_epoch(snapshots: dict) -> dict[int, dict[str, float]]:
    """For a run's snapshots ``{epoch: {"maps": [N, P, h, w], …}}`` (epoch −1: before training): the share of
    images whose maps are constant, and at the 0.5 floor, after each epoch."""
    return {int(e): _shares(snap["maps"]) for e, snap in sorted(snapshots.items())}


def floors(maps: torch.Tensor, config) -> dict[str, float]:
    """What eqs. (5) and (6) cost, summed over parts and averaged over images, when every map of the shape of
    ``maps`` ``[B, P, h, w]`` is :data:`FLOOR` everywhere (the collapse of the literal reading)."""
    flat = torch.full_like(maps, FLOOR)
    return {"cpt": float(compactness_loss(flat, config.cpt_sigma)),
            "div": float(diversity_loss(flat, config.div_margin))}


def gradient_table(model, x: torch.Tensor, y: torch.Tensor, phi_seen: torch.Tensor, config) -> dict:
    """The norm of the gradient each term of eq. (9) sends to the attention subnet's FC pairs (eq. (2)) and to
    its backbone, on one batch (``x`` normalised, ``y`` seen-class labels, ``phi_seen`` ``[K, S]``); 0 where the
    term does not reach them (the peak rule's argmax has no gradient; a frozen backbone takes none)."""
    out = model(x, phi_seen)
    terms = {"cpt": compactness_loss(out["maps"], config.cpt_sigma),
             "div": config.lam_div * diversity_loss(out["maps"], config.div_margin),
             "cls": config.alpha_cls * embedding_softmax_loss(out["scores"], y),
             "cct": config.beta_cct * class_centre_triplet_loss(out["emb"], model.centres, y, config.cct_margin,
                                                                config.cct_negatives)}
    groups = {"fc_pairs": [p for p in model.attention.parameters() if p.requires_grad],
              "backbone": [p for p in model.attention_backbone.parameters() if p.requires_grad]}
    table = {}
    for name, term in terms.items():
        table[name] = {}
        for group, params in groups.items():
            grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True) if (
                params and term.requires_grad) else []
            table[name][group] = float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None)
                                                  + torch.zeros(())))
    return table
