"""Runs trained ahead by a child are the runs the page asks for later: the same settings, split and snapshot
images name the same run, which the page then reads instead of training; a job that cannot train is left to
the page, and nothing is started where there is no spare core or nothing to do."""

import json
import subprocess
import sys

import torch

from sgma_core.engine.runs import Run
from sgma_core.experiment import prepare_data, snapshot_images, train_sgma
from sgma_core.experiment.ahead import Ahead, run_jobs, train_ahead
from sgma_core.experiment.recipes import run_extra
from sgma_core.profiles import config_dict, make_config


def test_a_run_trained_ahead_is_the_run_the_page_reads(tiny_root, tmp_path):
    cfg = make_config("smoke", {"attention_norm": "standardize", "attention_training": "none"})
    runs = tmp_path / "runs"
    spec = {"data_root": str(tiny_root), "runs_dir": str(runs),
            "jobs": [{"config": config_dict(cfg), "split": "test", "snapshots": True},
                     {"config": {**config_dict(cfg), "dataset": "NOPE"}, "split": "val", "snapshots": False}]}
    done = subprocess.run([sys.executable, "-m", "sgma_core.experiment.ahead", json.dumps(spec)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 1 and "not trained ahead" in done.stderr  # the second job fails, the first is done
    prepared = prepare_data(cfg, tiny_root, progress=False, runs_dir=runs)
    run = Run.of("sgma", cfg, runs, extra=run_extra(prepared, cfg))
    assert run.is_finished()
    stamp = {p: p.stat().st_mtime_ns for p in run.path.iterdir()}
    _, history, info = train_sgma(prepared, cfg, runs, progress=False, snapshot_images=snapshot_images(prepared))
    assert {p: p.stat().st_mtime_ns for p in run.path.iterdir()} == stamp  # read, not trained or written again
    assert sorted(info["snapshots"]) == list(range(-1, cfg.epochs))  # every epoch's maps, as the page keeps them
    assert run_jobs({**spec, "jobs": []}) == 0


def test_nothing_is_started_without_jobs_or_when_disabled():
    cfg = make_config("smoke")
    assert train_ahead([], None, None).finish() is None
    assert train_ahead([Ahead(cfg)], None, None, enabled=False).finish() is None


def test_snapshots_name_every_test_image_the_first_n_or_none(tiny_root):
    from sgma_core.experiment.ahead import shown_images

    prepared = prepare_data(make_config("smoke"), tiny_root, progress=False)
    every = snapshot_images(prepared)
    assert shown_images(prepared, False) is None
    assert torch.equal(shown_images(prepared, True), every)
    # the first n are the page's `show`: the first unseen-class test images, so they name the same run
    assert torch.equal(shown_images(prepared, 3), prepared.test_unseen_images[:3])
