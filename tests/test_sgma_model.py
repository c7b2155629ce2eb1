"""Model-wide checks of SGMA: shapes, no NaN, every trained parameter gets a gradient, same result
under a seed, both centre rules, shared or separate W."""

import numpy as np
import pytest
import torch

from sgma_core.backbones import small_vgg
from sgma_core.sgma import SGMA, sgma_objective


def _model(centre_rule="peak", shared_W=False, n_parts=2, seed=0):
    torch.manual_seed(seed)
    bb = lambda: small_vgg(widths=(8, 16))  # noqa: E731 - stride 2
    return SGMA(bb(), [bb() for _ in range(n_parts + 1)], semantic_dim=6, n_seen=5, attention_size=24,
                joint_size=12, n_parts=n_parts, centre_rule=centre_rule, shared_W=shared_W)


@pytest.mark.parametrize("centre_rule", ["peak", "learned"])
@pytest.mark.parametrize("shared_W", [False, True])
def test_shapes_no_nan_and_gradients(centre_rule, shared_W):
    model = _model(centre_rule, shared_W)
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


def test_frozen_attention_keeps_its_state_and_gets_no_gradient():
    from sgma_core.sgma import sgma_objective

    model = _model()
    model.freeze_attention = True
    before = {k: v.clone() for k, v in model.attention_backbone.state_dict().items()}
    model.train()
    out = model(torch.randn(3, 3, 24, 24), torch.randn(6, 5))
    loss, _ = sgma_objective(model, out, torch.tensor([0, 1, 2]))
    loss.backward()
    assert all(p.grad is None for p in model.attention.parameters())
    assert all(p.grad is None for p in model.attention_backbone.parameters())
    assert all(p.grad is not None for p in model.branches.parameters())
    for k, v in model.attention_backbone.state_dict().items():  # batch-norm statistics untouched too
        torch.testing.assert_close(v, before[k])
