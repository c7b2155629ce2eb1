"""What chapter 05 shows of the ablation record (``results/ablations-<profile>.json``): each decision's paired
validation gain with its standard error, in percentage points, and the verdict the book's rule gives it (a
difference within two standard errors is "no difference"), the test classes' differences, and the flags."""

from __future__ import annotations

import numpy as np

from bookkit.wording import mean_sd, points, verdict
from sgma_core import stats


def seed_values(rows, setting, value, rule, split="val", metric="T1") -> dict[int, float]:
    """``{seed: metric}`` of the record rows of ``setting = value``."""
    return {r["seed"]: r[metric] for r in rows if r["setting"] == setting and r["value"] == value
            and r["rule"] == rule and r["split"] == split}


def paired_se(rows, comparisons, metric: str, rule: str = "compat") -> list[float]:
    """The standard error of every paired difference ``(setting, value, reference)`` in ``comparisons``."""
    out = []
    for setting, value, reference in comparisons:
        g = stats.paired(seed_values(rows, setting, value, rule, metric=metric),
                         seed_values(rows, setting, reference, rule, metric=metric))
        if g is not None:
            out.append(g["se"])
    return out


def metric_noise(record: dict) -> dict[str, float]:
    """Why validation T1 selects: the median standard error (points) of the one-factor paired differences
    measured in T1 and in uncalibrated H, and the seeds' spread (sample sd, points) of the start's T1 and H."""
    rows = record["runs"]
    comparisons = [(s, g["value"], d["reference"]) for s, d in record["decisions"].items() for g in d["gains"]]
    # where the one-factor comparisons start: the search's end (a record made with the search), else START
    where = ("SEARCHED", "searched") if any(r["setting"] == "SEARCHED" for r in rows) else ("START", "start")
    start = {m: list(seed_values(rows, *where, "compat", metric=m).values()) for m in ("T1", "H")}
    return {"se_T1": 100 * float(np.median(paired_se(rows, comparisons, "T1"))),
            "se_H": 100 * float(np.median(paired_se(rows, comparisons, "H"))),
            "sd_T1": 100 * stats.mean_sd(start["T1"])[1], "sd_H": 100 * stats.mean_sd(start["H"])[1]}


def shown_value(value) -> str:
    """A setting's value in a table's code span: a string as it is typed in a setting (``hardest``), any other
    value as Python writes it (``False``, ``0.1``)."""
    return f"`{value}`" if isinstance(value, str) else f"`{value!r}`"


# settings the paper gives relative to the image, not as a number: how the flag table says what the paper reads
PAPER_RELATIVE = {"joint_size": "half the image, the paper's 224 px of 448"}


def decision_rows(record: dict) -> list[list[str]]:
    """One row per value of each training choice: its validation T1 (mean ± sd), its paired gain over the
    reference, the verdict, and which value the book uses."""
    rows, out = record["runs"], []
    for setting, values in record["grids"]["training"].items():
        d = record["decisions"][setting]
        gains = {repr(g["value"]): g["gain"] for g in d["gains"]}
        refused = {repr(r["value"]): r["reason"] for r in d.get("refused", [])}
        for value in values:
            if repr(value) in refused:
                out.append([f"`{setting}`", shown_value(value), "not trained", "–", "–", refused[repr(value)]])
                continue
            role = ["reference"] if value == d["reference"] else []
            if value == record["chosen"][setting]:
                role.append("book's value")
            t1 = seed_values(rows, setting, value, "compat").values()
            gain = gains.get(repr(value))
            out.append([f"`{setting}`", shown_value(value), ", ".join(role) or "", mean_sd(list(t1)),
                        "–" if value == d["reference"] else points(gain),
                        "" if value == d["reference"] else verdict(gain)])
    return out


def plot_gains(ax, record: dict) -> None:
    """Every value's paired validation-T1 gain over its choice's reference: mean with two standard errors."""
    labels, means, bars, colours = [], [], [], []
    for setting, d in record["decisions"].items():
        for g in (g for g in d["gains"] if g["gain"] is not None):
            labels.append(f"{setting}={g['value']}")
            means.append(100 * g["gain"]["mean"])
            bars.append(200 * g["gain"]["se"])
            colours.append({"higher": "C2", "lower": "C3"}.get(verdict(g["gain"]), "0.4"))
    y = np.arange(len(labels))[::-1]
    for yi, m, b, c in zip(y, means, bars, colours):
        ax.errorbar([m], [yi], xerr=[b], fmt="o", color=c, capsize=2, ms=4)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, labels)
    ax.set_xlabel("validation T1 gain over the reference (points, ± 2 SE)")


def test_rows(record: dict) -> list[list[str]]:
    """The book's configuration and the paper's reading on test classes, per rule: mean ± sd, paired book − paper."""
    rows, out = record["runs"], []
    for rule in ("compat", "cct", "combined"):
        for metric in ("T1", "u", "s", "H"):
            book = seed_values(rows, "BOOK", "book", rule, "test", metric)
            paper = seed_values(rows, "PAPER_READING", "paper_reading", rule, "test", metric)
            gain = stats.paired(book, paper)
            out.append([rule, metric, mean_sd(list(book.values())), mean_sd(list(paper.values())), points(gain),
                        verdict(gain)])
    return out


def flag_rows(record: dict) -> list[list[str]]:
    """Every flag: the paper's reading, the book's value and the evidence (the paired validation-T1 gain of the
    book's value over the reference, or "reference kept"); the searched choices: the search's end."""
    from sgma_core.profiles import PAPER_READING

    out = []
    search = record.get("search")
    for setting, value in (search["end"].items() if search else ()):
        paper = record["paper_reading"].get(setting, PAPER_READING.get(setting))
        as_run = record.get("paper_reading_as_run", {}).get(setting)  # e.g. the branches at half the image
        given = PAPER_RELATIVE.get(setting, "not given")
        out.append([f"`{setting}`", shown_value(paper) if paper is not None else
                    f"{given} (run at {shown_value(as_run)})" if as_run is not None else given, shown_value(value),
                    f"searched with the others ({'admissible' if search['admissible'] else 'not admissible'}; "
                    "the search table)"])
    for setting, d in record["decisions"].items():
        chosen = record["chosen"][setting]
        gain = next((g["gain"] for g in d["gains"] if g["value"] == chosen), None)
        out.append([f"`{setting}`", shown_value(d["reference"]), shown_value(chosen),
                    "reference kept" if chosen == d["reference"] else f"{points(gain)} (validation T1, compat)"])
    s = record["scoring"]
    if s:
        gain = next((g["gain"] for g in s["gains"] if g["value"] == s["adopted"]), None)
        evidence = "reference kept" if s["adopted"] == s["reference"] else f"{points(gain)} (validation T1, cct)"
        for name in s["adopted"]:
            read = name in s["read"]
            out.append([f"`{name}`", shown_value(s["reference"][name]) if read else "not given",
                        shown_value(s["adopted"][name]), evidence if read else "tuned: best mean validation T1 (cct)"])
    return out
