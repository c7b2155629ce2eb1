"""Eqs. (1)–(3) and (11): channel attention, maps that keep spatial contrast, channel grouping."""

import numpy as np
import pytest
import torch

from sgma_core.attention import MultiAttention, channel_grouping, channel_peaks, pretrain_grouping
from sgma_core.backbones import small_vgg
from sgma_core.data.images import normalize


def _bird_like_features():
    """Feature maps of a real-looking input: ReLU activations of a conv net on a synthetic image."""
    torch.manual_seed(0)
    img = torch.zeros(2, 3, 64, 64, dtype=torch.uint8)
    img[:, 0, 20:30, 30:44] = 220  # a red blob on a dark background
    img[:, 2, 40:50, 10:20] = 200
    with torch.no_grad():
        return small_vgg()(normalize(img))  # [2, 128, 8, 8], non-negative


def test_shapes_and_ranges():
    att = MultiAttention(16, n_parts=3)
    maps, a = att(torch.rand(4, 16, 6, 5))
    assert maps.shape == (4, 3, 6, 5) and a.shape == (4, 3, 16)
    assert 0 < maps.min() and maps.max() < 1 and 0 < a.min() and a.max() < 1


def test_literal_eq3_saturates_and_the_normalised_maps_keep_contrast():
    f = _bird_like_features() * 10  # raw activations at the scale of a trained network
    torch.manual_seed(1)
    literal = MultiAttention(f.shape[1], normalize="none")
    torch.manual_seed(1)
    ours = MultiAttention(f.shape[1], normalize="standardize")
    with torch.no_grad():
        m_lit, _ = literal(f)
        m_ours, _ = ours(f)
    contrast = lambda m: (m.amax(dim=(2, 3)) - m.amin(dim=(2, 3))).min().item()  # noqa: E731
    assert m_lit.min().item() > 0.99  # σ(Σ_c a_c f_c) ≡ 1: no spatial information left
    assert contrast(m_ours) > 0.5


def test_channel_peaks_descriptor_layout():
    f = torch.zeros(2, 3, 4, 5)
    f[0, 1, 2, 3] = 1  # image 0, channel 1: peak at x=3, y=2
    f[1, 1, 0, 4] = 1  # image 1, channel 1: x=4, y=0
    desc = channel_peaks(f)
    assert desc.shape == (3, 4)
    assert desc[1].tolist() == [3, 2, 4, 0]


def test_channel_grouping_separates_two_locations():
    f = torch.zeros(5, 6, 8, 8)
    f[:, :3, 1, 1] = 1.0  # channels 0-2 fire at the top
    f[:, 3:, 6, 5] = 1.0  # channels 3-5 at the bottom
    ind = channel_grouping(f, n_parts=2, seed=0)
    assert ind.tolist() == [[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]]  # top cluster first
    assert np.array_equal(ind, channel_grouping(f, n_parts=2, seed=0))


def test_pretraining_pulls_channel_weights_to_the_indicators():
    torch.manual_seed(0)
    att = MultiAttention(6, n_parts=2)
    pooled = torch.rand(8, 6)
    ind = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], dtype=np.float32)
    losses = pretrain_grouping(att, pooled, ind, steps=300, lr=0.05, smoothing=0.0)  # exact 0/1 targets
    assert losses[-1] < 0.1 * losses[0]
    a = att.channel_weights(pooled).detach()
    assert (a[:, 0, :3] > 0.8).all() and (a[:, 0, 3:] < 0.2).all() and (a[:, 1, 3:] > 0.8).all()


def test_unknown_normalisation():
    with pytest.raises(ValueError, match="standardize"):
        MultiAttention(4, normalize="softmax")


def test_smoothed_grouping_targets_keep_the_channel_weights_trainable():
    pooled = torch.rand(16, 6)
    ind = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], dtype=np.float32)
    weights = {}
    for eps in (0.0, 0.1):
        torch.manual_seed(0)
        att = MultiAttention(6, n_parts=2)
        pretrain_grouping(att, pooled, ind, steps=400, lr=0.05, smoothing=eps)
        a = att.channel_weights(pooled)
        weights[eps] = a.detach()
        slope = (a * (1 - a)).mean().item()  # dσ/dz: what any later loss can still move
        if eps == 0.1:
            assert (a[:, 0, :3] > 0.8).all() and (a[:, 0, 3:] < 0.2).all()  # still the grouping
            assert ((a > 0.05) & (a < 0.95)).all() and slope > 0.05
        else:
            assert slope < 0.02
    with pytest.raises(ValueError, match="smoothing"):
        pretrain_grouping(MultiAttention(6), pooled, ind, smoothing=0.5)


def test_a_grouping_of_the_same_inputs_is_given_again_exactly_and_others_are_computed(monkeypatch):
    from sgma_core import attention as module
    from tests.conftest import tiny_sgma

    monkeypatch.setattr(module, "_GROUPINGS", type(module._GROUPINGS)())
    images = (torch.rand(40, 3, 24, 24, generator=torch.Generator().manual_seed(3)) * 255).to(torch.uint8)
    computed = []
    grouping = module.channel_grouping
    monkeypatch.setattr(module, "channel_grouping", lambda *a, **k: computed.append(1) or grouping(*a, **k))

    def grouped(model):
        rng = torch.get_rng_state()
        out = module.initialise_grouping(model.attention, model.attention_backbone, images, omega=16, steps=20)
        assert torch.equal(torch.get_rng_state(), rng)  # the global random state is left as it was
        return out, {k: v.clone() for k, v in model.attention.state_dict().items()}

    first, state = grouped(tiny_sgma())
    again, state_again = grouped(tiny_sgma())  # a second model built the same way: given again
    assert len(computed) == 1
    assert np.array_equal(first["indicators"], again["indicators"]) and first["losses"] == again["losses"]
    assert all(torch.equal(state[k], state_again[k]) for k in state)
    module._GROUPINGS.clear()  # the same, computed once more: what was given again is what it computes
    fresh, state_fresh = grouped(tiny_sgma())
    assert len(computed) == 2 and fresh["losses"] == first["losses"]
    assert all(torch.equal(state[k], state_fresh[k]) for k in state)
    other = tiny_sgma()
    with torch.no_grad():
        next(other.attention_backbone.parameters()).add_(0.1)  # another backbone: computed
    grouped(other)
    grouped(tiny_sgma(seed=1))  # other FC pairs before the grouping: computed
    assert len(computed) == 4
