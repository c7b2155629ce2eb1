"""The training engine: SGD with the plateau schedule, seeds, progress, metrics as JSON Lines,
a checkpoint every epoch, and ``resume``.

A run lives in one folder::

    run_dir/config.json     the RunConfig it was started with
    run_dir/metrics.jsonl   one line per epoch, appended as training goes
    run_dir/last.pt         model, optimiser and schedule after the last finished epoch
    run_dir/final.json      written when the run has finished: the last epoch's metrics

Calling :func:`fit` on a folder that holds an unfinished run continues it from ``last.pt``;
every random draw of an epoch comes from a generator seeded by ``(seed, epoch)``, so the
resumed run ends with the same numbers as one that was never interrupted. Calling it on a
finished run trains nothing and returns the stored history ("train only if missing").
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from sgma_core.images import augment, normalize
from sgma_core.profiles import RunConfig, config_dict


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite. The message says where and which checkpoint is intact."""


class RunMismatchError(ValueError):
    """A run folder holds a run started with other settings."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device={name!r} but CUDA is not available here; use device='cpu' or the 'cpu' profile.")
    return torch.device(name)


def epoch_generator(seed: int, epoch: int, stream: int = 0) -> torch.Generator:
    """The CPU generator of one epoch's shuffling and augmentation."""
    g = torch.Generator()
    g.manual_seed(int(seed) * 1_000_003 + int(epoch) * 101 + stream)
    return g


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The per-epoch records of ``run_dir/metrics.jsonl`` (empty when there are none)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@dataclass
class TrainData:
    """Training images in memory: ``images`` ``[N, 3, S, S]`` uint8 and ``labels`` ``[N]``."""

    images: torch.Tensor
    labels: torch.Tensor


def _comparable(config: dict, keys: tuple[str, ...] | None = None) -> dict:
    """Settings that must match for a run to be resumed: ``keys`` (and ``epochs``) if given, else
    all but the run-time-only ones."""
    if keys is not None:
        return {k: config.get(k) for k in (*keys, "epochs")}
    return {k: v for k, v in config.items() if k not in ("num_threads", "seeds", "eval_every")}


