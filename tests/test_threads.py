"""A run repeats bit for bit at a fixed number of CPU threads, and every epoch's record says how many threads
trained it (a run with another count gives other numbers: benchmarks/results/threads-cpu-2core-2026-12-01.md)."""

import torch

from sgma_core.experiment import prepare_data, pretrained_backbone
from sgma_core.profiles import make_config


def _losses(tiny_root, runs):
    cfg = make_config("smoke", {"dataset": "SYN", "pretrain_epochs": 2, "num_threads": 1})
    prepared = prepare_data(cfg, tiny_root, progress=False)
    _, history = pretrained_backbone(prepared, cfg, runs, progress=False)
    return history


def test_one_thread_repeats_bit_for_bit_and_the_record_says_so(tiny_root, tmp_path):
    before = torch.get_num_threads()
    try:
        first, second = _losses(tiny_root, tmp_path / "a"), _losses(tiny_root, tmp_path / "b")
    finally:
        torch.set_num_threads(before)
    assert [h["train_loss"] for h in first] == [h["train_loss"] for h in second]
    assert all(h["threads"] == 1 for h in first + second)
