"""The run store: where a training run lives, what makes two runs the same run, and its files.

A run lives in ``<runs root>/<kind>/<dataset>-<profile>-seed<seed>-<hash>``: ``config.json`` (its settings),
``metrics.jsonl`` (one line per finished epoch), ``last.pt`` (model, optimiser and schedule after the last
finished epoch), ``final.json`` (written when it has finished) and ``library.json`` (the library that trained
it: :meth:`Run.library`). Its identity (:func:`run_identity`) is the
settings that shape what it computes, in their stored form (:func:`sgma_core.backbones.stored_settings`), plus
``extra`` (data fingerprint, validation split); the hash names the folder, and a folder whose settings differ
from a new run's is refused (:class:`RunMismatchError`), never overwritten.

One process writes a run folder at a time (:func:`sgma_core.files.locked`; a second identical run waits and
reuses the result); files are written atomically, and a metrics line cut short by a kill is ignored.
Checkpoints hold tensors and numbers only (``weights_only``): anything else is refused, a damaged file is
named with what to do (:class:`RunFileError`). Only rank 0 of a distributed run writes; every rank reads.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import pickle
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from sgma_core.backbones import stored_settings
from sgma_core.engine import distributed
from sgma_core.files import DiskFullError, disk_full, locked, save_atomically, write_text
from sgma_core.paths import runs_root
from sgma_core.profiles import RUNTIME_ONLY, RunConfig, config_dict
from sgma_core.records import dumps_finite, loads_finite, non_finite_field, write_record

BACKBONE_SETTINGS = ("dataset", "seed", "backbone", "pretrained", "layer", "image_size", "batch_size", "lr", "momentum",
                     "weight_decay", "lr_factor", "lr_min", "plateau_patience", "plateau_threshold", "pretrain_epochs",
                     "max_train_images", "augment", "precision", "channels_last")
BASELINE_SETTINGS = BACKBONE_SETTINGS + ("epochs", "freeze_backbone", "max_test_images")
# The settings that define a run of each kind; a kind not listed here: every setting but RUNTIME_ONLY.
IDENTITY_KEYS: dict[str, tuple[str, ...]] = {"backbone": BACKBONE_SETTINGS, "baseline": BASELINE_SETTINGS}


class RunMismatchError(ValueError):
    """A run folder holds a run started with other settings."""


class RunFileError(ValueError):
    """A file of a run folder is damaged, or holds something other than tensors and numbers."""


# Settings that name a file: a run's identity holds the file's digest (in ``extra``), not where the file lies.
FILE_SETTINGS = ("backbone_weights",)


def run_identity(settings: RunConfig | dict, keys: tuple[str, ...] | None = None, extra: dict | None = None) -> dict:
    """The settings that make a run what it is: ``keys`` (default: all but run-time-only ones and the file
    settings) in the form identities store them (the layer under its backbone's key), plus ``extra``."""
    d = config_dict(settings) if isinstance(settings, RunConfig) else dict(settings)
    d = {k: d.get(k) for k in keys} if keys is not None else {
        k: v for k, v in d.items() if k not in RUNTIME_ONLY and k not in FILE_SETTINGS}
    return {**stored_settings(d), **(extra or {})}


def settings_hash(identity: dict) -> str:
    """Eight hex digits of the identity's SHA-256: the last part of a run folder's name."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The per-epoch records of ``run_dir/metrics.jsonl`` (empty when there are none).

    A last line without its newline (an append cut short by a kill) is not a record and is left
    out. Any other line that is not a record — not JSON, not an object, without a whole-number
    ``epoch``, holding NaN or an infinity — is a :class:`RunFileError` naming the file, the line and
    the field."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    whole = text.split("\n")[:-1]  # the piece after the last newline is incomplete
    return [_metrics_record(path, lineno, line) for lineno, line in enumerate(whole, 1) if line.strip()]


def _metrics_record(path: Path, lineno: int, line: str) -> dict:
    """Line ``lineno`` of ``path`` as an epoch's record, or the error that says what is wrong with it."""
    remedy = f"The file is damaged. Delete the run folder {path.parent} to train this run again."
    try:
        record = loads_finite(line)
    except ValueError:
        raise RunFileError(f"{path}:{lineno} is not a metrics record ({line[:60]!r}). {remedy}") from None
    if not isinstance(record, dict):
        raise RunFileError(f"{path}:{lineno} is not a metrics record: a JSON {type(record).__name__}, not an object. "
                           f"{remedy}")
    found = non_finite_field(record)
    if found:
        raise RunFileError(f"{path}:{lineno}: {found[0]} is {found[1]}, not a number. {remedy}")
    if "epoch" not in record:
        raise RunFileError(f"{path}:{lineno} is not a metrics record: it has no epoch. {remedy}")
    epoch = record["epoch"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise RunFileError(f"{path}:{lineno} is not a metrics record: its epoch {epoch!r} is not a whole number. "
                           f"{remedy}")
    return record


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict:
    """A checkpoint written by :meth:`Run.end_epoch` (tensors, numbers, strings: nothing is unpickled)."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise RunFileError(
            f"{path} was refused: it holds Python objects other than tensors and numbers, and loading it could run "
            f"code. Nothing was loaded from it. Runs written by this book never hold such objects; if you do not "
            f"trust the file, delete {path.parent}.") from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise RunFileError(f"{path} is damaged ({str(exc).splitlines()[0][:120]}). Delete it to train this run "
                           "again from its first epoch, or restore it from where the run was copied.") from exc


@dataclass
class Run:
    """One run folder and the rule that says whether a configuration belongs in it."""

    path: Path
    keys: tuple[str, ...] | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def of(cls, kind: str, config: RunConfig, runs_dir: str | Path | None = None, extra: dict | None = None) -> Run:
        """The folder of a ``kind`` run (``"backbone"``, ``"baseline"``, ``"sgma"``) with ``config``."""
        keys = IDENTITY_KEYS.get(kind)
        identity = run_identity(config, keys, extra)
        name = f"{config.dataset}-{config.profile}-seed{config.seed}-{settings_hash(identity)}"
        return cls(runs_root(runs_dir) / kind / name, keys, dict(extra or {}))

    def __post_init__(self) -> None:
        # the four files of a run folder (the module's docstring)
        self.config_path, self.metrics_path, self.checkpoint_path, self.final_path = (
            self.path / name for name in ("config.json", "metrics.jsonl", "last.pt", "final.json"))
        self.library_path = self.path / "library.json"

    @property
    def name(self) -> str:
        """The run as messages name it: ``<kind>/<folder>`` under its runs folder, never the machine's path (a
        message printed while a chapter runs is part of the published page)."""
        return "/".join(self.path.parts[-2:])

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's lock (rank 0 only): one writer at a time; a second process waits for it."""
        if not distributed.is_main():
            yield
            return
        with locked(self.path / ".lock",
                    f"another process is training {self.name}; waiting for it to finish (Ctrl-C to stop)"):
            yield

    def check(self, config: RunConfig) -> None:
        """Refuse a folder that holds a run with other identity settings than ``config``'s."""
        if not (self.config_path.is_file() and (self.checkpoint_path.is_file() or self.metrics_path.is_file())):
            return
        ours = run_identity(config, self.keys)
        try:
            stored = json.loads(self.config_path.read_text())
            assert isinstance(stored, dict)
        except (ValueError, AssertionError, UnicodeDecodeError):
            raise RunFileError(f"{self.config_path} is damaged, so whether this folder holds the same run cannot be "
                               f"checked. Delete {self.path} to train the run again.") from None
        stored = stored_settings(stored)  # a config.json written before `layer` holds the stored keys already
        diff = sorted(k for k in ours if stored.get(k) != ours[k])
        if diff:
            changes = ", ".join(f"{k}: {stored.get(k)!r} → {ours[k]!r}" for k in diff)
            raise RunMismatchError(f"{self.path} holds a run with other settings ({changes}); "
                                   "delete that folder or give this run another runs_dir.")

    def is_finished(self) -> bool:
        return self.final_path.is_file() and self.checkpoint_path.is_file() and self.metrics_path.is_file()

    def finished_history(self, model: torch.nn.Module, epochs: int, device) -> list[dict] | None:
        """A finished run of ``epochs`` epochs: its history, with the model loaded from ``last.pt``; ``None``
        where the history or the checkpoint is not that of the whole run (then :meth:`start` resumes or
        starts again)."""
        history = read_metrics(self.path)
        state = load_checkpoint(self.checkpoint_path, device)
        if [m["epoch"] for m in history] != list(range(epochs)) or self._epoch_of(state) != epochs - 1:
            return None
        self._restore(state, model)
        return history

    def start(self, config: RunConfig, model: torch.nn.Module, optimizer, scheduler, device) -> int:
        """Load the last checkpoint into the model, optimiser and schedule, if there is one; returns the
        epoch to start from. Where ``metrics.jsonl`` lacks the record of an epoch before the checkpoint
        (deleted, cut short), the run starts again from its first epoch: that history is had only by
        training. Rank 0 drops metrics of epochs from the start on and writes ``config.json``."""
        state = load_checkpoint(self.checkpoint_path, device) if self.checkpoint_path.is_file() else None
        start = 0 if state is None else self._epoch_of(state) + 1
        kept = [m for m in read_metrics(self.path) if m["epoch"] < start]
        if [m["epoch"] for m in kept] != list(range(start)):
            if distributed.is_main():
                print(f"{self.name}: {self.metrics_path.name} lacks the records of epochs before last.pt (after epoch "
                      f"{start}); training this run again from its first epoch", flush=True)
            state, start, kept = None, 0, []
        if state is not None:
            self._restore(state, model, optimizer, scheduler)
        if distributed.is_main():
            self.path.mkdir(parents=True, exist_ok=True)
            lines = "".join(dumps_finite(m, self.metrics_path) + "\n" for m in kept)
            write_text(self.metrics_path, lines)
            self.final_path.unlink(missing_ok=True)
            write_record(self.config_path, config_dict(config))
            self._note_library(resumed=state is not None)
        return start

    def _note_library(self, resumed: bool) -> None:
        """Write ``library.json``: the fingerprints (:func:`~sgma_core.paths.library_fingerprint`) of the library
        code that trained this run, this one appended where a checkpoint is resumed, else alone."""
        from sgma_core.paths import library_fingerprint

        earlier = self.library_fingerprints() if resumed else []
        write_record(self.library_path, {"library": list(dict.fromkeys([*earlier, library_fingerprint()]))})

    def library_fingerprints(self) -> list[str]:
        """The library fingerprints ``library.json`` holds; empty where it is missing or damaged (a run folder
        made before they were noted: which code trained it is not known)."""
        try:
            found = json.loads(self.library_path.read_text())["library"]
            assert isinstance(found, list) and all(isinstance(f, str) for f in found)
            return found
        except (OSError, ValueError, KeyError, TypeError, AssertionError):
            return []

    def library(self) -> str | None:
        """The fingerprint of the library that trained the whole run; None where it is not known or where a
        resumed run was trained by more than one."""
        found = self.library_fingerprints()
        return found[0] if len(found) == 1 else None

    def _epoch_of(self, state: object) -> int:
        """The (0-based) epoch after which the checkpoint ``state`` was written; refused where it has none."""
        epoch = state.get("epoch") if isinstance(state, dict) else None
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise RunFileError(f"{self.checkpoint_path} does not fit this run (its epoch is {epoch!r}): it is damaged "
                               f"or was written by other code. Delete the run folder {self.path} to train this run "
                               "again.")
        return epoch

    def _restore(self, state: dict, model: torch.nn.Module, optimizer=None, scheduler=None) -> None:
        """Load a checkpoint's ``state`` into ``model`` (and ``optimizer``, ``scheduler``); a state that does not
        fit them (tensors missing, other shapes) is a :class:`RunFileError` naming ``last.pt``."""
        try:
            model.load_state_dict(state["model"])
            if optimizer is not None:
                optimizer.load_state_dict(state["optimizer"])
                scheduler.load_state_dict(state["scheduler"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            detail = f"it has no {exc}" if isinstance(exc, KeyError) else " ".join(str(exc).split())[:200]
            raise RunFileError(f"{self.checkpoint_path} does not fit this run ({detail}): it is damaged or was written "
                               f"by other code. Delete the run folder {self.path} to train this run again.") from exc

    def end_epoch(self, record: dict, state: dict) -> None:
        """Rank 0 appends the epoch's record and replaces the checkpoint; every rank waits for it."""
        if distributed.is_main():
            # the record, then the checkpoint: a kill between the two only costs this epoch again
            self._append(dumps_finite(record, self.metrics_path) + "\n")
            save_atomically(self.checkpoint_path, lambda p: torch.save(state, p))
        distributed.barrier()

    def _append(self, line: str) -> None:
        """One whole line at the end of ``metrics.jsonl``, on disk before the call returns."""
        try:
            with self.metrics_path.open("a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            if disk_full(exc, self.metrics_path):
                raise DiskFullError(errno.ENOSPC, f"the disk is full: {self.metrics_path} could not be written. Free "
                                    "some space and run the same command again: the run resumes.") from exc
            raise

    def finish(self) -> list[dict]:
        """Mark the run finished (``final.json``: the last record); returns the whole history."""
        history = read_metrics(self.path)
        if distributed.is_main():
            write_record(self.final_path, history[-1] if history else {})
        distributed.barrier()
        return history

    def checkpoint_epoch(self) -> int:
        """The (1-based) epoch after which ``last.pt`` was written."""
        return self._epoch_of(load_checkpoint(self.checkpoint_path)) + 1
