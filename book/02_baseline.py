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
# # The baseline: pooled features, a compatibility matrix and the embedding softmax
#
# Before attention, the simplest model the paper compares against (its ablation "without attention";
# the course reproduction {cite}`arriaza2020reproduction` builds the same one): a backbone, global average pooling, and a bilinear compatibility
# with the class semantics. Everything SGMA adds is measured against this chapter's numbers.
#
# All settings come from one profile; any of them can be overridden. With papermill:
# `papermill in.ipynb out.ipynb -p profile smoke -y "overrides: {epochs: 3}"`.
#
# ```{admonition} In this chapter
# :class: tip
#
# **You will be able to**
# - write the baseline's score $s_y = \theta(x)^\top W \phi(y)$ and say why it scores an unseen class
#   as easily as a seen one;
# - compute the embedding softmax loss of eq. {eq}`eq-cls` by hand and find it in the code;
# - follow one training step (forward, loss, backward, update) through `train_step`;
# - read a ZSL T1 and a GZSL u / s / H, and the bias towards seen classes that GZSL exposes.
#
# **You need** the protocol and the metric of {doc}`01_data`; matrix products; what a softmax and a
# gradient step are.
#
# **Run time**: {glue:text}`run_time_here`; the course guide lists every chapter on every profile.
# ```

# %% tags=["parameters"]
profile = "cpu"  # "smoke" (seconds), "cpu" (minutes, the default book), "paper" (GPU, VGG19)
dataset = "SYN"  # "SYN" (synthetic birds), or real data: "CUB", "AWA2", "FLO"
data_root = None  # None: $SGMA_DATA_ROOT, else <repo>/data
runs_dir = None  # None: $SGMA_RUNS_ROOT, else <repo>/runs
seeds = None  # None: the profile's first seed (the records hold five); e.g. [0, 1, 2]
overrides = {}  # any RunConfig field, e.g. {"epochs": 5, "lr": 0.01}, or a preset: "paper_reading"
progress = False  # tqdm bars and per-epoch lines in the output

# %% tags=["hide-input"]
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from bookkit import study_views
from bookkit.agreement import agreement_sentence
from bookkit.display import glue, markdown_table, show_markdown
from bookkit.figures import subplots
from bookkit.opening import open_training_chapter
from sgma_core.experiment import mean_sd_by_metric, prepare_data, pretrained_backbone, train_baseline
from sgma_core.paths import repo_root
from sgma_core.profiles import config_dict
from sgma_core.records import read_record

LOOKING = repo_root() / "results" / "looking-cpu.json"  # chapter 06's record (the cpu profile's controls)

# one seed unless told; the spread over seeds comes from chapter 06's record of five
experiment, device = open_training_chapter("02_baseline", profile, dataset, "first" if seeds is None else seeds,
                                           overrides)
config = experiment.config  # the settings every seed shares

# %% [markdown]
# This page was produced on the **{glue:text}`dataset_name`** with the **{glue:text}`profile`** profile on **{glue:text}`device`**
# (started {glue:text}`started`).
#
# (sec-baseline)=
# ## The model
#
# The backbone maps an image to a feature map $f(x) \in \mathbb{R}^{C \times H \times W}$. Global
# average pooling, the operation of eq. {eq}`eq-gap` (which the next chapter uses for the attention),
#
# ```{math}
# \begin{aligned}
# \theta(x) &= \mathrm{GAP}\big(f(x)\big) \\
# &= \frac{1}{HW} \sum_{h,w} f(x)_{:,h,w} \in \mathbb{R}^C,
# \end{aligned}
# ```
#
# gives one vector per image, and a bias-free bilinear map scores it against every class:
# $s_y = \theta(x)^\top W \phi(y)$ with $W \in \mathbb{R}^{C \times K}$. There is no classifier layer
# after pooling, so an unseen class is scored exactly like a seen one, through its column of $\Phi$.
#
# ```{literalinclude} /sgma_core/baseline.py
# :pyobject: BaselineZSL
# ```
#
# ```{literalinclude} /sgma_core/compatibility.py
# :pyobject: Compatibility
# ```
#
# Training uses only seen classes. The **embedding softmax loss** treats the compatibility scores over
# the $S$ seen classes as logits:
#
# ```{math}
# :label: eq-cls
# L_{CLS} = -\frac{1}{N} \sum_{n=1}^{N} \log \frac{\exp s_{y_n}(x_n)}{\sum_{y \in \mathcal{Y}_S} \exp s_{y}(x_n)}
# \tag{7}
# ```
#
# with labels remapped to $0,\dots,S-1$. (The earlier TensorFlow reproduction's version of this loss
# ignored the labels; `tests/test_baseline.py` checks that ours does not.)
#
# ```{literalinclude} /sgma_core/losses.py
# :pyobject: embedding_softmax_loss
# ```
#
# ## Data at the run's input size

