"""Snapshots: SGMA's maps and squares on fixed images before training (epoch −1) and after every epoch,
kept in the run folder as ``snapshots.pt`` (tensors, numbers and the images' digest: nothing is unpickled).

    snapshots = Snapshots(run.path / "snapshots.pt", images, phi, model)   # epoch −1 taken, unless stored
    fit(model, ..., on_epoch_end=snapshots)                               # one more after each epoch, saved
    snapshots.finished(history)                                           # {epoch: {maps, tx, ty, ts}}
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import torch

from sgma_core.attention import state_digest
from sgma_core.engine import distributed
from sgma_core.engine.runs import RunFileError, load_checkpoint, save_atomically
from sgma_core.experiment.evaluate import batched_forward

SNAPSHOT_KEYS = ("maps", "tx", "ty", "ts")  # what a snapshot keeps: the maps and the squares


class _Locate(torch.nn.Module):
    """``SGMA.locate`` as a module's forward, for :func:`batched_forward` (the branches are not run)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, phi=None) -> dict:
        return self.model.locate(x)


def images_digest(images: torch.Tensor) -> str:
    """SHA-256 of uint8 images ``[N, 3, S, S]`` (their shape and every pixel): which images a snapshot shows."""
    digest = hashlib.sha256(str(tuple(images.shape)).encode())
    digest.update(np.ascontiguousarray(images.numpy()).data)
    return digest.hexdigest()


def locating_state(model: torch.nn.Module) -> str | None:
    """A digest of everything an SGMA's :meth:`~sgma_core.sgma.SGMA.locate` depends on besides its input: the
    attention backbone's, the FC pairs' and the centre rule's learned module's weights and buffers, the rule
    and the model's mode; None where locating could itself change the model (a trainable attention backbone
    in training mode moves its batch-norm statistics) or ``model`` is not an SGMA."""
    parts = [getattr(model, name, None) for name in ("attention_backbone", "attention", "rule")]
    if any(p is None for p in parts) or (model.attention_training == "full" and model.training):
        return None
    digest = hashlib.sha256(f"{model.rule.name} {model.training} {model.part_scale}".encode())
    modules = {"backbone": model.attention_backbone, "attention": model.attention}
    if isinstance(getattr(model, "localizer", None), torch.nn.Module):
        modules["localizer"] = model.localizer
    return state_digest(digest, **modules).hexdigest()


class Snapshots:
    """The maps and squares of ``model`` on ``images`` (uint8 ``[N, C, S, S]``, as the model is shown them),
    by epoch, stored at ``path``; an epoch callback of :func:`~sgma_core.engine.loop.fit`.

    A stored file is used only for the same images (:func:`images_digest`); a file of other images
    (for example 4 where the chapter now asks for all), of the older layout or damaged is replaced,
    and the maps before training and after the last epoch are computed again. A file that would have
    to be unpickled is refused (:class:`~sgma_core.engine.runs.RunFileError`), never loaded. The maps
    before training (epoch −1) are taken when the file has none.

    A snapshot of a model whose attention subnet has not changed since an earlier one (the same weights,
    buffers and mode, :func:`locating_state`: the attention that does not train) is that one's copy, not a
    second pass over the images."""

    def __init__(self, path: Path, images: torch.Tensor, phi: torch.Tensor, model: torch.nn.Module) -> None:
        self.path, self.images, self.phi, self.model = Path(path), images, phi, model
        self.digest = images_digest(images)
        self.taken: dict[str, dict[str, np.ndarray]] = {}  # by locating_state: what this object computed
        self.epochs: dict[int, dict[str, np.ndarray]] = self._load()
        if -1 not in self.epochs:
            self.take(model, -1)

    def _load(self) -> dict[int, dict[str, np.ndarray]]:
        if not self.path.is_file():
            return {}
        try:
            stored = load_checkpoint(self.path)
        except RunFileError as exc:
            if isinstance(exc.__cause__, pickle.UnpicklingError):
                raise  # refused: never loaded
            shown = "/".join(self.path.parts[-3:])  # <kind>/<run>/snapshots.pt: a printed path reaches the page
            print(f"{shown} is damaged; the maps before training and after the last epoch are computed again, "
                  "those of the epochs between are lost", flush=True)
            return {}
        if stored.get("images") != self.digest:
            return {}  # snapshots of other images: computed again for these
        return {int(e): {k: v.numpy() for k, v in snap.items()} for e, snap in stored["epochs"].items()}

    def take(self, model: torch.nn.Module, epoch: int) -> None:
        """The maps and squares of ``model`` on the images, as those after ``epoch``."""
        state = locating_state(model)
        if state is not None and state in self.taken:  # the same function of the same images: the same values
            self.epochs[epoch] = {k: v.copy() for k, v in self.taken[state].items()}
            return
        locate = _Locate(model).train(model.training)
        self.epochs[epoch] = batched_forward(locate, self.images, self.phi, 64, keys=SNAPSHOT_KEYS)
        if state is not None:
            self.taken[state] = {k: v.copy() for k, v in self.epochs[epoch].items()}

    def save(self) -> None:
        if distributed.is_main():
            epochs = {e: {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in s.items()}
                      for e, s in self.epochs.items()}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            save_atomically(self.path, lambda p: torch.save({"images": self.digest, "epochs": epochs}, p))

    def __call__(self, epoch: int, record: dict) -> None:
        """After ``epoch`` of training: its snapshot, saved at once."""
        self.take(self.model, epoch)
        self.save()

    def finished(self, history: list[dict]) -> dict[int, dict[str, np.ndarray]]:
        """Every epoch's snapshot, the last one's taken and saved when a stored run's file showed other images.

        The file is read again first: where another process trained the run while this one waited on its lock
        (``make book``'s first run, a child training ahead), it saved every epoch after those read here."""
        self.epochs.update(self._load())
        if history and history[-1]["epoch"] not in self.epochs:
            self(history[-1]["epoch"], history[-1])
        return self.epochs
