"""Files that more than one process may touch: replaced atomically, and locked.

    write_text(path, text)                                 # a reader sees the old file or the new one
    save_atomically(path, lambda p: torch.save(state, p))  # any writer that takes a path
    with locked(folder / ".lock"):                         # one process at a time; the next one waits
        ...

A file is written to a temporary file of a unique name beside it (``.<name>.<random>.tmp``, in the same
folder, so on the same file system) and moved into place with one rename: a reader sees the old file or the
new one, never half of one; two processes writing the same file never share a temporary file, and the
last rename wins whole. A write that fails removes its temporary file and leaves the old file as it was.
Nothing is synced to disk before the rename; the run store syncs its own appended lines.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import filelock


class DiskFullError(OSError):
    """The disk filled up while a file was written."""


def disk_full(exc: BaseException, path: Path) -> bool:
    """Whether ``exc``, raised while writing ``path``, means the disk is full."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    try:  # torch reports a failed write as "enforce fail at inline_container.cc" without the cause
        return isinstance(exc, RuntimeError) and shutil.disk_usage(path.parent).free < 64 * 2**20
    except OSError:
        return False


def _new_temporary(path: Path) -> Path:
    """An empty file of a new unique name beside ``path``, created with mode ``0666`` less the umask (where
    ``tempfile.mkstemp`` would give ``0600`` whatever the umask)."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


def save_atomically(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Write ``path`` with ``write(temporary_path)``, then move the file into place; returns ``path``.

    The temporary file has a unique name beside ``path`` and is removed if writing fails (an exception,
    Ctrl-C), the old ``path`` left as it was; a full disk is reported as :class:`DiskFullError` naming the
    file. The file gets the permissions the process's umask gives a new file (``0644`` under umask
    ``022``), as a plain ``open`` would: a report or a shared runs folder stays readable to whoever may
    read it."""
    path = Path(path)
    tmp = _new_temporary(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if disk_full(exc, path):
            raise DiskFullError(errno.ENOSPC, f"the disk is full: {path} could not be written "
                                f"({shutil.disk_usage(path.parent).free // 2**20} MiB free there). Free some space, "
                                "or give runs_dir / --runs-dir on another disk, and run the same command again: "
                                "finished work is kept, and a training run resumes "
                                "from its last finished epoch.") from exc
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    """``text`` (UTF-8) into ``path`` atomically, its folder created; returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_atomically(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_array(path: str | Path, array) -> Path:
    """A numpy ``array`` as ``.npy`` into ``path`` atomically; returns ``path``."""
    import numpy as np

    def write(tmp: Path) -> None:
        with tmp.open("wb") as fh:  # a file object: np.save would add ".npy" to the temporary file's name
            np.save(fh, array)

    return save_atomically(path, write)


@contextlib.contextmanager
def locked(lock_file: str | Path, waiting: str | None = None) -> Iterator[None]:
    """Hold the lock ``lock_file`` (created with its folder where missing) while the block runs: one process
    at a time. A second process waits until the first lets go (on its return, an exception or its death),
    first printing ``waiting`` where given: a block of minutes should not look like a hang."""
    lock_file = Path(lock_file)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(lock_file)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        if waiting:
            print(waiting, flush=True)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
