"""Worker processes that end with the process that started them.

A pool's workers outlive a parent killed with ``kill -9`` unless told otherwise, and go on writing files
that a rerun has cleaned up. Here every worker asks the kernel (Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``)
to be killed when its parent dies, and elsewhere watches its parent and exits when it is gone; Ctrl-C is
left to the parent, which ends the pool; SIGTERM to the parent raises :class:`SystemExit` while work is under
way, so that the pool is ended and temporary files are removed as on any error.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import multiprocessing.pool
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
PARENT_CHECK_SECONDS = 0.5


def _ask_kernel_to_kill_with_parent() -> bool:
    """Linux: SIGKILL this process when its parent ends; ``False`` where that cannot be asked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


def end_with_parent(parent: int) -> None:
    """Pool initializer: this worker ends when process ``parent`` does; Ctrl-C and SIGTERM are the parent's."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent catches Ctrl-C and ends the pool
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler, inherited through fork
    if not _ask_kernel_to_kill_with_parent():
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # the parent ended before the kernel was asked
        os._exit(1)


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[multiprocessing.pool.Pool]:
    """A ``multiprocessing`` pool of ``workers`` processes that end with this one; leaving the block by an
    exception (Ctrl-C and SIGTERM included) kills them before the exception goes on, leaving it normally
    waits for them."""
    # Workers must be this process's own children (a fork server's would see another parent and end at once).
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with context.Pool(workers, initializer=end_with_parent, initargs=(os.getpid(),)) as pool:
        yield pool
        pool.close()
        pool.join()


def _raise_system_exit(signum, frame) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def sigterm_exits() -> Iterator[None]:
    """Inside, SIGTERM raises ``SystemExit(143)`` in the main thread, so that ``finally`` clauses run: pools
    are ended and temporary files removed. A handler the program set already is left to do its work, and
    outside the main thread nothing changes."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_system_exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
