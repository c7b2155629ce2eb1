"""The synthetic birds with a real start: the cpu profile with ImageNet EfficientNet-Lite0 as the backbone
instead of the small VGG pretrained on the seen synthetic classes, every other setting unchanged.

For each backbone and seed: the baseline and SGMA trained as in chapters 02 and 04 (stored runs are
reused), their ZSL T1 and GZSL u / s / H (compat rule), and where SGMA's two attention peaks land on
the test images before SGMA's training (right after eq. (11)'s grouping) and after it, against the
birds' parts (all parts, and the parts that tell the classes apart) and against random points.
The record is written to ``results/real-start-<profile>.json`` and rendered by chapter 07. ::

    python -m sgma_core.studies.real_start              # cpu profile, 3 seeds: 155 min of training, 2 shared cores
    python -m sgma_core.studies.real_start --profile smoke
"""

from __future__ import annotations

import time
from pathlib import Path

from sgma_core.paths import repo_root
from sgma_core.studies import study_command

BACKBONES_COMPARED = ("small_vgg", "efficientnet_lite0")
METRICS = ("T1", "u", "s", "H")


def one_seed(prepared, cfg, runs_dir, parts, telling, radius, progress: bool) -> dict:
    """The baseline and SGMA of one backbone and seed (stored runs reused): their test metrics, and where
    the centres of SGMA's cropped squares land before and after its training."""
    from sgma_core.experiment import centre_hits, snapshot_images, train_baseline, train_sgma

    started = time.perf_counter()
    _, base_history = train_baseline(prepared, cfg, runs_dir, progress=progress)
    _, history, info = train_sgma(prepared, cfg, runs_dir, progress=progress, snapshot_images=snapshot_images(prepared))
    snaps = info["snapshots"]
    return {"backbone": cfg.backbone, "seed": cfg.seed,
            "baseline": {k: float(base_history[-1][k]) for k in METRICS},
            "sgma": {k: float(history[-1][k]) for k in METRICS},
            "hits_before": centre_hits(snaps[-1], parts, telling, radius, prepared.image_size),
            "hits_after": centre_hits(snaps[max(snaps)], parts, telling, radius, prepared.image_size),
            "seconds": round(time.perf_counter() - started, 1),  # this call: less when runs are stored
            "training_seconds": round(sum(h["seconds"] for h in base_history + history), 1)}


def run_real_start(profile: str = "cpu", seeds=None, data_root=None, runs_dir=None, progress: bool = False) -> dict:
    """Every backbone of :data:`BACKBONES_COMPARED` with every seed (:func:`one_seed`); returns the record."""
    from sgma_core.experiment import parts_at_input_size, prepare_data
    from sgma_core.localization import hit_rates, random_points
    from sgma_core.profiles import config_dict, make_experiment
    from sgma_core.records import provenance

    t0 = time.perf_counter()
    from sgma_core.engine.step import resolve_device

    experiments = [make_experiment(profile, {"backbone": b}, seeds) for b in BACKBONES_COMPARED]  # all checked first
    resolve_device(experiments[0].config.device)
    prepared = prepare_data(experiments[0].config, data_root, progress=progress, runs_dir=runs_dir)
    parts, telling, radius = parts_at_input_size(prepared)
    rnd = random_points(len(parts), experiments[0].config.n_parts, prepared.image_size, seed=0)
    chance = {"any": float(hit_rates(rnd, parts, radius).mean()),
              "telling": float(hit_rates(rnd, parts[:, telling], radius).mean())}
    rows = []
    for experiment in experiments:
        for cfg in experiment.configs():
            rows.append(one_seed(prepared, cfg, runs_dir, parts, telling, radius, progress))
            if progress:
                print(f"{cfg.backbone} seed {cfg.seed}: baseline T1 {100 * rows[-1]['baseline']['T1']:.1f}, "
                      f"SGMA T1 {100 * rows[-1]['sgma']['T1']:.1f} ({rows[-1]['seconds']:.0f} s)", flush=True)
    ds = prepared.dataset
    return {"profile": profile, "dataset": ds.name, "rows": rows, "random_points": chance,
            "radius": "an eighth of the input side", "telling_parts": [n for n, t in zip(ds.part_names, telling) if t],
            "provenance": provenance({b: config_dict(e.config) for b, e in zip(BACKBONES_COMPARED, experiments)},
                                     time.perf_counter() - t0, seeds=list(experiments[0].seeds),
                                     **ds.data_provenance(),
                                     training_seconds=round(sum(r["training_seconds"] for r in rows), 1))}


def default_path(profile: str) -> Path:
    return repo_root() / "results" / f"real-start-{profile}.json"


RECORD_KEYS = ("profile", "dataset", "rows", "random_points", "telling_parts", "provenance")
# the numbers chapter 07 and the agreement read, each refused where it is not a number
RECORD_NUMBERS = ("rows[].seed",
                  *(f"rows[].{model}.{m}" for model in ("baseline", "sgma") for m in ("T1", "u", "s", "H")),
                  "rows[].hits_before.*", "rows[].hits_after.*", "random_points.*")


def read_record(path: str | Path) -> dict:
    """A record of :func:`run_real_start`, checked for every key and number chapter 07 reads; a damaged one is
    named with the command that writes it again."""
    from sgma_core import records

    return records.read_record(path, RECORD_KEYS, "`make real-start` writes it again (its runs are reused).",
                               RECORD_NUMBERS)


main = study_command("python -m sgma_core.studies.real_start", __doc__, default_path,
                     lambda a, out: run_real_start(a.profile, a.seeds, a.data_root, a.runs_dir, progress=True))


if __name__ == "__main__":
    raise SystemExit(main())
