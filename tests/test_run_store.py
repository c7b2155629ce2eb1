"""The run store never unpickles, never loses a finished epoch, lets one writer at a time into a run
folder, and names every damaged file with what to do."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from sgma_core.engine.loop import fit
from sgma_core.engine.runs import DiskFullError, Run, RunFileError, read_metrics
from sgma_core.profiles import make_config
from tests.conftest import cross_entropy, tiny_classifier, tiny_problem

CFG = make_config("smoke", overrides={"epochs": 3, "batch_size": 8, "lr": 0.05, "device": "cpu", "eval_every": 1})




def _fit(run, **kwargs):
    """Three epochs of a tiny classifier in the run folder ``run``."""
    return fit(tiny_classifier(3), tiny_problem(24, 8, 3), cross_entropy, CFG, run, progress=False, **kwargs)


class _Hostile:
    """Unpickling this would run a command: it must never happen."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_hostile_checkpoint_is_refused_and_nothing_runs(tmp_path):
    run = tmp_path / "run"
    _fit(run)
    marker = tmp_path / "pwned"
    state = torch.load(run / "last.pt", weights_only=True)
    state["extra"] = _Hostile(marker)
    torch.save(state, run / "last.pt")  # a run folder copied from somewhere else
    with pytest.raises(RunFileError, match=r"last\.pt was refused.*could run code"):
        _fit(run)  # finished: loads last.pt
    (run / "final.json").unlink()
    with pytest.raises(RunFileError, match=r"last\.pt was refused"):
        _fit(run)  # unfinished: resumes from last.pt
    assert not marker.exists()


def test_a_hostile_snapshot_file_is_refused(tiny_root, tmp_path, capsys):
    from sgma_core.experiment import prepare_data, train_sgma

    cfg = make_config("smoke", overrides={"dataset": "SYN", "epochs": 1, "device": "cpu"})
    prepared = prepare_data(cfg, tiny_root, progress=False, runs_dir=tmp_path)
    assert len(list((tmp_path / "cache").glob("images-*"))) > 0  # the decode cache lives in the chosen runs folder
    show = prepared.test_unseen_images[:2]
    _, _, info = train_sgma(prepared, cfg, tmp_path, progress=False, snapshot_images=show)
    snap = next((tmp_path / "sgma").glob("*/snapshots.pt"))
    marker = tmp_path / "pwned"
    torch.save({0: {"maps": _Hostile(marker)}}, snap)
    with pytest.raises(RunFileError, match=r"snapshots\.pt was refused"):
        train_sgma(prepared, cfg, tmp_path, progress=False, snapshot_images=show)
    assert not marker.exists()
    snap.write_bytes(snap.read_bytes()[:50])  # truncated: recomputed where it can be, the run still reused
    _, history, info = train_sgma(prepared, cfg, tmp_path, progress=False, snapshot_images=show)
    assert sorted(info["snapshots"]) == [-1, 0] and len(history) == 1
    out = capsys.readouterr().out
    assert "snapshots.pt is damaged" in out and str(tmp_path) not in out  # printed onto a page: no machine path


def _fit_interrupted_after_epoch_1(run):
    """A run stopped by Ctrl-C as epoch 1 ends: epochs 0 and 1 are in its history and checkpoint."""

    def stop(epoch, record):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _fit(run, on_epoch_end=stop)


def test_a_line_cut_short_by_a_kill_is_dropped_and_the_run_resumes(tmp_path):
    full = _fit(tmp_path / "full")
    run = tmp_path / "cut"
    _fit_interrupted_after_epoch_1(run)
    with (run / "metrics.jsonl").open("a") as fh:
        fh.write('{"epoch": 2, "train_lo')  # killed in the middle of an append
    assert [m["epoch"] for m in read_metrics(run)] == [0, 1]
    resumed = _fit(run)
    assert [m["train_loss"] for m in resumed] == [m["train_loss"] for m in full]
    assert (run / "metrics.jsonl").read_text().count("\n") == 3


@pytest.mark.parametrize("damage, match", [
    (lambda run: (run / "last.pt").write_bytes((run / "last.pt").read_bytes()[:100]),
     r"last\.pt is damaged.*Delete it"),
    (lambda run: (run / "config.json").write_text("{not json"), r"config\.json is damaged.*Delete"),
    (lambda run: (run / "metrics.jsonl").write_text('{"epoch": 0}\nnonsense\n{"epoch": 2}\n'),
     r"metrics\.jsonl:2 is not a metrics record"),
])
def test_a_damaged_file_is_named_with_what_to_do(tmp_path, damage, match):
    run = tmp_path / "run"
    _fit(run)
    (run / "final.json").unlink()  # an unfinished run, so that every file is read on resume
    damage(run)
    with pytest.raises(RunFileError, match=match):
        _fit(run)


