"""The ablation pipeline end to end on a tiny grid (smoke profile), and the book's defaults against
the committed record of the cpu profile."""

import json

import pytest

from sgma_core.studies.ablate import SELECTION, main, read_record, run_ablations
from sgma_core.paths import repo_root
from sgma_core.profiles import PAPER_READING, RunConfig, make_config

ROW_KEYS = {"setting", "value", "seed", "split", "rule", "T1", "u", "s", "H"}


@pytest.mark.slow
def test_the_pipeline_chooses_on_validation_and_reports_test_once(tiny_root, tmp_path):
    grid = {"cct_negatives": ("hardest", "all")}
    inference = {"ridge_lambda": (1e-4, 1.0), "prototype_norm": (True, False)}  # each with the current default
    record = run_ablations("smoke", [0], tiny_root, tmp_path, training_grid=grid, inference_grid=inference,
                           progress=False)
    rows = record["runs"]
    assert all(set(r) == ROW_KEYS and all(0 <= r[k] <= 1 for k in ("T1", "u", "s", "H")) for r in rows)
    val = [r for r in rows if r["split"] == "val"]
    test = [r for r in rows if r["split"] == "test"]
    assert {(r["setting"], r["value"]) for r in val} == {
        ("cct_negatives", "hardest"), ("cct_negatives", "all"), ("ridge_lambda", 1e-4), ("ridge_lambda", 1.0),
        ("prototype_norm", False), ("prototype_norm", True), ("PAPER_READING", "paper_reading"),
        ("COMBINED", "combined")}
    assert {r["setting"] for r in test} == {"BOOK", "PAPER_READING"}  # the test classes: once per configuration
    assert set(record["chosen"]) == {"cct_negatives", "ridge_lambda", "prototype_norm"}
    assert record["selection_metric"] == SELECTION
    for setting, values in {**grid, **inference}.items():  # the chosen value is the best on validation
        rule = "compat" if setting in grid else "cct"
        best = max(values, key=lambda v: [(r["H"], r["T1"]) for r in val if r["setting"] == setting
                                          and r["value"] == v and r["rule"] == rule][0])
        assert (record["one_factor"] if setting in grid else record["chosen"])[setting] == best
    combined = record["combination"]  # the chosen values, trained together, are kept only if validation agrees
    kept = combined["settings"] if combined["kept"] == "combination" else {
        combined["best_single"]["setting"]: combined["best_single"]["value"]}
    assert record["chosen"]["cct_negatives"] == kept.get("cct_negatives", "hardest")
    assert (combined["kept"] == "combination") == (combined["val_H_T1"] >= combined["best_single"]["val_H_T1"])
    # the compat rule does not read the prototypes: scoring choices leave it unchanged
    compat = {r["H"] for r in val if r["setting"] == "ridge_lambda" and r["rule"] == "compat"}
    assert len(compat) == 1
    assert record["provenance"]["profile"] == "smoke" and record["provenance"]["seconds"] > 0
    # a second run trains nothing: every run is stored, and the record comes out the same
    again = run_ablations("smoke", [0], tiny_root, tmp_path, training_grid=grid, inference_grid=inference,
                          progress=False)
    assert again["runs"] == record["runs"] and again["provenance"]["seconds"] < record["provenance"]["seconds"]


def test_the_command_line_refuses_a_bad_profile(capsys):
    assert main(["--profile", "smok"]) == 2
    assert "unknown profile 'smok'" in capsys.readouterr().err


def test_the_cpu_defaults_are_the_recorded_choices():
    path = repo_root() / "results" / "ablations-cpu.json"
    record = read_record(path)
    cpu = make_config("cpu")
    assert {s: getattr(cpu, s) for s in record["chosen"]} == record["chosen"], \
        f"RunConfig's cpu defaults differ from the choices recorded in {path}"
    assert record["paper_reading"] == json.loads(json.dumps(PAPER_READING))
    assert set(record["chosen"]) <= {f for f in RunConfig.__dataclass_fields__}


def test_a_setting_pair_that_cannot_train_is_refused_before_any_work():
    with pytest.raises(ValueError, match="alternating.*attention_training='none'.*would train nothing"):
        make_config("smoke", {"training_schedule": "alternating", "attention_training": "none"})
    make_config("smoke", {"training_schedule": "alternating", "attention_training": "heads"})  # this pair trains


def test_values_chosen_one_by_one_that_do_not_go_together_are_not_trained_together():
    from types import SimpleNamespace

    from sgma_core.studies.ablate import _together

    grid = {"attention_training": ("full", "none"), "training_schedule": ("joint", "alternating")}
    scores = {("attention_training", "full"): 0.5, ("attention_training", "none"): 0.6,
              ("training_schedule", "joint"): 0.5, ("training_schedule", "alternating"): 0.55}
    rows = [{"setting": s, "value": v, "rule": "compat", "split": "val", "H": h, "T1": h} for (s, v), h in scores.items()]

    def never(*args):
        raise AssertionError("the refused combination was trained")

    ab = SimpleNamespace(base=make_config("smoke"), seeds=(0,), rows=rows, validate=never)
    training, record = _together(ab, grid, {"attention_training": "none", "training_schedule": "alternating"})
    assert training == {"attention_training": "none"} and record["kept"] == "best single change"
    assert "would train nothing" in record["refused"] and record["val_H_T1"] is None
