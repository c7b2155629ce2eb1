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

import copy

import torch
import torch.nn.functional as F
from torch import nn

from sgma_core.attention import MultiAttention, initialise_grouping
from sgma_core.backbones import Backbone, global_average_pool
from sgma_core.centres import Seen, rule_named
from sgma_core.compatibility import Compatibility
from sgma_core.cropping import crop_and_zoom, crop_pixels
from sgma_core.losses import (
    class_centre_triplet_loss,
    compactness_loss,
    diversity_loss,
    embedding_softmax_loss,
    sgma_loss,
)
from sgma_core.profiles import choices

# RunConfig.attention_training: what eqs. (5)–(6) may train — the attention backbone and the FC pairs ("full"),
# the FC pairs only ("heads"), or nothing ("none": the channel grouping of eq. (11) is kept as it is).
ATTENTION_TRAINING = choices("attention_training")
# RunConfig.training_schedule: eq. (9) at every step ("joint"), or epochs of the attention losses, eqs. (5)-(6),
# alternating with epochs of the feature losses, eqs. (7)-(8) ("alternating"; the paper does not say which).
SCHEDULES = choices("training_schedule")
PHASES = ("joint", "attention", "features")


class SGMA(nn.Module):
    """``forward(x [B, 3, A, A], Φ [K, Y]) → dict`` with ``scores`` ``[B, Y]``, ``emb`` ``[B, D]``,
    ``maps`` ``[B, P, h, w]``, ``parts`` ``[B, P, 3, J, J]`` and the squares ``tx, ty, ts`` ``[B, P]``;
    ``locate(x)`` runs the attention subnet alone (maps and squares)."""

    def __init__(self, attention_backbone: Backbone, branches: list[Backbone], semantic_dim: int, n_seen: int,
                 attention_size: int, joint_size: int, n_parts: int = 2, emb_dim: int | None = None,
                 shared_W: bool = False, centre_rule: str = "learned", part_scale: float = 0.5, mask_k: float = 10.0,
                 attention_norm: str = "standardize_learned", attention_training: str = "full",
                 freeze_backbone: bool = False) -> None:
        super().__init__()
        if attention_training not in ATTENTION_TRAINING:
            raise ValueError(f"attention_training={attention_training!r}; "
                             f"choose one of {', '.join(ATTENTION_TRAINING)}")
        self.attention_training = attention_training
        if len(branches) != n_parts + 1:
            raise ValueError(f"need {n_parts + 1} branch backbones (global + {n_parts} parts), got {len(branches)}")
        self.attention_backbone = attention_backbone
        self.attention = MultiAttention(attention_backbone.out_channels, n_parts, normalize=attention_norm)
        self.branches = nn.ModuleList(branches)
        c = branches[0].out_channels
        n_w = 1 if shared_W else n_parts + 1
        self.compat = nn.ModuleList(Compatibility(c, semantic_dim) for _ in range(n_w))
        emb_dim = emb_dim or semantic_dim
        self.embed = nn.Linear(c * (n_parts + 1), emb_dim)
        self.centres = nn.Parameter(torch.randn(n_seen, emb_dim) * 0.01)  # N(0, 0.01), as the CCT papers
        self.rule = rule_named(centre_rule)  # where the squares go: sgma_core.centres
        self.n_parts, self.part_scale, self.mask_k = n_parts, part_scale, mask_k
        self.attention_size, self.joint_size = attention_size, joint_size
        # the rule's learned module, if it has one (kept under this name in the model's state)
        self.localizer = self.rule.head(attention_size // attention_backbone.stride, part_scale)
        self.freeze(freeze_backbone)
        self._register_load_state_dict_pre_hook(_stored_centres)


    @classmethod
    def from_config(cls, config, n_attributes: int, n_seen: int, backbone: Backbone) -> SGMA:
        """SGMA as a :class:`~sgma_core.profiles.RunConfig` describes it, for ``n_attributes`` (``K``)
        and ``n_seen`` (``S``) classes: four copies of ``backbone`` (attention subnet, global, part 1,
        part 2; :func:`~sgma_core.backbones.backbone_for` builds the one ``config`` names). The other layers
        are drawn with ``config.seed``."""
        torch.manual_seed(config.seed)
        return cls(copy.deepcopy(backbone), [copy.deepcopy(backbone) for _ in range(config.n_parts + 1)],
                   semantic_dim=n_attributes, n_seen=n_seen, attention_size=config.image_size,
                   joint_size=config.joint_size, n_parts=config.n_parts, emb_dim=config.emb_dim,
                   shared_W=config.shared_W, centre_rule=config.centre_rule, part_scale=config.part_scale,
                   mask_k=config.mask_k, attention_norm=config.attention_norm,
                   attention_training=config.attention_training, freeze_backbone=config.freeze_backbone)

    def freeze(self, freeze_backbone: bool = False) -> None:
        """The one place that decides which parameters train (``requires_grad``).

        ``freeze_backbone``: none of the four backbones trains. ``attention_training``:
        the attention subnet's backbone trains only with ``"full"``, its FC pairs (eq. (2)), and the learned
        scale and shift of ``attention_norm="standardize_learned"``, with ``"full"`` and ``"heads"``. Everything
        else trains: compatibility ``W``, the CCT embedding and centres, a learned centre head, the joint branches
        unless frozen."""
        self.requires_grad_(True)
        if freeze_backbone:
            for bb in [self.attention_backbone, *self.branches]:
                bb.requires_grad_(False)
        if self.attention_training != "full":
            self.attention_backbone.requires_grad_(False)
        if self.attention_training == "none":
            self.attention.requires_grad_(False)

    def initialise_grouping(self, images: torch.Tensor, config) -> dict:
        """Eq. (11) before training, on ``config.grouping_images`` (Ω) of the uint8 seen-class training
        ``images`` ``[N, 3, S, S]`` (:func:`sgma_core.attention.initialise_grouping`): the channel grouping and
        the FC pairs pretrained towards it. Returns ``{"indicators": [P, C], "losses": [steps]}``."""
        return initialise_grouping(self.attention, self.attention_backbone, images, omega=config.grouping_images,
                                   seed=config.seed, steps=config.grouping_steps, smoothing=config.grouping_smoothing)

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

    def split_guides(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The image channels of ``x`` and, for a rule that needs the parts (the oracle control), the
        painted parts after them (:meth:`~sgma_core.centres.CentreRule.show`)."""
        if not self.rule.needs_parts:
            return x, None
        if x.shape[1] != 3 + self.n_parts:
            raise ValueError(f"centre_rule={self.rule.name!r} needs images with the {self.n_parts} parts painted in "
                             f"after their 3 channels ({x.shape[1]} channels given): "
                             "sgma_core.experiment.with_part_guides.")
        return x[:, :3], x[:, 3:]

    def squares(self, maps: torch.Tensor, height: int, width: int, x: torch.Tensor | None = None,
                guides: torch.Tensor | None = None):
        """``tx, ty, ts`` ``[B, P]`` in input pixels, placed by the configured centre rule from the ``maps``,
        the images ``x`` and, for a rule that needs the parts, the painted parts ``guides``."""
        return self.rule.place(Seen(maps, x, height, width, self.part_scale, guides, self.localizer))

    def locate(self, x: torch.Tensor) -> dict:
        """The attention subnet alone: ``maps`` ``[B, P, h', w']``, ``channel_weights`` ``[B, P, C]``
        and the squares ``tx, ty, ts`` ``[B, P]`` in input pixels (eqs. (1)–(3) and the centre rule)."""
        x, guides = self.split_guides(x)
        maps, a = self.attend(x)  # eqs. (1)-(3)
        tx, ty, ts = self.squares(maps, x.shape[2], x.shape[3], x, guides)
        return {"maps": maps, "channel_weights": a, "tx": tx, "ty": ty, "ts": ts}

    def forward(self, x: torch.Tensor, phi: torch.Tensor) -> dict:
        # x: [B, 3, A, A]; phi: [K, Y]
        located = self.locate(x)  # maps [B, P, h', w'], channel weights [B, P, C]: eqs. (1)-(3)
        x = self.split_guides(x)[0]  # the oracle control's painted parts are not part of the image
        maps, a, tx, ty, ts = (located[k] for k in ("maps", "channel_weights", "tx", "ty", "ts"))  # squares: [B, P]
        if self.on_pixel_grid(x.shape[2], x.shape[3], maps.shape[2]):  # squares of J pixels on the pixel grid
            parts = crop_pixels(x, tx, ty, self.joint_size, k=self.mask_k)  # [B, P, 3, J, J]: eq. (4), by indexing
        else:  # resampled; NCHW, 1.5-3× faster for a 3-channel image on the CPU
            parts = crop_and_zoom(x.contiguous(), tx, ty, ts, self.joint_size, k=self.mask_k)  # eq. (4)
        glob = F.interpolate(x, size=(self.joint_size, self.joint_size), mode="bilinear", align_corners=False,
                             antialias=True)  # [B, 3, J, J]
        # the branches take their inputs in the memory format the model was given: one copy here where one is
        # needed, not one per convolution, forward and backward
        memory = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        inputs = [img.contiguous(memory_format=memory) for img in (glob, *parts.unbind(1))]
        thetas = [global_average_pool(branch(img)) for branch, img in zip(self.branches, inputs)]  # (P+1) × [B, C]
        theta = torch.cat(thetas, dim=1)  # [B, (P+1)·C]: θ_0, …, θ_P side by side
        scores = self.compatibility(thetas, theta, phi)  # [B, Y]
        emb = F.normalize(self.embed(theta), dim=1)  # [B, D]
        return {"scores": scores, "emb": emb, "maps": maps, "channel_weights": a, "thetas": thetas,
                "parts": parts, "tx": tx, "ty": ty, "ts": ts}

    def on_pixel_grid(self, height: int, width: int, map_size: int) -> bool:
        """Whether every square is ``J`` pixels wide with its corners on the pixel grid, so that eq. (4)'s
        crop needs no resampling (:func:`~sgma_core.cropping.crop_pixels`): a rule whose squares keep their side on
        the grid (:attr:`~sgma_core.centres.CentreRule.grid_squares`: not the learned one) with
        ``part_scale · A = J`` and a map stride ``s`` with ``s/2 − J/2`` whole, as in the cpu (64 → 32, s = 8)
        and paper (448 → 224, s = 16) profiles. Decided from sizes alone (no device sync)."""
        stride = height / map_size
        return (self.rule.grid_squares and height == width
                and self.part_scale * height == self.joint_size
                and stride.is_integer() and (stride / 2 - self.joint_size / 2).is_integer())

    def compatibility(self, thetas: list[torch.Tensor], theta: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        """Late fusion ``Σ_i θ_iᵀ W_i Φ`` ``[B, Y]`` as one product: ``[θ_0; …; θ_P]ᵀ [W_0; …; W_P] Φ``
        (``Σ_i θ_i`` times the one ``W`` when it is shared)."""
        if len(self.compat) == 1:
            return self.compat[0](sum(thetas), phi)
        weight = torch.cat([c.W.weight for c in self.compat], dim=1)  # [K, (P+1)·C]
        return F.linear(theta, weight) @ phi


def _stored_centres(state: dict, prefix: str, *_) -> None:
    """Runs stored before the class centres were spelt ``centres`` hold them as ``centers``: read them as such."""
    if prefix + "centers" in state and prefix + "centres" not in state:
        state[prefix + "centres"] = state.pop(prefix + "centers")


def sgma_objective(model: SGMA, out: dict, labels: torch.Tensor, lam: float = 1.0,
                   alpha: float = 1.0, beta: float = 1.0, cpt_sigma: float = 1.0,
                   div_margin: float = 0.2, cct_margin: float = 0.8,
                   cct_negatives: str = "all", phase: str = "joint"):
    """Eq. (9) on a forward pass ``out`` whose ``scores`` are over the seen classes;
    ``labels`` ``[B]``. Returns the total and its four terms (detached scalars, for
    logging without a device synchronisation per step). ``phase``: ``"attention"`` keeps
    only eqs. (5)-(6) in the total, ``"features"`` only eqs. (7)-(8)."""
    maps, scores, emb = out["maps"], out["scores"], out["emb"]  # [B, P, h, w], [B, S], [B, D]
    cpt = compactness_loss(maps, cpt_sigma)  # eq. (5), summed over the parts
    div = diversity_loss(maps, div_margin)  # eq. (6)
    cls = embedding_softmax_loss(scores, labels)  # eq. (7)
    cct = class_centre_triplet_loss(emb, model.centres, labels, cct_margin, cct_negatives)  # (8)
    if phase not in PHASES:
        raise ValueError(f"phase={phase!r}; choose one of {', '.join(map(repr, PHASES))}")
    if phase == "attention":  # the other terms stay out of the graph: what they train is left alone
        total = cpt + lam * div
    elif phase == "features":
        total = alpha * cls + beta * cct
    else:
        total = sgma_loss(cpt, div, cls, cct, lam=lam, alpha=alpha, beta=beta)  # eq. (9)
    terms = {"cpt": cpt, "div": div, "cls": cls, "cct": cct}
    return total, {name: value.detach() for name, value in terms.items()}


class SGMAObjective(nn.Module):
    """What one training step of SGMA minimises: ``forward(x [B, 3, A, A], y [B]) → (eq. (9), its terms)``.

    Holds the model and the seen classes' semantics ``Φ_s`` ``[K, S]``, so that the engine's
    :func:`~sgma_core.engine.step.train_step` (and DistributedDataParallel around it) sees one
    module whose parameters are everything the loss trains, ``centres`` included."""

    def __init__(self, model: SGMA, phi_seen: torch.Tensor, schedule: str = "joint", **weights) -> None:
        super().__init__()
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule={schedule!r}; choose one of {', '.join(map(repr, SCHEDULES))}")
        self.model = model
        self.register_buffer("phi_seen", phi_seen, persistent=False)
        self.schedule, self.phase = schedule, "joint"
        self.weights = weights  # lam, alpha, beta, cpt_sigma, div_margin, cct_margin, cct_negatives

    @classmethod
    def from_config(cls, model: SGMA, phi_seen: torch.Tensor, config) -> SGMAObjective:
        return cls(model, phi_seen, schedule=config.training_schedule, lam=config.lam_div, alpha=config.alpha_cls,
                   beta=config.beta_cct, cpt_sigma=config.cpt_sigma, div_margin=config.div_margin,
                   cct_margin=config.cct_margin, cct_negatives=config.cct_negatives)

    def start_epoch(self, epoch: int) -> None:
        """Called by the engine before each epoch: the alternating schedule trains the attention
        losses in even epochs (the first included) and the feature losses in odd ones."""
        if self.schedule == "alternating":
            self.phase = "attention" if epoch % 2 == 0 else "features"

    def forward(self, x: torch.Tensor, y: torch.Tensor):
        out = self.model(x, self.phi_seen)  # scores [B, S], emb [B, D], maps [B, P, h, w]
        return sgma_objective(self.model, out, y, phase=self.phase, **self.weights)  # scalar, {4 terms}