def test_a_full_disk_is_reported_as_such(tmp_path, monkeypatch):
    import shutil

    from sgma_core.engine import runs

    def failing_save(obj, f, *a, **k):
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 128 vs 64")

    monkeypatch.setattr(torch, "save", failing_save)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9, 0))
    with pytest.raises(DiskFullError, match=r"the disk is full: .*last\.pt.*run resumes"):
        _fit(tmp_path / "run")
    assert not list((tmp_path / "run").glob("*.tmp"))
    assert runs.read_metrics(tmp_path / "run")[0]["epoch"] == 0  # no checkpoint of it: a rerun trains it again


SECOND_WRITER = """
import json, sys
from tests.test_run_store import _fit
calls = []
history = _fit(sys.argv[1], on_epoch_end=lambda e, r: calls.append(e))
print(json.dumps({"trained": calls, "epochs": [h["epoch"] for h in history]}))
"""


def test_a_second_identical_run_waits_and_reuses_the_first(tmp_path):
    run = Run(tmp_path / "run")
    root = Path(__file__).resolve().parents[1]
    with run.lock():  # the first writer, training
        proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(SECOND_WRITER), str(run.path)], cwd=root,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = proc.stdout.readline()  # blocks until the second writer says something: on a busy machine, seconds
        assert "waiting for it to finish" in first, first + proc.stderr.read()
        # printed into a chapter's executed output, so into the published page: the run, not the machine's path
        assert f"is training {tmp_path.name}/run;" in first and str(tmp_path) not in first, first
        assert proc.poll() is None  # waiting for the lock, not training beside the first writer
        _fit(tmp_path / "elsewhere")
        for name in ("config.json", "metrics.jsonl", "last.pt", "final.json"):
            (run.path / name).write_bytes((tmp_path / "elsewhere" / name).read_bytes())
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert json.loads(out.splitlines()[-1]) == {"trained": [], "epochs": [0, 1, 2]}
    assert (run.path / "metrics.jsonl").read_text().count("\n") == 3


def test_the_last_evaluation_scores_come_back_and_a_stored_run_has_none(tiny_root, tmp_path):
    from sgma_core.experiment import class_prototypes, prepare_data, sgma_outputs, sgma_rule_scores, train_sgma
    from sgma_core.experiment.evaluate import seen_class_means
    from sgma_core.inference import rule_scores

    cfg = make_config("smoke", overrides={"dataset": "SYN", "epochs": 1, "device": "cpu"})
    prepared = prepare_data(cfg, tiny_root, progress=False, runs_dir=tmp_path)
    model, _, info = train_sgma(prepared, cfg, tmp_path, progress=False)
    again = sgma_rule_scores(model, prepared, cfg)  # what the chapter computed after training before
    assert set(info["test_scores"]) == set(again) == {"compat", "cct", "combined"}
    for rule, (su, ss) in again.items():
        assert np.allclose(info["test_scores"][rule][0], su, atol=1e-5)
        assert np.allclose(info["test_scores"][rule][1], ss, atol=1e-5)
    # the seen prototypes of that evaluation, which chapter 04 shows: those of the trained model
    assert np.allclose(info["seen_means"], seen_class_means(model, prepared, cfg), atol=1e-5)
    assert info["seen_means"].shape == (model.embed.out_features, prepared.n_seen)
    stored = train_sgma(prepared, cfg, tmp_path, progress=False)[2]
    assert stored["test_scores"] is None and stored["seen_means"] is None  # loaded, not evaluated
    # chapter 04 reads ZSL scores as the unseen classes' columns of these GZSL scores: the same as scoring the
    # unseen candidates alone
    n_seen, protos = prepared.n_seen, class_prototypes(model, prepared, cfg)[:, prepared.n_seen:]
    tu = sgma_outputs(model, prepared.test_unseen_images, prepared.phi_gzsl[:, n_seen:])
    for rule, (su, _) in again.items():
        assert np.allclose(su[:, n_seen:], rule_scores(rule, tu["scores"], tu["emb"], protos), atol=1e-5)


@pytest.mark.slow
def test_a_run_is_reused_for_the_same_data_and_never_for_other_data(tiny_root, tmp_path):
    """The synthetic birds generated again with another seed are other data under the same name: a stored run
    of the first birds is not reused for them, while the same birds reuse it."""
    import dataclasses

    from data_prep.synthetic import generate
    from sgma_core.experiment import prepare_data, train_baseline
    from tests.conftest import TINY

    other = tmp_path / "other"
    generate(other / "SYN", dataclasses.replace(TINY, seed=TINY.seed + 1), workers=1, progress=False)
    cfg = make_config("smoke", overrides={"dataset": "SYN", "epochs": 1, "device": "cpu", "pretrain_epochs": 0})
    runs = tmp_path / "runs"

    def trained_epochs(root) -> list[int]:
        epochs = []
        prepared = prepare_data(cfg, root, progress=False, runs_dir=runs)
        train_baseline(prepared, cfg, runs, progress=False, on_epoch_end=lambda e, r: epochs.append(e))
        return epochs

    assert trained_epochs(tiny_root) == [0]
    assert trained_epochs(tiny_root) == []  # the same data: the stored run
    assert trained_epochs(other) == [0]  # other birds of the same name: trained, not reused
    assert len(list((runs / "baseline").iterdir())) == 2


