"""What every study and tool of the project writes: JSON records, the provenance that ties a record to the
code, the machine and the settings that made it, and the check that an output can be written at all.

    out = writable_output(args.out)                     # before the work, not after it
    write_record(out, {**rows, "provenance": provenance(config, seconds=12.5)})
    record = read_record(out, required=("runs", "provenance"))

A record is written atomically (:mod:`sgma_core.files`), never holds a number that is not one, and a
damaged or incomplete record is an error that names the file and what to do.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from sgma_core.files import write_text
from sgma_core.paths import current_commit


class RecordError(ValueError):
    """A record file is missing, not JSON, or lacks what its reader needs."""


# a list of numbers that the indentation spread over lines (a JSON string holds no raw line break)
_NUMBER_LIST = re.compile(r"\[\s*\n\s*(-?[0-9][0-9.eE+-]*(?:,\s*-?[0-9][0-9.eE+-]*)*)\s*\]")


def write_record(path: str | Path, record: dict, sort_keys: bool = False) -> Path:
    """A record as indented JSON (its keys sorted with ``sort_keys``), each list of numbers on one line,
    written atomically (:func:`sgma_core.files.write_text`, its folder created); returns the path. A record
    holding NaN or an infinity is refused (:func:`dumps_finite`) and nothing is written."""
    text = dumps_finite(record, path, indent=1, sort_keys=sort_keys)
    text = _NUMBER_LIST.sub(lambda m: "[" + ", ".join(re.split(r",\s*", m.group(1))) + "]", text)
    return write_text(path, text + "\n")


def read_record(path: str | Path, required: tuple[str, ...] = (), remedy: str = "",
                numbers: tuple[str, ...] = ()) -> dict:
    """The JSON record at ``path``; :class:`RecordError` names the file, what is wrong and ``remedy``
    (the command that writes it again) when it is missing, not JSON, not an object, lacks a key
    of ``required``, holds NaN or an infinity anywhere, or a field of ``numbers`` (:func:`check_numbers`)
    that is not a number."""
    path = Path(path)
    what = f" {remedy}" if remedy else ""
    if not path.is_file():
        raise RecordError(f"{path} does not exist.{what}")
    try:
        record = loads_finite(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordError(f"{path} is not a complete JSON record ({str(exc)[:80]}): the file is damaged or was cut "
                          f"short.{what}") from None
    if not isinstance(record, dict):
        raise RecordError(f"{path} holds a JSON {type(record).__name__}, not a record (an object).{what}")
    found = non_finite_field(record)
    if found:
        raise RecordError(f"{path}: {found[0]} is {found[1]}, not a number: the file is damaged or was written by "
                          f"other code, and none of it is used.{what}")
    missing = [key for key in required if key not in record]
    if missing:
        raise RecordError(f"{path} lacks {', '.join(map(repr, missing))}: it is damaged or was written by other "
                          f"code.{what}")
    check_numbers(record, numbers, f"{path}: ", f" The file is damaged or was written by other code.{what}")
    return record


# ---- JSON that holds numbers only where it says it does ----------------------------------------------------
# Python's json reads and writes NaN, Infinity and -Infinity, which JSON does not have: a record holding one
# renders as "nan" and compares as equal to nothing, so a reader refuses it and a writer never writes it.

class _NotANumber:
    """A token read where a number belongs that is not one (``NaN``, ``Infinity``, or a literal beyond a
    float's range), kept so that the field holding it can be named."""

    def __init__(self, token: str) -> None:
        self.token = token


def _finite_or_marked(text: str) -> float | _NotANumber:
    value = float(text)
    return value if math.isfinite(value) else _NotANumber(text)


def loads_finite(text: str) -> object:
    """JSON ``text`` parsed with every number that is not one kept as a marker that
    :func:`non_finite_field` finds; ``ValueError`` where it is not JSON."""
    return json.loads(text, parse_constant=_NotANumber, parse_float=_finite_or_marked)


def _join(where: str, key: object) -> str:
    return f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}" if where else str(key)


def non_finite_field(value: object, where: str = "") -> tuple[str, str] | None:
    """``(field, value)`` of the first number in ``value`` that is not one, the field as a JSON path
    (``runs[3].test.T1``): a NaN or infinite float, or a token :func:`loads_finite` marked; ``None`` where
    there is none."""
    if isinstance(value, _NotANumber):
        return where or "the value", value.token
    if isinstance(value, float) and not math.isfinite(value):
        return where or "the value", repr(value)
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, (list, tuple)) else ()
    for key, item in items:
        found = non_finite_field(item, _join(where, key))
        if found:
            return found
    return None


