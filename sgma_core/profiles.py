"""Run profiles as data: ``smoke`` (tests), ``cpu`` (the default book) and ``paper`` (the paper's settings,
GPU; METHOD §8).

A :class:`RunConfig` holds the settings of one run, its ``seed`` among them; an :class:`Experiment` is one
``RunConfig`` and the seeds it is run with::

    config = make_config("cpu", overrides={"epochs": 5})          # one run, seed 0
    experiment = make_experiment("cpu", overrides={"epochs": 5})  # one RunConfig per seed: experiment.configs()

Unknown profiles and fields are errors that list the valid ones; every value is checked by
:func:`check_setting` against its type, range (:data:`LIMITS`) and allowed values. A choice with behaviour of
its own is a registry of objects: ``backbone`` and its ``layer`` are checked against
:data:`sgma_core.backbones.BACKBONES`, ``centre_rule`` names a rule of :mod:`sgma_core.centres`; those two
registries are the only project modules this one imports.
"""

from __future__ import annotations

import difflib
import functools
import types
import typing
from dataclasses import asdict, dataclass, fields, replace
from typing import Literal

from sgma_core import backbones
from sgma_core.centres import rule_named


@dataclass(frozen=True)
class RunConfig:
    """Every knob of a training run. Defaults are the ``cpu`` profile's."""

    profile: str = "cpu"
    # the names sgma_core.data.load_dataset serves; OWN: yours, in CUB's layout
    dataset: Literal["SYN", "CUB", "AWA2", "FLO", "OWN"] = "SYN"
    seed: int = 0
    device: str = "auto"  # "auto": CUDA when available, else CPU
    backbone: str = "small_vgg"  # a name registered in sgma_core.backbones.BACKBONES; "vgg19" for the paper
    pretrained: bool = True  # a backbone with ImageNet weights (vgg19, efficientnet_lite0) loads them
    # a start this project wrote in place of ImageNet's (sgma_core.start_saving, make gpu-day): its file
    backbone_weights: str | None = None
    # where the backbone is cut: one of its registry entry's layers (vgg19: "conv5_4", "pool5"; efficientnet_lite0:
    # "stage5_expanded", "stage5", "head"); None: the entry's default_layer (conv5_4, stage5_expanded)
    layer: str | None = None
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
    pretrain_epochs: int = 10  # small_vgg (or vgg19 not pretrained): seen-class pretraining, the stand-in for ImageNet
    max_train_images: int | None = None  # subsample trainval (smoke tests)
    max_test_images: int | None = None  # subsample each test set (smoke tests)
    augment: bool = True  # random flip and translation
    eval_every: int = 8  # epochs between evaluations on the test sets, and after the last (curves, not selection):
    # on the cpu profile an evaluation of SGMA costs about two thirds of an epoch
    num_threads: int | None = None  # torch CPU threads; None: torch's default
    cache_images: bool = True  # decode once into a uint8 memory map (sgma_core.data.cache), reused by later runs
    # SGMA (METHOD §1–§5); image_size above is the attention subnet's input
    # the branches' input: the image's own size, at which their backbones were pretrained (chapter 05's choice;
    # paper: 224, VGG19's pretraining size and half its image); squares of part_scale · image_size
    joint_size: int = 64
    n_parts: int = 2  # paper: 2
    part_scale: float = 0.5  # square side / image side (paper: a 224 square of a 448 image)
    mask_k: float = 10.0  # eq. (4), paper: 10
    # a rule registered in sgma_core.centres: "peak" (the paper's), "learned" (a head regresses the square from the
    # map), or the controls of where the squares go (not the method): "image_centre", "random", "oracle"
    centre_rule: str = "learned"
    # "standardize": σ(2z − 2) of the standardised map; "standardize_learned": learnable scale/shift;
    # "none": literal eq. (3) (its maps collapse under training, chapter 04); the default is chapter 05's choice
    attention_norm: Literal["standardize", "standardize_learned", "none"] = "standardize_learned"
    shared_W: bool = False  # alternative: one W for the three branches
    # what eqs. (5)-(9) may train in the attention subnet: "full" (its backbone and the FC pairs of eq. (2)), "heads"
    # (the FC pairs only), "none" (nothing: eq. (11)'s grouping is kept); the default is chapter 05's choice
    attention_training: Literal["full", "heads", "none"] = "full"
    emb_dim: int | None = None  # CCT embedding size; None: K
    lam_div: float = 1.0  # λ of eq. (9)
    alpha_cls: float = 1.0  # α of eq. (9)
    beta_cct: float = 1.0  # β of eq. (9)
    cpt_sigma: float = 1.0  # eq. (5): σ of the target blob, in feature cells
    div_margin: float = 0.2  # eq. (6), paper
    cct_margin: float = 0.8  # eq. (8), paper
    cct_negatives: Literal["hardest", "mean", "all"] = "all"  # "mean": the mean distance inside one hinge
    # ρ of eq. (10) (chosen on validation classes, chapter 05; 1.0 shrinks unseen prototypes)
    ridge_lambda: float = 1.0
    prototype_norm: bool = True  # cct and combined rules: unit-length class prototypes (cosine scores; chapter 05)
    # "joint": eq. (9) at every step; "alternating": epochs of eqs. (5)-(6), then of (7)-(8)
    training_schedule: Literal["joint", "alternating"] = "joint"
    prototype_images: int | None = 20  # trainval images per class for the seen prototypes; None: all
    grouping_images: int = 256  # Ω of eq. (11)
    grouping_steps: int = 200  # pretraining of the FC pairs towards the indicators
    # targets ε / 1 − ε of eq. (11)'s pretraining; 0: exact indicators (saturates eq. (2))
    grouping_smoothing: float = 0.0
    # "auto": bf16 autocast on CUDA, float32 on the CPU; or "fp32", "bf16"
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    channels_last: bool = True  # NHWC memory format (measured: ~25 % faster training steps on a 2-core CPU too)


