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
# # What the paper leaves open, decided on validation classes
#
# The paper describes SGMA in a few pages, and many choices that change its numbers are not in them:
# how eq. {eq}`eq-map` keeps its sigmoid out of saturation, what the attention losses may train,
# which negative centres eq. {eq}`eq-cct` uses, the weights of eq. {eq}`eq-total`, the ridge penalty
# of eq. {eq}`eq-ridge`, whether training alternates. This chapter decides each of them the way the
# zero-shot protocol allows, on **validation classes**, and then runs the paper's own reading of
# every choice beside the book's.
#
# **The protocol.** The seen classes are divided into training and validation classes (the
# synthetic birds carry xlsa17-style `train_loc` / `val_loc`; CUB uses the xlsa17 class lists
# `trainclasses1.txt` / `valclasses1.txt`). A *validation model* is trained on the training classes
# only, its backbone pretraining included, and the validation classes play its unseen classes. One
# factor at a time, starting from the current defaults, every value of every choice is trained this
# way with each seed. **The selection metric, fixed before any number below was computed:** for a
# choice that changes training, the validation $H$ of the compat rule, averaged over seeds, ties
# broken by validation T1; for a choice that only changes how a trained model scores (the ridge
# penalty $\rho$, normalising the prototypes), the validation $H$ of the cct rule, which is the rule
# they act on. The test classes are used once, at the end, for the book's configuration and for the
# paper's reading; they choose nothing.
#
# The chapter renders a stored record, `results/ablations-<profile>.json`, written by
# `make ablations` (`python -m sgma_core.experiment.ablate`); executing it trains nothing. The
# choices recorded for the `cpu` profile on the synthetic birds are the defaults of every profile
# (`RunConfig`, and a test keeps the two equal). The `paper` profile and the real datasets carry them
# over until `make ablations PROFILE=paper ABLATE_DATASET=CUB` (or AWA2, FLO) is run on a GPU with their own validation classes
# (CUB's class lists, AWA2's and FLO's `train_loc` / `val_loc`); a dataset without validation
# classes can only carry them over.

# %% tags=["parameters"]
record_path = None  # None: results/ablations-cpu.json in the repository

# %% tags=["hide-input"]
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sgma_core.chapters import glue, markdown_table, show_markdown
from sgma_core.experiment.ablate import SELECTION, read_record
from sgma_core.paths import repo_root
from sgma_core.profiles import PAPER_READING

path = repo_root() / "results" / "ablations-cpu.json" if record_path is None else Path(record_path)
record = read_record(path) if path.is_file() else None
if record is None:
    print(f"No record at {path}: run `make ablations` (about an hour on two cores) to make it.")
    glue("provenance", "no record yet", display=False)
    glue("validation_split", "nothing yet", display=False)
else:
    assert record["selection_metric"] == SELECTION, "the record was chosen with another selection metric"
    prov = record["provenance"]
    val = record["validation"]
    glue("provenance", f"the {prov['profile']} profile on {prov['dataset']}, seeds {prov['seeds']}, commit "
         f"{prov['commit']}, {prov['date']}, {prov['machine']}: {prov['sgma_runs']} SGMA runs whose epochs took "
         f"{prov['sgma_training_seconds'] / 60:.0f} minutes in all (backbone pretraining and evaluation besides; "
         f"this last pass over the stored runs took {prov['seconds'] / 60:.0f} minutes)", display=False)
    glue("validation_split", f"{val['classes_seen']} training classes ({val['images_train']} images) and "
         f"{val['classes_unseen']} validation classes", display=False)
    print(f"record: {path.relative_to(repo_root()) if path.is_relative_to(repo_root()) else path}, "
          f"{len(record['runs'])} rows")


# %% [markdown]
# The record below was made with {glue:text}`provenance`. Its validation models see
# {glue:text}`validation_split`.
#
# ## The choices that change training
#
# Each panel is one choice: the validation $H$ of the compat rule for each value (mean over seeds,
# the bar; one dot per seed), the value chosen one factor at a time filled, the paper's reading
# outlined in black.

