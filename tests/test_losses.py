"""Eqs. (5)–(9) against hand-computed values, and gradchecks in float64."""

import math

import pytest
import torch

from sgma_core.losses import (
    class_centre_triplet_loss,
    compactness_loss,
    diversity_loss,
    gaussian_peak_targets,
    sgma_loss,
)


def test_gaussian_target_peaks_at_the_argmax():
    maps = torch.zeros(1, 1, 5, 5)
    maps[0, 0, 1, 3] = 0.9
    t = gaussian_peak_targets(maps, sigma=1.0)
    assert t[0, 0, 1, 3] == 1.0
    assert t[0, 0, 1, 4].item() == pytest.approx(math.exp(-0.5))
    assert t[0, 0, 3, 3].item() == pytest.approx(math.exp(-2.0))


def test_compactness_hand_value():
    # one map, 1×2: values (1, 0) → peak at cell 0; target (1, e^{-1/(2σ²)})
    maps = torch.tensor([[[[1.0, 0.0]]]])
    sigma = 1.0
    expected = (0.0 + math.exp(-0.5) ** 2) / 2
    assert compactness_loss(maps, sigma).item() == pytest.approx(expected)
    # summed over parts, mean over the batch
    two = torch.cat([maps, maps], dim=1)
    batch = torch.cat([two, two], dim=0)
    assert compactness_loss(batch, sigma).item() == pytest.approx(2 * expected)


def test_compactness_prefers_a_concentrated_map():
    peaked = torch.zeros(1, 1, 7, 7)
    peaked[0, 0, 3, 3] = 1.0
    blob = gaussian_peak_targets(peaked, 1.5)
    spread = torch.full((1, 1, 7, 7), 0.8)
    spread[0, 0, 3, 3] = 1.0
    assert compactness_loss(blob, 1.5) < 1e-12 < compactness_loss(spread, 1.5)


def test_diversity_hand_value():
    m1 = torch.tensor([[0.9, 0.1]])
    m2 = torch.tensor([[0.5, 0.8]])
    maps = torch.stack([m1, m2])[None]  # [1, 2, 1, 2]
    # part 1: 0.9·max(0, 0.5−0.2) + 0.1·max(0, 0.8−0.2) = 0.27 + 0.06
    # part 2: 0.5·max(0, 0.9−0.2) + 0.8·max(0, 0.1−0.2) = 0.35 + 0
    assert diversity_loss(maps, margin=0.2).item() == pytest.approx(0.27 + 0.06 + 0.35)
    apart = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]])
    assert diversity_loss(apart).item() == 0.0


def test_diversity_with_three_parts_uses_the_max_of_the_others():
    maps = torch.tensor([[[[1.0]], [[0.5]], [[0.9]]]])
    # part 1: 1·(0.9−0.2); part 2: 0.5·(1−0.2); part 3: 0.9·(1−0.2)
    assert diversity_loss(maps).item() == pytest.approx(0.7 + 0.4 + 0.72)


def test_cct_hand_value_hardest_and_mean():
    emb = torch.tensor([[1.0, 0.0]])
    centres = torch.tensor([[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0]])  # normalised: (1,0), (0,1), (−1,0)
    labels = torch.tensor([0])
    # d_pos = 0; distances to negatives: 2 and 4
    assert class_centre_triplet_loss(emb, centres, labels, margin=0.8, negatives="hardest").item() == pytest.approx(
        0.0)  # 0.8 + 0 − 2 < 0
    assert class_centre_triplet_loss(emb, centres, torch.tensor([1]), margin=0.8, negatives="hardest").item() == \
        pytest.approx(0.8 + 2 - 0)
    assert class_centre_triplet_loss(emb, centres, torch.tensor([1]), negatives="mean").item() == pytest.approx(
        0.8 + 2 - (0 + 4) / 2)
    # the report's reading, one hinge per negative class: (max(0, 0.8 + 2 − 0) + max(0, 0.8 + 2 − 4)) / 2
    assert class_centre_triplet_loss(emb, centres, torch.tensor([1]), negatives="all").item() == pytest.approx(1.4)
    assert class_centre_triplet_loss(emb, centres, labels, negatives="all").item() == pytest.approx(0.0)


def test_the_three_cct_readings_differ():
    torch.manual_seed(1)
    emb, centres, labels = torch.randn(8, 4), torch.randn(6, 4), torch.randint(0, 6, (8,))
    values = {n: class_centre_triplet_loss(emb, centres, labels, negatives=n).item()
              for n in ("hardest", "mean", "all")}
    assert len({round(v, 6) for v in values.values()}) == 3
    e, c = torch.nn.functional.normalize(emb, dim=1), torch.nn.functional.normalize(centres, dim=1)
    d = ((e[:, None] - c[None]) ** 2).sum(-1)
    expected = sum(max(0.0, 0.8 + d[n, labels[n]].item() - d[n, k].item()) for n in range(8) for k in range(6)
                   if k != labels[n]) / (8 * 5)
    assert values["all"] == pytest.approx(expected, rel=1e-5)


def test_cct_is_not_the_sum_over_all_centres():
    torch.manual_seed(0)
    emb, centres, labels = torch.randn(6, 4), torch.randn(5, 4), torch.randint(0, 5, (6,))
    loss = class_centre_triplet_loss(emb, centres, labels)
    e, c = torch.nn.functional.normalize(emb, dim=1), torch.nn.functional.normalize(centres, dim=1)
    summed = ((e[:, None] - c[None]) ** 2).sum(-1).sum(1).mean()
    assert loss.item() != pytest.approx(summed.item())
    assert 0 <= loss.item() <= 0.8 + 4


def test_total_eq9():
    t = [torch.tensor(v) for v in (1.0, 2.0, 3.0, 4.0)]
    assert sgma_loss(*t, lam=0.5, alpha=2.0, beta=0.25).item() == pytest.approx(1 + 1 + 6 + 1)


def test_gradchecks_float64():
    torch.manual_seed(0)
    maps = torch.rand(2, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda m: compactness_loss(m, 1.2), (maps,))
    assert torch.autograd.gradcheck(lambda m: diversity_loss(m, 0.2), (maps,))
    emb = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    centres = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 2, 4, 1])
    for neg in ("hardest", "mean"):
        assert torch.autograd.gradcheck(
            lambda e, c, neg=neg: class_centre_triplet_loss(e, c, labels, margin=3.0, negatives=neg), (emb, centres))