def _drop_a_tensor(run: Path) -> None:
    state = torch.load(run / "last.pt", weights_only=True)
    state["model"].pop(next(iter(state["model"])))
    torch.save(state, run / "last.pt")


@pytest.mark.parametrize("finished", [True, False], ids=["finished", "unfinished"])
@pytest.mark.parametrize("damage, match", [
    (lambda run: (run / "metrics.jsonl").write_text('{"epoch": 0}\n{"train_loss": 1.0}\n{"epoch": 2}\n'),
     r"metrics\.jsonl:2 .*has no epoch.*Delete .*run"),
    (lambda run: (run / "metrics.jsonl").write_text('{"epoch": 0}\n[1, 2]\n{"epoch": 2}\n'),
     r"metrics\.jsonl:2 .*not an object.*Delete .*run"),
    (lambda run: (run / "metrics.jsonl").write_text('{"epoch": 0}\n{"epoch": 1, "train_loss": NaN}\n{"epoch": 2}\n'),
     r"metrics\.jsonl:2: train_loss is NaN.*Delete .*run"),
    (lambda run: (run / "metrics.jsonl").write_text('{"epoch": 0}\n{"epoch": "1"}\n{"epoch": 2}\n'),
     r"metrics\.jsonl:2 .*epoch.*not a whole number.*Delete .*run"),
    (_drop_a_tensor, r"last\.pt does not fit this run .*Missing key.*Delete .*run"),
])
def test_a_damaged_history_or_checkpoint_is_named_with_what_to_do(tmp_path, damage, match, finished):
    run = tmp_path / "run"
    _fit(run)
    if not finished:
        (run / "final.json").unlink()
    damage(run)
    with pytest.raises(RunFileError, match=match):
        _fit(run)


@pytest.mark.parametrize("loss", [
    lambda run: (run / "metrics.jsonl").unlink(),
    lambda run: (run / "metrics.jsonl").write_text('{"epoch": 0, "train_loss": 1.0}\n'),
], ids=["deleted", "cut to its first epoch"])
def test_a_finished_run_without_its_whole_history_is_trained_again(tmp_path, loss, capsys):
    run = tmp_path / "run"
    full = _fit(run)
    loss(run)
    trained = []
    again = _fit(run, on_epoch_end=lambda epoch, record: trained.append(epoch))
    assert trained == [0, 1, 2]  # the checkpoint is after the last epoch: the history is only had by training
    assert [m["train_loss"] for m in again] == [m["train_loss"] for m in full]
    assert [m["epoch"] for m in read_metrics(run)] == [0, 1, 2] and (run / "final.json").is_file()
    out = capsys.readouterr().out
    assert "metrics.jsonl" in out and "training this run again from its first epoch" in out
    assert str(tmp_path) not in out  # the run is named as it is under its runs folder, not by a machine path


def test_an_unfinished_run_whose_history_has_a_gap_starts_again(tmp_path):
    run = tmp_path / "run"
    _fit_interrupted_after_epoch_1(run)
    (run / "metrics.jsonl").write_text('{"epoch": 1, "train_loss": 1.0}\n')  # epoch 0's record lost
    trained = []
    history = _fit(run, on_epoch_end=lambda epoch, record: trained.append(epoch))
    assert trained == [0, 1, 2] and [m["epoch"] for m in history] == [0, 1, 2]


def test_a_run_is_named_in_messages_by_its_place_under_the_runs_folder(tmp_path):
    run = Run.of("backbone", CFG, tmp_path / "runs")
    assert run.name == f"backbone/{run.path.name}" and run.path.name.startswith("SYN-smoke-seed0-")


def test_a_run_notes_the_library_that_trained_it_and_a_resume_under_another(tmp_path, monkeypatch):
    from sgma_core import paths

    _fit(tmp_path / "whole")
    assert Run(tmp_path / "whole").library() == paths.library_fingerprint()
    run = tmp_path / "resumed"
    _fit_interrupted_after_epoch_1(run)
    assert Run(run).library_fingerprints() == [paths.library_fingerprint()]
    monkeypatch.setattr(paths, "library_fingerprint", lambda folder=None: "f" * 16)  # the code changed, then resumed
    _fit(run)
    assert Run(run).library_fingerprints() == [Run(tmp_path / "whole").library(), "f" * 16]
    assert Run(run).library() is None  # trained by two libraries: neither is its
    (run / "library.json").write_text("{not json")
    assert Run(run).library() is None and Run(tmp_path / "none").library() is None
