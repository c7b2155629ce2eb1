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
# # Does SGMA learn where to look, and does it matter?
#
# The paper's title makes two claims at once: that SGMA's attention finds the parts of a bird that tell
# its class, and that looking there is why it recognises unseen classes better than a model that does
# not look. Chapter {doc}`04_sgma_training` showed where the squares go; this chapter asks both questions
# with **controls**: the same model, the same seeds, the same training, with one thing changed about
# where the two squares go or what trains the attention. A control is the book's model with one setting
# changed (`centre_rule`, `part_scale`, `attention_training`, `beta_cct`), trained on the same seeds; the paper's
# literal reading sets every setting of the attention as the paper reads it, however many that changes, and the
# baselines are the model of chapter 02.
#
# ```{admonition} In this chapter
# :class: tip
#
# **You will be able to**
# - name the control that answers each question about attention, and what each one removes;
# - score where a square lands with a measure that a fixed point fails;
# - read a paired difference and its standard error, and call a difference within two standard errors
#   "no difference";
# - say what the oracle control is a reference for, and why controls must come before any claim that
#   attention helps.
#
# **You need** {doc}`04_sgma_training`, {doc}`05_open_choices`.
#
# **Run time**: {glue:text}`run_time_here`; the course guide lists every chapter on every profile.
# ```
#
# **The controls.**
#
# | control | setting | what it removes or changes |
# |---|---|---|
# | squares at the image centre | `centre_rule = "image_centre"` | looking: the same place in every image |
# | squares at random places | `centre_rule = "random"` | looking: a place drawn from the image's own pixels |
# | squares at the annotated parts | `centre_rule = "oracle"` | finding where to look: the head and the wing-and-tail, from the part annotations |
# | the whole image three times | `part_scale = 1` | parts: three more backbones, nothing to zoom into |
# | attention subnet frozen | `attention_training = "none"` | any training of the attention: it stays as eq. {eq}`eq-grouping` left it |
# | only the attention heads train | `attention_training = "heads"` | the heads train; the attention backbone stays as pretrained |
# | squares at the maps' peaks | `centre_rule = "peak"` | the learned rule's regression: each square at its map's highest cell, the paper's rule, through which no gradient passes |
# | square regressed from the map | `centre_rule = "learned"` | the fixed argmax of the peak rule: the square's centre and side come from the map by a soft-argmax and learned offsets |
# | no centre-triplet loss | `beta_cct = 0` | eq. {eq}`eq-cct` |
# | the paper's literal eq. (3) | the paper's reading of the attention: `attention_norm = "none"`, `attention_training = "full"`, `centre_rule = "peak"`, `grouping_smoothing = 0` | the map's normalisation and whatever else the book changed in the attention: the reading whose maps collapse ({ref}`sec-literal-collapse`) |
# | the attention subnet trains whole | `attention_training = "full"` | nothing is removed: whatever trains the attention heads (eqs. (5)–(6), and eqs. (7)–(8) too under the learned rule) trains the attention backbone as well |
# | the baseline of chapter {doc}`02_baseline` | another model | the parts: one backbone on the whole image |
# | the baseline at SGMA's input | `image_size = joint_size` | the parts, at equal input: the image at the size SGMA's global branch sees |
#
# A control whose settings are the book's configuration's is the same model: it is trained once, its row repeats the
# book's, and the record says so (`same_as`); {glue:text}`book_twins`. Likewise, where SGMA's branches see the image at its own size, the baseline at SGMA's input is
# the baseline, and its row repeats the baseline's.
#
# The oracle's squares are painted into every training and test image as two extra channels, so that
# they follow the parts through each flip and shift; the model reads them and never shows them to a
# backbone. Its recognition is what looking at those two annotated places is worth here: a reference for
# the book's attention, not a bound on it (other squares may find places that tell more).
#
# **Where a square lands.** A hit within an eighth of the image side of a part cannot tell looking from
# not looking on birds as wide as these, near the middle of the image: the image centre is near some part in
# {glue:text}`centre_hits` (the table below). The
# *part-box score* can (`sgma_core.localization.part_box_score`, after APN {cite}`xu2020apn`): each
# square is assigned the telling part it is most often nearest to over the test images, and an image counts
# when a box a quarter of the bird's size, centred where the square is, overlaps the box of the same size
# centred on that part with an IoU above 0.5. A fixed point scores well only on the images where the part happens to be there.
#
# **How the numbers are made.** `make looking` (`python -m sgma_core.studies.looking`) trains every
# control with every seed on the synthetic birds, pairs it with the book's configuration on the same
# seed, and writes `results/looking-<profile>.json` after every run (an interrupted study resumes where
# it stopped, and its {term}`ledger <Ledger>`, `results/ledger/looking-<profile>/`, keeps each finished row for another
# machine). Calibrated stacking's γ is chosen for each control on one validation model of that control, its
# lowest seed's (validation classes only), and used for all its seeds. This chapter renders the record and
# trains nothing.

