"""``python -m bookkit.notebooks`` deletes only what it wrote: every folder it makes carries a stamp
(``.sgma-notebooks``), and a folder or zip file the stamp does not vouch for is refused, untouched.
It also refuses inputs that would give an empty download: a missing or empty ``--executed``, or one
inside the folder it replaces."""

import json
import zipfile

import nbformat
import pytest

from bookkit.notebooks import STAMP, DownloadsError, main, write_downloads
from bookkit.sources import CHAPTERS


def _executed(folder, names=("02_baseline",)):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"'{name}'")]),
                       folder / f"{name}.ipynb")
    return folder


def _tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_fresh_out_is_made_and_every_folder_stamped(tmp_path):
    out = tmp_path / "build" / "downloads"  # as on a fresh checkout: nothing of it exists yet
    write_downloads(out, _executed(tmp_path / "ex"))
    for folder in (out, out / "student", out / "executed"):
        stamp = json.loads((folder / STAMP).read_text())
        assert stamp["written_by"] == "python -m bookkit.notebooks"
        assert sorted(stamp["files"]) == sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != STAMP)
    assert sorted(json.loads((out / STAMP).read_text())["files"]) == ["sgma-executed-notebooks.zip",
                                                                      "sgma-student-notebooks.zip"]
    assert not [p for p in out.iterdir() if p.name.endswith(".partial")]


@pytest.mark.parametrize("kind", ["student", "executed"])
def test_a_folder_without_the_stamp_is_refused_and_kept(tmp_path, kind):
    out = tmp_path / "out"
    (out / kind).mkdir(parents=True)
    (out / kind / "alice.ipynb").write_text("alice's own work")
    with pytest.raises(DownloadsError, match=rf"{out / kind} exists but was not made by .*no \.sgma-notebooks.*"
                                             r"nothing was deleted.*Move it elsewhere"):
        write_downloads(out, _executed(tmp_path / "ex"))
    assert (out / kind / "alice.ipynb").read_text() == "alice's own work"
    assert sorted(p.name for p in out.iterdir()) == [kind]  # nothing else written either


@pytest.mark.parametrize("change", ["added", "edited", "subfolder"])
def test_a_stamped_folder_holding_other_files_is_refused_and_kept(tmp_path, change):
    out, executed = tmp_path / "out", _executed(tmp_path / "ex")
    write_downloads(out, executed)
    student = out / "student"
    if change == "added":
        (student / "alice.ipynb").write_text("alice's own work")
        name = "alice.ipynb"
    elif change == "edited":  # a chapter opened in Jupyter from there and saved with the student's answers
        (student / "02_baseline.ipynb").write_text("answers")
        name = "02_baseline.ipynb"
    else:
        (student / ".ipynb_checkpoints").mkdir()
        (student / ".ipynb_checkpoints" / "x.ipynb").write_text("a checkpoint")
        name = ".ipynb_checkpoints"
    before = _tree(out)
    with pytest.raises(DownloadsError, match=rf"{student} holds files .* did not write or that were changed since: "
                                             rf"{name}; nothing was deleted\. Move them out"):
        write_downloads(out, executed)
    assert _tree(out) == before


def test_a_zip_file_not_written_by_the_tool_is_refused_and_kept(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "sgma-student-notebooks.zip").write_bytes(b"someone's zip")
    with pytest.raises(DownloadsError, match=r"sgma-student-notebooks\.zip was not written by .*nothing was deleted"):
        write_downloads(out, _executed(tmp_path / "ex"))
    assert (out / "sgma-student-notebooks.zip").read_bytes() == b"someone's zip"
    assert sorted(p.name for p in out.iterdir()) == ["sgma-student-notebooks.zip"]


@pytest.mark.parametrize("inside", ["executed", "executed/deeper", "student"])
def test_executed_inside_the_folder_it_replaces_is_refused(tmp_path, inside):
    out = tmp_path / "out"
    write_downloads(out, _executed(tmp_path / "ex"))
    executed = _executed(out / inside, CHAPTERS) if inside != "executed" else out / "executed"
    before = _tree(out)
    with pytest.raises(DownloadsError, match=rf"--executed {executed} is inside {out / inside.split('/')[0]}.*"
                                             "nothing was deleted"):
        write_downloads(out, executed)
    assert _tree(out) == before
    with zipfile.ZipFile(out / "sgma-executed-notebooks.zip") as z:
        assert z.namelist() == ["executed/02_baseline.ipynb"]  # the earlier download is still whole


@pytest.mark.parametrize("state", ["missing", "empty", "no chapter"])
def test_missing_or_empty_executed_is_an_error_with_exit_status_2(tmp_path, capsys, state):
    executed = tmp_path / "ex"
    if state != "missing":
        executed.mkdir()
    if state == "no chapter":
        _executed(executed, ["99_not_a_chapter"])
    out = tmp_path / "out"
    assert main(["--out", str(out), "--executed", str(executed)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--executed {executed}" in err and "make chapters" in err
    assert not out.exists()  # no empty zip to link from the course guide


def test_debug_is_accepted(tmp_path, capsys):
    out, executed = tmp_path / "out", _executed(tmp_path / "ex")
    assert main(["--out", str(out), "--executed", str(executed), "--debug"]) == 0
    assert "sgma-executed-notebooks.zip" in capsys.readouterr().out
    with pytest.raises(DownloadsError):  # --debug shows the traceback instead of one line
        main(["--out", str(out), "--executed", str(tmp_path / "missing"), "--debug"])


def test_an_old_download_folder_says_what_to_do(tmp_path):
    """A folder left by the tool before it stamped (or by anything else) is named, with what to do."""
    out = tmp_path / "out"
    (out / "executed").mkdir(parents=True)
    (out / "executed" / "02_baseline.ipynb").write_text("{}")
    with pytest.raises(DownloadsError) as info:
        write_downloads(out, _executed(tmp_path / "ex"))
    assert str(out / "executed") in str(info.value) and "delete it yourself" in str(info.value)
