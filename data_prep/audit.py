"""What can be solved without looking? Two probes of a dataset that know nothing of attention.

Both map colour histograms to the class attributes with a ridge regression and rank the unseen classes by
the cosine between the predicted and each class's attribute vector (ZSL T1): **global**, one histogram of
the whole image (:data:`BINS` per channel, square-rooted), what a model reads from *which* colours are
present; **windows**, the same histogram of a small window at each ground-truth part whose attributes tell
the classes apart, side by side, what it reads by looking at the right places. A dataset that needs looking
keeps the first near chance and the second near perfect. Each probe's ridge penalty is chosen on validation
classes; the test classes are scored once. ::

    python -m data_prep.audit                      # the synthetic birds under the data root
    python -m data_prep.audit --dataset CUB --max-images 2000
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from sgma_core.cli import add_debug_flag, command, positive_int
from sgma_core.localization import window_starts

BINS = 8  # per channel
PENALTIES = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)  # ridge penalties tried on validation classes


def colour_histograms(pixels: np.ndarray) -> np.ndarray:
    """``[N, M, 3]`` uint8 pixels → ``[N, BINS³]`` histograms, each summing to 1, square-rooted."""
    idx = (pixels.astype(np.int64) * BINS) // 256
    flat = (idx[..., 0] * BINS + idx[..., 1]) * BINS + idx[..., 2]  # [N, M]
    counts = np.zeros((len(pixels), BINS ** 3))
    np.add.at(counts, (np.repeat(np.arange(len(pixels)), flat.shape[1]), flat.ravel()), 1.0)
    return np.sqrt(counts / np.maximum(counts.sum(1, keepdims=True), 1))


def global_features(images: np.ndarray) -> np.ndarray:
    """Images ``[N, 3, S, S]`` uint8 → the whole-image histograms ``[N, 512]``."""
    return colour_histograms(images.transpose(0, 2, 3, 1).reshape(len(images), -1, 3))


def window_features(images: np.ndarray, parts: np.ndarray, which: np.ndarray, side: int) -> np.ndarray:
    """The histograms of ``side`` × ``side`` windows (kept inside the image) centred at the parts ``which``
    ``[Q]`` (bool) of ``parts`` ``[N, Q, 3]`` (pixels of the images), side by side: ``[N, 512 · Q']``."""
    n, _, h, w = images.shape
    out = []
    for q in np.flatnonzero(which):
        x0, y0 = window_starts(parts[:, q, :2], side, (w, h)).astype(int).T
        crops = np.stack([images[i, :, y0[i]:y0[i] + side, x0[i]:x0[i] + side] for i in range(n)])
        out.append(colour_histograms(crops.transpose(0, 2, 3, 1).reshape(n, -1, 3)))
    return np.concatenate(out, axis=1)


def ridge(x: np.ndarray, y: np.ndarray, penalty: float) -> np.ndarray:
    """``W = argmin ‖xW − y‖² + penalty·‖W‖²`` with a bias column: ``[D + 1, K]``."""
    x = np.hstack([x, np.ones((len(x), 1))])
    return np.linalg.solve(x.T @ x + penalty * np.eye(x.shape[1]), x.T @ y)


def zsl_t1(ds, features: np.ndarray, fit_rows: np.ndarray, test_rows: np.ndarray, classes: np.ndarray,
           penalty: float) -> float:
    """Fit the ridge on ``fit_rows`` (targets: their classes' attribute vectors), rank ``classes`` for
    ``test_rows`` by cosine: the mean per-class top-1 accuracy."""
    from sgma_core.metrics import per_class_accuracy

    att = np.asarray(ds.att, dtype=np.float64)  # [K, C]
    W = ridge(features[fit_rows], att[:, ds.labels[fit_rows]].T, penalty)
    pred = np.hstack([features[test_rows], np.ones((len(test_rows), 1))]) @ W  # [N, K]
    cand = att[:, classes]
    cos = (pred / np.linalg.norm(pred, axis=1, keepdims=True)) @ (cand / np.linalg.norm(cand, axis=0, keepdims=True))
    truth = np.searchsorted(classes, ds.labels[test_rows])
    return float(per_class_accuracy(truth, cos.argmax(1)))


def probe(ds, val, features: np.ndarray) -> dict:
    """The penalty with the best validation T1 (``val``: the validation re-split of ``ds``, same rows), then
    the test classes' T1 with it."""
    scores = {p: zsl_t1(val, features, val.trainval, val.test_unseen, np.sort(val.unseen_classes), p)
              for p in PENALTIES}
    chosen = max(PENALTIES, key=lambda p: scores[p])
    return {"T1": zsl_t1(ds, features, ds.trainval, ds.test_unseen, np.sort(ds.unseen_classes), chosen),
            "penalty": chosen, "validation_T1": {f"{p:g}": t for p, t in scores.items()}}


def audit(ds, size: int | None = None) -> dict:
    """Both probes on ``ds`` (images decoded at ``size``, default their own side); returns a record."""
    from sgma_core.data import validation_split
    from sgma_core.data.cub import check_parts_within
    from sgma_core.data.images import load_images
    from sgma_core.localization import discriminative_parts, scale_parts

    t0 = time.perf_counter()
    if ds.part_locs is None:
        raise ValueError(f"{ds.name} has no part annotations: the window probe needs them.")
    from PIL import Image

    size = size or Image.open(ds.image_paths[0]).size[0]
    images, sizes = load_images(ds.image_paths, size)
    images = images.numpy()
    check_parts_within(ds, np.arange(ds.n_images), sizes)
    parts = scale_parts(ds.part_locs, sizes, size)
    telling = discriminative_parts(ds.part_names, ds.attribute_names or [], ds.att)
    val = validation_split(ds)
    return {"dataset": ds.name, "images": len(images), "size": size, "unseen_classes": len(ds.unseen_classes),
            "chance_T1": 1 / len(ds.unseen_classes),
            "global": probe(ds, val, global_features(images)),
            "windows": {**probe(ds, val, window_features(images, parts, telling, max(4, size // 8))),
                        "parts": [n for n, t in zip(ds.part_names, telling) if t], "side": max(4, size // 8)},
            "seconds": round(time.perf_counter() - t0, 1)}


@command
def main(argv: list[str]) -> int:
    from sgma_core.data import load_dataset

    p = argparse.ArgumentParser(prog="python -m data_prep.audit", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="SYN")
    p.add_argument("--data-root", default=None, help="default: $SGMA_DATA_ROOT, else <repo>/data")
    p.add_argument("--size", type=positive_int, default=None, help="decode side (default: the images' own)")
    p.add_argument("--json", action="store_true", help="print the record as JSON")
    add_debug_flag(p)
    args = p.parse_args(argv)
    record = audit(load_dataset(args.dataset, args.data_root), args.size)
    if args.json:
        print(json.dumps(record, indent=1))
    else:
        print(f"{record['dataset']}: {record['images']} images at {record['size']} px, "
              f"{record['unseen_classes']} unseen classes (chance {100 * record['chance_T1']:.1f} %)")
        for name in ("global", "windows"):
            print(f"  {name:8s} colour histogram probe: unseen T1 {100 * record[name]['T1']:.1f} % "
                  f"(penalty {record[name]['penalty']:g}, chosen on validation classes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
