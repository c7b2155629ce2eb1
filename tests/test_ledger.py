"""The study's ledger: an entry written for a run is read back for the same run only; a damaged file or one of
another run is refused with its path and what to do."""

import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from sgma_core.studies.ledger import Ledger, LedgerError


def _run(name="SYN-cpu-seed0-abc12345"):
    return SimpleNamespace(path=Path("/anywhere/sgma") / name)


def test_an_entry_is_read_back_for_its_run_and_a_missing_one_is_none(tmp_path):
    ledger, run, identity = Ledger(tmp_path / "ledger"), _run(), {"seed": 0, "joint_size": 64, "lr": 0.05}
    assert ledger.get(run, identity) is None
    scores = {"compat": {"T1": 0.5, "u": 0.4, "s": 0.6, "H": 0.48}}
    written = ledger.put(run, identity, {"scores": scores, "check": {"passed": True}, "seconds": 12.3})
    assert (tmp_path / "ledger" / "SYN-cpu-seed0-abc12345.json").is_file()
    read = ledger.get(run, dict(reversed(list(identity.items()))))  # the order of the settings does not matter
    assert read == written and read["scores"] == scores and read["seconds"] == 12.3 and read["commit"]
    assert ledger.get(_run("SYN-cpu-seed1-abc12345"), identity) is None


def test_retraining_holds_only_the_entries_this_library_trained_and_replaces_the_others(tmp_path):
    from sgma_core.paths import library_fingerprint

    run, identity = _run(), {"seed": 0}
    assert "library" not in Ledger(None).put(run, identity, {})  # a run folder that does not say: not known
    run.library = library_fingerprint  # what its folder's library.json says trained it
    written = Ledger(tmp_path).put(run, identity, {"scores": {"compat": {"T1": 0.5}}})
    assert written["library"] == library_fingerprint()  # what trained it, whatever the commit's mark says
    retrain, sub = Ledger(tmp_path, retrain=True), Ledger(tmp_path, retrain=True).sub("test")
    assert retrain.get(run, identity) == written and sub.retrain  # this library's: held, steps alike
    ledger_file = retrain.path(run)
    ledger_file.write_text(ledger_file.read_text().replace(written["library"], "0" * 16))
    assert Ledger(tmp_path).get(run, identity)["library"] == "0" * 16  # a record remade reads it
    assert retrain.get(run, identity) is None  # retraining: another library's row is trained again …
    again = retrain.put(run, identity, {"scores": {"compat": {"T1": 0.6}}})
    assert Ledger(tmp_path).get(run, identity) == again and again["library"] == written["library"]  # … replaced


def test_an_entry_of_other_settings_is_refused_naming_the_file_and_the_settings(tmp_path):
    ledger, run = Ledger(tmp_path), _run()
    ledger.put(run, {"seed": 0, "joint_size": 64}, {"scores": {}})
    with pytest.raises(LedgerError, match=r"seed0-abc12345.json holds a run with other settings \(joint_size\)"):
        ledger.get(run, {"seed": 0, "joint_size": 32})


def test_a_damaged_entry_is_refused_with_what_to_do(tmp_path):
    ledger, run = Ledger(tmp_path), _run()
    ledger.path(run).write_text('{"scores": {"compat": ')
    with pytest.raises(LedgerError, match="is damaged. Delete it to train and score the run again"):
        ledger.get(run, {})
    ledger.path(run).write_text('{"scores": {"compat": {"T1": NaN}}, "identity": {}}')
    with pytest.raises(LedgerError, match="is damaged"):  # a number that is not one: JSON without NaN
        Ledger(tmp_path).get(run, {})


def test_no_ledger_writes_nothing_and_finds_nothing(tmp_path):
    ledger, run = Ledger(None), _run()
    entry = ledger.put(run, {"seed": 0}, {"scores": {"compat": {"T1": 0.1}}})
    assert entry["scores"] == {"compat": {"T1": 0.1}} and ledger.get(run, {"seed": 0}) is None
    assert not list(tmp_path.iterdir())


def test_an_entry_is_amended_keeping_what_it_held_and_a_missing_one_is_refused(tmp_path):
    ledger, run, identity = Ledger(tmp_path), _run(), {"seed": 0}
    with pytest.raises(LedgerError, match="holds no entry of the run to amend"):
        ledger.amend(run, identity, {"schedule": {}})
    written = ledger.put(run, identity, {"scores": {"compat": {"T1": 0.5}}, "seconds": 3.0})
    amended = ledger.amend(run, identity, {"schedule": {"lr_cut_after_epoch": 4, "attention_share": 0.9}})
    assert amended == {**written, "schedule": {"lr_cut_after_epoch": 4, "attention_share": 0.9}}
    assert ledger.get(run, identity) == amended


def test_the_schedule_names_the_first_cut_and_the_attention_terms_share():
    from sgma_core.studies.ablation_runs import schedule_of

    def epoch(lr):
        return {"lr": lr, "train_loss": 10.0, "loss_cpt": 0.5, "loss_div": 9.0, "loss_cls": 0.3, "loss_cct": 0.2}
    cfg = SimpleNamespace(lam_div=1.0)
    history = [epoch(0.05)] * 4 + [epoch(0.005)] * 3
    assert schedule_of(history, cfg) == {"lr_cut_after_epoch": 4, "attention_share": 0.95}
    assert schedule_of([epoch(0.05)] * 3, cfg)["lr_cut_after_epoch"] is None  # never cut
    tenth = [{**epoch(0.05), "train_loss": 1.9}]  # L_CPT 0.5 + 0.1 × L_DIV 9.0, with L_CLS 0.3 and L_CCT 0.2
    assert schedule_of(tenth, SimpleNamespace(lam_div=0.1))["attention_share"] == pytest.approx(1.4 / 1.9)


def test_a_study_retraining_trains_in_a_runs_folder_of_this_librarys_own(tmp_path):
    from sgma_core.paths import library_fingerprint
    from sgma_core.studies import retrain_runs_dir

    args = SimpleNamespace(retrain=True, runs_dir=str(tmp_path))
    retrain_runs_dir(args)
    assert args.runs_dir == str(tmp_path / f"library-{library_fingerprint()}")
    args = SimpleNamespace(retrain=False, runs_dir=None)
    retrain_runs_dir(args)
    assert args.runs_dir is None


@pytest.mark.parametrize("target", ["ablations", "power", "looking"])
def test_each_study_target_trains_again_with_retrain_set_and_reuses_rows_without(target):
    root = Path(__file__).resolve().parents[1]

    def study_line(*extra):
        out = subprocess.run(["make", "-n", target, "SETUP=", *extra], cwd=root, capture_output=True, text=True,
                             check=True).stdout
        return next(li for li in out.splitlines() if "sgma_core.studies." in li)

    assert study_line("RETRAIN=1").split()[-1] == "--retrain"
    assert "--retrain" not in study_line()
