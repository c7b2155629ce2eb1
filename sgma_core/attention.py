"""The multi-attention subnet, eqs. (1)–(3), and its initialisation by channel grouping, eq. (11).

* (1) ``p = GAP(f(x)) ∈ R^C``;
* (2) ``a_i = σ(W2_i · ReLU(W1_i · p)) ∈ (0, 1)^C``, one pair of FC layers per part;
* (3) ``M_i(x) = σ(Σ_c a_i^c f^c(x)) ∈ (0, 1)^{H×W}``.

``normalize`` says what happens to the weighted sum before the sigmoid; a model built from a run's settings
takes it from :attr:`RunConfig.attention_norm <sgma_core.profiles.RunConfig>`, whose default the book uses:

* ``"none"`` (the paper's reading): the literal eq. (3). With ``a ≥ 0`` and ReLU features ``f ≥ 0`` the map
  never falls below 0.5, and eqs. (5)–(6) are smallest when the attention backbone's features are all zero;
* ``"standardize"``: a weighted *mean* over channels, standardised per map (zero mean, unit variance
  over positions), then ``σ(2z − 2)``: the map keeps spatial contrast and a peak can stand out;
* ``"standardize_learned"``: the same with the scale and shift learnable per part (initialised to 2 and −2).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from sgma_core.backbones import Backbone, global_average_pool
from sgma_core.data.images import normalize
from sgma_core.profiles import choices

NORMALIZE = choices("attention_norm")


class MultiAttention(nn.Module):
    """``forward(f [B, C, H, W]) → (maps [B, P, H, W], a [B, P, C])``."""

    def __init__(self, channels: int, n_parts: int = 2, reduction: int = 8,
                 normalize: str = "standardize_learned") -> None:
        super().__init__()
        if normalize not in NORMALIZE:
            raise ValueError(f"normalize={normalize!r}; choose one of {', '.join(NORMALIZE)}")
        hidden = max(channels // reduction, 4)
        self.n_parts = n_parts
        self.normalize = normalize
        scale, shift = torch.full((n_parts,), 2.0), torch.full((n_parts,), -2.0)
        if normalize == "standardize_learned":
            self.scale, self.shift = nn.Parameter(scale), nn.Parameter(shift)
        else:
            self.register_buffer("scale", scale)
            self.register_buffer("shift", shift)
        self.fc = nn.ModuleList(
            nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))
            for _ in range(n_parts)
        )

    def channel_weights(self, p: torch.Tensor) -> torch.Tensor:
        """Eq. (2): ``p`` ``[B, C]`` → ``a`` ``[B, P, C]``."""
        return torch.stack([torch.sigmoid(fc(p)) for fc in self.fc], dim=1)

    def forward(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.channel_weights(global_average_pool(f))  # eqs. (1), (2)
        s = torch.einsum("bpc,bchw->bphw", a, f)  # eq. (3), before the sigmoid
        if self.normalize != "none":
            s = s / a.sum(-1)[..., None, None].clamp_min(1e-6)
            mean = s.mean(dim=(2, 3), keepdim=True)
            std = s.std(dim=(2, 3), keepdim=True).clamp_min(1e-6)
            s = (s - mean) / std * self.scale[:, None, None] + self.shift[:, None, None]
        return torch.sigmoid(s), a


def channel_peaks(fmaps: torch.Tensor) -> np.ndarray:
    """Eq. (11)'s descriptors: for each channel the peak coordinates over ``Ω`` images.

    ``fmaps``: ``[Ω, C, H, W]`` → ``[C, 2Ω]`` = ``[t_x^1, t_y^1, …, t_x^Ω, t_y^Ω]`` (in cells).
    """
    omega, c, h, w = fmaps.shape
    flat = fmaps.reshape(omega, c, h * w).argmax(-1)  # [Ω, C]
    tx, ty = (flat % w).float(), (flat // w).float()
    return torch.stack([tx, ty], dim=-1).permute(1, 0, 2).reshape(c, 2 * omega).numpy()


def channel_grouping(fmaps: torch.Tensor, n_parts: int = 2, seed: int = 0) -> np.ndarray:
    """Eq. (11): k-means (scikit-learn, fixed seed) over the channels' peak descriptors.

    Returns indicator vectors ``ā`` ``[P, C]`` in {0, 1}, one row per cluster, the clusters
    ordered by the mean vertical position of their peaks (top first) so that the order is stable.
    Run once, before training — never inside the forward pass.
    """
    from sklearn.cluster import KMeans

    desc = channel_peaks(fmaps)
    labels = KMeans(n_clusters=n_parts, random_state=seed, n_init=10).fit_predict(desc)
    mean_y = [desc[labels == k, 1::2].mean() if (labels == k).any() else np.inf for k in range(n_parts)]
    order = np.argsort(mean_y)
    return np.stack([(labels == k).astype(np.float32) for k in order])


def pretrain_grouping(attention: MultiAttention, pooled: torch.Tensor, indicators: np.ndarray,
                      steps: int = 200, lr: float = 0.01, smoothing: float = 0.0) -> list[float]:
    """Fit each FC pair so that ``a_i(p) ≈ ā_i`` on the pooled features ``[Ω, C]`` (binary
    cross-entropy, Adam). Returns the loss per step.

    With ``smoothing = ε`` the targets are ``ε`` and ``1 − ε`` instead of 0 and 1: the sigmoids of
    eq. (2) then stay away from saturation, where their gradient (and so what eqs. (5)–(6) can
    still change) vanishes."""
    if not 0.0 <= smoothing < 0.5:
        raise ValueError(f"smoothing={smoothing}; it must lie in [0, 0.5)")
    target = torch.as_tensor(indicators, dtype=pooled.dtype, device=pooled.device)[None].expand(pooled.shape[0], -1, -1)
    target = target * (1 - 2 * smoothing) + smoothing
    params = list(attention.fc.parameters())
    trainable = [p.requires_grad for p in params]  # kept frozen afterwards if it was (attention_training="none")
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=lr)
    losses = []
    with torch.enable_grad():
        for _ in range(steps):
            a = attention.channel_weights(pooled)
            loss = nn.functional.binary_cross_entropy(a, target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
    for p, flag in zip(params, trainable):
        p.requires_grad_(flag)
        p.grad = None
    return torch.stack(losses).tolist()


def state_digest(digest, **parts: nn.Module | torch.Tensor):
    """Add to ``digest`` (a :mod:`hashlib` object) the name, shape, dtype and bytes of each tensor of ``parts``:
    a module's weights and buffers, or a tensor itself. Returns ``digest``."""
    for prefix, part in parts.items():
        tensors = part.state_dict().items() if isinstance(part, nn.Module) else [("", part)]
        for name, tensor in tensors:
            digest.update(f"{prefix}.{name} {tuple(tensor.shape)} {tensor.dtype}".encode())
            digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().data)
    return digest


