"""One zero-shot experiment, end to end: data in memory → backbone → model → training → ZSL/GZSL.

The chapters call these functions; each run is stored under
``<runs_root>/<kind>/<dataset>-<profile>-seed<seed>-<settings hash>`` so that changing any
setting starts a new run while re-running with the same settings resumes or reuses the old one.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sgma_core import distributed
from sgma_core.backbones import Backbone, build_backbone
from sgma_core.baseline import BaselineZSL, SeenClassifier
from sgma_core.cache import cached_images
from sgma_core.data import ZSLDataset, load_dataset, validation_split
from sgma_core.images import load_images, normalize
from sgma_core.losses import embedding_softmax_loss
from sgma_core.metrics import per_class_accuracy, zsl_gzsl
from sgma_core.paths import runs_root
from sgma_core.profiles import RUNTIME_ONLY, RunConfig, config_dict
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
    split: str = "test"
    decode_info: dict | None = None
    original_sizes: dict[int, tuple[int, int]] | None = None  # dataset row → (width, height) before resizing

    def sizes_of(self, rows: np.ndarray) -> np.ndarray:
        """Original ``(width, height)`` ``[len(rows), 2]`` of decoded dataset rows (to map part locations)."""
        return np.array([self.original_sizes[int(r)] for r in rows], dtype=np.int64)

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


def prepare_data(config: RunConfig, data_root: str | Path | None = None, progress: bool = True,
                 split: str = "test", cache_dir: str | Path | None = None) -> PreparedData:
    """Load ``config.dataset`` and decode its trainval and test images at ``config.image_size``.

    With ``config.cache_images`` the decoded images come from (or go into) the memory-mapped cache
    of :mod:`sgma_core.cache` in ``cache_dir`` (default ``<runs root>/cache``).

    ``split="val"``: the validation re-split of :func:`validation_split` (validation classes play
    the unseen ones), for choosing hyper-parameters such as the calibration ``γ``.
    """
    if split not in ("test", "val"):
        raise ValueError(f"split={split!r}; choose 'test' or 'val'")
    ds = load_dataset(config.dataset, data_root)
    if split == "val":
        ds = validation_split(ds)
    tv = _subsample(ds.trainval, ds.labels, config.max_train_images)
    tu = _subsample(ds.test_unseen, ds.labels, config.max_test_images)
    ts = _subsample(ds.test_seen, ds.labels, config.max_test_images)
    rows = np.concatenate([tv, tu, ts])
    paths = [ds.image_paths[i] for i in rows]
    if config.cache_images:
        images, sizes, decode_info = cached_images(paths, config.image_size, cache_dir, progress=progress)
    else:
        t0 = time.perf_counter()
        images, sizes = load_images(paths, config.image_size, progress=progress)
        decode_info = {"cache": None, "images": len(paths), "decoded": len(paths),
                       "seconds": round(time.perf_counter() - t0, 2)}
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
        split=split, decode_info=decode_info, original_sizes=dict(zip(rows.tolist(), map(tuple, sizes.tolist()))),
    )


@torch.no_grad()
def predict_scores(model: torch.nn.Module, images: torch.Tensor, phi: torch.Tensor | None,
                   batch_size: int = 128) -> np.ndarray:
    """Scores ``[N, Y]`` of uint8 ``images`` ``[N, 3, S, S]`` (``model(x, phi)``), in eval mode.

    In a distributed run (:mod:`sgma_core.distributed`) every rank must call this: each scores
    its share of whole batches and the shares are gathered, so every rank gets all ``N`` rows,
    computed in the same batches as by one process.
    """
    from sgma_core import distributed

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    rows = distributed.shard_range(images.shape[0], batch_size)
    for i in range(rows.start, rows.stop, batch_size):
        x = normalize(images[i : i + batch_size].to(device))
        out.append(model(x, None if phi is None else phi.to(device)).float().cpu())
    model.train(was_training)
    if distributed.world_size() == 1:
        return torch.cat(out).numpy()
    return distributed.all_gather_rows(torch.cat(out).numpy() if out else None)


def zsl_evaluator(prepared: PreparedData):
    """``evaluate(model) → {T1, u, s, H}`` on the prepared test sets (METHOD §6)."""

    def evaluate(model: torch.nn.Module) -> dict:
        su = predict_scores(model, prepared.test_unseen_images, prepared.phi_gzsl)
        ss = predict_scores(model, prepared.test_seen_images, prepared.phi_gzsl)
        return zsl_gzsl(su, ss, prepared.test_unseen_labels, prepared.test_seen_labels, prepared.n_seen)

    return evaluate


BACKBONE_SETTINGS = ("dataset", "seed", "backbone", "pretrained", "vgg_layer", "image_size", "batch_size", "lr",
                     "momentum", "weight_decay", "lr_factor", "lr_min", "plateau_patience", "plateau_threshold", "pretrain_epochs",
                     "max_train_images", "augment", "precision", "channels_last")
BASELINE_SETTINGS = BACKBONE_SETTINGS + ("epochs", "freeze_backbone", "max_test_images")


def settings_hash(config: RunConfig, extra: dict | None = None, keys: tuple[str, ...] | None = None) -> str:
    """A short hash of the settings that shape a run (``keys``; default: all but run-time ones)."""
    d = config_dict(config)
    for k in RUNTIME_ONLY:
        d.pop(k)
    if keys is not None:
        d = {k: d[k] for k in keys}
    d.update(extra or {})
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:8]


def run_dir_for(kind: str, config: RunConfig, runs_dir: str | Path | None = None, extra: dict | None = None,
                keys: tuple[str, ...] | None = None) -> Path:
    """``<runs_root>/<kind>/<dataset>-<profile>-seed<seed>-<hash of the settings>``."""
    name = f"{config.dataset}-{config.profile}-seed{config.seed}-{settings_hash(config, extra, keys)}"
    return runs_root(runs_dir) / kind / name


def _split_extra(prepared: PreparedData) -> dict:
    """Validation runs are stored apart from test runs (their seen classes differ)."""
    return {} if prepared.split == "test" else {"split": prepared.split}


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

    run_dir = run_dir_for("backbone", config, runs_dir, extra={"pretrain": True, **_split_extra(prepared)},
                          keys=BACKBONE_SETTINGS)
    history = fit(clf, prepared.train, loss_fn, config, run_dir, evaluate=evaluate,
                  epochs=config.pretrain_epochs, progress=progress, identity_keys=BACKBONE_SETTINGS)
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

    run_dir = run_dir_for("baseline", config, runs_dir, extra=_split_extra(prepared), keys=BASELINE_SETTINGS)
    history = fit(model, prepared.train, loss_fn, config, run_dir, evaluate=zsl_evaluator(prepared),
                  progress=progress, identity_keys=BASELINE_SETTINGS, **fit_kwargs)
    return model, history


def summarize(results: list[dict], keys=("T1", "u", "s", "H")) -> dict[str, tuple[float, float]]:
    """Mean and standard deviation (ddof=0) over seeds of each metric."""
    return {k: (float(np.mean([r[k] for r in results])), float(np.std([r[k] for r in results]))) for k in keys}


# --------------------------------------------------------------------------------------
# SGMA
# --------------------------------------------------------------------------------------


def build_sgma(prepared: PreparedData, config: RunConfig, backbone: Backbone) -> "SGMA":
    """SGMA with four copies of ``backbone`` (attention subnet, global, part 1, part 2)."""
    import copy

    from sgma_core.sgma import SGMA

    torch.manual_seed(config.seed)
    return SGMA(copy.deepcopy(backbone), [copy.deepcopy(backbone) for _ in range(config.n_parts + 1)],
                semantic_dim=prepared.phi_seen.shape[0], n_seen=prepared.n_seen, attention_size=config.image_size,
                joint_size=config.joint_size, n_parts=config.n_parts, emb_dim=config.emb_dim,
                shared_W=config.shared_W, centre_rule=config.centre_rule, part_scale=config.part_scale,
                mask_k=config.mask_k, attention_norm=config.attention_norm,
                attention_training=config.attention_training)


@torch.no_grad()
def initialise_grouping(model, prepared: PreparedData, config: RunConfig) -> dict:
    """Eq. (11) once, before training: k-means over the channels' peak positions on ``Ω`` seen-class
    training images, then the FC pairs pretrained towards the indicator vectors."""
    from sgma_core.attention import channel_grouping, pretrain_grouping
    from sgma_core.compatibility import global_average_pool

    device = next(model.parameters()).device
    rows = torch.randperm(len(prepared.train.labels), generator=torch.Generator().manual_seed(config.seed))
    x = normalize(prepared.train.images[rows[: config.grouping_images]].to(device))
    was = model.training
    model.eval()
    f = torch.cat([model.attention_backbone(x[i : i + 64]) for i in range(0, len(x), 64)])
    model.train(was)
    indicators = channel_grouping(f.cpu(), config.n_parts, seed=config.seed)
    with torch.enable_grad():
        losses = pretrain_grouping(model.attention, global_average_pool(f), indicators, steps=config.grouping_steps,
                                   smoothing=config.grouping_smoothing)
    return {"indicators": indicators, "losses": losses}


@torch.no_grad()
def sgma_outputs(model, images: torch.Tensor, phi: torch.Tensor, batch_size: int = 64) -> dict[str, np.ndarray]:
    """Eval-mode forward over uint8 ``images``: scores, embeddings, maps and squares as numpy arrays.

    Distributed like :func:`predict_scores`: every rank must call it, computes its share of whole
    batches and receives all rows.
    """
    from sgma_core import distributed

    device = next(model.parameters()).device
    was = model.training
    model.eval()
    keys = ("scores", "emb", "maps", "tx", "ty", "ts")
    out: dict[str, list] = {k: [] for k in keys}
    rows = distributed.shard_range(images.shape[0], batch_size)
    for i in range(rows.start, rows.stop, batch_size):
        res = model(normalize(images[i : i + batch_size].to(device)), phi.to(device))
        for k in keys:
            out[k].append(res[k].float().cpu())
    model.train(was)
    if distributed.world_size() == 1:
        return {k: torch.cat(v).numpy() for k, v in out.items()}
    return {k: distributed.all_gather_rows(torch.cat(v).numpy() if v else None) for k, v in out.items()}


def sgma_rule_scores(model, prepared: PreparedData, config: RunConfig) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """GZSL scores ``[N, S+U]`` of the three rules on ``test_unseen`` and ``test_seen``:
    ``{rule: (scores_unseen_images, scores_seen_images)}``.

    Seen prototypes are mean embeddings of the first ``config.prototype_images`` trainval images
    of each class; unseen prototypes follow by eq. (10) with ``config.ridge_lambda``.
    """
    from sgma_core.inference import ridge_coefficients, rule_scores, seen_prototypes, unseen_prototypes

    beta = ridge_coefficients(prepared.phi_seen.numpy(), prepared.phi_gzsl[:, prepared.n_seen:].numpy(),
                              config.ridge_lambda)
    labels = prepared.train.labels.numpy()
    proto_rows = np.concatenate([np.flatnonzero(labels == c)[: config.prototype_images or None]
                                 for c in range(prepared.n_seen)])
    train = sgma_outputs(model, prepared.train.images[proto_rows], prepared.phi_gzsl)
    p_s = seen_prototypes(train["emb"], labels[proto_rows], prepared.n_seen)
    protos = np.concatenate([p_s, unseen_prototypes(p_s, beta)], axis=1)
    tu = sgma_outputs(model, prepared.test_unseen_images, prepared.phi_gzsl)
    ts = sgma_outputs(model, prepared.test_seen_images, prepared.phi_gzsl)
    return {rule: (rule_scores(rule, tu["scores"], tu["emb"], protos), rule_scores(rule, ts["scores"], ts["emb"], protos))
            for rule in ("compat", "cct", "combined")}


def calibrated_gzsl(val_scores: dict[str, tuple[np.ndarray, np.ndarray]], val_prepared: PreparedData,
                    test_scores: dict[int, dict[str, tuple[np.ndarray, np.ndarray]]],
                    prepared: PreparedData) -> dict[str, dict]:
    """Calibrated stacking with ``γ`` chosen on validation classes, applied to test scores.

    ``val_scores``: ``{rule: (scores of val_unseen images, scores of held-out seen images)}`` from a
    model trained on the validation split (:func:`validation_split`); ``test_scores``:
    ``{seed: {rule: (test_unseen scores, test_seen scores)}}`` (as :func:`sgma_rule_scores` gives).
    Returns per rule: ``gamma``, validation ``val_H0`` (γ = 0) and ``val_H`` (at γ), and the test
    metrics of every seed, ``plain`` and ``calibrated`` (lists of ``{T1, u, s, H}``).
    """
    from sgma_core.inference import calibrated_stacking, choose_gamma

    out = {}
    val_labels = (val_prepared.test_unseen_labels, val_prepared.test_seen_labels, val_prepared.n_seen)
    test_labels = (prepared.test_unseen_labels, prepared.test_seen_labels, prepared.n_seen)
    for rule, (su, ss) in val_scores.items():
        gamma, h_val = choose_gamma(su, ss, *val_labels)
        plain, calibrated = [], []
        for scores in test_scores.values():
            tu, ts = scores[rule]
            plain.append(zsl_gzsl(tu, ts, *test_labels))
            calibrated.append(zsl_gzsl(calibrated_stacking(tu, prepared.n_seen, gamma),
                                       calibrated_stacking(ts, prepared.n_seen, gamma), *test_labels))
        out[rule] = {"gamma": gamma, "val_H0": zsl_gzsl(su, ss, *val_labels)["H"], "val_H": h_val,
                     "plain": plain, "calibrated": calibrated}
    return out


def sgma_evaluator(prepared: PreparedData, config: RunConfig):
    """``evaluate(model)``: ZSL/GZSL for the three rules (``T1`` … for ``compat``, ``cct_T1`` …,
    ``combined_T1`` …), from :func:`sgma_rule_scores`."""

    def evaluate(model) -> dict:
        out = {}
        for rule, (su, ss) in sgma_rule_scores(model, prepared, config).items():
            m = zsl_gzsl(su, ss, prepared.test_unseen_labels, prepared.test_seen_labels, prepared.n_seen)
            out.update(m if rule == "compat" else {f"{rule}_{k}": v for k, v in m.items()})
        return out

    return evaluate


def train_sgma(prepared: PreparedData, config: RunConfig, runs_dir: str | Path | None = None, progress: bool = True,
               snapshot_images: torch.Tensor | None = None, **fit_kwargs):
    """Train SGMA with eq. (9); returns ``(model, history, info)``.

    ``info`` holds the channel-grouping result and, when ``snapshot_images`` (uint8) are given,
    the maps and squares on them before training and after every epoch (also saved in the run
    folder as ``snapshots.pt``, so a resumed run keeps the earlier ones).
    """
    from sgma_core.sgma import sgma_objective

    backbone, _ = pretrained_backbone(prepared, config, runs_dir, progress)
    model = build_sgma(prepared, config, backbone)
    device = resolve_device(config.device)
    model.to(device)
    if config.freeze_backbone:
        for bb in [model.attention_backbone, *model.branches]:
            bb.requires_grad_(False)
    if config.attention_training != "full":  # eqs. (5)–(6) do not train the attention subnet's backbone
        model.attention_backbone.requires_grad_(False)
    if config.attention_training == "none":
        model.attention.requires_grad_(False)
    run_dir = run_dir_for("sgma", config, runs_dir, extra=_split_extra(prepared))
    info = {"grouping": initialise_grouping(model, prepared, config)}
    phi_seen = prepared.phi_seen.to(device)

    def loss_fn(m, x, y):
        out = m(x, phi_seen)
        return sgma_objective(m, out, y, lam=config.lam_div, alpha=config.alpha_cls, beta=config.beta_cct,
                              cpt_sigma=config.cpt_sigma, div_margin=config.div_margin,
                              cct_margin=config.cct_margin, cct_negatives=config.cct_negatives)

    snap_path = run_dir / "snapshots.pt"
    snapshots: dict[int, dict] = {}
    callback = fit_kwargs.pop("on_epoch_end", None)
    if snapshot_images is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        if snap_path.is_file():
            snapshots = torch.load(snap_path, weights_only=False)
        if -1 not in snapshots:
            snapshots[-1] = sgma_outputs(model, snapshot_images, prepared.phi_gzsl)

    def on_epoch_end(epoch, record):
        if snapshot_images is not None:
            snapshots[epoch] = sgma_outputs(model, snapshot_images, prepared.phi_gzsl)
            if distributed.is_main():
                torch.save(snapshots, snap_path)
        if callback is not None:
            callback(epoch, record)

    history = fit(model, prepared.train, loss_fn, config, run_dir, evaluate=sgma_evaluator(prepared, config),
                  progress=progress, on_epoch_end=on_epoch_end, **fit_kwargs)
    if snapshot_images is not None and history and history[-1]["epoch"] not in snapshots:
        # a run finished without snapshots (trained elsewhere, e.g. by sgma_core.train): at least the end
        snapshots[history[-1]["epoch"]] = sgma_outputs(model, snapshot_images, prepared.phi_gzsl)
    info["snapshots"] = snapshots
    return model, history, info
