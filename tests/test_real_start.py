"""The synthetic birds with a real start: both backbones trained on the same data and seeds, test numbers
and peak hit rates recorded; the committed record covers the cpu profile's three seeds per backbone."""

import json

import pytest

from sgma_core.studies.real_start import BACKBONES_COMPARED, default_path, run_real_start


@pytest.mark.slow
def test_both_backbones_are_trained_and_scored(tiny_root, tmp_path):
    record = run_real_start("smoke", [0], tiny_root, tmp_path)
    assert [r["backbone"] for r in record["rows"]] == list(BACKBONES_COMPARED)
    for row in record["rows"]:
        for model in ("baseline", "sgma"):
            assert set(row[model]) == {"T1", "u", "s", "H"} and all(0 <= v <= 1 for v in row[model].values())
        for when in ("hits_before", "hits_after"):
            assert 0 <= row[when]["telling"] <= 1 and 0 <= row[when]["any"] <= 1
    assert 0 < record["random_points"]["any"] < 1 and record["telling_parts"]
    json.dumps(record)


def test_the_committed_record_has_three_seeds_of_each_backbone():
    path = default_path("cpu")
    if not path.is_file():
        pytest.skip(f"{path} not made yet (make real-start)")
    record = json.loads(path.read_text())
    assert record["profile"] == "cpu" and record["dataset"] == "SYN"
    for backbone in BACKBONES_COMPARED:
        assert sorted(r["seed"] for r in record["rows"] if r["backbone"] == backbone) == [0, 1, 2]


@pytest.mark.parametrize("reader, study", [("sgma_core.studies.real_start", "make real-start"),
                                           ("sgma_core.studies.ablate", "make ablations")])
def test_a_damaged_record_is_named_with_the_command_that_remakes_it(reader, study, tmp_path):
    import importlib

    read_record = importlib.import_module(reader).read_record
    path = tmp_path / "record.json"
    path.write_text('{"rows": [1, 2')  # cut short
    with pytest.raises(ValueError, match=rf"record\.json is not a complete JSON record.*`{study}` writes it again"):
        read_record(path)
    path.write_text(json.dumps({"rows": []}))
    with pytest.raises(ValueError, match=rf"record\.json lacks .*`{study}` writes it again"):
        read_record(path)
    with pytest.raises(ValueError, match=r"does not exist"):
        read_record(tmp_path / "none.json")


def test_the_committed_records_are_complete():
    from sgma_core.studies import ablate, real_start

    for module, path in ((real_start, real_start.default_path("cpu")), (ablate, ablate.default_path("cpu"))):
        if path.is_file():
            module.read_record(path)
