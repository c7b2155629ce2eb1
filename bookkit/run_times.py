"""How long each chapter takes to execute, per profile: recorded by ``make run-times``
(``python -m bookkit.chapters --record-times``), shown by every chapter's opening and the course guide."""

from __future__ import annotations

from pathlib import Path

from bookkit.display import format_seconds, glue
from bookkit.exercises import EXERCISE_RUNS
from sgma_core.paths import repo_root
from sgma_core.records import RecordError, provenance, read_record, write_record

# How long each chapter takes to execute from an empty runs folder, per profile: written by
# `make run-times` (``--record-times``), read by every chapter's opening and by the course guide.
RUN_TIMES = repo_root() / "book" / "run_times.json"
PROFILES_TIMED = ("smoke", "cpu")


def read_run_times(path: str | Path = RUN_TIMES) -> dict:
    """The run-time record (``{"machine": …, "profiles": {profile: {chapter: {"seconds", "date", "commit"}}}}``);
    an empty record where there is none yet."""
    path = Path(path)
    if not path.is_file():
        return {"profiles": {}}
    record = read_record(path, required=("profiles",), remedy="Delete it and run `make run-times` again.")
    if not isinstance(record["profiles"], dict):
        raise RecordError(f"{path}: 'profiles' is not a mapping. Delete it and run `make run-times` again.")
    return record


def record_run_time(path: str | Path, name: str, profile: str, seconds: float) -> None:
    """Store one chapter's execution time under its profile, replacing the previous one (atomically)."""
    record = read_run_times(path)
    stamp = provenance(seconds=seconds)
    record["machine"] = stamp["machine"]
    record["profiles"].setdefault(profile, {})[name] = {
        "seconds": stamp["seconds"], "date": stamp["date"].split()[0], "commit": stamp["commit"]}
    write_record(path, record, sort_keys=True)


def run_time_text(name: str, profile: str, record: dict | str | Path = RUN_TIMES) -> str:
    """``"4.5 min"`` as recorded for ``name`` on ``profile`` (in ``record``, or the record at that path), or
    ``"not measured yet"``."""
    record = record if isinstance(record, dict) else read_run_times(record)
    entry = record["profiles"].get(profile, {}).get(name)
    return format_seconds(entry["seconds"]) if entry else "not measured yet"


def glue_run_times(name: str, path: str | Path = RUN_TIMES, profile: str = "cpu") -> None:
    """Glue ``run_time_here`` (the chapter's recorded time on ``profile``, the one its page was executed
    with, and the machine) for its opening, ``run_time_smoke`` and ``run_time_cpu``, and
    ``run_time_<exercise>_<profile>`` for its papermill exercises (nothing is returned, so a cell that ends
    with this call shows nothing)."""
    record = read_run_times(path)
    values = {f"run_time_{p}": run_time_text(name, p, record) for p in PROFILES_TIMED}
    here = run_time_text(name, profile, record) if profile in PROFILES_TIMED else "not measured"
    values["run_time_here"] = (f"{here} on the `{profile}` profile, from an empty runs folder "
                               f"({record.get('machine', 'no machine recorded')})")
    for label, (chapter, _) in EXERCISE_RUNS.items():
        if chapter == name:
            key = label.removeprefix("ex-").replace("-", "_")
            values.update({f"run_time_{key}_{p}": run_time_text(label, p, record) for p in PROFILES_TIMED})
    values["run_time_machine"] = record.get("machine", "no machine recorded")
    for key, value in values.items():
        glue(key, value, display=False)

