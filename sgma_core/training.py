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

Under ``torchrun`` (several processes, :mod:`sgma_core.distributed`) the same call trains one
run with ``DistributedDataParallel``: the global batch, the augmentation and the logged numbers
stay those of one process, and rank 0 alone writes the folder (details in :func:`fit`).
"""

from __future__ import annotations

import contextlib
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
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from sgma_core import distributed
from sgma_core.images import augment, normalize
from sgma_core.profiles import RUNTIME_ONLY, RunConfig, config_dict


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
    return {k: v for k, v in config.items() if k not in RUNTIME_ONLY}


class _LossStep(nn.Module):
    """``forward(x, y) = loss_fn(model, x, y)``: the module that DistributedDataParallel wraps.

    Running the whole loss inside DDP's forward lets ``loss_fn`` receive the plain model with
    all its attributes (SGMA's objective reads ``model.centers``, outside ``model.forward``),
    while every parameter the loss touches is one whose gradient DDP averages over the ranks.
    """

    def __init__(self, model: nn.Module, loss_fn: Callable) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, x: torch.Tensor, y: torch.Tensor):
        return self.loss_fn(self.model, x, y)


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

    The model and its inputs use the channels-last layout unless ``config.channels_last`` is off;
    on CUDA the forward pass runs under bf16 autocast unless ``config.precision`` says otherwise,
    on the CPU in float32.
    ``loss_fn(model, x, y)`` returns the scalar loss of a normalised, augmented batch ``x``
    ``[B, 3, S, S]`` with labels ``y`` ``[B]``, or ``(loss, {term: scalar})`` to log the terms too.
    ``evaluate(model)`` (optional) returns a dict of metrics logged every ``config.eval_every``
    epochs and at the last one. Returns the history, one dict per epoch. ``identity_keys`` names the settings that define the run (a
    stored run whose settings differ in any of them is refused); default: all of them.

    **Several processes.** When a process group of more than one rank is initialised (``torchrun``,
    :func:`sgma_core.distributed.init_from_env`), every rank calls ``fit`` with the same arguments
    and the run is the same run, only faster:

    * every rank draws the same permutation from the ``(seed, epoch)`` generator and takes its
      contiguous share of each global batch of ``config.batch_size`` rows (shares differ by at
      most one row); the augmentation parameters are drawn for the whole global batch and each
      rank applies its rows' ones, so the augmented batch is the single process's;
    * the model is wrapped in ``DistributedDataParallel`` together with ``loss_fn`` (which
      receives the plain model). When the loss of a first batch leaves trainable parameters
      without gradient (SGMA's frozen attention subnet), DDP is told to find them in every step
      (``find_unused_parameters``); they keep no gradient and no update, as in one process.
      Each rank's loss is weighted by its share of the global batch, so the averaged gradient is
      the gradient of the global batch's mean loss even when the shares are unequal; a rank left
      without rows (a last batch smaller than the number of ranks) runs that batch with weight
      zero;
    * batch norm: on CUDA the layers become ``SyncBatchNorm`` during training, so the batch
      statistics are those of the global batch (except in such a weight-zero step, whose rows
      count twice). On the CPU (gloo) there is no synchronised batch norm: each rank normalises
      its share with the share's own statistics, which makes training differ from one process
      with the same global batch as a smaller batch-norm batch would; the running statistics are
      rank 0's, copied to every rank after each epoch;
    * other random draws (none in this project's models) are seeded per rank; rank 0 uses the
      single-process seed;
    * the logged losses are global means (all-reduced every step, which also stops every rank
      together when the loss is not finite); ``evaluate`` and ``on_epoch_end`` run on every rank,
      so they may use collective evaluation (:func:`sgma_core.experiment.predict_scores`);
    * only rank 0 writes ``config.json``, ``metrics.jsonl``, ``last.pt`` and ``final.json`` and
      prints progress; the others wait at barriers and, on resume, load the same checkpoint.
      The saved ``state_dict`` is the plain model's, without a ``module.`` prefix.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    world, rank = distributed.world_size(), distributed.rank()
    main = rank == 0
    n_epochs = config.epochs if epochs is None else epochs
    device = resolve_device(config.device)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    model.to(device)
    use_bf16 = config.precision == "bf16" or (config.precision == "auto" and device.type == "cuda")
    channels_last = config.channels_last  # NHWC: faster convolutions and pooling on CUDA and on the CPU (oneDNN)
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
    distributed.barrier()  # every rank has looked at the folder before rank 0 changes it

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
        if main:
            kept = [m for m in read_metrics(run_dir) if m["epoch"] < start]
            _atomic_write_text(metrics_path, "".join(json.dumps(m) + "\n" for m in kept))
    elif main:
        metrics_path.unlink(missing_ok=True)
        final_path.unlink(missing_ok=True)
    if main:
        _atomic_write_text(cfg_path, json.dumps(cfg, indent=1) + "\n")

    from tqdm import tqdm

    n = data.labels.shape[0]
    steps = math.ceil(n / config.batch_size)
    with contextlib.ExitStack() as stack:
        ddp = None
        if world > 1:
            if device.type == "cuda":
                stack.enter_context(distributed.sync_batchnorm(model))
            step_module = _LossStep(model, loss_fn)
            probe = data.images[: max(2, min(n, config.batch_size // world))]
            x = normalize(probe.to(device))
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                unused = _has_unused_parameters(step_module, x, data.labels[: len(probe)].to(device))
            ddp = DistributedDataParallel(
                step_module, device_ids=[torch.cuda.current_device()] if device.type == "cuda" else None,
                find_unused_parameters=unused,
            )
        for epoch in range(start, n_epochs):
            seed_everything(config.seed * 7919 + epoch + 1000 * rank)
            g = epoch_generator(config.seed, epoch)
            order = torch.randperm(n, generator=g)
            model.train()
            t0 = time.perf_counter()
            total, count = 0.0, 0
            term_sums: dict[str, torch.Tensor | float] = {}
            bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{n_epochs}", disable=not (progress and main),
                       leave=False, mininterval=5.0)
            for step in bar:
                idx = order[step * config.batch_size : (step + 1) * config.batch_size]
                if ddp is not None:
                    step_sum, terms = _distributed_step(ddp, optimizer, data, idx, g, config, device, channels_last,
                                                        use_bf16, epoch, step, ckpt_path)
                    total += step_sum
                    count += len(idx)
                    for key, value in terms.items():
                        term_sums[key] = term_sums.get(key, 0.0) + value
                    continue
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
                    _raise_non_finite(loss.item(), epoch, step, optimizer, ckpt_path)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.item() * len(idx)
                count += len(idx)
            train_loss = total / count
            record = {"epoch": epoch, "train_loss": train_loss, "lr": optimizer.param_groups[0]["lr"],
                      "seconds": round(time.perf_counter() - t0, 3), **{f"loss_{k}": float(v) / count for k, v in term_sums.items()}}
            scheduler.step(train_loss)
            distributed.broadcast_buffers(model)
            if evaluate is not None and ((epoch + 1) % config.eval_every == 0 or epoch + 1 == n_epochs):
                model.eval()
                with torch.no_grad():
                    record.update(evaluate(model))
            if main:
                with metrics_path.open("a") as fh:
                    fh.write(json.dumps(record) + "\n")
                _atomic_save({"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                              "scheduler": scheduler.state_dict(), "config": cfg}, ckpt_path)
            distributed.barrier()  # the epoch's files are complete before any rank goes on
            if progress and main:
                shown = ", ".join(f"{k} {v:.4g}" for k, v in record.items() if k not in ("epoch",) and isinstance(v, float))
                print(f"epoch {epoch + 1}/{n_epochs}: {shown}", flush=True)
            if on_epoch_end is not None:
                on_epoch_end(epoch, record)
    history = read_metrics(run_dir)
    if main:
        _atomic_write_text(final_path, json.dumps(history[-1] if history else {}, indent=1) + "\n")
    distributed.barrier()
    model.eval()
    return history


def _has_unused_parameters(step_module: _LossStep, x: torch.Tensor, y: torch.Tensor) -> bool:
    """Whether some trainable parameter takes no part in the loss of the batch ``x``, ``y``, on any rank.

    DDP waits for a gradient of every parameter unless it is told to search each step's graph
    for the unused ones (``find_unused_parameters``), which costs a traversal per step; SGMA's
    frozen attention subnet is such a case, the baseline is not. The loss of one batch is built
    (not differentiated) and its graph searched for the parameters it reaches; buffers (batch-norm
    statistics) and random generators are restored afterwards, so the run is not changed.
    """
    model = step_module.model
    saved = [b.detach().clone() for b in model.buffers()]
    was_training = model.training
    model.train()
    devices = [torch.cuda.current_device()] if x.is_cuda else []
    with torch.random.fork_rng(devices=devices):
        out = step_module(x, y)
    model.train(was_training)
    loss = out[0] if isinstance(out, tuple) else out
    reached: set[int] = set()
    seen: set = set()
    stack = [loss.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        if hasattr(fn, "variable"):  # AccumulateGrad: a leaf, i.e. a parameter
            reached.add(id(fn.variable))
        stack.extend(next_fn for next_fn, _ in fn.next_functions)
    del out, loss, stack, seen
    with torch.no_grad():
        for buf, value in zip(model.buffers(), saved):
            buf.copy_(value)
    unused = any(p.requires_grad and id(p) not in reached for p in model.parameters())
    flag = torch.tensor([float(unused)], device=x.device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def _raise_non_finite(value: float, epoch: int, step: int, optimizer: torch.optim.Optimizer, ckpt_path: Path) -> None:
    kept = f"{ckpt_path} (after epoch {start_ckpt_epoch(ckpt_path)})" if ckpt_path.is_file() else "none yet"
    raise NonFiniteLossError(
        f"loss became {value} at epoch {epoch + 1}, step {step + 1} (lr {optimizer.param_groups[0]['lr']:g}). "
        f"Intact checkpoint: {kept}. Lower lr, check the inputs for NaN, or resume from the checkpoint."
    )


def _distributed_step(ddp: DistributedDataParallel, optimizer: torch.optim.Optimizer, data: TrainData,
                      idx: torch.Tensor, g: torch.Generator, config: RunConfig, device: torch.device,
                      channels_last: bool, use_bf16: bool, epoch: int, step: int,
                      ckpt_path: Path) -> tuple[float, dict[str, float]]:
    """One optimiser step of a distributed run on the global batch ``idx`` ``[m]``.

    This rank takes its contiguous share of ``idx`` and applies the augmentation parameters that
    the shared generator ``g`` draws for all ``m`` rows. Its mean loss is weighted by
    ``share · world / m``, so DDP's gradient average is the gradient of the mean loss over the
    ``m`` rows. Returns the global sum of the loss over the batch and of each logged term.
    """
    m, world = len(idx), distributed.world_size()
    share = distributed.shard_range(m)
    n_local = len(share)
    if n_local:
        rows, offset = idx[share.start : share.stop], share.start
    else:  # fewer rows than ranks: run the whole batch, with weight zero, so that DDP's collectives still match
        rows, offset = idx, 0
    x = normalize(data.images[rows].to(device))
    if config.augment:
        x = augment(x, g, draw_for=m, offset=offset)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = data.labels[rows].to(device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
        out = ddp(x, y)
    loss, terms = out if isinstance(out, tuple) else (out, {})
    sums = torch.stack([loss.detach().double(), *(torch.as_tensor(v, device=loss.device).detach().double()
                                                  for v in terms.values())]) * n_local
    dist.all_reduce(sums)  # also makes a non-finite loss on any rank stop every rank
    sums = sums.tolist()
    if not math.isfinite(sums[0]):
        _raise_non_finite(sums[0] / m, epoch, step, optimizer, ckpt_path)
    optimizer.zero_grad(set_to_none=True)
    (loss * (n_local * world / m)).backward()
    optimizer.step()
    return sums[0], dict(zip(terms, sums[1:]))


def start_ckpt_epoch(path: Path) -> int:
    """The (1-based) epoch after which ``path`` was written."""
    return int(torch.load(path, map_location="cpu", weights_only=False)["epoch"]) + 1
