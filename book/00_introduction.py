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
# # Learning where to look, reproduced
#
# This book rebuilds **SGMA** — *Learning where to look: Semantic-Guided Multi-Attention Localization
# for Zero-Shot Learning* (Zhu, Xie, Tang, Peng and Elgammal, NeurIPS 2019 {cite}`zhu2019sgma`) — one
# equation at a time, with code you can run on a laptop and tests that keep the code honest. No
# official implementation of the paper was ever released; an earlier course reproduction in
# TensorFlow {cite}`arriaza2020reproduction` reported no accuracy at all. Here every number in the prose is computed by the chapter
# that prints it.
#
# ```{admonition} In this chapter
# :class: tip
#
# **You will be able to** say what zero-shot and generalised zero-shot learning ask of a model, what
# SGMA adds to a plain {term}`compatibility <Compatibility>` model, where each of its equations lives in the code and the
# tests, and how to run any chapter yourself.
#
# **You need** for the whole book: Python and NumPy; PyTorch at the level of a module, a loss and an
# optimiser step; a first course in machine learning (softmax classification, convolutional
# networks, train and test sets). Teachers: the {doc}`course guide </book/course_guide>` plans three sessions.
#
# **Run time**: {glue:text}`run_time_here`; the course guide lists every chapter on every profile.
# ```
#
# ## Zero-shot learning in one paragraph
#
# A classifier normally recognises only the classes it was trained on. In **zero-shot learning** ({term}`ZSL`)
# the test images belong to *{term}`unseen <Seen and unseen classes>`* classes, of which the model has seen no image; what it has is a
# description of every class — a vector of attributes such as *has head colour red* or *has forked
# tail*, collected in a matrix $\Phi \in \mathbb{R}^{K \times (S+U)}$ with one column $\phi(y)$ per
# class ($S$ seen, $U$ unseen). A model that scores how *compatible* an image is with a description,
#
# ```{math}
# s_y(x) = \theta(x)^\top W \phi(y),
# ```
#
# can score an unseen class as easily as a seen one: it only needs that class's column of $\Phi$.
# In **generalised** zero-shot learning ({term}`GZSL`) the test set mixes seen and unseen classes and the
# model must choose among all of them.
#
# ## What SGMA adds
#
# Fine-grained classes (200 bird species in CUB) differ in small parts: a head colour, a bill shape.
# Pooling a whole image into one vector $\theta(x)$ dilutes those parts. SGMA learns, with only class
# labels and {term}`class semantics <Class semantics>` for supervision, **where to look**: a multi-attention subnet produces
# two {term}`attention maps <Attention map>`, a cropping subnet cuts and zooms the two attended parts, and a joint
# feature-learning subnet scores the whole image and both parts against $\Phi$. Four losses train it:
# compactness and diversity of the attention maps, an embedding softmax over seen classes and a
# {term}`class-centre triplet loss <Class-centre triplet loss (CCT)>`.
#
# ## What this book reproduces
#
# **The paper's claims** are its numbers on three real benchmarks, with ImageNet VGG19 at 448 × 448
# pixels on GPUs. **This book** implements every equation, tests it, and runs it on *synthetic birds*
# that ship with the project, on two CPU cores: its numbers say how the method behaves as implemented,
# beside controls, and are never the paper's numbers. The two kinds never share a table.

# %% tags=["hide-input"]
from bookkit import summary
from bookkit.display import markdown_table, show_markdown

show_markdown("**The paper's claims** (published; proposed split, per-class top-1, %; not run here)\n\n"
              + markdown_table(["dataset", "ZSL T1", "GZSL u", "GZSL s", "GZSL H"], summary.paper_rows())
              + "\n\nEmpty cells: " + " ".join(summary.paper_notes()))
measured = summary.measured_rows("cpu")
show_markdown(summary.measured_title(measured) + "\n\n"
              + (markdown_table(["model", "record", "seeds", "ZSL T1", "GZSL H"], measured) if measured else
                 "No record yet: `make looking` and `make real-start` make them."))
show_markdown("**What the default book does not run**\n\n"
              + markdown_table(["what the paper used", "why the book does not", "how a reader runs it"],
                               summary.not_run_rows()))
