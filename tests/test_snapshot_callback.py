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


def test_a_run_another_process_finished_keeps_every_epoch_it_saved(tmp_path):
    """Read while another process trains the run (epochs −1 and 0 saved), then finished by it (−1 … 3): the reader
    returns and keeps every epoch, not those it first read and the last."""
    path, model, phi = tmp_path / "snapshots.pt", tiny_sgma().eval(), torch.randn(6, 5)
    trainer = Snapshots(path, _images(), phi, model)
    trainer(0, {"epoch": 0})
    reader = Snapshots(path, _images(), phi, model)  # mid-run: the file holds −1 and 0
    assert sorted(reader.epochs) == [-1, 0]
    for epoch in (1, 2, 3):
        trainer(epoch, {"epoch": epoch})
    history = [{"epoch": e} for e in range(4)]
    assert sorted(reader.finished(history)) == [-1, 0, 1, 2, 3]
    assert sorted(Snapshots(path, _images(), phi, model).epochs) == [-1, 0, 1, 2, 3]  # the file too


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



@pytest.mark.parametrize("attention_training", ["none", "heads", "full"])
def test_a_snapshot_of_an_unchanged_attention_equals_the_pass_it_saves(tmp_path, monkeypatch, attention_training):
    from sgma_core.experiment import snapshots as module

    # the peak rule: nothing but the attention subnet moves the squares (a learned rule's head trains even with "none")
    model = tiny_sgma(attention_training=attention_training, centre_rule="peak")
    phi, images = torch.randn(6, 5), _images()
    model.train()
    snapshots = Snapshots(tmp_path / "snapshots.pt", images, phi, model)  # before training: one pass
    passes, forward = [], module.batched_forward
    monkeypatch.setattr(module, "batched_forward", lambda *a, **k: passes.append(1) or forward(*a, **k))
    snapshots(0, {"epoch": 0})  # nothing trained since the snapshot before training
    with torch.no_grad():  # an epoch that moves every parameter that trains
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.5 * torch.randn_like(p))
    snapshots(1, {"epoch": 1})
    model.eval()
    snapshots(2, {"epoch": 2})  # as after an evaluation
    assert len(passes) == {"none": 1, "heads": 2, "full": 3}[attention_training]  # frozen: only the new mode's
    fresh = Snapshots(tmp_path / "other.pt", images, phi, model)  # a pass of its own, as before this reuse
    for key in ("maps", "tx", "ty", "ts"):
        assert (snapshots.epochs[2][key] == fresh.epochs[-1][key]).all()
        if attention_training != "full":
            assert (snapshots.epochs[0][key] == snapshots.epochs[-1][key]).all()
    if attention_training == "none":
        assert (snapshots.epochs[1]["maps"] == snapshots.epochs[0]["maps"]).all()
        assert snapshots.epochs[1]["maps"] is not snapshots.epochs[0]["maps"]  # copies, not one array
