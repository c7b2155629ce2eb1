"""What the training chapters start from, made before they start: ``make book`` runs it while the rest of the
set-up installs.

    python -m sgma_core.experiment.warm --profile cpu [--dataset SYN]
    python -m sgma_core.experiment.warm --profile cpu --sgma     # then chapter 04's first run, beside the chapters

It decodes the dataset into the run store's image cache and pretrains the backbone that chapters 02 and 04 both
start from, asked for exactly as the chapters ask (:func:`sgma_core.profiles.make_experiment`, the first seed): the
same settings and data name the same run, which the chapters then read instead of training (ImageNet weights: only
the decoding). It imports torch and the dataset's readers, not Jupyter, so it can run once torch is installed.
``--sgma`` then trains chapter 04's first SGMA run with the snapshots the chapter keeps (every test image), the
longest run of ``make book``, as soon as its backbone is there; the chapter, started beside it, waits on the run's
lock when it gets there and reads it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from sgma_core.profiles import make_experiment


def warm(profile: str, dataset: str = "SYN", data_root=None, runs_dir=None, sgma: bool = False) -> dict:
    """Decode ``dataset`` and pretrain the backbone of ``profile``'s first seed, then (``sgma``) train that seed's
    SGMA run as chapter 04 asks for it; returns what was done."""
    from sgma_core.engine.loop import use_threads
    from sgma_core.experiment import prepare_data, pretrained_backbone, snapshot_images, train_sgma

    config = make_experiment(profile, {"dataset": dataset}, "first").configs()[0]
    use_threads(config)  # the profile's threads, as the chapters train
    t0 = time.perf_counter()
    prepared = prepare_data(config, data_root, progress=False, runs_dir=runs_dir)
    decoded = time.perf_counter() - t0
    _, history = pretrained_backbone(prepared, config, runs_dir, progress=False)
    done = {"profile": profile, "dataset": dataset, "seed": config.seed, "decoded_s": round(decoded, 1),
            "backbone_epochs": len(history)}
    if sgma:  # chapter 04's first run: its settings, data and snapshot images name the same run folder
        _, sgma_history, _ = train_sgma(prepared, config, runs_dir, progress=False,
                                        snapshot_images=snapshot_images(prepared))
        done["sgma_epochs"] = len(sgma_history)
    return {**done, "seconds": round(time.perf_counter() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sgma_core.experiment.warm", description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="cpu", help="the profile the chapters will run (default: cpu)")
    parser.add_argument("--dataset", default="SYN", help="the dataset they will run on (default: SYN)")
    parser.add_argument("--data-root", default=None, help="default: $SGMA_DATA_ROOT, else <repo>/data")
    parser.add_argument("--runs-dir", default=None, help="default: $SGMA_RUNS_ROOT, else <repo>/runs")
    parser.add_argument("--sgma", action="store_true",
                        help="then train chapter 04's first SGMA run (make book starts it beside the chapters)")
    args = parser.parse_args(argv)
    print(json.dumps(warm(args.profile, args.dataset, args.data_root, args.runs_dir, args.sgma)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
