"""More seeds where a decision's gain is uncertain: the power behind chapter 05's decisions.

Where the five-seed paired validation-T1 gain that a decision rests on has a standard error above :data:`SE_BAR`
(an adopted value: a move of the search or its retest, a training or scoring value adopted; or an admissible value
not adopted, where the reference was kept), this study trains both sides on further seeds (5, 6, …), one at a time,
until the standard error is at most the bar or :data:`MAX_SEEDS` seeds are paired, and records the gain on every
seed beside the five-seed one and whether it is above two standard errors. It decides nothing itself: where an
adoption no longer holds, or a kept reference no longer would be, the record says so and the ablation is the place
to act. Both sides' settings come from the ablation record, its five seeds from its ledger (all must be there), and
new runs go into that ledger (a scoring value's sides: the book's model of that seed, scored): the study goes on
where it stopped. ::

    python -m sgma_core.studies.power --profile cpu      # make power (--jobs 2): after make ablations
    python -m sgma_core.studies.power --stored-only      # the record of the seeds trained so far
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

from sgma_core.paths import repo_root
from sgma_core.studies import study_command
from sgma_core.studies.search import moves

SE_BAR = 0.02  # a decision's paired standard error, in T1 (2 points), above which seeds are added
MAX_SEEDS = 30  # the most seeds a comparison is paired on
FIRST_SEEDS = (0, 1, 2, 3, 4)  # the ablation's


def comparisons(record: dict) -> list[dict]:
    """The comparisons an ablation ``record``'s decisions rest on: ``name``, the ``base`` they are run on
    (``"start"``: the search's, ``"searched"``: where it ended, ``"retest"``: that with the adopted training
    values), the ``adopted`` and ``reference`` sides (overrides of that base; for a scoring value, the scoring
    settings the base's model is scored with, and ``combos``: all the grid's), their five-seed ``gain`` and their
    ``kind``: ``"adopted"``, or ``"kept"`` for an admissible value not adopted where the decision kept the reference
    (``adopted`` is then the side that would have been). A move away from a reading whose attention fails its
    check is none, nor is a value that fails it: admissibility decided those, not a gain."""
    out = []
    for key, base in (("search", "start"), ("retest", "retest")):
        rounds = (record.get(key) or {}).get("rounds", [])
        forced = {json.dumps(r["point"], sort_keys=True) for r in rounds if not r.get("check", {}).get("passed", True)}
        for before, after, move in moves(record.get(key) or {}):
            if json.dumps(before, sort_keys=True) in forced:
                continue  # a move away from a reading whose attention fails its check: no gain decided it
            said = (", ".join(f"{s} = {v!r}" for s, v in move["value"].items()) if isinstance(move["value"], dict)
                    else f"{move['setting']} = {move['value']!r}")
            out.append({"name": f"{said} ({key})", "base": base, "kind": "adopted",
                        "setting": move["setting"], "value": move["value"],
                        "adopted": dict(after), "reference": dict(before), "gain": move["gain"]})
    decided = [(setting, d, "searched", None) for setting, d in record["decisions"].items()]
    if (record.get("scoring") or {}).get("gains"):
        grid = record["grids"]["scoring"]
        decided.append(("scoring", record["scoring"], "retest",
                        [dict(zip(grid, values)) for values in itertools.product(*grid.values())]))
    for setting, decision, base, scoring in decided:
        for g in decision["gains"]:
            adopted = g["value"] == decision["adopted"]
            kept = decision["adopted"] == decision["reference"] and g.get("admissible", True)
            if g["gain"] and (adopted or kept):
                name = (", ".join(f"{s} = {v!r}" for s, v in g["value"].items()) + " (scoring)" if scoring
                        else f"{setting} = {g['value']!r}")
                sides = (g["value"], decision["reference"]) if scoring else ({setting: g["value"]},
                                                                            {setting: decision["reference"]})
                out.append({"name": name, "base": base, "setting": setting, "value": g["value"],
                            "kind": "adopted" if adopted else "kept", "adopted": sides[0], "reference": sides[1],
                            "gain": g["gain"], **({"combos": scoring} if scoring else {})})
    return out


def bases(record: dict, config) -> dict:
    """The three bases of :func:`comparisons` from the profile's ``config`` and the ablation ``record``, built as
    the ablation built them: its start (for every setting of its grids), where the search ended, and that with
    the training values the retest ran at."""
    from sgma_core.profiles import with_settings

    grids = {s for kind in record["grids"].values() for s in kind}
    start = with_settings(config, **{s: v for s, v in record["start"].items() if s in grids})
    searched = with_settings(start, **record["search"]["end"])
    retest = with_settings(searched, **(record.get("retest") or {}).get("training", {}))
    return {"start": start, "searched": searched, "retest": retest}


def _side(ab, base, overrides: dict, seed: int, train: bool, label: str = "POWER",
          combos: list[dict] | None = None) -> float | None:
    """The compat rule's validation T1 of one side on one seed: from the ablation's ledger, else trained where
    ``train`` (else None). Its rows stay out of the ablation's own. With the scoring grid's ``combos``, the side
    is the scoring settings ``overrides`` and its T1 the cct rule's (the rule they act on) on the base's model, as
    the ablation's scoring step keeps it (every combination scored)."""
    from sgma_core.profiles import with_settings
    from sgma_core.studies.ablation_runs import scoring_of

    ab.base = base
    if combos is not None:
        if not train and ab.ledger.sub("scoring").lookup("sgma", with_settings(base, seed=seed), ab.runs_dir,
                                                         ab.val_data)[2] is None:
            return None
        entry = ab.scored("scoring", ab.val_data, {}, seed, lambda model, cfg: scoring_of(model, cfg, ab.val_data,
                                                                                           combos))
        return entry["scores"][json.dumps(overrides, sort_keys=True)]["cct"]["T1"]
    if not train and ab.ledger.lookup("sgma", with_settings(base, seed=seed, **overrides), ab.runs_dir,
                                      ab.val_data)[2] is None:
        return None
    kept = len(ab.rows), len(ab.checks), len(ab.schedules)
    ab.validate(label, overrides, overrides, seed)
    row = next(r for r in ab.rows[kept[0]:] if r["rule"] == "compat")
    del ab.rows[kept[0]:], ab.checks[kept[1]:], ab.schedules[kept[2]:]
    return row["T1"]


