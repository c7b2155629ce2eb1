"""Child processes that end with their parent.

A child started by :func:`start` runs in its own session (a process group of its own, which Ctrl-C at the terminal
does not reach), and on Linux the kernel sends it SIGTERM when the process that started it dies, even by
``kill -9``. :func:`end` stops a child's whole process group: SIGTERM, then SIGKILL after a grace period.
:func:`interrupted_by_sigterm` makes SIGTERM raise :class:`KeyboardInterrupt` as Ctrl-C does, so that the
``finally`` blocks that end children and remove partial files run on either signal.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
GRACE_SECONDS = 10.0  # how long a child may take to end after SIGTERM before it is killed
NICENESS_VARIABLE = "SGMA_NICENESS"  # the niceness a child's own children take (adopt_niceness)


def _prctl():
    """libc's ``prctl``, loaded here in the parent (loading a library between fork and exec is not safe); None
    off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).prctl


def _set_niceness(level: int) -> None:
    """This process at niceness ``level`` (only ever lowered in priority), and its session's scheduling group too:
    where Linux schedules sessions as groups (``sched_autogroup``), a niceness counts only within the session."""
    current = os.nice(0)
    if level > current:
        os.nice(level - current)
    try:
        with open("/proc/self/autogroup", "w") as group:
            group.write(str(max(level, current)))
    except OSError:  # no autogroups here (another kernel, another system): the niceness alone applies
        pass


def adopt_niceness() -> None:
    """Take the lower priority a parent asked for in ``$SGMA_NICENESS``: for a process in a session of its own
    that :func:`start` did not start itself (a Jupyter kernel of a chapter started with a ``niceness``)."""
    value = os.environ.get(NICENESS_VARIABLE, "")
    if value.lstrip("-").isdigit():
        _set_niceness(int(value))


def start(cmd: list[str], niceness: int = 0, **popen) -> subprocess.Popen:
    """``subprocess.Popen(cmd, **popen)`` in a session of its own, sent SIGTERM by the kernel when this process
    dies (Linux); a child whose parent died before that took effect ends at once. ``niceness`` is added to this
    process's for the child (a lower priority where positive) and passed on to its descendants in
    ``$SGMA_NICENESS`` (:func:`adopt_niceness`)."""
    parent, prctl = os.getpid(), _prctl()
    level = os.nice(0) + niceness if niceness > 0 else None
    if level is not None:
        popen["env"] = {**(popen.get("env") or os.environ), NICENESS_VARIABLE: str(level)}

    def die_with_parent() -> None:  # runs in the child, between fork and exec
        if level is not None:
            _set_niceness(level)
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
            if os.getppid() != parent:
                os._exit(1)

    return subprocess.Popen(cmd, start_new_session=True, preexec_fn=die_with_parent, **popen)


def _signal_group(proc: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:  # the group has ended already
        pass


def end(procs: list[subprocess.Popen], grace: float = GRACE_SECONDS) -> None:
    """The process groups of ``procs`` (started by :func:`start`) sent SIGTERM; those whose leader still runs
    ``grace`` seconds later are killed. Returns when every leader has ended."""
    running = [p for p in procs if p.poll() is None]
    for proc in running:
        _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in running:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()


def run(cmd: list[str], **popen) -> subprocess.CompletedProcess:
    """``subprocess.run(cmd, capture_output=True, text=True, **popen)`` with ``cmd`` started by :func:`start`:
    when this process is interrupted (Ctrl-C, or SIGTERM under :func:`interrupted_by_sigterm`) or killed, the
    child's process group ends too."""
    proc = start(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
    try:
        out, err = proc.communicate()
    except BaseException:
        for pipe in (proc.stdout, proc.stderr):  # a child writing as it ends must not block on a full pipe
            pipe.close()
        end([proc])
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@contextmanager
def interrupted_by_sigterm():
    """Within the block SIGTERM raises :class:`KeyboardInterrupt` in the main thread, as Ctrl-C does; the
    previous handler is restored after it. Outside the main thread (where no handler can be set) nothing
    changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
