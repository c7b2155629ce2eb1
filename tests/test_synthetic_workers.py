"""The generator's worker processes end with it: after ``kill -9`` of the generator no worker goes on drawing
into its temporary folder, and the next run removes that folder and writes the dataset."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data_prep.synthetic import SyntheticConfig, generate

ROOT = Path(__file__).resolve().parents[1]
LARGE = ["--workers", "2", "--classes", "40", "--unseen", "10", "--images-per-class", "40", "--image-size", "64"]

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent's reaper has ended)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _files(folder: Path) -> set[str]:
    return {str(p) for p in folder.rglob("*")}


def _wait_for(condition, what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds:.0f} s for {what}")
        time.sleep(0.02)


def _start_drawing(out: Path, *args: str) -> subprocess.Popen:
    """The generator as a user starts it, once it is drawing (its first image is written)."""
    proc = subprocess.Popen([sys.executable, "-m", "data_prep.synthetic", "--out", str(out), *LARGE, *args],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(lambda: proc.poll() is not None or any(out.parent.glob(f".{out.name}.tmp-*/CUB_200_2011/images/*/*.jpg")),
              "the first image")
    assert proc.poll() is None, "the generator ended before it was stopped"
    return proc


def test_no_worker_outlives_a_killed_generator(tmp_path):
    out = tmp_path / "SYN"
    proc = _start_drawing(out)
    workers = _children(proc.pid)
    assert len(workers) == 2
    proc.kill()
    proc.wait()
    _wait_for(lambda: not any(_alive(w) for w in workers), "the workers to end", seconds=10)
    before = _files(tmp_path)
    time.sleep(1.0)  # a worker still drawing would add images now
    assert _files(tmp_path) == before
    assert generate(out, SyntheticConfig(classes=6, unseen=2, images_per_class=2, image_size=32), workers=1,
                    progress=False)["status"] == "written"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["SYN"]  # the killed run's temporary folder is gone


def test_sigterm_ends_the_workers_and_removes_the_temporary_folder(tmp_path):
    out = tmp_path / "SYN"
    proc = _start_drawing(out)
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert not any(_alive(w) for w in workers)
    assert list(tmp_path.iterdir()) == []


def test_a_worker_whose_parent_is_gone_exits(monkeypatch):
    from data_prep import worker_pool

    exits = []
    monkeypatch.setattr(worker_pool.os, "_exit", exits.append)
    monkeypatch.setattr(worker_pool.signal, "signal", lambda *args: None)
    monkeypatch.setattr(worker_pool, "_ask_kernel_to_kill_with_parent", lambda: True)  # not for the test's process
    worker_pool.end_with_parent(os.getppid())
    assert exits == []
    worker_pool.end_with_parent(-1)  # no process has that id: "the parent ended before the kernel was asked"
    assert exits == [1]
