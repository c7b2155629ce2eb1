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
# zero-shot protocol allows, on **validation classes**, with a rule declared before any number, and
# then runs the paper's own reading of every choice beside the book's.
#
# ```{admonition} In this chapter
# :class: tip
#
# **You will be able to**
# - set up a validation protocol inside the seen classes and declare a selection metric and an
#   adoption rule before looking;
# - read paired differences over seeds and their standard errors, and say when a difference is none;
# - say why test classes may not choose anything, and how far a choice made on them would flatter;
# - check that values adopted one at a time still work together.
#
# **You need** {doc}`04_sgma_training`; mean, standard deviation and standard error.
#
# **Run time**: {glue:text}`run_time_here`; the course guide lists every chapter on every profile.
# ```
#
# **The protocol.** The seen classes are divided into training and validation classes (the
# synthetic birds carry xlsa17-style `train_loc` / `val_loc`; CUB uses the xlsa17 class lists
# `trainclasses1.txt` / `valclasses1.txt`). A *validation model* is trained on the training classes
# only, its backbone pretraining included, and the validation classes play its unseen classes. The
# attention's interacting choices are searched together (below); where the search ends, every value of
# each other choice is trained this way with each seed, one factor at a time. A {term}`reading <Reading>` is one combination
# of settings for the choices the paper leaves open: the paper's reading is the most literal one, the book's
# configuration the one this chapter chooses.
#
# **Declared before any number below was computed.**
#
# - *Metric*: validation **T1**, the per-class top-1 accuracy on the validation classes. For a choice that
#   changes training, T1 of the compat rule; for $\rho$ of eq. {eq}`eq-ridge` and the normalisation of the
#   prototypes, which only change how a trained model scores, T1 of the cct rule, the one rule they act on.
#   Not the uncalibrated $H$: a GZSL $H$ without calibration mostly measures how far a model's scores lean
#   towards the seen classes, a lean that calibrated stacking changes afterwards with one constant, so a
#   choice made on it can reward a lean rather than a better model. T1 asks only whether the unseen
#   classes are told apart. How noisy each of the two is over seeds is measured below, not assumed.
# - *Adoption rule*: a value replaces another only if its gain, paired by seed, has a mean larger than
#   **two standard errors** (sample standard deviation, ddof = 1, over $\sqrt{n}$), and only if its
#   attention passes the check below (*admissible*). Of several such values, the one with the largest mean
#   gain. A gain within two standard errors is *no difference*, and the value in place stays. In the
#   search of the attention's choices the value in place is the search's current reading; for each other
#   choice it is the choice's **reference**, the paper's reading of it (the search's value where the paper
#   gives none).
# - $\rho$, which the paper does not give, is tuned: for each prototype normalisation, the $\rho$ of
#   best mean validation T1; the normalisation, which is a reading of the paper, must then pass the rule.
#
# The test classes are used once, at the end, for the book's configuration and for the paper's
# reading; they choose nothing.
#
# The chapter renders a stored record, `results/ablations-<profile>.json`, written by
# `make ablations` (`python -m sgma_core.studies.ablate`); executing it trains nothing. The
# choices recorded for the `cpu` profile on the synthetic birds are `RunConfig`'s defaults, and so every
# profile's (a test keeps the two equal), except the branches' input size (`joint_size`), which each profile
# sets for its own image size. The `paper` profile and the real datasets carry them
# over until `make ablations PROFILE=paper ABLATE_DATASET=CUB` (or AWA2, FLO) is run on a GPU with their own validation classes
# (CUB's class lists, AWA2's and FLO's `train_loc` / `val_loc`); a dataset without validation
# classes can only carry them over.

# %% tags=["parameters"]
record_path = None  # None: results/ablations-cpu.json in the repository
data_root = None  # None: $SGMA_DATA_ROOT, else <repo>/data (to check that the record was made on the data there)

# %% tags=["hide-input"]
from pathlib import Path

