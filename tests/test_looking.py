"""The study of where SGMA looks: controls as settings of the same model, paired with the book's
configuration on the same seeds, and the squares scored against references a fixed point gives."""

import json

import numpy as np
import pytest

from sgma_core.paths import library_fingerprint
from sgma_core.profiles import RunConfig
from sgma_core.studies import looking
from sgma_core.studies.looking import paired, paired_with_book, run_looking


def test_paired_differences_by_hand():
    rows = [{"control": "book", "seed": s, "T1": t} for s, t in ((0, 0.5), (1, 0.6), (2, 0.7))]
    rows += [{"control": "x", "seed": s, "T1": t} for s, t in ((0, 0.4), (1, 0.6), (2, 0.5))]
    d = paired(rows, "x", lambda r: r["T1"])  # differences -0.1, 0.0, -0.2
    assert d["mean"] == pytest.approx(-0.1) and d["n"] == 3
    assert d["se"] == pytest.approx(np.std([-0.1, 0.0, -0.2], ddof=1) / np.sqrt(3))
    assert paired(rows[:3] + rows[3:4], "x", lambda r: r["T1"]) is None  # one pair: no standard error


@pytest.mark.slow
def test_the_study_runs_resumes_and_writes_as_it_goes(tiny_root, tmp_path):
    controls = {"book": {}, "image_centre": {"centre_rule": "image_centre"}, "whole_image": {"part_scale": 1.0},
                "oracle_parts": {"centre_rule": "oracle"}, "rule_again": {"centre_rule": RunConfig().centre_rule}}
    out, ledger = tmp_path / "looking.json", tmp_path / "ledger"
    record = run_looking("smoke", [0, 1], tiny_root, tmp_path / "runs", controls, out=out, progress=False,
                         ledger=ledger)
    assert json.loads(out.read_text())["rows"] == json.loads(json.dumps(record["rows"]))
    # the model without parts, paired on the same seeds, at its own input and at SGMA's global branch's
    baselines = [("baseline", 0), ("baseline", 1), ("baseline_joint_input", 0), ("baseline_joint_input", 1)]
    assert [(r["control"], r["seed"]) for r in record["rows"]] == [(c, s) for c in controls for s in (0, 1)] + baselines
    # a control whose settings are the book's is the same model, trained once and shown under both names
    assert record["same_as"] == {"rule_again": "book"}
    twin = [r for r in record["rows"] if r["control"] == "rule_again"]
    assert [{**r, "control": "book"} for r in twin] == [r for r in record["rows"] if r["control"] == "book"]
    joint = [r for r in record["rows"] if r["control"] == "baseline_joint_input"]
    assert [r["T1"] for r in joint] != [r["T1"] for r in record["rows"] if r["control"] == "baseline"]
    # each SGMA row keeps its squares and maps on the first unseen-class test images, for chapter 06's figure
    shown = record["rows"][0]["shown"]
    assert len(shown["squares"]) == len(shown["maps"]) == 6 and len(shown["squares"][0]) == 2
    assert all("where" not in r and 0 <= r["H_calibrated"] <= 1 for r in record["rows"] if r["control"] == "baseline")
    centre = [r for r in record["rows"] if r["control"] == "image_centre"]
    assert all(r["where"] == centre[0]["where"] for r in centre)  # the squares never move: same scores every seed
    assert record["references"]["image centre"]["part_box"] <= 0.5
    assert set(record["paired"]) == {"image_centre", "whole_image", "oracle_parts", "rule_again", "baseline",
                                     "baseline_joint_input"}
    assert record["provenance"]["complete"] and "where_part_box" not in record["paired"]["baseline"]
    oracle = [r for r in record["rows"] if r["control"] == "oracle_parts"]
    assert all(r["where"]["telling_hits"] > 0.9 for r in oracle)  # its squares are on the telling parts
    # the functional check of the attention: squares fixed at the centre fail it, whatever their score
    assert all(not r["check"]["passed"] and "distinct_places" in r["check"]["failed"] for r in centre)
    assert all(r["check"]["telling_hits"] == r["where"]["telling_hits"] for r in record["rows"] if "check" in r)
    # what "distinct places" can reach on the book's map grid: the oracle's squares moved to their cells
    ceiling = record["distinct_ceiling"]
    assert ceiling["map_cells"] == list(np.asarray(shown["maps"]).shape[-2:])
    assert ceiling["images"] == record["rows"][0]["check"]["images"]
    assert 0 < ceiling["oracle_on_grid"] <= ceiling["oracle"] <= 1
    for d in record["paired"]["whole_image"].values():
        assert d["n"] == 2 and isinstance(d["differs"], bool)
    again = run_looking("smoke", [0, 1], tiny_root, tmp_path / "runs", controls, progress=False)  # stored runs reused
    assert [r["T1"] for r in again["rows"]] == [r["T1"] for r in record["rows"]]
    assert paired_with_book(again["rows"]).keys() == record["paired"].keys()
    # on another machine with the ledger only: every row is read from it, nothing is trained
    elsewhere = run_looking("smoke", [0, 1], tiny_root, tmp_path / "elsewhere", controls, progress=False,
                            ledger=ledger)
    assert json.loads(json.dumps(elsewhere["rows"])) == json.loads(json.dumps(record["rows"]))
    assert not (tmp_path / "elsewhere" / "sgma").exists() and not (tmp_path / "elsewhere" / "baseline").exists()
    # each row names the library that trained its run; retraining trains again only what another library made
    entries = sorted(ledger.rglob("*.json"))
    assert {json.loads(p.read_text()).get("library") for p in entries} == {library_fingerprint()}
    entries[0].write_text(entries[0].read_text().replace(library_fingerprint(), "0" * 16))
    retrained = run_looking("smoke", [0, 1], tiny_root, tmp_path / "retrain", controls, progress=False, ledger=ledger,
                            retrain=True)
    def untimed(rows):
        return [{k: v for k, v in r.items() if k not in ("seconds", "training_seconds")} for r in
                json.loads(json.dumps(rows))]

    assert untimed(retrained["rows"]) == untimed(record["rows"])  # the same code: the same bits
    assert json.loads(entries[0].read_text())["library"] == library_fingerprint()
    trained = [p.name for kind in ("sgma", "baseline") for p in (tmp_path / "retrain" / kind).glob("*")]
    assert json.loads(entries[0].read_text())["run"] in trained and len(trained) <= 2  # it (and a γ model)
    # a study in progress: only the finished runs are recorded, nothing is trained, and it says it is incomplete
    before = sorted(p.name for p in (tmp_path / "runs" / "sgma").iterdir())
    partial = run_looking("smoke", [0, 1], tiny_root, tmp_path / "runs", {**controls, "no_cct": {"beta_cct": 0.0}},
                          progress=False, stored_only=True)
    assert ([(r["control"], r["seed"]) for r in partial["rows"]]
            == [(c, s) for c in controls for s in (0, 1)] + baselines)
    assert not partial["provenance"]["complete"] and "no_cct" not in partial["paired"]
    assert sorted(p.name for p in (tmp_path / "runs" / "sgma").iterdir()) == before


