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

    python -m sgma_core.studies.ablate --profile cpu --out results/ablations-cpu.json   # make ablations

Every run is stored like any other (:mod:`sgma_core.engine.runs`), so an interrupted ablation goes
on where it stopped and the record is rebuilt from the stored runs in seconds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from sgma_core import records
from sgma_core.cli import add_run_options, command, parse_seeds
from sgma_core.data import load_dataset
from sgma_core.engine.runs import Run
from sgma_core.engine.step import resolve_device
from sgma_core.experiment.evaluate import sgma_rule_scores
from sgma_core.experiment.prepare import prepare_data
from sgma_core.experiment.recipes import run_extra, train_sgma
from sgma_core.inference import choose_gamma
from sgma_core.metrics import zsl_gzsl
from sgma_core.paths import repo_root
from sgma_core.profiles import PAPER_READING, config_dict, make_experiment, with_settings
from sgma_core.records import provenance

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


class Ablation:
    """The state of one ablation: the base configuration, the validation data, the record's rows, and how
    long each distinct run's epochs took (keyed by its run folder: one run identity, wherever it ran)."""

    def __init__(self, experiment, val_data, runs_dir, progress: bool) -> None:
        self.base, self.seeds, self.val_data, self.runs_dir = experiment.config, experiment.seeds, val_data, runs_dir
        self.progress, self.t0 = progress, time.perf_counter()
        self.rows: list[dict] = []
        self.trained: dict[str, float] = {}

    def log(self, text: str) -> None:
        if self.progress:
            print(f"[{time.perf_counter() - self.t0:6.0f} s] {text}", flush=True)

    def train(self, prepared, overrides: dict, seed: int):
        """SGMA with the base settings, ``overrides`` and ``seed`` on ``prepared`` (a stored run is reused)."""
        cfg = with_settings(self.base, seed=seed, **overrides)
        model, history, _ = train_sgma(prepared, cfg, self.runs_dir, progress=False)
        self.trained[str(Run.of("sgma", cfg, self.runs_dir, extra=run_extra(prepared)).path)] = \
            sum(h["seconds"] for h in history)
        return model, cfg

    def score(self, name: str, value, seed: int, model, cfg, prepared) -> None:
        self.rows.extend(_rows(name, value, seed, prepared.split, sgma_rule_scores(model, prepared, cfg), prepared))

    def validate(self, name: str, value, overrides: dict, seed: int) -> None:
        """A validation model with ``overrides``, scored into the rows as ``name = value``."""
        model, cfg = self.train(self.val_data, overrides, seed)
        self.score(name, value, seed, model, cfg, self.val_data)
        self.log(f"seed {seed}: {name} = {value!r}")


def _one_factor(ab: Ablation, training_grid: dict) -> dict:
    """Step 1: a validation model per value of each training choice and seed; the best value of each."""
    for seed in ab.seeds:
        for setting, values in training_grid.items():
            for value in values:
                ab.validate(setting, value, {setting: value}, seed)
        ab.validate("PAPER_READING", "paper_reading", PAPER_READING, seed)
    return {s: choose(ab.rows, s, v, "compat") for s, v in training_grid.items()}


def _together(ab: Ablation, training_grid: dict, one_factor: dict) -> tuple[dict, dict]:
    """Step 2: the chosen values trained together, kept only if validation says they are at least as good
    as the best single change. Returns the training settings kept and the record's ``combination``."""
    base = ab.base
    combination = {s: v for s, v in one_factor.items() if v != getattr(base, s)}
    try:  # values chosen one at a time may not go together (alternating epochs with nothing to train)
        with_settings(base, **combination)
        refused = None
    except ValueError as exc:
        refused = str(exc)
    if refused is None:
        for seed in ab.seeds:
            ab.validate("COMBINED", "combined", combination, seed)
    singles = [(s, v) for s, values in training_grid.items() for v in values]
    best_single = max(singles, key=lambda sv: _mean(ab.rows, sv[0], sv[1], "compat"))
    single_score = _mean(ab.rows, *best_single, "compat")
    combined_score = (float("-inf"), float("-inf")) if refused else _mean(ab.rows, "COMBINED", "combined", "compat")
    training = combination if combined_score >= single_score else (
        {} if best_single[1] == getattr(base, best_single[0]) else {best_single[0]: best_single[1]})
    record = {"settings": combination, "val_H_T1": None if refused else list(combined_score),
              "best_single": {"setting": best_single[0], "value": best_single[1], "val_H_T1": list(single_score)},
              "kept": "combination" if training == combination else "best single change"}
    if refused:
        record["refused"] = refused
    return training, record


