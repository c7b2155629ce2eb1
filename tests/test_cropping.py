"""Eq. (4): the boxcar mask, the crop and zoom, and the centre rules."""

import pytest
import torch

from sgma_core.centres import LearnedCentres, peak_centres
from sgma_core.cropping import boxcar_mask, clamp_square, crop_and_zoom


def _sig(z):
    return 1 / (1 + torch.exp(-z))


def test_mask_is_the_product_of_the_two_boxcars_at_pixel_centres():
    tx, ty, ts = torch.tensor([5.0]), torch.tensor([3.0]), torch.tensor([4.0])
    m = boxcar_mask(tx, ty, ts, height=8, width=12, k=10)
    assert m.shape == (1, 8, 12)
    x, y = 7, 2
    vx = _sig(torch.tensor(10 * (x - 5 + 2.0))) - _sig(torch.tensor(10 * (x - 5 - 2.0)))
    vy = _sig(torch.tensor(10 * (y - 3 + 2.0))) - _sig(torch.tensor(10 * (y - 3 - 2.0)))
    assert m[0, y, x].item() == pytest.approx((vx * vy).item(), rel=1e-6)
    assert m[0, 3, 5].item() > 0.99 and m[0, 3, 10].item() < 1e-6


def test_mask_approaches_the_indicator_as_k_grows():
    tx, ty, ts = torch.tensor([10.0]), torch.tensor([10.0]), torch.tensor([8.5])
    soft = boxcar_mask(tx, ty, ts, 21, 21, k=1)
    hard = boxcar_mask(tx, ty, ts, 21, 21, k=100)
    inside = torch.zeros(21, 21)
    inside[6:15, 6:15] = 1
    assert (hard[0] - inside).abs().max() < 1e-3
    assert (soft[0] - inside).abs().max() > 0.3


def test_mask_gradient_wrt_tx_lives_on_the_vertical_edges():
    tx = torch.tensor([10.0], dtype=torch.float64, requires_grad=True)
    ty, ts = torch.tensor([10.0], dtype=torch.float64), torch.tensor([8.0], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: boxcar_mask(t, ty, ts, 6, 21, k=10), (tx,))
    m = boxcar_mask(tx, ty, ts, 21, 21, k=10)
    m[0, 10].sum().backward()
    assert abs(tx.grad.item()) < 1e-9  # moving a symmetric box: what it gains on one edge it loses on the other
    tx.grad = None
    boxcar_mask(tx, ty, ts, 21, 21, k=10)[0, 10, 14].backward()  # right edge at 14
    assert tx.grad.item() > 1.0


def test_crop_and_zoom_takes_the_square():
    img = torch.zeros(1, 1, 16, 16)
    img[0, 0, 4:8, 8:12] = 1.0  # a 4×4 patch centred at (x=9.5, y=5.5)
    out = crop_and_zoom(img, torch.tensor([9.5]), torch.tensor([5.5]), torch.tensor([4.0]), 8, mask=False)
    assert out.shape == (1, 1, 8, 8)
    # the crop is the patch zoomed ×2: inside it is 1; the outer ring of samples sits a quarter pixel
    # from the patch's edge, where bilinear interpolation gives 0.75 (0.75² at the corners)
    assert torch.allclose(out[0, 0, 1:-1, 1:-1], torch.ones(6, 6))
    assert out[0, 0, 0, 3].item() == pytest.approx(0.75) and out[0, 0, 0, 0].item() == pytest.approx(0.5625)
    masked = crop_and_zoom(img, torch.tensor([9.5]), torch.tensor([5.5]), torch.tensor([4.0]), 8, k=10)
    assert 0.4 < masked.mean().item() < 1.0  # the soft mask dims the border


def test_crop_is_clamped_inside_and_differentiable():
    tx, ty, ts = clamp_square(torch.tensor([1.0]), torch.tensor([30.0]), torch.tensor([8.0]), 32, 32)
    assert tx.item() == pytest.approx(3.5) and ty.item() == pytest.approx(27.5)
    img = torch.rand(1, 3, 16, 16, dtype=torch.float64)
    t = torch.tensor([7.3], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda tx: crop_and_zoom(img, tx, torch.tensor([8.1], dtype=torch.float64),
                                 torch.tensor([6.0], dtype=torch.float64), 5),
        (t,))


def test_peak_centres_map_cells_to_pixels():
    maps = torch.zeros(1, 2, 4, 4)
    maps[0, 0, 1, 2] = 1
    maps[0, 1, 3, 0] = 1
    tx, ty = peak_centres(maps, stride=8)
    assert tx.tolist() == [[19.5, 3.5]] and ty.tolist() == [[11.5, 27.5]]