# %%
t0 = time.perf_counter()
prepared = prepare_data(config, data_root, progress=progress, runs_dir=runs_dir)
print(f"{len(prepared.train.labels)} trainval images, {len(prepared.test_unseen_labels)} test_unseen, "
      f"{len(prepared.test_seen_labels)} test_seen, at {config.image_size}×{config.image_size}; "
      f"{prepared.n_seen} seen / {prepared.n_unseen} unseen classes; decoded in {time.perf_counter() - t0:.1f} s")
glue("n_seen", prepared.n_seen, display=False)
glue("n_unseen", prepared.n_unseen, display=False)
glue("chance_t1", 100.0 / prepared.n_unseen, display=False)

# %% [markdown]
# ## The backbone
#
# On the `paper` profile the backbone is torchvision's VGG19 {cite}`simonyan2015vgg` with ImageNet weights, cut at `conv5_4`.
# ImageNet weights cannot stand in for anything on the synthetic birds, and VGG19 is far too slow for
# a CPU, so the `cpu` profile uses a small VGG-shaped network that is first trained as an ordinary
# classifier of the **seen** classes — never of unseen ones, which would leak them into training.
# That pretraining is stored under the runs folder and reused.
#
# (sec-baseline-step)=
# ## One training step
#
# Everything the engine does to a model happens in one function, `train_step`. What is particular to
# a model is its *objective*: a module that holds the model and the seen classes' semantics
# $\Phi_s$ and returns the loss of a batch. For the baseline it is eq. {eq}`eq-cls` on the
# compatibility scores of the seen classes:
#
# ```{literalinclude} /sgma_core/baseline.py
# :pyobject: BaselineObjective.forward
# ```
#
# The step itself (forward and loss, backward, update) is the same for every model in this book,
# in one process or, under `torchrun`, in several, where DistributedDataParallel wraps the objective
# and averages the gradients during `backward()`:
#
# ```{literalinclude} /sgma_core/engine/step.py
# :pyobject: train_step
# ```
#
# `fit` calls it once per batch of an epoch, after `make_batch` has normalised and augmented the
# images, and sums the returned losses on the device, so that the host waits for the device once per
# epoch rather than once per step. Three steps on one batch of the pretrained backbone (a copy: the
# stored runs are not touched) show the loss of that batch going down:

# %%
import copy

from sgma_core.baseline import BaselineObjective, BaselineZSL
from sgma_core.engine.step import make_batch, train_step

cfg0 = experiment.configs()[0]
backbone, _ = pretrained_backbone(prepared, cfg0, runs_dir, progress=progress)
torch.manual_seed(cfg0.seed)
probe = BaselineZSL(copy.deepcopy(backbone), semantic_dim=prepared.phi_seen.shape[0]).to(device).train()
objective = BaselineObjective(probe, prepared.phi_seen.to(device))
optimizer = torch.optim.SGD(probe.parameters(), lr=cfg0.lr, momentum=cfg0.momentum)
x, y = make_batch(prepared.train, torch.arange(cfg0.batch_size), None, False, device, False)
print(f"x {tuple(x.shape)}, y {tuple(y.shape)}; L_CLS on this batch, step by step:",
      ", ".join(f"{float(train_step(objective, optimizer, x, y)['loss']):.3g}" for _ in range(3)))

# %% [markdown]
# ## Training
#
# One run per seed. Each epoch appends a line to `metrics.jsonl` and writes a checkpoint; re-running
# this chapter reuses finished runs and resumes interrupted ones. Test metrics are logged every epoch
# to draw the curves; the number **reported is always the last epoch's**, never the best one.

# %%
results, histories = [], {}
for cfg in experiment.configs():
    seed = cfg.seed
    _, pretraining = pretrained_backbone(prepared, cfg, runs_dir, progress=progress)
    if pretraining:
        print(f"seed {seed}: backbone pretrained on seen classes for {len(pretraining)} epochs, "
              f"per-class accuracy on test_seen {100 * pretraining[-1]['seen_acc']:.1f}%")
    model, history = train_baseline(prepared, cfg, runs_dir, progress=progress)
    histories[seed] = history
    results.append({"seed": seed, **{k: history[-1][k] for k in ("T1", "u", "s", "H")}})

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-baseline-curves", "caption": "Baseline training, one line per seed: the training loss of eq. (7) per epoch (left), and ZSL T1 (middle) and GZSL H (right) on the test sets wherever they were evaluated; the dashed line is chance."}}
fig, axes = subplots(1, 3, height=2.6)
for seed, history in histories.items():
    axes[0].plot([h["epoch"] + 1 for h in history], [h["train_loss"] for h in history], label=f"seed {seed}")
    evaluated = [h for h in history if "T1" in h]  # every config.eval_every epochs, and the last
    axes[1].plot([h["epoch"] + 1 for h in evaluated], [100 * h["T1"] for h in evaluated], "o-", label=f"seed {seed}")
    axes[2].plot([h["epoch"] + 1 for h in evaluated], [100 * h["H"] for h in evaluated], "o-", label=f"seed {seed}")