import matplotlib.pyplot as plt

from bookkit import ablation_views
from bookkit.display import (code_check, glue, markdown_table, record_code_note, record_config_note,
                             record_data_note, show_markdown)
from bookkit.figures import subplots
from bookkit.run_times import glue_run_times
from bookkit.wording import seeds_text, setting_value
from sgma_core.paths import repo_root
from sgma_core.records import config_drift
from sgma_core.studies.ablate import SELECTION, read_record
from sgma_core.studies.power import read_record as read_power

glue_run_times("05_open_choices")

path = repo_root() / "results" / "ablations-cpu.json" if record_path is None else Path(record_path)
record = read_record(path) if path.is_file() else None
if record is None:
    print(f"No record at {path}: run `make ablations` to make it (hours on two cores; the README says how long "
          "the committed record took).")
    for name in ("provenance", "validation_split", "record_data_note", "record_config_note", "noise_sentence",
                 "book_val_sentence", "test_sentence"):
        glue(name, "no record yet" if name not in ("record_data_note", "record_config_note") else "", display=False)
else:
    assert record["selection_metric"] == SELECTION, "the record was chosen with another selection metric"
    prov, val = record["provenance"], record["validation"]
    glue("provenance", f"the {prov['profile']} profile on the synthetic birds ({prov['dataset']}), "
         f"{seeds_text(prov['seeds'])}, commit {prov['commit']}, {prov['date']}, {prov['machine']}: "
         f"{prov['sgma_runs']} SGMA runs whose epochs took {prov['sgma_training_seconds'] / 60:.0f} minutes in all",
         display=False)
    glue("validation_split", f"{val['classes_seen']} training classes ({val['images_train']} images) and "
         f"{val['classes_unseen']} validation classes", display=False)
    glue("record_data_note", record_data_note(record, data_root, "make ablations remakes it (its runs are reused "
                                              "where the data is the same)."), display=False)
    config_note = record_config_note(
        config_drift({**prov["config"], **record["chosen"]}, prov["profile"]), prov["profile"],
        "book's configuration (the starting settings with the choices below)",
        "make ablations remakes the record with this commit's settings.")
    code_note = record_code_note(record, "Running make ablations RETRAIN=1 trains those runs again with this commit's "
                                 "library.",
                                 code_check(prov["profile"]), "ablations")
    glue("record_config_note", f"{config_note} {code_note}".strip(),
         display=False)
    noise = ablation_views.metric_noise(record)
    steadier = "T1" if noise["se_T1"] < noise["se_H"] else "uncalibrated H"
    glue("noise_sentence", f"Over the one-factor comparisons below, the median standard error of a paired "
         f"difference is {noise['se_T1']:.1f} points in validation T1 and {noise['se_H']:.1f} points in "
         f"uncalibrated validation H; {'the searched reading' if 'search' in record else 'the starting configuration'}'s "
         f"own spread over the seeds is {noise['sd_T1']:.1f} "
         f"points of T1 and {noise['sd_H']:.1f} of H (sample standard deviations). By the paired standard errors, "
         f"{steadier} is the steadier here" + ("." if steadier == "T1" else ": T1 was chosen for what it measures, "
         "not for its noise, and the rule's two standard errors are what keep that noise from choosing."),
         display=False)

