"""Every choice the paper leaves open, decided on validation classes (METHOD §12), and the paper's
own reading run beside the book's.

One factor at a time from the current defaults: for each setting of :data:`TRAINING_GRID` every
value is trained as a **validation model** (training classes only, the validation classes playing
the unseen ones, its backbone pretraining too) with each seed. The chosen values are then trained
together, and the combination is kept only where validation says it is at least as good as the
best single change. The choices that need no training (:data:`INFERENCE_GRID`: eq. (10)'s ridge
penalty, prototype normalisation) re-score that configuration's validation models. The selection
metric (:data:`SELECTION`) is fixed before anything runs. Last, the book's configuration and
:data:`~sgma_core.profiles.PAPER_READING` are trained once per seed on all seen classes and
evaluated on the test classes, which drive nothing.

    python -m sgma_core.experiment.ablate --profile cpu --out results/ablations-cpu.json   # make ablations

Every run is stored like any other (:mod:`sgma_core.engine.runs`), so an interrupted ablation goes
on where it stopped and the record is rebuilt from the stored runs in seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from sgma_core.cli import add_debug_flag, command
from sgma_core.engine.runs import write_record
from sgma_core.experiment.evaluate import sgma_rule_scores
from sgma_core.experiment.prepare import prepare_data
from sgma_core.experiment.recipes import train_sgma
from sgma_core.inference import choose_gamma
from sgma_core.metrics import zsl_gzsl
from sgma_core.paths import current_commit, repo_root
from sgma_core.profiles import PAPER_READING, config_dict, make_experiment, with_settings

# The values tried for each choice that changes training (the default among them).
TRAINING_GRID: dict[str, tuple] = {
    "attention_norm": ("standardize", "standardize_learned", "none"),
    "attention_training": ("heads", "full", "none"),
    "centre_rule": ("peak", "learned"),
    "grouping_smoothing": (0.1, 0.0),
    "cct_negatives": ("hardest", "mean", "all"),
    "shared_W": (False, True),
    "lam_div": (1.0, 0.1, 10.0),
    "alpha_cls": (1.0, 0.3, 3.0),
    "beta_cct": (1.0, 0.1, 10.0),
    "training_schedule": ("joint", "alternating"),
}
# The values tried for each choice that only changes how a trained model is scored.
INFERENCE_GRID: dict[str, tuple] = {
    "ridge_lambda": (1.0, 1e-4, 1e-3, 1e-2, 1e-1, 10.0),
    "prototype_norm": (False, True),
}
SELECTION = {
    "training": "validation H of the compat rule, mean over seeds; ties broken by validation T1",
    "inference": "validation H of the cct rule (the rule these choices act on), mean over seeds; ties broken by "
                 "validation T1",
}
METRICS = ("T1", "u", "s", "H")


def _rows(setting: str, value, seed: int, split: str, scores: dict, prepared) -> list[dict]:
    """One record row per rule: ``{setting, value, seed, split, rule, T1, u, s, H}`` (fractions)."""
    labels = (prepared.test_unseen_labels, prepared.test_seen_labels, prepared.n_seen)
    return [{"setting": setting, "value": value, "seed": seed, "split": split, "rule": rule,
             **{k: float(v) for k, v in zsl_gzsl(su, ss, *labels).items() if k in METRICS}}
            for rule, (su, ss) in scores.items()]


def _mean(rows: list[dict], setting: str, value, rule: str, split: str = "val") -> tuple[float, float]:
    picked = [r for r in rows if r["setting"] == setting and r["value"] == value and r["rule"] == rule
              and r["split"] == split]
    return float(np.mean([r["H"] for r in picked])), float(np.mean([r["T1"] for r in picked]))


def choose(rows: list[dict], setting: str, values, rule: str):
    """The value of ``setting`` with the best mean validation (H, T1) of ``rule``."""
    return max(values, key=lambda v: _mean(rows, setting, v, rule))


def run_ablations(profile: str = "cpu", seeds=None, data_root=None, runs_dir=None, training_grid=None,
                  inference_grid=None, progress: bool = True, dataset: str = "SYN") -> dict:
    """Decide every open choice on validation classes; returns the record (the module's docstring).

    1. one factor at a time: a validation model per value of each training choice and seed;
    2. the chosen values together meet validation data too: their combination is kept only if its
       validation metric is at least the best single change's, else that single change is;
    3. on the validation models of that configuration, the scoring choices are chosen;
    4. the book's configuration and the paper's reading are trained on all seen classes and
       evaluated once on the test classes.
    """
    t0 = time.perf_counter()
    training_grid = TRAINING_GRID if training_grid is None else training_grid
    inference_grid = INFERENCE_GRID if inference_grid is None else inference_grid
    experiment = make_experiment(profile, {"dataset": dataset}, seeds)
    base = experiment.config
    for setting, values in {**training_grid, **inference_grid}.items():
        if getattr(base, setting) not in values:
            raise ValueError(f"the grid of {setting} {values} lacks the current default {getattr(base, setting)!r}")
    val_data = prepare_data(base, data_root, progress=progress, split="val", runs_dir=runs_dir)
    rows: list[dict] = []
    trained: dict[str, float] = {}  # run folder → seconds its epochs took, wherever and whenever they ran

    def log(text: str) -> None:
        if progress:
            print(f"[{time.perf_counter() - t0:6.0f} s] {text}", flush=True)

    def validate(name: str, value, overrides: dict, seed: int):
        cfg = with_settings(base, seed=seed, **overrides)
        model, history, _ = train_sgma(val_data, cfg, runs_dir, progress=False)
        trained[json.dumps(config_dict(cfg), sort_keys=True) + "val"] = sum(h["seconds"] for h in history)
        rows.extend(_rows(name, value, seed, "val", sgma_rule_scores(model, val_data, cfg), val_data))
        log(f"seed {seed}: {name} = {value!r}")
        return model, cfg

    for seed in experiment.seeds:  # 1. one factor at a time
        for setting, values in training_grid.items():
            for value in values:
                validate(setting, value, {setting: value}, seed)
        validate("PAPER_READING", "paper_reading", PAPER_READING, seed)
    one_factor = {s: choose(rows, s, v, "compat") for s, v in training_grid.items()}

    combination = {s: v for s, v in one_factor.items() if v != getattr(base, s)}  # 2. together
    for seed in experiment.seeds:
        validate("COMBINED", "combined", combination, seed)
    singles = [(s, v) for s, values in training_grid.items() for v in values]
    best_single = max(singles, key=lambda sv: _mean(rows, sv[0], sv[1], "compat"))
    combined_score, single_score = _mean(rows, "COMBINED", "combined", "compat"), _mean(rows, *best_single, "compat")
    training = combination if combined_score >= single_score else (
        {} if best_single[1] == getattr(base, best_single[0]) else {best_single[0]: best_single[1]})

    calibration: dict[str, list[float]] = {}  # 3. scoring choices, on the chosen configuration's models
    for seed in experiment.seeds:
        cfg = with_settings(base, seed=seed, **training)
        model, _, _ = train_sgma(val_data, cfg, runs_dir, progress=False)
        for setting, values in inference_grid.items():
            for value in values:
                scored = with_settings(cfg, **{setting: value})
                rows.extend(_rows(setting, value, seed, "val", sgma_rule_scores(model, val_data, scored), val_data))
        for rule, (su, ss) in sgma_rule_scores(model, val_data, cfg).items():
            gamma, _ = choose_gamma(su, ss, val_data.test_unseen_labels, val_data.test_seen_labels, val_data.n_seen)
            calibration.setdefault(rule, []).append(gamma)
    scoring = {s: choose(rows, s, v, "cct") for s, v in inference_grid.items()}
    chosen = {**{s: training.get(s, getattr(base, s)) for s in training_grid}, **scoring}

    test_data = prepare_data(base, data_root, progress=progress, runs_dir=runs_dir)  # 4. the test classes, once
    for name, overrides in (("BOOK", chosen), ("PAPER_READING", PAPER_READING)):
        for seed in experiment.seeds:
            cfg = with_settings(base, seed=seed, **overrides)
            model, history, _ = train_sgma(test_data, cfg, runs_dir, progress=False)
            trained[json.dumps(config_dict(cfg), sort_keys=True) + "test"] = sum(h["seconds"] for h in history)
            rows.extend(_rows(name, name.lower(), seed, "test", sgma_rule_scores(model, test_data, cfg), test_data))
            log(f"seed {seed}: {name} on the test classes")
    return {
        "selection_metric": SELECTION,
        "chosen": chosen,
        "one_factor": one_factor,
        "combination": {"settings": combination, "val_H_T1": list(combined_score),
                        "best_single": {"setting": best_single[0], "value": best_single[1],
                                        "val_H_T1": list(single_score)},
                        "kept": "combination" if training == combination else "best single change"},
        "defaults": {s: getattr(base, s) for s in chosen},
        "paper_reading": PAPER_READING,
        "calibration_gamma": {rule: float(np.mean(g)) for rule, g in calibration.items()},
        "grids": {"training": {s: list(v) for s, v in training_grid.items()},
                  "inference": {s: list(v) for s, v in inference_grid.items()}},
        "validation": {"classes_seen": val_data.n_seen, "classes_unseen": val_data.n_unseen,
                       "images_train": len(val_data.train.labels)},
        "runs": rows,
        "provenance": {"profile": profile, "dataset": dataset, "seeds": list(experiment.seeds), "commit": current_commit(),
                       "date": time.strftime("%Y-%m-%d %H:%M %Z"),
                       "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}"
                                  f"{', ' + torch.cuda.get_device_name() if torch.cuda.is_available() else ''}",
                       "seconds": round(time.perf_counter() - t0, 1),
                       "sgma_runs": len(trained), "sgma_training_seconds": round(sum(trained.values()), 1),
                       "config": config_dict(base)},
    }


def read_record(path: str | Path) -> dict:
    """A record written by :func:`run_ablations` (``results/ablations-<profile>.json``)."""
    return json.loads(Path(path).read_text())


@command
def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m sgma_core.experiment.ablate",
                                description="Decide every open choice on validation classes; write the record.")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--dataset", default="SYN")
    p.add_argument("--seeds", default=None, help="e.g. 0,1,2 (default: the profile's)")
    p.add_argument("--data-root", default=None)
    p.add_argument("--runs-dir", default=None)
    p.add_argument("--out", default=None,
                   help="default: results/ablations-<profile>.json (…-<profile>-<dataset>.json for a real dataset)")
    add_debug_flag(p)
    args = p.parse_args(argv)
    seeds = None if args.seeds is None else [int(s) for s in args.seeds.split(",")]
    record = run_ablations(args.profile, seeds, args.data_root, args.runs_dir, dataset=args.dataset)
    suffix = "" if args.dataset == "SYN" else f"-{args.dataset}"
    out = write_record(args.out or repo_root() / "results" / f"ablations-{args.profile}{suffix}.json", record)
    print(f"{out}: {len(record['runs'])} rows in {record['provenance']['seconds']:.0f} s; chosen {record['chosen']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
