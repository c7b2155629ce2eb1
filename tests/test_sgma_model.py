"""Model-wide checks of SGMA: shapes, no NaN, every trained parameter gets a gradient, same result
under a seed, both centre rules, shared or separate W."""

import numpy as np
import pytest
import torch

from sgma_core.backbones import small_vgg
from sgma_core.sgma import SGMA, sgma_objective
from tests.conftest import tiny_sgma


def _model(centre_rule="peak", shared_W=False, n_parts=2, seed=0, attention_training="heads"):
    return tiny_sgma(seed, centre_rule=centre_rule, shared_W=shared_W, n_parts=n_parts,
                     attention_training=attention_training)


@pytest.mark.parametrize("centre_rule", ["peak", "learned"])
@pytest.mark.parametrize("shared_W", [False, True])
@pytest.mark.parametrize("attention_training", ["full", "heads"])
def test_shapes_no_nan_and_gradients(centre_rule, shared_W, attention_training):
    model = _model(centre_rule, shared_W, attention_training=attention_training)
    x = torch.randn(3, 3, 24, 24)
    phi = torch.randn(6, 5)
    out = model(x, phi)
    assert out["scores"].shape == (3, 5) and out["emb"].shape == (3, 6)
    assert out["maps"].shape == (3, 2, 12, 12) and out["parts"].shape == (3, 2, 3, 12, 12)
    assert out["tx"].shape == (3, 2)
    for k in ("scores", "emb", "maps", "parts"):
        assert torch.isfinite(out[k]).all(), k
    torch.testing.assert_close(out["emb"].norm(dim=1), torch.ones(3))
    loss, terms = sgma_objective(model, out, torch.tensor([0, 3, 4]))
    assert set(terms) == {"cpt", "div", "cls", "cct"} and torch.isfinite(loss)
    loss.backward()
    for name, p in model.named_parameters():
        if attention_training == "heads" and name.startswith("attention_backbone."):
            assert p.grad is None, f"{name} is kept as pretrained but received a gradient"
            continue
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"{name} receives no gradient"
    assert len(model.compat) == (1 if shared_W else 3)


def test_peak_rule_squares_follow_the_map_peaks():
    model = _model()
    out = model(torch.randn(2, 3, 24, 24), torch.randn(6, 5))
    flat = out["maps"].flatten(2).argmax(-1)
    np.testing.assert_allclose(out["tx"].numpy(), ((flat % 12).float() + 0.5).numpy() * 2 - 0.5)
    assert torch.all(out["ts"] == 12.0)


def test_same_seed_same_result():
    x, phi = torch.randn(2, 3, 24, 24), torch.randn(6, 5)
    a = _model(seed=4).eval()(x, phi)["scores"]
    b = _model(seed=4).eval()(x, phi)["scores"]
    torch.testing.assert_close(a, b)


def test_unseen_classes_are_scored():
    out = _model()(torch.randn(2, 3, 24, 24), torch.randn(6, 9))
    assert out["scores"].shape == (2, 9)


def test_branch_count_is_checked():
    with pytest.raises(ValueError, match="need 3 branch backbones"):
        SGMA(small_vgg(), [small_vgg()], 6, 5, 24, 12)


@pytest.mark.parametrize("mode, freeze_backbone", [("full", False), ("heads", False), ("none", False),
                                                    ("heads", True)])
def test_what_each_attention_training_mode_trains(mode, freeze_backbone, tmp_path):
    """Eq. (11)'s initialisation, then two epochs of eq. (9) on a tiny run: what a setting freezes keeps
    its weights (and the attention backbone its batch-norm statistics); everything else changes."""
    from sgma_core.attention import initialise_grouping
    from sgma_core.engine.loop import fit
    from sgma_core.engine.step import TrainData
    from sgma_core.profiles import make_config
    from sgma_core.sgma import SGMAObjective

    model = tiny_sgma(attention_training=mode, freeze_backbone=freeze_backbone)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (20, 3, 24, 24), dtype=torch.uint8, generator=g)
    grouping = initialise_grouping(model.attention, model.attention_backbone, images, omega=16, steps=5)
    assert grouping["indicators"].shape == (2, 16) and len(grouping["losses"]) == 5
    params = lambda: {k: v.detach().clone() for k, v in model.named_parameters()}  # noqa: E731
    before, stats = params(), {k: v.clone() for k, v in model.attention_backbone.state_dict().items()}
    config = make_config("smoke", overrides={"epochs": 2, "batch_size": 8, "device": "cpu", "image_size": 24,
                                             "joint_size": 12})
    objective = SGMAObjective.from_config(model, torch.randn(6, 5), config)
    fit(model, TrainData(images, torch.arange(20) % 5), objective, config, tmp_path, progress=False)
    after = params()
    changed = {prefix: any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix))
               for prefix in ("attention_backbone.", "attention.fc.", "branches.", "compat.", "embed.", "centres")}
    assert changed == {"attention_backbone.": mode == "full", "attention.fc.": mode != "none",
                       "branches.": not freeze_backbone, "compat.": True, "embed.": True, "centres": True}
    if mode != "full":  # kept as pretrained: eval mode in every forward, so its statistics do not move either
        for k, v in model.attention_backbone.state_dict().items():
            torch.testing.assert_close(v, stats[k])


