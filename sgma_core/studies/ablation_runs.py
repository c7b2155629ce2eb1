"""The runs of one ablation (:mod:`sgma_core.studies.ablate`): each validation model trained once over its seeds and
scored with its attention check, the book's models scored with every scoring combination, and the test-class
models; what each step measured is kept in the study's ledger (:mod:`sgma_core.studies.ledger`, one folder per
step: the validation runs, ``scoring/`` and ``test/``), so that a study that stopped, or the same study made
again on another machine of the same kind, trains only what no ledger holds. A validation run's entry keeps what
the plateau schedule saw of it (:func:`schedule_of`).

    ab = Ablation(base, seeds, val_data, runs_dir, progress=True, ledger=Ledger(folder))
    ab.validate("lam_div", 10.0, {"lam_div": 10.0}, seed=0)      # a row per rule, and its check
    entry = ab.scored("test", test_data, overrides, seed, measure)  # measure(model, cfg) → a dict, kept
"""

from __future__ import annotations

import json
import time

from sgma_core.engine.runs import Run, read_metrics
from sgma_core.experiment.evaluate import sgma_rule_scores
from sgma_core.experiment.recipes import run_extra, train_sgma
from sgma_core.experiment.where import attention_check_of
from sgma_core.inference import choose_gamma
from sgma_core.metrics import zsl_gzsl
from sgma_core.profiles import with_settings
from sgma_core.studies.ledger import Ledger

METRICS = ("T1", "u", "s", "H")


def _rows(setting: str, value, seed: int, split: str, scores: dict, prepared) -> list[dict]:
    """One record row per rule: ``{setting, value, seed, split, rule, T1, u, s, H}`` (fractions)."""
    labels = (prepared.test_unseen_labels, prepared.test_seen_labels, prepared.n_seen)
    return [{"setting": setting, "value": value, "seed": seed, "split": split, "rule": rule,
             **{k: float(v) for k, v in zsl_gzsl(su, ss, *labels).items() if k in METRICS}}
            for rule, (su, ss) in scores.items()]


