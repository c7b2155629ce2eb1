"""Several processes on one or more GPUs (or CPU workers), as started by ``torchrun``, and the same code in one.

``torchrun --nproc_per_node=G -m sgma_core.train …`` starts ``G`` copies; :func:`init_from_env` joins the process
group from ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (NCCL on GPU ``LOCAL_RANK`` when the run uses CUDA, gloo on
the CPU). Without a process group every helper is the single-process identity (:func:`rank` 0, :func:`world_size`
1, a shard is all the rows, a gather or a sum returns its input, :func:`data_parallel` the objective itself), so
the training step (:func:`sgma_core.engine.step.train_step`) has no second branch.

A run on several processes is the run of one: every rank draws the same ``(seed, epoch)`` permutation and
augmentation and takes its contiguous share of each global batch, its loss weighted by that share
(:func:`batch_share`); parameters outside the loss are found once (:func:`has_unused_parameters`); batch norm
uses the global batch on CUDA (:func:`sync_batchnorm`) and each rank's share on gloo, whose running statistics are
rank 0's (:func:`broadcast_buffers`). Only rank 0 writes the run folders and every rank reads them, so they must
be on one machine or a shared file system.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist


def is_initialized() -> bool:
    """Whether this process belongs to a process group."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank (0 in a single process)."""
    return dist.get_rank() if is_initialized() else 0


def world_size() -> int:
    """The number of processes taking part (1 in a single process)."""
    return dist.get_world_size() if is_initialized() else 1


def is_main() -> bool:
    """Whether this process is rank 0, the one that writes files and prints progress."""
    return rank() == 0


def init_from_env(device: str | torch.device | None = None, timeout_s: float = 1800.0) -> bool:
    """Join the process group that ``torchrun`` describes in ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``.

    ``device``: the training device (``"cuda"``, ``"cpu"``, a :class:`torch.device`, or ``None`` /
    ``"auto"`` for CUDA when available). On CUDA the backend is NCCL and this process's current device
    becomes ``cuda:LOCAL_RANK`` (so ``torch.device("cuda")`` means that GPU from here on); on
    the CPU the backend is gloo. Returns whether a process group is in use: false when the
    environment names no ranks (a plain ``python …`` run), which leaves everything single-process.
    """
    if is_initialized():
        return True
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return False
    if device is None or str(device) == "auto":
        use_cuda = torch.cuda.is_available()
    else:
        use_cuda = torch.device(device).type == "cuda"
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    timeout = timedelta(seconds=timeout_s)
    if use_cuda:
        if not torch.cuda.is_available():
            raise RuntimeError("a CUDA run was asked for under torchrun, but CUDA is not available here; "
                               "use device 'cpu' (gloo) or run on a machine with GPUs.")
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"LOCAL_RANK={local_rank} but this machine has {torch.cuda.device_count()} GPU(s); "
                               "start at most that many processes per node (--nproc_per_node).")
        torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl", timeout=timeout, device_id=torch.device("cuda", local_rank))
    else:
        dist.init_process_group("gloo", timeout=timeout)
    return True


def barrier() -> None:
    """Wait until every rank gets here (nothing in a single process)."""
    if is_initialized() and world_size() > 1:
        dist.barrier()


def cleanup() -> None:
    """Leave the process group, if this process joined one."""
    if is_initialized():
        dist.destroy_process_group()


