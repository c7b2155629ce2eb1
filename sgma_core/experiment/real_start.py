"""The synthetic birds with a real start: the cpu profile with ImageNet EfficientNet-Lite0 as the backbone
instead of the small VGG pretrained on the seen synthetic classes, every other setting unchanged.

For each backbone and seed: the baseline and SGMA trained as in chapters 02 and 04 (stored runs are
reused), their ZSL T1 and GZSL u / s / H (compat rule), and where SGMA's two attention peaks land on
the test images before SGMA's training (right after eq. (11)'s grouping) and after it, against the
birds' parts (all parts, and the parts that tell the classes apart) and against random points.
The record is written to ``results/real-start-<profile>.json`` and rendered by chapter 06. ::

    python -m sgma_core.experiment.real_start              # cpu profile, 3 seeds: about 25 minutes on 2 cores
    python -m sgma_core.experiment.real_start --profile smoke
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from sgma_core.cli import add_debug_flag, command
from sgma_core.paths import current_commit, repo_root

BACKBONES_COMPARED = ("small_vgg", "efficientnet_lite0")
METRICS = ("T1", "u", "s", "H")


def peak_hits(snapshot: dict, parts: np.ndarray, telling: np.ndarray, radius: float) -> dict[str, float]:
    """Share of the peaks (both maps, all test images) within ``radius`` of a visible part, and of a part that
    tells the classes apart."""
    from sgma_core.localization import hit_rates

    points = np.stack([snapshot["tx"], snapshot["ty"]], axis=-1)
    return {"any": float(hit_rates(points, parts, radius).mean()),
            "telling": float(hit_rates(points, parts[:, telling], radius).mean())}


def run_real_start(profile: str = "cpu", seeds=None, data_root=None, runs_dir=None, progress: bool = False) -> dict:
    from sgma_core.experiment import prepare_data, train_baseline, train_sgma
    from sgma_core.localization import discriminative_parts, hit_rates, random_points, scale_parts
    from sgma_core.profiles import make_experiment

    t0 = time.perf_counter()
    rows, prepared, chance = [], None, None
    for backbone in BACKBONES_COMPARED:
        experiment = make_experiment(profile, {"backbone": backbone}, seeds)
        for cfg in experiment.configs():
            if prepared is None:
                prepared = prepare_data(cfg, data_root, progress=progress, runs_dir=runs_dir)
                ds = prepared.dataset
                if ds.part_locs is None:
                    raise ValueError(f"{ds.name} has no part annotations: the hit rates need them.")
                test_rows = np.concatenate([prepared.test_unseen_rows, prepared.test_seen_rows])
                images = torch.cat([prepared.test_unseen_images, prepared.test_seen_images])
                parts = scale_parts(ds.part_locs[test_rows], prepared.sizes_of(test_rows), cfg.image_size)
                telling = discriminative_parts(ds.part_names, ds.attribute_names or [], ds.att)
                radius = cfg.image_size / 8
                rnd = random_points(len(test_rows), cfg.n_parts, cfg.image_size, seed=0)
                chance = {"any": float(hit_rates(rnd, parts, radius).mean()),
                          "telling": float(hit_rates(rnd, parts[:, telling], radius).mean())}
            started = time.perf_counter()
            _, base_history = train_baseline(prepared, cfg, runs_dir, progress=progress)
            _, history, info = train_sgma(prepared, cfg, runs_dir, progress=progress, snapshot_images=images)
            snaps = info["snapshots"]
            rows.append({"backbone": backbone, "seed": cfg.seed,
                         "baseline": {k: float(base_history[-1][k]) for k in METRICS},
                         "sgma": {k: float(history[-1][k]) for k in METRICS},
                         "hits_before": peak_hits(snaps[-1], parts, telling, radius),
                         "hits_after": peak_hits(snaps[max(snaps)], parts, telling, radius),
                         "seconds": round(time.perf_counter() - started, 1),  # this call: less when runs are stored
                         "training_seconds": round(sum(h["seconds"] for h in base_history + history), 1)})
            if progress:
                print(f"{backbone} seed {cfg.seed}: baseline T1 {100 * rows[-1]['baseline']['T1']:.1f}, "
                      f"SGMA T1 {100 * rows[-1]['sgma']['T1']:.1f} ({rows[-1]['seconds']:.0f} s)", flush=True)
    return {"profile": profile, "dataset": prepared.dataset.name, "rows": rows, "random_points": chance,
            "radius": "an eighth of the input side", "telling_parts": [n for n, t in zip(ds.part_names, telling) if t],
            "provenance": {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "commit": current_commit(),
                           "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}",
                           "seconds": round(time.perf_counter() - t0, 1),
                           "training_seconds": round(sum(r["training_seconds"] for r in rows), 1)}}


def default_path(profile: str) -> Path:
    return repo_root() / "results" / f"real-start-{profile}.json"


@command
def main(argv: list[str]) -> int:
    from sgma_core.engine.runs import write_record

    p = argparse.ArgumentParser(prog="python -m sgma_core.experiment.real_start", description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default="cpu", choices=["smoke", "cpu"])
    p.add_argument("--data-root", default=None)
    p.add_argument("--runs-dir", default=None)
    p.add_argument("--out", default=None, help="default: results/real-start-<profile>.json")
    add_debug_flag(p)
    args = p.parse_args(argv)
    record = run_real_start(args.profile, None, args.data_root, args.runs_dir, progress=True)
    out = write_record(args.out or default_path(args.profile), record)
    print(f"{out}: {len(record['rows'])} runs in {record['provenance']['seconds'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