axes[0].set_ylabel("training loss, eq. (7)")
axes[0].set_yscale("log")
axes[1].set_ylabel("ZSL T1 (%)")
axes[1].axhline(100.0 / prepared.n_unseen, color="grey", ls="--", label="chance")
axes[2].set_ylabel("GZSL H (%)")
for ax in axes:
    ax.set_xlabel("epoch")
axes[1].legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Results

# %% tags=["hide-input"]
stats = mean_sd_by_metric(results)
show_markdown(f"**Baseline on the {dataset} data, `{config.profile}` profile, last epoch, %**\n\n" + markdown_table(
    ["seed", "ZSL T1", "GZSL u", "GZSL s", "GZSL H"],
    [[r["seed"]] + [f"{100 * r[k]:.1f}" for k in ("T1", "u", "s", "H")] for r in results]
    + ([["**mean ± std**"] + [f"**{100 * stats[k][0]:.1f} ± {100 * stats[k][1]:.1f}**" for k in ("T1", "u", "s", "H")]]
       if len(results) > 1 else [])))
glue("loss_first", float(np.mean([h[0]["train_loss"] for h in histories.values()])), display=False)
glue("loss_last", float(np.mean([h[-1]["train_loss"] for h in histories.values()])), display=False)
for k in ("T1", "u", "s", "H"):
    glue(f"baseline_{k}", 100 * stats[k][0], display=False)
glue("baseline_T1_shown", f"{100 * stats['T1'][0]:.1f}%"
     + (f" ± {100 * stats['T1'][1]:.1f}" if len(results) > 1 else ""), display=False)
glue("records_spread", study_views.looking_spread(read_record(LOOKING), model="baseline") if LOOKING.is_file() and
     dataset == "SYN" and config.profile == "cpu" else "", display=False)
glue("seeds_phrase", f"Over {len(results)} seeds" if len(results) > 1 else f"On seed {results[0]['seed']}",
     display=False)
glue("looking_answer", study_views.looking_answer(read_record(LOOKING)) if LOOKING.is_file() else
     "its record is not made yet (`make looking`).", display=False)
glue("records_agreement", agreement_sentence(config_dict(cfg0), prepared.dataset, results,
                                             config.profile, model="baseline", histories=histories), display=False)
gap = 100 * (stats["s"][0] - stats["u"][0])
glue("gzsl_gap", f"seen-class images are recognised {gap:.1f} points more often than unseen ones once both "
     "compete, the bias towards seen classes that GZSL exposes" if gap > 0 else
     f"unseen classes are recognised {-gap:.1f} points more often than seen ones here", display=False)

# %% [markdown]
# {glue:text}`seeds_phrase`, the baseline reaches a ZSL T1 of
# **{glue:text}`baseline_T1_shown`** on the
# {glue:text}`n_unseen` unseen classes, where guessing would give {glue:text}`chance_t1:.1f`%. In
# GZSL it finds u = {glue:text}`baseline_u:.1f`%, s = {glue:text}`baseline_s:.1f`% and
# H = {glue:text}`baseline_H:.1f`%; {glue:text}`gzsl_gap`. All accuracies are per-class means of the
# last epoch. {glue:text}`records_agreement`
# {glue:text}`records_spread`
#
# The attention model of the following chapters keeps this backbone, loss and evaluation, and adds
# two attended parts, each cut out, zoomed and seen by a backbone of its own. The difference between
# its numbers and these therefore mixes two causes: *where* it looks, and three more backbones that
# see more pixels. Only controls that keep that capacity and change where the squares go (at the
# image centre, at random places, at the annotated parts, or the whole image three times) can tell
# the two apart; without them the difference is not evidence that looking is what helps.
# {doc}`06_where_to_look` runs those controls, with five paired seeds, and answers the question there:
# {glue:text}`looking_answer`

# %% tags=["remove-cell"]