# %% tags=["parameters"]
record_path = None  # None: results/looking-cpu.json in the repository
data_root = None  # None: $SGMA_DATA_ROOT, else <repo>/data (to check that the record was made on the data there)

# %% tags=["hide-input"]
from pathlib import Path

import matplotlib.pyplot as plt

from bookkit import study_views
from bookkit.display import (code_check, glue, markdown_table, record_code_note, record_config, record_config_note,
                             record_data_note, show_markdown)
from bookkit.figures import subplots
from bookkit.run_times import glue_run_times
from bookkit.squares_views import literal_squares_sentence
from bookkit.wording import seeds_text
from sgma_core.paths import repo_root
from sgma_core.profiles import PAPER_READING
from sgma_core.records import config_drift, read_record
from sgma_core.studies.looking import BASELINES

glue_run_times("06_where_to_look")

path = repo_root() / "results" / "looking-cpu.json" if record_path is None else Path(record_path)
record = read_record(path, ("controls", "seeds", "references", "rows", "paired", "provenance"),
                     remedy="`make looking` writes it again (its runs are reused).") if path.is_file() else None
if record is None:
    print(f"No record at {path}: run `make looking` to make it.")
    for name in ("provenance", "record_data_note", "record_config_note", "record_controls_note", "answer", "mechanism"):
        glue(name, "no record yet" if name in ("provenance", "answer", "mechanism") else "", display=False)
else:
    prov = record["provenance"]
    runs = len(record["rows"])
    planned = (len(record["controls"]) + len(BASELINES)) * len(record["seeds"])  # the baselines are rows too
    state = "complete" if prov.get("complete") else f"{runs} of its {planned} runs so far (`make looking` goes on)"
    glue("provenance", f"the {prov['config']['profile']} profile on the synthetic birds, {seeds_text(record['seeds'])}, "
         f"commit {prov['commit']}, {prov['date']}, {prov['machine']}; {state}", display=False)
    glue("record_data_note", record_data_note(record, data_root, "make looking remakes it (its runs are reused "
                                              "where the data is the same)."), display=False)
    config_note = record_config_note(config_drift(prov["config"], prov["config"]["profile"]),
                                     prov["config"]["profile"], "book's configuration",
                                     "make looking remakes the record with this commit's settings.")
    code_note = record_code_note(record, "Running make looking RETRAIN=1 trains those runs again with this commit's "
                                 "library.",
                                 code_check(prov["config"]["profile"]), "looking")
    glue("record_config_note", f"{config_note} {code_note}".strip(),
         display=False)
    glue("record_controls_note", study_views.missing_controls_note(record), display=False)
    glue("answer", study_views.looking_answer(record), display=False)
    glue("mechanism", study_views.looking_mechanism(record), display=False)
