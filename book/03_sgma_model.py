# ---
# jupyter:
#   jupytext:
#     default_lexer: ipython3
#     formats: md:myst,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The SGMA model, equation by equation
#
# SGMA has three subnets and four losses. This chapter takes them one at a time: the equation, the
# library code that computes it, and a check computed on the spot. Training comes in the next
# chapter. Where the paper leaves a choice open, the default is named and the alternative is a flag
# of `sgma_core.profiles.RunConfig`.
#
# ```{admonition} In this chapter
# :class: tip
#
# **You will be able to**
# - derive an attention map from channel weights (eqs. (1)–(3)) and say why the literal sigmoid saturates;
# - initialise the maps by channel grouping (eq. (11));
# - crop and zoom a part with the boxcar mask of eq. (4), and say where its gradient lives;
# - compute the four losses (eqs. (5)–(8)) and their sum (eq. (9)) on small examples;
# - score unseen classes with the three inference rules, eq. (10) included.
#
# **You need** {doc}`02_baseline`; convolutional feature maps; k-means; the sigmoid and its derivative.
#
# **Run time**: {glue:text}`run_time_here`; the course guide lists every chapter on every profile.
# ```

# %% tags=["parameters"]
data_root = None  # None: $SGMA_DATA_ROOT, else <repo>/data
dataset = "SYN"  # images for the examples: "SYN" or "CUB"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import torch

from sgma_core import data as zsl_data
from bookkit.display import glue, markdown_table, show_markdown
from bookkit.run_times import glue_run_times
from bookkit.figures import subplots
from sgma_core.attention import MultiAttention
from sgma_core.centres import rule_named
from sgma_core.backbones import small_vgg
from sgma_core.cropping import boxcar_mask, crop_and_zoom
from sgma_core.data.images import load_images, normalize
from sgma_core.inference import ridge_coefficients
from sgma_core.losses import class_centre_triplet_loss, compactness_loss, diversity_loss, gaussian_peak_targets
from sgma_core.paths import DataRootError, find_dataset
from sgma_core.profiles import RunConfig

glue_run_times("03_sgma_model")
book = RunConfig()  # the library's defaults: the book's configuration, chosen in chapter 05
glue("book_centre_rule", f"the book's configuration (chosen in chapter 05) uses centre_rule = \"{book.centre_rule}\", "
     + ("whose squares carry this gradient back to the maps" if rule_named(book.centre_rule).map_gradient
        else "whose squares are placed without this gradient"), display=False)
glue("book_attention_norm", f"\"{book.attention_norm}\"", display=False)
glue("book_smoothing", f"{book.grouping_smoothing:g}", display=False)
glue("book_joint_size", f"{book.joint_size}", display=False)
glue("book_cct_negatives", f"\"{book.cct_negatives}\"", display=False)
glue("book_prototype_images", f"the first {book.prototype_images} of" if book.prototype_images else "all", display=False)
glue("book_shared_W", "one W shared by the three branches" if book.shared_W else "a separate W for each branch",
     display=False)
torch.manual_seed(0)
ds = zsl_data.load_dataset(dataset, data_root)
images, _ = load_images([ds.image_paths[i] for i in ds.trainval[:4]], 64)

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-architecture", "caption": "SGMA's three subnets and what flows between them (after the paper's Fig. 1). Blue: the multi-attention subnet turns the backbone's feature map into one attention map per part. Orange: the cropping subnet places a square for each map by the configuration's centre rule (its box names it), cuts it with the mask of eq. (4) and zooms it. Green: the joint subnet runs one backbone on the whole image and one on each part; its heads score the classes (eq. (7)) and embed the image (eq. (8)). Red: the losses that eq. (9) sums. Shapes are of one image under the cpu profile, for this page's dataset."}}
from bookkit.architecture import draw_architecture
from sgma_core.profiles import make_config

architecture = draw_architecture(make_config("cpu"), n_attributes=ds.att.shape[0], n_seen=len(ds.seen_classes),
                                 n_unseen=len(ds.unseen_classes))

