"""The run store: where a training run lives, what makes two runs the same run, and its files.

A run lives in one folder, ``<runs root>/<kind>/<dataset>-<profile>-seed<seed>-<hash>``::

    config.json     the RunConfig it was started with
    metrics.jsonl   one line per finished epoch, appended as training goes
    last.pt         model, optimiser and schedule after the last finished epoch
    final.json      written when the run has finished: the last epoch's metrics

**Identity, one rule.** A run's identity is the settings that shape what it computes:
:func:`run_identity` — every :class:`~sgma_core.profiles.RunConfig` field but the run-time-only
ones, or, for a kind listed in :data:`IDENTITY_KEYS`, only the fields named there (a backbone's
pretraining does not depend on SGMA's losses) — plus ``extra`` (for example the validation
split). The folder's hash is the hash of the identity; a folder whose stored settings differ from
a new run's in any identity field is refused (:class:`RunMismatchError`), never overwritten.

Only rank 0 of a distributed run writes (:mod:`sgma_core.engine.distributed`); every rank reads.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from sgma_core.engine import distributed
from sgma_core.paths import runs_root
from sgma_core.profiles import RUNTIME_ONLY, RunConfig, config_dict

BACKBONE_SETTINGS = ("dataset", "seed", "backbone", "pretrained", "vgg_layer", "image_size", "batch_size", "lr",
                     "momentum", "weight_decay", "lr_factor", "lr_min", "plateau_patience", "plateau_threshold",
                     "pretrain_epochs", "max_train_images", "augment", "precision", "channels_last")
BASELINE_SETTINGS = BACKBONE_SETTINGS + ("epochs", "freeze_backbone", "max_test_images")
# The settings that define a run of each kind; a kind not listed here: every setting but RUNTIME_ONLY.
IDENTITY_KEYS: dict[str, tuple[str, ...]] = {"backbone": BACKBONE_SETTINGS, "baseline": BASELINE_SETTINGS}


class RunMismatchError(ValueError):
    """A run folder holds a run started with other settings."""


def run_identity(settings: RunConfig | dict, keys: tuple[str, ...] | None = None, extra: dict | None = None) -> dict:
    """The settings that make a run what it is: ``keys`` (default: all but run-time-only ones), plus ``extra``."""
    d = config_dict(settings) if isinstance(settings, RunConfig) else dict(settings)
    d = {k: d.get(k) for k in keys} if keys is not None else {k: v for k, v in d.items() if k not in RUNTIME_ONLY}
    return {**d, **(extra or {})}


def settings_hash(identity: dict) -> str:
    """Eight hex digits of the identity's SHA-256: the last part of a run folder's name."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The per-epoch records of ``run_dir/metrics.jsonl`` (empty when there are none)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict:
    """A checkpoint written by :meth:`Run.save_checkpoint` (tensors, numbers, strings: nothing is unpickled)."""
    return torch.load(path, map_location=device, weights_only=True)


@dataclass
class Run:
    """One run folder and the rule that says whether a configuration belongs in it."""

    path: Path
    keys: tuple[str, ...] | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def of(cls, kind: str, config: RunConfig, runs_dir: str | Path | None = None, extra: dict | None = None) -> "Run":
        """The folder of a ``kind`` run (``"backbone"``, ``"baseline"``, ``"sgma"``) with ``config``."""
        keys = IDENTITY_KEYS.get(kind)
        identity = run_identity(config, keys, extra)
        name = f"{config.dataset}-{config.profile}-seed{config.seed}-{settings_hash(identity)}"
        return cls(runs_root(runs_dir) / kind / name, keys, dict(extra or {}))

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "last.pt"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def final_path(self) -> Path:
        return self.path / "final.json"

    def check(self, config: RunConfig) -> None:
        """Refuse a folder that holds a run with other identity settings than ``config``'s."""
        if not (self.config_path.is_file() and (self.checkpoint_path.is_file() or self.metrics_path.is_file())):
            return
        ours = run_identity(config, self.keys)
        stored = json.loads(self.config_path.read_text())
        diff = sorted(k for k in ours if stored.get(k) != ours[k])
        if diff:
            changes = ", ".join(f"{k}: {stored.get(k)!r} → {ours[k]!r}" for k in diff)
            raise RunMismatchError(f"{self.path} holds a run with other settings ({changes}); "
                                   "delete that folder or give this run another runs_dir.")

    def is_finished(self) -> bool:
        return self.final_path.is_file() and self.checkpoint_path.is_file()

    def start(self, config: RunConfig, model: torch.nn.Module, optimizer, scheduler, device) -> int:
        """Load the last checkpoint into the model, optimiser and schedule, if there is one; returns the
        epoch to start from. Rank 0 drops metrics of epochs after the checkpoint (or all, starting
        afresh) and writes ``config.json``."""
        start = 0
        if self.checkpoint_path.is_file():
            state = load_checkpoint(self.checkpoint_path, device)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            start = state["epoch"] + 1
        if distributed.is_main():
            self.path.mkdir(parents=True, exist_ok=True)
            kept = [m for m in read_metrics(self.path) if m["epoch"] < start]
            _atomic(self.metrics_path, lambda p: p.write_text("".join(json.dumps(m) + "\n" for m in kept)))
            self.final_path.unlink(missing_ok=True)
            _atomic(self.config_path, lambda p: p.write_text(json.dumps(config_dict(config), indent=1) + "\n"))
        return start

    def end_epoch(self, record: dict, state: dict) -> None:
        """Rank 0 appends the epoch's record and replaces the checkpoint; every rank waits for it."""
        if distributed.is_main():
            with self.metrics_path.open("a") as fh:
                fh.write(json.dumps(record) + "\n")
            _atomic(self.checkpoint_path, lambda p: torch.save(state, p))
        distributed.barrier()

    def finish(self) -> list[dict]:
        """Mark the run finished (``final.json``: the last record); returns the whole history."""
        history = read_metrics(self.path)
        if distributed.is_main():
            _atomic(self.final_path, lambda p: p.write_text(json.dumps(history[-1] if history else {}, indent=1) + "\n"))
        distributed.barrier()
        return history

    def checkpoint_epoch(self) -> int:
        """The (1-based) epoch after which ``last.pt`` was written."""
        return int(load_checkpoint(self.checkpoint_path)["epoch"]) + 1
