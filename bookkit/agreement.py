"""One configuration, one answer: the book's configuration as each committed record holds it, and whether
a chapter's live runs give the records' numbers.

Chapters 05, 06 and 07 render records made by ``make ablations``, ``make looking`` and ``make real-start``;
chapter 04 trains live. Where a record's configuration and data are what a chapter trains, the run store
makes them the same runs (a run is named by its settings and data), so their numbers must agree seed for
seed. :func:`book_runs` reads what each record says about the book's configuration, and
:func:`agreement_sentence` says on the page whether a live run agrees with them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from bookkit.wording import count, seeds_text
from sgma_core.paths import repo_root
from sgma_core.records import settings_drift

TOLERANCE = 1e-6  # accuracies are fractions; the same run gives the same numbers to rounding


@dataclass
class BookRuns:
    """What one record holds about the book's configuration (SGMA, compat rule, test classes)."""

    record: str  # file name under results/
    chapter: str
    config: dict
    data_fingerprint: str | None
    commit: str
    seeds: dict[int, dict[str, float]]  # seed → {"T1": …, "H": …}
    data_scheme: int = 1  # the scheme of data_fingerprint (ZSLDataset.fingerprint); 1 in records older than it


def _looking(record: dict, control: str = "book") -> tuple[dict, dict]:
    rows = {r["seed"]: {"T1": r["T1"], "H": r["H"]} for r in record["rows"] if r["control"] == control}
    return record["provenance"]["config"], rows


def _ablations(record: dict) -> tuple[dict, dict]:
    rows = {r["seed"]: {"T1": r["T1"], "H": r["H"]} for r in record["runs"]
            if r["setting"] == "BOOK" and r["split"] == "test" and r["rule"] == "compat"}
    return {**record["provenance"]["config"], **record["chosen"]}, rows


def _real_start(record: dict, model: str = "sgma") -> tuple[dict, dict]:
    rows = {r["seed"]: {"T1": r[model]["T1"], "H": r[model]["H"]} for r in record["rows"]
            if r["backbone"] == "small_vgg"}
    return record["provenance"]["config"]["small_vgg"], rows


# model → study → (the chapter that renders it, how to read the book's configuration from it)
READERS = {"sgma": {"looking": ("06_where_to_look", _looking), "ablations": ("05_open_choices", _ablations),
                    "real-start": ("07_real_birds", _real_start)},
           "baseline": {"looking": ("06_where_to_look", lambda record: _looking(record, "baseline")),
                        "real-start": ("07_real_birds", lambda record: _real_start(record, "baseline"))}}


def book_runs(profile: str = "cpu", results: Path | None = None, model: str = "sgma") -> list[BookRuns]:
    """The book's configuration of ``model`` (``"sgma"``, ``"baseline"``) in every record of ``profile``
    under ``results`` (default: the repository's)."""
    from sgma_core.studies import ablate, looking, real_start

    read_record = {"looking": looking.read_record, "ablations": ablate.read_record,
                   "real-start": real_start.read_record}  # each refuses a record whose numbers are not numbers
    results = results or repo_root() / "results"
    out = []
    for study, (chapter, reader) in READERS[model].items():
        path = results / f"{study}-{profile}.json"
        if not path.is_file():
            continue
        record = read_record[study](path)
        config, seeds = reader(record)
        prov = record["provenance"]
        out.append(BookRuns(path.name, chapter, config, prov.get("data_fingerprint"), prov.get("commit", "?"), seeds,
                            prov.get("data_fingerprint_scheme", 1)))
    return out


def disagreements(a: dict[int, dict[str, float]], b: dict[int, dict[str, float]]) -> dict[int, float]:
    """``{seed: largest difference in T1 or H, in points}`` over the seeds both hold, where they differ; NaN
    where either is not a number (NaN or infinite), which agrees with nothing."""
    out = {}
    for seed in sorted(set(a) & set(b)):
        gaps = [abs(a[seed][k] - b[seed][k]) for k in ("T1", "H")]
        if not all(math.isfinite(g) for g in gaps):
            out[seed] = math.nan
        elif max(gaps) > TOLERANCE:
            out[seed] = 100 * max(gaps)
    return out