# %% [markdown]
# (sec-attention)=
# ## 1. Multi-attention subnet
#
# The subnet follows MA-CNN's {term}`channel grouping <Channel grouping>` {cite}`zheng2017macnn`, and the cropping after it
# RA-CNN's attention crop {cite}`fu2017racnn`. A backbone turns the image into feature maps $f(x) \in \mathbb{R}^{C \times H \times W}$. Global
# average pooling summarises each channel,
#
# ```{math}
# :label: eq-gap
# p = \frac{1}{HW} \sum_{h,w} f(x)_{:,h,w} \in \mathbb{R}^{C},
# \tag{1}
# ```
#
# and for each part $i$ a pair of fully connected layers turns the summary into channel weights,
#
# ```{math}
# :label: eq-channel
# a_i = \sigma\big(W_2^{i}\, \mathrm{ReLU}(W_1^{i} p)\big) \in (0,1)^{C},
# \tag{2}
# ```
#
# whose weighted sum of channels is the attention map of part $i$:
#
# ```{math}
# :label: eq-map
# M_i(x) = \sigma\Big(\sum_{c=1}^{C} a_i^{c} f^{c}(x)\Big) \in (0,1)^{H \times W}.
# \tag{3}
# ```
#
# Taken literally, eq. {eq}`eq-map` has a floor: ReLU activations are non-negative and so are the channel
# weights of eq. {eq}`eq-channel`, so the weighted sum is never negative and the map never falls below
# $\sigma(0) = 0.5$. Where the features are large the sum is large and the map climbs towards 1; features
# large at every location put the whole map near 1, and where they are all zero the map is 0.5 everywhere. Neither is a map of where a part
# is, and {ref}`sec-literal-collapse` in the next chapter measures which of the two training reaches.
# `MultiAttention` can instead divide by $\sum_c a_i^c$ (a weighted *mean*) and standardise each map before
# the sigmoid (`normalize="standardize"`, or `"standardize_learned"` with the sigmoid's scale and shift
# learned); `normalize="none"` keeps the literal version. Which of them the book trains with is decided on
# validation classes in {doc}`05_open_choices`, among readings that pass its attention check (squares at distinct
# places, maps peaking at different cells, squares on telling parts more often than any fixed point): the book's
# configuration has attention_norm = {glue:text}`book_attention_norm`.
#
# ```{literalinclude} /sgma_core/attention.py
# :pyobject: MultiAttention
# ```
#
# The check: the same channel weights on the same features (a small VGG with its initial weights applied
# to four synthetic birds), with and without the normalisation. The standardised map is drawn with the fixed scale
# and shift; `"standardize_learned"` starts from the same two values (2 and −2), so before training it draws the same
# map, and training then moves them.

# %% mystnb={"figure": {"name": "fig-eq3-saturation", "caption": "One attention map of eq. (3) from the same channel weights and features: the literal sigmoid (middle) never falls below 0.5, and where the features are large it sits near 1 everywhere; the standardised map (right) spans the scale. Both on the colour scale 0\u20131 of the bar."}}
with torch.no_grad():
    f = small_vgg()(normalize(images))
    torch.manual_seed(1)
    literal, _ = MultiAttention(f.shape[1], normalize="none")(f)
    torch.manual_seed(1)
    ours, _ = MultiAttention(f.shape[1], normalize="standardize")(f)
contrast = lambda m: float((m.amax(dim=(2, 3)) - m.amin(dim=(2, 3))).mean())  # noqa: E731
glue("literal_min", float(literal.min()), display=False)
glue("literal_contrast", contrast(literal), display=False)
glue("ours_contrast", contrast(ours), display=False)
fig, axes = subplots(1, 3, width=6.0, height=2.3)
axes[0].imshow(images[0].permute(1, 2, 0))
axes[0].set_title("image")
axes[1].imshow(literal[0, 0], vmin=0, vmax=1)
axes[1].set_title("literal eq. (3)")
shown_map = axes[2].imshow(ours[0, 0], vmin=0, vmax=1)
axes[2].set_title("normalised")
for ax in axes:
    ax.axis("off")
