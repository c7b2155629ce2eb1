"""The book's training recipes: the backbone's seen-class pretraining, the baseline, and SGMA with
eq. (11)'s initialisation, each stored as a run (:mod:`sgma_core.engine.runs`) and reused."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import numpy as np
import torch

from sgma_core.attention import initialise_grouping as _initialise_grouping
from sgma_core.backbones import IMAGENET_BACKBONES, Backbone, backbone_for, build_backbone
from sgma_core.baseline import BaselineObjective, BaselineZSL, SeenClassifier, seen_classifier_loss
from sgma_core.engine import distributed
from sgma_core.engine.fit import fit
from sgma_core.engine.runs import Run, RunFileError, load_checkpoint, save_atomically
from sgma_core.engine.step import resolve_device
from sgma_core.experiment.evaluate import batched_forward, predict_scores, sgma_evaluator, zsl_evaluator
from sgma_core.experiment.prepare import PreparedData
from sgma_core.metrics import per_class_accuracy
from sgma_core.profiles import RunConfig
from sgma_core.sgma import SGMA, SGMAObjective


def _split_extra(prepared: PreparedData) -> dict:
    """Validation runs are stored apart from test runs (their seen classes differ)."""
    return {} if prepared.split == "test" else {"split": prepared.split}


def pretrained_backbone(prepared: PreparedData, config: RunConfig, runs_dir: str | Path | None = None,
                        progress: bool = True) -> tuple[Backbone, list[dict]]:
    """The backbone a ZSL model starts from, and the history of its pretraining.

    ``vgg19``, ``efficientnet_lite0``: ImageNet weights (no pretraining here). ``small_vgg``: trained from scratch as a
    classifier of the **seen** classes on trainval (never unseen classes), the CPU stand-in
    for ImageNet pretraining; the run is stored and reused.
    """
    if config.backbone in IMAGENET_BACKBONES:
        return backbone_for(config), []
    torch.manual_seed(config.seed)
    backbone = build_backbone(config.backbone)
    if config.pretrain_epochs <= 0:
        return backbone, []
    clf = SeenClassifier(backbone, prepared.n_seen)

    def evaluate(model):
        pred = predict_scores(model, prepared.test_seen_images, None).argmax(1)
        return {"seen_acc": per_class_accuracy(prepared.test_seen_labels, pred)}

    pretraining = dataclasses.replace(config, epochs=config.pretrain_epochs)
    run = Run.of("backbone", pretraining, runs_dir, extra={"pretrain": True, **_split_extra(prepared)})
    history = fit(clf, prepared.train, seen_classifier_loss, pretraining, run, evaluate=evaluate, progress=progress)
    return clf.backbone, history


def train_baseline(prepared: PreparedData, config: RunConfig, runs_dir: str | Path | None = None,
                   progress: bool = True, **fit_kwargs) -> tuple[BaselineZSL, list[dict]]:
    """Train the baseline (backbone → GAP → W, eq. 7) and return it with its per-epoch history."""
    backbone, _ = pretrained_backbone(prepared, config, runs_dir, progress)
    torch.manual_seed(config.seed)
    model = BaselineZSL(backbone, semantic_dim=prepared.phi_seen.shape[0])
    if config.freeze_backbone:
        model.backbone.requires_grad_(False)
    objective = BaselineObjective(model, prepared.phi_seen.to(resolve_device(config.device)))
    run = Run.of("baseline", config, runs_dir, extra=_split_extra(prepared))
    history = fit(model, prepared.train, objective, config, run, evaluate=zsl_evaluator(prepared),
                  progress=progress, **fit_kwargs)
    return model, history


def build_sgma(prepared: PreparedData, config: RunConfig, backbone: Backbone) -> SGMA:
    """SGMA for the prepared dataset's sizes, with four copies of ``backbone``."""
    return SGMA.from_config(config, n_attributes=prepared.phi_seen.shape[0], n_seen=prepared.n_seen, backbone=backbone)


