"""Two processes (gloo, CPU) train the same run as one process with the same global batch.

One spawned pair of processes runs every distributed scenario once (starting processes costs
more than the scenarios) and leaves its results in files; the tests below compare them with
the same computations done here in a single process. Where CUDA is present, one more test
checks that with SyncBatchNorm even a network with batch norm trains as in one process.

Tolerance of the training comparisons: the two runs differ only in the order of float32
additions (two share gradients averaged by DDP instead of one batch gradient), so after a dozen
SGD steps the losses agree to about 1e-7 relative and the parameters to under 1e-6 absolute.
``rtol=1e-5, atol=1e-5`` leaves room for other CPUs' kernels, while any real difference (another
batch size, no or other augmentation, a wrongly weighted share) moves the losses by 1e-3 or more.
Evaluation is computed in the same batches as by one process, so it is compared exactly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from sgma_core.engine import distributed
from sgma_core.engine.loop import fit
from sgma_core.engine.runs import read_metrics
from sgma_core.engine.step import TrainData
from sgma_core.profiles import make_config

WORLD = 2
RTOL, ATOL = 1e-5, 1e-5


# --------------------------------------------------------------------------------------
# What both sides run
# --------------------------------------------------------------------------------------


class _Net(nn.Module):
    """conv → (batch norm) → ReLU → pool → linear; ``forward(x, phi=None)`` like the ZSL models."""

    def __init__(self, batchnorm: bool = False, spare: bool = True) -> None:
        super().__init__()
        torch.manual_seed(0)
        layers: list[nn.Module] = [nn.Conv2d(3, 6, 3)]
        if batchnorm:
            layers.append(nn.BatchNorm2d(6))
        self.features = nn.Sequential(*layers, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(6, 4)
        if spare:
            self.unused = nn.Linear(6, 4)  # requires grad, never used: must stay untouched (no weight decay)

    def forward(self, x: torch.Tensor, phi: torch.Tensor | None = None) -> torch.Tensor:
        scores = self.head(self.features(x))
        return scores if phi is None else scores @ phi


def _problem(n: int) -> TrainData:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, 16, 16), dtype=torch.uint8, generator=g)
    labels = torch.arange(n) % 4
    images[labels == 1, 0] = 255
    return TrainData(images, labels)


def _loss(model, x, y):
    ce = nn.functional.cross_entropy(model(x), y)
    return ce, {"ce": ce.detach()}


def _probe(model) -> dict:
    return {"probe": float(model(torch.full((2, 3, 16, 16), 0.5, device=next(model.parameters()).device)).sum())}


# 41 rows in global batches of 8: the last batch has one row, so rank 1 has none in that step
EXACT = make_config("smoke", overrides={"epochs": 3, "batch_size": 8, "lr": 0.05, "device": "cpu",
                                        "eval_every": 1, "num_threads": 1})
EXACT_N = 41
# 37 rows: the last batch has 5 rows, shared 3 / 2
RESUME = make_config("smoke", overrides={"epochs": 4, "batch_size": 8, "lr": 0.05, "device": "cpu",
                                         "eval_every": 1, "num_threads": 1, "seed": 3})
RESUME_N = 37


def _eval_inputs():
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (37, 3, 16, 16), dtype=torch.uint8, generator=g), torch.randn(4, 5, generator=g)


def _tiny_sgma(attention_training: str = "full"):
    from tests.conftest import tiny_sgma

    return tiny_sgma(n_seen=4, size=16, joint=8, attention_training=attention_training)


def _sgma_inputs():
    g = torch.Generator().manual_seed(2)
    return torch.randint(0, 256, (13, 3, 16, 16), dtype=torch.uint8, generator=g), torch.randn(6, 7, generator=g)


def _sgma_loss(phi_seen):
    from sgma_core.sgma import sgma_objective

    def loss_fn(m, x, y):  # as SGMAObjective's: reads m.centres outside m.forward
        return sgma_objective(m, m(x, phi_seen), y)

    return loss_fn


# --------------------------------------------------------------------------------------
# The spawned side
# --------------------------------------------------------------------------------------


class _Interrupt(Exception):
    pass


@contextlib.contextmanager
def _record_writes(root: Path):
    """Record every file this process writes or deletes under ``root``."""
    import pathlib

    root = root.resolve()
    writes: list[str] = []

    def note(path) -> None:
        if isinstance(path, (str, os.PathLike)):
            p = Path(path).resolve()
            if root in p.parents:
                writes.append(str(p.relative_to(root)))

    saved = {"save": torch.save, "replace": os.replace, "open": pathlib.Path.open, "unlink": pathlib.Path.unlink}

    def save(obj, f, *a, **k):
        note(f)
        return saved["save"](obj, f, *a, **k)

    def replace(src, dst, *a, **k):
        note(dst)
        return saved["replace"](src, dst, *a, **k)

    def open_(self, mode="r", *a, **k):
        if any(c in mode for c in "wax+"):
            note(self)
        return saved["open"](self, mode, *a, **k)

    def unlink(self, *a, **k):
        note(self)
        return saved["unlink"](self, *a, **k)

    torch.save, os.replace, pathlib.Path.open, pathlib.Path.unlink = save, replace, open_, unlink
    try:
        yield writes
    finally:
        torch.save, os.replace = saved["save"], saved["replace"]
        pathlib.Path.open, pathlib.Path.unlink = saved["open"], saved["unlink"]


def _scenarios(out: Path) -> dict:
    from sgma_core.experiment import predict_scores, sgma_outputs

    res: dict = {"unused_found": []}
    runs = out / "runs"
    search = distributed.has_unused_parameters

    def recorded_search(*args):
        res["unused_found"].append(search(*args))
        return res["unused_found"][-1]

    distributed.has_unused_parameters = recorded_search
    with _record_writes(runs) as writes:
        model = _Net()
        res["exact"] = fit(model, _problem(EXACT_N), _loss, EXACT, runs / "exact", evaluate=_probe, progress=True)
        res["exact_state"] = {k: v.clone() for k, v in model.state_dict().items()}

        def stop_after_two(epoch, record):
            if epoch == 1:
                raise _Interrupt

        try:
            fit(_Net(), _problem(RESUME_N), _loss, RESUME, runs / "cut", evaluate=_probe, progress=False,
                on_epoch_end=stop_after_two)
        except _Interrupt:
            pass
        distributed.barrier()
        res["cut_lines"] = len(read_metrics(runs / "cut"))
        res["cut_final"] = (runs / "cut" / "final.json").exists()
        distributed.barrier()
        model = _Net()
        res["resumed"] = fit(model, _problem(RESUME_N), _loss, RESUME, runs / "cut", evaluate=_probe, progress=False)
        res["resumed_state"] = {k: v.clone() for k, v in model.state_dict().items()}

        bn_model = _Net(batchnorm=True, spare=False)
        res["bn"] = fit(bn_model, _problem(EXACT_N), _loss, EXACT, runs / "bn", evaluate=_probe, progress=False)
        res["bn_state"] = {k: v.clone() for k, v in bn_model.state_dict().items()}
        res["bn_types"] = sorted({type(m).__name__ for m in bn_model.modules()})

        sgma = _tiny_sgma("heads")
        res["sgma_before"] = {k: v.clone() for k, v in sgma.state_dict().items()}
        images, phi = _sgma_inputs()
        data = TrainData(images, torch.arange(len(images)) % 4)
        config = dataclasses.replace(EXACT, epochs=2, batch_size=6)
        res["sgma"] = fit(sgma, data, _sgma_loss(phi[:, :4]), config, runs / "sgma", progress=False)
        res["sgma_state"] = {k: v.clone() for k, v in sgma.state_dict().items()}
    res["writes"] = writes
    distributed.has_unused_parameters = search

    images, phi = _eval_inputs()
    res["scores"] = predict_scores(_Net().eval(), images, phi, batch_size=8)
    res["scores_one_batch"] = predict_scores(_Net().eval(), images[:3], phi, batch_size=8)  # rank 1: no rows
    images, phi = _sgma_inputs()
    res["sgma_outputs"] = sgma_outputs(_tiny_sgma(), images, phi, batch_size=4)
    share = distributed.shard_indices(10, block=3)
    local = torch.arange(10)[torch.from_numpy(share)].flip(0) * 10
    res["gathered_by_index"] = distributed.all_gather_rows(local, indices=share[::-1].copy())
    return res


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    assert distributed.init_from_env("cpu", timeout_s=120)
    try:
        assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (rank, WORLD, rank == 0)
        res = _scenarios(Path(out))
        torch.save(res, Path(out) / f"rank{rank}.pt")
    finally:
        distributed.cleanup()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """The results of :func:`_scenarios` on rank 0 and rank 1, and how long the pair took."""
    import torch.multiprocessing as mp

    out = tmp_path_factory.mktemp("ddp")
    t0 = time.perf_counter()
    env = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        ctx = mp.start_processes(_worker, args=(_free_port(), str(out)), nprocs=WORLD, join=False,
                                 start_method="spawn")
        deadline = time.monotonic() + 240
        while not ctx.join(timeout=1):
            if time.monotonic() > deadline:
                for p in ctx.processes:
                    p.kill()
                pytest.fail("the two training processes did not finish within 240 s")
    finally:
        if env["OMP_NUM_THREADS"] is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = env["OMP_NUM_THREADS"]
    results = [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]
    return {"results": results, "out": out, "seconds": time.perf_counter() - t0}


def _single(config, n: int, tmp_path: Path, name: str):
    model = _Net()
    history = fit(model, _problem(n), _loss, config, tmp_path / name, evaluate=_probe, progress=False)
    return history, model.state_dict()


def _assert_same_run(ddp_history, ddp_state, history, state):
    assert [r["epoch"] for r in ddp_history] == [r["epoch"] for r in history]
    for a, b in zip(ddp_history, history):
        for key in ("train_loss", "loss_ce", "probe"):
            assert a[key] == pytest.approx(b[key], rel=RTOL, abs=ATOL), (a["epoch"], key)
        assert a["lr"] == b["lr"]
    assert set(ddp_state) == set(state)  # plain names, no "module." prefix
    for key in state:
        torch.testing.assert_close(ddp_state[key], state[key], rtol=RTOL, atol=ATOL, msg=key)


# --------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------


def test_shard_range_deals_blocks_in_order():
    for n, block, world in [(41, 1, 2), (37, 8, 2), (3, 8, 2), (10, 3, 3), (0, 4, 2), (7, 1, 8)]:
        shares = [distributed.shard_range(n, block, r, world) for r in range(world)]
        assert [i for s in shares for i in s] == list(range(n))
        assert all(s.start % block == 0 for s in shares if len(s))
        blocks = [-(-len(s) // block) for s in shares]
        assert max(blocks) - min(blocks) <= 1 and blocks == sorted(blocks, reverse=True)


def test_single_process_helpers_are_no_ops():
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    distributed.barrier()
    assert distributed.shard_range(5, 2) == range(0, 5)
    x = np.arange(6).reshape(3, 2)
    assert distributed.all_gather_rows(x) is x
    np.testing.assert_array_equal(distributed.all_gather_rows(x, indices=np.array([2, 0, 1])), x[[1, 2, 0]])


@pytest.mark.slow  # two processes started by torchrun (the module's fixture)
def test_two_processes_train_the_single_process_run(ranks, tmp_path):
    r0, r1 = ranks["results"]
    history, state = _single(EXACT, EXACT_N, tmp_path, "one")
    _assert_same_run(r0["exact"], r0["exact_state"], history, state)
    assert r1["exact"] == r0["exact"]  # every rank returns the history rank 0 wrote
    for key, value in r0["exact_state"].items():  # the ranks hold the same model
        assert torch.equal(value, r1["exact_state"][key]), key
    untouched = _Net().unused.state_dict()
    for key, value in untouched.items():  # parameters without gradient get no update, as in one process
        assert torch.equal(r0["exact_state"][f"unused.{key}"], value)
    print(f"two processes: {ranks['seconds']:.1f} s for all scenarios")


@pytest.mark.slow  # two processes started by torchrun (the module's fixture)
def test_only_rank_zero_writes(ranks):
    r0, r1 = ranks["results"]
    assert r1["writes"] == []
    written = {Path(p).name for p in r0["writes"]}
    assert {"config.json", "metrics.jsonl", "last.pt", "final.json"} <= written
    run = ranks["out"] / "runs" / "exact"
    assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [0, 1, 2]
    saved = torch.load(run / "last.pt", weights_only=True)["model"]
    assert not any(k.startswith("module.") for k in saved)
    _Net().load_state_dict(saved)


@pytest.mark.slow  # two processes started by torchrun (the module's fixture)
def test_resume_under_two_processes(ranks, tmp_path):
    r0, r1 = ranks["results"]
    assert r0["cut_lines"] == r1["cut_lines"] == 2 and not r0["cut_final"]
    assert [r["epoch"] for r in r0["resumed"]] == [0, 1, 2, 3]
    history, state = _single(RESUME, RESUME_N, tmp_path, "one")  # uninterrupted, one process
    _assert_same_run(r0["resumed"], r0["resumed_state"], history, state)
    assert r1["resumed"] == r0["resumed"]


@pytest.mark.slow  # two processes started by torchrun (the module's fixture)
def test_batch_norm_and_frozen_parts_under_two_processes(ranks):
    r0, r1 = ranks["results"]
    # DDP searches for parameters without gradient only where there are some: exact, cut, resumed, bn, sgma
    # (SGMA's attention backbone under "heads" is frozen by the model itself, so nothing is left unused)
    assert r0["unused_found"] == r1["unused_found"] == [True, True, True, False, False]
    assert "BatchNorm2d" in r0["bn_types"] and "SyncBatchNorm" not in r0["bn_types"]  # gloo: per-rank statistics
    assert all(np.isfinite(r["train_loss"]) for r in r0["bn"])
    for key, value in r0["bn_state"].items():  # running statistics too: rank 0's, copied to every rank
        assert torch.equal(value, r1["bn_state"][key]), key
    # SGMA with attention_training="heads": its loss reads model.centres, the attention backbone gets
    # no gradient (and must keep its weights and statistics), the heads and branches are trained
    before, after = r0["sgma_before"], r0["sgma_state"]
    assert all(np.isfinite(r["train_loss"]) for r in r0["sgma"]) and {"loss_cct", "loss_cls"} <= set(r0["sgma"][0])
    for key in before:
        if key.startswith("attention_backbone."):
            assert torch.equal(before[key], after[key]), key
        assert torch.equal(after[key], r1["sgma_state"][key]), key
    for key in ("attention.fc.0.0.weight", "branches.0.features.0.weight", "centres"):
        assert not torch.equal(before[key], after[key]), key


@pytest.mark.slow  # two processes started by torchrun (the module's fixture)
def test_gathered_evaluation_equals_one_process(ranks):
    from sgma_core.experiment import predict_scores, sgma_outputs

    torch.set_num_threads(1)  # as in the spawned processes, so the same kernels run
    images, phi = _eval_inputs()
    expected = predict_scores(_Net().eval(), images, phi, batch_size=8)
    few = predict_scores(_Net().eval(), images[:3], phi, batch_size=8)
    images, phi = _sgma_inputs()
    outputs = sgma_outputs(_tiny_sgma(), images, phi, batch_size=4)
    for r in ranks["results"]:
        np.testing.assert_array_equal(r["scores"], expected)
        np.testing.assert_array_equal(r["scores_one_batch"], few)
        assert set(r["sgma_outputs"]) == set(outputs)
        for key, value in outputs.items():
            np.testing.assert_array_equal(r["sgma_outputs"][key], value, err_msg=key)
        assert torch.equal(r["gathered_by_index"], torch.arange(10) * 10)


def _cuda_worker(rank: int, port: int, out: str) -> None:
    """Two ranks on CUDA: NCCL with a GPU each where there are two, else gloo sharing one GPU."""
    from sgma_core.experiment import predict_scores

    torch.backends.cudnn.allow_tf32 = False  # float32 convolutions, as in the reference run
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    if torch.cuda.device_count() >= WORLD:
        assert distributed.init_from_env("cuda", timeout_s=120)
    else:
        torch.cuda.set_device(0)
        torch.distributed.init_process_group("gloo", timeout=__import__("datetime").timedelta(seconds=120))
    try:
        config = dataclasses.replace(RESUME, device="cuda", precision="fp32", num_threads=None)
        model = _Net(batchnorm=True)
        history = fit(model, _problem(RESUME_N), _loss, config, Path(out) / "fp32", evaluate=_probe, progress=False)
        bf16 = fit(_Net(batchnorm=True), _problem(RESUME_N), _loss, dataclasses.replace(config, precision="bf16"),
                   Path(out) / "bf16", progress=False)
        images, phi = _eval_inputs()
        scores = predict_scores(model, images, phi.cuda(), batch_size=8)
        torch.save({"history": history, "state": {k: v.cpu() for k, v in model.state_dict().items()},
                    "types": sorted({type(m).__name__ for m in model.modules()}), "bf16": bf16, "scores": scores,
                    "backend": torch.distributed.get_backend()}, Path(out) / f"cuda{rank}.pt")
    finally:
        distributed.cleanup()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_sync_batchnorm_on_cuda_trains_the_single_process_run(tmp_path):
    """With SyncBatchNorm the batch statistics are the global batch's, so even a network with batch
    norm trains as in one process (37 rows in batches of 8: no weight-zero step)."""
    import torch.multiprocessing as mp

    from sgma_core.experiment import predict_scores

    mp.start_processes(_cuda_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True,
                       start_method="spawn")
    r0, r1 = (torch.load(tmp_path / f"cuda{r}.pt", weights_only=False) for r in range(WORLD))
    config = dataclasses.replace(RESUME, device="cuda", precision="fp32", num_threads=None)
    model = _Net(batchnorm=True)
    tf32, torch.backends.cudnn.allow_tf32 = torch.backends.cudnn.allow_tf32, False
    try:
        history = fit(model, _problem(RESUME_N), _loss, config, tmp_path / "one", evaluate=_probe, progress=False)
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    state = {k: v.cpu() for k, v in model.state_dict().items()}
    loss_gap = max(abs(a["train_loss"] - b["train_loss"]) for a, b in zip(r0["history"], history))
    param_gap = max(float((r0["state"][k].float() - v.float()).abs().max()) for k, v in state.items())
    print(f"{r0['backend']}: max |Δ loss| {loss_gap:.2g}, max |Δ parameter| {param_gap:.2g}")
    assert "BatchNorm2d" in r0["types"] and "SyncBatchNorm" not in r0["types"]  # put back after training
    _assert_same_run(r0["history"], r0["state"], history, state)
    for key, value in r0["state"].items():
        assert torch.equal(value, r1["state"][key]), key
    assert all(np.isfinite(r["train_loss"]) for r in r0["bf16"]) and r1["bf16"] == r0["bf16"]
    images, phi = _eval_inputs()
    expected = predict_scores(model, images, phi.cuda(), batch_size=8)
    np.testing.assert_allclose(r0["scores"], expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(r0["scores"], r1["scores"])


def test_cli_rejects_unknown_parameters(capsys):
    from sgma_core.train import main

    assert main(["--model", "baseline", "--profile", "smoke", "-p", "epoch", "3"]) == 2
    assert "unknown parameter 'epoch'" in capsys.readouterr().err
    assert main(["--model", "sgma", "-p", "seed", "1"]) == 2
    assert "give seed with --seeds" in capsys.readouterr().err


@pytest.mark.slow
def test_torchrun_cli_writes_runs_the_chapters_reuse(tiny_root, tmp_path):
    from sgma_core.experiment import prepare_data, train_baseline

    runs = tmp_path / "runs"
    params = ["-p", "epochs", "2", "-p", "device", "cpu", "-p", "num_threads", "1", "--seeds", "0"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
           "-m", "sgma_core.train", "--model", "baseline", "--profile", "smoke", "--dataset", "SYN",
           "--data-root", str(tiny_root), "--runs-dir", str(runs), "--quiet", *params]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1 and lines[0]["model"] == "baseline" and 0 <= lines[0]["H"] <= 1  # rank 0 only
    # a chapter with the same settings finds both runs (backbone pretraining and baseline) and trains nothing
    cfg = make_config("smoke", overrides={"dataset": "SYN", "epochs": 2, "device": "cpu", "num_threads": 1})
    prepared = prepare_data(cfg, tiny_root, progress=False)
    trained = []
    _, history = train_baseline(prepared, cfg, runs, progress=False, on_epoch_end=lambda e, r: trained.append(e))
    assert not trained and history[-1]["H"] == lines[0]["H"]
    assert len(list(runs.glob("*/*/final.json"))) == 2
