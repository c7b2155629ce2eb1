"""Train the baseline or SGMA from the command line, in one process or on several under ``torchrun``.

    python -m sgma_core.train --model baseline --profile smoke
    python -m sgma_core.train --model sgma --profile paper --dataset CUB -p epochs 30 --seeds 1
    torchrun --nproc_per_node=4 -m sgma_core.train --model sgma baseline --profile paper --dataset CUB

Each run is written to the folder the chapters compute from the same settings (``--runs-dir``, else
``$SGMA_RUNS_ROOT``, else ``<repo>/runs``), so a chapter executed later with the same profile and parameters
reuses it instead of training. ``-p NAME VALUE`` sets a :class:`~sgma_core.profiles.RunConfig` field (VALUE
read as YAML); ``--seeds 0,1`` picks seeds (default: the profile's). An unknown name, a bad value or a device
this machine lacks is refused before any work (exit status 2). Under ``torchrun`` every process runs this
program, :mod:`sgma_core.engine.distributed` joins them into one run, and only rank 0 prints and writes; each
finished run prints one JSON line (model, seed, minutes, the last epoch's log).
"""

from __future__ import annotations

import argparse
import json
import time

from sgma_core.cli import add_run_options, command, parse_seeds, run_overrides

MODELS = ("baseline", "sgma")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m sgma_core.train",
                                description="Train the baseline and/or SGMA; usable with torchrun.")
    p.add_argument("--model", nargs="+", required=True, choices=MODELS, help="what to train, in this order")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    add_run_options(p)
    return p.parse_args(argv)


def build_config(args: argparse.Namespace):
    """The :class:`~sgma_core.profiles.Experiment` to train, as the chapters build it.

    The chapters call ``make_experiment(profile, {**overrides, "dataset": dataset}, seeds)`` and
    train ``experiment.configs()``; the same here gives the same run folders. Raises
    :class:`ValueError` for an unknown name or value.
    """
    from sgma_core.engine.step import resolve_device
    from sgma_core.profiles import make_experiment

    overrides = {**run_overrides(args), "dataset": args.dataset}
    experiment = make_experiment(args.profile, overrides, parse_seeds(args.seeds))
    resolve_device(experiment.config.device)  # a device this machine lacks is refused here, not mid-run
    return experiment


@command
def main(argv: list[str]) -> int:
    args = parse_args(argv)
    plan = build_config(args)  # every setting checked before any work

    from sgma_core import experiment
    from sgma_core.engine import distributed

    distributed.init_from_env(plan.config.device)
    try:
        main_rank = distributed.is_main()
        progress = main_rank and not args.quiet
        if main_rank:
            print(f"{args.profile} profile, {plan.config.dataset}, seeds {plan.seeds}, "
                  f"{distributed.world_size()} process(es)", flush=True)
        prepared = experiment.prepare_data(plan.config, args.data_root, progress=progress, runs_dir=args.runs_dir)
        for cfg in plan.configs():
            for model in args.model:
                t0 = time.perf_counter()
                if model == "baseline":
                    _, history = experiment.train_baseline(prepared, cfg, args.runs_dir, progress=progress)
                else:  # the maps and squares on the test images after every epoch, as chapter 04 keeps them
                    _, history, _ = experiment.train_sgma(prepared, cfg, args.runs_dir, progress=progress,
                                                          snapshot_images=experiment.snapshot_images(prepared))
                if main_rank:
                    minutes = round((time.perf_counter() - t0) / 60, 2)
                    print(json.dumps({"model": model, "seed": cfg.seed, "minutes": minutes,
                                      **(history[-1] if history else {})}), flush=True)
    finally:
        distributed.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