fig.tight_layout()
fig.colorbar(shown_map, ax=axes, fraction=0.025, pad=0.02, label="$M_1(x)$")
plt.show()

# %% [markdown]
# The literal map's lowest value is {glue:text}`literal_min:.4f`, and its mean contrast (maximum minus
# minimum per map) is {glue:text}`literal_contrast:.4f`; the normalised map's is
# {glue:text}`ours_contrast:.2f`. These maps come from initial weights, at the start of training; the
# next chapter measures what training does to each.
#
# (sec-grouping)=
# **Initialisation by channel grouping.** Each channel of a trained backbone fires on some part of the
# object. Describe channel $c$ by where it peaks on $\Omega$ seen-class training images,
# $[t_x^1, t_y^1, \dots, t_x^\Omega, t_y^\Omega]$, cluster the $C$ descriptors with k-means into two
# groups, and pretrain each FC pair of eq. {eq}`eq-channel` so that $a_i$ approaches the group's
# indicator vector
#
# ```{math}
# :label: eq-grouping
# \begin{aligned}
# \bar a_i &= \big[\mathbb{1}_i(1), \dots, \mathbb{1}_i(C)\big] \in \{0,1\}^C, \\
# \mathbb{1}_i(c) &= 1 \text{ when channel } c \text{ is in group } i.
# \end{aligned}
# \tag{11}
# ```
#
# This runs once, before training (the earlier reproduction ran k-means in every forward pass). The
# targets can be $\varepsilon$ and $1-\varepsilon$ rather than 0 and 1 (`grouping_smoothing`): a
# sigmoid pulled all the way to 0 or 1 has no slope left for the later losses (the next chapter
# measures it). The paper's exact indicators ($\varepsilon = 0$) and $\varepsilon = 0.1$ are compared on
# validation classes in {doc}`05_open_choices`; the book's configuration has $\varepsilon$ =
# {glue:text}`book_smoothing`.
#
# ```{literalinclude} /sgma_core/attention.py
# :pyobject: initialise_grouping
# ```
#
# ```{literalinclude} /sgma_core/attention.py
# :pyobject: channel_grouping
# ```
#
# (sec-cropping)=
# ## 2. Cropping subnet
#
# In the paper each map's peak, mapped back to input pixels, centres a square of side $t_s$ (half the
# image side); the centre rule decides where the square goes and how big it is (below). To cut it out in a way that gradients can pass through, SGMA multiplies the image by a
# smooth boxcar:
#
# ```{math}
# :label: eq-mask
# \begin{aligned}
# V(x,y) &= V_x V_y, \qquad \sigma_k(z) = \frac{1}{1+e^{-kz}}, \\
# V_x &= \sigma_k\!\left(x - t_x + \tfrac{t_s}{2}\right) \\
# &\quad - \sigma_k\!\left(x - t_x - \tfrac{t_s}{2}\right),
# \end{aligned}
# \tag{4}
# ```
#
# and the same in $y$, with $k = 10$. The masked square is then cropped and zoomed to the joint
# subnet's input size.
#
# ```{literalinclude} /sgma_core/cropping.py
# :pyobject: boxcar_mask
# ```
#
# ```{literalinclude} /sgma_core/cropping.py
# :pyobject: _boxcar
# ```
#
# With the peak rule and branches of the square's own size ($J$ = `part_scale` × the image size: half the
# image, as in the paper) the "zoom" is 1 : 1 (a square of $J$ pixels, cut
# to $J \times J$) and every square's corner lies on the pixel grid, so `SGMA.forward` cuts the part by
# indexing (`crop_pixels`) and evaluates the mask at the cut pixels only, with the same values as the
# resampling path `crop_and_zoom` (a test checks it). The learned rule, whose squares sit anywhere, and a branch size
# other than the square's take that resampling path: the square is zoomed to the branch's size, as RA-CNN and MA-CNN
# zoom their parts. The book's configuration zooms each square to {glue:text}`book_joint_size` pixels.
#
# How sharp is the mask, and where does its gradient with respect to $t_x$ live? One row of the mask
# for a square of side 16 centred at $x = 32$:

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-mask-k", "caption": "One row of the mask of eq. (4) for a square of side 16 centred at x = 32 (left) and its derivative with respect to the centre $t_x$ (right), for five values of k."}}
fig, axes = subplots(1, 2, height=2.8)
xs = np.arange(64)
for k in (0.5, 1, 2, 10, 50):
    tx = torch.tensor([32.0], requires_grad=True)
    row = boxcar_mask(tx, torch.tensor([32.0]), torch.tensor([16.0]), 64, 64, k=k)[0, 32]
    grad = torch.stack([torch.autograd.grad(row[j], tx, retain_graph=True)[0][0] for j in range(64)])
    axes[0].plot(xs, row.detach(), label=f"k = {k}")
    axes[1].plot(xs, grad, label=f"k = {k}")