glue("literal_squares", "" if record is None else literal_squares_sentence(record), display=False)
glue("book_twins", study_views.book_twins_sentence(record), display=False)
glue("capacity_sentence", study_views.capacity_sentence(record), display=False)
centre = (record or {}).get("references", {}).get("image centre")
glue("centre_hits", f"{100 * centre['hits']:.1f} % of the test images" if centre else
     "many of the images (the record, once made, measures how many)", display=False)
literal = {k: PAPER_READING[k] for k in ("attention_norm", "attention_training", "centre_rule", "grouping_smoothing")}
if record is not None and all(record["provenance"]["config"].get(k) == v for k, v in literal.items()):
    glue("why_another", "The record rendered here was made with that literal reading as the book's configuration, "
         "before chapter 05 searched the attention's choices among readings that pass a check; `make looking` "
         "remakes it with today's configuration.", display=False)
else:
    glue("why_another", "That is why the book trains another reading, chosen in chapter 05 among readings whose "
         "attention passes a check.", display=False)

# %% [markdown]
# The record was made with {glue:text}`provenance`. {glue:text}`record_data_note` {glue:text}`record_config_note`
# {glue:text}`record_controls_note`
#
# ## Where the squares land
#
# The centres of the squares each model actually cropped on every test image after its last epoch,
# scored three ways, as the mean ± sd over each model's seeds: within an eighth of the image side of any
# part, of a telling part, and the part-box score. Among the references, the image centre and random
# points look at nothing; the centre of the bird's box knows where the bird is, and marks how far a single point that follows the bird gets. The random-places control draws each square's centre from the
# image's own pixels (so the same on every seed) wherever a whole square of the book's side fits, in the
# middle half of each side at `part_scale` 0.5; the random-points reference draws points anywhere in the image.
# The squares at the annotated parts (the oracle) sit at the mean of the head's telling parts and at the mean of the other telling
# parts (between the wing and the tail), on no single part, and the part-box score counts a square only
# where it overlaps one part's box.

# %% tags=["hide-input"]
if record is not None:
    show_markdown(markdown_table(["squares", "seeds", "near a part (%)", "near a telling part (%)",
                                  "part-box score (%)"], study_views.looking_where_rows(record)))

# %% [markdown]
# The attention check of chapter 05, measured on the test images, for every control whose squares come
# from its maps, with the check's bars in the header (lowest–highest over the seeds). {glue:text}`check_test`

# %% tags=["hide-input"]
from bookkit.squares_views import book_validation_checks, check_header, check_rows, check_sentence

# the same check on the validation images, where it admitted the book's configuration (chapter 05's record)
ablations_path = repo_root() / "results" / f"ablations-{record['profile']}.json" if record is not None else None
ablations = read_record(ablations_path, ("chosen", "checks"), remedy="`make ablations` writes it again.") \
    if ablations_path is not None and ablations_path.is_file() else None
glue("check_test", "" if record is None else check_sentence(record, book_validation_checks(ablations,
                                                                                          record_config(record))),
     display=False)
if record is not None and check_rows(record):
    show_markdown(markdown_table(check_header(record), check_rows(record)))

# %% [markdown]
# The book's configuration and the paper's literal eq. (3) on the same unseen-class test images, the first
# seed of each: the larger of the two attention maps, and the squares of part 1 (white) and part 2 (cyan).
# {glue:text}`squares_note`

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-looking-squares", "caption": "Where two models put their squares on the same unseen-class test images (first seed): the book's configuration (upper rows) and the paper's literal eq. (3) (lower rows); the larger attention map in colour (0\u20131), part 1's square white, part 2's cyan (drawn last: where both squares sit at one place, only the cyan one shows)."}}
from bookkit.squares_views import plot_shown, shown_rows
from sgma_core.data import DatasetError, load_dataset
from sgma_core.experiment import prepare_data, snapshot_images
from sgma_core.paths import DataRootError
from sgma_core.profiles import make_config

