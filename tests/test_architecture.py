"""The architecture figure of chapter 03: its boxes, arrows and equation numbers, shapes that follow the
configuration, text that fits its boxes, and files it saves to."""

import io
import re

import matplotlib
import pytest
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from bookkit.architecture import MAX_PARTS, draw_architecture, model_shapes
from bookkit.figures import MAX_WIDTH, small_fonts
from sgma_core.profiles import make_config

matplotlib.use("Agg")


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_text().strip()]


def _by_gid(fig, kind) -> dict:
    return {a.get_gid(): a for a in fig.findobj(kind) if a.get_gid()}


@pytest.fixture(scope="module")
def smoke_figure():
    return draw_architecture(make_config("smoke"), n_attributes=24, n_seen=30, n_unseen=10)


def test_the_figure_names_the_three_subnets_and_every_equation(smoke_figure):
    text = "\n".join(_texts(smoke_figure))
    for subnet in ("Multi-attention subnet", "Region cropping subnet", "Joint feature embedding subnet"):
        assert subnet in text
    numbers = {int(n) for group in re.findall(r"eqs?\. ((?:\(\d+\)(?:, | and |–)?)+)", text)
               for n in re.findall(r"\((\d+)\)", group)}
    assert numbers == set(range(1, 12)), f"equations named: {sorted(numbers)}"
    for term in ("L_{CPT}", "L_{DIV}", "L_{CLS}", "L_{CCT}", "global branch", "part 1 branch", "part 2 branch"):
        assert term in text


def test_the_arrows_carry_what_flows_between_the_subnets(smoke_figure):
    arrows = _by_gid(smoke_figure, FancyArrowPatch)
    boxes = _by_gid(smoke_figure, FancyBboxPatch)
    for flow in ("image->backbone", "backbone->maps", "maps->peak", "peak->mask", "mask->crop", "image->crop",
                 "image->global", "crop->part1", "crop->part2", "concat->compat", "concat->embed",
                 "compat->unseen", "embed->unseen"):
        assert flow in arrows, flow
    assert all(a.split("->")[0] in boxes and a.split("->")[1] in boxes for a in arrows)
    labels = {t.get_gid(): t.get_text() for t in smoke_figure.findobj(matplotlib.text.Text) if t.get_gid()}
    assert labels["maps->peak-label"] == "$M_i$" and labels["backbone->maps-label"] == "$f(x)$"


@pytest.mark.parametrize("profile, image, fmap, joint", [("smoke", 32, "[128, 4, 4]", 16),
                                                        ("cpu", 64, "[128, 8, 8]", 48),
                                                        ("paper", 448, "[512, 28, 28]", 224)])
def test_the_shapes_follow_the_configuration(profile, image, fmap, joint):
    config = make_config(profile, {"joint_size": joint, "centre_rule": "peak"})  # the paper's rule: squares of t_s
    fig = draw_architecture(config, n_attributes=312, n_seen=150, n_unseen=50)
    text = "\n".join(_texts(fig))
    assert f"[3, {image}, {image}]" in text and fmap in text
    assert f"[3, {joint}, {joint}]" in text and f"$t_s$ = {image // 2}" in text  # the square: half the image
    channels = int(fmap[1:4])
    assert f"$\\theta_0$ [{channels}]" in text and f"[{3 * channels}]" in text
    assert "$s$ [150]" in text and "[312]" in text and "score the 50 unseen classes" in text


def test_shapes_follow_every_setting_that_changes_them():
    shapes = model_shapes(make_config("cpu", image_size=96, joint_size=40, part_scale=0.25, emb_dim=7,
                                      backbone="efficientnet_lite0"))
    assert (shapes.image, shapes.joint, shapes.side) == (96, 40, 24)
    assert (shapes.channels, shapes.map_h, shapes.map_w, shapes.branch_channels) == (672, 6, 6, 672)
    assert (shapes.attributes, shapes.seen, shapes.unseen, shapes.embedding) == ("K", "S", "U", "7")


def test_the_cropping_box_names_the_centre_rule_that_places_the_squares():
    peak = "\n".join(_texts(draw_architecture(make_config("smoke", centre_rule="peak"))))
    learned = "\n".join(_texts(draw_architecture(make_config("smoke", centre_rule="learned"))))
    assert "peak of $M_i$" in peak and "soft-argmax" not in peak
    assert "soft peak of $M_i$" in learned and "+ learned offset" in learned and "\npeak of" not in learned


def test_one_branch_per_part_and_a_clear_refusal_past_the_room():
    text = "\n".join(_texts(draw_architecture(make_config("smoke", n_parts=3))))
    assert "part 3 branch" in text and "$[\\theta_0; \\theta_1; \\theta_2; \\theta_3]$  [512]" in text
    assert "3 part images" in text and "[3, 4, 4]" in text
    with pytest.raises(ValueError, match=f"n_parts={MAX_PARTS + 1}.*room for {MAX_PARTS} parts"):
        draw_architecture(make_config("smoke", n_parts=MAX_PARTS + 1))


@pytest.mark.parametrize("rule", ["peak", "learned"])
def test_the_figure_fits_the_column_its_text_is_readable_and_inside_its_boxes(rule):
    smoke_figure = draw_architecture(make_config("smoke", centre_rule=rule), n_attributes=24, n_seen=30, n_unseen=10)
    assert smoke_figure.get_size_inches()[0] <= MAX_WIDTH
    smoke_figure.canvas.draw()
    assert small_fonts(smoke_figure) == []
    renderer = smoke_figure.canvas.get_renderer()
    texts = {t.get_gid(): t for t in smoke_figure.findobj(matplotlib.text.Text) if t.get_gid()}
    for name, patch in _by_gid(smoke_figure, FancyBboxPatch).items():
        inner, outer = texts[f"{name}-text"].get_window_extent(renderer), patch.get_window_extent(renderer)
        assert outer.x0 <= inner.x0 and inner.x1 <= outer.x1 and outer.y0 <= inner.y0 and inner.y1 <= outer.y1, name


@pytest.mark.parametrize("fmt, magic", [("png", b"\x89PNG"), ("svg", b"<?xml")])
def test_the_figure_saves(smoke_figure, fmt, magic):
    buffer = io.BytesIO()
    smoke_figure.savefig(buffer, format=fmt)
    assert buffer.getvalue().startswith(magic) and len(buffer.getvalue()) > 10_000