axes[0].set_title("mask row $V_x(x)$")
axes[1].set_title(r"$\partial V_x(x) / \partial t_x$")
for ax in axes:
    ax.set_xlabel("x (pixels)")
axes[0].legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# The gradient with respect to $t_x$ is non-zero only near the two edges, with opposite signs, and
# its support shrinks as $k$ grows: at $k = 10$ it is about a pixel wide, so a loss can move the square
# only through the pixels at its border. With the peak rule, the paper's (the square centred on the map's highest
# cell), no gradient flows into $t_x$ at all; the learned rule (`centre_rule="learned"`) regresses $(t_x, t_y, t_s)$
# from the map so that these gradients are used: {glue:text}`book_centre_rule`.
#
# A part image cut from a synthetic bird, around its ground-truth head (the `crown` part):

# %% mystnb={"figure": {"name": "fig-crop", "caption": "The square around the crown (left, white) and the part image that the boxcar crop of eq. (4) cuts from it and zooms to the book's branch size (right)."}}
crown = ds.part_names.index("crown") if ds.part_names else None
if crown is not None:
    with torch.no_grad():
        from PIL import Image

        w, h = Image.open(ds.image_paths[ds.trainval[0]]).size
        cx = float(ds.part_locs[ds.trainval[0], crown, 0]) * 64 / w
        cy = float(ds.part_locs[ds.trainval[0], crown, 1]) * 64 / h
        part = crop_and_zoom(images[:1].float(), torch.tensor([cx]), torch.tensor([cy]), torch.tensor([32.0]),
                             book.joint_size)
    fig, axes = subplots(1, 2, width=5, height=2.6)
    axes[0].imshow(images[0].permute(1, 2, 0))
    axes[0].add_patch(plt.Rectangle((cx - 16, cy - 16), 32, 32, fill=False, color="white"))
    axes[1].imshow(part[0].permute(1, 2, 0).clamp(0, 255).byte())
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    plt.show()

