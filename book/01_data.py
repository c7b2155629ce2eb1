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
# # Data: the zero-shot protocol, the real splits and a synthetic bird dataset
#
# Zero-shot results are only comparable when everyone trains and tests on the same images. This
# chapter sets out that protocol, reads the real split files where they are present, and introduces
# the synthetic dataset on which the rest of the book runs in minutes.
#
# ```{admonition} In this chapter
# :class: tip
#
# **You will be able to**
# - state the proposed split {cite}`xian2017zsl`: which images train, which test ZSL, which test GZSL;
# - compute {term}`per-class top-1 accuracy <Per-class top-1 accuracy>` and the {term}`harmonic mean <Harmonic mean H>` $H$, and say why neither is per-image;
# - read the xlsa17 split files and check them against the dataset's own image list;
# - describe the synthetic birds and why zero-shot transfer is possible on them.
#
# **You need** the idea of a train/test split and of a classifier's accuracy; NumPy indexing.
#
# **Run time**: {glue:text}`run_time_here`; the course guide lists every chapter on every profile.
# ```

# %% tags=["parameters"]
data_root = None  # None: $SGMA_DATA_ROOT (os.pathsep-separated folders), else <repo>/data
dataset = "SYN"  # the image dataset shown in the second half: "SYN" or "CUB"

# %% tags=["hide-input"]
import textwrap

import matplotlib.pyplot as plt
import numpy as np

from bookkit.display import glue, markdown_table, show_markdown
from bookkit.figures import subplots
from bookkit.run_times import glue_run_times
from sgma_core import data as zsl_data
from sgma_core.paths import DataRootError, find_dataset

glue_run_times("01_data")

# %% [markdown]
# ## The proposed split
#
# Xian et al. (*Zero-shot learning — the good, the bad and the ugly* {cite}`xian2017zsl,xian2019zsl`) showed that the class
# splits used before them let unseen classes leak into ImageNet pretraining, and published the
# **{term}`proposed split <Proposed split>`** (the `xlsa17` files) that everyone has used since, SGMA included. For each
# dataset a file `att_splits.mat` holds the class semantics `att` ($\Phi$, one L2-normalised column
# per class) and three disjoint sets of 1-based image indices:
#
# * `trainval_loc` — training images, of the $S$ seen classes;
# * `test_seen_loc` — held-out images of the seen classes (used only by GZSL);
# * `test_unseen_loc` — all images of the $U$ unseen classes.
#
# Accuracy is the **mean over classes of per-class top-1 accuracy**. With $\mathcal{C}$ the classes
# present in a test set and $n_c$ the number of its images of class $c$,
#
# ```{math}
# \mathrm{acc} = \frac{1}{|\mathcal{C}|} \sum_{c \in \mathcal{C}} \frac{\#\{\text{of class } c\text{, predicted } c\}}{n_c}.
# ```
#
# * **ZSL, T1**: on `test_unseen`, the prediction is the argmax over the unseen classes only.
# * **GZSL**: the prediction is the argmax over all $S+U$ classes; $u$ is the accuracy on
#   `test_unseen`, $s$ on `test_seen`, and
#
# ```{math}
# H = \frac{2us}{u+s}.
# ```
#
# `sgma_core.metrics` implements both; per-image accuracy is never reported as T1.
#
# ```{literalinclude} /sgma_core/metrics.py
# :pyobject: per_class_accuracy
# ```
#
# A small check: two classes, one with 3 images all right, one with 1 image wrong. Per-image accuracy
# would be 3/4; per-class accuracy is the mean of 1 and 0.

# %%
from sgma_core.metrics import harmonic_mean, per_class_accuracy

acc = per_class_accuracy([0, 0, 0, 1], [0, 0, 0, 0])
print(f"per-class accuracy {acc:.2f}; H(u=0.2, s=0.8) = {harmonic_mean(0.2, 0.8):.2f}")
assert acc == 0.5

# %% [markdown]
# ## The real split files
#
# The three datasets of the paper are CUB-200-2011 birds {cite}`wah2011cub`, Animals with Attributes 2
# {cite}`xian2019zsl` (the successor of AwA {cite}`lampert2014awa`) and Oxford flowers
# {cite}`nilsback2008flowers`. Where the real `xlsa17` files are present under the data root
# (`SGMA_DATA_ROOT`), this table is computed from them; otherwise it says which files were not found.

