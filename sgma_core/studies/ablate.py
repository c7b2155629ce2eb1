"""Every choice the paper leaves open, decided on validation classes (METHOD §12), the paper's reading run beside
the book's. Declared before anything runs (:data:`SELECTION`): validation T1 decides, among readings whose
attention is alive (admissible before preferred).

1. The attention's interacting choices (:data:`ATTENTION_GRID`) searched together from :data:`START`.
2. Where the search ends, each other training choice (:data:`TRAINING_GRID`) one at a time (adopted only on a
   paired gain above two standard errors over the paper's reading); the search goes on from its end at the
   values adopted (``retest``); then eq. (10)'s ρ and prototypes.
3. The book's configuration and the paper's reading scored once on the test classes, which drive nothing. ::

    python -m sgma_core.studies.ablate --profile cpu      # make ablations: seeds 0-4 (SEEDS), paired

Runs are stored, each step's measures in the ledger beside the record (:mod:`sgma_core.studies.ablation_runs`):
a study goes on where it stopped, here or elsewhere, and the record is remade without training.
"""
from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np

from sgma_core import child_processes, records
from sgma_core.admissibility import summarise_checks
from sgma_core.cli import add_run_options, command, parse_seeds, positive_int
from sgma_core.data import load_dataset
from sgma_core.engine.step import resolve_device
from sgma_core.experiment.prepare import prepare_data
from sgma_core.paths import repo_root, runs_root
from sgma_core.profiles import PAPER_READING, config_dict, make_experiment, with_settings
from sgma_core.records import provenance
from sgma_core.stats import beats, paired
from sgma_core.studies import add_retrain_option, helper_processes, retrain_runs_dir
from sgma_core.studies.ablation_runs import Ablation, scores_of, scoring_of
from sgma_core.studies.ledger import Ledger, LedgerError
from sgma_core.studies.search import search

SEEDS = (0, 1, 2, 3, 4)  # the seeds every value is paired on (the adoption rule needs at least 5)

# The attention's choices, searched together (step 1): each interacts with the others.
ATTENTION_GRID: dict[str, tuple] = {
    "attention_norm": ("standardize", "standardize_learned", "none"),
    "attention_training": ("full", "heads", "none"),
    "centre_rule": ("peak", "learned"),
    "grouping_smoothing": (0.0, 0.1),
    "joint_size": (32, 64),  # the branches' input: half the image (the paper's ratio) or the pretraining size
}  # joint_size: the cpu profile's; another profile's are half its image size and the image size (branch_sizes)
MAX_MOVES = 4
RETEST = "RETEST"  # the rows of the search gone on from its end at the adopted training values (step 2b)
# The values tried for each other choice that changes training (the reference among them), one at a time.
TRAINING_GRID: dict[str, tuple] = {
    "cct_negatives": ("hardest", "mean", "all"),
    "shared_W": (False, True),
    "lam_div": (1.0, 0.1, 10.0),
    "alpha_cls": (1.0, 0.3, 3.0),
    "beta_cct": (1.0, 0.1, 10.0),
    "training_schedule": ("joint", "alternating"),
}
# The values tried for the choices that only change how a trained model is scored; every pair is tried.
SCORING_GRID: dict[str, tuple] = {
    "ridge_lambda": (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0),
    "prototype_norm": (False, True),
}
# Where the search starts: the paper's reading with eq. (3)'s map standardised (the literal eq. (3) drives its
# maps to a constant; it is a neighbour, and the record shows its check), the branches at half the image
# (pinned, so that a later run of the study trains the same validation models whatever the defaults become).
START: dict = {"attention_norm": "standardize", "attention_training": "full", "centre_rule": "peak",
               "grouping_smoothing": 0.0, "joint_size": 32, "cct_negatives": "all", "shared_W": False,
               "lam_div": 1.0, "alpha_cls": 1.0, "beta_cct": 1.0, "training_schedule": "joint", "ridge_lambda": 1e-4,
               "prototype_norm": True}
