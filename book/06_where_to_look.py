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
# not look. Chapter {doc}`04_sgma_training` showed where the maps peak; this chapter asks both questions
# with **controls**: the same model, the same seeds, the same training, with one thing changed about
# where the two squares go or what trains the attention. A control is a setting of the model
# (`centre_rule`, `part_scale`, `attention_training`, `beta_cct`), not a copy of it.
#
# ```{admonition} In this chapter
# :class: tip
#
# **You will be able to**
# - name the control that answers each question about attention, and what each one removes;
# - score where a square lands with a measure that a fixed point fails;
# - read a paired difference and its standard error, and call a difference within two standard errors
#   "no difference";
# - say what the oracle control bounds, and why it must come before any claim that attention helps.
#
# **You need** {doc}`04_sgma_training`, {doc}`05_open_choices`.
#
# **Run time**: {glue:text}`run_time_here`; the course guide lists every chapter on every profile.
# ```
#
# **The controls.**
#
# | control | setting | what it removes |
# |---|---|---|
# | squares at the image centre | `centre_rule = "image_centre"` | looking: the same place in every image |
# | squares at random places | `centre_rule = "random"` | looking: a place drawn from the image's own pixels |
# | squares at the annotated parts | `centre_rule = "oracle"` | learning to look: the head and the wing-and-tail, from the part annotations |
# | the whole image three times | `part_scale = 1` | parts: three more backbones, nothing to zoom into |
# | attention subnet frozen | `attention_training = "none"` | training the attention after eq. {eq}`eq-grouping` |
# | only the attention heads train | `attention_training = "heads"` | training the attention backbone |
# | square regressed from the map | `centre_rule = "learned"` | the fixed argmax of the peak rule |
# | no centre-triplet loss | `beta_cct = 0` | eq. {eq}`eq-cct` |
# | the baseline of chapter {doc}`02_baseline` | another model | the parts: one backbone on the whole image |
#
# The oracle's squares are painted into every training and test image as two extra channels, so that
# they follow the parts through each flip and shift; the model reads them and never shows them to a
# backbone. Its recognition is what looking in the right place is worth here, an upper bound for the
# learned attention.
#
# **Where a square lands.** A hit within an eighth of the image side of a part cannot tell looking from
# not looking on birds that fill the frame: the image centre is near some part in most images. The
# *part-box score* can (`sgma_core.localization.part_box_score`, after APN {cite}`xu2020apn`): each
# square is assigned the telling part it lands on most often over the test images, and an image counts
# when a box a quarter of the bird's size at the square's centre overlaps that part's box with an IoU
# above 0.5. A fixed point scores well only on the images where the part happens to be there.
#
# **How the numbers are made.** `make looking` (`python -m sgma_core.studies.looking`) trains every
# control with every seed on the synthetic birds, pairs it with the book's configuration on the same
# seed, and writes `results/looking-<profile>.json` after every run (an interrupted study resumes where
# it stopped). Calibrated stacking's γ is chosen for each control on a validation model of that control
# (validation classes only). This chapter renders the record and trains nothing.

# %% tags=["parameters"]
record_path = None  # None: results/looking-cpu.json in the repository
data_root = None  # None: $SGMA_DATA_ROOT, else <repo>/data (to check that the record was made on the data there)

# %% tags=["hide-input"]
from pathlib import Path

import matplotlib.pyplot as plt

from bookkit import studies
from bookkit.display import glue, markdown_table, record_config_note, record_data_note, show_markdown
from bookkit.figures import subplots
from bookkit.run_times import glue_run_times
from sgma_core.paths import repo_root
from sgma_core.records import config_drift, read_record

glue_run_times("06_where_to_look")

path = repo_root() / "results" / "looking-cpu.json" if record_path is None else Path(record_path)
record = read_record(path, ("controls", "seeds", "references", "rows", "paired", "provenance"),
                     remedy="`make looking` writes it again (its runs are reused).") if path.is_file() else None