# %% [markdown]
# ## Exercises
#
# ````{exercise} Eq. (7) by hand
# :label: ex-softmax-by-hand
#
# An image of seen class 0 gets the compatibility scores $(2, 0, -1)$ over the three seen classes.
# Compute $L_{CLS}$ of eq. {eq}`eq-cls` by hand. How does it change if the score of the right class
# rises from 2 to 4?
# ````
#
# ````{solution} ex-softmax-by-hand
# :class: dropdown
#
# $L_{CLS} = -\log \frac{e^{2}}{e^{2} + e^{0} + e^{-1}} = \log(1 + e^{-2} + e^{-3}) \approx 0.170$.
# With a score of 4 it becomes $\log(1 + e^{-4} + e^{-5}) \approx 0.025$: the loss keeps pushing
# the right score up, ever more gently, however far ahead it already is. Checked against the
# library:
#
# ```{literalinclude} /book/solutions/02_baseline.py
# :pyobject: softmax_loss_by_hand
# ```
# ````
#
# ````{exercise} Pooling and scoring by hand
# :label: ex-gap-by-hand
#
# A backbone returns two channels on a $2 \times 2$ grid: channel 1 is $\begin{pmatrix} 1 & 3 \\ 0 & 0 \end{pmatrix}$,
# channel 2 is 2 everywhere. With $W = \begin{pmatrix} 1 & -1 \\ 0.5 & 1 \end{pmatrix}$ and a class
# whose semantics are $\phi = (1, 1)$, compute $\theta(x)$ and $s_y$.
# ````
#
# ````{solution} ex-gap-by-hand
# :class: dropdown
#
# $\theta = (1, 2)$ (the means of the channels), $\theta^\top W = (1 + 1, -1 + 2) = (2, 1)$ and
# $s_y = 2 + 1 = 3$. Where in the image channel 1 fired is gone after pooling: that is what the
# attention of the next chapters brings back. Checked with the library's pooling and `Compatibility`:
#
# ```{literalinclude} /book/solutions/02_baseline.py
# :pyobject: baseline_score_by_hand
# ```
# ````
#
# ````{exercise} A new class costs one column
# :label: ex-new-class
#
# Score four images with an untrained `BaselineZSL` against three classes, then against the same
# three and a fourth, new column of $\Phi$. What happens to the first three classes' scores? What
# would change if the model ended in an ordinary classifier layer with one output per training class?
# ````
#
# ````{solution} ex-new-class
# :class: dropdown
#
# They do not move at all (the largest difference is exactly 0): each class's score is one column of
# $\theta^\top W \Phi$. A classifier layer has one row of weights per *training* class, so it has no
# output for a class it was not trained on, which is why the baseline has none.
#
# ```{literalinclude} /book/solutions/02_baseline.py
# :pyobject: new_class_changes_no_other_score
# ```
# ````
#
# ````{exercise} A run that learns nothing (papermill)
# :label: ex-baseline-no-learning
#
# Run this chapter with a learning rate of $10^{-7}$ (it must be positive), one seed:
#
# ```text
# python -m bookkit.chapters 02_baseline -p profile smoke -p seeds '[0]' -p overrides '{lr: 1.0e-07}' --out runs/exercises/ex-baseline-no-learning
# ```
#
# Before you run it: what will the training-loss curve look like, and what can you still say about
# T1? Then run it with `-p profile cpu` too. Recorded times, with the chapter's own runs already
# stored: {glue:text}`run_time_baseline_no_learning_smoke` on `smoke`,
# {glue:text}`run_time_baseline_no_learning_cpu` on `cpu`.
# ````
#
# ````{solution} ex-baseline-no-learning
# :class: dropdown
#
# The steps are a ten-millionth of the usual size, so nothing moves: the loss of the first epoch
# and of the last are the same up to the noise of the random flips and shifts, a flat curve. The
# backbone's pretraining on the seen classes runs with the same learning rate (it is a run of the
# same configuration), so the features are those of a random network and $W$ is random too: T1 now
# says what random features and a random $W$ score, to be compared with chance, not with the
# attributes. The solution runs the chapter and reads its glued values:
#
# ```{literalinclude} /book/solutions/02_baseline.py
# :pyobject: baseline_without_learning
# ```
# ````
#
# ```{admonition} Key takeaways
# :class: important
#
# - The baseline is backbone → GAP → $\theta^\top W \phi(y)$: no layer depends on the set of classes,
#   so unseen ones are scored through their semantics alone.
# - Eq. (7) is a softmax over the **seen** classes' scores only; nothing about unseen classes is used
#   in training, not even in the backbone's pretraining.
# - One function, `train_step`, trains every model in the book; a model brings only its objective.
# - GZSL exposes the bias towards seen classes: compare $s$ with $u$ above.
# ```