SELECTION = {
    "metric": "validation T1 (per-class top-1 on the validation classes, ZSL), paired by seed",
    "training": "the compat rule's validation T1",
    "scoring": "the cct rule's validation T1 (the rule eq. (10) acts on)",
    "adoption": "a value replaces the reference (the paper's reading, or the starting value where the paper "
                "gives none) only if its mean paired gain exceeds two standard errors (ddof = 1); of several, "
                "the largest mean gain",
    "ridge": "rho is not given by the paper: for each prototype normalisation the rho of best mean validation T1",
}
# How the attention's choices are searched (step 1), stated in the record's "search"
SEARCH_RULE = {
    "admissible": "a reading whose attention check passes by its seeds' mean (sgma_core.admissibility): only "
                  "such readings are candidates",
    "moves": "from the start, to the admissible neighbour of largest paired validation-T1 gain above two standard "
             "errors (compat rule); the new point is re-tested against all its neighbours; the search stops where "
             "none beats it, or after max_moves moves",
    "inadmissible": "a point that is not admissible gives way to its admissible neighbour of best mean validation "
                    "T1; where no neighbour is admissible, to the admissible reading of best mean validation T1 two "
                    "changes away, else three, and so on; it stays only where no reading of the grid is admissible",
    "one_factor": "where the search ends, a value of another choice is adopted only if its attention passes the "
                  "check too",
}
def by_seed(rows: list[dict], setting: str, value, rule: str, split: str = "val", metric: str = "T1") -> dict:
    """``{seed: metric}`` of the rows of ``setting = value`` scored by ``rule`` on ``split``."""
    return {r["seed"]: r[metric] for r in rows if r["setting"] == setting and r["value"] == value
            and r["rule"] == rule and r["split"] == split}


def adopt(gains: list[dict], reference):
    """The adoption rule: the value of largest mean gain among those whose gain exceeds two standard errors (and
    whose attention passes its check, where the gain says: ``"admissible"``), else ``reference``. ``gains``:
    ``[{"value": v, "gain": paired(…) or None, "admissible": bool (optional)}]``."""
    passing = [g for g in gains if beats(g["gain"]) and g.get("admissible", True)]
    return max(passing, key=lambda g: g["gain"]["mean"])["value"] if passing else reference


def decide(rows: list[dict], setting: str, values, reference, rule: str = "compat", checks=None) -> dict:
    """One choice: the paired validation-T1 gain of every other value over ``reference``, and what is adopted
    (with ``checks``, the record's attention checks: only a value whose attention passes, by its seeds' mean)."""
    ref = by_seed(rows, setting, reference, rule)
    gains = [{"value": v, "gain": paired(by_seed(rows, setting, v, rule), ref)} for v in values if v != reference]
    for g in gains if checks else ():
        mine = [c for c in checks if c["setting"] == setting and c["value"] == g["value"]]
        g["admissible"] = bool(mine) and summarise_checks(mine)["passed"]
    return {"reference": reference, "adopted": adopt(gains, reference), "gains": gains}


def reference_of(setting: str, base):
    """The paper's reading of ``setting``, or ``base``'s value where the paper gives none."""
    return PAPER_READING.get(setting, getattr(base, setting))


