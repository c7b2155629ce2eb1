"""The book's training recipes: the backbone's seen-class pretraining, the baseline, and SGMA with
eq. (11)'s initialisation, each stored as a run (:mod:`sgma_core.engine.runs`) and reused."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from sgma_core.backbones import Backbone, backbone_entry, backbone_for
from sgma_core.baseline import BaselineObjective, BaselineZSL, SeenClassifier, seen_classifier_loss
from sgma_core.checked_weights import start_manifest
from sgma_core.dispatch import levels as dispatch_levels
from sgma_core.engine.loop import chain, fit, use_threads
from sgma_core.engine.runs import Run
from sgma_core.engine.step import resolve_device
from sgma_core.experiment.evaluate import predict_scores, sgma_evaluator, zsl_evaluator
from sgma_core.experiment.prepare import PreparedData
from sgma_core.experiment.snapshots import Snapshots
from sgma_core.experiment.where import shown_to
from sgma_core.metrics import per_class_accuracy
from sgma_core.profiles import RunConfig
from sgma_core.sgma import SGMA, SGMAObjective


def run_extra(prepared: PreparedData, config: RunConfig | None = None) -> dict:
    """What a run's identity holds beyond its settings: the fingerprint of its data
    (:meth:`~sgma_core.data.ZSLDataset.fingerprint`), the split for validation runs (their seen
    classes differ from the test runs'), the SHA-256 of the backbone's start file where ``config``
    names one (:mod:`sgma_core.checked_weights`), and for a run on the CPU the instruction sets it computes with
    (:func:`sgma_core.dispatch.levels`: runs made at other levels differ in their bits)."""
    given = config is not None and config.backbone_weights
    start = start_manifest(config.backbone_weights, config.backbone)["sha256"] if given else None
    extra = {"data": prepared.dataset.fingerprint()}
    if config is None or str(resolve_device(config.device)).startswith("cpu"):
        extra["cpu_dispatch"] = dispatch_levels()
    if start is not None:
        extra["backbone_weights"] = start
    return extra if prepared.split == "test" else {**extra, "split": prepared.split}


def pretrained_backbone(prepared: PreparedData, config: RunConfig, runs_dir: str | Path | None = None,
                        progress: bool = True) -> tuple[Backbone, list[dict]]:
    """The backbone a ZSL model starts from, and the history of its pretraining.

    A backbone with ImageNet weights (its registry entry's ``imagenet``: ``vgg19``, ``efficientnet_lite0``): those
    weights, or the start file ``backbone_weights`` names (no pretraining here). ``small_vgg``, and an ImageNet
    backbone with ``pretrained`` false and ``pretrain_epochs`` > 0: trained from scratch
    as a classifier of the **seen** classes on trainval (never unseen classes), the stand-in for ImageNet
    pretraining; the run is stored and reused.
    """
    backbone, history, _ = _pretrained(prepared, config, runs_dir, progress)
    return backbone, history


def _pretrained(prepared: PreparedData, config: RunConfig, runs_dir: str | Path | None,
                progress: bool) -> tuple[Backbone, list[dict], dict]:
    """:func:`pretrained_backbone`, and the identity beyond their settings (:func:`run_extra`) of the runs
    of ``config`` on ``prepared``, which it names its own run by."""
    use_threads(config)
    # ImageNet's weights, a start file, or a network without pretraining: nothing is trained here
    as_given = backbone_entry(config.backbone).imagenet is not None and (
        config.pretrained or config.backbone_weights or config.pretrain_epochs <= 0)
    if not as_given:
        torch.manual_seed(config.seed)
    backbone = backbone_for(config)
    clf = None if as_given or config.pretrain_epochs <= 0 else SeenClassifier(backbone, prepared.n_seen)
    extra = run_extra(prepared, config)
    if clf is None:
        return backbone, [], extra

    def evaluate(model):
        pred = predict_scores(model, prepared.test_seen_images, None).argmax(1)
        return {"seen_acc": per_class_accuracy(prepared.test_seen_labels, pred)}

    pretraining = dataclasses.replace(config, epochs=config.pretrain_epochs)
    run = Run.of("backbone", pretraining, runs_dir, extra={"pretrain": True, **extra})
    history = fit(clf, prepared.train, seen_classifier_loss, pretraining, run, evaluate=evaluate, progress=progress)
    return clf.backbone, history, extra


def train_baseline(prepared: PreparedData, config: RunConfig, runs_dir: str | Path | None = None,
                   progress: bool = True, **fit_kwargs) -> tuple[BaselineZSL, list[dict]]:
    """Train the baseline (backbone → GAP → W, eq. 7) and return it with its per-epoch history."""
    backbone, _ = pretrained_backbone(prepared, config, runs_dir, progress)
    torch.manual_seed(config.seed)
    model = BaselineZSL(backbone, semantic_dim=prepared.phi_seen.shape[0])
    if config.freeze_backbone:
        model.backbone.requires_grad_(False)
    objective = BaselineObjective(model, prepared.phi_seen.to(resolve_device(config.device)))
    run = Run.of("baseline", config, runs_dir, extra=run_extra(prepared, config))
    history = fit(model, prepared.train, objective, config, run, evaluate=zsl_evaluator(prepared),
                  progress=progress, **fit_kwargs)
    return model, history


def build_sgma(prepared: PreparedData, config: RunConfig, backbone: Backbone) -> SGMA:
    """SGMA for the prepared dataset's sizes, with four copies of ``backbone``."""
    return SGMA.from_config(config, n_attributes=prepared.phi_seen.shape[0], n_seen=prepared.n_seen, backbone=backbone)


def initialise_grouping(model: SGMA, prepared: PreparedData, config: RunConfig) -> dict:
    """Eq. (11) on ``config.grouping_images`` seen-class training images (:meth:`SGMA.initialise_grouping`)."""
    return model.initialise_grouping(prepared.train.images, config)


def train_sgma(prepared: PreparedData, config: RunConfig, runs_dir: str | Path | None = None, progress: bool = True,
               snapshot_images: torch.Tensor | None = None, **fit_kwargs):
    """Train SGMA with eq. (9); returns ``(model, history, info)``.

    ``info`` holds the channel-grouping result, ``test_scores`` (the three rules' scores on the
    test sets from the last epoch's evaluation, or None when the run was loaded from the store), ``seen_means``
    (the seen prototypes that evaluation used, :func:`~sgma_core.experiment.evaluate.seen_class_means`, or None)
    and, when ``snapshot_images`` (uint8) are given, ``snapshots``: the maps and squares on them
    before training and after every epoch (:class:`~sgma_core.experiment.snapshots.Snapshots`, kept in
    the run folder, so a resumed or reused run keeps the earlier ones when the images are the same).
    """
    backbone, _, extra = _pretrained(prepared, config, runs_dir, progress)
    device = resolve_device(config.device)
    model = SGMA.from_config(config, prepared.phi_seen.shape[0], prepared.n_seen, backbone).to(device)
    objective = SGMAObjective.from_config(model, prepared.phi_seen.to(device), config)
    info = {"grouping": model.initialise_grouping(prepared.train.images, config)}  # eq. (11)
    prepared, snapshot_images = shown_to(prepared, model.rule, snapshot_images)  # as the centre rule shows them
    evaluate = sgma_evaluator(prepared, config)
    run = Run.of("sgma", config, runs_dir, extra=extra)
    snapshots = None if snapshot_images is None else Snapshots(run.path / "snapshots.pt", snapshot_images,
                                                               prepared.phi_gzsl, model)
    history = fit(model, prepared.train, objective, config, run, evaluate=evaluate, progress=progress,
                  on_epoch_end=chain(snapshots, fit_kwargs.pop("on_epoch_end", None)), **fit_kwargs)
    # the GZSL scores of the three rules on the prepared test sets, from the evaluation after the last
    # epoch when this call trained it; None for a run loaded from the store (sgma_rule_scores gives them)
    info["test_scores"] = evaluate.last_scores
    info["seen_means"] = evaluate.last_seen_means  # the cct rule's seen prototypes in that evaluation
    if snapshots is not None:
        info["snapshots"] = snapshots.finished(history)
    return model, history, info
