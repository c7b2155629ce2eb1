"""The snapshots file as an epoch callback, and the chaining of fit's epoch callbacks."""

import pickle

import pytest
import torch

from sgma_core.engine.loop import chain
from sgma_core.engine.runs import RunFileError
from sgma_core.experiment.snapshots import Snapshots
from tests.conftest import tiny_sgma


def _images(seed: int = 0) -> torch.Tensor:
    return (torch.rand(4, 3, 24, 24, generator=torch.Generator().manual_seed(seed)) * 255).to(torch.uint8)


def test_snapshots_are_taken_before_training_and_after_each_epoch_and_kept_for_the_same_images(tmp_path):
    path, model, phi = tmp_path / "sgma" / "run" / "snapshots.pt", tiny_sgma().eval(), torch.randn(6, 5)
    snapshots = Snapshots(path, _images(), phi, model)
    assert sorted(snapshots.epochs) == [-1] and not path.exists()  # before training: taken, not yet saved
    for epoch in (0, 1):
        snapshots(epoch, {"epoch": epoch})  # as fit calls it
    assert path.is_file() and sorted(Snapshots(path, _images(), phi, model).epochs) == [-1, 0, 1]
    assert sorted(Snapshots(path, _images(1), phi, model).epochs) == [-1]  # other images: computed again
    again = Snapshots(path, _images(), phi, model)
    assert sorted(again.finished([{"epoch": 0}, {"epoch": 1}])) == [-1, 0, 1]  # a stored run: nothing to add
    other = Snapshots(path, _images(1), phi, model)
    assert sorted(other.finished([{"epoch": 0}, {"epoch": 1}])) == [-1, 1]  # the last epoch's, taken and saved
    assert sorted(Snapshots(path, _images(1), phi, model).epochs) == [-1, 1]


def test_a_snapshot_file_that_would_be_unpickled_is_refused(tmp_path):
    path = tmp_path / "snapshots.pt"
    torch.save({"images": "x", "epochs": {}, "more": pickle.loads(pickle.dumps(object))}, path)
    with pytest.raises(RunFileError):
        Snapshots(path, _images(), torch.randn(6, 5), tiny_sgma().eval())


def test_chained_callbacks_are_called_in_order_and_none_is_left_out():
    calls = []
    callback = chain(lambda e, r: calls.append(("a", e)), None, lambda e, r: calls.append(("b", e, r["x"])))
    callback(3, {"x": 1})
    assert calls == [("a", 3), ("b", 3, 1)]
    chain(None)(0, {})  # nothing to call