def _scoring(ab: Ablation, training: dict, inference_grid: dict) -> tuple[dict, dict]:
    """Step 3: the scoring choices, on the validation models of the kept training settings; and the
    calibration γ of each rule chosen there."""
    calibration: dict[str, list[float]] = {}
    val = ab.val_data
    for seed in ab.seeds:
        model, cfg = ab.train(val, training, seed)
        for setting, values in inference_grid.items():
            for value in values:
                ab.score(setting, value, seed, model, with_settings(cfg, **{setting: value}), val)
        for rule, (su, ss) in sgma_rule_scores(model, val, cfg).items():
            gamma, _ = choose_gamma(su, ss, val.test_unseen_labels, val.test_seen_labels, val.n_seen)
            calibration.setdefault(rule, []).append(gamma)
    scoring = {s: choose(ab.rows, s, v, "cct") for s, v in inference_grid.items()}
    return scoring, {rule: float(np.mean(g)) for rule, g in calibration.items()}


def _on_test_classes(ab: Ablation, chosen: dict, test_data) -> None:
    """Step 4: the book's configuration and the paper's reading, on all seen classes, evaluated once on
    the test classes (which drive nothing)."""
    for name, overrides in (("BOOK", chosen), ("PAPER_READING", PAPER_READING)):
        for seed in ab.seeds:
            model, cfg = ab.train(test_data, overrides, seed)
            ab.score(name, name.lower(), seed, model, cfg, test_data)
            ab.log(f"seed {seed}: {name} on the test classes")


def run_ablations(profile: str = "cpu", seeds=None, data_root=None, runs_dir=None, training_grid=None,
                  inference_grid=None, progress: bool = True, dataset: str = "SYN") -> dict:
    """Decide every open choice on validation classes; returns the record (the module's docstring):
    one factor at a time (:func:`_one_factor`), the chosen values together (:func:`_together`), the
    scoring choices (:func:`_scoring`), and the test classes once per configuration
    (:func:`_on_test_classes`)."""
    training_grid = TRAINING_GRID if training_grid is None else training_grid
    inference_grid = INFERENCE_GRID if inference_grid is None else inference_grid
    experiment = make_experiment(profile, {"dataset": dataset}, seeds)
    base = experiment.config
    resolve_device(base.device)
    for setting, values in {**training_grid, **inference_grid}.items():
        if getattr(base, setting) not in values:
            raise ValueError(f"the grid of {setting} {values} lacks the current default {getattr(base, setting)!r}")
    val_data = prepare_data(base, data_root, progress=progress, split="val", runs_dir=runs_dir)
    ab = Ablation(experiment, val_data, runs_dir, progress)
    one_factor = _one_factor(ab, training_grid)
    training, combination = _together(ab, training_grid, one_factor)
    scoring, calibration = _scoring(ab, training, inference_grid)
    chosen = {**{s: training.get(s, getattr(base, s)) for s in training_grid}, **scoring}
    _on_test_classes(ab, chosen, prepare_data(base, data_root, progress=progress, runs_dir=runs_dir))
    return {
        "selection_metric": SELECTION, "chosen": chosen, "one_factor": one_factor, "combination": combination,
        "defaults": {s: getattr(base, s) for s in chosen}, "paper_reading": PAPER_READING,
        "calibration_gamma": calibration,
        "grids": {"training": {s: list(v) for s, v in training_grid.items()},
                  "inference": {s: list(v) for s, v in inference_grid.items()}},
        "validation": {"classes_seen": val_data.n_seen, "classes_unseen": val_data.n_unseen,
                       "images_train": len(val_data.train.labels)},
        "runs": ab.rows,
        "provenance": provenance(config_dict(base), time.perf_counter() - ab.t0, profile=profile, dataset=dataset,
                                 data_fingerprint=load_dataset(dataset, data_root).fingerprint(),
                                 seeds=list(experiment.seeds), sgma_runs=len(ab.trained),
                                 sgma_training_seconds=round(sum(ab.trained.values()), 1)),
    }


RECORD_KEYS = ("selection_metric", "chosen", "one_factor", "combination", "defaults", "paper_reading",
               "calibration_gamma", "grids", "validation", "runs", "provenance")


def read_record(path: str | Path) -> dict:
    """A record written by :func:`run_ablations` (``results/ablations-<profile>.json``), checked for every key
    chapter 05 reads; a damaged one is named with the command that writes it again."""
    return records.read_record(path, RECORD_KEYS, remedy="`make ablations` writes it again (its runs are reused).")


def default_path(profile: str, dataset: str = "SYN") -> Path:
    """``results/ablations-<profile>.json`` (``…-<profile>-<dataset>.json`` for a real dataset)."""
    suffix = "" if dataset == "SYN" else f"-{dataset}"
    return repo_root() / "results" / f"ablations-{profile}{suffix}.json"


@command
def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m sgma_core.studies.ablate",
                                description="Decide every open choice on validation classes; write the record.")
    add_run_options(p, parameters=False)
    p.add_argument("--out", default=None,
                   help="default: results/ablations-<profile>.json (…-<profile>-<dataset>.json for a real dataset)")
    args = p.parse_args(argv)
    out = records.writable_output(args.out or default_path(args.profile, args.dataset))  # before the hour of runs
    record = run_ablations(args.profile, parse_seeds(args.seeds), args.data_root, args.runs_dir, dataset=args.dataset)
    out = records.write_record(out, record)
    print(f"{out}: {len(record['runs'])} rows in {record['provenance']['seconds']:.0f} s; chosen {record['chosen']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