# %% [markdown]
# (sec-joint)=
# ## 3. Joint feature learning subnet
#
# Three backbones that share no weights see the whole image (resized to the joint input size) and the
# two part images. Each is pooled to $\theta_0, \theta_1, \theta_2 \in \mathbb{R}^C$ and scored against
# the class semantics, and the scores are added (late fusion):
#
# ```{math}
# \begin{aligned}
# s_y &= \sum_{i=0}^{2} \theta_i^\top W_i \phi(y), \\
# \theta_i &= \mathrm{GAP}\big(f_i(x_i)\big),
# \end{aligned}
# ```
#
# where $x_0$ is the whole image, $x_1, x_2$ the part images, and $\mathrm{GAP}$ the pooling of
# eq. {eq}`eq-gap`.
#
# Each branch has its own $W_i$ in the paper's reading (`shared_W=True` shares one); the book's configuration has
# {glue:text}`book_shared_W`, as chapter 05 chose. The sum over branches is
# computed as one product, $[\theta_0; \theta_1; \theta_2]^\top [W_0; W_1; W_2]\, \Phi$. A second head maps the
# concatenated features to an embedding $\hat\phi(x) = \mathrm{normalise}(\mathrm{FC}([\theta_0;\theta_1;\theta_2]))$
# for the class-centre triplet loss.
#
# ```{literalinclude} /sgma_core/sgma.py
# :pyobject: SGMA.forward
# ```
#
# ```{literalinclude} /sgma_core/sgma.py
# :pyobject: SGMA.compatibility
# ```
#
# (sec-losses)=
# ## 4. The four losses
#
# **Compactness** pulls each map towards a single blob $\tilde m_i$ of peak 1 centred at its own
# maximum ($\sigma$ in feature cells):
#
# ```{math}
# :label: eq-cpt
# L_{CPT}(M_i) = \frac{1}{|\mathcal{Z}|} \sum_{z \in \mathcal{Z}} \big(m_i^z - \tilde m_i^z\big)^2.
# \tag{5}
# ```
#
# **Diversity** penalises a location that is high in one map where another map is also high, beyond a
# margin $\mathrm{mrg}_{\mathrm{div}} = 0.2$:
#
# ```{math}
# :label: eq-div
# \begin{aligned}
# L_{DIV}(M_i) = \sum_{z \in \mathcal{Z}} m_i^z \, \max\big(0, &\max_{k \neq i} m_k^z \\
# &- \mathrm{mrg}_{\mathrm{div}}\big).
# \end{aligned}
# \tag{6}
# ```
#
# The **embedding softmax**, eq. {eq}`eq-cls`, is the baseline's loss on the fused scores. The **class-centre
# triplet** loss pulls each embedding towards its class's learnable centre and away from the other centres (all
# L2-normalised; $\mathrm{mrg}_{\mathrm{cct}} = 0.8$); written with the nearest other centre:
#
# ```{math}
# :label: eq-cct
# \begin{aligned}
# L_{CCT} &= \frac{1}{N}\sum_{n} \max\big(0,\ d_n\big), \\
# d_n &= \mathrm{mrg}_{\mathrm{cct}} + \big\|\hat\phi_n - \hat C_{y_n}\big\|^2 \\
# &\quad - \min_{k \neq y_n} \big\|\hat\phi_n - \hat C_k\big\|^2.
# \end{aligned}
# \tag{8}
# ```
#
# Eq. (8) is written here with the hardest negative centre, as in the triplet-centre loss {cite}`he2018triplet`
# (`cct_negatives="hardest"`). The paper does not say which; as the course reproduction reads it
# {cite}`arriaza2020reproduction` ("the rest of the class prototypes are considered as faulty inputs"), every other
# centre counts, one hinge each, averaged over them (`cct_negatives="all"`, the book's paper reading), and `"mean"` puts
# the mean distance to the negatives inside one hinge. {doc}`05_open_choices` decides among the three on validation
# classes; the book's configuration uses cct_negatives = {glue:text}`book_cct_negatives`. All four losses are summed:
#
# ```{math}
# :label: eq-total
# \begin{aligned}
# L = {} &\sum_{i} \big[L_{CPT}(M_i) + \lambda L_{DIV}(M_i)\big] \\
# &+ \alpha L_{CLS} + \beta L_{CCT}.
# \end{aligned}
# \tag{9}
# ```
#
# ```{literalinclude} /sgma_core/losses.py
# :pyobject: diversity_loss
# ```
#
# ```{literalinclude} /sgma_core/losses.py
# :pyobject: class_centre_triplet_loss
# ```
#
# Checks a reader can redo by hand: two 1 × 2 maps, and one embedding against three centres.