shown = shown_rows(record, ("book", "literal_eq3"), min(record["seeds"])) if record is not None else {}
try:
    same_data = record is not None and record["provenance"].get("data_fingerprint") == load_dataset(
        "SYN", data_root).fingerprint()
except (DataRootError, DatasetError):
    same_data = False
if len(shown) == 2 and same_data:
    prepared = prepare_data(make_config(record["profile"]), data_root, progress=False)
    plot_shown(snapshot_images(prepared)[: len(shown["book"]["squares"])], shown,
               {"book": "the book's configuration", "literal_eq3": "the paper's literal eq. (3)"})
    plt.show()
twin = record is not None and record.get("same_as", {}).get("literal_eq3") == "book"
glue("squares_note", ("The book's configuration is the literal reading here: the two rows show one model. "
                      if twin else "") + ("" if len(shown) == 2 and same_data else
     "The record rendered here keeps no squares of these two models on the data this page is built with, so there "
     "is no figure; `make looking` remakes it with them."), display=False)

# %% [markdown]
# ## What it changes
#
# Each control minus the book's configuration on the test classes, paired by seed (mean ± standard
# error, percentage points); the first row gives the book's configuration itself, as mean ± standard
# deviation over its seeds. T1 is zero-shot
# accuracy on the unseen classes and $H$ GZSL's harmonic mean, plain and calibrated, all of the compat rule;
# each difference is paired over the seeds both models have.

# %% tags=["hide-input"]
if record is not None:
    show_markdown(markdown_table(["model", "test T1", "test H", "test H, calibrated"],
                                 study_views.looking_effect_rows(record)))

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-looking-controls", "caption": "Test T1 of each control minus the book's configuration, paired by seed (mean with two standard errors). A bar across zero is no difference; green is higher, red lower."}}
if record is not None and record["paired"]:
    fig, ax = subplots(height=0.35 * len(record["paired"]) + 1.0)
    study_views.plot_controls(ax, record)
    fig.tight_layout()
    plt.show()

