"""The README states what the studies cost as their committed records hold it: a remade record with other counts or
minutes fails here until the README says them."""

import json
import re

import pytest

from sgma_core.paths import repo_root

README = re.sub(r"\s+", " ", (repo_root() / "README.md").read_text(encoding="utf-8"))


def _record(name: str) -> dict:
    path = repo_root() / "results" / name
    if not path.is_file():
        pytest.skip(f"results/{name} is not committed")
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_ablation_study_cost_is_the_records():
    prov = _record("ablations-cpu.json")["provenance"]
    minutes = round(prov["sgma_training_seconds"] / 60)
    stated = f"trained {prov['sgma_runs']} SGMA runs ({len(prov['seeds'])} seeds; {minutes} minutes of training epochs"
    assert stated in README, f"README should say: {stated!r}"


def test_the_looking_study_cost_is_the_records():
    record = _record("looking-cpu.json")
    rows = [r for r in record["rows"] if r["control"] not in record.get("same_as", {})]  # each run once
    sgma = [r for r in rows if r["control"] != "baseline"]
    configs, seeds = len({r["control"] for r in sgma}), len(record["seeds"])
    minutes = round(sum(r["training_seconds"] for r in rows) / 60)
    for stated in (f"`make looking` {configs} SGMA configurations × {seeds} seeds",
                   f"({len(sgma)} SGMA and {len(rows) - len(sgma)} baseline runs",
                   f"{minutes} minutes of training epochs as two processes"):
        assert stated in README, f"README should say: {stated!r}"


def test_the_power_study_state_is_the_records():
    record = _record("power-cpu.json")
    rows = record["rows"]
    reached = sum(r["reached_bar"] for r in rows)
    state = "complete" if record["provenance"].get("complete") else "in progress"
    for stated in (f"{reached} of its {len(rows)} comparisons at the bar", f"(up to {record['max_seeds']} seeds)",
                   f"the study is {state}"):
        assert stated in README, f"README should say: {stated!r}"