PROFILES: dict[str, RunConfig] = {
    "smoke": RunConfig(
        profile="smoke", image_size=32, joint_size=16, batch_size=16, epochs=2, pretrain_epochs=1,
        grouping_images=32, grouping_steps=20,
        plateau_patience=1, max_train_images=96, max_test_images=48,
    ),
    # one CPU thread: a run repeats bit for bit only at a fixed thread count (benchmarks/results/threads-cpu-2core-
    # 2026-12-01.md) and fixed CPU instruction sets (sgma_core.dispatch pins them), so the records and a reader's
    # x86-64 laptop can train alike; make book runs two chapters side by side
    "cpu": RunConfig(profile="cpu", num_threads=1),
    "paper": RunConfig(
        profile="paper", device="cuda", backbone="vgg19", image_size=448, joint_size=224, batch_size=32,
        epochs=30, pretrain_epochs=0, plateau_patience=3,
    ),
}


# The paper's own description of every choice it leaves open, read as literally as it can be run
# (RunConfig overrides). The book's defaults differ where validation classes say so (the ablation
# chapter); ``-p overrides paper_reading`` runs a training chapter with this reading.
PAPER_READING: dict = {
    "attention_norm": "none",  # eq. (3) as printed: the sigmoid of the weighted channel sum
    "attention_training": "full",  # "an end-to-end fashion": eqs. (5)-(9) train the attention subnet's backbone too
    "centre_rule": "peak",  # the square centred at each map's highest value
    "grouping_smoothing": 0.0,  # eq. (11): the FC pairs pretrained towards the 0/1 indicator vectors
    "cct_negatives": "all",  # eq. (8): "the rest of the class prototypes are considered as faulty inputs"
    "training_schedule": "joint",  # one objective, eq. (9)
    "lam_div": 1.0, "alpha_cls": 1.0, "beta_cct": 1.0,  # eq. (9) as written (the grid searched is not given)
    "prototype_norm": False,  # eq. (10)'s prototypes as they come, scored by inner product
    "shared_W": False,  # one W per branch
}
PRESETS: dict[str, dict] = {"paper_reading": PAPER_READING}

