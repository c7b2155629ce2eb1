"""The code check: a study's ledger read into one check per commit and settings, the settings spelled for an
older commit's command line, fingerprints compared bit for bit, and a whole check at this commit against itself."""

import json
import shutil
import subprocess

import pytest
import torch

from sgma_core.studies import code_check as cc


def entry(folder, name, commit, **identity):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps({"run": name, "commit": commit, "identity": identity}))


def test_ledger_runs_reads_commits_kinds_and_sub_ledgers(tmp_path):
    entry(tmp_path, "a", "abc1234+dirty", seed=0, data="d", profile="cpu", dataset="SYN", backbone="small_vgg",
          epochs=4, lr=0.1, attention_norm="none")
    entry(tmp_path / "test", "b", "def5678", seed=1, data="d", profile="cpu", dataset="SYN", backbone="small_vgg",
          epochs=4, image_size=64, vgg_layer="conv5_4")  # a baseline's identity holds the layer keys too
    runs = cc.ledger_runs(tmp_path)
    assert [(r["commit"], r["kind"]) for r in runs] == [("abc1234", "sgma"), ("def5678", "baseline")]
    assert runs[0]["settings"] == {"backbone": "small_vgg", "epochs": 4, "lr": 0.1, "attention_norm": "none"}
    (tmp_path / "c.json").write_text("{not json")
    with pytest.raises(cc.CodeCheckError, match="c.json"):
        cc.ledger_runs(tmp_path)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_row_stands_on_its_commit_only_where_its_library_was_the_commits(tmp_path, monkeypatch):
    from sgma_core import paths

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "sgma_core").mkdir()
    (tmp_path / "sgma_core" / "a.py").write_text("x = 1\n")
    (tmp_path / "README").write_text("r\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    commit = subprocess.run(["git", "rev-parse", "--short=7", "HEAD"], cwd=tmp_path, capture_output=True,
                            text=True).stdout.strip()
    monkeypatch.setattr(paths, "repo_root", lambda: tmp_path)
    clean = paths.library_fingerprint(tmp_path)
    assert clean == paths.library_at(commit) and paths.library_at("0000000") is None
    (tmp_path / "README").write_text("changed\n")  # not the library: the same fingerprint, though +dirty
    assert paths.library_fingerprint(tmp_path) == clean
    (tmp_path / "sgma_core" / "b.py").write_text("y = 2\n")  # a new library file git does not ignore
    changed = paths.library_fingerprint(tmp_path)
    assert changed != clean
    dirty = f"{commit}+dirty"
    assert cc.basis_of({"commit": dirty, "library": clean}, None) == "commit"
    assert cc.basis_of({"commit": dirty, "library": changed}, None) == "uncommitted"
    assert cc.basis_of({"commit": dirty}, None) == "uncommitted"  # kept no fingerprint: cannot be told
    assert cc.basis_of({"commit": commit}, None) == "commit"
    assert cc.basis_of({"commit": dirty, "library": changed}, changed) == "this library"
    # the changed library committed later: a row written at the changed tree is tied to that commit
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    (ledger / "r.json").write_text(json.dumps({"run": "r", "commit": dirty, "library": changed, "identity": {
        "seed": 0, "lr": 0.1}}))
    assert [(r["commit"], r["basis"]) for r in cc.ledger_runs(ledger)] == [(commit, "uncommitted")]
    git("add", "sgma_core")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "two")
    later = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=tmp_path, capture_output=True,
                           text=True).stdout.strip()
    assert paths.commit_with_library(changed, commit) == later
    first = subprocess.run(["git", "rev-parse", "--short=12", commit], cwd=tmp_path, capture_output=True,
                           text=True).stdout.strip()
    assert paths.commit_with_library(clean, later) == first  # none later: the nearest earlier commit holding it
    assert paths.commit_with_library("0" * 16, commit) is None  # held by no commit
    assert [(r["commit"], r["basis"], r["written_at"]) for r in cc.ledger_runs(ledger)] == [(later, "commit", commit)]
    assert cc.checks_of({"looking": cc.ledger_runs(ledger)})[0]["written_at"] == [commit]
    # a row written at a changed tree for a run trained by older code: tied to the earlier commit holding it
    (ledger / "r.json").write_text(json.dumps({"run": "r", "commit": f"{later}+dirty", "library": clean,
                                               "identity": {"seed": 0, "lr": 0.1}}))
    assert [(r["commit"], r["basis"], r["written_at"]) for r in cc.ledger_runs(ledger)] == [(first, "commit", later)]


def test_one_check_per_commit_and_settings_across_seeds_and_studies():
    run = {"commit": "abc", "kind": "sgma", "settings": {"lr": 0.1}, "profile": "cpu", "dataset": "SYN"}
    other = {**run, "settings": {"lr": 0.2}}
    checks = cc.checks_of({"looking": [run, run, other], "ablations": [run, {**run, "commit": "def"}]})
    assert [(c["commit"], c["settings"]["lr"], c["studies"]) for c in checks] == [
        ("abc", 0.1, {"looking": 2, "ablations": 1}), ("abc", 0.2, {"looking": 1}), ("def", 0.1, {"ablations": 1})]


