"""Zero-shot on real CUB with frozen ImageNet features (EfficientNet-Lite0's, extracted once), on a CPU.

Two heads are trained with eq. (7) on the seen classes of the proposed split: the **baseline**
``θ₀ᵀ W₀ φ(y)`` (``θ₀`` the global average of the feature map) and **SGMA's compatibility heads**
``Σ_b θ_bᵀ W_b φ(y)`` over the whole image and the two parts, a part's ``θ_b`` pooled from the whole image's
map inside the square around its channel group's peak (eq. (11)'s grouping). Each head's weight decay is
chosen on validation classes; test classes choose nothing. ::

    python -m sgma_core.studies.frozen                        # all of CUB under the data root; resumable
    python -m sgma_core.studies.frozen --max-images 30        # what a few photographs allow
    python -m sgma_core.studies.frozen -p layer head          # any setting (frozen_config)

Features are cached in ``runs/features/<dataset>-lite0-<layer>-<size>-<hash>/`` in chunks; an interrupted
extraction resumes at its first missing chunk.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch

from sgma_core.backbones import layer_of, stored_settings
from sgma_core.cli import add_debug_flag, add_parameter_option, command, positive_int, run_overrides
from sgma_core.profiles import RunConfig, config_dict, make_config

WEIGHT_DECAYS = (1e-4, 1e-3, 1e-2)  # chosen on validation classes
HEADS = {"baseline": (0,), "SGMA compatibility heads": (0, 1, 2)}
# The study's settings are RunConfig fields: the cpu profile with these changes (any of them, and any other
# field, can be changed with frozen_config's arguments or -p NAME VALUE). Its own meanings: image_size is the
# photographs' input side, part_scale a part square's share of the feature map's side, grouping_images Ω of
# eq. (11) (seen-class training photographs), epochs and lr the heads' full-batch Adam training.
FROZEN_SETTINGS = {"dataset": "CUB", "backbone": "efficientnet_lite0", "image_size": 224, "epochs": 300, "lr": 1e-3,
                   "grouping_images": 256}
# What decides the cached features (not the heads' training): the identity of a feature folder, named as run
# identities store settings (sgma_core.backbones.stored_settings: Lite0's layer as lite0_layer).
FEATURE_KEYS = ("dataset", "backbone", "lite0_layer", "image_size", "n_parts", "part_scale", "grouping_images", "seed")


def feature_settings(config: RunConfig) -> dict:
    """``config``'s settings of :data:`FEATURE_KEYS`, as a feature folder's identity and manifest hold them."""
    stored = stored_settings(config_dict(config))
    return {k: stored[k] for k in FEATURE_KEYS if k in stored}


def frozen_config(**changes) -> RunConfig:
    """The study's settings (:data:`FROZEN_SETTINGS`) with ``changes``, validated like every run's."""
    return make_config("cpu", {**FROZEN_SETTINGS, **changes})


def branch_features(fmaps: torch.Tensor, indicators: np.ndarray, part_scale: float = 0.5) -> torch.Tensor:
    """``[B, C, h, w]`` → ``[B, 1 + P, C]``: the map's average, then per part the average inside the square
    of side ``part_scale · h`` (at least one cell) centred on the part's group-map peak, kept inside the map."""
    from sgma_core.experiment.real_birds import group_maps
    from sgma_core.localization import map_peaks, window_starts

    b, c, h, w = fmaps.shape
    side = max(1, int(round(part_scale * h)))
    # [B, P, 2] the first cell (x, y) of each square: the peak cell at index side // 2 of an even side
    starts = window_starts(map_peaks(group_maps(fmaps, indicators)), side, (w, h), lower_on_ties=True).astype(np.int64)
    out = [fmaps.mean(dim=(2, 3))]
    for p in range(starts.shape[1]):
        parts = []
        for i in range(b):
            x0, y0 = starts[i, p]
            parts.append(fmaps[i, :, y0:y0 + side, x0:x0 + side].mean(dim=(1, 2)))
        out.append(torch.stack(parts))
    return torch.stack(out, dim=1)


