"""Evaluation batches computed side by side in threads give what one thread gives, in the order of the rows."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from torch import nn

from sgma_core.experiment import evaluate
from sgma_core.experiment.evaluate import batched_forward, side_by_side


class _Net(nn.Module):
    """A small convolutional model that returns a dict, as SGMA does; ``seen`` records the grad mode it ran in."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.Conv2d(8, 8, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.seen = []

    def forward(self, x, phi):
        self.seen.append(torch.is_grad_enabled())
        f = self.body(x)
        return {"scores": f @ phi, "emb": f}


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (45, 3, 16, 16), dtype=torch.uint8, generator=g), torch.randn(8, 5, generator=g)


def _run(monkeypatch, threads, images, phi):
    model = _Net().train()
    monkeypatch.setattr(evaluate, "side_by_side", lambda device: threads)
    out = batched_forward(model, images, phi, batch_size=7, keys=("scores", "emb"))
    return out, model


def test_threads_give_the_rows_of_one_thread_bit_for_bit(monkeypatch, data):
    images, phi = data
    one, _ = _run(monkeypatch, 1, images, phi)
    three, model = _run(monkeypatch, 3, images, phi)
    assert one["scores"].shape == (45, 5)  # 7 batches, the last of 3 rows
    for key in one:
        assert np.array_equal(one[key], three[key])
    assert model.training and not any(model.seen)  # mode given back; no graph built in any thread


def test_rows_stay_in_order(monkeypatch, data):
    images, phi = data
    out, _ = _run(monkeypatch, 4, images, phi)
    alone = batched_forward(_Net(), images[38:45], phi, batch_size=7, keys=("emb",))
    assert np.array_equal(out["emb"][38:], alone["emb"])


def test_one_batch_at_a_time_where_threads_would_not_help_or_not_match():
    cpu = torch.device("cpu")
    assert side_by_side(torch.device("cuda")) == 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert side_by_side(cpu) == 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    spare = max(1, min(evaluate.MAX_SIDE_BY_SIDE, cores // torch.get_num_threads()))
    assert side_by_side(cpu) == (1 if os.nice(0) > 0 else spare)


@pytest.mark.skipif(not hasattr(os, "nice"), reason="POSIX niceness")
def test_a_process_at_a_lower_priority_takes_one_core():
    code = ("import os, torch; torch.set_num_threads(1); os.nice(5); "
            "from sgma_core.experiment.evaluate import side_by_side; print(side_by_side(torch.device('cpu')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


def test_an_error_in_one_batch_stops_the_batches_not_started(monkeypatch, data):
    images, phi = data

    class Failing(_Net):
        calls = 0

        def forward(self, x, phi):
            Failing.calls += 1
            if Failing.calls == 2:
                raise RuntimeError("batch failed")
            time.sleep(0.05)  # batches that take a while: the failure is seen while most are still to start
            return super().forward(x, phi)

    model = Failing().train()
    monkeypatch.setattr(evaluate, "side_by_side", lambda device: 2)
    with pytest.raises(RuntimeError, match="batch failed"):
        batched_forward(model, images, phi, batch_size=1, keys=("emb",))  # 45 batches
    assert Failing.calls < 10 and model.training  # the batches not started were dropped; the mode given back
