"""What every study and tool of the project writes: files replaced atomically, JSON records, and the
provenance that ties a record to the code, the machine and the settings that made it.

    write_record("results/x.json", {**rows, "provenance": provenance(config, seconds=12.5)})
    record = read_record("results/x.json", required=("runs", "provenance"))

A record is written to a temporary file of a unique name in the same folder and moved into place,
so a reader sees the old file or the new one, never half of one, and two writers never share a
temporary file. A damaged or incomplete record is an error that names the file and what to do.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

from sgma_core.paths import current_commit


class DiskFullError(OSError):
    """The disk filled up while a file was written."""


class RecordError(ValueError):
    """A record file is missing, not JSON, or lacks what its reader needs."""


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
    """Write ``path`` with ``write(temporary_path)``, then move the file into place.

    The temporary file has a unique name beside ``path`` (``.<name>.<random>.tmp``) and is removed
    if writing fails; a full disk is reported as :class:`DiskFullError` naming the file. The file gets
    the permissions the process's umask gives a new file (``0644`` under umask ``022``), as a plain
    ``open`` would: a report or a shared runs folder stays readable to whoever may read it."""
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
                                "finished work is kept, and a training run resumes from its last finished epoch.") from exc
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    """``text`` (UTF-8) into ``path`` atomically, its folder created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_atomically(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_record(path: str | Path, record: dict) -> Path:
    """A record as indented JSON, written atomically (its folder created); returns the path."""
    return write_text(path, json.dumps(record, indent=1) + "\n")


def read_record(path: str | Path, required: tuple[str, ...] = (), remedy: str = "") -> dict:
    """The JSON record at ``path``; :class:`RecordError` names the file, what is wrong and ``remedy``
    (the command that writes it again) when it is missing, not JSON, not an object, or lacks a key
    of ``required``."""
    path = Path(path)
    what = f" {remedy}" if remedy else ""
    if not path.is_file():
        raise RecordError(f"{path} does not exist.{what}")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordError(f"{path} is not a complete JSON record ({str(exc)[:80]}): the file is damaged or was cut "
                          f"short.{what}") from None
    if not isinstance(record, dict):
        raise RecordError(f"{path} holds a JSON {type(record).__name__}, not a record (an object).{what}")
    missing = [key for key in required if key not in record]
    if missing:
        raise RecordError(f"{path} lacks {', '.join(map(repr, missing))}: it is damaged or was written by other "
                          f"code.{what}")
    return record


def machine() -> str:
    """The machine a record was made on: ``"x86_64, 2 CPU cores, torch 2.14.1"`` (and the GPU, if any)."""
    text = f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"
    try:
        import torch
    except ImportError:
        return text
    text += f", torch {torch.__version__}"
    if torch.cuda.is_available():
        text += f", {torch.cuda.get_device_name()}"
    return text


def provenance(config: dict | None = None, seconds: float | None = None, **extra) -> dict:
    """Where a record comes from: ``commit``, ``date``, ``machine``, ``config`` (the settings it ran
    with), ``seconds`` (how long it took), and any ``extra`` fields."""
    return {"commit": current_commit(), "date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": machine(),
            "config": config, "seconds": None if seconds is None else round(float(seconds), 1), **extra}


def writable_output(path: str | Path) -> Path:
    """``path`` checked as a file this process can write, before the work that makes it (its folder
    created); :class:`ValueError` names it and why not."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"--out {path} is a folder: give the file to write, e.g. {path / 'record.json'}.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".check"):
            pass
    except OSError as exc:
        raise ValueError(f"--out {path} cannot be written ({exc.strerror or exc}): give a file in a folder you can "
                         "write to.") from None
    return path


def settings_drift(recorded: dict, current: dict) -> dict[str, tuple]:
    """``{setting: (recorded, current)}`` where two configuration dicts differ in what a run computes (the
    seed, ``RUNTIME_ONLY`` and settings absent from ``recorded``, which it predates, left out)."""
    from sgma_core.profiles import RUNTIME_ONLY

    skip = set(RUNTIME_ONLY) | {"seed"}
    return {k: (recorded[k], current[k]) for k in current
            if k not in skip and k in recorded and recorded[k] != current[k]}


def config_drift(recorded: dict, profile: str, overrides: dict | None = None) -> dict[str, tuple]:
    """Where a record's configuration (``provenance.config``, or one of its entries) differs from what
    ``profile`` with ``overrides`` gives today: ``{setting: (recorded, today)}``, empty when they agree."""
    from sgma_core.profiles import config_dict, make_config

    return settings_drift(recorded, config_dict(make_config(profile, dict(overrides or {}))))
