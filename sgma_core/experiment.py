"""One zero-shot experiment, end to end: data in memory → backbone → model → training → ZSL/GZSL.

The chapters call these functions; each run is stored under
``<runs_root>/<kind>/<dataset>-<profile>-seed<seed>-<settings hash>`` so that changing any
setting starts a new run while re-running with the same settings resumes or reuses the old one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sgma_core.backbones import Backbone, build_backbone
from sgma_core.baseline import BaselineZSL, SeenClassifier
from sgma_core.data import ZSLDataset, load_dataset
from sgma_core.images import load_images, normalize
from sgma_core.losses import embedding_softmax_loss
from sgma_core.metrics import per_class_accuracy, zsl_gzsl
from sgma_core.paths import runs_root
from sgma_core.profiles import RunConfig, config_dict
from sgma_core.training import TrainData, fit, resolve_device


@dataclass
class PreparedData:
    """A dataset's images in memory at the run's input size, with labels remapped.

    ``train``: trainval images with seen labels ``0..S−1``; ``test_unseen_*``: unseen labels
    ``0..U−1``; ``test_seen_*``: seen labels; ``phi_seen`` ``[K, S]``; ``phi_gzsl``
    ``[K, S+U]`` (seen columns first).
    """

    dataset: ZSLDataset
    image_size: int
    train: TrainData
    trainval_rows: np.ndarray
    test_unseen_rows: np.ndarray
    test_seen_rows: np.ndarray
    test_unseen_images: torch.Tensor
    test_unseen_labels: np.ndarray
    test_seen_images: torch.Tensor
    test_seen_labels: np.ndarray
    phi_seen: torch.Tensor
    phi_gzsl: torch.Tensor

    @property
    def n_seen(self) -> int:
        return int(self.phi_seen.shape[1])

    @property
    def n_unseen(self) -> int:
        return int(self.phi_gzsl.shape[1] - self.phi_seen.shape[1])


def _subsample(rows: np.ndarray, labels: np.ndarray, limit: int | None) -> np.ndarray:
    """At most ``limit`` rows, spread over classes (round-robin), deterministic."""
    if limit is None or len(rows) <= limit:
        return rows
    rng = np.random.default_rng(0)
    by_class = [rng.permutation(rows[labels[rows] == c]).tolist() for c in np.unique(labels[rows])]
    picked: list[int] = []
    while len(picked) < limit:
        for bucket in by_class:
            if bucket and len(picked) < limit:
                picked.append(bucket.pop())
    return np.sort(np.array(picked, dtype=np.int64))


def prepare_data(config: RunConfig, data_root: str | Path | None = None, progress: bool = True) -> PreparedData:
    """Load ``config.dataset`` and decode its trainval and test images at ``config.image_size``."""
    ds = load_dataset(config.dataset, data_root)
    tv = _subsample(ds.trainval, ds.labels, config.max_train_images)
    tu = _subsample(ds.test_unseen, ds.labels, config.max_test_images)
    ts = _subsample(ds.test_seen, ds.labels, config.max_test_images)
    rows = np.concatenate([tv, tu, ts])
    images, _ = load_images([ds.image_paths[i] for i in rows], config.image_size, progress=progress)
    a, b = len(tv), len(tv) + len(tu)
    att = torch.tensor(ds.att, dtype=torch.float32)
    return PreparedData(
        dataset=ds, image_size=config.image_size,
        train=TrainData(images[:a], torch.from_numpy(ds.seen_labels(tv))),
        trainval_rows=tv, test_unseen_rows=tu, test_seen_rows=ts,
        test_unseen_images=images[a:b], test_unseen_labels=ds.unseen_labels(tu),
        test_seen_images=images[b:], test_seen_labels=ds.seen_labels(ts),
        phi_seen=att[:, ds.seen_classes],
        phi_gzsl=torch.cat([att[:, ds.seen_classes], att[:, ds.unseen_classes]], dim=1),
    )


@torch.no_grad()
def predict_scores(model: torch.nn.Module, images: torch.Tensor, phi: torch.Tensor | None,
                   batch_size: int = 128) -> np.ndarray:
    """Scores ``[N, Y]`` of uint8 ``images`` ``[N, 3, S, S]`` (``model(x, phi)``), in eval mode."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, images.shape[0], batch_size):
        x = normalize(images[i : i + batch_size].to(device))
        out.append(model(x, None if phi is None else phi.to(device)).float().cpu())
    model.train(was_training)
    return torch.cat(out).numpy()