def add_seeds(ab, comparison: dict, base, max_seeds: int, stored_only: bool) -> dict:
    """One comparison on the ablation's five seeds (read from its ledger, never trained) and then on more, while
    its paired standard error is above the bar: ``{name, adopted, reference, seeds, gain_first, gain, holds,
    reached_bar}``."""
    from sgma_core.stats import beats, paired

    sides: dict[str, dict[int, float]] = {"adopted": {}, "reference": {}}
    for seed in range(max_seeds):
        first = seed < len(FIRST_SEEDS)
        gain = paired(sides["adopted"], sides["reference"])
        if not first and gain["se"] <= SE_BAR:
            break
        values = {side: _side(ab, base, comparison[side], seed, not (first or stored_only), comparison["name"],
                              comparison.get("combos")) for side in sides}
        if first and None in values.values():
            raise LookupError(f"{comparison['name']}: seed {seed} of {comparison} is not in the ablation's ledger "
                              f"({ab.ledger.folder}); make ablations first, with the same code and data.")
        if None in values.values():  # not trained yet: a study in progress
            break
        for side, value in values.items():
            sides[side][seed] = value
    gain = paired(sides["adopted"], sides["reference"])
    five = paired(*({s: v for s, v in sides[k].items() if s in FIRST_SEEDS} for k in ("adopted", "reference")))
    return {"name": comparison["name"], "kind": comparison.get("kind", "adopted"), "adopted": comparison["adopted"],
            "reference": comparison["reference"],
            "seeds": sorted(sides["adopted"]), "gain_first": five, "gain": gain, "holds": beats(gain),
            "reached_bar": gain["se"] <= SE_BAR}