# %%
maps = torch.tensor([[[[0.9, 0.1]], [[0.5, 0.8]]]])
print("L_DIV =", round(diversity_loss(maps).item(), 4), " (by hand: 0.9·0.3 + 0.1·0.6 + 0.5·0.7 = 0.68)")
blob = gaussian_peak_targets(torch.eye(5)[None, None], sigma=1.0)
print("L_CPT of a map that is its own target:", compactness_loss(blob, 1.0).item())
emb = torch.tensor([[1.0, 0.0]])
centres = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
for label in (0, 1):  # by hand, class 1: 0.8 + 2 − 0 = 2.8 for the nearest (centre 0); with "all", the mean of the
    for negatives in ("hardest", "all"):  # hinges at centre 0 (2.8) and centre 2 (0.8 + 2 − 4 < 0, so 0): 1.4
        loss = class_centre_triplet_loss(emb, centres, torch.tensor([label]), negatives=negatives)
        print(f"L_CCT with the embedding's class = centre {label}, negatives = {negatives!r}: {loss.item():.2f}")
x64 = torch.rand(2, 2, 4, 4, dtype=torch.float64, requires_grad=True)
print("gradcheck L_CPT, L_DIV:", torch.autograd.gradcheck(lambda m: compactness_loss(m) + diversity_loss(m), (x64,)))

# %% [markdown]
# (sec-inference)=
# ## 5. Inference
#
# Three decision rules. **compat**: the largest fused score $s_y$. **cct**: the embedding against
# class {term}`prototypes <Prototype>`, $\langle \hat\phi(x), P_{:,y} \rangle$, where a seen prototype is the mean embedding of
# {glue:text}`book_prototype_images` the class's training images. Unseen classes have no images; SGMA writes their semantics as a
# combination of the seen classes' by ridge regression,
#
# ```{math}
# :label: eq-ridge
# \begin{aligned}
# B &= \arg\min_{B} \|\Phi_u - \Phi_s B\|^2 + \rho \|B\|^2 \\
#   &= (\Phi_s^\top \Phi_s + \rho I)^{-1} \Phi_s^\top \Phi_u,
# \end{aligned}
# \tag{10}
# ```
#
# and builds the unseen prototypes with the same combination, $P_u = P_s B$. **combined**: the sum
# of both scores, maximised (the course reproduction's {cite}`arriaza2020reproduction` arg min is a typo).
#
# ```{literalinclude} /sgma_core/inference.py
# :pyobject: ridge_coefficients
# ```
#
# How well can unseen classes' semantics be rebuilt from seen ones? For each dataset whose split file
# is present, the relative error $\|\Phi_u - \Phi_s B\|_F / \|\Phi_u\|_F$ and the mean cosine between
# each unseen column and its reconstruction, as the ridge penalty $\rho$ (`ridge_lambda`) varies:

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-ridge", "caption": "How well eq. (10) rebuilds the unseen classes' semantics from the seen ones, for every dataset whose split file is present, as the ridge penalty \u03c1 grows: the relative error (left) and the mean cosine (right)."}}
lams = np.logspace(-4, 2, 25)
fig, axes = subplots(1, 2, height=2.8)
shown = []


def seen_unseen(name):
    """(att, seen columns, unseen columns) from a dataset's files, or None where they are absent."""
    try:
        base = find_dataset(name, data_root)
        if name in ("SYN", "CUB"):
            d = zsl_data.load_dataset(name, data_root, with_parts=False)
            return d.att, d.seen_classes, d.unseen_classes
        s = zsl_data.read_xlsa17_splits(base / "xlsa17" / "att_splits.mat")
        test_file = base / "xlsa17" / "testclasses.txt"
        if s.class_names is None or not test_file.is_file():
            return None  # FLO: no class names in its split file
        test = set(test_file.read_text().split())
        cols = np.arange(len(s.class_names))
        unseen = np.array([n in test for n in s.class_names])
        return s.att, cols[~unseen], cols[unseen]
    except (DataRootError, zsl_data.DatasetError):
        return None