def fit(
    model: nn.Module,
    data: TrainData,
    loss_fn: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor],
    config: RunConfig,
    run_dir: str | Path,
    evaluate: Callable[[nn.Module], dict] | None = None,
    epochs: int | None = None,
    resume: bool = True,
    progress: bool = True,
    on_epoch_end: Callable[[int, dict], None] | None = None,
    identity_keys: tuple[str, ...] | None = None,
) -> list[dict]:
    """Train ``model`` with SGD (momentum, weight decay) and the plateau schedule.

    On CUDA the forward pass runs under bf16 autocast and in channels-last layout unless
    ``config.precision`` / ``config.channels_last`` say otherwise; on the CPU in float32.
    ``loss_fn(model, x, y)`` returns the scalar loss of a normalised, augmented batch ``x``
    ``[B, 3, S, S]`` with labels ``y`` ``[B]``, or ``(loss, {term: scalar})`` to log the terms too.
    ``evaluate(model)`` (optional) returns a dict of metrics logged every ``config.eval_every``
    epochs and at the last one. Returns the history, one dict per epoch. ``identity_keys`` names the settings that define the run (a
    stored run whose settings differ in any of them is refused); default: all of them.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    n_epochs = config.epochs if epochs is None else epochs
    device = resolve_device(config.device)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    model.to(device)
    use_bf16 = config.precision == "bf16" or (config.precision == "auto" and device.type == "cuda")
    channels_last = config.channels_last and device.type == "cuda"
    if channels_last:
        model.to(memory_format=torch.channels_last)

    cfg = {**config_dict(config), "epochs": n_epochs}
    cfg_path = run_dir / "config.json"
    ckpt_path = run_dir / "last.pt"
    metrics_path = run_dir / "metrics.jsonl"
    if cfg_path.is_file() and (ckpt_path.is_file() or metrics_path.is_file()):
        stored = json.loads(cfg_path.read_text())
        if _comparable(stored, identity_keys) != _comparable(cfg, identity_keys):
            diff = sorted(k for k in _comparable(cfg, identity_keys) if stored.get(k) != cfg.get(k))
            raise RunMismatchError(
                f"{run_dir} holds a run with other settings ({', '.join(f'{k}: {stored.get(k)!r} → {cfg[k]!r}' for k in diff)}); "
                "delete that folder or give this run another runs_dir."
            )
    final_path = run_dir / "final.json"
    if resume and final_path.is_file() and ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        return read_metrics(run_dir)

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=config.lr_factor, patience=config.plateau_patience, min_lr=config.lr_min,
        threshold=config.plateau_threshold, threshold_mode="rel",
    )
    start = 0
    if resume and ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start = state["epoch"] + 1
        kept = [m for m in read_metrics(run_dir) if m["epoch"] < start]
        _atomic_write_text(metrics_path, "".join(json.dumps(m) + "\n" for m in kept))
    else:
        metrics_path.unlink(missing_ok=True)
        final_path.unlink(missing_ok=True)
    _atomic_write_text(cfg_path, json.dumps(cfg, indent=1) + "\n")

    from tqdm import tqdm

    n = data.labels.shape[0]
    steps = math.ceil(n / config.batch_size)
    for epoch in range(start, n_epochs):
        seed_everything(config.seed * 7919 + epoch)
        g = epoch_generator(config.seed, epoch)
        order = torch.randperm(n, generator=g)
        model.train()
        t0 = time.perf_counter()
        total, count = 0.0, 0
        term_sums: dict[str, torch.Tensor] = {}
        bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{n_epochs}", disable=not progress, leave=False,
                   mininterval=5.0)
        for step in bar:
            idx = order[step * config.batch_size : (step + 1) * config.batch_size]
            x = normalize(data.images[idx].to(device))
            if config.augment:
                x = augment(x, g)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = data.labels[idx].to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                loss = loss_fn(model, x, y)
            if isinstance(loss, tuple):  # (total, {term: value}) — the terms are logged too
                loss, terms = loss
                for key, value in terms.items():
                    term_sums[key] = term_sums.get(key, 0.0) + torch.as_tensor(value).detach() * len(idx)
            if not torch.isfinite(loss):
                kept = f"{ckpt_path} (after epoch {start_ckpt_epoch(ckpt_path)})" if ckpt_path.is_file() else "none yet"
                raise NonFiniteLossError(
                    f"loss became {loss.item()} at epoch {epoch + 1}, step {step + 1} (lr {optimizer.param_groups[0]['lr']:g}). "
                    f"Intact checkpoint: {kept}. Lower lr, check the inputs for NaN, or resume from the checkpoint."
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
            count += len(idx)
        train_loss = total / count
        record = {"epoch": epoch, "train_loss": train_loss, "lr": optimizer.param_groups[0]["lr"],
                  "seconds": round(time.perf_counter() - t0, 3), **{f"loss_{k}": float(v) / count for k, v in term_sums.items()}}
        scheduler.step(train_loss)
        if evaluate is not None and ((epoch + 1) % config.eval_every == 0 or epoch + 1 == n_epochs):
            model.eval()
            with torch.no_grad():
                record.update(evaluate(model))
        with metrics_path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        _atomic_save({"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                      "scheduler": scheduler.state_dict(), "config": cfg}, ckpt_path)
        if progress:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in record.items() if k not in ("epoch",) and isinstance(v, float))
            print(f"epoch {epoch + 1}/{n_epochs}: {shown}", flush=True)
        if on_epoch_end is not None:
            on_epoch_end(epoch, record)
    history = read_metrics(run_dir)
    _atomic_write_text(final_path, json.dumps(history[-1] if history else {}, indent=1) + "\n")
    model.eval()
    return history


def start_ckpt_epoch(path: Path) -> int:
    """The (1-based) epoch after which ``path`` was written."""
    return int(torch.load(path, map_location="cpu", weights_only=False)["epoch"]) + 1
