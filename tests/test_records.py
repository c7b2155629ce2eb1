"""Records and every file written atomically: written whole, with the permissions the user's umask gives, and
never holding or accepting a number that is not one (NaN, an infinity) or a field of the wrong type."""

import json
import os
import stat
from pathlib import Path

import pytest

from sgma_core.files import save_atomically
from sgma_core.records import RecordError, read_record, writable_output, write_record

RESULTS = Path(__file__).resolve().parents[1] / "results"


@pytest.fixture(params=[0o022, 0o077], ids=["umask022", "umask077"])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_atomically_written_file_follows_the_umask(tmp_path, umask):
    written = save_atomically(tmp_path / "report.md", lambda p: p.write_text("text"))
    assert _mode(written) == 0o666 & ~umask
    again = save_atomically(written, lambda p: p.write_text("other text"))  # replacing keeps following it
    assert _mode(again) == 0o666 & ~umask and again.read_text() == "other text"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]


def test_a_record_like_the_fetch_manifest_and_the_decode_cache_follow_the_umask(tmp_path, umask):
    import numpy as np

    from data_prep.manifest import read_json
    from sgma_core.data.cache import _save_progress

    write_record(tmp_path / "manifest.json", {"parts": {}}, sort_keys=True)
    assert read_json(tmp_path / "manifest.json") == {"parts": {}}
    pixels = np.memmap(tmp_path / "pixels.u8", dtype=np.uint8, mode="w+", shape=(2, 3))
    _save_progress(pixels, np.ones((2, 2), dtype=np.int64), np.array([True, False]), tmp_path / "sizes.npy",
                   tmp_path / "done.npy")
    assert np.load(tmp_path / "done.npy").tolist() == [True, False]
    for name in ("manifest.json", "sizes.npy", "done.npy"):
        assert _mode(tmp_path / name) == 0o666 & ~umask, name
    assert not [p.name for p in tmp_path.iterdir() if "tmp" in p.name]


def _looking_copy(tmp_path: Path, change) -> tuple[Path, int]:
    """``results/looking-cpu.json`` copied to ``tmp_path`` with ``change(row)`` applied to the book's first row;
    returns the copy and that row's index."""
    record = json.loads((RESULTS / "looking-cpu.json").read_text())
    index = next(i for i, r in enumerate(record["rows"]) if r["control"] == "book")
    change(record["rows"][index])
    path = tmp_path / "looking-cpu.json"
    path.write_text(json.dumps(record, indent=1))  # Python's json writes NaN and Infinity as bare tokens
    return path, index


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1e999, -float("inf")])
def test_a_record_holding_a_number_that_is_not_one_is_refused_naming_file_and_field(tmp_path, value):
    path, index = _looking_copy(tmp_path, lambda row: row.update(T1=value))
    if value == 1e999:  # a literal too large for a float, which Python's json reads as an infinity
        path.write_text(path.read_text().replace("Infinity", "1e999"))
    with pytest.raises(RecordError) as info:
        read_record(path)
    assert str(path) in str(info.value) and f"rows[{index}].T1" in str(info.value), info.value


def test_a_record_field_of_the_wrong_type_is_refused_by_its_reader(tmp_path):
    from bookkit.agreement import book_runs
    from sgma_core.studies.looking import read_record as read_looking

    path, index = _looking_copy(tmp_path, lambda row: row.update(H="0.44"))
    with pytest.raises(RecordError, match=rf"looking-cpu\.json: rows\[{index}\]\.H is a string"):
        read_looking(path)
    with pytest.raises(RecordError, match=rf"rows\[{index}\]\.H"):
        book_runs("cpu", tmp_path)
    path, index = _looking_copy(tmp_path, lambda row: row.pop("seed"))
    with pytest.raises(RecordError, match=rf"rows\[{index}\] lacks 'seed'"):
        read_looking(path)


def test_the_agreement_never_says_agrees_for_a_number_that_is_not_one():
    from bookkit.agreement import BookRuns, agreement_sentence
    from sgma_core.profiles import config_dict, make_config

    cfg = config_dict(make_config("cpu"))
    data = type("Data", (), {"fingerprint": staticmethod(lambda scheme=2: "abc")})()
    good = {0: {"T1": 0.7, "H": 0.4}}
    for live, recorded in (([{"seed": 0, "T1": float("nan"), "H": 0.4}], good),
                           ([{"seed": 0, "T1": 0.7, "H": 0.4}], {0: {"T1": 0.7, "H": float("nan")}})):
        runs = BookRuns("looking-cpu.json", "06_where_to_look", cfg, "abc", "c0ffee", recorded)
        text = agreement_sentence(cfg, data, live, "cpu", [runs])
        assert "agrees" not in text and "not a number" in text, text


def test_a_record_is_never_written_with_a_number_that_is_not_one(tmp_path):
    path = tmp_path / "x.json"
    with pytest.raises(RecordError, match=r"runs\[1\]\.test\.T1 is nan.*nothing was written"):
        write_record(path, {"runs": [{"test": {"T1": 0.5}}, {"test": {"T1": float("nan")}}]})
    assert not path.exists() and not list(tmp_path.iterdir())


def test_one_check_refuses_an_output_that_cannot_be_written_file_or_folder(tmp_path):
    (tmp_path / "a file").write_text("")
    assert writable_output(tmp_path / "new" / "record.json") == tmp_path / "new" / "record.json"
    assert writable_output(tmp_path / "runs", "--work", "the runs", folder=True).is_dir()
    with pytest.raises(ValueError, match=r"--out .*new is a folder: give the file to write"):
        writable_output(tmp_path / "new")
    with pytest.raises(ValueError, match=r"--work .*a file is a file, not a folder: give a folder for the runs"):
        writable_output(tmp_path / "a file", "--work", "the runs", folder=True)
    with pytest.raises(ValueError, match=r"--out .*a file.*cannot be written .*give a file in a place you can write"):
        writable_output(tmp_path / "a file" / "record.json")


def test_a_record_keeps_each_list_of_numbers_on_one_line_and_reads_back_the_same(tmp_path):
    record = {"maps": [[[0.5, 1, -2e-05], [3, 4, 5]]], "words": ["a", "b"], "text": "a [\n1, 2] inside a string",
              "empty": [], "mixed": [True, 1]}
    path = write_record(tmp_path / "r.json", record)
    text = path.read_text()
    assert json.loads(text) == record
    assert '[0.5, 1, -2e-05]' in text and '[3, 4, 5]' in text
    assert '"a",' in text and '\n  "b"' in text  # lists of strings or booleans keep one item per line
    assert '\n  true,' in text


def test_the_committed_looking_record_stays_under_a_megabyte():
    path = Path(__file__).resolve().parents[1] / "results" / "looking-cpu.json"
    assert path.stat().st_size < 1 << 20, f"{path} is {path.stat().st_size} bytes"


def test_the_committed_study_records_of_the_cpu_profile_name_one_dataset():
    """The ablation, power and looking records are made on the synthetic birds: each names the whole dataset's
    fingerprint (the power study trains on the validation split, whose view of the data has another one)."""
    results = Path(__file__).resolve().parents[1] / "results"
    prints = {name: read_record(results / f"{name}-cpu.json")["provenance"]["data_fingerprint"]
              for name in ("ablations", "power", "looking") if (results / f"{name}-cpu.json").is_file()}
    assert len(set(prints.values())) <= 1, prints
