"""Files that several processes share: a file written by two processes at once is one whole file, a write
that fails leaves the old file and nothing else, and a lock holds a second process until the first lets go."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sgma_core.files import locked, save_atomically, write_text

ROOT = Path(__file__).resolve().parents[1]

WRITER = """
import sys
from sgma_core.files import write_text
path, letter = sys.argv[1], sys.argv[2]
print("ready", flush=True)
sys.stdin.readline()  # both writers start together
for _ in range(40):
    write_text(path, letter * 2**20)
"""


def test_two_writers_racing_on_one_file_leave_one_whole_file(tmp_path):
    path = tmp_path / "shared.txt"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), letter], cwd=ROOT, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for letter in "ab"]
    for proc in writers:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    for proc in writers:
        proc.stdin.write("\n")
        proc.stdin.flush()
    for proc in writers:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err  # neither found its temporary file taken or moved by the other
    text = path.read_text()
    assert text in ("a" * 2**20, "b" * 2**20)
    assert [p.name for p in tmp_path.iterdir()] == ["shared.txt"]


@pytest.mark.parametrize("failure", [OSError("the device went away"), KeyboardInterrupt()])
def test_a_write_that_fails_halfway_leaves_the_old_file_and_no_temporary_file(tmp_path, failure):
    path = write_text(tmp_path / "record.json", "old")

    def half_then_fail(tmp: Path) -> None:
        tmp.write_text("ne")
        raise failure

    with pytest.raises(type(failure)):
        save_atomically(path, half_then_fail)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


HOLDER = """
import sys
from sgma_core.files import locked
with locked(sys.argv[1], "another process holds the folder; waiting"):
    print("holding", flush=True)
"""


def test_a_second_process_waits_for_the_lock_and_says_so(tmp_path):
    lock = tmp_path / "folder" / ".lock"
    with locked(lock):
        proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(HOLDER), str(lock)], cwd=ROOT, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = proc.stdout.readline()  # blocks until the second process says something
        assert first.strip() == "another process holds the folder; waiting", first + proc.stderr.read()
        assert proc.poll() is None  # still waiting while this one holds the lock
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out.strip() == "holding", err


def test_a_lock_that_is_free_is_taken_without_a_word(tmp_path, capsys):
    with locked(tmp_path / "new folder" / ".lock", "never printed"):
        pass
    with locked(tmp_path / "new folder" / ".lock", "never printed"):  # let go on leaving the block
        pass
    assert capsys.readouterr().out == ""