# %%
rows = []
for name in ("CUB", "AWA2", "FLO"):
    try:
        path = find_dataset(name, data_root) / "xlsa17" / "att_splits.mat"
        s = zsl_data.read_xlsa17_splits(path)
    except DataRootError as exc:  # its brief form: the page names no folder of the machine that built it
        print(f"{name}: not available — {exc.brief}")
        continue
    except zsl_data.DatasetError as exc:
        print(f"{name}: not available — {exc}")
        continue
    rows.append((name, f"{s.att.shape[0]} × {s.att.shape[1]}", len(s.trainval), len(s.test_seen),
                 len(s.test_unseen), "yes" if s.train is not None else "no",
                 "yes" if s.class_names is not None else "no"))
header = ("dataset", "att (K × classes)", "trainval", "test_seen", "test_unseen", "train/val", "class names")
if rows:
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for r in [header] + rows:
        print("  ".join(str(v).rjust(w) for v, w in zip(r, widths)))
else:
    print("no real split files in the data folders searched (SGMA_DATA_ROOT)")

# %% [markdown]
# Two traps hide in these files. The indices are MATLAB's, 1-based, and `sgma_core.data` converts
# them to 0-based once, at reading. And for CUB the columns of `att` are **not** in CUB's class-id
# order, so classes must be matched by name: `001.Black_footed_Albatross` is not column 0.

# %%
try:
    cub = find_dataset("CUB", data_root)
    s = zsl_data.read_xlsa17_splits(cub / "xlsa17" / "att_splits.mat")
    col = s.class_names.index("001.Black_footed_Albatross")
    print(f"001.Black_footed_Albatross is column {col} (0-based) of att; column 0 is {s.class_names[0]}")
except DataRootError as exc:
    print(f"CUB split file not available: {exc.brief}")
except zsl_data.DatasetError as exc:
    print(f"CUB split file not available: {exc}")

# %% [markdown]
# ## The synthetic birds
#
# Real images cannot be redistributed with a book, and CUB on a laptop CPU takes hours per epoch.
# So `data_prep.synthetic` renders a small fine-grained dataset with the same *structure* as CUB,
# written in the exact CUB-200-2011 layout plus an xlsa17-style `att_splits.mat`, so that the same
# reader serves both. Each class is a combination of four attributes — head colour, wing colour, tail
# shape and bill length — on a bird whose body colour, pose, size, position and facing direction
# vary from image to image. Around each bird lie **decoys** of exactly its parts' sizes: a head of
# every palette colour its own head does not have, a wing of every colour its wing does not have, a
# bill of the other length and tails of the other shapes (the three tail shapes, and the two bills,
# cover the same area). So every image holds the same colours and shapes in the same amounts, whatever
# its class; only which of them sit *on the bird* tells the class. A model must know *where* to look.

# %%
ds = zsl_data.load_dataset(dataset, data_root)
summary = ds.split_summary()
for key, value in summary.items():
    print(f"{key:>20s}: {value}")
glue("syn_images", ds.n_images, display=False)
glue("syn_classes", summary["classes"], display=False)
glue("syn_seen", summary["seen classes"], display=False)
glue("syn_unseen", summary["unseen classes"], display=False)
glue("syn_attributes", summary["attributes"], display=False)

# %% [markdown]
# The dataset in this build has {glue:text}`syn_images` images of {glue:text}`syn_classes` classes,
# {glue:text}`syn_seen` seen and {glue:text}`syn_unseen` unseen, described by
# {glue:text}`syn_attributes` attributes. Below, a few training images with their ground-truth part
# locations (white) and bounding box (black), read back from `parts/part_locs.txt` and
# `bounding_boxes.txt`:

# %% mystnb={"figure": {"name": "fig-data-samples", "caption": "Eight training images of the dataset shown, with the bounding box (black) and the visible annotated parts (white circles) where the files have them; titles are the class names."}}
from PIL import Image

rng = np.random.default_rng(0)
picks = rng.choice(ds.trainval, size=8, replace=False)
fig, axes = subplots(2, 4, height=4.2)
for ax, i in zip(axes.ravel(), picks):
    ax.imshow(Image.open(ds.image_paths[i]).convert("RGB"))
    if ds.boxes is not None:
        x, y, w, h = ds.boxes[i]
        ax.add_patch(plt.Rectangle((x, y), w, h, fill=False, color="black", lw=1))
    if ds.part_locs is not None:
        vis = ds.part_locs[i, :, 2] > 0
        ax.scatter(ds.part_locs[i, vis, 0], ds.part_locs[i, vis, 1], s=14, facecolors="none", edgecolors="white")
    ax.set_title("\n".join(textwrap.wrap(ds.class_names[ds.labels[i]].split(".", 1)[1].replace("_", " "), 16)),
                 fontsize=9)  # the whole class name, over two lines where it is long
    ax.axis("off")
