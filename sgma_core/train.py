"""Train the baseline or SGMA from the command line, in one process or on several GPUs.

    python -m sgma_core.train --model baseline --profile smoke
    python -m sgma_core.train --model sgma --profile paper --dataset CUB -p epochs 30 -p seed 1
    torchrun --nproc_per_node=4 -m sgma_core.train --model sgma baseline --profile paper --dataset CUB

The runs are written where the chapters look for them (``--runs-dir``, else ``$SGMA_RUNS_ROOT``,
else ``<repo>/runs``), in the folders the chapters compute from the same settings; a chapter
executed afterwards with the same profile and parameters finds each finished run and reuses it
instead of training again. So a long run can be trained on a multi-GPU machine with ``torchrun``
and the book built elsewhere from its folders.

``-p NAME VALUE`` sets any :class:`~sgma_core.profiles.RunConfig` field, VALUE parsed as YAML
(``3``, ``0.01``, ``null``, ``[0, 1, 2]``, ``learned``); unknown names are refused with the valid
ones. ``-p seed S`` trains that one seed, ``-p seeds "[0, 1]"`` those seeds; default: the
profile's seeds, as the chapters do. Under ``torchrun`` every process runs this same program;
:mod:`sgma_core.distributed` joins them into one run (NCCL on CUDA, gloo on the CPU), and only
rank 0 prints and writes.
"""

from __future__ import annotations

import argparse
import json
import time

import yaml

from sgma_core.cli import add_debug_flag, command

MODELS = ("baseline", "sgma")


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, dict]:
    """The parsed command line and the ``-p`` parameters (YAML values)."""
    p = argparse.ArgumentParser(prog="python -m sgma_core.train",
                                description="Train the baseline and/or SGMA; usable with torchrun.")
    p.add_argument("--model", nargs="+", required=True, choices=MODELS, help="what to train, in this order")
    p.add_argument("--profile", default="cpu", help="smoke, cpu or paper (default: cpu)")
    p.add_argument("--dataset", default="SYN", help="SYN, CUB, AWA2 or FLO (default: SYN)")
    p.add_argument("--data-root", default=None, help="default: $SGMA_DATA_ROOT, else <repo>/data")
    p.add_argument("--runs-dir", default=None, help="default: $SGMA_RUNS_ROOT, else <repo>/runs")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="a RunConfig field; VALUE is parsed as YAML")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    add_debug_flag(p)
    args = p.parse_args(argv)
    params = {k: yaml.safe_load(v) for k, v in args.parameter}
    return args, params


def build_config(args: argparse.Namespace, params: dict):
    """The :class:`~sgma_core.profiles.Experiment` to train, as the chapters build it.

    The chapters call ``make_experiment(profile, {**overrides, "dataset": dataset}, seeds)`` and
    train ``experiment.configs()``; the same here gives the same run folders. Raises
    :class:`ValueError` for an unknown name or value.
    """
    from sgma_core.profiles import make_experiment

    params = dict(params)
    if "profile" in params:
        raise ValueError("give the profile with --profile, not -p profile.")
    if "dataset" in params:
        args.dataset = params.pop("dataset")
    seed = params.pop("seed", None)
    if seed is not None and "seeds" in params:
        raise ValueError("give either -p seed or -p seeds, not both.")
    seeds = [seed] if seed is not None else params.pop("seeds", None)
    return make_experiment(args.profile, {**params, "dataset": args.dataset}, seeds)


@command
def main(argv: list[str]) -> int:
    args, params = parse_args(argv)
    plan = build_config(args, params)  # every setting checked before any work

    from sgma_core import experiment
    from sgma_core.engine import distributed

    config, seeds = plan.config, plan.seeds
    distributed.init_from_env(config.device)
    try:
        main_rank = distributed.is_main()
        progress = main_rank and not args.quiet
        if main_rank:
            print(f"{args.profile} profile, {config.dataset}, seeds {seeds}, {distributed.world_size()} process(es)",
                  flush=True)
        prepared = experiment.prepare_data(config, args.data_root, progress=progress, runs_dir=args.runs_dir)
        for cfg in plan.configs():
            seed = cfg.seed
            for model in args.model:
                t0 = time.perf_counter()
                if model == "baseline":
                    _, history = experiment.train_baseline(prepared, cfg, args.runs_dir, progress=progress)
                else:  # the chapter keeps maps of four unseen-class images after every epoch of a run
                    _, history, _ = experiment.train_sgma(prepared, cfg, args.runs_dir, progress=progress,
                                                          snapshot_images=prepared.test_unseen_images[:4])
                if main_rank:
                    minutes = round((time.perf_counter() - t0) / 60, 2)
                    print(json.dumps({"model": model, "seed": seed, "minutes": minutes, **(history[-1] if history else {})}),
                          flush=True)
    finally:
        distributed.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