def branch_sizes(attention_grid: dict, image_size: int) -> tuple[dict, dict]:
    """The grid and :data:`START` for a profile's image size: the branches at half the image (the paper's
    ratio, where the search starts) or at the image's own size (where the backbone was pretrained)."""
    start = {**START, "joint_size": image_size // 2}
    if "joint_size" not in attention_grid:
        return attention_grid, start
    return {**attention_grid, "joint_size": (image_size // 2, image_size)}, start


def _one_factor(ab: Ablation, training_grid: dict, paper_reading: dict) -> dict:
    """Step 2: where the search ended, a validation model per value of each other training choice and seed,
    and the paper's reading; the decision of each choice (a value that cannot train there is listed in the
    decision's ``refused`` with the reason, and never trained)."""
    refused: dict[str, list[dict]] = {}
    for setting, values in training_grid.items():
        for value in values:
            try:
                with_settings(ab.base, **{setting: value})
            except ValueError as exc:  # e.g. alternating epochs where the search ended at a frozen attention
                refused.setdefault(setting, []).append({"value": value, "reason": str(exc)})
    trainable = {s: [v for v in values if all(r["value"] != v for r in refused.get(s, []))]
                 for s, values in training_grid.items()}
    for seed in ab.seeds:
        ab.validate("PAPER_READING", "paper_reading", paper_reading, seed)
        ab.validate("SEARCHED", "searched", {}, seed)
        for setting, values in trainable.items():
            for value in values:
                ab.validate(setting, value, {setting: value}, seed)
    return {s: {**decide(ab.rows, s, v, reference_of(s, ab.base), checks=ab.checks),
                **({"refused": refused[s]} if s in refused else {})} for s, v in trainable.items()}


def _together(ab: Ablation, decisions: dict) -> tuple[dict, dict]:
    """Step 2: the adopted values trained together on validation. Values adopted one at a time that cannot
    train together (alternating epochs with nothing to train) give way to the single one of largest gain; values
    whose attention fails its check together (``inadmissible``) give way to the searched point. Returns the
    training settings and the record's ``book_on_validation``."""
    training = {s: d["adopted"] for s, d in decisions.items() if d["adopted"] != getattr(ab.base, s)}
    record: dict = {}
    try:
        with_settings(ab.base, **training)
    except ValueError as exc:
        record["refused"] = {"settings": dict(training), "reason": str(exc)}
        gain = {s: max(g["gain"]["mean"] for g in d["gains"] if g["value"] == d["adopted"])
                for s, d in decisions.items() if s in training}
        best = max(gain, key=gain.get)
        training = {best: training[best]}
    for seed in ab.seeds:
        ab.validate("BOOK", "book", training, seed)
    together = summarise_checks([c for c in ab.checks if c["setting"] == "BOOK"])
    searched = [c for c in ab.checks if c["setting"] == "SEARCHED"]
    if training and not together["passed"] and (not searched or summarise_checks(searched)["passed"]):
        # each value passed alone, not together, where the searched point passes: the searched point stays, and
        # the combination's rows and checks are kept under their own label
        for item in (*ab.rows, *ab.checks):
            if item["setting"] == "BOOK":
                item["setting"] = "BOOK_TOGETHER"
        record["inadmissible"] = {"settings": dict(training), "check": together, "vs_searched": paired(
            by_seed(ab.rows, "BOOK_TOGETHER", "book", "compat"), by_seed(ab.rows, "SEARCHED", "searched", "compat"))}
        training = {}
        for seed in ab.seeds:
            ab.validate("BOOK", "book", training, seed)
    book = by_seed(ab.rows, "BOOK", "book", "compat")
    record.update({"settings": training,
                   "vs_searched": paired(book, by_seed(ab.rows, "SEARCHED", "searched", "compat")),
                   "vs_paper_reading": paired(book, by_seed(ab.rows, "PAPER_READING", "paper_reading", "compat"))})
    return training, record


def _retest(ab: Ablation, attention_grid: dict, end: dict, training: dict, max_moves: int) -> dict:
    """Step 2b: the loss weights and other training values adopted where the search ended may change which
    attention reading is best, so the search goes on from its end with them (rows labelled ``RETEST``): the end
    against each of its neighbours, moving only as the search moves. Returns the record's ``retest``, with the
    training values it ran at; ``ab.base`` takes the attention settings it ends at."""
    searched_base = ab.base
    ab.base = with_settings(searched_base, **training)
    found = search(ab, attention_grid, end, max_moves, label=RETEST)
    ab.base = with_settings(searched_base, **found["end"])
    return {"training": dict(training), **found}


def _scoring(ab: Ablation, training: dict, scoring_grid: dict) -> tuple[dict, dict, dict]:
    """Step 3: the scoring choices together, on the book's validation models: the settings the paper gives
    (read) by the adoption rule, each tried at its best tuned values (those it does not give); and the
    calibration γ of each rule there. Returns the chosen scoring settings, the decision and the γ."""
    calibration: dict[str, list[float]] = {}
    val, names = ab.val_data, list(scoring_grid)
    combos = [dict(zip(names, values)) for values in itertools.product(*scoring_grid.values())]
    for seed in ab.seeds:
        entry = ab.scored("scoring", val, training, seed, lambda model, cfg: scoring_of(model, cfg, val, combos))
        if sorted(entry["scores"]) != sorted(json.dumps(c, sort_keys=True) for c in combos):
            raise LedgerError(f"{ab.ledger.sub('scoring').folder} holds the scoring of other combinations for seed "
                              f"{seed}; delete its file for that run to score the book's model again.")
        for combo in combos:
            ab.rows.extend({"setting": "SCORING", "value": combo, "seed": seed, "split": "val", "rule": rule, **m}
                           for rule, m in entry["scores"][json.dumps(combo, sort_keys=True)].items())
        for rule, gamma in entry["gamma"].items():
            calibration.setdefault(rule, []).append(gamma)
    if not combos or not names:
        return {}, {}, {rule: float(np.mean(g)) for rule, g in calibration.items()}
    read = [n for n in names if n in PAPER_READING]

    def best_tuned(fixed: dict) -> dict:  # the combination of best mean T1 among those with the read values `fixed`
        group = [c for c in combos if all(c[n] == fixed[n] for n in read)]
        return max(group, key=lambda c: np.mean(list(by_seed(ab.rows, "SCORING", c, "cct").values())))

    groups = {json.dumps([c[n] for n in read]): best_tuned(c) for c in combos}
    reference = best_tuned({n: PAPER_READING[n] for n in read})
    ref = by_seed(ab.rows, "SCORING", reference, "cct")
    gains = [{"value": c, "gain": paired(by_seed(ab.rows, "SCORING", c, "cct"), ref)}
             for c in groups.values() if c != reference]
    chosen = adopt(gains, reference)
    return chosen, {"reference": reference, "adopted": chosen, "gains": gains, "read": read}, \
        {rule: float(np.mean(g)) for rule, g in calibration.items()}


def _on_test_classes(ab: Ablation, chosen: dict, paper_reading: dict, test_data) -> None:
    """Step 4: the book's configuration and the paper's reading, on all seen classes, scored once on the test
    classes (which drive nothing)."""
    for name, overrides in (("BOOK", chosen), ("PAPER_READING", paper_reading)):
        for seed in ab.seeds:
            entry = ab.scored("test", test_data, overrides, seed,
                              lambda model, cfg: {"scores": scores_of(model, cfg, test_data)})
            ab.rows.extend({"setting": name, "value": name.lower(), "seed": seed, "split": test_data.split,
                            "rule": rule, **m} for rule, m in entry["scores"].items())
            ab.log(f"seed {seed}: {name} on the test classes")


def run_ablations(profile: str = "cpu", seeds=None, data_root=None, runs_dir=None, training_grid=None,
                  scoring_grid=None, progress: bool = True, dataset: str = "SYN", attention_grid=None,
                  ledger: str | Path | None = None, max_moves: int = MAX_MOVES, retrain: bool = False) -> dict:
    """Decide every open choice on validation classes; returns the record (the module's docstring).
    ``ledger``: the folder of the study's ledger (None: none); ``retrain``: its rows another library trained
    are trained again (:class:`~sgma_core.studies.ledger.Ledger`)."""
    training_grid = TRAINING_GRID if training_grid is None else training_grid
    scoring_grid = SCORING_GRID if scoring_grid is None else scoring_grid
    attention_grid = ATTENTION_GRID if attention_grid is None else attention_grid
    experiment = make_experiment(profile, {"dataset": dataset}, SEEDS if seeds is None else seeds)
    attention_grid, start = branch_sizes(attention_grid, experiment.config.image_size)
    grids = {**attention_grid, **training_grid, **scoring_grid}
    base = with_settings(experiment.config, **{s: v for s, v in start.items() if s in grids})
    resolve_device(base.device)
    for setting, values in grids.items():
        for name, value in (("starting value", getattr(base, setting)),
                            ("paper's reading", reference_of(setting, base))):
            if value not in values:
                raise ValueError(f"the grid of {setting} {values} lacks its {name} {value!r}")
    val_data = prepare_data(base, data_root, progress=progress, split="val", runs_dir=runs_dir)
    ab = Ablation(base, experiment.seeds, val_data, runs_dir, progress, Ledger(ledger, retrain))
    searched = {"rule": SEARCH_RULE, **search(ab, attention_grid, {s: getattr(base, s) for s in attention_grid},
                                               max_moves)}
    ab.base = base = with_settings(base, **searched["end"])
    paper_reading = {**PAPER_READING, "joint_size": start["joint_size"]}  # its branches at half the image
    decisions = _one_factor(ab, training_grid, paper_reading)
    training, book_val = _together(ab, decisions)
    retest = _retest(ab, attention_grid, searched["end"], training, max_moves)
    base = ab.base
    scoring, scoring_decision, calibration = _scoring(ab, training, scoring_grid)
    chosen = {**retest["end"], **{s: training.get(s, getattr(base, s)) for s in training_grid}, **scoring}
    # the paper's reading (its branches at half the image) with the ρ its own normalisation scores best at on
    # validation (the scoring step's reference, stated in the record), the book's values of anything else it lacks
    paper_reading = {**paper_reading, "ridge_lambda": base.ridge_lambda,
                     **{s: v for s, v in scoring.items() if s not in PAPER_READING},
                     **scoring_decision.get("reference", {})}
    _on_test_classes(ab, chosen, paper_reading, prepare_data(base, data_root, progress=progress, runs_dir=runs_dir))
    return {
        "selection_metric": SELECTION, "chosen": chosen, "search": searched, "retest": retest, "decisions": decisions,
        "book_on_validation": book_val, "scoring": scoring_decision, "start": start, "checks": ab.checks,
        "schedules": ab.schedules,
        "paper_reading": PAPER_READING, "paper_reading_as_run": paper_reading, "calibration_gamma": calibration,
        "grids": {"attention": {s: list(v) for s, v in attention_grid.items()},
                  "training": {s: list(v) for s, v in training_grid.items()},
                  "scoring": {s: list(v) for s, v in scoring_grid.items()}},
        "validation": {"classes_seen": val_data.n_seen, "classes_unseen": val_data.n_unseen,
                       "images_train": len(val_data.train.labels)},
        "runs": ab.rows,
        "provenance": provenance(config_dict(base), time.perf_counter() - ab.t0, profile=profile, dataset=dataset,
                                 **load_dataset(dataset, data_root).data_provenance(runs_root(runs_dir) / "cache"),
                                 seeds=list(experiment.seeds), sgma_runs=len(ab.trained),
                                 validation_runs_made_at=sorted(ab.commits),
                                 scoring_and_test_runs_made_at=sorted(ab.step_commits),
                                 sgma_training_seconds=round(sum(ab.trained.values()), 1)),
    }


RECORD_KEYS = ("selection_metric", "chosen", "decisions", "book_on_validation", "scoring", "start", "paper_reading",
               "paper_reading_as_run", "calibration_gamma", "grids", "validation", "runs", "provenance")


# the numbers chapter 05 and the agreement read, each refused where it is not a number
RECORD_NUMBERS = ("runs[].seed", "runs[].T1", "runs[].u", "runs[].s", "runs[].H", "decisions.*.gains[].gain.mean",
                  "decisions.*.gains[].gain.se", "calibration_gamma.*")


def read_record(path: str | Path) -> dict:
    """A record written by :func:`run_ablations` (``results/ablations-<profile>.json``), checked for every key
    and number chapter 05 reads; a damaged one is named with the command that writes it again."""
    return records.read_record(path, RECORD_KEYS, "`make ablations` writes it again (its runs are reused).",
                               RECORD_NUMBERS)


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
    p.add_argument("--jobs", type=positive_int, default=1,
                   help="processes training at once: the others take the same path in another seed order, sharing "
                        "the runs and the ledger, and write no record (default 1)")
    p.add_argument("--helper", action="store_true", help=argparse.SUPPRESS)  # one of those others
    add_retrain_option(p)
    args = p.parse_args(argv)
    retrain_runs_dir(args)
    out = records.writable_output(args.out or default_path(args.profile, args.dataset))  # before the hour of runs
    args.seeds = parse_seeds(args.seeds)
    helpers = helper_processes("sgma_core.studies.ablate", argv, args, SEEDS)
    try:
        record = run_ablations(args.profile, args.seeds, args.data_root, args.runs_dir, dataset=args.dataset,
                               ledger=out.parent / "ledger" / out.stem, progress=not args.helper,
                               retrain=args.retrain)
    finally:
        child_processes.end(helpers)
    if args.helper:
        return 0
    out = records.write_record(out, record)
    print(f"{out}: {len(record['runs'])} rows in {record['provenance']['seconds']:.0f} s; chosen {record['chosen']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