# %% [markdown]
# The record below was made with {glue:text}`provenance`. Its validation models see
# {glue:text}`validation_split`. {glue:text}`record_data_note` {glue:text}`record_config_note`
#
# **How noisy are the two metrics?** {glue:text}`noise_sentence`
#
# ## The attention's choices, searched together
#
# The attention's choices interact: what one does depends on the others (a normalisation changes what
# training does to the maps, a centre rule follows whatever the maps show, and the branches' input size
# sets the resolution at which both the parts and the whole image are seen). They are decided together, among
# {term}`admissible <Admissible>` readings only: a reading is a candidate when its attention passes a functional check on
# validation images by the mean over its seeds (`sgma_core.admissibility`): {glue:text}`check_bars`.
#
# {glue:text}`search_grid` The branches' input size (`joint_size`) has two values: half the image, the paper's
# ratio, at which the global branch sees the whole image shrunk by half while its backbone was pretrained on
# whole images at full size; and the image's own size, at which the global branch sees the image as its
# backbone was pretrained and each square is zoomed to that size, as RA-CNN and MA-CNN zoom their parts. The
# start is the paper's reading with eq. (3)'s map standardised and the branches at
# half the image (the paper's ratio), not the paper's reading itself: a reading whose maps collapse (chapter
# {doc}`04_sgma_training`) cannot be where a search among admissible readings starts, so the literal eq. (3) is one of
# its neighbours. A *neighbour* is the same reading with one choice changed; each is trained with every seed.
# Among the admissible neighbours whose paired validation-T1 gain over the current reading exceeds two standard
# errors, the search moves to the one of largest mean gain, tests the new reading against all of its
# neighbours in turn, and stops where none beats it. A start that is not admissible gives way to its admissible
# neighbour of best mean T1 whatever the gain, since an inadmissible reading cannot stay. Where no neighbour is
# admissible either, the search widens one change at a time: it trains every reading two changes away and takes the
# admissible one of best mean T1, else every reading three changes away, and so on; only where no reading of the
# grid is admissible does it stop and say so. A reading whose
# attention dies is shown with its check and never moved to, however it scores; a reading that cannot train
# is listed with the reason.

# %% tags=["hide-input"]
from bookkit import search_views

glue("check_bars", search_views.bars_sentence(), display=False)
glue("one_factor_base", "the settings where the search ended" if record is not None and "search" in record else
     "the starting settings (this record was made before the attention's choices were searched together)",
     display=False)
if record is not None and "search" in record:
    glue("search_grid", search_views.grid_sentence(record), display=False)
    glue("search_sentence", " ".join(filter(None, [search_views.search_sentence(record),
                                                   search_views.price_sentence(record),
                                                   search_views.alike_sentence(record)])), display=False)
    show_markdown(markdown_table(["round", "reading", "validation T1 (%)", "gain (points, ± SE; verdict)",
                                  "attention check (mean over seeds)", "admissible"],
                                 search_views.search_rows(record)))
else:
    glue("search_grid", "The record rendered here does not say which values the search tried.", display=False)
    glue("search_sentence", "The record rendered here was made before the attention's choices were searched "
         "together; `make ablations` remakes it with the search (its ledger keeps each finished run).",
         display=False)

# %% [markdown]
# In the check column, *distinct* is the number of distinct pairs of square positions over the validation
# images, as a share of the images; *cells* the share of images whose two maps peak at different cells; *hits*
# the share of squares within the hit radius of a telling part, and *fixed* the same for the best single point
# placed in every image. A radius alone cannot tell looking from not looking on wide
# birds near the middle of the image ({doc}`06_where_to_look`); set against the best fixed point it can. At
# `grouping_smoothing = 0` the exact 0/1 targets of eq. {eq}`eq-grouping` saturate the heads' sigmoids, so under the
# peak rule and the fixed standardisation, training only the heads gives eqs. (5)–(6) little more to move than training
# nothing does (chapter {doc}`04_sgma_training` measures the saturation; the search's rows for `heads` and `none` show what it
# does to validation T1); the learned scale and shift of `standardize_learned`, and under the learned rule the square's
# own offsets, train as well.
#
# {glue:text}`search_sentence`
#
# Every other reading trained on the validation classes below (the one-factor values where the search ended, the
# paper's reading, the book's configuration) is checked the same way, and a one-factor value whose attention
# fails its check is not adopted whatever its gain. {glue:text}`checks_sentence`