def test_settings_spelled_for_the_commit_that_trains_them():
    fields = {"backbone", "lr", "layer", *cc.SHORTENED, "num_threads"}
    argv = cc.settings_argv({"backbone": "small_vgg", "vgg_layer": "conv5_4", "lr": 0.1, "epochs": 16,
                             "grouping_smoothing": 0.0}, fields, {"grouping_smoothing": 0.0})
    pairs = dict(zip(argv[1::3], argv[2::3]))
    assert pairs["lr"] == "0.1" and pairs["epochs"] == str(cc.SHORTENED["epochs"])  # shortened, the same both sides
    assert "layer" not in pairs and "vgg_layer" not in pairs  # the default layer is not spelled
    assert "grouping_smoothing" not in pairs and pairs["num_threads"] == "1" and "eval_every" not in pairs
    argv = cc.settings_argv({"backbone": "vgg19", "vgg_layer": "conv4_4"}, fields, {})
    assert dict(zip(argv[1::3], argv[2::3]))["layer"] == '"conv4_4"'
    with pytest.raises(cc.CodeCheckError, match="grouping_smoothing"):
        cc.settings_argv({"backbone": "small_vgg", "grouping_smoothing": 0.1}, fields, {"grouping_smoothing": 0.0})


def fake_run(root, loss, weight):
    run = root / "sgma" / "SYN-cpu-seed0-x"
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text(json.dumps({"epoch": 0, "train_loss": loss, "seconds": weight}) + "\n")
    torch.save({"model": {"w": torch.full((2,), weight)}}, run / "last.pt")
    return root


def test_fingerprints_compare_numbers_and_weights_not_timings(tmp_path):
    a = cc.fingerprint(fake_run(tmp_path / "a", 1.5, 1.0), "sgma")
    assert cc.differences(a, cc.fingerprint(fake_run(tmp_path / "b", 1.5, 1.0), "sgma")) == []
    assert cc.differences(a, cc.fingerprint(fake_run(tmp_path / "c", 1.5000001, 2.0), "sgma")) == [
        "weights", "epoch 0: train_loss"]
    with pytest.raises(cc.CodeCheckError, match="no finished run"):
        cc.fingerprint(tmp_path / "empty", "sgma")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_whole_check_of_this_commit_against_itself_and_of_a_missing_commit(tiny_root, tmp_path):
    from sgma_core.engine.runs import run_identity
    from sgma_core.paths import library_at, repo_root
    from sgma_core.profiles import make_experiment

    head = subprocess.run(["git", "-C", str(repo_root()), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    if not head:
        pytest.skip("not a git clone")
    cfg = make_experiment("smoke", {"dataset": "SYN"}).configs()[0]
    identity = run_identity(cfg, None, {"data": "d", "cpu_dispatch": {}})
    entry(tmp_path / "ledger" / "looking-smoke", "r0", head, **identity)
    entry(tmp_path / "ledger" / "looking-smoke", "r1", "0000000", **identity)  # a commit this clone lacks
    entry(tmp_path / "ledger" / "looking-smoke", "r2", "1111111+dirty", **identity)  # code no commit holds
    mine = {"run": "r3", "commit": "2222222+dirty", "library": library_at(head), "identity": identity}
    (tmp_path / "ledger" / "looking-smoke" / "r3.json").write_text(json.dumps(mine))  # this library's own files
    out = tmp_path / "code-check-smoke.json"
    record = cc.run_code_check("smoke", 2, out, tiny_root, tmp_path / "runs", False, tmp_path / "ledger")
    verdicts = {c["commit"]: (c["same"], c["why"]) for c in record["checks"]}
    assert verdicts[head] == (True, "") and verdicts["0000000"][0] is None and "0000000" in verdicts["0000000"][1]
    assert verdicts["1111111"] == (None, cc.UNCHECKABLE["uncommitted"])
    assert verdicts["2222222"] == (True, cc.UNCHECKABLE["this library"])
    assert len(record["head_runs"]) == 1  # one setting trained at HEAD, for the two checks that train
    assert record["provenance"]["complete"] and cc.read_code_check(out)["checks"] == record["checks"]
    assert not (tmp_path / "runs" / "code-check" / f"tree-{head}").exists()  # worktrees removed
    assert [p.name for p in (tmp_path / "runs" / "code-check").iterdir()] == []


def test_a_resumed_record_keeps_only_the_checks_of_settings_still_in_the_ledgers():
    record = {"checks": [{"commit": "a", "key": "k1", "studies": {"looking": 5, "ablations": 2}},
                         {"commit": "a", "key": "gone", "studies": {"looking": 1}}],
              "head_runs": {"k1": {}, "gone": {}}}
    cc.keep_current(record, [{"commit": "a", "key": "k1", "studies": {"ablations": 2}},
                             {"commit": "b", "key": "k2", "studies": {"looking": 3}}])
    # the kept check counts the rows the ledgers hold now (the looking rows of its settings were dropped)
    assert record == {"checks": [{"commit": "a", "key": "k1", "studies": {"ablations": 2}}], "head_runs": {"k1": {}}}


def test_a_check_goes_on_across_commits_that_changed_no_library_file(tmp_path, monkeypatch):
    from sgma_core import paths

    out = tmp_path / "code-check-smoke.json"
    out.write_text(json.dumps({"profile": "smoke", "head": "aaa", "shortened": cc.SHORTENED, "studies": {},
                               "checks": [{"commit": "x", "key": "k"}], "head_runs": {"k": {}}, "provenance": {}}))
    libraries = {"aaa": "L1", "bbb": "L1", "ccc": "L2"}
    monkeypatch.setattr(paths, "library_at", lambda commit, folder=None: libraries.get(commit))
    assert cc.start_record("smoke", "bbb", {}, out)["checks"] == [{"commit": "x", "key": "k"}]  # the same files
    assert cc.start_record("smoke", "ccc", {}, out)["checks"] == []  # another library: checked again
    assert cc.start_record("smoke", "ddd", {}, out)["checks"] == []  # a commit this clone lacks: the same
