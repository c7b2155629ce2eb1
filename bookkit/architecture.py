"""SGMA's architecture as one figure (the paper's Fig. 1), drawn from a :class:`~sgma_core.profiles.RunConfig`.

Three bands, one per subnet, and what flows between them: the multi-attention subnet turns the image's
feature map into channel weights and attention maps (eqs. (1)-(3), initialised by eq. (11)); the region
cropping subnet cuts a square around each map's peak and zooms it (eq. (4)); the joint feature
embedding subnet runs one backbone on the whole image and one on each part, and its two heads score
the classes (eq. (7)) and embed the image (eq. (8)). The losses (eqs. (5)-(8), summed by eq. (9)) are
the red boxes; eq. (10) scores the unseen classes at test time.

Every shape in a label is computed from the configuration (the backbone run on PyTorch's ``meta``
device, which allocates and computes nothing), so the figure of the ``smoke`` profile says 32 pixels
where the ``paper`` profile's says 448. Shapes are of one image, without the batch dimension.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from bookkit.figures import MAX_WIDTH, book_style

MAX_PARTS = 3  # one column per branch: the global one and the parts share the band's four columns
# Column centres and box sizes in inches: five columns of 1.05-inch boxes across the 6.6-inch column.
COLUMNS = tuple(0.65 + 1.32 * k for k in range(5))
BOX_W, BOX_H = 1.08, 0.62
BAND_COLOURS = ("#e8f0fb", "#fdf0e2", "#e7f5e9")
LOSS_EDGE, LOSS_FACE = "#b3261e", "#fbe9e7"


@dataclass(frozen=True)
class ModelShapes:
    """The sizes a configuration gives SGMA, for one image: input side ``A``, joint side ``J``, the
    feature map ``[C, h, w]`` of the attention backbone, a branch's pooled feature ``C``, the squares'
    side ``t_s`` in pixels, the number of parts ``P``; ``K``, ``S``, ``U`` and ``D`` as numbers when
    the dataset is given, else as their symbols; the centre rule that places the squares."""

    image: int
    joint: int
    channels: int
    map_h: int
    map_w: int
    branch_channels: int
    side: int
    parts: int
    attributes: str
    seen: str
    unseen: str
    embedding: str
    centre_rule: str = "peak"


def _feature_map(config, size: int) -> tuple[int, int, int]:
    """``(C, h, w)`` of the backbone ``config`` names on a ``size`` × ``size`` image, computed on the
    ``meta`` device: no weights are read and nothing is computed, so VGG19 costs no more than the small VGG."""
    import torch

    from sgma_core.backbones import backbone_for

    plain = dataclasses.replace(config, pretrained=False, backbone_weights=None)
    with torch.device("meta"):
        fmap = backbone_for(plain)(torch.empty(1, 3, size, size))
    return tuple(int(n) for n in fmap.shape[1:])


def model_shapes(config, n_attributes: int | None = None, n_seen: int | None = None,
                 n_unseen: int | None = None) -> ModelShapes:
    """The :class:`ModelShapes` of ``config`` (a RunConfig) for a dataset with ``n_attributes`` (``K``),
    ``n_seen`` (``S``) and ``n_unseen`` (``U``) classes; a count not given stays a symbol."""
    c, h, w = _feature_map(config, config.image_size)
    branch_c = _feature_map(config, config.joint_size)[0]
    k = "K" if n_attributes is None else str(n_attributes)
    emb = str(config.emb_dim) if config.emb_dim else k
    return ModelShapes(image=config.image_size, joint=config.joint_size, channels=c, map_h=h, map_w=w,
                       branch_channels=branch_c, side=int(round(config.part_scale * config.image_size)),
                       parts=config.n_parts, attributes=k, seen="S" if n_seen is None else str(n_seen),
                       unseen="U" if n_unseen is None else str(n_unseen), embedding=emb,
                       centre_rule=config.centre_rule)


@dataclass(frozen=True)
class Box:
    """A labelled box: centre ``x, y`` and size ``w, h`` in inches; ``kind`` "box", "loss" or "bus"."""

    name: str
    x: float
    y: float
    lines: tuple[str, ...]
    w: float = BOX_W
    h: float = BOX_H
    kind: str = "box"


def _span(first: int, last: int) -> tuple[float, float]:
    """Centre and width of a box spanning columns ``first`` … ``last``."""
    return (COLUMNS[first] + COLUMNS[last]) / 2, COLUMNS[last] - COLUMNS[first] + BOX_W


def _attention_boxes(s: ModelShapes, y: float) -> list[Box]:
    fmap = f"[{s.channels}, {s.map_h}, {s.map_w}]"
    return [Box("image", COLUMNS[0], y, ("image $x$", f"[3, {s.image}, {s.image}]")),
            Box("backbone", COLUMNS[1], y, ("backbone", "$f(x)$", fmap)),
            Box("weights", COLUMNS[2], y, ("eqs. (1), (2)", "GAP, FC pairs", f"$a_i$ [{s.channels}]",
                                           "init.: eq. (11)"), h=0.8),
            Box("maps", COLUMNS[3], y, ("eq. (3): maps", "$M_i$", f"[{s.parts}, {s.map_h}, {s.map_w}]")),
            Box("attention_losses", COLUMNS[4], y, ("eqs. (5), (6)", "$L_{CPT}$, $L_{DIV}$"), kind="loss")]


def _cropping_boxes(s: ModelShapes, y: float) -> list[Box]:
    placed = {"peak": ("peak of $M_i$", "centre $t_x, t_y$", f"side $t_s$ = {s.side}"),
              "learned": ("soft peak of $M_i$", "+ learned offset", f"learned $t_s$ ≈ {s.side}")}.get(
        s.centre_rule, (f"rule: {s.centre_rule}", "centre $t_x, t_y$", f"side $t_s$ = {s.side}"))
    return [Box("peak", COLUMNS[3], y, placed),
            Box("mask", COLUMNS[2], y, ("eq. (4)", "boxcar $V$", f"[{s.image}, {s.image}]")),
            Box("crop", COLUMNS[1], y, ("crop, zoom", f"{s.parts} part images", f"[3, {s.joint}, {s.joint}]"))]


def _joint_boxes(s: ModelShapes, y_branch: float, y_bus: float, y_head: float) -> list[Box]:
    theta = f"[{s.branch_channels}]"
    boxes = [Box("global", COLUMNS[0], y_branch, ("global branch", "backbone, GAP", f"$\\theta_0$ {theta}"))]
    boxes += [Box(f"part{i}", COLUMNS[i], y_branch, (f"part {i} branch", "backbone, GAP", f"$\\theta_{i}$ {theta}"))
              for i in range(1, s.parts + 1)]
    bus_x, bus_w = _span(0, s.parts)
    concat = "; ".join(f"\\theta_{i}" for i in range(s.parts + 1))
    boxes.append(Box("concat", bus_x, y_bus, (f"$[{concat}]$  [{(s.parts + 1) * s.branch_channels}]",),
                     w=bus_w, h=0.3, kind="bus"))
    boxes += [Box("compat", COLUMNS[0], y_head, ("eq. (7)", "$\\Sigma_i\\, \\theta_i^\\top W_i\\, \\phi(y)$",
                                                 f"$s$ [{s.seen}]")),
              Box("cls_loss", COLUMNS[1], y_head, ("eq. (7)", "$L_{CLS}$", f"over {s.seen} seen"), kind="loss"),
              Box("embed", COLUMNS[2], y_head, ("eq. (8)", "FC, normalise", f"$\\hat\\phi(x)$ [{s.embedding}]")),
              Box("cct_loss", COLUMNS[3], y_head, ("eq. (8)", "$L_{CCT}$", f"$\\hat C$ [{s.seen}, {s.embedding}]"),
                  kind="loss")]
    return boxes


def _arrows(s: ModelShapes) -> list[tuple[str, str, str]]:
    """``(from, to, label)`` of every arrow; a label names what flows where it is not in a box."""
    flows = [("image", "backbone", ""), ("backbone", "weights", ""), ("weights", "maps", ""),
             ("backbone", "maps", "$f(x)$"),
             ("maps", "attention_losses", ""), ("maps", "peak", "$M_i$"), ("peak", "mask", ""),
             ("mask", "crop", ""), ("image", "crop", "$x$"), ("image", "global", f"$x$ at\n{s.joint} px"),
             ("concat", "compat", ""), ("concat", "embed", ""), ("compat", "cls_loss", ""),
             ("embed", "cct_loss", ""), ("compat", "unseen", "$s$"), ("embed", "unseen", "$\\hat\\phi(x)$")]
    flows += [("crop", f"part{i}", "") for i in range(1, s.parts + 1)]
    flows += [(branch, "concat", "") for branch in ["global"] + [f"part{i}" for i in range(1, s.parts + 1)]]
    return flows


# Vertical layout, in inches below the figure's top: each band's top and bottom, and the centre of each row.
BANDS = (("Multi-attention subnet, eqs. (1)–(3) and (11)", -0.02, -1.47),
         ("Region cropping subnet, eq. (4)", -1.67, -2.74),
         ("Joint feature embedding subnet, eqs. (7) and (8)", -2.94, -5.28))
ROWS = {"attention": -0.74, "cropping": -2.32, "branches": -3.59, "bus": -4.22, "heads": -4.88,
        "unseen": -5.78, "objective": -6.36}
HEIGHT = 6.58
ARC = 0.25  # the bend of the arc from f(x) to the maps


def _all_boxes(s: ModelShapes) -> list[Box]:
    x, w = _span(0, 4)
    unseen = (f"eq. (10), at test time: unseen prototypes $P_u = P_s B$, $B$ [{s.seen}, {s.unseen}] "
              "by ridge regression on $\\Phi$",
              f"the compat, cct and combined rules score the {s.unseen} unseen classes (GZSL: seen and unseen)")
    objective = ("eq. (9), in training: $L = \\Sigma_i\\, [L_{CPT}(M_i) + \\lambda L_{DIV}(M_i)] + \\alpha L_{CLS}"
                 " + \\beta L_{CCT}$, the red boxes",)
    return (_attention_boxes(s, ROWS["attention"]) + _cropping_boxes(s, ROWS["cropping"])
            + _joint_boxes(s, ROWS["branches"], ROWS["bus"], ROWS["heads"])
            + [Box("unseen", x, ROWS["unseen"], unseen, w=w, h=0.5),
               Box("objective", x, ROWS["objective"], objective, w=w, h=0.32, kind="loss")])


def _draw_box(ax, box: Box):
    """The box's patch and its centred lines of text (9 pt, the book's smallest)."""
    from matplotlib.patches import FancyBboxPatch

    edge, face = (LOSS_EDGE, LOSS_FACE) if box.kind == "loss" else ("#37474f", "white")
    patch = FancyBboxPatch((box.x - box.w / 2, box.y - box.h / 2), box.w, box.h,
                           boxstyle="round,pad=0,rounding_size=0.06", linewidth=1.0, edgecolor=edge,
                           facecolor="#f5f5f5" if box.kind == "bus" else face, gid=box.name, zorder=2)
    ax.add_patch(patch)
    ax.text(box.x, box.y, "\n".join(box.lines), ha="center", va="center", fontsize=9, linespacing=1.25,
            zorder=3, gid=f"{box.name}-text")
    return patch


def _ends(a: Box, b: Box) -> tuple[tuple[float, float], tuple[float, float]]:
    """Where an arrow from ``a`` to ``b`` is aimed: straight down (or across) where one box lies over the
    other's span, centre to centre otherwise; the boxes' outlines clip it."""
    start, end = (a.x, a.y), (b.x, b.y)
    if abs(b.x - a.x) < a.w / 2 - 0.05 and a.w > b.w:
        start = (b.x, a.y)
    if abs(a.x - b.x) < b.w / 2 - 0.05 and b.w > a.w:
        end = (a.x, b.y)
    return start, end


def _draw_arrow(ax, a: Box, b: Box, patches: dict, label: str) -> None:
    from matplotlib.patches import FancyArrowPatch

    start, end = _ends(a, b)
    style = "arc3"
    if (a.name, b.name) == ("backbone", "maps"):  # eq. (3) weighs f(x) by a_i: an arc under the box between them
        start, end, style = (a.x, a.y - a.h / 2), (b.x, b.y - b.h / 2), f"arc3,rad={ARC}"
    ax.add_patch(FancyArrowPatch(start, end, patchA=patches[a.name], patchB=patches[b.name], arrowstyle="-|>",
                                 mutation_scale=10, linewidth=1.0, color="#37474f", connectionstyle=style,
                                 shrinkA=1, shrinkB=1, zorder=1, gid=f"{a.name}->{b.name}"))
    if label:
        mid_x, mid_y = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
        if style != "arc3":  # the lowest point of the arc, a quadratic curve
            mid_y -= ARC * abs(end[0] - start[0]) / 2 + 0.1
        ax.text(mid_x + 0.06, mid_y, label, ha="left" if start[0] == end[0] else "center", va="center",
                fontsize=9, zorder=3, gid=f"{a.name}->{b.name}-label",
                bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})


def draw_architecture(config, n_attributes: int | None = None, n_seen: int | None = None,
                      n_unseen: int | None = None):
    """SGMA's three subnets, its heads and losses, and what flows between them, as one figure
    (``MAX_WIDTH`` wide): every box names its equation, every shape is ``config``'s
    (:func:`model_shapes`; ``K``, ``S``, ``U`` as numbers when given). Refuses more parts than
    :data:`MAX_PARTS`, which the band's columns cannot hold."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    if config.n_parts > MAX_PARTS:
        raise ValueError(f"n_parts={config.n_parts}: the architecture figure draws one column per branch and has "
                         f"room for {MAX_PARTS} parts; draw it for a configuration with n_parts ≤ {MAX_PARTS}.")
    shapes = model_shapes(config, n_attributes, n_seen, n_unseen)
    book_style()
    fig = plt.figure(figsize=(MAX_WIDTH, HEIGHT))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, MAX_WIDTH)
    ax.set_ylim(-HEIGHT, 0)
    ax.axis("off")
    for (title, top, bottom), colour in zip(BANDS, BAND_COLOURS):
        ax.add_patch(FancyBboxPatch((0.04, bottom), MAX_WIDTH - 0.08, top - bottom, facecolor=colour,
                                    edgecolor="none", boxstyle="round,pad=0,rounding_size=0.08", zorder=0))
        ax.text(0.12, top - 0.15, title, fontsize=10, fontweight="bold", va="center", zorder=3, gid=f"band:{title}",
                bbox={"boxstyle": "square,pad=0.05", "facecolor": colour, "edgecolor": "none"})
    boxes = {box.name: box for box in _all_boxes(shapes)}
    patches = {name: _draw_box(ax, box) for name, box in boxes.items()}
    for source, target, label in _arrows(shapes):
        _draw_arrow(ax, boxes[source], boxes[target], patches, label)
    return fig