# %% [markdown]
# ## Why the book's squares land where they do
#
# {glue:text}`mechanism` The literal reading's squares are another matter. Chapter {doc}`03_sgma_model` shows
# that a literal eq. {eq}`eq-map` never falls below 0.5, and chapter {doc}`04_sgma_training` measures what
# training does to it: compactness and diversity are cheapest when the attention backbone's features are all
# zero and both maps are 0.5 everywhere, and with the peak rule no gradient of the classification loss reaches
# the attention layers to pull the other way. A flat map's peak is the same cell whatever the image, so its
# square cannot follow the bird. {glue:text}`literal_squares` {glue:text}`why_another` The controls above say
# what changes when the squares go elsewhere.
#
# ## The answer
#
# {glue:text}`answer`
#
# Read the two tables together. The first says whether the book's squares find the telling parts
# better than points that look at nothing; the second says whether recognition depends on it. The oracle
# row says what squares on the two annotated parts are worth on these birds, and the whole-image row, set beside the
# baseline of chapter {doc}`02_baseline`, says whether three more backbones that look nowhere in particular account
# for whatever separates SGMA from it. {glue:text}`capacity_sentence`
#
# ```{admonition} Key takeaways
# :class: important
#
# - A claim about *why* a model wins needs controls that remove the cause and keep everything else,
#   paired on the same seeds.
# - A localisation score must fail a fixed point before it can credit attention: the part-box score
#   does, a hit radius on wide birds near the middle of the image does not.
# - The oracle is a reference for attention, not a bound; the whole-image control separates looking from
#   capacity.
# ```
#
# ## Exercises
#
# ````{exercise} A hit that is not a look
# :label: ex-part-box-by-hand
#
# Three 64-pixel images, each of a bird whose box is 32 × 32 pixels, with its head at $(30, 28)$,
# $(36, 32)$ and $(28, 36)$. A model puts its square at the image centre $(31.5, 31.5)$ every time.
# What share of its squares lies within the hit radius (an eighth of the image side) of the head? What
# is its {term}`part-box score <Part-box score>` (squares of a quarter of the bird's size, IoU above
# 0.5)? And the part-box score of a square that lands exactly on the head?
# ````
#
# ````{solution} ex-part-box-by-hand
# :class: dropdown
#
# The radius is 8 pixels and the head lies 3.8, 4.5 and 5.7 pixels from the centre: every square is a
# hit. The part-box squares have side 8; two of them offset by $(d_x, d_y)$ overlap
# $(8 - |d_x|)(8 - |d_y|)$, so the overlaps are 29.25, 26.25 and 15.75 of 64 pixels and the IoUs
# $\text{overlap} / (128 - \text{overlap})$ are 0.30, 0.26 and 0.14: a part-box score of 0, against 1
# for a square on the head. The IoU passes 0.5 only within about a pixel and a half of the part in
# each direction here, so the score credits a square that follows the head and fails one that stays
# where heads often are. With the library's functions:
#
# ```{literalinclude} /book/solutions/06_where_to_look.py
# :pyobject: part_box_by_hand
# ```
# ````
#
# ````{exercise} Is there a hit radius that a fixed point fails?
# :label: ex-hit-radius
#
# Score the chapter's reference points (the image centre, the box centre and random points) on the
# synthetic birds' test images with the hit radius at a quarter, an eighth (the chapter's), a
# sixteenth and a thirty-second of the image side, with `references` from
# `sgma_core.studies.looking` on `prepare_data(make_config("smoke", overrides={"dataset": "SYN"}))`
# (the `cpu` profile gives the images of the chapter's table, and its side/8 row is that table's).
# Does the image centre ever fall to the level of random points? What happens to the part-box score?
# ````
#
# ````{solution} ex-hit-radius
# :class: dropdown
#
# Every hit rate falls as the radius shrinks, the image centre's with the others, and at no radius
# does it fall to the random points' level: a fixed point in the middle of the image, where these wide
# birds sit, stays closer to some part than a random point does, whatever the radius, so no hit radius can tell
# looking from not looking here. The part-box score has no radius: it is the same in every row, low
# for the image centre and for random points, and high only for the box centre, which follows the
# bird. The tests run this on a tiny dataset:
#
# ```{literalinclude} /book/solutions/06_where_to_look.py
# :pyobject: hit_radius_sweep
# ```
# ````
#
# ````{exercise} Two seeds instead of five
# :label: ex-fewer-seeds
#
# Keep only seeds 0 and 1 of the study's record (its `rows`), work out each {term}`control <Control>`'s
# paired difference of test T1 from the book's configuration and its
# {term}`paired standard error <Paired standard error>` by hand, then render this chapter with the cut
# record (`paired_with_book` from `sgma_core.studies.looking` fills its `paired`):
#
# ```text
# python -m bookkit.chapters 06_where_to_look -p record_path runs/exercises/looking-cut.json --out runs/exercises/ex-fewer-seeds
# ```
#
# Which controls still differ from the book's configuration by more than two standard errors, the
# {term}`oracle <Oracle>` among them? Why is a standard error from two seeds a poor guide?
# ````
#
# ````{solution} ex-fewer-seeds
# :class: dropdown
#
# With two seeds the paired differences are $d_0$ and $d_1$, their mean is $(d_0 + d_1)/2$ and the
# standard error is $|d_0 - d_1| / 2$: one degree of freedom. Your numbers agree with the cut table
# to the last digit, and the answer at the top of the rendered page is made from them. Each standard
# error now rests on a single difference of two numbers, so it can come out far smaller or far larger
# than the five-seed one by chance: a control can pass the two-standard-error rule by luck, or miss it
# although five seeds show a difference. Compare the two renderings control by control; this is why
# the study trains five seeds. The tests run this against the committed record:
#
# ```{literalinclude} /book/solutions/06_where_to_look.py
# :pyobject: fewer_seeds
# ```
# ````
