"""The book's training recipes: the backbone's seen-class pretraining, the baseline, and SGMA with
eq. (11)'s initialisation, each stored as a run (:mod:`sgma_core.engine.runs`) and reused."""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
from pathlib import Path

import numpy as np
import torch

from sgma_core.attention import initialise_grouping as _initialise_grouping
from sgma_core.backbones import IMAGENET_BACKBONES, Backbone, backbone_for
from sgma_core.baseline import BaselineObjective, BaselineZSL, SeenClassifier, seen_classifier_loss
from sgma_core.dispatch import levels as dispatch_levels
from sgma_core.engine import distributed
from sgma_core.engine.loop import fit, use_threads
from sgma_core.engine.runs import Run, RunFileError, load_checkpoint, save_atomically
from sgma_core.engine.step import resolve_device
from sgma_core.experiment.evaluate import batched_forward, predict_scores, sgma_evaluator, zsl_evaluator
from sgma_core.experiment.prepare import PreparedData
from sgma_core.experiment.where import data_for, model_inputs
from sgma_core.metrics import per_class_accuracy
from sgma_core.profiles import RunConfig
from sgma_core.sgma import SGMA, SGMAObjective
from sgma_core.start_weights import start_manifest


def run_extra(prepared: PreparedData, config: RunConfig | None = None) -> dict:
    """What a run's identity holds beyond its settings: the fingerprint of its data
    (:meth:`~sgma_core.data.ZSLDataset.fingerprint`), the split for validation runs (their seen
    classes differ from the test runs'), the SHA-256 of the backbone's start file where ``config``
    names one (:mod:`sgma_core.start_weights`), and for a run on the CPU the instruction sets it computes with
    (:func:`sgma_core.dispatch.levels`: runs made at other levels differ in their bits)."""
    extra = {"data": prepared.dataset.fingerprint()}
    if config is None or str(resolve_device(config.device)).startswith("cpu"):
        extra["cpu_dispatch"] = dispatch_levels()
    if config is not None and config.backbone_weights:
        extra["backbone_weights"] = start_manifest(config.backbone_weights, config.backbone)["sha256"]
    return extra if prepared.split == "test" else {**extra, "split": prepared.split}


def pretrained_backbone(prepared: PreparedData, config: RunConfig, runs_dir: str | Path | None = None,
                        progress: bool = True) -> tuple[Backbone, list[dict]]:
    """The backbone a ZSL model starts from, and the history of its pretraining.

    ``vgg19``, ``efficientnet_lite0``: ImageNet weights, or the start file ``backbone_weights`` names (no pretraining
    here). ``small_vgg``, and ``vgg19`` with ``pretrained`` false and ``pretrain_epochs`` > 0: trained from scratch
    as a classifier of the **seen** classes on trainval (never unseen classes), the stand-in for ImageNet
    pretraining; the run is stored and reused.
    """
    use_threads(config)
    if config.backbone in IMAGENET_BACKBONES and (config.pretrained or config.backbone_weights
                                                  or config.pretrain_epochs <= 0):
        return backbone_for(config), []
    torch.manual_seed(config.seed)
    backbone = backbone_for(config)
    if config.pretrain_epochs <= 0:
        return backbone, []
    clf = SeenClassifier(backbone, prepared.n_seen)

    def evaluate(model):
        pred = predict_scores(model, prepared.test_seen_images, None).argmax(1)
        return {"seen_acc": per_class_accuracy(prepared.test_seen_labels, pred)}

    pretraining = dataclasses.replace(config, epochs=config.pretrain_epochs)
    run = Run.of("backbone", pretraining, runs_dir, extra={"pretrain": True, **run_extra(prepared, config)})
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
    run = Run.of("baseline", config, runs_dir, extra=run_extra(prepared, config))
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


def images_digest(images: torch.Tensor) -> str:
    """SHA-256 of uint8 images ``[N, 3, S, S]`` (their shape and every pixel): which images a snapshot shows."""
    digest = hashlib.sha256(str(tuple(images.shape)).encode())
    digest.update(np.ascontiguousarray(images.numpy()).data)
    return digest.hexdigest()