# The seeds an experiment of each profile is run with (mean ± std over them).
PROFILE_SEEDS: dict[str, tuple[int, ...]] = {"smoke": (0,), "cpu": (0, 1, 2), "paper": (0,)}

# Settings that change how a run is executed, not what it computes: not part of a run's identity.
RUNTIME_ONLY = ("num_threads", "eval_every", "cache_images")

def _at_least(low):
    return (lambda v: v >= low), f"at least {low}"


_POSITIVE = (lambda v: v > 0), "greater than 0"
_FRACTION = (lambda v: 0 <= v < 1), "in [0, 1)"
# The range of every numeric setting (None, where a field allows it, is always allowed).
LIMITS = {
    "seed": _at_least(0), "epochs": _at_least(1), "batch_size": _at_least(1), "image_size": _at_least(8),
    "joint_size": _at_least(8), "lr": _POSITIVE, "momentum": _FRACTION, "weight_decay": _at_least(0),
    "lr_factor": ((lambda v: 0 < v < 1), "in (0, 1)"), "lr_min": _at_least(0), "plateau_patience": _at_least(0),
    "plateau_threshold": _at_least(0), "pretrain_epochs": _at_least(0), "max_train_images": _at_least(1),
    "max_test_images": _at_least(1), "eval_every": _at_least(1), "num_threads": _at_least(1), "n_parts": _at_least(2),
    "part_scale": ((lambda v: 0 < v <= 1), "in (0, 1]"), "mask_k": _POSITIVE, "emb_dim": _at_least(1),
    "lam_div": _at_least(0), "alpha_cls": _at_least(0), "beta_cct": _at_least(0), "cpt_sigma": _POSITIVE,
    "div_margin": ((lambda v: 0 <= v <= 1), "in [0, 1] (the maps lie in (0, 1))"), "cct_margin": _at_least(0),
    "ridge_lambda": _at_least(0), "prototype_images": _at_least(1), "grouping_images": _at_least(2),
    "grouping_steps": _at_least(0), "grouping_smoothing": ((lambda v: 0 <= v < 0.5), "in [0, 0.5)"),
}
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


@functools.cache
def field_types() -> dict[str, object]:
    """Each :class:`RunConfig` field's declared type (``int``, ``float | None``, ``Literal[…]``, …)."""
    return typing.get_type_hints(RunConfig)


def _kinds(declared) -> tuple[tuple, bool]:
    """``(the types a value may have, whether None is allowed)`` of a declared type."""
    args = typing.get_args(declared) if isinstance(declared, types.UnionType) else (declared,)
    return tuple(a for a in args if a is not type(None)), type(None) in args


def choices(name: str) -> tuple:
    """The allowed values of the choice ``name`` (a field declared as ``Literal[…]``)."""
    declared = field_types()[name]
    if typing.get_origin(declared) is not Literal:
        raise KeyError(f"{name} is not a choice among fixed values")
    return typing.get_args(declared)


CHOICE_FIELDS = tuple(name for name in field_types() if typing.get_origin(field_types()[name]) is Literal)