show_markdown("**The main findings**, each from its record:\n\n"
              + "\n".join(f"- {line}" for line in summary.findings("cpu")))

# %% [markdown]
# ## Map of the book
#
# | chapter | what it shows |
# |---|---|
# | {doc}`01_data` | the ZSL protocol and its metric, the real split files, the synthetic birds |
# | {doc}`02_baseline` | backbone → pooling → $W$ → scores, trained with the embedding softmax; one training step |
# | {doc}`03_sgma_model` | multi-attention, channel grouping, the boxcar crop, joint features, the four losses, the three inference rules |
# | {doc}`04_sgma_training` | SGMA's training step and training beside the baseline; calibrated stacking on validation classes; where the attention looks |
# | {doc}`05_open_choices` | every choice the paper leaves open, decided on validation classes; the paper's own reading beside the book's on the test classes |
# | {doc}`06_where_to_look` | does SGMA learn where to look, and does it matter? The book's configuration beside controls of where its squares go (image centre, random places, the annotated parts, the whole image) and of what trains its attention, paired on five seeds |
# | {doc}`07_real_birds` | real CUB photographs and real ImageNet features (EfficientNet-Lite0 from PyPI): where eq. (11)'s channel groups look, against annotated parts |
# | {doc}`course guide </book/course_guide>` | three 90-minute sessions, which profile to use in class, run times, student and instructor notebooks |
# | {doc}`glossary </book/glossary>`, {doc}`references </book/references>` | the terms the book uses; the works it cites |
#
# (sec-equation-index)=
# ## Equation index
#
# Each equation, numbered (1)–(11) as throughout this book, each inference rule and the baseline,
# with the function that computes it (in `sgma_core/`), where the book derives it, and the test that
# checks it (in `tests/`). A test reads this table and fails when a function or a test named here
# does not exist.
#
# ```{container} equation-index
# | eq. | symbol | code | section | test |
# |---|---|---|---|---|
# | (1) | $p = \mathrm{GAP}(f(x))$ | `backbones.py` `global_average_pool` | {ref}`attention <sec-attention>` | `test_baseline.py::test_global_average_pool_eq1` |
# | (2) | $a_i$ | `attention.py` `MultiAttention.channel_weights` | {ref}`attention <sec-attention>` | `test_attention.py::test_shapes_and_ranges` |
# | (3) | $M_i(x)$ | `attention.py` `MultiAttention.forward` | {ref}`attention <sec-attention>` | `test_attention.py::test_literal_eq3_saturates_and_the_normalised_maps_keep_contrast` |
# | (4) | $V(x, y)$ | `cropping.py` `boxcar_mask` | {ref}`cropping <sec-cropping>` | `test_cropping.py::test_mask_is_the_product_of_the_two_boxcars_at_pixel_centres` |
# | (5) | $L_{CPT}$ | `losses.py` `compactness_loss` | {ref}`losses <sec-losses>` | `test_losses.py::test_compactness_hand_value` |
# | (6) | $L_{DIV}$ | `losses.py` `diversity_loss` | {ref}`losses <sec-losses>` | `test_losses.py::test_diversity_hand_value` |
# | (7) | $L_{CLS}$ | `losses.py` `embedding_softmax_loss` | {ref}`baseline <sec-baseline>` | `test_baseline.py::test_softmax_loss_hand_value_and_uses_labels` |
# | (8) | $L_{CCT}$ | `losses.py` `class_centre_triplet_loss` | {ref}`losses <sec-losses>` | `test_losses.py::test_cct_hand_value_hardest_and_mean` |
# | (9) | $L$ | `sgma.py` `sgma_objective` | {ref}`SGMA's step <sec-sgma-step>` | `test_losses.py::test_total_eq9` |
# | (10) | $B$ | `inference.py` `ridge_coefficients` | {ref}`inference <sec-inference>` | `test_inference.py::test_ridge_matches_scikit_learn_without_intercept` |
# | (11) | $\bar a_i$ | `attention.py` `initialise_grouping` | {ref}`grouping <sec-grouping>` | `test_sgma_model.py::test_what_each_attention_training_mode_trains` |
# | compat | $\arg\max_y s_y$ | `inference.py` `rule_scores` | {ref}`inference <sec-inference>` | `test_inference.py::test_prototypes_and_rules` |
# | cct | $\arg\max_y \langle \hat\phi(x), P_{:,y} \rangle$ | `inference.py` `rule_scores` | {ref}`inference <sec-inference>` | `test_inference.py::test_prototypes_and_rules` |
# | combined | both summed | `inference.py` `rule_scores` | {ref}`inference <sec-inference>` | `test_inference.py::test_prototypes_and_rules` |
# | baseline | $\theta(x)^\top W \phi(y)$ | `baseline.py` `BaselineObjective.forward` | {ref}`baseline <sec-baseline>` | `test_baseline.py::test_baseline_shapes_gradients_and_unseen_scores` |
# | step | SGD | `engine/step.py` `train_step` | {ref}`one step <sec-baseline-step>` | `test_training.py::test_train_step_is_one_sgd_step` |
# ```
#
# (sec-notation)=
# ## Notation
#
# | symbol | meaning | in the code |
# |---|---|---|
# | $x$, $y$ | an image, a class | `x` `[B, 3, S, S]`, `y` `[B]` |
# | $S$, $U$, $K$ | seen classes, unseen classes, attributes | `n_seen`, `n_unseen`, `phi.shape[0]` |
# | $\Phi$, $\phi(y)$ | class semantics $[K, S+U]$, one class's column | `phi_gzsl`, `phi_seen` |
# | $f(x)$ | backbone feature map $[C, H, W]$ | `Backbone.forward` |
# | $p$, $\theta_i$ | pooled features, eq. (1): the attention's input, branch $i$'s feature ($\theta(x)$ in the baseline) | `global_average_pool` |
# | $a_i$, $M_i$ | channel weights and attention map of part $i$ | `channel_weights`, `maps` `[B, P, H, W]` |
# | $t_x, t_y, t_s$ | centre and side of a part's square, in input pixels | `tx`, `ty`, `ts` `[B, P]` |
# | $W$, $s_y$ | compatibility matrix, score of class $y$ | `Compatibility.W`, `scores` `[B, Y]` |
# | $\hat\phi(x)$, $\hat C$ | CCT embedding and class centres, L2-normalised | `emb` `[B, D]`, `centres` `[S, D]` |
# | $\lambda$, $\alpha$, $\beta$ | weights of eq. (9) | `lam_div`, `alpha_cls`, `beta_cct` |
# | $\mathrm{mrg}_{\mathrm{div}}$, $\mathrm{mrg}_{\mathrm{cct}}$ | margins of eqs. (6) and (8) | `div_margin`, `cct_margin` |
# | $B$, $\rho$ | ridge coefficients and penalty of eq. (10) | `ridge_coefficients(…, lam)`, `ridge_lambda` |
# | $P$ | class prototypes $[D, S+U]$ of the cct rule | `class_prototypes` |
# | $\gamma$ | calibrated stacking's offset | `choose_gamma` |
#
# ## The library
#
# The code lives in two packages, and the arrows point one way: `sgma_core/` is the method and what
# it takes to train and evaluate it; `bookkit/` turns the chapters into this book and imports
# `sgma_core`, never the reverse. Inside `sgma_core/`, each floor uses only the floors below it.
#
# - **Backbones** (the bottom floor): `sgma_core/backbones.py` ($f(x)$ of eq. (1), one registry entry per
#   backbone: its name, layers and weights), `sgma_core/lite0.py` (EfficientNet-Lite0's network) and
#   `sgma_core/checked_weights.py` (weight files loaded only after they are checked). Tested by
#   `tests/test_backbone_registry.py`, `tests/test_baseline.py`, `tests/test_lite0.py`.
# - **Settings and records**: `sgma_core/profiles.py` (every setting of a run, its type, range and allowed
#   values, a backbone and its layer checked against the registry, and the profiles), `sgma_core/paths.py`,
#   `sgma_core/records.py` (files written atomically, JSON records and their provenance: commit, date,
#   machine, configuration, seconds), `sgma_core/cli.py` (the options every command spells the same way).
#   Tested by `tests/test_profiles.py`, `tests/test_cli.py`.
# - **The method**, one module per part of the paper: `sgma_core/attention.py`,
#   `sgma_core/cropping.py`, `sgma_core/compatibility.py`, `sgma_core/losses.py`, `sgma_core/baseline.py`,
#   `sgma_core/sgma.py`, `sgma_core/inference.py`, `sgma_core/metrics.py`, and `sgma_core/localization.py`
#   (the one pixel convention for peaks, squares and parts, and the hit scores). Tested by
#   `tests/test_attention.py`, `tests/test_cropping.py`, `tests/test_losses.py`, `tests/test_sgma_model.py`,
#   `tests/test_inference.py`, `tests/test_metrics.py`, `tests/test_localization.py`.
# - **Data**, one reader per format, images and the decode cache: `sgma_core/data/`, `data_prep/synthetic.py`,
#   `data_prep/fetch.py`. Tested by `tests/test_data_real.py`, `tests/test_data_cub_layout.py`,
#   `tests/test_data_awa2_flo.py`, `tests/test_cache.py`, `tests/test_fetch.py`.
# - **The engine**: one training step, the loop of epochs (`fit`), the {term}`run store <Run store>`, several GPUs:
#   `sgma_core/engine/step.py`, `sgma_core/engine/loop.py`, `sgma_core/engine/runs.py`,
#   `sgma_core/engine/distributed.py`. Tested by `tests/test_training.py`, `tests/test_run_store.py`,
#   `tests/test_distributed.py`.
# - **What the chapters call**: prepare the data, train, evaluate, where the maps look:
#   `sgma_core/experiment/`. Tested by `tests/test_regressions.py`, `tests/test_validation_split.py`,
#   `tests/test_snapshots.py`.
# - **The studies**, commands that write the records chapters 05 and 06 render (`results/`):
#   `sgma_core/studies/ablate.py`, `sgma_core/studies/real_start.py`, `sgma_core/studies/frozen.py`.
#   Tested by `tests/test_ablations.py`, `tests/test_real_start.py`, `tests/test_frozen.py`.
# - **Command lines** at the edge: `sgma_core/train.py`, `sgma_core/step_throughput.py`. Tested by
#   `tests/test_distributed.py`, `tests/test_step_throughput.py`.
# - **The book's tools**, `bookkit/`: the chapter runner `bookkit/chapters.py`, what a chapter shows
#   `bookkit/display.py`, the figures' style `bookkit/figures.py`, the drawing of SGMA's architecture
#   `bookkit/architecture.py`, how numbers, lists and settings read in a sentence `bookkit/wording.py`,
#   run times `bookkit/run_times.py`, the papermill exercises `bookkit/exercises.py`, the notebooks to
#   download `bookkit/notebooks.py` and the PDF `bookkit/pdf.py`. Tested by `tests/test_book.py`,
#   `tests/test_run_times.py`, `tests/test_notebooks.py`, `tests/test_figures.py`,
#   `tests/test_architecture.py`, `tests/test_wording.py`.
#
# Chapters read their settings from one **{term}`profile <Profile>`** — `smoke` (seconds, used by the tests), `cpu`
# (minutes on a laptop, the default book) or `paper` (the paper's settings, on a GPU) — and each
# training chapter says which profile produced its numbers.
#
# ## How to run it
#
# ```text
# make book        # virtual environment, synthetic data, chapters executed on the cpu profile, HTML
# make test        # unit tests, chapters on the smoke profile, a -W build, a browser check
# ```
#
# A single chapter with other parameters, after `make book` has created `.venv`:
#
# ```text
# .venv/bin/python -m bookkit.chapters 02_baseline -p profile smoke -p seeds "[0]"
# ```
#
# or with papermill directly, on the notebook that jupytext makes from the chapter's source:
#
# ```text
# .venv/bin/jupytext --to ipynb -o 02_baseline.ipynb book/02_baseline.md
# .venv/bin/papermill 02_baseline.ipynb out.ipynb -p profile smoke
# ```
#
# ## How to cite, and reuse
#
# The book and its library are under the MIT licence (`LICENSE`). If you use them, cite the book and the
# paper it reproduces {cite}`zhu2019sgma`; `CITATION.cff` at the repository's root holds both (GitHub
# shows it as "Cite this repository"). The footer of every page names the version, the commit the page was
# built from and the build date, so a number quoted from the book can be traced to the code that made it.
#
# ```text
# @misc{sgma_book,
#   author = {{The SGMA book authors}},
#   title  = {Learning where to look: {SGMA}, reproduced},
#   year   = {2026},
#   note   = {Version 0.1.0; the commit is in the footer of each page}
# }
# ```
#
# ## The environment that built this page