def feature_identity(config: RunConfig, rows: np.ndarray, indicators: np.ndarray, data: str = "") -> dict:
    """What the cached features of ``rows`` depend on: the settings of :data:`FEATURE_KEYS`, the images (their
    rows, and the dataset's fingerprint ``data``) and the channel groups."""
    rows_digest = hashlib.sha256(np.asarray(rows, dtype=np.int64).tobytes()).hexdigest()[:10]
    return {**feature_settings(config), "rows": rows_digest, "groups": indicators.astype(int).tolist(), "data": data}


def feature_folder(root: str | Path, config: RunConfig, rows: np.ndarray, indicators: np.ndarray,
                   data: str = "") -> Path:
    """``<root>/<dataset>-lite0-<layer>-<size>-<hash of feature_identity>``."""
    from sgma_core.engine.runs import settings_hash

    key = settings_hash(feature_identity(config, rows, indicators, data))
    return Path(root) / f"{config.dataset}-lite0-{layer_of(config)}-{config.image_size}-{key}"


def _read_manifest(manifest: Path, expected: dict) -> None:
    """Refuse a feature folder made with other settings, or whose manifest is damaged (named, with the remedy)."""
    if not manifest.is_file():
        return
    try:
        stored = json.loads(manifest.read_text())
    except (ValueError, UnicodeDecodeError):
        raise ValueError(f"{manifest} is damaged, so the features beside it cannot be trusted: delete "
                         f"{manifest.parent} and run again (the features are extracted again).") from None
    if stored != expected:
        raise ValueError(f"{manifest.parent} holds features of other settings ({manifest}); delete the folder to "
                         "extract again.")