def zsl_evaluator(prepared: PreparedData):
    """``evaluate(model) → {T1, u, s, H}`` on the prepared test sets (METHOD §6)."""

    def evaluate(model: torch.nn.Module) -> dict:
        su = predict_scores(model, prepared.test_unseen_images, prepared.phi_gzsl)
        ss = predict_scores(model, prepared.test_seen_images, prepared.phi_gzsl)
        return zsl_gzsl(su, ss, prepared.test_unseen_labels, prepared.test_seen_labels, prepared.n_seen)

    return evaluate


def settings_hash(config: RunConfig, extra: dict | None = None) -> str:
    d = config_dict(config)
    for k in ("seeds", "num_threads", "eval_every"):
        d.pop(k)
    d.update(extra or {})
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:8]


def run_dir_for(kind: str, config: RunConfig, runs_dir: str | Path | None = None, extra: dict | None = None) -> Path:
    """``<runs_root>/<kind>/<dataset>-<profile>-seed<seed>-<hash of the settings>``."""
    name = f"{config.dataset}-{config.profile}-seed{config.seed}-{settings_hash(config, extra)}"
    return runs_root(runs_dir) / kind / name


def pretrained_backbone(prepared: PreparedData, config: RunConfig, runs_dir: str | Path | None = None,
                        progress: bool = True) -> tuple[Backbone, list[dict]]:
    """The backbone a ZSL model starts from, and the history of its pretraining.

    ``vgg19``: ImageNet weights (no pretraining here). ``small_vgg``: trained from scratch as a
    classifier of the **seen** classes on trainval (never unseen classes), the CPU stand-in
    for ImageNet pretraining; the run is stored and reused.
    """
    if config.backbone == "vgg19":
        return build_backbone("vgg19", pretrained=config.pretrained, layer=config.vgg_layer), []
    torch.manual_seed(config.seed)
    backbone = build_backbone(config.backbone)
    if config.pretrain_epochs <= 0:
        return backbone, []
    clf = SeenClassifier(backbone, prepared.n_seen)

    def loss_fn(model, x, y):
        return torch.nn.functional.cross_entropy(model(x), y)

    def evaluate(model):
        pred = predict_scores(model, prepared.test_seen_images, None).argmax(1)
        return {"seen_acc": per_class_accuracy(prepared.test_seen_labels, pred)}

    run_dir = run_dir_for("backbone", config, runs_dir, extra={"pretrain": True})
    history = fit(clf, prepared.train, loss_fn, config, run_dir, evaluate=evaluate,
                  epochs=config.pretrain_epochs, progress=progress)
    return clf.backbone, history


def train_baseline(prepared: PreparedData, config: RunConfig, runs_dir: str | Path | None = None,
                   progress: bool = True, **fit_kwargs) -> tuple[BaselineZSL, list[dict]]:
    """Train the baseline (backbone → GAP → W, eq. 7) and return it with its per-epoch history."""
    backbone, _ = pretrained_backbone(prepared, config, runs_dir, progress)
    torch.manual_seed(config.seed)
    model = BaselineZSL(backbone, semantic_dim=prepared.phi_seen.shape[0])
    if config.freeze_backbone:
        model.backbone.requires_grad_(False)
    phi_seen = prepared.phi_seen.to(resolve_device(config.device))

    def loss_fn(m, x, y):
        return embedding_softmax_loss(m(x, phi_seen), y)

    run_dir = run_dir_for("baseline", config, runs_dir)
    history = fit(model, prepared.train, loss_fn, config, run_dir, evaluate=zsl_evaluator(prepared),
                  progress=progress, **fit_kwargs)
    return model, history


def summarize(results: list[dict], keys=("T1", "u", "s", "H")) -> dict[str, tuple[float, float]]:
    """Mean and standard deviation (ddof=0) over seeds of each metric."""
    return {k: (float(np.mean([r[k] for r in results])), float(np.std([r[k] for r in results]))) for k in keys}
