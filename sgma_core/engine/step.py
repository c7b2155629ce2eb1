"""One training step, and the batch it is given.

:func:`train_step` is the only place where the book's models are updated: forward and loss
(eq. (7) for the baseline, eq. (9) for SGMA, given as an *objective* module), backward, SGD
update. One process and ``torchrun`` run the same function; under ``torchrun`` the objective is
wrapped in DistributedDataParallel (:func:`sgma_core.engine.distributed.data_parallel`), which
averages the gradients during ``backward``.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from sgma_core.data.images import augment, normalize
from sgma_core.profiles import choices

PRECISIONS = choices("precision")  # "auto" is bf16 autocast on CUDA, float32 elsewhere


@dataclass
class TrainData:
    """Training images in memory: ``images`` ``[N, 3, S, S]`` uint8 and ``labels`` ``[N]`` (seen, ``0..S−1``)."""

    images: torch.Tensor
    labels: torch.Tensor


class LossOf(nn.Module):
    """An objective module from a plain function: ``forward(x, y) = loss_fn(model, x, y)``."""

    def __init__(self, model: nn.Module, loss_fn: Callable) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, x: torch.Tensor, y: torch.Tensor):
        return self.loss_fn(self.model, x, y)


def train_step(objective: nn.Module, optimizer: torch.optim.Optimizer,
               x: torch.Tensor, y: torch.Tensor, bf16: bool = False,
               weight: float = 1.0) -> dict[str, torch.Tensor]:
    """One SGD step on a batch: forward and loss, backward, update.

    ``objective(x, y)``: the loss of a normalised, augmented batch ``x`` ``[B, 3, S, S]``
    with seen labels ``y`` ``[B]``, a scalar or ``(scalar, {term: scalar})``. ``bf16``:
    the forward pass under bf16 autocast. ``weight`` scales the gradient (a distributed
    rank's share of the global batch; 1 in one process). Returns ``{"loss": …, term: …}``,
    detached float64 scalars, so that logging never waits for the device.
    """
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        out = objective(x, y)  # forward and loss: eq. (7) or eq. (9)
    loss, terms = out if isinstance(out, tuple) else (out, {})  # scalar, {term: scalar}
    optimizer.zero_grad(set_to_none=True)
    (loss if weight == 1.0 else loss * weight).backward()
    optimizer.step()
    values = {"loss": loss, **terms}
    return {k: torch.as_tensor(v, device=loss.device).detach().double() for k, v in values.items()}


def make_batch(data: TrainData, rows: torch.Tensor, generator: torch.Generator, augmented: bool, device: torch.device,
               channels_last: bool, draw_for: int | None = None, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``[B, 3, S, S]`` (normalised, augmented, in the model's memory format) and labels ``[B]`` of ``rows``.

    The augmentation parameters come from ``generator``, drawn for ``draw_for`` rows of which
    these are rows ``offset…`` (a distributed rank's share; :func:`sgma_core.data.images.augment`).
    """
    x = normalize(data.images[rows].to(device))  # [B, 3, S, S] float
    if augmented:
        x = augment(x, generator, draw_for=draw_for, offset=offset)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, data.labels[rows].to(device)


def resolve_device(name: str) -> torch.device:
    """The device a setting names (``auto``, ``cpu``, ``cuda``, ``cuda:N``); a CUDA device this machine does not
    have is a :class:`ValueError` (a user's setting, refused before any work where commands check it)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} but CUDA is not available here; use device='cpu' (-p device cpu) or the "
                         "'cpu' profile.")
    if name.startswith("cuda:") and int(name[5:]) >= torch.cuda.device_count():
        raise ValueError(f"device={name!r} but this machine has {torch.cuda.device_count()} CUDA device(s).")
    return torch.device(name)


def uses_bf16(precision: str, device: torch.device) -> bool:
    """Whether the forward pass runs under bf16 autocast (``precision`` one of :data:`PRECISIONS`)."""
    return precision == "bf16" or (precision == "auto" and device.type == "cuda")


@functools.lru_cache(maxsize=1)  # once per process: every fit calls it
def keep_freed_memory() -> bool:
    """Let the C allocator keep freed memory for the next step (glibc only; elsewhere nothing).

    By default glibc serves every block above a moving threshold with a fresh ``mmap`` and hands
    freed memory back to the system, so each CPU training step page-faults its activations in
    again: measured on a 2-core machine, about 4,500 page faults and 4-12 ms of kernel time per
    SGMA step at the cpu profile's sizes, about 100 faults with this, and the baseline's step
    7-10 % faster. Blocks up to 32 MiB then come from the heap, and up to 1 GiB of freed heap is
    kept. Returns whether the settings were taken.
    """
    import ctypes
    import ctypes.util
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
        return bool(libc.mallopt(m_mmap_threshold, 32 << 20)) and bool(libc.mallopt(m_trim_threshold, 1 << 30))
    except (OSError, AttributeError):
        return False


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_generator(seed: int, epoch: int, stream: int = 0) -> torch.Generator:
    """The CPU generator of one epoch's shuffling and augmentation."""
    g = torch.Generator()
    g.manual_seed(int(seed) * 1_000_003 + int(epoch) * 101 + stream)
    return g
