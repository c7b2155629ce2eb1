"""Profiles, the training engine, resume after an interruption, and failures that must stop a run."""

import json

import pytest
import torch

from sgma_core.engine.loop import NonFiniteLossError, fit
from sgma_core.engine.runs import RunMismatchError, read_metrics
from sgma_core.engine.step import LossOf, train_step
from sgma_core.experiment import prepare_data, train_baseline
from sgma_core.profiles import PROFILES, make_config
from tests.conftest import cross_entropy, tiny_classifier, tiny_problem


def test_profiles_are_data():
    assert set(PROFILES) == {"smoke", "cpu", "paper"}
    paper = PROFILES["paper"]
    assert (paper.backbone, paper.lr, paper.momentum, paper.weight_decay, paper.lr_min, paper.batch_size) == (
        "vgg19", 0.05, 0.9, 5e-4, 5e-4, 32)
    assert make_config("smoke", overrides={"epochs": 5}).epochs == 5


def test_unknown_profile_and_parameter():
    with pytest.raises(ValueError, match="unknown profile 'smok'.*'smoke'"):
        make_config("smok")
    with pytest.raises(ValueError, match="unknown parameter 'epoch'.*Did you mean epochs"):
        make_config("cpu", overrides={"epoch": 3})


def test_train_step_is_one_sgd_step():
    """Forward and loss, backward, update: θ ← θ − lr · ∇L (· weight), and the loss and its terms returned."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 1, 0])

    def loss_fn(m, x, y):
        ce = torch.nn.functional.cross_entropy(m(x), y)
        return ce, {"ce": ce.detach(), "half": 0.5 * ce.detach()}

    start = [p.detach().clone() for p in model.parameters()]
    loss = torch.nn.functional.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    for weight in (1.0, 0.5):
        for p, p0 in zip(model.parameters(), start):
            p.data.copy_(p0)
        out = train_step(LossOf(model, loss_fn), torch.optim.SGD(model.parameters(), lr=0.1), x, y, weight=weight)
        assert list(out) == ["loss", "ce", "half"] and all(v.dtype == torch.float64 for v in out.values())
        assert float(out["loss"]) == pytest.approx(loss.item()) and float(out["half"]) == pytest.approx(loss.item() / 2)
        for p, p0, g in zip(model.parameters(), start, grads):
            torch.testing.assert_close(p.detach(), p0 - 0.1 * weight * g)


def test_a_parameter_first_reached_later_steps_like_torchs_loop():
    """The alternating schedule reaches some parameters only from its second epoch: the fused update
    takes that step (torch's own kernel refuses it) and moves every parameter as the loop does."""
    from sgma_core.engine.loop import make_optimizer

    cfg = make_config("smoke", overrides={"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3})
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
    moved = []
    for fused in (True, False):
        torch.manual_seed(0)
        m = torch.nn.ModuleDict({"a": torch.nn.Linear(2, 1), "b": torch.nn.Linear(2, 1)})
        opt = make_optimizer(m, cfg)[0] if fused else torch.optim.SGD(
            m.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
        assert bool(opt.defaults["fused"]) is fused
        for reached in ("a", "ab", "a", "ab"):  # "b" gets its first gradient at the second step
            opt.zero_grad()
            sum(m[k](x) for k in reached).pow(2).sum().backward()
            opt.step()
        moved.append([p.detach().clone() for p in m.parameters()])
    for fast, loop in zip(*moved):
        torch.testing.assert_close(fast, loop)


class _Interrupt(Exception):
    pass


def _eval(model):
    with torch.no_grad():
        return {"probe": float(model(torch.ones(1, 3, 16, 16)).sum())}


CFG = make_config("smoke", overrides={"epochs": 4, "batch_size": 8, "lr": 0.05, "device": "cpu", "eval_every": 1})


def test_resumed_run_ends_like_an_uninterrupted_one(tmp_path):
    full = fit(tiny_classifier(), tiny_problem(), cross_entropy, CFG, tmp_path / "full", evaluate=_eval, progress=False)

    def stop_after_two(epoch, record):
        if epoch == 1:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        fit(tiny_classifier(), tiny_problem(), cross_entropy, CFG, tmp_path / "cut", evaluate=_eval, progress=False,
            on_epoch_end=stop_after_two)
    assert len(read_metrics(tmp_path / "cut")) == 2 and not (tmp_path / "cut" / "final.json").exists()
    resumed_model = tiny_classifier()
    resumed = fit(resumed_model, tiny_problem(), cross_entropy, CFG, tmp_path / "cut", evaluate=_eval, progress=False)
    assert [r["epoch"] for r in resumed] == [0, 1, 2, 3]
    for a, b in zip(full, resumed):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-6, abs=1e-7)
        assert a["probe"] == pytest.approx(b["probe"], rel=1e-6)
    lines = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [0, 1, 2, 3]


def test_finished_run_is_reused_not_retrained(tmp_path):
    first = fit(tiny_classifier(), tiny_problem(), cross_entropy, CFG, tmp_path / "r", evaluate=_eval, progress=False)
    called = []
    again = fit(tiny_classifier(), tiny_problem(), lambda *a: called.append(1), CFG, tmp_path / "r", progress=False)
    assert not called and again == first


def test_run_folder_with_other_settings_is_refused(tmp_path):
    fit(tiny_classifier(), tiny_problem(), cross_entropy, CFG, tmp_path / "r", progress=False)
    other = make_config("smoke", overrides={"epochs": 4, "batch_size": 8, "lr": 0.01, "device": "cpu"})
    with pytest.raises(RunMismatchError, match="lr: 0.05 → 0.01"):
        fit(tiny_classifier(), tiny_problem(), cross_entropy, other, tmp_path / "r", progress=False)


def test_nan_loss_stops_and_keeps_the_checkpoint(tmp_path):
    calls = {"n": 0}

    def loss_going_nan(model, x, y):
        calls["n"] += 1
        loss = cross_entropy(model, x, y)
        return loss * float("nan") if calls["n"] > 7 else loss  # 5 steps per epoch: NaN in epoch 2

    run = tmp_path / "r"
    with pytest.raises(NonFiniteLossError, match=r"epoch 2, step 3.*after epoch 1"):
        fit(tiny_classifier(), tiny_problem(), loss_going_nan, CFG, run, progress=False)
    state = torch.load(run / "last.pt", weights_only=True)
    assert state["epoch"] == 0
    assert all(torch.isfinite(v).all() for v in state["model"].values())


@pytest.mark.slow
def test_baseline_learns_on_tiny_synthetic(tiny_root, tmp_path):
    cfg = make_config("smoke", overrides={"dataset": "SYN", "epochs": 3, "device": "cpu"})
    prepared = prepare_data(cfg, tiny_root, progress=False)
    model, history = train_baseline(prepared, cfg, tmp_path, progress=False)
    assert len(history) == 3
    assert {"T1", "u", "s", "H", "train_loss", "lr"} <= set(history[-1])
    assert all(0 <= history[-1][k] <= 1 for k in ("T1", "u", "s", "H"))
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert (tmp_path / "backbone").is_dir() and (tmp_path / "baseline").is_dir()


def test_a_reused_run_comes_back_in_eval_mode_like_a_trained_one(tmp_path):
    trained = tiny_classifier()
    fit(trained, tiny_problem(), cross_entropy, CFG, tmp_path / "r", progress=False)
    reused = tiny_classifier().train()
    fit(reused, tiny_problem(), cross_entropy, CFG, tmp_path / "r", progress=False)
    assert not trained.training and not reused.training