class Ablation:
    """The state of one ablation: the base configuration, the validation data, the record's rows, and how
    long each distinct run's epochs took (keyed by its run folder: one run identity, wherever it ran)."""

    def __init__(self, base, seeds, val_data, runs_dir, progress: bool, ledger: Ledger | None = None) -> None:
        self.base, self.seeds, self.val_data, self.runs_dir = base, seeds, val_data, runs_dir
        self.progress, self.t0, self.ledger = progress, time.perf_counter(), ledger or Ledger(None)
        self.rows: list[dict] = []
        self.checks: list[dict] = []  # each validation run's attention check, labelled as its rows
        self.commits: set[str] = set()  # the code each validation run was trained and scored with
        self.step_commits: set[str] = set()  # the code the scoring and test-class steps' entries were made with
        self.trained: dict[str, float] = {}
        self.histories: dict[str, list[dict]] = {}  # the epoch records of the runs this study trained or read
        self.schedules: list[dict] = []  # each validation run's schedule (schedule_of), labelled as its rows

    def log(self, text: str) -> None:
        if self.progress:
            print(f"[{time.perf_counter() - self.t0:6.0f} s] {text}", flush=True)

    def train(self, prepared, overrides: dict, seed: int):
        """SGMA with the base settings, ``overrides`` and ``seed`` on ``prepared`` (a stored run is reused)."""
        cfg = with_settings(self.base, seed=seed, **overrides)
        model, history, _ = train_sgma(prepared, cfg, self.runs_dir, progress=False)
        path = str(Run.of("sgma", cfg, self.runs_dir, extra=run_extra(prepared, cfg)).path)
        self.trained[path], self.histories[path] = sum(h["seconds"] for h in history), history
        return model, cfg

    def scored(self, step: str, prepared, overrides: dict, seed: int, measure) -> dict:
        """What ``measure(model, cfg)`` (a dict) found of a model with ``overrides``: from the ledger of ``step``
        where it holds the run, else the model is trained (or read from its folder), measured and written there."""
        ledger = self.ledger.sub(step)
        run, identity, entry = ledger.lookup("sgma", with_settings(self.base, seed=seed, **overrides), self.runs_dir,
                                             prepared)
        if entry is None:
            model, cfg = self.train(prepared, overrides, seed)
            entry = ledger.put(run, identity, {**measure(model, cfg), "seconds": round(self.trained[str(run.path)], 1)})
        self.trained[str(run.path)] = entry["seconds"]
        self.step_commits.add(entry["commit"])
        return entry

    def validate(self, name: str, value, overrides: dict, seed: int) -> None:
        """A validation model with ``overrides``, scored into the rows as ``name = value`` with its attention
        check; read from the ledger where it holds the run, else trained (or read from its folder) and written
        there."""
        cfg = with_settings(self.base, seed=seed, **overrides)
        run, identity, entry = self.ledger.lookup("sgma", cfg, self.runs_dir, self.val_data)
        if entry is None:
            model, cfg = self.train(self.val_data, overrides, seed)
            scores = scores_of(model, cfg, self.val_data)
            entry = self.ledger.put(run, identity, {"scores": scores, "check": attention_check_of(model, self.val_data,
                                                                                                   cfg),
                                                    "seconds": round(self.trained[str(run.path)], 1),
                                                    "schedule": schedule_of(self.histories[str(run.path)], cfg)})
        elif "schedule" not in entry and len(history := read_metrics(run.path)) == cfg.epochs:
            # an entry written before entries kept the schedule: read it from the run's own epochs, where they are
            entry = self.ledger.amend(run, identity, {"schedule": schedule_of(history, cfg)})
        if "schedule" in entry:
            self.schedules.append({"setting": name, "value": value, "seed": seed, **entry["schedule"]})
        self.trained[str(run.path)] = entry["seconds"]
        self.commits.add(entry["commit"])
        self.rows.extend({"setting": name, "value": value, "seed": seed, "split": "val", "rule": rule, **m}
                         for rule, m in entry["scores"].items())
        self.checks.append({"setting": name, "value": value, "seed": seed, **entry["check"]})
        self.log(f"seed {seed}: {name} = {value!r}")


def schedule_of(history: list[dict], cfg) -> dict:
    """What the plateau schedule (ReduceLROnPlateau on the epoch's training loss) saw of a run's ``history``: the
    number of epochs trained before it first cut the learning rate (``None``: never), and the share of the last
    epoch's training loss that eqs. (5)–(6) make (L_CPT + λ L_DIV), whatever they train."""
    cut = next((i for i, h in enumerate(history) if h["lr"] < history[0]["lr"]), None)
    last = history[-1]
    return {"lr_cut_after_epoch": cut,
            "attention_share": (last["loss_cpt"] + cfg.lam_div * last["loss_div"]) / last["train_loss"]}


def scores_of(model, cfg, prepared) -> dict:
    """``{rule: {T1, u, s, H}}`` of a model on ``prepared``'s test sets."""
    return {r["rule"]: {k: r[k] for k in METRICS}
            for r in _rows("", None, cfg.seed, prepared.split, sgma_rule_scores(model, prepared, cfg), prepared)}


def scoring_of(model, cfg, val, combos: list[dict]) -> dict:
    """A validation model scored with every scoring combination (``scores``, keyed by the combination as JSON),
    and the calibration γ of each rule at its own settings (``gamma``)."""
    gamma = {rule: float(choose_gamma(su, ss, val.test_unseen_labels, val.test_seen_labels, val.n_seen)[0])
             for rule, (su, ss) in sgma_rule_scores(model, val, cfg).items()}
    return {"scores": {json.dumps(c, sort_keys=True): scores_of(model, with_settings(cfg, **c), val) for c in combos},
            "gamma": gamma}