# %% tags=["hide-input"]
if record is not None and record.get("checks"):
    glue("checks_sentence", "The record keeps every check:", display=False)
    show_markdown(markdown_table(["setting", "value", "seeds", "attention check (mean over seeds)", "admissible"],
                                 search_views.check_rows(record)))
else:
    glue("checks_sentence", "The record rendered here keeps no checks.", display=False)
glue("margin_sentence", (search_views.margin_sentence(record) if record is not None else "")
     or "The record rendered here keeps no check of the book's configuration on several seeds.", display=False)

# %% [markdown]
# **How far above a fixed point?** {glue:text}`margin_sentence`
#
# ## The choices that change training
#
# Each row of the figure is one value set against its choice's reference, everything else at
# {glue:text}`one_factor_base`: the mean of its validation-T1 gains over the seeds, paired by seed, with two
# standard errors either side. Green: the rule's "higher"; red: "lower"; grey: no difference.

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-ablation-training", "caption": "Paired validation-T1 gain of every value over its choice's reference (the paper's reading), mean over the seeds with two standard errors: a bar that crosses zero is no difference, and only a green one could replace the reference."}}
if record is not None:
    n = sum(len(d["gains"]) for d in record["decisions"].values())
    fig, ax = subplots(height=0.28 * n + 1.0)
    ablation_views.plot_gains(ax, record)
    fig.tight_layout()
    plt.show()

# %% tags=["hide-input"]
if record is not None:
    show_markdown(markdown_table(["setting", "value", "role", "val T1 (%), mean ± sd", "paired gain (points)",
                                  "verdict"], ablation_views.decision_rows(record)))

# %% [markdown]
# **Power on five seeds.** {glue:text}`power_sentence`
#
# **Power on more seeds.** {glue:text}`power_study_sentence`

# %% tags=["remove-cell"]
from bookkit import power_views

power_path = path.with_name(path.name.replace("ablations-", "power-", 1))  # the power study's record beside it
power_record = read_power(power_path) if power_path.is_file() and power_path != path else None
glue("power_sentence", (power_views.power_sentence(record) if record is not None else "")
     or "The record rendered here holds no adopted values' gains.", display=False)
glue("power_study_sentence", power_views.power_study_sentence(power_record, record) if record is not None
     else "There is no ablation record here, so no power study of its decisions.", display=False)
glue("schedule_sentence", (search_views.schedule_sentence(record) if record is not None else "")
     or "The record rendered here does not keep what the learning-rate schedule did in each run.", display=False)

# %% tags=["hide-input"]
if power_views.power_rows(power_record, record):
    show_markdown(markdown_table(["comparison", "the value was", "gain on 5 seeds", "seeds now", "gain on them",
                                  "where it stands"], power_views.power_rows(power_record, record)))

# %% [markdown]
# **What the schedule sees.** {glue:text}`schedule_sentence`
#
# **Together.** Values adopted one at a time are trained together on the same validation classes
# (the book's configuration), checked again (values whose attention passes alone may not pass together:
# then the searched reading stays), and compared, paired by seed, with where the search ended and with the
# paper's reading:

