"""What the training chapters start from, made before they start: ``make book`` runs it while the rest of the
set-up installs.

    python -m sgma_core.experiment.warm --profile cpu [--dataset SYN]

It decodes the dataset into the run store's image cache and pretrains the backbone that chapters 02 and 04 both
start from (:func:`~sgma_core.experiment.recipes.pretrained_backbone`), in the runs folder the chapters use, asked
for exactly as the chapters ask for them (:func:`sgma_core.profiles.make_experiment`, the first seed): the same
settings and data name the same run, which the chapters then read instead of training. Where the backbone needs
no pretraining (ImageNet weights), only the decoding is done. It imports torch and the dataset's readers, not
Jupyter, so it can run as soon as torch is installed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from sgma_core.profiles import make_experiment


def warm(profile: str, dataset: str = "SYN", data_root=None, runs_dir=None) -> dict:
    """Decode ``dataset`` and pretrain the backbone of ``profile``'s first seed; returns what was done."""
    from sgma_core.engine.loop import use_threads
    from sgma_core.experiment import prepare_data, pretrained_backbone

    config = make_experiment(profile, {"dataset": dataset}, "first").configs()[0]
    use_threads(config)  # the profile's threads, as the chapters train
    t0 = time.perf_counter()
    prepared = prepare_data(config, data_root, progress=False, runs_dir=runs_dir)
    decoded = time.perf_counter() - t0
    _, history = pretrained_backbone(prepared, config, runs_dir, progress=False)
    return {"profile": profile, "dataset": dataset, "seed": config.seed, "decoded_s": round(decoded, 1),
            "backbone_epochs": len(history), "seconds": round(time.perf_counter() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sgma_core.experiment.warm", description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="cpu", help="the profile the chapters will run (default: cpu)")
    parser.add_argument("--dataset", default="SYN", help="the dataset they will run on (default: SYN)")
    parser.add_argument("--data-root", default=None, help="default: $SGMA_DATA_ROOT, else <repo>/data")
    parser.add_argument("--runs-dir", default=None, help="default: $SGMA_RUNS_ROOT, else <repo>/runs")
    args = parser.parse_args(argv)
    print(json.dumps(warm(args.profile, args.dataset, args.data_root, args.runs_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
