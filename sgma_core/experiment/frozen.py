"""Zero-shot on real CUB with frozen ImageNet features, on a CPU.

Not the paper's setting (VGG19 fine-tuned at 448 pixels): EfficientNet-Lite0's ImageNet features,
extracted once and never trained, the setting DAZLE uses with ResNet-101. On them two heads are
trained with eq. (7) on the seen classes of the proposed split:

* **baseline**: ``θ₀ᵀ W₀ φ(y)`` with ``θ₀`` the global average of the feature map;
* **SGMA's compatibility heads**: ``Σ_b θ_bᵀ W_b φ(y)`` over the whole image and the two parts, a
  part's ``θ_b`` the average of the feature map inside the square (half the map's side) around its
  channel group's peak (eq. (11)'s grouping, fitted on seen-class training images). The parts are
  pooled from the whole image's map, not cut, zoomed and passed through the network again.

The weight decay of both heads is chosen on validation classes (``validation_split``); test
classes choose nothing. ::

    python -m sgma_core.experiment.frozen                 # all of CUB under the data root; resumable
    python -m sgma_core.experiment.frozen --max-images 30 # what a few photographs allow

Features are cached in ``runs/features/<dataset>-lite0-<layer>-<size>-<hash>/`` in chunks; an
interrupted extraction resumes at its first missing chunk. Measured on two cores: 39 photographs a
second (decoding and Lite0 at 224), so about 5 minutes for CUB's 11,788.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from sgma_core.cli import add_debug_flag, command

WEIGHT_DECAYS = (1e-4, 1e-3, 1e-2)  # chosen on validation classes
HEADS = {"baseline": (0,), "SGMA compatibility heads": (0, 1, 2)}


@dataclass(frozen=True)
class FrozenSettings:
    dataset: str = "CUB"
    layer: str = "stage5_expanded"
    size: int = 224
    n_parts: int = 2
    part_scale: float = 0.5  # a part's square: this share of the map's side
    grouping_images: int = 256  # Ω of eq. (11): seen-class training photographs
    epochs: int = 300
    lr: float = 1e-3
    seed: int = 0


def branch_features(fmaps: torch.Tensor, indicators: np.ndarray, part_scale: float = 0.5) -> torch.Tensor:
    """``[B, C, h, w]`` → ``[B, 1 + P, C]``: the map's average, then per part the average inside the square
    of side ``part_scale · h`` (at least one cell) centred on the part's group-map peak, kept inside the map."""
    from sgma_core.experiment.real_birds import group_maps

    b, c, h, w = fmaps.shape
    maps = group_maps(fmaps, indicators)  # [B, P, h, w]
    flat = maps.reshape(b, maps.shape[1], h * w).argmax(-1)
    side = max(1, int(round(part_scale * h)))
    out = [fmaps.mean(dim=(2, 3))]
    for p in range(maps.shape[1]):
        parts = []
        for i in range(b):
            y, x = int(flat[i, p]) // w, int(flat[i, p]) % w
            y0 = min(max(y - side // 2, 0), h - side)
            x0 = min(max(x - side // 2, 0), w - side)
            parts.append(fmaps[i, :, y0:y0 + side, x0:x0 + side].mean(dim=(1, 2)))
        out.append(torch.stack(parts))
    return torch.stack(out, dim=1)


def _rows_hash(rows: np.ndarray) -> str:
    return hashlib.sha256(np.asarray(rows, dtype=np.int64).tobytes()).hexdigest()[:10]


def feature_folder(root: str | Path, settings: FrozenSettings, rows: np.ndarray, indicators: np.ndarray) -> Path:
    key = hashlib.sha256(json.dumps({"settings": asdict(settings), "rows": _rows_hash(rows),
                                     "groups": indicators.astype(int).tolist()}, sort_keys=True).encode()).hexdigest()[:8]
    return Path(root) / f"{settings.dataset}-lite0-{settings.layer}-{settings.size}-{key}"


def extract(paths: list[Path], backbone, indicators: np.ndarray, folder: str | Path, settings: FrozenSettings,
            chunk: int = 256, progress: bool = True) -> np.ndarray:
    """Branch features ``[N, 1 + P, C]`` (float32) of every image, cached chunk by chunk in ``folder``; a chunk
    already there is read, not recomputed, so an interrupted extraction resumes."""
    from sgma_core.data.images import load_images
    from sgma_core.experiment.real_birds import feature_maps

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "manifest.json"
    expected = {"settings": asdict(settings), "n_images": len(paths), "chunk": chunk}
    if manifest.is_file() and json.loads(manifest.read_text()) != expected:
        raise ValueError(f"{folder} holds features of other settings ({manifest}); delete the folder to extract again.")
    manifest.write_text(json.dumps(expected, indent=1))
    parts, t0, done = [], time.perf_counter(), 0
    for k, start in enumerate(range(0, len(paths), chunk)):
        path = folder / f"chunk-{k:05d}.npy"
        if path.is_file():
            parts.append(np.load(path))
            continue
        fmaps = feature_maps(load_images(paths[start:start + chunk], settings.size)[0], backbone)
        feats = branch_features(fmaps, indicators, settings.part_scale).numpy().astype(np.float32)
        tmp = path.with_name(path.stem + ".partial.npy")
        np.save(tmp, feats)
        os.replace(tmp, path)
        parts.append(feats)
        done += len(feats)
        if progress:
            rate = done / (time.perf_counter() - t0)
            left = len(paths) - start - len(feats)
            print(f"  features: {start + len(feats)}/{len(paths)} images, {rate:.1f}/s, about "
                  f"{left / max(rate, 1e-9) / 60:.0f} min left", flush=True)
    return np.concatenate(parts) if parts else np.zeros((0, 1 + settings.n_parts, backbone.out_channels), np.float32)


def train_heads(feats: np.ndarray, labels: np.ndarray, phi_seen: np.ndarray, branches: tuple[int, ...],
                weight_decay: float, settings: FrozenSettings) -> dict:
    """Eq. (7) over the seen classes on frozen branch features ``[N, B, C]``: one ``W_b`` per branch, full
    batch, Adam. Features are standardised with the training images' mean and std per branch."""
    from sgma_core.losses import embedding_softmax_loss

    torch.manual_seed(settings.seed)
    x = torch.as_tensor(feats[:, list(branches)], dtype=torch.float32)
    mean, std = x.mean(0, keepdim=True), x.std(0, keepdim=True).clamp_min(1e-6)
    x = (x - mean) / std
    phi = torch.as_tensor(phi_seen, dtype=torch.float32)
    W = torch.nn.Parameter(torch.randn(len(branches), x.shape[2], phi.shape[0]) * 0.01)
    opt = torch.optim.Adam([W], lr=settings.lr, weight_decay=weight_decay)
    y = torch.as_tensor(labels)
    for _ in range(settings.epochs):
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


def run(ds, settings: FrozenSettings, features_root: str | Path, max_images: int | None = None,
        progress: bool = True) -> dict:
    """The whole path on the images of ``ds`` that exist: grouping, features, weight decay chosen on validation
    classes, both heads trained on trainval and evaluated on the test sets. Returns a JSON-ready record."""
    from sgma_core.attention import channel_grouping
    from sgma_core.backbones import efficientnet_lite0
    from sgma_core.data import validation_split
    from sgma_core.data.images import load_images
    from sgma_core.experiment.real_birds import feature_maps, present_rows

    t0 = time.perf_counter()
    present = present_rows(ds, max_images, seed=settings.seed)
    splits = {name: np.intersect1d(getattr(ds, name), present) for name in ("trainval", "test_seen", "test_unseen")}
    missing = [name for name, r in splits.items() if len(r) == 0]
    if missing:
        raise ValueError(f"no {', '.join(missing)} images of {ds.name} under {ds.root}: the frozen-feature path needs "
                         "photographs of every split (make data-cub installs CUB-200-2011).")
    torch.manual_seed(settings.seed)
    backbone = efficientnet_lite0(layer=settings.layer)
    rng = np.random.default_rng(settings.seed)
    omega = rng.permutation(splits["trainval"])[: settings.grouping_images]
    fmaps = feature_maps(load_images([ds.image_paths[r] for r in omega], settings.size)[0], backbone)
    indicators = channel_grouping(fmaps, settings.n_parts, seed=settings.seed)
    rows = np.concatenate(list(splits.values()))
    folder = feature_folder(features_root, settings, rows, indicators)
    all_feats = extract([ds.image_paths[r] for r in rows], backbone, indicators, folder, settings, progress=progress)
    at = {r: i for i, r in enumerate(rows)}
    feats = {name: all_feats[[at[r] for r in r_split]] for name, r_split in splits.items()}

    # weight decay on validation classes: train classes play the seen ones, validation classes the unseen ones
    chosen, validation = {}, {}
    try:
        val = validation_split(ds)
        val_rows = {name: np.intersect1d(getattr(val, name), rows) for name in ("trainval", "test_seen", "test_unseen")}
        if any(len(r) == 0 for r in val_rows.values()):
            raise ValueError("a validation split without images")
        val_feats = {name: all_feats[[at[r] for r in r_split]] for name, r_split in val_rows.items()}
    except (ValueError, KeyError) as exc:
        val = None
        validation["note"] = f"no validation classes with images ({exc}); weight decay {WEIGHT_DECAYS[1]:g} kept"
    results = {}
    for name, branches in HEADS.items():
        if val is not None:
            scored = {}
            for wd in WEIGHT_DECAYS:
                head = train_heads(val_feats["trainval"], val.seen_labels(val_rows["trainval"]), val.phi_seen,
                                   branches, wd, settings)
                r = evaluate(head, val, val_feats, val_rows)
                scored[wd] = (r["H"], r["T1"])
            chosen[name] = max(WEIGHT_DECAYS, key=lambda wd: scored[wd])
            validation[name] = {f"{wd:g}": {"H": h, "T1": t} for wd, (h, t) in scored.items()}
        else:
            chosen[name] = WEIGHT_DECAYS[1]
        head = train_heads(feats["trainval"], ds.seen_labels(splits["trainval"]), ds.phi_seen, branches,
                           chosen[name], settings)
        results[name] = {k: float(v) for k, v in evaluate(head, ds, feats, splits).items()}
    return {
        "setting": "frozen ImageNet EfficientNet-Lite0 features (not the paper's fine-tuned VGG19 at 448)",
        "settings": asdict(settings), "images": {name: int(len(r)) for name, r in splits.items()},
        "classes": {"seen": int(len(np.unique(ds.labels[splits["trainval"]]))),
                    "unseen": int(len(np.unique(ds.labels[splits["test_unseen"]])))},
        "complete": bool(len(rows) == len(ds.trainval) + len(ds.test_seen) + len(ds.test_unseen)),
        "weight_decay": chosen, "validation": validation, "results": results, "features": str(folder),
        "seconds": round(time.perf_counter() - t0, 1),
    }


@command
def main(argv: list[str]) -> int:
    from sgma_core import data as zsl_data
    from sgma_core.engine.runs import write_record
    from sgma_core.paths import runs_root

    p = argparse.ArgumentParser(prog="python -m sgma_core.experiment.frozen", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="CUB", choices=["CUB"])
    p.add_argument("--data-root", default=None, help="default: $SGMA_DATA_ROOT, else <repo>/data")
    p.add_argument("--max-images", type=int, default=None, help="at most this many photographs (default: all)")
    p.add_argument("--layer", default=FrozenSettings.layer)
    p.add_argument("--out", default=None, help="write the record here as JSON (default: print it)")
    add_debug_flag(p)
    args = p.parse_args(argv)
    ds = zsl_data.load_dataset(args.dataset, args.data_root)
    record = run(ds, FrozenSettings(dataset=args.dataset, layer=args.layer), runs_root() / "features", args.max_images)
    if args.out:
        print(f"{write_record(args.out, record)}: {json.dumps(record['results'])}")
    else:
        print(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