# %% tags=["hide-input"]
if record is not None:
    b = record["book_on_validation"]
    changes = ", ".join(f"`{k} = {v!r}`" for k, v in b["settings"].items()) or "none: every reference kept"
    refused = f" (the values adopted one by one, {b['refused']['settings']}, cannot train together: " \
              f"{b['refused']['reason']})" if b.get("refused") else ""
    if b.get("inadmissible"):
        together = ", ".join(f"{k} = {setting_value(v)}" for k, v in b["inadmissible"]["settings"].items())
        refused += (f" (the values adopted one by one, {together}, fail the attention check together, "
                    f"{search_views.admissible_text(b['inadmissible']['check'])[4:]}, with "
                    f"{ablation_views.points(b['inadmissible']['vs_searched'])} points of validation T1 over the "
                    "searched reading: the searched reading is kept)")
    searched = "vs_searched" in b  # a record made with the search: the one-factor step starts where it ended
    before = b["vs_searched"] if searched else b["vs_start"]
    paper = (f"minus the paper's reading: {ablation_views.points(b['vs_paper_reading'])} points "
             f"({ablation_views.verdict(b['vs_paper_reading'])})")
    if b["settings"] or refused:
        glue("book_val_sentence", f"The changes from {'where the search ended' if searched else 'the starting settings'}"
             f": {changes}{refused}. Validation T1 of the book's configuration minus "
             f"{'the searched one' if searched else 'the starting one'}: {ablation_views.points(before)} points "
             f"({ablation_views.verdict(before)}); {paper}.", display=False)
    else:  # nothing adopted: the book's configuration is the reading the search ended at, the same runs
        glue("book_val_sentence", "No value was adopted one at a time, so the book's configuration is "
             f"{'the reading the search ended at' if searched else 'the starting one'}, the same runs; its validation T1 "
             f"{paper}.", display=False)

# %% [markdown]
# {glue:text}`book_val_sentence`
#
# **The search again, at those values.** {glue:text}`retest_sentence`

# %% tags=["hide-input"]
glue("retest_sentence", (search_views.retest_sentence(record) if record is not None else "") or
     "The record rendered here was made before the search went on at the adopted training values; `make ablations` "
     "remakes it (its ledger keeps each finished run).", display=False)
if record is not None and record.get("retest"):
    show_markdown(markdown_table(["round", "reading", "validation T1 (%)", "gain (points, ± SE; verdict)",
                                  "attention check (mean over seeds)", "admissible"],
                                 search_views.search_rows(record, "retest")))

# %% [markdown]
# ## The choices that only change scoring
#
# Eq. {eq}`eq-ridge` builds the unseen prototypes from the seen ones with a ridge penalty $\rho$,
# and the cct rule scores an image by the inner product of its embedding with them. The embedding
# lies on the unit sphere (eq. {eq}`eq-cct` trains it there); the prototypes do not, and a large
# $\rho$ shrinks the unseen ones. Normalising the prototypes makes the scores cosines. The two are
# decided together, on the validation models of the book's configuration: every pair is scored.

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-ablation-scoring", "caption": "Validation T1 of the cct rule as the ridge penalty \u03c1 of eq. (10) varies, with raw and with unit-length prototypes (mean over seeds, \u00b1 one standard error)."}}
if record is not None and record["scoring"]:
    fig, ax = subplots(height=3.0)
    search_views.scoring_curves(ax, record)
    fig.tight_layout()
    plt.show()

# %% tags=["hide-input"]
if record is not None and record["scoring"]:
    s = record["scoring"]
    rows = [[search_views.point_text(s["reference"], code=True) + " (reference: the paper's normalisation at its best ρ)",
             "–", ""]]
    rows += [[search_views.point_text(g["value"], code=True), ablation_views.points(g["gain"]),
              ablation_views.verdict(g["gain"])] for g in s["gains"]]
    show_markdown(markdown_table(["scoring", "paired gain in cct val T1 (points)", "verdict"], rows)
                  + f"\n\nAdopted: {search_views.point_text(s['adopted'], code=True)}.")

# %% [markdown]
# The compat rule does not use the prototypes, so these choices can only move the cct and combined
# rules.
#
# ## The book's configuration and the paper's reading, on the test classes
#
# The paper's reading here is every flag as the paper gives it, and, for $\rho$, which the paper does
# not give, the value its own normalisation of the prototypes scores best at on validation classes (the
# reference of the scoring step above): {glue:text}`paper_rho`. Both were trained with every seed on all seen classes and scored
# once on the test classes of the synthetic birds; these numbers are reported, not used to choose again.