# Eq. (11)'s results by everything they depend on (see initialise_grouping): a page that shows the grouping and
# then trains the same model groups once
_GROUPINGS: OrderedDict[str, dict] = OrderedDict()
_GROUPINGS_KEPT = 4


@torch.no_grad()
def initialise_grouping(attention: MultiAttention, backbone: Backbone, images: torch.Tensor, omega: int = 256,
                        seed: int = 0, steps: int = 200, smoothing: float = 0.0, batch_size: int = 64) -> dict:
    """Eq. (11), once before training: the channel grouping and the FC pairs pretrained towards it.

    ``images``: uint8 ``[N, 3, S, S]`` seen-class training images, of which ``omega`` (Ω) are drawn
    with ``seed``; the backbone (in eval mode) maps them to ``f`` ``[Ω, C, h, w]``, :func:`channel_grouping`
    clusters the channels by where they peak, and :func:`pretrain_grouping` fits ``a_i(p) ≈ ā_i``.
    Returns ``{"indicators": ā [P, C], "losses": [steps]}``. Nothing in it draws from the global random
    state, so the same backbone, FC pairs before, images and settings give the same result: the last few are
    kept in this process and given again (the FC pairs set to what they became), not computed again.
    """
    device = next(backbone.parameters()).device
    rows = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:omega]
    key = state_digest(hashlib.sha256(repr((omega, seed, steps, smoothing, batch_size, str(device))).encode()),
                       backbone=backbone, attention=attention, images=images[rows]).hexdigest()
    if key in _GROUPINGS:
        _GROUPINGS.move_to_end(key)
        kept = _GROUPINGS[key]
        attention.load_state_dict(kept["state"])
        return {"indicators": kept["indicators"].copy(), "losses": list(kept["losses"])}
    x = normalize(images[rows].to(device))  # [Ω, 3, S, S]
    was = backbone.training
    backbone.eval()
    f = torch.cat([backbone(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])  # [Ω, C, h, w]
    backbone.train(was)
    indicators = channel_grouping(f.cpu(), attention.n_parts, seed=seed)  # [P, C]
    losses = pretrain_grouping(attention, global_average_pool(f), indicators, steps=steps, smoothing=smoothing)
    _GROUPINGS[key] = {"state": {k: v.detach().clone() for k, v in attention.state_dict().items()},
                       "indicators": indicators.copy(), "losses": list(losses)}
    while len(_GROUPINGS) > _GROUPINGS_KEPT:
        _GROUPINGS.popitem(last=False)
    return {"indicators": indicators, "losses": losses}