for name in ("SYN", "CUB", "AWA2", "FLO"):
    found = seen_unseen(name)
    if found is None:
        print(f"{name}: files not present, skipped")
        continue
    att, seen_cols, unseen_cols = found
    phi_s, phi_u = att[:, seen_cols], att[:, unseen_cols]
    errors, cosines = [], []
    for lam in lams:
        rebuilt = phi_s @ ridge_coefficients(phi_s, phi_u, lam)
        errors.append(np.linalg.norm(phi_u - rebuilt) / np.linalg.norm(phi_u))
        cos = (phi_u * rebuilt).sum(0) / (np.linalg.norm(phi_u, axis=0) * np.linalg.norm(rebuilt, axis=0) + 1e-12)
        cosines.append(cos.mean())
    axes[0].semilogx(lams, errors, label=f"{name} ({phi_s.shape[1]} seen → {phi_u.shape[1]} unseen)")
    axes[1].semilogx(lams, cosines, label=name)
    best = int(np.argmin(errors))
    shown.append((name, phi_s.shape, lams[best], errors[best], cosines[best], errors[0]))
axes[0].set_ylabel("relative error")
axes[1].set_ylabel("mean cosine")
for ax in axes:
    ax.set_xlabel(r"ridge penalty $\rho$")
axes[0].legend()
fig.tight_layout()
plt.show()

# %% tags=["hide-input"]
show_markdown(markdown_table(["dataset", "K", "S", "best ρ", "relative error", f"error at ρ = {lams[0]:.0e}",
                              "mean cosine"],
                             [[name, shape[0], shape[1], f"{lam:.2g}", f"{err:.3f}", f"{err_small:.3f}", f"{cos:.3f}"]
                              for name, shape, lam, err, cos, err_small in shown]))