def test_the_committed_record_has_five_paired_seeds_for_every_control_or_says_it_is_in_progress():
    from bookkit.study_views import CONTROL_TEXT
    from sgma_core.paths import repo_root
    from sgma_core.profiles import make_config
    from sgma_core.records import read_record
    from sgma_core.studies.looking import BASELINE, CONTROLS

    record = read_record(repo_root() / "results" / "looking-cpu.json", ("controls", "rows", "paired", "provenance"))
    # the record's controls are the study's; a record older than a control names it on chapter 06's page
    from bookkit.study_views import missing_controls_note

    assert set(record["controls"]) <= set(CONTROLS) and record["seeds"] == [0, 1, 2, 3, 4]
    for control in set(CONTROLS) - set(record["controls"]):
        assert CONTROL_TEXT[control] in missing_controls_note(record)
    done = {c: sorted(r["seed"] for r in record["rows"] if r["control"] == c) for c in [*record["controls"], BASELINE]}
    # complete: every control with its five seeds; in progress (make looking resumes it): it says so
    assert record["provenance"]["complete"] == all(seeds == [0, 1, 2, 3, 4] for seeds in done.values())
    assert done["book"] == [0, 1, 2, 3, 4]
    for control, seeds in done.items():
        assert seeds == sorted(set(seeds)), control
        if control != "book" and len(seeds) >= 2:
            assert record["paired"][control]["T1"]["n"] == len(seeds)
    # the book's configuration in the record is the cpu profile's today (each spelled as run identities store it)
    from sgma_core.backbones import stored_settings
    from sgma_core.profiles import config_dict

    today = json.loads(json.dumps(config_dict(make_config("cpu"))))
    assert stored_settings(record["provenance"]["config"]) == stored_settings(today), \
        "the cpu defaults changed since results/looking-cpu.json was made: run `make looking` again"


def test_a_ledger_row_calibrated_on_another_seeds_model_is_refused(tmp_path):
    from types import SimpleNamespace

    from sgma_core.profiles import make_config
    from sgma_core.studies.ledger import Ledger, LedgerError
    from sgma_core.studies.looking import from_ledger

    prepared = SimpleNamespace(dataset=SimpleNamespace(fingerprint=lambda: "abc"), split="test")
    cfg, ledger = make_config("smoke", overrides={"seed": 3}), Ledger(tmp_path)
    row = from_ledger(ledger, "sgma", prepared, cfg, tmp_path, lambda: {"T1": 0.5}, False, gamma_seed=3)
    assert row == {"T1": 0.5, "gamma_seed": 3}
    assert from_ledger(ledger, "sgma", prepared, cfg, tmp_path, None, False, gamma_seed=3) == row  # read back
    with pytest.raises(LedgerError, match="calibrated on seed 3's validation model, this study on seed 0's"):
        from_ledger(ledger, "sgma", prepared, cfg, tmp_path, None, False, gamma_seed=0)


def test_shown_maps_are_rounded_in_float64_so_they_print_short():
    from sgma_core.studies.looking import compact_shown

    shown = compact_shown({"squares": np.array([[[1.234567, 2.0]]], dtype=np.float32), "side": [[32.0]],
                           "maps": np.array([[[[0.014000000432133675, 0.9995]]]], dtype=np.float32)})
    assert shown["squares"] == [[[1.23, 2.0]]] and shown["side"] == [[32.0]]
    assert json.dumps(shown["maps"]) in ("[[[[0.014, 1.0]]]]", "[[[[0.014, 0.999]]]]")


def test_a_run_is_trained_before_the_calibration_it_may_wait_for(monkeypatch):
    import sgma_core.experiment as experiment

    calls = []

    class Calibrated(Exception):
        pass

    def gamma():
        calls.append("gamma")
        raise Calibrated  # the validation model another process may be training: asked for after this run

    monkeypatch.setattr(experiment, "train_sgma", lambda *a, **k: calls.append("train") or (None, [], None))
    with pytest.raises(Calibrated):
        looking.one_run(None, None, None, None, None, gamma)
    assert calls == ["train", "gamma"]
