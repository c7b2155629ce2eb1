"""A backbone start this project wrote (``backbone_weights``): loaded only when its manifest and digest say so,
and a run's identity follows the file's contents, not its path."""

import shutil

import pytest
import torch

from sgma_core.backbones import backbone_for
from sgma_core.checked_weights import WeightsFileError, manifest_path, start_manifest
from sgma_core.engine.runs import Run, run_identity
from sgma_core.experiment.recipes import run_extra
from sgma_core.profiles import make_config
from sgma_core.start_saving import save_start


def _start(tmp_path, seed=0):
    torch.manual_seed(seed)
    net = backbone_for(make_config("smoke"))
    path = tmp_path / f"start{seed}.pt"
    save_start(net, path, {"backbone": "small_vgg", "seen_acc": 0.5})
    return net, path


def test_a_start_loads_back_identical_and_its_manifest_names_its_digest(tmp_path):
    net, path = _start(tmp_path)
    loaded = backbone_for(make_config("smoke", {"backbone_weights": str(path)}))
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), loaded.state_dict().values()))
    assert start_manifest(path, "small_vgg")["seen_acc"] == 0.5


def test_a_changed_a_foreign_or_a_mismatched_start_is_refused(tmp_path):
    _, path = _start(tmp_path)
    with pytest.raises(WeightsFileError, match="is a start for 'small_vgg', not for backbone='vgg19'"):
        start_manifest(path, "vgg19")
    other = tmp_path / "copied.pt"
    shutil.copy(path, other)  # a file without the manifest this project writes beside it
    with pytest.raises(WeightsFileError, match="no readable manifest"):
        backbone_for(make_config("smoke", {"backbone_weights": str(other)}))
    with path.open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(WeightsFileError, match="changed after it was written"):
        backbone_for(make_config("smoke", {"backbone_weights": str(path)}))
    with pytest.raises(WeightsFileError, match="no such file"):
        start_manifest(tmp_path / "absent.pt")


def test_a_run_from_a_start_is_named_by_the_file_contents_not_its_path(tmp_path):
    _, first = _start(tmp_path, 0)
    moved = tmp_path / "elsewhere" / "same.pt"
    moved.parent.mkdir()
    shutil.copy(first, moved)
    shutil.copy(manifest_path(first), manifest_path(moved))
    _, second = _start(tmp_path, 1)

    class Prepared:  # what run_extra reads of prepared data
        split = "test"
        dataset = type("D", (), {"fingerprint": staticmethod(lambda: "data")})()

    def name(path):
        cfg = make_config("smoke", {"backbone_weights": str(path) if path else None})
        return Run.of("sgma", cfg, tmp_path / "runs", extra=run_extra(Prepared(), cfg)).path.name

    assert name(first) == name(moved) != name(second)
    assert name(None) not in (name(first), name(second))
    # the setting leaves the names of runs without a start as they were: their identity does not hold it
    assert "backbone_weights" not in run_identity(make_config("smoke"))


def test_a_start_swapped_after_it_was_hashed_is_never_loaded(tmp_path, monkeypatch):
    """``start.pt`` is a link flipped to all-zero weights right after its first opening: what is loaded is what
    was hashed (the good weights), never the other file."""
    import builtins
    import io

    net, good = _start(tmp_path)
    zeros = tmp_path / "zeros.pt"
    torch.save({k: torch.zeros_like(v) for k, v in net.state_dict().items()}, zeros)
    link = tmp_path / "start.pt"
    link.symlink_to(good)
    shutil.copy(manifest_path(good), manifest_path(link))
    start_manifest(link, "small_vgg")  # the digest of a file is remembered: only loading opens it now
    real_open, opened = builtins.open, []

    def open_then_flip(file, *args, **kwargs):
        handle = real_open(file, *args, **kwargs)
        if str(file) == str(link) and not opened:
            opened.append(file)
            link.unlink()
            link.symlink_to(zeros)
        return handle

    monkeypatch.setattr(builtins, "open", open_then_flip)
    monkeypatch.setattr(io, "open", open_then_flip)
    loaded = backbone_for(make_config("smoke", {"backbone_weights": str(link)}))
    assert opened and link.resolve() == zeros  # the file did change under the loader
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), loaded.state_dict().values()))