# %% tags=["hide-input"]
if record is not None:
    glue("paper_rho", f"ρ = {record['paper_reading_as_run']['ridge_lambda']:g}", display=False)
    show_markdown("**Synthetic birds, test classes, this book's runs** (the paper's reading as run here, not the "
                  "paper's published numbers)\n\n"
                  + markdown_table(["rule", "metric", "book's configuration, synthetic (%, mean ± sd)",
                                    "paper's reading run here, synthetic (%, mean ± sd)",
                                    "paired difference (points, mean ± SE)", "verdict"], ablation_views.test_rows(record)))
    rows = ablation_views.test_rows(record)
    glue("test_sentence", f"On the synthetic birds' test classes the book's configuration minus the paper's "
         f"reading is {rows[0][4]} points of T1 ({rows[0][5]}) and {rows[3][4]} points of H ({rows[3][5]}) with the "
         f"compat rule ({len(record['provenance']['seeds'])} paired seeds, each model scored after its last epoch, "
         "not at an epoch chosen afterwards).", display=False)
else:
    glue("paper_rho", "no record yet", display=False)

# %% [markdown]
# {glue:text}`test_sentence`
#
# ## Every flag in one table
#
# What the paper (as the course reproduction {cite}`arriaza2020reproduction` reads it) says or implies,
# what this book uses, and the validation evidence for any departure from it. Under it, the constant γ that
# calibrated stacking subtracts from the seen classes' scores in GZSL (chapter {doc}`04_sgma_training`), chosen
# on the same validation models for each rule.

# %% tags=["hide-input"]
if record is not None:
    show_markdown(markdown_table(["setting", "paper's reading", "book's value", "evidence"], ablation_views.flag_rows(record)))
    gammas = ", ".join(f"{rule} {g:.2f}" for rule, g in record["calibration_gamma"].items())
    print(f"calibrated stacking's γ chosen on the same validation models (mean over seeds): {gammas}")

