"""A chapter that renders a record says which library changes came after it, and whether a test holds each one's
outputs to the record's numbers."""

import subprocess

import pytest

from bookkit import display
from sgma_core.paths import repo_root


def _has(commit: str) -> bool:
    return subprocess.run(["git", "-C", str(repo_root()), "cat-file", "-e", f"{commit}^{{commit}}"],
                          capture_output=True).returncode == 0


@pytest.mark.skipif(not _has("d1ffbfe"), reason="the repository's history is not here (archive or shallow clone)")
def test_changes_since_a_record_are_named_with_the_test_that_holds_them(monkeypatch):
    commits = display.library_commits_since("d1ffbfe")
    assert commits and commits[0][0].startswith("d12878c")  # the first library change after d1ffbfe
    monkeypatch.setattr(display, "library_commits_since", lambda commit: commits[:1])  # that change alone
    text = display.record_code_note({"provenance": {"commit": "d1ffbfe+dirty"}}, "make it again.")
    assert "Since d1ffbfe, where it was made, the library changed in d12878c" in text
    assert "tests/test_batches_side_by_side.py holds its outputs equal" in text and "make it again" not in text
    monkeypatch.setattr(display, "SAME_OUTPUTS", {})
    text = display.record_code_note({"provenance": {"commit": "d1ffbfe"}}, "make it again.")
    assert "d12878c in ways no test holds to the record's numbers" in text and text.endswith("make it again.")


def test_nothing_is_said_where_nothing_can_be_told():
    assert display.record_code_note({"provenance": {}}, "x") == ""
    assert display.record_code_note({"provenance": {"commit": "unknown"}}, "x") == ""
    assert display.record_code_note({"provenance": {"commit": "0" * 40}}, "x") == ""  # not in this history
    head = subprocess.run(["git", "-C", str(repo_root()), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        assert display.record_code_note({"provenance": {"commit": head.stdout.strip()}}, "x") == ""


def _check(head: str, entries: list[tuple[str, bool | None]], study: str = "looking") -> dict:
    return {"head": head, "shortened": {"epochs": 2, "max_train_images": 96},
            "provenance": {"machine": "x86_64, 2 CPU cores"},
            "checks": [{"commit": c, "kind": "sgma", "key": f"k{i}",
                        "changed": {"lr": 0.2} if same is False else {}, "studies": {study: 5},
                        "same": same, "why": "" if same is not None else "no such commit"}
                       for i, (c, same) in enumerate(entries)]}


@pytest.mark.skipif(not _has("d1ffbfe"), reason="the repository's history is not here (archive or shallow clone)")
def test_the_runs_commits_count_and_the_code_check_says_what_it_measured():
    head = subprocess.run(["git", "-C", str(repo_root()), "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    record = {"provenance": {"commit": head, "runs_made_at": ["d1ffbfe+dirty", "d12878c", "d1ffbfe"]}}
    assert display.made_at(record) == ["d1ffbfe", "d12878c"]  # the runs' commits, not the record's own
    plain = display.record_code_note(record, "make it again.")
    assert plain.startswith("Its runs' rows were written at 2 commits, from d1ffbfe on; since then the library changed")
    same = display.record_code_note(record, "make it again.", _check(head, [("d1ffbfe", True), ("d12878c", True)]),
                                    "looking")
    assert "2 of those 2 settings, standing for 10 of 10 runs, give the same bits." in same
    assert not same.endswith("make it again.")
    mixed = display.record_code_note(record, "make it again.",
                                     _check(head, [("d1ffbfe", True), ("d12878c", False)]), "looking")
    assert "1 of those 2 settings" in mixed and "1 differ (sgma at d12878c with lr 0.2), standing for 5 runs" in mixed
    assert mixed.endswith("make it again.")
    dirty = _check(head, [("d1ffbfe", True), ("d12878c", None), ("d12878c", True)])
    dirty["checks"][1].update(basis="uncommitted")
    dirty["checks"][2].update(basis="this library")
    told = display.record_code_note(record, "make it again.", dirty, "looking")
    assert "1 of those 1 settings, standing for 5 of 5 runs, give the same bits" in told
    assert "5 of the 15 runs were trained by this commit's library files themselves" in told
    assert "5 of the 15 runs are not tied to committed code" in told
    assert told.endswith("make it again.") and "could not be checked" not in told
    dirty["checks"][0].update(basis="uncommitted", same=None)
    assert display.record_code_note(record, "x", dirty, "looking").count("could train none of the others again") == 1
    for c in dirty["checks"]:
        c.update(basis="this library")
    alike = display.record_code_note(record, "make it again.", dirty, "looking")
    assert alike.endswith("Every one of its 15 runs was trained by this commit's library files themselves (the "
                          "fingerprint of sgma_core/ and data_prep/ its run folder notes), so make code-check had "
                          "nothing to train again.")
    # rows written at d12878c with a library first committed later are checked at that later commit
    tied = _check(head, [("d1ffbfe", True), ("0123456789ab", True)])
    tied["checks"][1]["written_at"] = ["d12878c"]
    assert "2 of those 2 settings, standing for 10 of 10 runs, give the same bits." in display.record_code_note(
        record, "make it again.", tied, "looking")
    # a check of another study, of some of the commits only, or made at an older library is not this record's
    for check, study in ((_check(head, [("d1ffbfe", True), ("d12878c", True)]), "ablations"),
                         (_check(head, [("d1ffbfe", True)]), "looking"),
                         (_check("d1ffbfe", [("d1ffbfe", True), ("d12878c", True)]), "looking")):
        assert display.record_code_note(record, "make it again.", check, study) == plain
