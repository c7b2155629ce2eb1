"""Model-wide checks of SGMA: shapes, no NaN, every trained parameter gets a gradient, same result
under a seed, both centre rules, shared or separate W."""

import numpy as np
import pytest
import torch

from sgma_core.backbones import small_vgg
from sgma_core.sgma import SGMA, sgma_objective


def _model(centre_rule="peak", shared_W=False, n_parts=2, seed=0, attention_training="heads"):
    torch.manual_seed(seed)
    bb = lambda: small_vgg(widths=(8, 16))  # noqa: E731 - stride 2
    return SGMA(bb(), [bb() for _ in range(n_parts + 1)], semantic_dim=6, n_seen=5, attention_size=24,
                joint_size=12, n_parts=n_parts, centre_rule=centre_rule, shared_W=shared_W,
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


@pytest.mark.parametrize("mode", ["none", "heads"])
def test_attention_training_modes_keep_the_frozen_parts(mode):
    from sgma_core.sgma import sgma_objective

    model = _model()
    model.attention_training = mode
    before = {k: v.clone() for k, v in model.attention_backbone.state_dict().items()}
    model.train()
    out = model(torch.randn(3, 3, 24, 24), torch.randn(6, 5))
    loss, _ = sgma_objective(model, out, torch.tensor([0, 1, 2]))
    loss.backward()
    heads_grad = [p.grad is not None and bool(p.grad.abs().sum() > 0) for p in model.attention.parameters()]
    assert all(heads_grad) if mode == "heads" else not any(heads_grad)
    assert all(p.grad is None for p in model.attention_backbone.parameters())
    assert all(p.grad is not None for p in model.branches.parameters())
    for k, v in model.attention_backbone.state_dict().items():  # batch-norm statistics untouched too
        torch.testing.assert_close(v, before[k])


def test_unknown_attention_training_is_refused():
    with pytest.raises(ValueError, match="attention_training"):
        SGMA(small_vgg(), [small_vgg() for _ in range(3)], 6, 5, 24, 12, attention_training="some")