def _as_kind(value, kind):
    """``value`` as ``kind`` (``bool``, ``int``, ``float``, ``str``, or a ``Literal``'s type); ``ValueError`` if not."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE + _FALSE:
            return text in _TRUE
        raise ValueError
    if isinstance(value, bool):
        raise ValueError
    if kind is int:
        number = float(value) if isinstance(value, str) else value
        if not isinstance(number, (int, float)) or number != int(number):
            raise ValueError
        return int(number)
    if kind is float:
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError
        return number
    if isinstance(value, str):  # str, and the strings of a Literal (checked against its values in validate)
        return value
    raise ValueError


def _convert(name: str, value, declared):
    """``value`` as the type ``declared`` for the setting ``name`` (YAML may hand ``1e-3`` over as a string)."""
    kinds, optional = _kinds(declared)
    if value is None:
        if optional:
            return None
        raise ValueError(f"{name}=None: {name} needs a value.")
    kind = str if typing.get_origin(kinds[0]) is Literal else kinds[0]
    try:
        return _as_kind(value, kind)
    except (TypeError, ValueError, OverflowError):
        pass
    what = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[kind]
    raise ValueError(f"{name}={value!r}: expected {what}{' or null' if optional else ''}.")


def config_fields() -> list[str]:
    return [f.name for f in fields(RunConfig)]


def _check_names(names, what: str) -> None:
    valid = config_fields()
    for name in names:
        if name == "seeds":
            raise ValueError("seeds is not a setting of one run: give the seeds to make_experiment(..., seeds=[0, 1]) "
                             "(a chapter's `seeds` parameter), or one seed as seed.")
        if name in valid:
            continue
        owner = backbones.stored_under(name)  # the name a backbone's layer once had (vgg_layer)
        if owner is not None:
            raise ValueError(f"{name} is not a setting: where any backbone is cut is `layer` (for {owner.name}, one of "
                             f"{', '.join(map(repr, owner.layers))}); give layer instead of {name}.")
        close = difflib.get_close_matches(name, valid, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown {what} {name!r}.{hint} Valid names: {', '.join(valid)}.")


def _check_profile(profile: str) -> None:
    if profile not in PROFILES:
        close = difflib.get_close_matches(profile, PROFILES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown profile {profile!r}.{hint} Choose one of: {', '.join(PROFILES)}.")


def check_setting(name: str, value, declared=None, limit: tuple | None = None):
    """``value`` of the setting ``name`` converted to its type ``declared`` (by default the :class:`RunConfig`
    field's) and checked against ``limit`` (``(test, what it must be)``; by default :data:`LIMITS`'s) and, for a
    ``Literal``, its allowed values; a :class:`ValueError` names the setting, the value and what is allowed.
    Every setting of a run is checked here, and so are a chapter's parameters that are not a run's
    (:data:`bookkit.sources.CHAPTER_SETTINGS`)."""
    declared = field_types()[name] if declared is None else declared
    limit = LIMITS.get(name) if limit is None else limit
    kind = _kinds(declared)[0][0]
    allowed = typing.get_args(kind) if typing.get_origin(kind) is Literal else ()
    try:
        converted = _convert(name, value, declared)
    except ValueError as exc:
        what = f"one of {', '.join(map(repr, allowed))}" if allowed else limit[1] if limit else ""
        raise ValueError(f"{str(exc).rstrip('.')}, {what}." if what and value is not None else str(exc)) from None
    if converted is None:
        return None
    if limit is not None and not limit[0](converted):
        raise ValueError(f"{name}={converted!r}: must be {limit[1]}.")
    if allowed and converted not in allowed:
        raise ValueError(f"{name}={converted!r}; choose one of {', '.join(map(repr, allowed))}.")
    return converted


def validate(config: RunConfig) -> RunConfig:
    """``config`` with every setting converted to its declared type and checked against its range
    and allowed values (:func:`check_setting`); a :class:`ValueError` names the first setting that is not."""
    values = {f.name: check_setting(f.name, getattr(config, f.name)) for f in fields(RunConfig)}
    backbones.backbone_entry(values["backbone"]).resolve(values["layer"])  # a ValueError names what is not there
    if values["profile"] not in PROFILES:
        raise ValueError(f"profile={values['profile']!r}; choose one of {', '.join(map(repr, PROFILES))}.")
    device = values["device"]
    if not (device in ("auto", "cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())):
        raise ValueError(f"device={device!r}; choose 'auto', 'cpu', 'cuda' or 'cuda:N'.")
    if values["grouping_images"] < values["n_parts"]:
        raise ValueError(f"grouping_images={values['grouping_images']} is fewer than n_parts={values['n_parts']}: "
                         "eq. (11) clusters the channels over at least as many images as parts.")
    if values["training_schedule"] == "alternating" and values["attention_training"] == "none":
        raise ValueError("training_schedule='alternating' with attention_training='none': the attention epochs "
                         "would train nothing; choose attention_training 'heads' or 'full', or the 'joint' schedule.")
    rule_named(values["centre_rule"]).check(values["n_parts"])  # a registered rule, with settings it can run with
    return replace(config, **values)


def make_config(profile: str = "cpu", overrides: dict | None = None, **kwargs) -> RunConfig:
    """The profile's :class:`RunConfig` with ``overrides`` (a dict) and ``kwargs`` applied (``None`` values are
    skipped)."""
    _check_profile(profile)
    changes = {**(overrides or {}), **{k: v for k, v in kwargs.items() if v is not None}}
    _check_names(changes, "parameter")
    return validate(replace(PROFILES[profile], **changes))


def with_settings(config: RunConfig, **changes) -> RunConfig:
    """``config`` with some settings changed (checked like :func:`make_config`'s overrides)."""
    _check_names(changes, "parameter")
    return validate(replace(config, **changes))


def for_seed(config: RunConfig, seed: int) -> RunConfig:
    """The same settings with another ``seed``: one run of an experiment."""
    return with_settings(config, seed=int(seed))


@dataclass(frozen=True)
class Experiment:
    """One configuration run with several seeds: ``config`` (its ``seed`` is the first seed) and ``seeds``."""

    config: RunConfig
    seeds: tuple[int, ...]

    def configs(self) -> list[RunConfig]:
        """One :class:`RunConfig` per seed, in the order of ``seeds``."""
        return [for_seed(self.config, s) for s in self.seeds]


def resolve_overrides(overrides) -> dict:
    """``overrides`` as a dict of settings: a dict as it is, or a preset's name (:data:`PRESETS`); a
    dict may name a preset under ``preset`` and change some of its settings."""
    if overrides is None:
        return {}
    if isinstance(overrides, str):
        overrides = {"preset": overrides}
    if not isinstance(overrides, dict):
        raise ValueError(f"overrides={overrides!r}: must be a mapping of settings such as {{epochs: 5}}, "
                         f"or a preset's name ({', '.join(PRESETS)}).")
    overrides = dict(overrides)
    preset = overrides.pop("preset", None)
    if preset is None:
        return overrides
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}.")
    return {**PRESETS[preset], **overrides}


def make_experiment(profile: str = "cpu", overrides: dict | str | None = None, seeds=None) -> Experiment:
    """The profile's configuration with ``overrides`` (settings, or a preset's name), run with
    ``seeds`` (``None``: the profile's own, :data:`PROFILE_SEEDS`; ``"first"``: the first of them)."""
    _check_profile(profile)
    overrides = resolve_overrides(overrides)
    seeds = PROFILE_SEEDS[profile] if seeds is None else PROFILE_SEEDS[profile][:1] if seeds == "first" else seeds
    if isinstance(seeds, (int, str, dict)) or not hasattr(seeds, "__len__") or not len(seeds) \
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ValueError(f"seeds={seeds!r}: must be a non-empty list of integers ≥ 0 such as [0, 1, 2].")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds {list(seeds)} repeat a seed; each run would count twice in the mean ± std.")
    seeds = tuple(int(s) for s in seeds)
    return Experiment(make_config(profile, overrides, seed=seeds[0]), seeds)


def config_dict(config: RunConfig) -> dict:
    """JSON-ready form."""
    return asdict(config)