# %% [markdown]
# When there are fewer seen classes than attributes (CUB: 150 and 312) the seen columns span only part
# of the attribute space, so some error remains however small $\rho$ is; a large $\rho$ shrinks
# every coefficient of $B$ towards 0 and the error grows again. This is measured on the semantics alone;
# whether the same $B$ carries over from semantics to embeddings is what the `cct` rule tests in
# the next chapter.
#
# ## Exercises
#
# ````{exercise} Eq. (8) on three points
# :label: ex-cct-three-points
#
# An embedding of class 0 lies at $\hat\phi = (0.6, 0.8)$; the class centres are $\hat C_0 = (1, 0)$,
# $\hat C_1 = (0, 1)$ and $\hat C_2 = (-1, 0)$; $\mathrm{mrg}_{\mathrm{cct}} = 0.8$. Compute
# $L_{CCT}$ by hand with the hardest negative centre, then with the mean distance to the negative
# centres (`cct_negatives="mean"`). What does the difference say about the choice between them?
# ````
#
# ````{solution} ex-cct-three-points
# :class: dropdown
#
# The squared distances are 0.8 to $\hat C_0$, 0.4 to $\hat C_1$ and 3.2 to $\hat C_2$. Hardest
# negative: $\max(0, 0.8 + 0.8 - 0.4) = 1.2$. Mean negative: $\max(0, 0.8 + 0.8 - 1.8) = 0$. The
# mean lets a far-away centre hide a near one, so the embedding already counts as separated; the
# hardest negative still pushes it away from $\hat C_1$. Checked in code:
#
# ```{literalinclude} /book/solutions/03_sgma_model.py
# :pyobject: cct_on_three_points
# ```
# ````
#
# ````{exercise} A centre rule of your own
# :label: ex-centre-rule
#
# The centre rules that place eq. {eq}`eq-mask`'s squares are classes registered by name in
# `sgma_core.centres`. Write one in your notebook that puts every square in the image's top-left corner
# (a subclass of `CentreRule` with a `name` and a `centres` method returning $t_x, t_y$ of shape
# $[B, P]$), register it, and build a smoke-profile SGMA with `centre_rule` set to its name. Where are
# the squares of a 32-pixel image, and which module of the library did you have to change?
# ````
#
# ````{solution} ex-centre-rule
# :class: dropdown
#
# With `part_scale` 0.5 a square is 16 pixels wide, so its middle sits at $t_x = t_y = 7.5$, halfway
# across pixels 0 to 15, and $t_s = 16$, for both parts of every image. No module
# changed: the settings accept any registered name, and the model asks the rule where its squares go.
# The solution removes the rule again afterwards, so that the registry is as the library left it:
#
# ```{literalinclude} /book/solutions/03_sgma_model.py
# :pyobject: a_centre_rule_of_your_own
# ```
# ````
#
# ````{exercise} The mask at one pixel
# :label: ex-mask-one-pixel
#
# For a square of side $t_s = 16$ centred at $t_x = 32$ and $k = 10$, compute $V_x(40)$ and
# $V_x(39)$ of eq. {eq}`eq-mask`. Which pixels does the mask keep whole, and which by half?
# ````
#
# ````{solution} ex-mask-one-pixel
# :class: dropdown
#
# $V_x(40) = \sigma_k(16) - \sigma_k(0) = \sigma(160) - \sigma(0) = 1 - 0.5 = 0.5$ and
# $V_x(39) = \sigma(150) - \sigma(-10) \approx 0.99995$. The pixel centres strictly inside the square
# are kept whole; those on its edge ($x = t_x \pm t_s/2$) are kept by half, and the mask falls to 0
# within a pixel outside it at $k = 10$. Checked in code:
#
# ```{literalinclude} /book/solutions/03_sgma_model.py
# :pyobject: mask_at_one_pixel
# ```
# ````
#
# ````{exercise} How soft is the mask? Sweep $k$
# :label: ex-mask-sweep-k
#
# Change $k$ of eq. {eq}`eq-mask` (`mask_k`, the `k` argument of `boxcar_mask`) over 0.5, 1, 2, 10
# and 50 and count, for the square of the previous exercise, the pixels of a row on the mask's soft
# edge, where $0.05 < V_x < 0.95$. Which $k$ still crops, and which only blurs the border?
# ````
#
# ````{solution} ex-mask-sweep-k
# :class: dropdown
#
# 24, 10, 6, 2 and 2 pixels. At $k = 0.5$ the edge is wider than the square itself (16 pixels): the
# "crop" fades over the whole part and a good share of the background. From $k = 10$ (the paper's
# value) only the two pixels on the square's border are partial. Computed with the library:
#
# ```{literalinclude} /book/solutions/03_sgma_model.py
# :pyobject: mask_edge_width_by_k
# ```
# ````
#
# ````{exercise} What the ridge penalty does to eq. (10)
# :label: ex-ridge-by-hand
#
# Two seen classes have the semantics $(1, 0, 0)$ and $(0, 1, 0)$; an unseen class has
# $(0.6, 0.8, 0)$. Solve eq. {eq}`eq-ridge` by hand for $\rho = 10^{-4}$ and for $\rho = 1$. What does
# a large $\rho$ do to the unseen prototype $P_s \beta$ that the `cct` rule scores by inner products?
# ````
#
# ````{solution} ex-ridge-by-hand
# :class: dropdown
#
# $\Phi_s^\top \Phi_s = I$, so $\beta = (I + \rho I)^{-1} \Phi_s^\top \phi_u = (0.6, 0.8)/(1 + \rho)$:
# $(0.59994, 0.79992)$ at $\rho = 10^{-4}$ and $(0.3, 0.4)$ at $\rho = 1$. The combination keeps
# its direction but halves in length, and so does the unseen prototype: scored by inner products
# it loses to the seen prototypes whatever the image shows, which is why chapter 05 compares
# $\rho$ and unit-length prototypes on validation classes. Computed with the library:
#
# ```{literalinclude} /book/solutions/03_sgma_model.py
# :pyobject: ridge_shrinks_by_hand
# ```
# ````
#
# ```{admonition} Key takeaways
# :class: important
#
# - Two attention maps come from one feature map and two sets of channel weights; standardising each
#   map before the sigmoid keeps its contrast.
# - The boxcar crop is differentiable in the square's centre and side only at its border, and not at
#   all when the square sits on the map's argmax (the peak rule, the paper's).
# - Compactness and diversity shape the maps; softmax and the class-centre triplet loss shape the
#   features; eq. (9) adds them.
# - The `cct` rule needs prototypes of unseen classes, built from seen ones by eq. (10); their length
#   matters for GZSL.
# ```
