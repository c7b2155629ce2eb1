"""Child processes end with their parent: stopped by SIGTERM or Ctrl-C, or killed with ``kill -9``, a parent
leaves no child behind that writes afterwards. Real processes on tiny workloads: a child records its pid, sleeps,
then writes a file; the test stops the parent and watches the child end without writing."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sgma_core import child_processes

ROOT = Path(__file__).resolve().parents[1]
# a child that writes <folder>/<name>.pid, sleeps, then writes <folder>/<name>.late: the write a stopped run must
# never make (the sleep is far longer than stopping takes, and shorter than the tests' deadlines)
CHILD = ("import os, sys, time, pathlib; d, name = pathlib.Path(sys.argv[1]), sys.argv[2]; "
         "(d / f'{name}.pid').write_text(str(os.getpid())); time.sleep(4); "
         "(d / f'{name}.late').write_text('written after its parent stopped')")


def child_command(folder: Path, name: str) -> list[str]:
    return [sys.executable, "-c", CHILD, str(folder), name]


def gone(pid: int) -> bool:
    """The process has ended (a zombie waiting for init counts as ended)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return True


def wait_for(condition, seconds: float, what: str):
    """``condition()`` once it is true, polled until ``seconds`` have passed (then the test fails with ``what``)."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.05)
    return value


def child_pids(folder: Path, names: list[str]) -> list[int]:
    files = [folder / f"{n}.pid" for n in names]
    return wait_for(lambda: all(f.is_file() and f.read_text() for f in files) and [int(f.read_text()) for f in files],
                    60, f"the children {names} started")


def assert_ended_without_writing(folder: Path, pids: list[int]) -> None:
    wait_for(lambda: all(gone(p) for p in pids), 20, f"children {pids} ended")
    assert not list(folder.glob("*.late")), "a child wrote after its parent stopped"


def test_a_child_dies_with_a_parent_killed_by_sigkill(tmp_path):
    parent = subprocess.Popen([sys.executable, "-c", "import sys; from sgma_core import child_processes; "
                               "child_processes.run(sys.argv[1:])", *child_command(tmp_path, "c")], cwd=ROOT)
    (pid,) = child_pids(tmp_path, ["c"])
    parent.kill()
    parent.wait()
    assert_ended_without_writing(tmp_path, [pid])


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_parent_stopped_by_a_signal_ends_its_child_first(tmp_path, signum):
    script = ("import sys; from sgma_core import child_processes\n"
              "with child_processes.interrupted_by_sigterm():\n"
              "    try:\n        child_processes.run(sys.argv[1:])\n"
              "    except KeyboardInterrupt:\n        raise SystemExit(130)\n")
    parent = subprocess.Popen([sys.executable, "-c", script, *child_command(tmp_path, "c")], cwd=ROOT,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    (pid,) = child_pids(tmp_path, ["c"])
    parent.send_signal(signum)
    assert parent.wait(timeout=30) == 130
    assert gone(pid)  # ended before the parent returned
    assert_ended_without_writing(tmp_path, [pid])


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path):
    proc = child_processes.start([sys.executable, "-c", "import signal, sys, time; "
                                  "signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
                                  "time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    child_processes.end([proc], grace=0.2)
    assert proc.returncode == -signal.SIGKILL
    proc.stdout.close()


def test_sigterm_raises_keyboard_interrupt_only_within_the_block():
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with child_processes.interrupted_by_sigterm():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    assert signal.getsignal(signal.SIGTERM) is previous


def test_a_child_started_with_a_niceness_runs_that_much_lower_and_passes_it_on():
    # its niceness, its session group's where Linux has them, and what a kernel it starts would adopt
    code = ("import os, pathlib; from sgma_core import child_processes as c; g = pathlib.Path('/proc/self/autogroup'); "
            "print(os.nice(0), g.read_text().split()[-1] if g.exists() else '-', os.environ.get('SGMA_NICENESS'))")
    own = os.nice(0)
    for niceness in (0, 3):
        proc = child_processes.start([sys.executable, "-c", code], niceness=niceness, stdout=subprocess.PIPE,
                                     text=True, cwd=ROOT)
        nice, group, passed = proc.communicate(timeout=60)[0].split()
        assert int(nice) == min(own + niceness, 19)
        assert group in ("-", "0" if niceness == 0 else str(own + niceness))
        assert passed == ("None" if niceness == 0 else str(own + niceness))


def test_a_process_adopts_the_niceness_its_parent_passed_on():
    code = "import os; from sgma_core import child_processes as c; c.adopt_niceness(); print(os.nice(0))"
    own = os.nice(0)
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "SGMA_NICENESS": str(own + 2)},
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert int(done.stdout) == own + 2


def test_a_chapter_kernel_adopts_the_niceness_when_it_imports_the_figures_module():
    """Jupyter starts each kernel in a session of its own; every chapter that draws imports bookkit.figures."""
    code = "import os, bookkit.figures; print(os.nice(0))"
    own = os.nice(0)
    for passed, expected in ((None, own), (str(own + 3), own + 3)):
        env = {k: v for k, v in os.environ.items() if k != "SGMA_NICENESS"}
        if passed is not None:
            env["SGMA_NICENESS"] = passed
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT,
                              timeout=120)
        assert int(done.stdout) == min(expected, 19), done.stderr