# %% [markdown]
# ## Exercises
#
# ````{exercise} The adoption rule by hand
# :label: ex-choose
#
# Five seeds, `cct_margin` 0.4 against the paper's 0.8: with 0.8 the validation T1 are 0.60, 0.52,
# 0.66, 0.58, 0.55; with 0.4 they are 0.64, 0.50, 0.71, 0.59, 0.57. Does the chapter's rule replace
# the paper's value?
# ````
#
# ````{solution} ex-choose
# :class: dropdown
#
# The paired gains are 0.04, −0.02, 0.05, 0.01, 0.02: mean 0.02, sample standard deviation 0.027,
# standard error 0.027 / √5 = 0.012. The mean is less than two standard errors (0.024): no difference,
# and the paper's 0.8 stays, although 0.4 is ahead on average. The library's `decide` agrees:
#
# ```{literalinclude} /book/solutions/05_open_choices.py
# :pyobject: choose_by_hand
# ```
# ````
#
# ````{exercise} Why the test classes choose nothing
# :label: ex-best-of-many
#
# Twenty settings are equally good: each recognises every image with probability 0.5. Each is
# measured once on the same 50 classes of 20 images. You pick the best and report its measured
# accuracy. Simulate it: what do you report on average, and what would the chosen setting score on
# fresh classes?
# ````
#
# ````{solution} ex-best-of-many
# :class: dropdown
#
# About 0.53 is reported for a true 0.50: the maximum of twenty noisy measurements is biased upwards,
# and on fresh classes the chosen setting scores 0.50 again. Choosing on the classes you report turns
# noise into a gain that is not there; validation classes keep the test number honest:
#
# ```{literalinclude} /book/solutions/05_open_choices.py
# :pyobject: best_of_many_on_test
# ```
# ````
#
# ````{exercise} Is a difference larger than the seeds' spread?
# :label: ex-paired
#
# The book's configuration and the paper's reading reach validation $H$ of 0.62, 0.55, 0.60 and 0.58,
# 0.54, 0.55 with seeds 0, 1, 2. Compute the mean difference and its standard error, once pairing
# the runs by seed and once not. Which is right here, and why?
# ````
#
# ````{solution} ex-paired
# :class: dropdown
#
# The differences per seed are 0.04, 0.01, 0.05: mean 0.033 with a standard error of 0.012 when
# paired, against 0.024 unpaired. Both runs of one seed share its backbone pretraining, data order and
# initialisation, so the pairing removes what the seeds share, and the paired standard error is the
# right one: the difference is almost three standard errors, though three seeds are few.
#
# ```{literalinclude} /book/solutions/05_open_choices.py
# :pyobject: paired_difference
# ```
# ````
#
# ````{exercise} A weight on a term that trains nothing
# :label: ex-frozen-weight
#
# With `attention_training = "none"` the maps are computed without a gradient. (a) Which parameters does
# $\lambda L_{DIV}$ send a gradient to? (b) Over four epochs $L_{CPT} = 0.1$ and $L_{DIV} = 8.0$ stay put,
# while $\alpha L_{CLS} + \beta L_{CCT}$ falls 0.6, 0.45, 0.35, 0.3. The schedule cuts the learning rate when
# the epoch's loss has not fallen 5 % below its best for two epochs in a row. After which epoch is it cut with
# $\lambda = 1$, and with $\lambda = 0.1$? (c) With the attention frozen, through what alone can a change of
# $\lambda$ move a validation score?
# ````
#
# ````{solution} ex-frozen-weight
# :class: dropdown
#
# (a) None: $L_{DIV}$ depends only on the maps, and nothing that makes them trains. (b) With $\lambda = 1$
# the losses are 8.7, 8.55, 8.45, 8.4: none is 5 % below 8.7, and the rate is cut after epoch 3. With
# $\lambda = 0.1$ they are 1.5, 1.35, 1.25, 1.2: the second and third fall more than 5 % below the best so
# far, the fourth does not, and a cut needs two such epochs in a row: none comes in these four. (c) Only through the
# schedule: a smaller $\lambda$ lets the loss it reads fall faster, so the rest of the model keeps the higher learning
# rate for longer. "What the schedule sees" above gives the epoch of the first cut for each value that moved it, on
# the record's runs. Torch's own schedule, with the cpu profile's settings:
#
# ```{literalinclude} /book/solutions/05_open_choices.py
# :pyobject: plateau_cuts
# ```
# ````
#
# ````{exercise} A smoke-sized ablation of your own
# :label: ex-own-ablation
#
# Decide `cct_margin` between the paper's 0.8 and 0.4 on validation classes with the smoke profile and
# two seeds, by calling `run_ablations` with a one-entry training grid and an empty scoring grid, then render
# this chapter with the record it writes (`-p record_path …`). Which parts of the chapter change, and
# which must not?
# ````
#
# ````{solution} ex-own-ablation
# :class: dropdown
#
# The provenance names the smoke profile, two seeds and the grid; the figure and the tables hold one
# choice. What must not change is the protocol: the margin is decided on the validation classes by the
# declared rule, and the test classes are scored once, for the book's configuration and for the paper's
# reading. With two seeds a standard error rests on one degree of freedom, so 0.4 almost never passes
# the rule. The solution (run by the tests on a tiny dataset) checks the record's decision against the
# rule applied by hand:
#
# ```{literalinclude} /book/solutions/05_open_choices.py
# :pyobject: own_ablation
# ```
# ````
#
# ```{admonition} Key takeaways
# :class: important
#
# - Every open choice is decided on validation classes with a metric and an adoption rule declared
#   beforehand; the test classes are scored once, for the book's configuration and for the paper's reading.
# - The attention's interacting choices are searched together among admissible readings only: a reading whose
#   attention dies is shown and never chosen, however it scores (admissible before preferred).
# - For every other choice the paper's reading is the reference: a value replaces it only when its paired gain exceeds
#   two standard errors (anything less is no difference) and its attention passes the check.
# - Values adopted one at a time are trained together before they become the book's configuration.
# - A choice made on the test classes would flatter the reported number.
# ```
