"""Training a model for a run's epochs: SGD with momentum and weight decay, the plateau schedule,
an evaluation every few epochs, a checkpoint every epoch, and resumption.

Every random draw of an epoch comes from a generator seeded by ``(seed, epoch)``, so a run
resumed from its last checkpoint ends with the same numbers as one that was never interrupted;
a finished run is not trained again (:mod:`sgma_core.engine.runs`). Under ``torchrun`` the same
call trains the same run on several processes (:mod:`sgma_core.engine.distributed`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from sgma_core.engine import distributed
from sgma_core.engine.runs import Run
from sgma_core.engine.step import (
    LossOf,
    TrainData,
    epoch_generator,
    keep_freed_memory,
    make_batch,
    resolve_device,
    seed_everything,
    train_step,
    uses_bf16,
)
from sgma_core.profiles import RunConfig


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite. The message says where and which checkpoint is intact."""


def make_optimizer(model: nn.Module, config: RunConfig):
    """SGD over the trainable parameters, and ``ReduceLROnPlateau`` on the epoch's training loss.

    The update is torch's fused SGD where the parameters live on the CPU or a CUDA device: the same
    rule in one kernel instead of a loop over the tensors. The fused kernel refuses a step in which some
    parameters have a momentum buffer and others, reached by the loss for the first time (the
    alternating schedule's second epoch), do not; :func:`_start_momentum` gives those a zero buffer first,
    which is what the loop does for them (the buffer starts as the gradient)."""
    params = [p for p in model.parameters() if p.requires_grad]
    fused = bool(params) and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
                                fused=fused or None)
    if fused and config.momentum:
        optimizer.register_step_pre_hook(_start_momentum)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=config.lr_factor, patience=config.plateau_patience, min_lr=config.lr_min,
        threshold=config.plateau_threshold, threshold_mode="rel")
    return optimizer, scheduler