def _read_chunk(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """A cached chunk, checked against the shape and dtype the manifest implies; a damaged one is named."""
    remedy = f"delete {path} and run again: that chunk is extracted again, the others are kept."
    try:
        feats = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        raise ValueError(f"{path} is damaged ({str(exc)[:80]}): {remedy}") from None
    if feats.shape != shape or feats.dtype != np.float32:
        raise ValueError(f"{path} holds {feats.dtype} {feats.shape}, not float32 {shape}: {remedy}")
    return feats


def extract(paths: list[Path], backbone, indicators: np.ndarray, folder: str | Path, config: RunConfig,
            chunk: int = 256, progress: bool = True) -> np.ndarray:
    """Branch features ``[N, 1 + P, C]`` (float32) of every image, cached chunk by chunk in ``folder``; a chunk
    already there is checked and read, not recomputed, so an interrupted extraction resumes."""
    # the console bar, as elsewhere in the library: tqdm.auto in a Jupyter kernel without ipywidgets warns, and the
    # warning, naming the Python environment's folder, would be printed into the chapter
    from tqdm import tqdm

    from sgma_core.data.images import load_images
    from sgma_core.experiment.real_birds import feature_maps
    from sgma_core.files import locked, write_array
    from sgma_core.records import write_record

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "manifest.json"
    branches, channels = 1 + config.n_parts, backbone.out_channels
    expected = {"settings": feature_settings(config), "n_images": len(paths), "chunk": chunk,
                "branches": branches, "channels": channels}
    parts = []
    # one extraction per feature folder at a time: a second process waits for the first, then reads its chunks
    with locked(folder / ".lock"), tqdm(total=len(paths), desc="features", unit="image", disable=not progress) as bar:
        _read_manifest(manifest, expected)
        write_record(manifest, expected)
        for k, start in enumerate(range(0, len(paths), chunk)):
            path = folder / f"chunk-{k:05d}.npy"
            if path.is_file():
                parts.append(_read_chunk(path, (min(chunk, len(paths) - start), branches, channels)))
            else:
                fmaps = feature_maps(load_images(paths[start:start + chunk], config.image_size)[0], backbone)
                parts.append(branch_features(fmaps, indicators, config.part_scale).numpy().astype(np.float32))
                write_array(path, parts[-1])
            bar.update(len(parts[-1]))
    return np.concatenate(parts) if parts else np.zeros((0, branches, channels), np.float32)


def train_heads(feats: np.ndarray, labels: np.ndarray, phi_seen: np.ndarray, branches: tuple[int, ...],
                weight_decay: float, config: RunConfig) -> dict:
    """Eq. (7) over the seen classes on frozen branch features ``[N, B, C]``: one ``W_b`` per branch, full
    batch, Adam. Features are standardised with the training images' mean and std per branch."""
    from sgma_core.losses import embedding_softmax_loss

    torch.manual_seed(config.seed)
    x = torch.as_tensor(feats[:, list(branches)], dtype=torch.float32)
    mean, std = x.mean(0, keepdim=True), x.std(0, keepdim=True).clamp_min(1e-6)
    x = (x - mean) / std
    phi = torch.as_tensor(phi_seen, dtype=torch.float32)
    W = torch.nn.Parameter(torch.randn(len(branches), x.shape[2], phi.shape[0]) * 0.01)
    opt = torch.optim.Adam([W], lr=config.lr, weight_decay=weight_decay)
    y = torch.as_tensor(labels)
    for _ in range(config.epochs):
        opt.zero_grad()
        loss = embedding_softmax_loss(torch.einsum("nbc,bck->nk", x, W) @ phi, y)
        loss.backward()
        opt.step()
    return {"W": W.detach(), "mean": mean, "std": std, "branches": branches, "loss": float(loss.detach())}


def head_scores(head: dict, feats: np.ndarray, phi: np.ndarray) -> np.ndarray:
    x = (torch.as_tensor(feats[:, list(head["branches"])], dtype=torch.float32) - head["mean"]) / head["std"]
    with torch.no_grad():
        return (torch.einsum("nbc,bck->nk", x, head["W"]) @ torch.as_tensor(phi, dtype=torch.float32)).numpy()


def evaluate(head: dict, ds, feats: dict[str, np.ndarray], rows: dict[str, np.ndarray]) -> dict[str, float]:
    """ZSL T1 and GZSL u / s / H on ``test_unseen`` / ``test_seen`` (scores over seen, then unseen classes)."""
    from sgma_core.metrics import zsl_gzsl

    phi = np.concatenate([ds.phi_seen, ds.phi_unseen], axis=1)
    return zsl_gzsl(head_scores(head, feats["test_unseen"], phi), head_scores(head, feats["test_seen"], phi),
                    ds.unseen_labels(rows["test_unseen"]), ds.seen_labels(rows["test_seen"]), len(ds.seen_classes))


def _present_splits(ds, config: RunConfig, max_images: int | None) -> dict[str, np.ndarray]:
    """The rows of each split whose photograph exists (at most ``max_images`` in all)."""
    from sgma_core.experiment.real_birds import present_rows

    present = present_rows(ds, max_images, seed=config.seed)
    splits = {name: np.intersect1d(getattr(ds, name), present) for name in ("trainval", "test_seen", "test_unseen")}
    missing = [name for name, r in splits.items() if len(r) == 0]
    if missing:
        raise ValueError(f"no {', '.join(missing)} images of {ds.name} under {ds.root}: the frozen-feature path needs "
                         "photographs of every split (make data-cub installs CUB-200-2011).")
    return splits


def _grouping(ds, config: RunConfig, trainval: np.ndarray, backbone) -> np.ndarray:
    """Eq. (11)'s channel groups ``[P, C]``, fitted on Ω seen-class training photographs."""
    from sgma_core.attention import channel_grouping
    from sgma_core.data.images import load_images
    from sgma_core.experiment.real_birds import feature_maps

    omega = np.random.default_rng(config.seed).permutation(trainval)[: config.grouping_images]
    fmaps = feature_maps(load_images([ds.image_paths[r] for r in omega], config.image_size)[0], backbone)
    return channel_grouping(fmaps, config.n_parts, seed=config.seed)


def _validation_features(ds, rows: np.ndarray, features_of):
    """The validation re-split of the photographs at hand, and its features; ``(None, …, note)`` without one."""
    from sgma_core.data import validation_split

    try:
        val = validation_split(ds)
        val_rows = {name: np.intersect1d(getattr(val, name), rows) for name in ("trainval", "test_seen", "test_unseen")}
        if any(len(r) == 0 for r in val_rows.values()):
            raise ValueError("a validation split without images")
    except (ValueError, KeyError) as exc:
        return None, None, None, f"no validation classes with images ({exc}); weight decay {WEIGHT_DECAYS[1]:g} kept"
    return val, val_rows, features_of(val_rows), None


def _choose_weight_decay(val, val_rows, val_feats, branches, config: RunConfig) -> tuple[float, dict]:
    """The weight decay of one head with the best validation (H, T1), and every value's scores."""
    scored = {}
    for wd in WEIGHT_DECAYS:
        head = train_heads(val_feats["trainval"], val.seen_labels(val_rows["trainval"]), val.phi_seen, branches, wd,
                           config)
        r = evaluate(head, val, val_feats, val_rows)
        scored[wd] = (r["H"], r["T1"])
    return (max(WEIGHT_DECAYS, key=lambda wd: scored[wd]),
            {f"{wd:g}": {"H": h, "T1": t} for wd, (h, t) in scored.items()})


def run(ds, config: RunConfig, features_root: str | Path, max_images: int | None = None,
        progress: bool = True) -> dict:
    """The whole path on the images of ``ds`` that exist: grouping, features, weight decay chosen on validation
    classes, both heads trained on trainval and evaluated on the test sets. Returns a JSON-ready record."""
    from sgma_core.backbones import efficientnet_lite0
    from sgma_core.records import provenance

    t0 = time.perf_counter()
    splits = _present_splits(ds, config, max_images)
    torch.manual_seed(config.seed)
    backbone = efficientnet_lite0(layer=layer_of(config))
    indicators = _grouping(ds, config, splits["trainval"], backbone)
    rows = np.concatenate(list(splits.values()))
    folder = feature_folder(features_root, config, rows, indicators, ds.fingerprint())
    all_feats = extract([ds.image_paths[r] for r in rows], backbone, indicators, folder, config, progress=progress)
    at = {r: i for i, r in enumerate(rows)}

    def features_of(split_rows: dict) -> dict:
        return {name: all_feats[[at[r] for r in r_split]] for name, r_split in split_rows.items()}

    feats = features_of(splits)
    val, val_rows, val_feats, note = _validation_features(ds, rows, features_of)
    chosen, validation, results = {}, ({"note": note} if note else {}), {}
    for name, branches in HEADS.items():
        chosen[name] = WEIGHT_DECAYS[1]
        if val is not None:
            chosen[name], validation[name] = _choose_weight_decay(val, val_rows, val_feats, branches, config)
        head = train_heads(feats["trainval"], ds.seen_labels(splits["trainval"]), ds.phi_seen, branches,
                           chosen[name], config)
        results[name] = {k: float(v) for k, v in evaluate(head, ds, feats, splits).items()}
    settings = {**feature_settings(config), "epochs": config.epochs, "lr": config.lr}
    return {
        "setting": "frozen ImageNet EfficientNet-Lite0 features (not the paper's fine-tuned VGG19 at 448)",
        "settings": settings, "images": {name: int(len(r)) for name, r in splits.items()},
        "classes": {"seen": int(len(np.unique(ds.labels[splits["trainval"]]))),
                    "unseen": int(len(np.unique(ds.labels[splits["test_unseen"]])))},
        "complete": bool(len(rows) == len(ds.trainval) + len(ds.test_seen) + len(ds.test_unseen)),
        "weight_decay": chosen, "validation": validation, "results": results, "features": str(folder),
        "seconds": round(time.perf_counter() - t0, 1),
        "provenance": provenance(config_dict(config), time.perf_counter() - t0),
    }


@command
def main(argv: list[str]) -> int:
    from sgma_core import data as zsl_data
    from sgma_core.paths import runs_root
    from sgma_core.records import writable_output, write_record

    p = argparse.ArgumentParser(prog="python -m sgma_core.studies.frozen", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="CUB", choices=["CUB"])
    p.add_argument("--data-root", default=None, help="default: $SGMA_DATA_ROOT, else <repo>/data")
    p.add_argument("--runs-dir", default=None, help="where the features are cached, under features/ (default: "
                                                     "$SGMA_RUNS_ROOT, else <repo>/runs)")
    p.add_argument("--max-images", type=positive_int, default=None, help="at most this many photographs (default: all)")
    add_parameter_option(p, "a RunConfig setting of the study (e.g. layer head, epochs 100)")
    p.add_argument("--out", default=None, help="write the record here as JSON (default: print it)")
    add_debug_flag(p)
    args = p.parse_args(argv)
    config = frozen_config(**{**run_overrides(args), "dataset": args.dataset})
    out = writable_output(args.out) if args.out else None  # checked before the minutes of extraction
    ds = zsl_data.load_dataset(args.dataset, args.data_root)
    record = run(ds, config, runs_root(args.runs_dir) / "features", args.max_images)
    if out:
        print(f"{write_record(out, record)}: {json.dumps(record['results'])}")
    else:
        print(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
