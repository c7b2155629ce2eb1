"""make warm pretrains the backbone the training chapters start from, as they ask for it, before they start: the
chapters then read it; and it needs only torch and the data's packages (make book runs it while the rest installs)."""

import dataclasses
import json
import subprocess
import sys

from sgma_core.engine.runs import Run
from sgma_core.experiment import prepare_data, pretrained_backbone
from sgma_core.experiment.recipes import run_extra
from sgma_core.profiles import make_experiment, resolve_overrides


def test_the_backbone_warmed_is_the_one_the_chapters_read(tiny_root, tmp_path):
    runs = tmp_path / "runs"
    code = ("import sys; from sgma_core.experiment.warm import main; "
            f"main(['--profile', 'smoke', '--data-root', {str(tiny_root)!r}, '--runs-dir', {str(runs)!r}]); "
            "print(sorted({'matplotlib', 'sklearn', 'jupyter_book', 'IPython', 'papermill'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True)
    report, heavy = done.stdout.strip().splitlines()[-2:]
    assert heavy == "[]"  # nothing that only the full install brings
    # the chapters' experiment (bookkit.opening.open_training_chapter with no overrides, the first seed)
    config = make_experiment("smoke", {**resolve_overrides({}), "dataset": "SYN"}, "first").configs()[0]
    assert json.loads(report)["backbone_epochs"] == config.pretrain_epochs > 0
    prepared = prepare_data(config, tiny_root, progress=False, runs_dir=runs)
    pretraining = Run.of("backbone", dataclasses.replace(config, epochs=config.pretrain_epochs), runs,
                         extra={"pretrain": True, **run_extra(prepared, config)})
    assert pretraining.is_finished()
    stamp = {p: p.stat().st_mtime_ns for p in pretraining.path.iterdir()}
    _, history = pretrained_backbone(prepared, config, runs, progress=False)
    assert len(history) == config.pretrain_epochs
    assert {p: p.stat().st_mtime_ns for p in pretraining.path.iterdir()} == stamp  # read, not trained again
    assert [p.name for p in (runs / "backbone").iterdir()] == [pretraining.path.name]


def test_the_first_sgma_run_warmed_is_the_one_chapter_04_reads_with_every_snapshot(tiny_root, tmp_path):
    """--sgma (make book's first-run) trains the first seed's SGMA run as chapter 04 asks for it: the chapter's call
    finds it finished, with a snapshot of every test image before training and after every epoch."""
    from sgma_core.experiment import snapshot_images, train_sgma
    from sgma_core.experiment.warm import warm

    runs = tmp_path / "runs"
    report = warm("smoke", "SYN", tiny_root, runs, sgma=True)
    config = make_experiment("smoke", {**resolve_overrides({}), "dataset": "SYN"}, "first").configs()[0]
    assert report["sgma_epochs"] == config.epochs
    (folder,) = (runs / "sgma").iterdir()
    stamp = {p: p.stat().st_mtime_ns for p in folder.iterdir()}
    prepared = prepare_data(config, tiny_root, progress=False, runs_dir=runs)
    images = snapshot_images(prepared)
    _, history, info = train_sgma(prepared, config, runs, progress=False, snapshot_images=images)  # as chapter 04
    assert len(history) == config.epochs and info["test_scores"] is None  # read from the store, not trained
    assert {p: p.stat().st_mtime_ns for p in folder.iterdir()} == stamp
    assert sorted(info["snapshots"]) == list(range(-1, config.epochs))
    assert all(snap["maps"].shape[0] == images.shape[0] for snap in info["snapshots"].values())