# %% tags=["hide-input"]
def stats(setting, value, rule, split="val", metric="H"):
    vals = [r[metric] for r in record["runs"] if r["setting"] == setting and r["value"] == value
            and r["rule"] == rule and r["split"] == split]
    return 100 * np.mean(vals), 100 * np.std(vals), [100 * v for v in vals]


if record is not None:
    grid = record["grids"]["training"]
    fig, axes = plt.subplots(2, 5, figsize=(7, 4.2), sharey=True)
    for ax, (setting, values) in zip(axes.ravel(), grid.items()):
        for i, value in enumerate(values):
            mean, std, per_seed = stats(setting, value, "compat")
            chosen = value == record["one_factor"][setting]
            paper = value == PAPER_READING.get(setting, record["defaults"][setting])
            ax.bar(i, mean, yerr=std, color="C0" if chosen else "0.85", edgecolor="black" if paper else "none",
                   linewidth=1.2, capsize=2)
            ax.plot([i] * len(per_seed), per_seed, ".", color="0.3", ms=3)
        ax.set_xticks(range(len(values)), [str(v).replace("standardize", "std")[:9] for v in values], rotation=45,
                      ha="right", fontsize=7)
        ax.set_title(setting, fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("validation H (%)", fontsize=8)
    fig.tight_layout()
    plt.show()

# %% [markdown]
# One factor at a time assumes that the choices do not interact. The values chosen one by one are
# therefore trained together too, on the same validation classes, and the combination is kept only
# if its validation $H$ is at least that of the best single change; otherwise that single change is
# the book's configuration:

# %% tags=["hide-input"]
if record is not None:
    comb = record["combination"]
    single = comb["best_single"]
    changes = ", ".join(f"`{s} = {v!r}`" for s, v in comb["settings"].items()) or "none (every default kept)"
    show_markdown(markdown_table(["configuration", "val H (%)", "val T1 (%)"], [
        [f"the values chosen one by one, together: {changes}", f"{100 * comb['val_H_T1'][0]:.1f}",
         f"{100 * comb['val_H_T1'][1]:.1f}"],
        [f"the best single change, `{single['setting']} = {single['value']!r}`", f"{100 * single['val_H_T1'][0]:.1f}",
         f"{100 * single['val_H_T1'][1]:.1f}"]]) + f"\n\nKept: the **{comb['kept']}**.")


# %% tags=["hide-input"]
def cell(setting, value, rule, metric="H"):
    mean, std, _ = stats(setting, value, rule, metric=metric)
    return f"{mean:.1f} ± {std:.1f}"


if record is not None:
    rows = []
    for setting, values in record["grids"]["training"].items():
        for value in values:
            mark = " **(chosen)**" if value == record["one_factor"][setting] else ""
            paper = " (paper)" if value == PAPER_READING.get(setting, record["defaults"][setting]) else ""
            rows.append([f"`{setting}`", f"`{value!r}`{mark}{paper}", cell(setting, value, "compat"),
                         cell(setting, value, "compat", "T1")])
    show_markdown(markdown_table(["setting", "value", "val H (%)", "val T1 (%)"], rows))

# %% [markdown]
# ## The choices that only change scoring
#
# Eq. {eq}`eq-ridge` builds the unseen prototypes from the seen ones with a ridge penalty $\rho$,
# and the cct rule scores an image by the inner product of its embedding with them. The embedding
# lies on the unit sphere (eq. {eq}`eq-cct` trains it there); the prototypes do not, and a large
# $\rho$ shrinks the unseen ones, so that in GZSL they lose every comparison with the seen ones.
# Normalising the prototypes makes the scores cosines. Both are measured on the validation models of
# the book's configuration (the one kept above), each with the other at its default:

# %% tags=["hide-input"]
if record is not None:
    inference = record["grids"]["inference"]
    fig, ax = plt.subplots(figsize=(5.5, 3))
    for setting, values in inference.items():
        if setting == "ridge_lambda":
            means = [stats(setting, v, "cct")[0] for v in values]
            order = np.argsort(values)
            ax.semilogx(np.array(values)[order], np.array(means)[order], "o-",
                        label="raw prototypes, varying ρ (other settings at their defaults)")
    for value in inference.get("prototype_norm", []):
        mean, std, _ = stats("prototype_norm", value, "cct")
        ax.errorbar([record["defaults"]["ridge_lambda"]], [mean], yerr=[std], fmt="s", capsize=3,
                    label=f"prototype_norm = {value}, ρ = {record['defaults']['ridge_lambda']:g}")
    ax.set_xlabel("ridge penalty ρ of eq. (10)")
    ax.set_ylabel("validation H (%), cct rule")
    ax.legend(fontsize=7)
    fig.tight_layout()
    plt.show()
    rows = [[f"`{s}`", f"`{v!r}`" + (" **(chosen)**" if v == record["chosen"][s] else ""), cell(s, v, "cct"),
             cell(s, v, "combined"), cell(s, v, "compat")] for s, vals in inference.items() for v in vals]
    show_markdown(markdown_table(["setting", "value", "val H cct (%)", "val H combined (%)", "val H compat (%)"],
                                 rows))

# %% [markdown]
# The compat rule does not use the prototypes, so its column stays the same down the table: these
# choices can only move the cct and combined rules.
#
# ## The book's configuration and the paper's reading, on the test classes
#
# The book's configuration takes every chosen value at once. One factor at a time assumes the
# choices do not interact much; the numbers below are the only place where the combination meets
# data, and they come from the test classes, so they are reported, not used to choose again.

# %% tags=["hide-input"]
if record is not None:
    rows = []
    for rule in ("compat", "cct", "combined"):
        for metric in ("T1", "u", "s", "H"):
            book = [100 * r[metric] for r in record["runs"] if r["setting"] == "BOOK" and r["rule"] == rule]
            paper = [100 * r[metric] for r in record["runs"] if r["setting"] == "PAPER_READING"
                     and r["rule"] == rule and r["split"] == "test"]
            rows.append([rule, metric, f"{np.mean(book):.1f} ± {np.std(book):.1f}",
                         f"{np.mean(paper):.1f} ± {np.std(paper):.1f}"])
    show_markdown(markdown_table(["rule", "metric", "book's configuration", "paper's reading"], rows))
    book_h = np.mean([r["H"] for r in record["runs"] if r["setting"] == "BOOK" and r["rule"] == "compat"])
    paper_h = np.mean([r["H"] for r in record["runs"] if r["setting"] == "PAPER_READING" and r["rule"] == "compat"
                       and r["split"] == "test"])
    glue("test_sentence", f"On the test classes the book's configuration reaches a GZSL H of {100 * book_h:.1f}% "
         f"with the compat rule, the paper's reading {100 * paper_h:.1f}% (synthetic birds, mean over "
         f"{len(record['provenance']['seeds'])} seeds, last epoch).", display=False)
else:
    glue("test_sentence", "No record yet: run `make ablations`.", display=False)

# %% [markdown]
# {glue:text}`test_sentence`
#
# ## Every flag in one table
#
# What the paper (as the course reproduction {cite}`arriaza2020reproduction` reads it) says or implies, what this book uses, and the
# validation evidence: the mean validation $H$ of each (compat rule for training choices, cct rule
# for scoring choices).

# %% tags=["hide-input"]
if record is not None:
    rows = []
    for setting, chosen in record["chosen"].items():
        rule = "cct" if setting in record["grids"]["inference"] else "compat"
        paper = PAPER_READING.get(setting, record["defaults"][setting])
        paper_h = cell(setting, paper, rule) if paper in (record["grids"]["training"].get(setting) or
                                                          record["grids"]["inference"].get(setting) or []) else "–"
        rows.append([f"`{setting}`", f"`{paper!r}`", f"`{chosen!r}`", f"{cell(setting, chosen, rule)} vs {paper_h}"])
    show_markdown(markdown_table(["setting", "paper's reading", "book's choice", "val H (%): book vs paper"], rows))
    gammas = ", ".join(f"{rule} {g:.2f}" for rule, g in record["calibration_gamma"].items())
    print(f"calibrated stacking's γ chosen on the same validation models (mean over seeds): {gammas}")
