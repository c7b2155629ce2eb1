"""One configuration, one answer: the book's configuration as each committed record holds it, and how a
chapter's live runs stand beside the records' numbers.

Chapters 05, 06 and 07 render records made by ``make ablations``, ``make looking`` and ``make real-start``;
chapters 02 and 04 train live. A seed's run repeats bit for bit only where everything that decides its bits
is the same: its settings and data (the run store names a run by them), torch's version, the CPU instruction
sets its libraries computed with (:mod:`sgma_core.dispatch`) and the number of CPU threads. Where all of these
match a record's, the page's run *is* the record's run and must give its numbers exactly; where any differs,
or a record does not say, the page's numbers are one more draw beside the record's seeds, and the page says
where they fall in the record's spread. :func:`book_runs` reads what each record says about the book's
configuration, and :func:`agreement_sentence` writes that sentence.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from bookkit.wording import join_words, seeds_text
from sgma_core.paths import repo_root
from sgma_core.records import settings_drift
from sgma_core.stats import mean_sd

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
    cpu_dispatch: dict | None = None  # its CPU levels (sgma_core.dispatch); None: made before they were recorded
    torch: str | None = None  # torch's version where it was made; None: not recorded

    @property
    def threads(self) -> int | None:
        """The CPU threads its settings ask for (None: torch's default, which depends on the machine)."""
        return self.config.get("num_threads")


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
        torch = re.search(r"torch ([^,\s]+)", prov.get("machine", ""))
        out.append(BookRuns(path.name, chapter, config, prov.get("data_fingerprint"), prov.get("commit", "?"), seeds,
                            prov.get("data_fingerprint_scheme", 1), prov.get("cpu_dispatch"),
                            torch.group(1) if torch else None))
    return out




def disagreements(a: dict[int, dict[str, float]], b: dict[int, dict[str, float]],
                  tolerance: float = TOLERANCE) -> dict[int, float]:
    """``{seed: largest difference in T1 or H, in points}`` over the seeds both hold, where they differ by more
    than ``tolerance`` (a fraction; 0: any bit); NaN where either is not a number (NaN or infinite), which agrees
    with nothing."""
    out = {}
    for seed in sorted(set(a) & set(b)):
        gaps = [abs(a[seed][k] - b[seed][k]) for k in ("T1", "H")]
        if not all(math.isfinite(g) for g in gaps):
            out[seed] = math.nan
        elif max(gaps) > tolerance:
            out[seed] = 100 * max(gaps)
    return out


def same_data(dataset, record: BookRuns) -> bool:
    """Whether ``record`` was made on ``dataset`` (a :class:`~sgma_core.data.ZSLDataset`), by the fingerprint
    of the record's scheme; a scheme this code does not know never matches."""
    try:
        return record.data_fingerprint == dataset.fingerprint(record.data_scheme)
    except ValueError:
        return False


@dataclass(frozen=True)
class Page:
    """How a page's runs were made, in the terms a record states: the device, the CPU levels, the threads that
    trained every epoch (None: unknown, or not one count) and torch's version."""

    device: str
    levels: dict
    threads: int | None
    torch: str

    @classmethod
    def of(cls, config: dict, histories: dict | None) -> Page:
        """This process's page for runs of ``config`` whose per-epoch records are ``histories`` (``{seed: [epoch
        record, …]}``, each record's ``threads`` as :func:`~sgma_core.engine.loop.fit` writes it)."""
        import torch

        from sgma_core.dispatch import levels
        from sgma_core.engine.step import resolve_device

        counts = {h.get("threads") for history in (histories or {}).values() for h in history}
        threads = counts.pop() if len(counts) == 1 else None
        return cls(resolve_device(config["device"]).type, levels(), threads, torch.__version__)


def _levels_text(levels: dict) -> str:
    return " / ".join(str(levels.get(k)) for k in ("aten", "onednn", "mkl_cbwr"))


def _threads_text(count: int | None) -> str:
    return "torch's default" if count is None else "one thread" if count == 1 else f"{count} threads"


@dataclass
class _Group:
    """Records made the same way (data, torch, CPU levels, threads) whose numbers agree on every seed they share:
    the same runs, named together, their seeds pooled."""

    records: list[BookRuns]
    seeds: dict[int, dict[str, float]]
    data_same: bool

    @property
    def first(self) -> BookRuns:
        return self.records[0]

    @property
    def the(self) -> str:
        return "the record" if len(self.records) == 1 else "the records"

    def names(self, commit: bool = False) -> str:
        return join_words([f"results/{r.record} (chapter {r.chapter[:2]}" + (f", commit {r.commit})" if commit else ")")
                     for r in self.records])


def _groups(records: list[BookRuns], dataset) -> list[_Group]:
    """``records`` as :class:`_Group`\\ s, in the order of their first record."""
    groups: list[_Group] = []
    for r in records:
        data = same_data(dataset, r)
        made = (r.cpu_dispatch, r.torch, r.threads, data)
        group = next((g for g in groups if (g.first.cpu_dispatch, g.first.torch, g.first.threads, g.data_same) == made
                      and set(g.seeds) & set(r.seeds) and not disagreements(g.seeds, r.seeds)), None)
        if group is None:
            groups.append(_Group([r], dict(r.seeds), data))
        else:
            group.records.append(r)
            group.seeds.update(r.seeds)
    return groups


def what_differs(page: Page, group: _Group) -> tuple[list[str], list[str]]:
    """What differs between how ``page`` and ``group``'s records were made, and what is not known, as phrases;
    both empty: the page's runs are the records' runs."""
    differ, unknown, record, the = [], [], group.first, group.the
    does, it = ("does", "it") if len(group.records) == 1 else ("do", "them")
    if not group.data_same:
        differ.append("the data (another fingerprint)")
    if record.torch is None:
        unknown.append(f"{the} {does} not say which torch made {it}")
    elif record.torch != page.torch:
        differ.append(f"torch ({page.torch} here, {record.torch} in {the})")
    if page.device != "cpu":
        differ.append(f"the device (this page trained on {page.device}, {the} on a CPU)")
    elif record.cpu_dispatch is None:
        unknown.append(f"{the} {does} not say which CPU instruction sets computed {it} (made before they were "
                       "recorded)")
    elif record.cpu_dispatch != page.levels:
        differ.append(f"the CPU instruction sets of PyTorch / oneDNN / MKL ({_levels_text(page.levels)} here, "
                      f"{_levels_text(record.cpu_dispatch)} in {the})")
    if page.threads is None:
        unknown.append("this page's runs do not state one thread count")
    elif record.threads != page.threads:
        differ.append(f"the CPU threads ({_threads_text(page.threads)} here, {_threads_text(record.threads)} in {the})")
    return differ, unknown


def spread_clause(metric: str, live: dict[int, float], recorded: list[float]) -> str:
    """Where the page's values of ``metric`` (fractions by seed) fall among the recorded values: inside or outside
    their range, and for one seed how many sample standard deviations from their mean."""
    if not all(math.isfinite(v) for v in [*live.values(), *recorded]):
        return f"{metric} cannot be placed: a value there is not a number (NaN or infinite)"
    low, high = min(recorded), max(recorded)
    values = [live[s] for s in sorted(live)]
    shown = join_words([f"{100 * v:.1f}" for v in values]) + " %"
    inside = sum(low <= v <= high for v in values)
    if len(values) == 1:
        where = "lies inside" if inside else "lies outside"
    else:
        every = "both" if len(values) == 2 else "all"
        where = (f"{every} lie inside" if inside == len(values) else f"{every} lie outside" if not inside else
                 f"{inside} of {len(values)} lie inside")
    text = f"{metric} {shown} {where} their range {100 * low:.1f}–{100 * high:.1f} %"
    if len(recorded) > 1:
        mean, sd = mean_sd(recorded)
        text += f" (mean {100 * mean:.1f} ± {100 * sd:.1f} %"
        if len(values) == 1 and sd > 0:
            z = (values[0] - mean) / sd
            text += "; at the mean" if abs(z) < 0.05 else f"; {abs(z):.1f} sd {'above' if z > 0 else 'below'} it"
        text += ")"
    return text


def _spread(live: dict, group: _Group) -> str:
    whose = "the record's" if len(group.records) == 1 else "the records'"
    return (f"Beside {whose} {len(group.seeds)} seeds, "
            + "; ".join(spread_clause(m, {s: v[m] for s, v in live.items()}, [v[m] for v in group.seeds.values()])
                        for m in ("T1", "H")) + ".")


def _unknown_or_other(live: dict, group: _Group, differ: list[str], unknown: list[str]) -> str:
    """The sentence for runs that are not known to be the records': what differs or is not known, then where the
    page's numbers fall in the records' spread (or, where nothing is known to differ, that they are its numbers)."""
    runs = "run" if len(live) == 1 else "runs"
    if differ:
        said = (f"This page's {runs} cannot repeat {group.names()} bit for bit: {join_words(differ)} "
                f"{'differs' if len(differ) == 1 else 'differ'}"
                + (f", and {join_words(unknown)}" if unknown else "") + ".")
        return f"{said} {_spread(live, group)}"
    said = (f"Whether this page's {runs} {'repeats' if len(live) == 1 else 'repeat'} {group.names()} bit for bit "
            f"cannot be told: {join_words(unknown)}.")
    shared = sorted(set(live) & set(group.seeds))
    if shared and not disagreements(live, group.seeds, tolerance=0.0):
        return f"{said} Its numbers at {seeds_text(shared)} are {group.the}'s, bit for bit."
    return f"{said} {_spread(live, group)}"


def _the_same_runs(live: dict, group: _Group, page: Page) -> str:
    """The sentence for runs made as the records' were: they repeat them bit for bit, or the page says they do
    not."""
    shared = sorted(set(live) & set(group.seeds))
    made = (f"the same settings, data and torch, the CPU instruction sets {_levels_text(page.levels)} (PyTorch / "
            f"oneDNN / MKL) and {_threads_text(page.threads)}")
    if not shared:
        hold = "holds" if len(group.records) == 1 else "hold"
        return f"{group.names()} {hold} runs made as this page's ({made}) at other seeds. {_spread(live, group)}"
    gaps = disagreements(live, group.seeds, tolerance=0.0)
    broken = sorted(s for s, g in gaps.items() if math.isnan(g))
    if broken:
        return (f"{group.names()} cannot be compared at {seeds_text(broken)}: T1 or H there is not a number (NaN or "
                "infinite).")
    if not gaps:
        return f"This page's {seeds_text(shared)} {'repeats' if len(shared) == 1 else 'repeat'} {group.names()} bit " \
               f"for bit: {made}."
    largest = max(gaps.values())
    by = f"{largest:.1f} points" if largest >= 0.05 else "less than 0.1 point"
    differ = "differs" if len(group.records) == 1 else "differ"
    return (f"{group.names(commit=True)}, made with {made} as this page, {differ} from it by up to {by} at "
            f"{seeds_text(gaps)}: something that decides the bits and is not recorded differs between "
            f"this machine and {'the one that made it' if len(group.records) == 1 else 'those that made them'}. "
            f"{_spread(live, group)}")


def _no_record(records: list[BookRuns], profile: str, drift) -> str:
    """The sentence for a page whose settings no record holds: the nearest record's differences."""
    if not records:
        return (f"No committed record holds this page's settings (no record is of the {profile} profile; chapters "
                "05–07 render the cpu profile's), so this page's numbers are its own.")
    nearest = min((drift(r.config) for r in records), key=len)
    shown = [f"{k} ({recorded} there, {current} here)" for k, (recorded, current) in list(nearest.items())[:3]]
    more = len(nearest) - len(shown)
    return ("No committed record holds this page's settings (the nearest differs in " + join_words(shown)
            + (f", and {more} more" if more else "") + "), so this page's numbers are its own.")


def agreement_sentence(config: dict, dataset, results: list[dict], profile: str,
                       records: list[BookRuns] | None = None, model: str = "sgma", histories: dict | None = None,
                       page: Page | None = None) -> str:
    """How this page's runs (``results``: per seed ``seed``, ``T1``, ``H``; SGMA's compat rule) of ``config`` on
    ``dataset`` (its ``fingerprint(scheme)`` is compared with each record's) stand beside the records of the
    book's configuration, as plain text: for each record with the same settings, either they are its runs
    (the same data, torch, CPU levels and threads: :class:`Page`, by default this process's with the threads of
    ``histories``, ``{seed: [epoch record, …]}``) and repeat its numbers bit for bit, or the page says what differs
    or is not known and where its numbers fall in the record's spread. A baseline is compared on the settings that
    name a baseline run only."""
    from sgma_core.data.dataset import FINGERPRINT_SCHEME
    from sgma_core.engine.runs import IDENTITY_KEYS

    records = book_runs(profile, model=model) if records is None else records
    live = {r["seed"]: {"T1": r["T1"], "H": r["H"]} for r in results}
    keys = IDENTITY_KEYS.get(model)

    def drift(recorded: dict) -> dict:
        found = settings_drift(recorded, config)
        return {k: v for k, v in found.items() if keys is None or k in keys}

    same = [r for r in records if not drift(r.config)]
    if not same:
        return _no_record(records, profile, drift)
    page = page or Page.of(config, histories)
    parts = []
    for group in _groups(same, dataset):
        differ, unknown = what_differs(page, group)
        parts.append(_unknown_or_other(live, group, differ, unknown) if differ or unknown else
                     _the_same_runs(live, group, page))
    older = sorted(r.record for r in same if same_data(dataset, r) and r.data_scheme != FINGERPRINT_SCHEME)
    if older:
        parts.append(f"The data of {join_words(older)} is named by the older fingerprint, of its tables and "
                     "its images' names and sizes, not of the images' bytes.")
    return " ".join(parts)