def run_power(profile: str = "cpu", data_root=None, runs_dir=None, ablation: str | Path | None = None,
              out=None, progress: bool = True, stored_only: bool = False, max_seeds: int = MAX_SEEDS,
              last_first: bool = False, retrain: bool = False) -> dict:
    """Every comparison a decision of the ablation record rests on whose five-seed gain has a standard error
    above the bar, on more seeds (the module's docstring); the record is rewritten after each comparison when
    ``out`` is given.
    ``last_first``: the comparisons in reverse order (a second process beside a first); ``retrain``: the
    ledger's rows another library trained are trained again (:class:`~sgma_core.studies.ledger.Ledger`)."""
    from sgma_core.data import load_dataset
    from sgma_core.engine.step import resolve_device
    from sgma_core.experiment.prepare import prepare_data
    from sgma_core.paths import runs_root
    from sgma_core.profiles import config_dict, make_experiment
    from sgma_core.records import provenance, write_record
    from sgma_core.studies import ablate
    from sgma_core.studies.ablation_runs import Ablation
    from sgma_core.studies.ledger import Ledger

    t0 = time.perf_counter()
    path = Path(ablation) if ablation else ablate.default_path(profile)
    record = ablate.read_record(path)
    if record["provenance"].get("seeds") != list(FIRST_SEEDS):
        raise ValueError(f"{path} was made on seeds {record['provenance'].get('seeds')}, not {list(FIRST_SEEDS)}: "
                         "make ablations with its default seeds first.")
    config = make_experiment(profile, {"dataset": "SYN"}).config
    resolve_device(config.device)
    base_of = bases(record, config)
    val = prepare_data(base_of["start"], data_root, progress=progress, split="val", runs_dir=runs_dir)
    ledger = Ledger(path.parent / "ledger" / path.stem, retrain)
    ab = Ablation(base_of["start"], FIRST_SEEDS, val, runs_dir, progress, ledger)
    data = load_dataset("SYN", data_root).data_provenance(runs_root(runs_dir) / "cache")  # the whole set's, as ablate
    wanted = [c for c in comparisons(record) if c["gain"]["se"] > SE_BAR][:: -1 if last_first else 1]
    power = {"profile": profile, "se_bar": SE_BAR, "max_seeds": max_seeds, "ablation": path.name, "rows": []}
    for comparison in wanted:
        power["rows"].append(add_seeds(ab, comparison, base_of[comparison["base"]], max_seeds, stored_only))
        power["provenance"] = provenance(config_dict(config), time.perf_counter() - t0, **data,
                                         complete=len(power["rows"]) == len(wanted) and all(
                                             r["reached_bar"] or len(r["seeds"]) == max_seeds for r in power["rows"]))
        if out is not None:
            write_record(out, power)
    if not wanted:
        power["provenance"] = provenance(config_dict(config), time.perf_counter() - t0, **data, complete=True)
    return power


RECORD_KEYS = ("profile", "se_bar", "max_seeds", "ablation", "rows", "provenance")
RECORD_NUMBERS = ("rows[].gain.mean", "rows[].gain.se", "rows[].gain.n", "rows[].gain_first.mean",
                  "rows[].gain_first.se", "rows[].gain_first.n", "rows[].seeds[]")


def read_record(path: str | Path) -> dict:
    """A record written by :func:`run_power`, checked for every key and number chapter 05 reads."""
    from sgma_core import records

    return records.read_record(path, RECORD_KEYS, "`make power` writes it again (its runs are reused).",
                               RECORD_NUMBERS)


def default_path(profile: str) -> Path:
    """``results/power-<profile>.json``, beside the ablation record it adds seeds to."""
    return repo_root() / "results" / f"power-{profile}.json"


def _run(args, out) -> dict:
    """``--jobs N``: the other processes take the comparisons from the last, sharing the runs and the ledger (their
    ``--seeds``, given by ``--jobs``, are not read), and write no record."""
    if args.seeds and not args.helper:
        raise ValueError("--seeds: this study's seeds are the ablation's five and those it adds (up to MAX_SEEDS).")
    return run_power(args.profile, args.data_root, args.runs_dir, out=out, stored_only=args.stored_only,
                     last_first=args.helper, progress=not args.helper, retrain=args.retrain)


main = study_command("python -m sgma_core.studies.power", __doc__, default_path, _run, stored_only=True, jobs=True)

if __name__ == "__main__":
    raise SystemExit(main())