class Snapshots:
    """SGMA's maps and squares on fixed images before training (epoch −1) and after every epoch, kept in
    the run folder as ``snapshots.pt`` (tensors, numbers and the images' digest: nothing is unpickled).

    A stored file is used only for the same images (:func:`images_digest`); a file of other images
    (for example 4 where the chapter now asks for all), of the older layout or damaged is replaced,
    and the maps before training and after the last epoch are computed again."""

    def __init__(self, path: Path, images: torch.Tensor, phi: torch.Tensor) -> None:
        self.path, self.images, self.phi = path, images, phi
        self.digest = images_digest(images)
        self.epochs: dict[int, dict[str, np.ndarray]] = self._load()

    def _load(self) -> dict[int, dict[str, np.ndarray]]:
        if not self.path.is_file():
            return {}
        try:
            stored = load_checkpoint(self.path)
        except RunFileError as exc:
            if isinstance(exc.__cause__, pickle.UnpicklingError):
                raise  # refused: never loaded
            shown = "/".join(self.path.parts[-3:])  # <kind>/<run>/snapshots.pt: a printed path reaches the page
            print(f"{shown} is damaged; the maps before training and after the last epoch are computed again, "
                  "those of the epochs between are lost", flush=True)
            return {}
        if stored.get("images") != self.digest:
            return {}  # snapshots of other images: computed again for these
        return {int(e): {k: v.numpy() for k, v in snap.items()} for e, snap in stored["epochs"].items()}

    def take(self, model: SGMA, epoch: int) -> None:
        """The maps and squares of ``model`` on the images, as those after ``epoch``."""
        self.epochs[epoch] = batched_forward(_Locate(model).train(model.training), self.images, self.phi, 64,
                                             keys=SNAPSHOT_KEYS)

    def save(self) -> None:
        if distributed.is_main():
            epochs = {e: {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in s.items()}
                      for e, s in self.epochs.items()}
            save_atomically(self.path, lambda p: torch.save({"images": self.digest, "epochs": epochs}, p))


def train_sgma(prepared: PreparedData, config: RunConfig, runs_dir: str | Path | None = None, progress: bool = True,
               snapshot_images: torch.Tensor | None = None, **fit_kwargs):
    """Train SGMA with eq. (9); returns ``(model, history, info)``.

    ``info`` holds the channel-grouping result, ``test_scores`` (the three rules' scores on the
    test sets from the last epoch's evaluation, or None when the run was loaded from the store)
    and, when ``snapshot_images`` (uint8) are given, ``snapshots``: the maps and squares on them
    before training and after every epoch (:class:`Snapshots`, kept in the run folder, so a
    resumed or reused run keeps the earlier ones when the images are the same).
    """
    backbone, _ = pretrained_backbone(prepared, config, runs_dir, progress)
    model = build_sgma(prepared, config, backbone)
    device = resolve_device(config.device)
    model.to(device)
    run = Run.of("sgma", config, runs_dir, extra=run_extra(prepared, config))
    info = {"grouping": initialise_grouping(model, prepared, config)}
    if snapshot_images is not None:  # as the centre rule shows them (the oracle: its parts painted in)
        snapshot_images = model_inputs(prepared, config, snapshot_images)
    prepared = data_for(prepared, config)
    objective = SGMAObjective.from_config(model, prepared.phi_seen.to(device), config)
    snapshots = None
    if snapshot_images is not None:
        run.path.mkdir(parents=True, exist_ok=True)
        snapshots = Snapshots(run.path / "snapshots.pt", snapshot_images, prepared.phi_gzsl)
        if -1 not in snapshots.epochs:
            snapshots.take(model, -1)
    callback = fit_kwargs.pop("on_epoch_end", None)

    def on_epoch_end(epoch, record):
        if snapshots is not None:
            snapshots.take(model, epoch)
            snapshots.save()
        if callback is not None:
            callback(epoch, record)

    evaluate = sgma_evaluator(prepared, config)
    history = fit(model, prepared.train, objective, config, run, evaluate=evaluate,
                  progress=progress, on_epoch_end=on_epoch_end, **fit_kwargs)
    # the GZSL scores of the three rules on the prepared test sets, from the evaluation after the last
    # epoch when this call trained it; None for a run loaded from the store (sgma_rule_scores gives them)
    info["test_scores"] = evaluate.last_scores
    if snapshots is not None:
        if history and history[-1]["epoch"] not in snapshots.epochs:  # a stored run, its snapshots of other images
            snapshots.take(model, history[-1]["epoch"])
            snapshots.save()
        info["snapshots"] = snapshots.epochs
    return model, history, info