def dumps_finite(value: object, path: str | Path, **kwargs) -> str:
    """``json.dumps(value, allow_nan=False, **kwargs)``; a NaN or an infinity in ``value`` is a
    :class:`RecordError` naming ``path`` (the file it was for) and the field."""
    found = non_finite_field(value)
    if found:
        raise RecordError(f"{path}: {found[0]} is {found[1]}, not a number, so nothing was written: a record holds "
                          "numbers only. The computation that gave it failed (a diverged run, an empty set of images); "
                          "find why before recording it.")
    return json.dumps(value, allow_nan=False, **kwargs)


def _describe(value: object) -> str:
    kind = {str: "a string", bool: "a boolean", list: "a list", dict: "an object", type(None): "null"}
    return f"{kind.get(type(value), type(value).__name__)} ({json.dumps(value)[:40]})"


def _fields(node: object, steps: list[str], where: str, prefix: str, suffix: str) -> Iterator[tuple[str, object]]:
    """``(JSON path, value)`` of every field ``steps`` reach from ``node`` (see :func:`check_numbers`)."""
    if not steps:
        yield where, node
        return
    step, rest = steps[0], steps[1:]
    expected = list if step == "[]" else dict
    if not isinstance(node, expected):
        raise RecordError(f"{prefix}{where or 'the record'} is {_describe(node)}, not "
                          f"{'a list' if expected is list else 'an object'}.{suffix}")
    if step in ("[]", "*"):
        for key, item in (enumerate(node) if step == "[]" else node.items()):
            yield from _fields(item, rest, _join(where, key), prefix, suffix)
    elif step not in node:
        raise RecordError(f"{prefix}{where or 'the record'} lacks {step!r}.{suffix}")
    else:
        yield from _fields(node[step], rest, _join(where, step), prefix, suffix)


def check_numbers(record: dict, numbers: tuple[str, ...], prefix: str = "", suffix: str = "") -> None:
    """Refuse ``record`` unless every field of ``numbers`` is a number (a field named ``seed`` an integer):
    :class:`RecordError` ``prefix`` + the field's JSON path and what it holds + ``suffix``. A field is a path
    of keys, ``[]`` standing for every item of a list and ``*`` for every value of an object:
    ``rows[].T1``, ``references.*.hits``."""
    for pattern in numbers:
        for where, value in _fields(record, pattern.replace("[]", ".[]").split("."), "", prefix, suffix):
            wanted = int if where.endswith("seed") else (int, float)
            if isinstance(value, bool) or not isinstance(value, wanted):
                raise RecordError(f"{prefix}{where} is {_describe(value)}, not "
                                  f"{'an integer' if wanted is int else 'a number'}.{suffix}")


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
    """Where a record comes from: ``commit``, ``date``, ``machine``, ``cpu_dispatch`` (the instruction sets its
    CPU computations used, :mod:`sgma_core.dispatch`), ``config`` (the settings it ran with), ``seconds`` (how
    long it took), and any ``extra`` fields."""
    from sgma_core.dispatch import levels

    return {"commit": current_commit(), "date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": machine(),
            "cpu_dispatch": levels(), "config": config,
            "seconds": None if seconds is None else round(float(seconds), 1), **extra}


def writable_output(path: str | Path, option: str = "--out", purpose: str = "", folder: bool = False) -> Path:
    """``path``, given as ``option``, checked before the work that fills it (for ``purpose``, which the
    messages name): a file this process can write (its folder created), or with ``folder`` a folder it can
    write into (created). :class:`ValueError` names the path and why not: a folder where a file is asked
    for or the reverse, or a place that cannot be written."""
    path = Path(path)
    where = path if folder else path.parent
    wanted = ("a folder" if folder else "a file") + (f" for {purpose}" if purpose else "")
    if folder and path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path} is a file, not a folder: give {wanted}.")
    if not folder and path.is_dir():
        raise ValueError(f"{option} {path} is a folder: give the file to write, e.g. {path / 'record.json'}.")
    try:
        where.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=where, prefix=f".{path.name}.", suffix=".check"):
            pass
    except OSError as exc:
        raise ValueError(f"{option} {path} cannot be written ({exc.strerror or exc}): give {wanted} in a place you "
                         "can write to.") from None
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
