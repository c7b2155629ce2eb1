"""Does SGMA learn where to look, and does it matter? The book's configuration beside controls (:data:`CONTROLS`)
that change where the squares go or what trains them, as settings of the same model: the image centre, places
drawn from each image, the annotated parts (painted into the images, so that they follow flips and shifts),
the whole image three times, what eqs. (5)–(9) may train, the peak and the learned centre rules, no CCT term,
and the baseline of chapter 02 (no parts).

Each is trained with every seed and paired with the book's configuration on the same seed
(:func:`paired_with_book`): ZSL T1 and GZSL u / s / H of the compat rule on the test classes, H after
calibrated stacking (γ chosen on validation classes), and where the cropped squares lie on the test images
(:func:`~sgma_core.experiment.where.cropped_centres`): hits on the parts, on the telling parts and the
part-box score, with fixed points scored the same way as references. ::

    python -m sgma_core.studies.looking --profile cpu       # make looking: 5 seeds; stored runs are reused
    python -m sgma_core.studies.looking --stored-only       # the record of the runs finished so far
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from sgma_core import stats
from sgma_core.paths import repo_root
from sgma_core.profiles import PAPER_READING
from sgma_core.studies import study_command

CONTROLS: dict[str, dict] = {
    "book": {},
    "image_centre": {"centre_rule": "image_centre"},
    "random_places": {"centre_rule": "random"},
    "oracle_parts": {"centre_rule": "oracle"},
    "whole_image": {"part_scale": 1.0},
    "attention_none": {"attention_training": "none"},
    "attention_heads": {"attention_training": "heads"},
    "peak_centre": {"centre_rule": "peak"},  # the paper's rule; the same runs as the book's where the book uses it
    "learned_centre": {"centre_rule": "learned"},
    "no_cct": {"beta_cct": 0.0},
    # the paper's attention as it reads (eq. (3) as printed, trained end to end, the peak rule, eq. (11) as
    # written): the reading whose maps collapse (chapter 04); the book's other settings kept
    "literal_eq3": {k: PAPER_READING[k] for k in ("attention_norm", "attention_training", "centre_rule",
                                                  "grouping_smoothing")},
    "attention_full": {"attention_training": "full"},  # eqs. (5)-(9) train the attention backbone too
}
BASELINE = "baseline"  # a row name, not an SGMA control: the baseline of chapter 02 on the same seeds
# The baselines, each with every seed; a value names the setting whose size is its input (None: its own):
# "baseline_joint_input" sees the images at the size SGMA's global branch sees them (equal input).
BASELINES: dict[str, str | None] = {BASELINE: None, "baseline_joint_input": "joint_size"}
SHOWN = 6  # unseen-class test images whose squares and maps every run keeps, for chapter 06's figure
SEEDS = (0, 1, 2, 3, 4)
METRICS = ("T1", "u", "s", "H", "H_calibrated")


def where_points_land(points: np.ndarray, parts: np.ndarray, telling: np.ndarray, radius: float,
                      boxes: np.ndarray) -> dict[str, float]:
    """Points ``[N, M, 2]`` scored three ways, each averaged over the ``M`` points: near any part, near a
    telling part, and the part-box score over the telling parts."""
    from sgma_core.localization import hit_rates, part_box_score

    return {"hits": float(hit_rates(points, parts, radius).mean()),
            "telling_hits": float(hit_rates(points, parts[:, telling], radius).mean()),
            "part_box": float(part_box_score(points, parts[:, telling], boxes)["score"].mean())}


def references(prepared, parts, telling, radius, boxes, n_points: int) -> dict[str, dict[str, float]]:
    """The image centre, the box centre and random points, scored like the squares."""
    from sgma_core.localization import box_centres, image_centres, random_points

    n, size = len(parts), prepared.image_size
    fixed = {"image centre": np.repeat(image_centres([size, size]), n, axis=0),
             "box centre": box_centres(boxes), "random points": random_points(n, n_points, size, seed=0)}
    return {name: where_points_land(np.repeat(p, n_points, axis=1) if p.shape[1] == 1 else p, parts, telling,
                                    radius, boxes) for name, p in fixed.items()}


def distinct_ceiling(rows: list[dict], parts, telling, prepared, cfg) -> dict | None:
    """What the check's "distinct places" can reach on the book's map grid: the oracle's squares (on the head, and
    on the other telling parts) scored as they are, and moved to the centre of their cell of the book's maps as the
    peak rule would place them (:func:`~sgma_core.admissibility.distinct_on_grid`); None without a book row."""
    from sgma_core.admissibility import distinct_on_grid, distinct_share
    from sgma_core.localization import oracle_centres

    book = [r for r in rows if r["control"] == "book" and r.get("shown")]
    if not book:
        return None
    size, side = prepared.image_size, cfg.part_scale * prepared.image_size
    cells = np.asarray(book[0]["shown"]["maps"]).shape[-2:]
    oracle = oracle_centres(parts, prepared.dataset.part_names, telling, size)
    return {"map_cells": [int(c) for c in cells], "images": len(oracle),
            "oracle": distinct_share(np.clip(oracle, side / 2 - 0.5, size - 0.5 - side / 2)),
            "oracle_on_grid": distinct_on_grid(oracle, tuple(cells), size, side)}


def control_gamma(val_prepared, cfg, runs_dir) -> float:
    """γ of calibrated stacking for the compat rule, chosen on a validation model of ``cfg`` (training classes
    only; the validation classes play the unseen ones)."""
    from sgma_core.experiment import data_for, sgma_rule_scores, train_sgma
    from sgma_core.inference import choose_gamma

    model, _, _ = train_sgma(val_prepared, cfg, runs_dir, progress=False)
    su, ss = sgma_rule_scores(model, data_for(val_prepared, cfg), cfg)["compat"]
    return float(choose_gamma(su, ss, val_prepared.test_unseen_labels, val_prepared.test_seen_labels,
                              val_prepared.n_seen)[0])


SHOWN_DIGITS = {"squares": 2, "side": 2, "maps": 3}  # decimals kept of the shown images' squares and maps


def compact_shown(shown: dict) -> dict:
    """The shown squares, sides and maps as nested lists rounded to :data:`SHOWN_DIGITS` decimals in float64 (a
    float32 rounded and written as a float prints as 0.014000000432133675: three times the characters)."""
    return {k: np.round(np.asarray(v, dtype=np.float64), SHOWN_DIGITS[k]).tolist() for k, v in shown.items()}


def one_run(prepared, cfg, runs_dir, images, scene, gamma) -> dict:
    """One control and seed (a stored run is reused): its test metrics, calibrated H at ``gamma`` (γ, or a function
    giving it, called once this run is trained: a second process trains the run meanwhile, not waiting for the
    validation model γ comes from), and where its squares land."""
    from sgma_core.admissibility import attention_check
    from sgma_core.experiment import cropped_centres, data_for, model_inputs, sgma_outputs, sgma_rule_scores, train_sgma
    from sgma_core.inference import calibrated_stacking
    from sgma_core.localization import map_peaks
    from sgma_core.metrics import zsl_gzsl

    started = time.perf_counter()
    model, history, _ = train_sgma(prepared, cfg, runs_dir, progress=False)
    gamma = gamma() if callable(gamma) else gamma
    su, ss = sgma_rule_scores(model, data_for(prepared, cfg), cfg)["compat"]
    calibrated = zsl_gzsl(calibrated_stacking(su, prepared.n_seen, gamma),
                          calibrated_stacking(ss, prepared.n_seen, gamma),
                          prepared.test_unseen_labels, prepared.test_seen_labels, prepared.n_seen)
    outputs = sgma_outputs(model, model_inputs(prepared, cfg, images), prepared.phi_gzsl)
    squares = cropped_centres(outputs, prepared.image_size)
    pairs, counts = np.unique(np.round(squares.reshape(len(squares), -1), 1), axis=0, return_counts=True)
    placed = {"distinct_centres": len(pairs), "images": len(squares), "image_size": prepared.image_size,
              "most_common": [float(v) for v in pairs[counts.argmax()]],
              "most_common_share": float(counts.max() / len(squares)),
              "map_spread": float(outputs["maps"].max() - outputs["maps"].min())}
    shown = compact_shown({"squares": squares[:SHOWN], "side": outputs["ts"][:SHOWN],
                           "maps": outputs["maps"][:SHOWN]})  # the first SHOWN test images: unseen classes
    return {**{k: float(history[-1][k]) for k in METRICS[:4]}, "H_calibrated": float(calibrated["H"]),
            "gamma": gamma, "where": where_points_land(squares, *scene), "squares": placed, "shown": shown,
            "check": attention_check(squares, map_peaks(outputs["maps"]), *scene[:3], prepared.image_size),
            "training_seconds": round(sum(h["seconds"] for h in history), 1),
            "seconds": round(time.perf_counter() - started, 1)}


def baseline_gamma(val_prepared, cfg, runs_dir) -> float:
    """γ of calibrated stacking for the baseline, chosen on its validation model (training classes only)."""
    from sgma_core.experiment import predict_scores, train_baseline
    from sgma_core.inference import choose_gamma

    model, _ = train_baseline(val_prepared, cfg, runs_dir, progress=False)
    su = predict_scores(model, val_prepared.test_unseen_images, val_prepared.phi_gzsl)
    ss = predict_scores(model, val_prepared.test_seen_images, val_prepared.phi_gzsl)
    return float(choose_gamma(su, ss, val_prepared.test_unseen_labels, val_prepared.test_seen_labels,
                              val_prepared.n_seen)[0])


def baseline_run(prepared, cfg, runs_dir, gamma: float) -> dict:
    """The baseline with one seed (a stored run is reused): its test metrics and calibrated H at ``gamma``."""
    from sgma_core.experiment import predict_scores, train_baseline
    from sgma_core.inference import calibrated_stacking
    from sgma_core.metrics import zsl_gzsl

    started = time.perf_counter()
    model, history = train_baseline(prepared, cfg, runs_dir, progress=False)
    su = predict_scores(model, prepared.test_unseen_images, prepared.phi_gzsl)
    ss = predict_scores(model, prepared.test_seen_images, prepared.phi_gzsl)
    calibrated = zsl_gzsl(calibrated_stacking(su, prepared.n_seen, gamma),
                          calibrated_stacking(ss, prepared.n_seen, gamma),
                          prepared.test_unseen_labels, prepared.test_seen_labels, prepared.n_seen)
    return {**{k: float(history[-1][k]) for k in METRICS[:4]}, "H_calibrated": float(calibrated["H"]),
            "gamma": gamma, "training_seconds": round(sum(h["seconds"] for h in history), 1),
            "seconds": round(time.perf_counter() - started, 1)}


def paired(rows: list[dict], control: str, key) -> dict[str, float] | None:
    """Mean and standard error (ddof = 1) of ``key(control row) − key(book row)`` over the seeds both have
    (:func:`sgma_core.stats.paired`)."""
    return stats.paired({r["seed"]: key(r) for r in rows if r["control"] == control},
                        {r["seed"]: key(r) for r in rows if r["control"] == "book"})


def paired_with_book(rows: list[dict]) -> dict:
    """Each control's paired differences from the book's configuration, and whether each is within two
    standard errors of zero ("no difference")."""
    out = {}
    for control in dict.fromkeys(r["control"] for r in rows):
        if control == "book":
            continue
        diffs = {m: paired(rows, control, lambda r, m=m: r[m]) for m in METRICS}
        if control not in BASELINES:  # a baseline crops nothing
            diffs.update({f"where_{k}": paired(rows, control, lambda r, k=k: r["where"][k])
                          for k in ("hits", "telling_hits", "part_box")})
        for d in diffs.values():
            if d is not None:
                d["differs"] = stats.verdict(d) != "no difference"
        out[control] = diffs
    return out


def twins(configs: dict) -> dict[str, str]:
    """Controls whose every seed's settings are the book configuration's: ``{control: "book"}`` (one model,
    trained once, shown under both names)."""
    from sgma_core.profiles import config_dict

    book = [config_dict(c) for c in configs.get("book", [])]
    return {name: "book" for name, cfgs in configs.items()
            if name != "book" and book and [config_dict(c) for c in cfgs] == book}


def from_ledger(ledger, kind: str, prepared, cfg, runs_dir, measure, skip: bool, gamma_seed: int) -> dict | None:
    """A run's row: from the study's ledger where it holds the run (:mod:`sgma_core.studies.ledger`), else
    ``measure()``, written there; ``None`` where ``skip`` (a study in progress records finished runs only). A
    row's γ comes from the validation model of ``gamma_seed``: a stored row calibrated on another seed's (a
    study run with other seeds) is refused, named."""
    from sgma_core.studies.ledger import LedgerError

    run, identity, entry = ledger.lookup(kind, cfg, runs_dir, prepared)
    if entry is not None:
        if entry["row"].get("gamma_seed") != gamma_seed:
            raise LedgerError(f"{ledger.path(run)} holds a row calibrated on seed {entry['row'].get('gamma_seed')}'s "
                              f"validation model, this study on seed {gamma_seed}'s: run the study with the seeds "
                              "that ledger was made with, or give it another ledger folder.")
        row = entry["row"]
        return {**row, "shown": compact_shown(row["shown"])} if "shown" in row else row
    return None if skip else ledger.put(run, identity, {"row": {**measure(), "gamma_seed": gamma_seed}})["row"]


def stored(kind_prepared, cfg, runs_dir, kind: str = "sgma") -> bool:
    """Whether the run (``kind`` "sgma" or "baseline") of ``cfg`` on ``kind_prepared`` is finished in the run store."""
    from sgma_core.engine.runs import Run
    from sgma_core.experiment.recipes import run_extra

    return Run.of(kind, cfg, runs_dir, extra=run_extra(kind_prepared, cfg)).is_finished()


def run_looking(profile: str = "cpu", seeds=None, data_root=None, runs_dir=None, controls=None, out=None,
                progress: bool = True, stored_only: bool = False, ledger=None, retrain: bool = False) -> dict:
    """Every control with every seed; the record is rewritten after each run when ``out`` is given, so an
    interrupted study leaves what it measured (and a second call reuses the stored runs and the ``ledger``
    folder's rows). ``stored_only``: train nothing, and record the runs already finished (a study in
    progress; ``complete`` says which); ``retrain``: the ledger's rows another library trained are trained
    again (:class:`~sgma_core.studies.ledger.Ledger`)."""
    from types import SimpleNamespace

    from sgma_core.engine.step import resolve_device
    from sgma_core.experiment import boxes_at_input_size, parts_at_input_size, prepare_data, snapshot_images
    from sgma_core.profiles import config_dict, make_experiment, with_settings
    from sgma_core.records import provenance, write_record
    from sgma_core.studies.ledger import Ledger

    t0 = time.perf_counter()
    controls = CONTROLS if controls is None else controls
    experiment = make_experiment(profile, {"dataset": "SYN"}, SEEDS if seeds is None else seeds)
    configs = {name: [with_settings(c, **overrides) for c in experiment.configs()] for name, overrides in
               controls.items()}  # every setting checked before any work
    resolve_device(experiment.config.device)
    prepared = prepare_data(experiment.config, data_root, progress=progress, runs_dir=runs_dir)
    parts, telling, radius = parts_at_input_size(prepared)
    scene = (parts, telling, radius, boxes_at_input_size(prepared))
    record = {"profile": profile, "controls": controls, "seeds": list(experiment.seeds),
              "references": references(prepared, *scene, n_points=experiment.config.n_parts), "rows": [],
              "same_as": twins(configs)}

    def save() -> None:
        record["paired"] = paired_with_book(record["rows"])
        record["provenance"] = provenance(config_dict(experiment.config), time.perf_counter() - t0,
                                          **prepared.dataset.data_provenance(),
                                          complete=len(record["rows"]) == sum(map(len, configs.values()))
                                          + len(BASELINES) * len(experiment.seeds),
                                          runs_made_at=sorted(st.ledger.commits))
        if out is not None:
            write_record(out, record)

    st = SimpleNamespace(prepared=prepared, runs_dir=runs_dir, scene=scene, images=snapshot_images(prepared),
                         val=prepare_data(experiment.config, data_root, progress=progress, split="val",
                                          runs_dir=runs_dir),
                         record=record, save=save, stored_only=stored_only, progress=progress,
                         ledger=Ledger(ledger, retrain))
    run_controls(st, configs)
    record["distinct_ceiling"] = distinct_ceiling(record["rows"], parts, telling, prepared, experiment.config)
    for name, size_setting in BASELINES.items():
        cfgs = [with_settings(c, image_size=getattr(c, size_setting)) if size_setting else c
                for c in experiment.configs()]
        if size_setting and all(c.image_size == e.image_size for c, e in zip(cfgs, experiment.configs())):
            record["same_as"][name] = BASELINE  # its input size is the baseline's own: the same model
            record["rows"] += [{**r, "control": name} for r in record["rows"] if r["control"] == BASELINE]
            continue
        at = (prepared, st.val) if size_setting is None else (
            prepare_data(cfgs[0], data_root, progress=progress, runs_dir=runs_dir),
            prepare_data(cfgs[0], data_root, progress=progress, split="val", runs_dir=runs_dir))
        run_baselines(st, name, cfgs, *at)
    save()
    return record


def run_controls(st, configs: dict) -> None:
    """Every control of ``configs`` with every seed, as rows of ``st.record``: a twin of another control is
    copied, not trained; a row the ledger holds is read from it (γ from the lowest seed's validation model)."""
    record = st.record
    for name, cfgs in configs.items():
        twin = record["same_as"].get(name)
        if twin:
            record["rows"] += [{**r, "control": name} for r in record["rows"] if r["control"] == twin]
            continue
        first, gamma = min(cfgs, key=lambda c: c.seed), []  # the calibration's model: the lowest seed, any order

        def measure(cfg, first=first, gamma=gamma):
            def calibration() -> float:
                if not gamma:
                    gamma.append(control_gamma(st.val, first, st.runs_dir))
                return gamma[0]

            return one_run(st.prepared, cfg, st.runs_dir, st.images, st.scene, calibration)

        for cfg in cfgs:
            skip = st.stored_only and not (stored(st.val, first, st.runs_dir) and stored(st.prepared, cfg, st.runs_dir))
            row = from_ledger(st.ledger, "sgma", st.prepared, cfg, st.runs_dir, lambda c=cfg: measure(c), skip,
                              first.seed)
            if row is None:
                continue
            record["rows"].append({"control": name, "seed": cfg.seed, **row})
            st.save()
            if st.progress:
                r = record["rows"][-1]
                print(f"{name} seed {cfg.seed}: T1 {100 * r['T1']:.1f}, H {100 * r['H']:.1f}, squares on a telling "
                      f"part {100 * r['where']['telling_hits']:.0f}% ({r['seconds']:.0f} s)", flush=True)


def run_baselines(st, name: str, cfgs, prepared, val_prepared) -> None:
    """A baseline of :data:`BASELINES` with every seed, as rows named ``name`` (γ from the lowest seed's
    validation model; rows the ledger holds are read from it)."""
    first, gamma = min(cfgs, key=lambda c: c.seed), []

    def measure(cfg):
        if not gamma:
            gamma.append(baseline_gamma(val_prepared, first, st.runs_dir))
        return baseline_run(prepared, cfg, st.runs_dir, gamma[0])

    for cfg in cfgs:
        skip = st.stored_only and not (stored(val_prepared, first, st.runs_dir, "baseline")
                                       and stored(prepared, cfg, st.runs_dir, "baseline"))
        row = from_ledger(st.ledger, "baseline", prepared, cfg, st.runs_dir, lambda c=cfg: measure(c), skip, first.seed)
        if row is None:
            continue
        st.record["rows"].append({"control": name, "seed": cfg.seed, **row})
        st.save()
        if st.progress:
            r = st.record["rows"][-1]
            print(f"{name} seed {cfg.seed}: T1 {100 * r['T1']:.1f}, H {100 * r['H']:.1f} ({r['seconds']:.0f} s)",
                  flush=True)


def default_path(profile: str) -> Path:
    return repo_root() / "results" / f"looking-{profile}.json"


RECORD_KEYS = ("controls", "seeds", "references", "rows", "paired", "provenance")
# the numbers chapters 02, 04 and 06 and the agreement read, each refused where it is not a number
RECORD_NUMBERS = ("rows[].seed", *(f"rows[].{m}" for m in METRICS),
                  *(f"references.*.{k}" for k in ("hits", "telling_hits", "part_box")))


def read_record(path: str | Path) -> dict:
    """A record of :func:`run_looking`, checked for every key and number its readers use; a damaged one is named
    with the command that writes it again."""
    from sgma_core import records

    return records.read_record(path, RECORD_KEYS, "`make looking` writes it again (its runs are reused).",
                               RECORD_NUMBERS)


main = study_command("python -m sgma_core.studies.looking", __doc__, default_path,
                     lambda a, out: run_looking(a.profile, a.seeds, a.data_root, a.runs_dir, out=out,
                                                stored_only=a.stored_only, ledger=a.ledger, progress=not a.helper,
                                                retrain=a.retrain),
                     stored_only=True, jobs=True, seeds=SEEDS)


if __name__ == "__main__":
    raise SystemExit(main())