fig.tight_layout()
plt.show()

# %% [markdown]
# The class semantics are continuous, like CUB's: each entry of `original_att` is the share of
# (simulated) annotators who saw that attribute value, so a class's own values are near 100 and the
# rest are annotator noise. Here is $\Phi$ (columns L2-normalised, as in `att`), seen classes left of
# the line and unseen classes right of it:

# %% mystnb={"figure": {"name": "fig-data-phi", "caption": "The class semantics $\\Phi$ (one L2-normalised column per class), seen classes left of the white line and unseen classes right of it; the colour is the attribute's value."}}
order = np.concatenate([ds.seen_classes, ds.unseen_classes])
n_att = ds.att.shape[0]
fig, ax = subplots(height=min(7.0, max(3.0, 0.16 * n_att)) if n_att <= 40 else 3.6)
image = ax.imshow(ds.att[:, order], aspect="auto", cmap="viridis")
fig.colorbar(image, ax=ax, label=r"value in $\Phi$", fraction=0.04, pad=0.02)
ax.axvline(len(ds.seen_classes) - 0.5, color="white", lw=2)
if ds.attribute_names is not None and n_att <= 40:
    ax.set_yticks(range(n_att), ds.attribute_names, fontsize=9)
else:
    ax.set_ylabel("attribute")
ax.set_xlabel("class (seen | unseen)")
fig.tight_layout()
plt.show()

# %% [markdown]
# Zero-shot transfer is only possible if every attribute value of an unseen class has been seen on
# some seen class. The generator guarantees it; this cell checks it on the files as written, with
# each class's value taken as the argmax within every attribute group:

# %%
if ds.attribute_names is not None:
    groups = {}
    for k, a in enumerate(ds.attribute_names):
        groups.setdefault(a.split("::")[0], []).append(k)
    values = {g: ds.att[idx].argmax(axis=0) for g, idx in groups.items()}
    for g, v in values.items():
        missing = set(v[ds.unseen_classes]) - set(v[ds.seen_classes])
        print(f"{g:>16s}: unseen values never seen: {sorted(missing) or 'none'}")
        if dataset == "SYN":
            assert not missing
    combos = {tuple(int(values[g][c]) for g in groups) for c in range(ds.att.shape[1])}
    print(f"distinct attribute combinations: {len(combos)} for {ds.att.shape[1]} classes")

# %% [markdown]
# (sec-audit)=
# ## What can be solved without looking
#
# A dataset for a method that learns *where to look* must not be solvable without looking. Two
# probes that know nothing of attention check it. Both turn colour histograms (8 bins per channel,
# 512 in all, square-rooted) into the class attributes with a ridge regression and rank the unseen
# classes by the cosine between the predicted and each class's attribute vector, its penalty chosen
# on {term}`validation classes <Validation classes>`: the **global** probe sees one histogram of the whole image, what *which*
# colours are present says; the **windows** probe sees the histograms of small windows (an eighth of
# the image side) at the ground-truth parts that tell the classes apart, side by side, what looking at
# the right places says.

# %% tags=["hide-input"]
from bookkit.display import telling_parts_phrase
from bookkit.wording import join_words
from data_prep.audit import audit
from sgma_core.profiles import make_config

training_size = make_config("cpu").image_size  # what the cpu profile's networks see
audits = {}
if dataset == "SYN" and ds.part_locs is not None and all(p.is_file() for p in ds.image_paths):
    from PIL import Image

    own_size = Image.open(ds.image_paths[0]).size[0]
    audits = {size: audit(ds, size) for size in sorted({training_size, own_size})}
    sizes = list(audits)
    a = audits[training_size]
    show_markdown(markdown_table(
        ["probe", "sees", *(f"unseen T1 at {s} px (%)" for s in sizes)],
        [["chance", "nothing", *(f"{100 * audits[s]['chance_T1']:.1f}" for s in sizes)],
         ["global histogram", "the whole image", *(f"{100 * audits[s]['global']['T1']:.1f}" for s in sizes)],
         ["windows at the parts", join_words(a["windows"]["parts"]),
          *(f"{100 * audits[s]['windows']['T1']:.1f}" for s in sizes)]]))
    glue("audit_sentence", f"On the {a['unseen_classes']} unseen classes of these birds, decoded at "
         f"{training_size} pixels as the cpu profile's networks see them, the whole-image histogram reaches "
         f"{100 * a['global']['T1']:.1f} % T1, against a chance level of {100 * a['chance_T1']:.1f} %; "
         f"{a['windows']['side']}-pixel windows at the parts that tell the classes apart "
         f"({telling_parts_phrase(ds)}) reach {100 * a['windows']['T1']:.1f} %. At the images' own "
         f"{own_size} pixels the two read {100 * audits[own_size]['global']['T1']:.1f} % and "
         f"{100 * audits[own_size]['windows']['T1']:.1f} %.", display=False)
