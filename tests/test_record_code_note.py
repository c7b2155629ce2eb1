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
