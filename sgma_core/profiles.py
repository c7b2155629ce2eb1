"""Run profiles as data: ``smoke`` (seconds, tests), ``cpu`` (minutes, the default book) and
``paper`` (the paper's settings, GPU; METHOD §8).

A chapter picks a profile by name and may override any field::

    config = make_config("cpu", seed=1, overrides={"epochs": 5})

Unknown profile names and unknown fields are errors that list the valid ones.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, fields, replace


@dataclass(frozen=True)
class RunConfig:
    """Every knob of a training run. Defaults are the ``cpu`` profile's."""

    profile: str = "cpu"
    dataset: str = "SYN"
    seed: int = 0
    seeds: tuple[int, ...] = (0, 1, 2)  # seeds a chapter runs to report mean ± std
    device: str = "auto"  # "auto": CUDA when available, else CPU
    backbone: str = "small_vgg"  # "vgg19" for the paper
    pretrained: bool = True  # vgg19: ImageNet weights from the torch cache
    vgg_layer: str = "conv5_4"  # alternative: "pool5"
    freeze_backbone: bool = False  # paper does not say; fine-tuning is the default (METHOD §3)
    image_size: int = 64  # paper: 448 into attention/cropping, 224 into the joint subnet
    batch_size: int = 32  # paper: 32
    epochs: int = 16
    lr: float = 0.05  # paper: SGD 0.05
    momentum: float = 0.9  # paper
    weight_decay: float = 5e-4  # paper
    lr_factor: float = 0.1  # paper: ×0.1 on plateau …
    lr_min: float = 5e-4  # … down to 5e-4
    plateau_patience: int = 1  # epochs without improvement of the training loss before a drop
    plateau_threshold: float = 0.05  # an epoch "improves" when the loss falls by more than this fraction
    pretrain_epochs: int = 10  # small_vgg only: seen-class pretraining, the stand-in for ImageNet
    max_train_images: int | None = None  # subsample trainval (smoke tests)
    max_test_images: int | None = None  # subsample each test set (smoke tests)
    augment: bool = True  # random flip and translation
    eval_every: int = 4  # epochs between evaluations on the test sets (for curves, not selection)
    num_threads: int | None = None  # torch CPU threads; None: torch's default
    cache_images: bool = True  # decode once into a uint8 memory map (sgma_core.cache), reused by later runs
    # SGMA (METHOD §1–§5); image_size above is the attention subnet's input
    joint_size: int = 32  # joint subnet input (paper: 224); part squares are part_scale · image_size
    n_parts: int = 2  # paper: 2
    part_scale: float = 0.5  # square side / image side (paper: a 224 square of a 448 image)
    mask_k: float = 10.0  # eq. (4), paper: 10
    centre_rule: str = "peak"  # alternative: "learned" (a head regresses the square from the map)
    attention_norm: str = "standardize"  # σ(2z − 2) of the standardised map; "standardize_learned": learnable scale/shift; "none": literal eq. (3) (saturates)
    shared_W: bool = False  # alternative: one W for the three branches
    attention_training: str = "heads"  # what eqs. (5)–(6) train: "heads" (FC pairs of eq. 2), "full" (+ backbone), "none"
    emb_dim: int | None = None  # CCT embedding size; None: K
    lam_div: float = 1.0  # λ of eq. (9)
    alpha_cls: float = 1.0  # α of eq. (9)
    beta_cct: float = 1.0  # β of eq. (9)
    cpt_sigma: float = 1.0  # eq. (5): σ of the target blob, in feature cells
    div_margin: float = 0.2  # eq. (6), paper
    cct_margin: float = 0.8  # eq. (8), paper
    cct_negatives: str = "hardest"  # alternative: "mean" over all other centres
    ridge_lambda: float = 1.0  # eq. (10)
    prototype_images: int | None = 20  # trainval images per class for the seen prototypes; None: all
    grouping_images: int = 256  # Ω of eq. (11)
    grouping_steps: int = 200  # pretraining of the FC pairs towards the indicators
    grouping_smoothing: float = 0.1  # targets ε / 1 − ε of eq. (11)'s pretraining; 0: exact indicators (saturates eq. (2))
    precision: str = "auto"  # "auto": bf16 autocast on CUDA, float32 on the CPU; or "fp32", "bf16"
    channels_last: bool = True  # NHWC memory format (measured: ~25 % faster training steps on a 2-core CPU too)


PROFILES: dict[str, RunConfig] = {
    "smoke": RunConfig(
        profile="smoke", seeds=(0,), image_size=32, joint_size=16, batch_size=16, epochs=2, pretrain_epochs=1,
        grouping_images=32, grouping_steps=20,
        plateau_patience=1, max_train_images=96, max_test_images=48,
    ),
    "cpu": RunConfig(profile="cpu"),
    "paper": RunConfig(
        profile="paper", seeds=(0,), device="cuda", backbone="vgg19", image_size=448, joint_size=224, batch_size=32,
        epochs=30, pretrain_epochs=0, plateau_patience=3,
    ),
}


# Settings that change how a run is executed, not what it computes: not part of a run's identity.
RUNTIME_ONLY = ("seeds", "num_threads", "eval_every", "cache_images")


CHOICES = {
    "backbone": ("small_vgg", "vgg19"),
    "vgg_layer": ("conv5_4", "pool5"),
    "precision": ("auto", "fp32", "bf16"),
    "centre_rule": ("peak", "learned"),
    "attention_norm": ("standardize", "standardize_learned", "none"),
    "cct_negatives": ("hardest", "mean"),
    "attention_training": ("full", "heads", "none"),
}


def config_fields() -> list[str]:
    return [f.name for f in fields(RunConfig)]


def _check_names(names, what: str) -> None:
    valid = config_fields()
    for name in names:
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"unknown {what} {name!r}.{hint} Valid names: {', '.join(valid)}.")


def make_config(profile: str = "cpu", overrides: dict | None = None, **kwargs) -> RunConfig:
    """The profile's :class:`RunConfig` with ``overrides`` (a dict) and ``kwargs`` applied."""
    if profile not in PROFILES:
        close = difflib.get_close_matches(profile, PROFILES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown profile {profile!r}.{hint} Choose one of: {', '.join(PROFILES)}.")
    changes = {**(overrides or {}), **{k: v for k, v in kwargs.items() if v is not None}}
    _check_names(changes, "parameter")
    if "seeds" in changes:
        changes["seeds"] = tuple(changes["seeds"])
    config = replace(PROFILES[profile], **changes)
    for name, allowed in CHOICES.items():
        if getattr(config, name) not in allowed:
            raise ValueError(f"{name}={getattr(config, name)!r}; choose one of {', '.join(map(repr, allowed))}.")
    return config


def config_dict(config: RunConfig) -> dict:
    """JSON-ready form (tuples become lists)."""
    d = asdict(config)
    d["seeds"] = list(d["seeds"])
    return d