else:
    glue("audit_sentence", "The probes run on the synthetic birds (dataset SYN); this page shows another "
         "dataset, or one whose photographs are not all present.", display=False)
audit_record = audits.get(training_size)

# %% [markdown]
# {glue:text}`audit_sentence` The size matters. Two earlier versions of these birds failed this test. The first
# drew its distractors in the palette's colours at random, so which colours were present already named the head
# and wing colours. The second drew decoys that made the image's contents the same for every class at its own
# 128 pixels, but at the 64 pixels the networks see, a part's edge pixels blend with what lies around it: the
# bird's wing with its body, a decoy wing with the background. The blends named the bird's colours, and the global
# probe read the unseen classes far above chance. Now every coloured part, the bird's and the decoys', is ringed by
# a halo of the background's colour, so that its edge meets the same colours wherever it lies; the decoys are posed
# as the bird's parts are (tilted a little, facing either way), so that their edges fall on the pixel grid alike;
# every decoy head carries a bill as the bird's does; and tails and bills have a colour per shape and length. What
# is left to learn is where the class's colours and shapes are, at every size the book trains at, and the bird's
# dark body on the light background says where to begin. `python -m data_prep.audit` runs both probes from a shell in seconds.
#
# ```{literalinclude} /data_prep/audit.py
# :pyobject: probe
# ```
#
# `sgma_core.data.read_cub` is the one reader for this layout: it matches classes to columns of
# `att` by name, turns the 1-based locations into row indices, remaps labels to `0..S−1` for seen and
# `0..U−1` for unseen classes, and reads boxes and part locations where present. The real CUB metadata
# passes through the same function in the tests (`tests/test_data_real.py`).
#
# ## Exercises
#
# ````{exercise} The harmonic mean by hand
# :label: ex-harmonic-mean
#
# A model recognises 20 % of the unseen-class test images and 80 % of the seen-class ones (per-class
# accuracy, GZSL). Compute $H$ by hand. Why does the benchmark report $H$ rather than the mean of
# $u$ and $s$?
# ````
#
# ````{solution} ex-harmonic-mean
# :class: dropdown
#
# $H = 2us/(u+s) = 2 \cdot 0.2 \cdot 0.8 / 1.0 = 0.32$, far below the mean, 0.5: $H$ is high only
# when both accuracies are, so a model cannot buy a good score by recognising seen classes alone.
# The code below (run by `tests/test_exercises.py`) checks the hand value against the library:
#
# ```{literalinclude} /book/solutions/01_data.py
# :pyobject: harmonic_mean_by_hand
# ```
# ````
#
# ````{exercise} One number for two kinds of accuracy
# :label: ex-per-class
#
# A test set holds 90 images of class A, of which the model gets 81 right, and 10 images of class B,
# of which it gets 1 right. Compute the per-image and the per-class accuracy. Which of the two does
# the benchmark report, and what would the other hide?
# ````
#
# ````{solution} ex-per-class
# :class: dropdown
#
# Per image: $(81 + 1)/100 = 0.82$. Per class: $(81/90 + 1/10)/2 = (0.9 + 0.1)/2 = 0.5$. The
# benchmark reports the per-class mean: the per-image number is dominated by the large class and
# hides that class B is almost never recognised. Checked with the library's `per_class_accuracy`:
#
# ```{literalinclude} /book/solutions/01_data.py
# :pyobject: per_image_against_per_class
# ```
# ````
#
# ```{admonition} Key takeaways
# :class: important
#
# - Zero-shot numbers are comparable only on the proposed split, and only as **per-class** means.
# - ZSL T1 ranks the unseen classes alone; GZSL ranks all of them, and $H$ is high only when both
#   $u$ and $s$ are.
# - The synthetic birds keep CUB's file formats and the property that makes transfer possible:
#   every attribute value of an unseen class appears on some seen class.
# - They can be read only by looking: a colour histogram of the whole image stays near chance, one
#   of small windows at the right parts reads almost every unseen class.
# ```