def test_learned_centres_start_at_the_soft_peak_and_receive_gradients():
    maps = torch.full((2, 2, 4, 4), 0.01)
    maps[:, 0, 1, 2] = 1.0
    head = LearnedCentres(map_size=4, part_scale=0.5)
    tx, ty, ts = head(maps, 32, 32)
    assert tx.shape == (2, 2) and ts[0, 0].item() == pytest.approx(16.0, abs=0.05)
    assert 15 < tx[0, 0].item() < 22
    (tx.sum() + ty.sum() + ts.sum()).backward()
    assert all(p.grad is not None for p in head.parameters())


def test_the_control_rules_put_squares_without_looking_at_a_map():
    """image_centre: every square at the image's centre; random: the same places for the same image, others for
    another, corners on the pixel grid and the square inside the image. Neither depends on the maps."""
    from sgma_core.centres import Seen, rule_named

    def place(rule, x):
        return rule_named(rule).centres(Seen(torch.rand(len(x), 2, 4, 4), x, 64, 64, part_scale=0.5))

    x = torch.rand(4, 3, 64, 64)
    tx, ty = place("image_centre", x)
    assert torch.equal(tx, torch.full((4, 2), 31.5)) and torch.equal(ty, tx)
    tx, ty = place("random", x)
    again = place("random", x.clone())
    assert torch.equal(tx, again[0]) and torch.equal(ty, again[1])  # seeded by the image itself
    other = place("random", torch.rand(4, 3, 64, 64))
    assert not torch.equal(tx, other[0])
    corners = torch.cat([tx, ty]) - 15.5
    assert torch.equal(corners, corners.round()) and corners.min() >= 0 and corners.max() <= 32


def test_an_sgma_with_a_control_rule_trains_and_ignores_its_maps():
    from tests.conftest import tiny_sgma

    model = tiny_sgma(centre_rule="image_centre").eval()
    out = model(torch.rand(3, 3, 24, 24), torch.randn(6, 5))
    assert torch.equal(out["tx"], torch.full((3, 2), 11.5)) and out["scores"].shape == (3, 5)
    random_model = tiny_sgma(centre_rule="random")
    out = random_model(torch.rand(3, 3, 24, 24), torch.randn(6, 5))
    out["scores"].sum().backward()  # the branches train whatever the rule
    assert random_model.branches[0].features[0].weight.grad is not None


def test_painted_parts_follow_flips_and_shifts_and_are_read_back_on_the_pixel_grid():
    """The oracle control: two parts painted after the image's channels move with augment's flip and shift,
    so the squares read from them land where the parts went (within a pixel)."""
    from sgma_core.centres import guided_centres, paint_guides
    from sgma_core.data.images import augment, normalize

    images = torch.zeros(6, 3, 64, 64, dtype=torch.uint8)
    centres = torch.tensor([[[15.5, 20.5], [40.5, 33.5]]]).repeat(6, 1, 1)
    painted = paint_guides(images, centres)
    assert painted.shape == (6, 5, 64, 64) and torch.equal(painted[:, :3], images)
    tx, ty = guided_centres(normalize(painted)[:, 3:], 32)
    assert torch.allclose(tx, torch.tensor([15.5, 40.5]).expand(6, 2))
    assert torch.allclose(ty, torch.tensor([20.5, 33.5]))
    moved = augment(normalize(painted), torch.Generator().manual_seed(0), max_shift=0.0)  # flips only: x → 63 − x
    flipped = torch.rand(6, generator=torch.Generator().manual_seed(0)) < 0.5  # augment's first draw
    tx, _ = guided_centres(moved[:, 3:], 32)
    expected = torch.where(flipped[:, None], 63 - torch.tensor([15.5, 40.5]), torch.tensor([15.5, 40.5]))
    assert flipped.any() and (~flipped).any() and torch.allclose(tx, expected)
    shifted = augment(normalize(painted), torch.Generator().manual_seed(4))
    tx, ty = guided_centres(shifted[:, 3:], 32)
    corners = tx - 15.5
    assert torch.equal(corners, corners.round())  # on the pixel grid, as crop_pixels needs


def test_an_oracle_sgma_refuses_images_without_painted_parts():
    from sgma_core.centres import paint_guides
    from tests.conftest import tiny_sgma

    model = tiny_sgma(centre_rule="oracle").eval()
    with pytest.raises(ValueError, match="oracle.*parts painted in.*with_part_guides"):
        model(torch.rand(3, 3, 24, 24), torch.randn(6, 5))
    painted = paint_guides(torch.zeros(3, 3, 24, 24, dtype=torch.uint8), torch.tensor([[[5.5, 6.5], [17.5, 12.5]]] * 3))
    out = model(painted.float() / 255, torch.randn(6, 5))
    assert out["scores"].shape == (3, 5) and torch.equal(out["tx"][0], torch.tensor([5.5, 17.5]))