def _start_momentum(optimizer: torch.optim.SGD, args, kwargs) -> None:
    """Before a fused step: a zero momentum buffer for each parameter with a gradient and no buffer,
    where others have one. With no dampening, ``0 · momentum + g`` is the loop's first buffer, ``g``."""
    for group in optimizer.param_groups:
        if group["dampening"]:
            raise ValueError("momentum buffers for newly reached parameters assume dampening = 0")
        live = [p for p in group["params"] if p.grad is not None]
        if any(optimizer.state[p].get("momentum_buffer") is not None for p in live):
            for p in live:
                if optimizer.state[p].get("momentum_buffer") is None:
                    optimizer.state[p]["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)


def train_epoch(step_module: nn.Module, model: nn.Module, optimizer, data: TrainData, config: RunConfig, epoch: int,
                device: torch.device, run: Run, progress: bool) -> dict:
    """One pass over ``data`` in the order the ``(seed, epoch)`` generator draws; returns the epoch's
    record: mean training loss and mean of each logged term, learning rate, seconds.

    In a distributed run each rank takes its share of each global batch of ``config.batch_size``
    rows, augmented as the whole batch would be, with its loss weighted by its share."""
    from tqdm import tqdm

    seed_everything(config.seed * 7919 + epoch + 1000 * distributed.rank())
    objective = getattr(step_module, "module", step_module)  # inside DistributedDataParallel, if wrapped
    if hasattr(objective, "start_epoch"):  # an objective whose loss depends on the epoch (a schedule)
        objective.start_epoch(epoch)
    g = epoch_generator(config.seed, epoch)
    n = len(data.labels)
    order = torch.randperm(n, generator=g)
    model.train()
    t0, sums = time.perf_counter(), []
    for step in tqdm(range(math.ceil(n / config.batch_size)), desc=f"epoch {epoch + 1}/{config.epochs}",
                     disable=not (progress and distributed.is_main()), leave=False, mininterval=5.0):
        idx = order[step * config.batch_size : (step + 1) * config.batch_size]
        rows, offset, n_rows, weight = distributed.batch_share(idx)
        x, y = make_batch(data, rows, g, config.augment, device, config.channels_last, len(idx), offset)
        values = train_step(step_module, optimizer, x, y, uses_bf16(config.precision, device), weight)
        names = list(values)  # "loss" and the objective's terms
        sums.append(torch.stack(list(values.values())) * n_rows)
    sums = distributed.all_reduce_sum(torch.stack(sums)).tolist()  # [steps, 1 + T], one host sync per epoch
    for step, row in enumerate(sums):
        if not math.isfinite(row[0]):
            kept = f"{run.checkpoint_path} (after epoch {run.checkpoint_epoch()})" if run.checkpoint_path.is_file() \
                else "none yet"
            raise NonFiniteLossError(
                f"loss became {row[0]} at epoch {epoch + 1}, step {step + 1} (lr {optimizer.param_groups[0]['lr']:g}). "
                f"Intact checkpoint: {kept}. Lower lr, check the inputs for NaN, or resume from the checkpoint.")
    totals = [sum(column) / n for column in zip(*sums)]
    # threads: on a CPU the number of threads changes the order of floating-point sums, so the same seed gives other
    # numbers with another count (benchmarks/results/threads-cpu-2core-2026-12-01.md); the record says which it was
    return {"epoch": epoch, "train_loss": totals[0], "lr": optimizer.param_groups[0]["lr"],
            "seconds": round(time.perf_counter() - t0, 3), "threads": torch.get_num_threads(),
            **{f"loss_{k}": v for k, v in zip(names[1:], totals[1:])}}


def use_threads(config) -> None:
    """Set torch's CPU threads to ``config.num_threads`` (None: leave them). Called before anything a run
    computes, the eq. (11) grouping included: a run repeats bit for bit only at a fixed thread count (and fixed
    CPU instruction sets, :mod:`sgma_core.dispatch`)."""
    if config.num_threads:
        torch.set_num_threads(config.num_threads)


def chain(*callbacks: Callable[[int, dict], None] | None) -> Callable[[int, dict], None]:
    """One epoch callback for :func:`fit` that calls each of ``callbacks`` (None ones left out) in order."""
    given = [c for c in callbacks if c is not None]

    def on_epoch_end(epoch: int, record: dict) -> None:
        for callback in given:
            callback(epoch, record)

    return on_epoch_end


def fit(model: nn.Module, data: TrainData, objective: nn.Module | Callable, config: RunConfig, run: Run | str | Path,
        evaluate: Callable[[nn.Module], dict] | None = None, progress: bool = True,
        on_epoch_end: Callable[[int, dict], None] | None = None) -> list[dict]:
    """Train ``model`` for ``config.epochs`` epochs of :func:`~sgma_core.engine.step.train_step` on ``objective``.

    ``objective``: a module whose ``forward(x, y)`` returns the loss of a batch, or ``(loss, {term:
    value})`` to log the terms too, and holds ``model`` (:class:`~sgma_core.sgma.SGMAObjective`,
    :class:`~sgma_core.baseline.BaselineObjective`); a plain ``loss_fn(model, x, y)`` is wrapped.
    ``run``: a :class:`~sgma_core.engine.runs.Run` or a folder. ``evaluate(model)`` returns metrics
    logged every ``config.eval_every`` epochs and at the last. Returns the history, one record per
    epoch; a finished run is loaded, not trained again.
    """
    run = run if isinstance(run, Run) else Run(Path(run))
    device = resolve_device(config.device)
    use_threads(config)
    if device.type == "cpu":
        keep_freed_memory()
    model.to(device)
    if config.channels_last:  # NHWC: faster convolutions on CUDA and on the CPU (oneDNN)
        model.to(memory_format=torch.channels_last)
    with run.lock():  # a second process with the same run waits here, then finds it finished
        distributed.barrier()
        run.check(config)
        history = run.finished_history(model, config.epochs, device) if run.is_finished() else None
        if history is not None:
            model.eval()  # as after training
            return history
        distributed.barrier()  # every rank has looked at the folder before rank 0 changes it
        optimizer, scheduler = make_optimizer(model, config)
        start = run.start(config, model, optimizer, scheduler, device)
        objective = objective if isinstance(objective, nn.Module) else LossOf(model, objective)
        with distributed.data_parallel(objective, model, data, config, device) as step_module:
            for epoch in range(start, config.epochs):
                record = train_epoch(step_module, model, optimizer, data, config, epoch, device, run, progress)
                scheduler.step(record["train_loss"])
                distributed.broadcast_buffers(model)
                if evaluate is not None and ((epoch + 1) % config.eval_every == 0 or epoch + 1 == config.epochs):
                    model.eval()
                    with torch.no_grad():
                        record.update(evaluate(model))
                run.end_epoch(record, {"epoch": epoch, "model": model.state_dict(),
                                       "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()})
                if progress and distributed.is_main():
                    shown = ", ".join(f"{k} {v:.4g}" for k, v in record.items()
                                      if k != "epoch" and isinstance(v, float))
                    print(f"epoch {epoch + 1}/{config.epochs}: {shown}", flush=True)
                if on_epoch_end is not None:
                    on_epoch_end(epoch, record)
        model.eval()
        return run.finish()
