"""The measurements of a dead attention: the literal eq. (3) never falls below 0.5, and with the attention
backbone's features all zero its maps sit at that floor, where eqs. (5)-(6) cost what floors() says; which loss
terms reach the attention subnet depends on the centre rule and on what eqs. (5)-(9) may train."""

import numpy as np
import pytest
import torch

from sgma_core.collapse import FLOOR, by_epoch, floors, gradient_table, map_state
from sgma_core.losses import compactness_loss, diversity_loss
from sgma_core.profiles import make_config
from tests.conftest import tiny_sgma


def _batch(n=6, size=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1, torch.arange(n) % 5, torch.rand(6, 5, generator=g)


def test_the_literal_map_never_falls_below_the_floor_and_dies_with_its_features():
    model = tiny_sgma(attention_norm="none")
    x, _, _ = _batch()
    alive = map_state(model, x)
    assert alive["lowest"] >= FLOOR and alive["constant"] == 0.0 and alive["at_floor"] == 0.0
    assert 0 <= alive["dead_features"] < 1
    last = [m for m in model.attention_backbone.modules() if getattr(m, "bias", None) is not None][-1]
    with torch.no_grad():  # every feature of the attention backbone zero: what eqs. (5)-(6) drive it to
        last.bias.fill_(-1e4)  # the last layer before its ReLU
    dead = map_state(model, x)
    assert dead == {"constant": 1.0, "at_floor": 1.0, "dead_features": 1.0, "lowest": FLOOR, "spread": 0.0}


def test_a_standardised_map_has_contrast_on_the_same_features():
    x, _, _ = _batch()
    state = map_state(tiny_sgma(attention_norm="standardize"), x)
    assert state["constant"] == 0.0 and state["spread"] > 0.1 and state["lowest"] < FLOOR


def test_the_floors_are_the_losses_of_maps_at_one_half_everywhere():
    config = make_config("smoke")
    maps = torch.rand(4, 2, 8, 8)
    got = floors(maps, config)
    half = torch.full_like(maps, 0.5)
    assert got["div"] == pytest.approx(2 * 64 * 0.5 * (0.5 - config.div_margin))  # both maps, every cell
    assert got == {"cpt": pytest.approx(float(compactness_loss(half, config.cpt_sigma))),
                   "div": pytest.approx(float(diversity_loss(half, config.div_margin)))}


def test_what_reaches_the_attention_subnet_depends_on_the_rule_and_what_trains():
    x, y, phi = _batch()
    config = make_config("smoke", overrides={"image_size": 24, "joint_size": 12})
    full = gradient_table(tiny_sgma(centre_rule="peak", attention_training="full"), x, y, phi, config)
    # the peak rule's argmax has no gradient: the classification and triplet terms never reach the attention
    for term in ("cls", "cct"):
        assert full[term] == {"fc_pairs": 0.0, "backbone": 0.0}
    assert full["cpt"]["fc_pairs"] > 0 and full["div"]["backbone"] > 0
    heads = gradient_table(tiny_sgma(centre_rule="peak", attention_training="heads"), x, y, phi, config)
    assert heads["div"]["fc_pairs"] > 0 and heads["div"]["backbone"] == 0.0  # the backbone stays as pretrained
    none = gradient_table(tiny_sgma(centre_rule="peak", attention_training="none"), x, y, phi, config)
    assert all(v == 0.0 for row in none.values() for v in row.values())
    learned = gradient_table(tiny_sgma(centre_rule="learned", attention_training="full"), x, y, phi, config)
    assert learned["cls"]["backbone"] > 0  # a learned centre lets the classification reach the attention


def test_stored_maps_are_read_epoch_by_epoch():
    rng = np.random.default_rng(0)
    alive = rng.uniform(0.5, 1.0, size=(4, 2, 8, 8))
    half_dead = alive.copy()
    half_dead[:2] = 0.5  # two of four images at the floor
    flat = alive.copy()
    flat[:, :, :, :] = 0.7  # constant, above the floor
    got = by_epoch({1: {"maps": flat}, -1: {"maps": alive}, 0: {"maps": half_dead}})
    assert list(got) == [-1, 0, 1]
    assert got[-1] == {"constant": 0.0, "at_floor": 0.0} and got[0] == {"constant": 0.5, "at_floor": 0.5}
    assert got[1] == {"constant": 1.0, "at_floor": 0.0}
