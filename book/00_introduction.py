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
# for Zero-Shot Learning* (Zhu, Xie, Tang, Peng and Elgammal, NeurIPS 2019, arXiv:1903.00502) — one
# equation at a time, with code you can run on a laptop and tests that keep the code honest. No
# official implementation of the paper was ever released; an earlier course reproduction (in
# TensorFlow) reported no accuracy at all. Here every number in the prose is computed by the chapter
# that prints it.
#
# ## Zero-shot learning in one paragraph
#
# A classifier normally recognises only the classes it was trained on. In **zero-shot learning** (ZSL)
# the test images belong to *unseen* classes, of which the model has seen no image; what it has is a
# description of every class — a vector of attributes such as *has head colour red* or *has forked
# tail*, collected in a matrix $\Phi \in \mathbb{R}^{K \times (S+U)}$ with one column $\phi(y)$ per
# class ($S$ seen, $U$ unseen). A model that scores how *compatible* an image is with a description,
#
# ```{math}
# s_y(x) = \theta(x)^\top W \phi(y),
# ```
#
# can score an unseen class as easily as a seen one: it only needs that class's column of $\Phi$.
# In **generalised** zero-shot learning (GZSL) the test set mixes seen and unseen classes and the
# model must choose among all of them.
#
# ## What SGMA adds
#
# Fine-grained classes (200 bird species in CUB) differ in small parts: a head colour, a bill shape.
# Pooling a whole image into one vector $\theta(x)$ dilutes those parts. SGMA learns, with only class
# labels and class semantics for supervision, **where to look**: a multi-attention subnet produces
# two attention maps, a cropping subnet cuts and zooms the two attended parts, and a joint
# feature-learning subnet scores the whole image and both parts against $\Phi$. Four losses train it:
# compactness and diversity of the attention maps, an embedding softmax over seen classes and a
# class-centre triplet loss.
#
# ## Map of the book
#
# | chapter | equations | library module | tests |
# |---|---|---|---|
# | {doc}`01_data` — the ZSL protocol, the real split files, the synthetic dataset | protocol (§6 of METHOD) | `sgma_core/data.py`, `sgma_core/metrics.py`, `data_prep/synthetic.py` | `tests/test_data_real.py`, `tests/test_data_cub_layout.py`, `tests/test_synthetic.py`, `tests/test_metrics.py` |
# | {doc}`02_baseline` — backbone → pooling → $W$ → scores, trained with the embedding softmax | (1), (7) | `sgma_core/baseline.py`, `sgma_core/compatibility.py`, `sgma_core/losses.py`, `sgma_core/training.py` | `tests/test_baseline.py`, `tests/test_training.py` |
# | {doc}`03_sgma_model` — multi-attention, channel grouping, the boxcar crop, joint features, the four losses, the three inference rules | (1)–(11) | `sgma_core/attention.py`, `sgma_core/cropping.py`, `sgma_core/sgma.py`, `sgma_core/losses.py`, `sgma_core/inference.py` | `tests/test_attention.py`, `tests/test_cropping.py`, `tests/test_losses.py`, `tests/test_inference.py`, `tests/test_sgma_model.py` |
# | {doc}`04_sgma_training` — SGMA trained beside the baseline; calibrated stacking on validation classes; attention over training; where it looks | (9), (10), (11) | `sgma_core/experiment.py`, `sgma_core/localization.py` | `tests/test_localization.py`, `tests/test_where_cub.py`, `tests/test_validation_split.py`, `tests/test_regressions.py` |
#
# Running at the paper's scale (the README's "Running the paper's experiments") uses the rest of the
# library: `data_prep/fetch.py` downloads and verifies CUB, AWA2 and FLO (`tests/test_fetch.py`),
# `sgma_core/cache.py` decodes every image once into a memory-mapped cache (`tests/test_cache.py`),
# `sgma_core/train.py` and `sgma_core/distributed.py` train on several GPUs with torchrun
# (`tests/test_distributed.py`), and `sgma_core/benchmark.py` measures training speed against the
# FLOP bound (`tests/test_benchmark.py`, `benchmarks/`).
#
# Chapters read their settings from one **profile** — `smoke` (seconds, used by the tests), `cpu`
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
# .venv/bin/python -m sgma_core.chapters 02_baseline -p profile smoke -p seeds "[0]"
# ```
#
# or with papermill directly, on the notebook that jupytext makes from the chapter's source:
#
# ```text
# .venv/bin/jupytext --to ipynb -o /tmp/02_baseline.ipynb book/02_baseline.md
# .venv/bin/papermill /tmp/02_baseline.ipynb out.ipynb -p profile smoke
# ```
#
# ## The environment that built this page

# %%
import platform

import torch

from sgma_core.paths import data_roots

print(f"python {platform.python_version()}, torch {torch.__version__}, "
      f"CUDA available: {torch.cuda.is_available()}")
print("data roots searched:", ", ".join(str(p) for p in data_roots()))
for name in ("SYN", "CUB", "AWA2", "FLO"):
    found = [str(root / name) for root in data_roots() if (root / name).is_dir()]
    print(f"  {name:5s}", found[0] if found else "not found")