def test_unknown_attention_training_is_refused():
    with pytest.raises(ValueError, match="attention_training"):
        SGMA(small_vgg(), [small_vgg() for _ in range(3)], 6, 5, 24, 12, attention_training="some")


@pytest.mark.parametrize("centre_rule, attention_training", [("peak", "heads"), ("learned", "full")])
def test_alternating_schedule_trains_the_attention_then_the_features(centre_rule, attention_training, tmp_path):
    """Epoch 0 minimises eqs. (5)-(6) only (the FC pairs move, the joint subnet does not), epoch 1
    eqs. (7)-(8) only: the joint subnet moves, and the attention only where those losses reach the maps
    through the squares (a rule with ``map_gradient``), which is also the step in which some parameters
    are updated for the first time while others already have momentum."""
    from sgma_core.centres import rule_named
    from sgma_core.engine.loop import fit
    from sgma_core.engine.step import TrainData
    from sgma_core.profiles import make_config
    from sgma_core.sgma import SGMAObjective

    settings = {"training_schedule": "alternating", "attention_training": attention_training,
                "centre_rule": centre_rule}
    model = tiny_sgma(**settings)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (16, 3, 24, 24), dtype=torch.uint8, generator=g)
    config = make_config("smoke", overrides={"epochs": 2, "batch_size": 8, "device": "cpu", "image_size": 24,
                                             "joint_size": 12, **settings})
    params = lambda: {k: v.detach().clone() for k, v in model.named_parameters()}  # noqa: E731
    states = [params()]
    fit(model, TrainData(images, torch.arange(16) % 5), SGMAObjective.from_config(model, torch.randn(6, 5), config),
        config, tmp_path, progress=False, on_epoch_end=lambda e, r: states.append(params()))

    def moved(a, b, prefix):
        return any(not torch.equal(a[k], b[k]) for k in a if k.startswith(prefix))

    assert moved(states[0], states[1], "attention.fc.") and not moved(states[0], states[1], "branches.")
    reached = rule_named(centre_rule).map_gradient
    assert moved(states[1], states[2], "attention.fc.") == reached and moved(states[1], states[2], "branches.")
    assert not moved(states[0], states[1], "centres") and moved(states[1], states[2], "centres")


def test_objective_phases():
    model = _model()
    out = model(torch.randn(3, 3, 24, 24), torch.randn(6, 5))
    y = torch.tensor([0, 3, 4])
    total, t = sgma_objective(model, out, y, lam=0.5, alpha=2.0, beta=3.0)
    attention, _ = sgma_objective(model, out, y, lam=0.5, alpha=2.0, beta=3.0, phase="attention")
    features, _ = sgma_objective(model, out, y, lam=0.5, alpha=2.0, beta=3.0, phase="features")
    torch.testing.assert_close(attention, t["cpt"] + 0.5 * t["div"])
    torch.testing.assert_close(features, 2.0 * t["cls"] + 3.0 * t["cct"])
    torch.testing.assert_close(total, attention + features)
    with pytest.raises(ValueError, match="phase"):
        sgma_objective(model, out, y, phase="both")


def test_a_state_stored_with_the_class_centres_spelt_centers_still_loads():
    """Runs stored before the class centres were named ``centres`` keep loading (strictly), centres included."""
    source, target = _model(), _model(seed=1)
    state = source.state_dict()
    state["centers"] = state.pop("centres")
    target.load_state_dict(state)
    assert torch.equal(target.centres, source.centres)
    assert "centres" in target.state_dict() and "centers" not in target.state_dict()