def shard_range(n: int, block: int = 1, of_rank: int | None = None, n_ranks: int | None = None) -> range:
    """This rank's contiguous share of the rows ``0 … n−1``, made of whole blocks of ``block`` rows.

    The ``⌈n / block⌉`` blocks are dealt out in order, lower ranks taking one more when they do not
    divide evenly; so the shares of ranks 0, 1, … follow each other and, put together in rank
    order, are the rows in their original order. With ``block`` equal to an evaluation batch size
    every batch is the same as in one process (same rows, same size), so the results are too. A
    rank may get no rows (an empty range) when there are fewer blocks than ranks. ``of_rank`` and
    ``n_ranks`` default to this process's rank and the world size.
    """
    r = rank() if of_rank is None else of_rank
    w = world_size() if n_ranks is None else n_ranks
    if n <= 0:
        return range(0, 0)
    n_blocks = -(-n // block)
    base, extra = divmod(n_blocks, w)
    first = r * base + min(r, extra)
    count = base + (1 if r < extra else 0)
    return range(min(first * block, n), min((first + count) * block, n))


def shard_indices(n: int, block: int = 1) -> np.ndarray:
    """The row indices of :func:`shard_range` as an ``int64`` array."""
    share = shard_range(n, block)
    return np.arange(share.start, share.stop, dtype=np.int64)


def _comm_device() -> torch.device:
    """Where collective tensors must live: the current GPU for NCCL, the CPU otherwise."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _gather_tensor(local: torch.Tensor | None, lengths: list[int], tail: tuple[int, ...],
                   dtype: torch.dtype) -> list[torch.Tensor]:
    """Every rank's rows, padded to the longest share for :func:`torch.distributed.all_gather`."""
    device = _comm_device()
    longest = max(lengths)
    send_dtype = torch.uint8 if dtype == torch.bool else dtype  # NCCL has no bool
    buf = torch.zeros((longest, *tail), dtype=send_dtype, device=device)
    if local is not None and local.shape[0]:
        buf[: local.shape[0]] = local.to(device=device, dtype=send_dtype)
    parts = [torch.empty_like(buf) for _ in lengths]
    dist.all_gather(parts, buf)
    return [p[:k].to("cpu", dtype) for p, k in zip(parts, lengths)]


def all_gather_rows(local: np.ndarray | torch.Tensor | None, indices: np.ndarray | None = None):
    """Put together the per-rank results of a sharded computation, on every rank.

    ``local``: this rank's rows ``[n_r, …]`` (a numpy array or a tensor), or ``None`` when this
    rank had no rows. Every rank with rows must give the same trailing shape and dtype.
    ``indices``: the original row index of each local row; the result is then ordered by them.
    Without ``indices`` the shares are concatenated in rank order, which is the original order
    for shares from :func:`shard_range`. Returns ``[Σ n_r, …]`` of the same kind as the inputs
    (tensors come back on the CPU). In a single process ``local`` is returned unchanged.
    """
    if not is_initialized() or world_size() == 1:
        if indices is not None and local is not None:
            order = np.argsort(np.asarray(indices), kind="stable")
            return local[order] if isinstance(local, np.ndarray) else local[torch.from_numpy(order)]
        return local
    if local is None:
        meta = None
    else:
        kind = "numpy" if isinstance(local, np.ndarray) else "torch"
        t = torch.from_numpy(np.ascontiguousarray(local)) if kind == "numpy" else local.detach()
        meta = (kind, int(t.shape[0]), tuple(t.shape[1:]), t.dtype)
    metas: list = [None] * world_size()
    dist.all_gather_object(metas, meta)
    known = [m for m in metas if m is not None]
    if not known:
        return None
    kind, _, tail, dtype = known[0]
    for m in known:
        if (m[2], m[3]) != (tail, dtype):
            raise ValueError(f"ranks disagree on the rows' shape or dtype: {tail}/{dtype} against {m[2]}/{m[3]}")
    lengths = [0 if m is None else m[1] for m in metas]
    rows = torch.cat(_gather_tensor(None if local is None else t, lengths, tail, dtype))
    if indices is not None:
        idx = torch.from_numpy(np.asarray(indices, dtype=np.int64)) if local is not None else None
        all_idx = torch.cat(_gather_tensor(idx, lengths, (), torch.int64))
        rows = rows[torch.argsort(all_idx, stable=True)]
    return rows.numpy() if kind == "numpy" else rows


def broadcast_buffers(module: torch.nn.Module, src: int = 0) -> None:
    """Copy ``module``'s buffers (batch-norm running statistics) from rank ``src`` to every rank.

    Parameters stay equal across ranks by themselves (same averaged gradients, same optimiser);
    buffers that each rank updates from its own rows do not, so a model is made whole again with
    this before it is evaluated or saved.
    """
    if not is_initialized() or world_size() == 1:
        return
    for buf in module.buffers():
        dist.broadcast(buf.data, src=src)


@contextmanager
def sync_batchnorm(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Within the block, ``model``'s batch-norm layers are :class:`torch.nn.SyncBatchNorm` layers.

    Each replacement shares the original layer's parameter and buffer dictionaries, so the
    optimiser, checkpoints and ``state_dict`` keys are unaffected; the original layers are put
    back on leaving the block, holding what was learnt. SyncBatchNorm computes the batch
    statistics over the rows of all ranks (the global batch), which needs CUDA (NCCL); only
    layers below the model's root are replaced.
    """
    swapped: list[tuple[torch.nn.Module, str, torch.nn.Module]] = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            batchnorm = isinstance(child, torch.nn.modules.batchnorm._BatchNorm)
            if batchnorm and not isinstance(child, torch.nn.SyncBatchNorm):
                sync = torch.nn.SyncBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                              child.track_running_stats)
                sync._parameters = child._parameters
                sync._buffers = child._buffers
                sync.train(child.training)
                parent._modules[name] = sync
                swapped.append((parent, name, child))
    try:
        yield model
    finally:
        for parent, name, child in reversed(swapped):
            child.train(parent._modules[name].training)
            parent._modules[name] = child


def batch_share(idx: torch.Tensor) -> tuple[torch.Tensor, int, int, float]:
    """This rank's part of a global batch ``idx`` ``[m]``: ``(rows, offset, n_rows, weight)``.

    ``rows`` start at position ``offset`` of the batch; ``weight = n_rows · world / m`` makes DDP's
    average of the ranks' gradients the gradient of the batch's mean loss. In one process: all of
    ``idx``, weight 1. A rank with no rows runs the whole batch with weight 0, so that every rank
    takes part in DDP's collectives."""
    m, world = len(idx), world_size()
    if world == 1:
        return idx, 0, m, 1.0
    share = shard_range(m)
    if not len(share):
        return idx, 0, 0, 0.0
    return idx[share.start : share.stop], share.start, len(share), len(share) * world / m


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of ``t`` over all ranks, on ``t``'s device (``t`` itself in one process)."""
    if not is_initialized() or world_size() == 1:
        return t
    buf = t.to(_comm_device())
    dist.all_reduce(buf)
    return buf.to(t.device)


def has_unused_parameters(objective: torch.nn.Module, model: torch.nn.Module, x: torch.Tensor,
                          y: torch.Tensor) -> bool:
    """Whether some trainable parameter takes no part in the loss of the batch ``x``, ``y``, on any rank.

    DDP waits for a gradient of every parameter unless it is told to search each step's graph for
    the unused ones (``find_unused_parameters``), which costs a traversal per step. The loss of
    one batch is built (not differentiated) and its graph searched for the parameters it reaches;
    buffers (batch-norm statistics) and random generators are restored afterwards, so the run is
    not changed.
    """
    saved = [b.detach().clone() for b in model.buffers()]
    was_training = model.training
    model.train()
    devices = [torch.cuda.current_device()] if x.is_cuda else []
    with torch.random.fork_rng(devices=devices):
        out = objective(x, y)
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
    unused = any(p.requires_grad and id(p) not in reached for p in objective.parameters())
    flag = torch.tensor([float(unused)], device=x.device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


@contextmanager
def data_parallel(objective: torch.nn.Module, model: torch.nn.Module, data, config, device: torch.device):
    """The module a training step calls: ``objective`` itself in one process, wrapped in
    :class:`~torch.nn.parallel.DistributedDataParallel` when several ranks take part (with
    ``SyncBatchNorm`` layers in ``model`` on CUDA while the block runs)."""
    if world_size() == 1:
        yield objective
        return
    from torch.nn.parallel import DistributedDataParallel

    from sgma_core.engine.step import make_batch, uses_bf16

    with sync_batchnorm(model) if device.type == "cuda" else contextlib.nullcontext():
        n = len(data.labels)
        probe = torch.arange(max(2, min(n, config.batch_size // world_size())))
        x, y = make_batch(data, probe, None, False, device, config.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=uses_bf16(config.precision, device)):
            unused = has_unused_parameters(objective, model, x, y)
        yield DistributedDataParallel(objective, device_ids=[torch.cuda.current_device()] if device.type == "cuda"
                                      else None, find_unused_parameters=unused)