if record is None:
    print(f"No record at {path}: run `make looking` to make it.")
    for name in ("provenance", "record_data_note", "record_config_note", "answer", "mechanism"):
        glue(name, "no record yet" if name not in ("record_data_note", "record_config_note") else "", display=False)
else:
    prov = record["provenance"]
    runs = len(record["rows"])
    planned = len(record["controls"]) * len(record["seeds"])
    state = "complete" if prov.get("complete") else f"{runs} of its {planned} runs so far (`make looking` goes on)"
    glue("provenance", f"the {prov['config']['profile']} profile on the synthetic birds, seeds {record['seeds']}, "
         f"commit {prov['commit']}, {prov['date']}, {prov['machine']}; {state}", display=False)
    glue("record_data_note", record_data_note(record, data_root, "make looking remakes it (its runs are reused "
                                              "where the data is the same)."), display=False)
    glue("record_config_note", record_config_note(config_drift(prov["config"], prov["config"]["profile"]),
                                                  prov["config"]["profile"], "book's configuration",
                                                  "make looking remakes the record with this commit's settings."),
         display=False)
    glue("answer", studies.looking_answer(record), display=False)
    glue("mechanism", studies.looking_mechanism(record), display=False)

# %% [markdown]
# The record was made with {glue:text}`provenance`. {glue:text}`record_data_note` {glue:text}`record_config_note`
#
# ## Where the squares land
#
# The centres of the squares each model actually cropped on every test image after its last epoch,
# scored three ways: within an eighth of the image side of any part, of a telling part, and the
# part-box score. The references are points that look at nothing.

# %% tags=["hide-input"]
if record is not None:
    show_markdown(markdown_table(["squares", "seeds", "near a part (%)", "near a telling part (%)",
                                  "part-box score (%)"], studies.looking_where_rows(record)))

# %% [markdown]
# ## What it changes
#
# Each control minus the book's configuration on the test classes, paired by seed (mean ± standard
# error, percentage points); the first row gives the book's configuration itself, as mean ± standard
# deviation over its seeds. T1 is zero-shot
# accuracy on the unseen classes; $H$ is GZSL's harmonic mean of the compat rule, plain and calibrated.

# %% tags=["hide-input"]
if record is not None:
    show_markdown(markdown_table(["model", "test T1", "test H", "test H, calibrated"],
                                 studies.looking_effect_rows(record)))

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-looking-controls", "caption": "Test T1 of each control minus the book's configuration, paired by seed (mean with two standard errors). A bar across zero is no difference; green is higher, red lower."}}
if record is not None and record["paired"]:
    fig, ax = subplots(height=0.35 * len(record["paired"]) + 1.0)
    studies.plot_controls(ax, record)
    fig.tight_layout()
    plt.show()

# %% [markdown]
# ## Why the learned squares land where they do
#
# {glue:text}`mechanism` Chapter {doc}`03_sgma_model` shows why a literal eq. {eq}`eq-map` gives maps
# without contrast (a sigmoid of a weighted sum of hundreds of non-negative activations), and chapter
# {doc}`04_sgma_training` measures that with the peak rule no gradient of the classification loss reaches
# the attention layers. A flat map's peak is the same cell whatever the image, so its square cannot
# follow the bird. Chapter {doc}`05_open_choices` kept this reading because no alternative beat it on
# validation classes by more than two standard errors; the controls here say what that choice costs.
#
# ## The answer
#
# {glue:text}`answer`
#
# Read the two tables together. The first says whether the learned squares find the telling parts
# better than points that look at nothing; the second says whether recognition depends on it. The oracle
# row bounds what better attention could add on these birds, and the whole-image row says how much of
# SGMA's gain over the baseline of chapter {doc}`02_baseline` three more backbones would bring without
# looking anywhere.
#
# ```{admonition} Key takeaways
# :class: important
#
# - A claim about *why* a model wins needs controls that remove the cause and keep everything else,
#   paired on the same seeds.
# - A localisation score must fail a fixed point before it can credit attention: the part-box score
#   does, a hit radius on birds that fill the frame does not.
# - The oracle puts an upper bound on attention; the whole-image control separates looking from
#   capacity.
# ```
