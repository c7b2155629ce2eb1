"""The run times every chapter's opening and the course guide show: recorded per chapter and profile
by ``python -m bookkit.chapters --record-times`` (``make run-times``), read back with a clear error
for a damaged file, and committed for every chapter and papermill exercise."""

import json

import pytest

from bookkit import chapters, run_times
from bookkit.display import format_seconds
from bookkit.exercises import EXERCISE_RUNS
from bookkit.run_times import PROFILES_TIMED, RUN_TIMES, glue_run_times, read_run_times, record_run_time, run_time_text
from bookkit.sources import CHAPTERS


def test_format_seconds():
    assert format_seconds(42.4) == "42 s" and format_seconds(89) == "89 s" and format_seconds(270) == "4.5 min"


def test_a_record_is_written_merged_and_read_back(tmp_path):
    path = tmp_path / "times.json"
    assert read_run_times(path) == {"profiles": {}}
    assert run_time_text("02_baseline", "cpu", path) == "not measured yet"
    record_run_time(path, "02_baseline", "smoke", 12.34)
    record_run_time(path, "02_baseline", "cpu", 200.0)
    record_run_time(path, "02_baseline", "cpu", 150.0)  # a later run replaces the earlier one
    record = read_run_times(path)
    assert record["profiles"]["smoke"]["02_baseline"]["seconds"] == 12.3
    assert record["profiles"]["cpu"]["02_baseline"]["seconds"] == 150.0
    assert "CPU cores" in record["machine"]
    assert run_time_text("02_baseline", "cpu", path) == "2.5 min"


def test_a_damaged_record_names_the_file_and_the_fix(tmp_path):
    path = tmp_path / "times.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"times\.json is not a complete JSON record.*make run-times"):
        read_run_times(path)
    path.write_text(json.dumps({"chapters": {}}))
    with pytest.raises(ValueError, match="times\\.json lacks 'profiles'.*make run-times"):
        read_run_times(path)
    path.write_text(json.dumps({"profiles": []}))
    with pytest.raises(ValueError, match="'profiles' is not a mapping"):
        read_run_times(path)


def test_glue_gives_every_opening_its_values(tmp_path, monkeypatch):
    glued = {}
    monkeypatch.setattr(run_times, "glue", lambda name, value, display=True: glued.__setitem__(name, value))
    assert glue_run_times("02_baseline", tmp_path / "none.json") is None  # a cell ending with it shows nothing
    assert glued["run_time_cpu"] == glued["run_time_smoke"] == "not measured yet"
    assert {"run_time_baseline_no_learning_smoke", "run_time_baseline_no_learning_cpu"} <= set(glued)


def test_the_committed_record_covers_every_chapter_and_exercise():
    record = read_run_times(RUN_TIMES)
    for profile in PROFILES_TIMED:
        missing = [n for n in CHAPTERS + list(EXERCISE_RUNS) if n not in record["profiles"].get(profile, {})]
        assert not missing, f"{RUN_TIMES} lacks {missing} on the {profile} profile: run `make run-times`"
    smoke, cpu = (sum(record["profiles"][p][n]["seconds"] for n in CHAPTERS) for p in PROFILES_TIMED)
    assert smoke < cpu  # the smoke profile is the quick one


def test_the_command_line_records_times(tmp_path, monkeypatch):
    calls = []

    def fake_execute(name, out, params, strict=True):
        calls.append((name, params))
        return tmp_path / f"{name}.ipynb"

    monkeypatch.setattr(chapters, "execute_chapter", fake_execute)
    monkeypatch.setattr(chapters, "declared_parameters", lambda name: {"profile": "str"})
    path = tmp_path / "times.json"
    assert chapters.main(["02_baseline", "-p", "profile", "smoke", "--out", str(tmp_path), "--exercises",
                          "--record-times", str(path)]) == 0
    assert [c[0] for c in calls] == ["02_baseline", "02_baseline"]  # the chapter, then its papermill exercise
    assert calls[1][1]["overrides"] == EXERCISE_RUNS["ex-baseline-no-learning"][1]["overrides"]
    assert set(read_run_times(path)["profiles"]["smoke"]) == {"02_baseline", "ex-baseline-no-learning"}


def test_all_but_the_chapters_named_by_except(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(chapters, "execute_chapter", lambda name, out, params, strict=True: calls.append(name))
    monkeypatch.setattr(chapters, "declared_parameters", lambda name: {"profile": "str"})
    argv = ["-p", "profile", "smoke", "--out", str(tmp_path)]
    assert chapters.main(["--all", "--except", "04_sgma_training", "02_baseline", *argv]) == 0
    assert calls == [n for n in CHAPTERS if n not in ("04_sgma_training", "02_baseline")]  # in the book's order
    calls.clear()
    assert chapters.main(["01_data", "--except", "02_baseline", *argv]) == 2  # --except only with --all
    assert chapters.main(["--all", "--except", "04_sgma_trainin", *argv]) == 2  # an unknown name: nothing runs
    assert calls == []
    err = capsys.readouterr().err
    assert "give --all with it" in err and "04_sgma_trainin" in err