def _comparison(record: BookRuns, gaps: dict[int, float], shared: list[int]) -> str:
    """What one record says of the live runs: agrees, differs by how much, or holds numbers that are not."""
    where = f"{record.record} (chapter {record.chapter[:2]}"
    broken = sorted(seed for seed, gap in gaps.items() if math.isnan(gap))
    if broken:
        return f"{where}) cannot be compared at {seeds_text(broken)}: T1 or H there is not a number (NaN or infinite)"
    if gaps:
        return (f"{where}, commit {record.commit}) differs by up to {max(gaps.values()):.1f} points at "
                f"{seeds_text(gaps)}")
    return f"{where}) " + (f"agrees seed for seed ({seeds_text(shared)})" if len(shared) > 1 else
                           f"agrees ({seeds_text(shared)})")


def same_data(dataset, record: BookRuns) -> bool:
    """Whether ``record`` was made on ``dataset`` (a :class:`~sgma_core.data.ZSLDataset`), by the fingerprint
    of the record's scheme; a scheme this code does not know never matches."""
    try:
        return record.data_fingerprint == dataset.fingerprint(record.data_scheme)
    except ValueError:
        return False


def agreement_sentence(config: dict, dataset, results: list[dict], profile: str,
                       records: list[BookRuns] | None = None, model: str = "sgma") -> str:
    """Whether this page's runs (``results``: per seed ``seed``, ``T1``, ``H``; SGMA's compat rule) on
    ``dataset`` (its ``fingerprint(scheme)`` is compared with each record's) are the records' runs of the
    book's configuration, and if so whether the numbers agree; plain text. A baseline is compared on the
    settings that name a baseline run only."""
    from sgma_core.data.dataset import FINGERPRINT_SCHEME

    from sgma_core.engine.runs import IDENTITY_KEYS

    records = book_runs(profile, model=model) if records is None else records
    live = {r["seed"]: {"T1": r["T1"], "H": r["H"]} for r in results}
    keys = IDENTITY_KEYS.get(model)

    def drift(recorded: dict) -> dict:
        found = settings_drift(recorded, config)
        return {k: v for k, v in found.items() if keys is None or k in keys}

    same = [r for r in records if not drift(r.config) and same_data(dataset, r)]
    if not same:
        held = (f"the records of chapters 05–07 are of the {profile} profile's book configuration on the default "
                "synthetic birds" if records else f"no record is of the {profile} profile; chapters 05–07 render the "
                "cpu profile's")
        return f"No committed record holds this page's configuration on this data ({held}), so this page's numbers " \
               "are its own."
    parts = []
    for r in same:
        shared = sorted(set(live) & set(r.seeds))
        if not shared:
            parts.append(f"{r.record} (chapter {r.chapter[:2]}) holds this configuration with other seeds")
            continue
        parts.append(_comparison(r, disagreements(live, r.seeds), shared))
    text = ("These runs are the book's configuration that the records render: " + "; ".join(parts) + ". "
            "The records' means are over their own seeds.")
    older = sorted(r.record for r in same if r.data_scheme != FINGERPRINT_SCHEME)
    if older:
        text += (f" The data of {', '.join(older)} is named by the older fingerprint, of its tables and its images' "
                 "names and sizes, not of the images' bytes.")
    if any("differs" in part for part in parts):
        import torch

        text += (f" This page trained with {count(torch.get_num_threads(), 'CPU thread')}. On a CPU the number of threads "
                 "changes the order of floating-point sums, so a seed's run with another thread count starts to "
                 "differ in the fourth digit of its first loss and ends elsewhere (benchmarks/results/"
                 "threads-cpu-2core-2026-12-01.md): a record agrees with a page only where both trained with the "
                 "same thread count.")
    return text