# %% tags=["hide-input"]
import platform

import torch

from bookkit.run_times import glue_run_times
from bookkit.wording import count
from sgma_core.paths import data_roots, repo_root

glue_run_times("00_introduction")


def where(root, name):
    """A dataset's folder as a reader can place it: inside the checkout, or which folder of SGMA_DATA_ROOT."""
    folder = root / name
    if folder.resolve().is_relative_to(repo_root().resolve()):
        return f"{folder.resolve().relative_to(repo_root().resolve())} (in the checkout)"
    return f"{name} in folder {data_roots().index(root) + 1} of SGMA_DATA_ROOT"


print(f"python {platform.python_version()}, torch {torch.__version__}, "
      f"CUDA available: {torch.cuda.is_available()}")
print(f"datasets ({count(len(data_roots()), 'data folder', words=False)} searched):")
for name in ("SYN", "CUB", "AWA2", "FLO"):
    found = [where(root, name) for root in data_roots() if (root / name).is_dir()]
    print(f"  {name:5s}", found[0] if found else "not found")

# %% [markdown]
# ## Exercises
#
# ````{exercise} Scoring a class the model has never seen
# :label: ex-score-unseen
#
# An image has the pooled features $\theta = (1, 2)$ and the model has learnt
# $W = \begin{pmatrix} 1 & 0 & 0.5 \\ 0 & 1 & 0.5 \end{pmatrix}$ for three attributes. Two seen
# classes have the semantics $(1, 0, 0)$ and $(0, 1, 0)$; an unseen class has $(0, 0.6, 0.8)$.
# Compute $s_y = \theta^\top W \phi(y)$ for the three classes. Which class wins, and what did the
# model need to know about the unseen class to score it?
# ````
#
# ````{solution} ex-score-unseen
# :class: dropdown
#
# $\theta^\top W = (1, 2, 1.5)$, so the scores are $1$, $2$ and $0.6 \cdot 2 + 0.8 \cdot 1.5 = 2.4$:
# the unseen class wins. The model needed only that class's column of $\Phi$, never one of its
# images. Checked in code:
#
# ```{literalinclude} /book/solutions/00_introduction.py
# :pyobject: score_an_unseen_class
# ```
# ````
#
# ````{exercise} What does guessing score?
# :label: ex-chance-levels
#
# CUB's proposed split has 150 seen and 50 unseen classes. What ZSL T1 and what GZSL $H$ does a model
# reach that picks a class uniformly at random? Keep these numbers in mind when a chapter reports a
# result.
# ````
#
# ````{solution} ex-chance-levels
# :class: dropdown
#
# T1 picks among the 50 unseen classes: $1/50 = 2\%$ for every class, so 2 % on average. In GZSL the
# pick is among all 200 classes, so $u = s = 1/200 = 0.5\%$ and $H = 0.5\%$. Simulated with the
# book's metric on random scores (40 images per class):
#
# ```{literalinclude} /book/solutions/00_introduction.py
# :pyobject: chance_levels
# ```
# ````
#
# ```{admonition} Key takeaways
# :class: important
#
# - A compatibility model scores any class from its semantics, so classes without training images can
#   be recognised; GZSL asks it to do so while the seen classes compete.
# - SGMA adds *where to look*: two attention maps, two zoomed parts, and four losses; the book builds
#   each from its equation, with the code and the test that checks it.
# - Every number in the book is computed by the chapter that shows it, on a stated profile; the
#   synthetic birds' numbers are never the paper's.
# ```