def initialise_grouping(model: SGMA, prepared: PreparedData, config: RunConfig) -> dict:
    """Eq. (11) on ``config.grouping_images`` seen-class training images (:func:`sgma_core.attention.initialise_grouping`)."""
    return _initialise_grouping(model.attention, model.attention_backbone, prepared.train.images,
                                omega=config.grouping_images, seed=config.seed, steps=config.grouping_steps,
                                smoothing=config.grouping_smoothing)


SNAPSHOT_KEYS = ("maps", "tx", "ty", "ts")  # what a snapshot keeps: the maps and the squares


class _Locate(torch.nn.Module):
    """``SGMA.locate`` as a module's forward, for :func:`batched_forward` (the branches are not run)."""

    def __init__(self, model: SGMA) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, phi=None) -> dict:
        return self.model.locate(x)


def _snapshot(model, images: torch.Tensor, phi: torch.Tensor) -> dict[str, np.ndarray]:
    return batched_forward(_Locate(model).train(model.training), images, phi, 64, keys=SNAPSHOT_KEYS)


def _as_tensors(outputs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in outputs.items()}


def train_sgma(prepared: PreparedData, config: RunConfig, runs_dir: str | Path | None = None, progress: bool = True,
               snapshot_images: torch.Tensor | None = None, **fit_kwargs):
    """Train SGMA with eq. (9); returns ``(model, history, info)``.

    ``info`` holds the channel-grouping result, ``test_scores`` (the three rules' scores on the
    test sets from the last epoch's evaluation, or None when the run was loaded from the store)
    and, when ``snapshot_images`` (uint8) are given,
    the maps and squares on them before training and after every epoch (also saved in the run
    folder as ``snapshots.pt``, tensors only, so a resumed run keeps the earlier ones).
    """
    backbone, _ = pretrained_backbone(prepared, config, runs_dir, progress)
    model = build_sgma(prepared, config, backbone)
    device = resolve_device(config.device)
    model.to(device)
    run = Run.of("sgma", config, runs_dir, extra=_split_extra(prepared))
    info = {"grouping": initialise_grouping(model, prepared, config)}
    objective = SGMAObjective.from_config(model, prepared.phi_seen.to(device), config)

    snap_path = run.path / "snapshots.pt"
    snapshots: dict[int, dict] = {}
    callback = fit_kwargs.pop("on_epoch_end", None)
    if snapshot_images is not None:
        run.path.mkdir(parents=True, exist_ok=True)
        if snap_path.is_file():
            try:
                stored = load_checkpoint(snap_path)
            except RunFileError as exc:
                if isinstance(exc.__cause__, pickle.UnpicklingError):
                    raise  # refused: never loaded
                print(f"{snap_path} is damaged; the maps before training and after the last epoch are computed again, "
                      "those of the epochs between are lost", flush=True)
                stored = {}
            snapshots = {int(e): {k: v.numpy() for k, v in snap.items()} for e, snap in stored.items()}
        if -1 not in snapshots:
            snapshots[-1] = _snapshot(model, snapshot_images, prepared.phi_gzsl)

    def on_epoch_end(epoch, record):
        if snapshot_images is not None:
            snapshots[epoch] = _snapshot(model, snapshot_images, prepared.phi_gzsl)
            if distributed.is_main():
                save_atomically(snap_path, lambda p: torch.save({e: _as_tensors(s) for e, s in snapshots.items()}, p))
        if callback is not None:
            callback(epoch, record)

    evaluate = sgma_evaluator(prepared, config)
    history = fit(model, prepared.train, objective, config, run, evaluate=evaluate,
                  progress=progress, on_epoch_end=on_epoch_end, **fit_kwargs)
    # the GZSL scores of the three rules on the prepared test sets, from the evaluation after the last
    # epoch when this call trained it; None for a run loaded from the store (sgma_rule_scores gives them)
    info["test_scores"] = evaluate.last_scores
    if snapshot_images is not None and history and history[-1]["epoch"] not in snapshots:
        # a run finished without snapshots (trained elsewhere, e.g. by sgma_core.train): at least the end
        snapshots[history[-1]["epoch"]] = _snapshot(model, snapshot_images, prepared.phi_gzsl)
    info["snapshots"] = snapshots
    return model, history, info
