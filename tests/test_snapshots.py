"""Snapshots know their images: SGMA trained from the command line (``python -m sgma_core.train``) and
reused by chapter 04's code gives the hit rates of a run the chapter trains itself, and snapshots of
other images are computed again instead of being scored against the wrong rows."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sgma_core.experiment import (
    centre_hits,
    parts_at_input_size,
    prepare_data,
    snapshot_images,
    snapshot_points,
    train_sgma,
)
from sgma_core.localization import hit_rates
from sgma_core.profiles import make_experiment

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"dataset": "SYN", "epochs": 2, "device": "cpu", "num_threads": 1}


def chapter_hits(tiny_root, runs):
    """What chapter 04 computes: its experiment, all test images snapshotted, the peaks before and after
    training against the parts at the input size. Returns (hit rates per label, epochs trained, snapshots)."""
    experiment = make_experiment("smoke", SETTINGS, [0])
    prepared = prepare_data(experiment.config, tiny_root, progress=False, runs_dir=runs)
    trained = []
    _, _, info = train_sgma(prepared, experiment.configs()[0], runs, progress=False,
                            snapshot_images=snapshot_images(prepared), on_epoch_end=lambda e, r: trained.append(e))
    snapshots = info["snapshots"]
    parts, telling, radius = parts_at_input_size(prepared)
    rates = {label: hit_rates(snapshot_points(snapshots[e], prepared.image_size), parts, radius).tolist()
             for label, e in (("before training", -1), ("after training", max(snapshots)))}
    return rates, trained, snapshots, prepared


def test_a_snapshots_points_are_the_centres_of_the_squares_as_cropped():
    # a 16-pixel square centred 2 pixels from the left edge of a 32-pixel image is cropped moved right, to centre
    # 7.5 (the pixel convention's first full square); one inside the image stays where it is
    snapshot = {"tx": np.array([[2.0, 20.0]]), "ty": np.array([[15.5, 10.0]]), "ts": np.array([[16.0, 8.0]])}
    np.testing.assert_allclose(snapshot_points(snapshot, 32), [[[7.5, 15.5], [20.0, 10.0]]])


@pytest.mark.slow
def test_a_run_trained_from_the_command_line_gives_the_chapters_hit_rates(tiny_root, tmp_path):
    cli_runs, chapter_runs = tmp_path / "cli", tmp_path / "chapter"
    cmd = [sys.executable, "-m", "sgma_core.train", "--model", "sgma", "--profile", "smoke", "--seeds", "0",
           "--data-root", str(tiny_root), "--runs-dir", str(cli_runs), "--quiet",
           *[x for k, v in SETTINGS.items() if k != "dataset" for x in ("-p", k, str(v))]]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    reused, trained, reused_snaps, prepared = chapter_hits(tiny_root, cli_runs)
    assert trained == []  # the chapter found the command line's run and trained nothing
    assert sorted(reused_snaps) == [-1, 0, 1]  # the same images: every epoch's snapshot kept
    own, trained, own_snaps, _ = chapter_hits(tiny_root, chapter_runs)
    assert trained == [0, 1]
    assert reused == own
    for e in own_snaps:
        np.testing.assert_array_equal(reused_snaps[e]["tx"], own_snaps[e]["tx"])
    assert len(own_snaps[-1]["tx"]) == len(prepared.test_unseen_labels) + len(prepared.test_seen_labels)


@pytest.mark.slow
def test_snapshots_of_other_images_are_computed_again(tiny_root, tmp_path):
    rates, _, snaps, prepared = chapter_hits(tiny_root, tmp_path)
    experiment = make_experiment("smoke", SETTINGS, [0])
    few = snapshot_images(prepared)[:4]
    _, _, info = train_sgma(prepared, experiment.config, tmp_path, progress=False, snapshot_images=few)
    assert sorted(info["snapshots"]) == [-1, 1] and len(info["snapshots"][1]["tx"]) == 4  # recomputed for 4
    again, _, snaps_again, _ = chapter_hits(tiny_root, tmp_path)  # and for all of them, as before
    assert again == rates and sorted(snaps_again) == [-1, 1]
    parts, telling, radius = parts_at_input_size(prepared)
    with pytest.raises(ValueError, match="a snapshot of 4 images scored against the parts of"):
        centre_hits(info["snapshots"][1], parts, telling, radius, prepared.image_size)
