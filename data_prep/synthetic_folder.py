"""The synthetic dataset's folder: its stamp, which files in it are the generator's, and putting files in place.

The stamp, ``SYNTHETIC.json``, records the settings and every file the generator wrote, with its size and
SHA-256. The generator writes only into a folder that is new, empty or stamped, and replaces or removes only
files its stamp lists and whose bytes are still the recorded ones; whatever else lies in the folder is the
user's and stays. A listed file whose bytes differ from its record was changed by someone: it is replaced only
when the user says so (``--force``). Stamps of earlier versions are read too: ``files`` as ``{path: size}``
(sizes only), and, in the first ones, no ``files`` at all (then the generator's files are its tables and the
images its own ``images.txt`` names).

New files are drawn into a temporary sibling folder, unique to the run and removed by it, then moved into
place one by one between two stamps: the first lists the files being replaced with their old bytes
(``previous``), so that a run stopped midway leaves a folder the next run recognizes as the generator's and
finishes; the second, without ``previous``, marks the dataset complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from data_prep.synthetic_layout import TABLES

STAMP = "SYNTHETIC.json"
TEMPORARY_MARK = ".written-by-data_prep.synthetic"  # inside a run's temporary folder: what a later run may remove
_OLDER_TEMPORARY = {"CUB_200_2011", "xlsa17", STAMP}  # what earlier versions' temporary folders held
_SHA256 = set("0123456789abcdef")


def file_digest(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@dataclass(frozen=True)
class Record:
    """What a stamp says of one file: its size and SHA-256 (either ``None`` where an older stamp did not say)."""

    size: int | None = None
    sha256: str | None = None

    @classmethod
    def of(cls, path: Path) -> Record:
        return cls(path.stat().st_size, file_digest(path))

    def matches(self, path: Path) -> bool:
        """Whether the regular file ``path`` holds the recorded bytes (as far as the record tells)."""
        if self.size is not None and path.stat().st_size != self.size:
            return False
        return self.sha256 is None or file_digest(path) == self.sha256

    def as_json(self) -> dict:
        return {"size": self.size, "sha256": self.sha256}


@dataclass
class Stamp:
    """A folder's stamp: the settings of its dataset, its files, and those a stopped run was replacing."""

    settings: dict
    files: dict[str, Record]
    previous: dict[str, Record] = field(default_factory=dict)

    def listed(self) -> set[str]:
        return set(self.files) | set(self.previous)


def _refused(shown: Path, why: str) -> FileExistsError:
    return FileExistsError(
        f"{shown / STAMP} is not a stamp this generator wrote ({why}), so no file in {shown} is known to be its own "
        "and nothing there is replaced or deleted, with or without --force. Choose another --out (the book's is "
        f"data/SYN), or move what you keep out of {shown}, remove the folder, and run again.")


def _inside(path: str) -> bool:
    """Whether ``path`` names a file inside a folder: relative, in ``/``-separated plain names, no ``..``."""
    parts = PurePosixPath(path).parts
    return bool(parts) and not PurePosixPath(path).is_absolute() and path == "/".join(parts) and "\\" not in path \
        and not any(p in ("..", ".") for p in parts)


def _relative(path: object, shown: Path) -> str:
    """``path`` if it names a file inside the folder other than the stamp, else a refusal."""
    if not isinstance(path, str) or not _inside(path) or path == STAMP:
        raise _refused(shown, f"it lists {path!r}, which is not a file inside the folder")
    return path


def _record(value: object, rel: str, shown: Path) -> Record:
    """A file's record as the current (``{"size", "sha256"}``) or an earlier (a size) stamp writes it."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return Record(size=value)
    if isinstance(value, dict) and set(value) == {"size", "sha256"} and isinstance(value["size"], int) \
            and not isinstance(value["size"], bool) and value["size"] >= 0 and isinstance(value["sha256"], str) \
            and len(value["sha256"]) == 64 and set(value["sha256"]) <= _SHA256:
        return Record(value["size"], value["sha256"])
    raise _refused(shown, f"the record of {rel} is {json.dumps(value)[:60]}, not a size and a SHA-256")


def _records(value: object, key: str, shown: Path) -> dict[str, Record]:
    if not isinstance(value, dict):
        raise _refused(shown, f"its {key} are {type(value).__name__}, not an object of file records")
    return {_relative(rel, shown): _record(v, rel, shown) for rel, v in value.items()}


def _first_stamp_files(folder: Path) -> dict[str, Record]:
    """The files of a first-version stamp, which listed none: the tables and the images its images.txt names."""
    files = {rel: Record() for rel in TABLES}
    try:
        lines = (folder / "CUB_200_2011" / "images.txt").read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return files
    for line in lines:
        fields = line.split(maxsplit=1)
        if len(fields) == 2 and _inside(fields[1].strip()):
            files[f"CUB_200_2011/images/{fields[1].strip()}"] = Record()
    return files


def read_stamp(folder: Path, shown: Path) -> Stamp | None:
    """The stamp of ``folder`` (``shown`` in messages), ``None`` where there is none; anything else that is not
    a stamp this generator wrote is refused with a :class:`FileExistsError` naming it."""
    path = folder / STAMP
    if not os.path.lexists(path):
        return None
    if path.is_symlink() or not path.is_file():
        raise _refused(shown, "it is not a plain file")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _refused(shown, f"not readable JSON: {str(exc)[:80]}") from None
    if not isinstance(doc, dict):
        raise _refused(shown, f"a JSON {type(doc).__name__}, not an object")
    settings = doc.get("settings")
    if not isinstance(settings, dict) or not isinstance(settings.get("format"), int):
        raise _refused(shown, "no settings with a format number")
    files = _records(doc["files"], "files", shown) if "files" in doc else _first_stamp_files(folder)
    return Stamp(settings, files, _records(doc.get("previous", {}), "previous", shown))


@dataclass
class Survey:
    """What lies in a stamped (or empty) folder, seen against its stamp and the files a run is to write.

    ``vouched``: listed files in place whose bytes match a record (the record that matched); ``current``: those
    that match ``files`` (not only ``previous``); ``changed``: listed files whose bytes match no record;
    ``blocked``: paths a planned file is to take that hold something else (a folder, a link, an unlisted file);
    ``foreign``: the top-most entries the stamp does not list (folders end in ``/``)."""

    vouched: dict[str, Record] = field(default_factory=dict)
    current: set[str] = field(default_factory=set)
    changed: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)


def _blocked_folder(folder: Path, rel: str, checked: dict[str, bool]) -> bool:
    """Whether a folder on the way to ``rel`` is a link or a file (writing there would leave the folder)."""
    parts = PurePosixPath(rel).parts[:-1]
    for depth in range(1, len(parts) + 1):
        sub = "/".join(parts[:depth])
        if sub not in checked:
            try:
                checked[sub] = not stat.S_ISDIR(os.lstat(folder / sub).st_mode)
            except FileNotFoundError:
                checked[sub] = False
        if checked[sub]:
            return True
    return False


def survey(folder: Path, stamp: Stamp | None, planned: set[str]) -> Survey:
    """Look at every listed and planned file of ``folder`` (hashing the listed ones) and at what else is there."""
    found, checked = Survey(), {}
    listed = stamp.listed() if stamp else set()
    for rel in sorted(listed | planned):
        if _blocked_folder(folder, rel, checked):  # not the generator's to touch, nor a place to write
            if rel in planned:
                found.blocked.append(rel)
            continue
        try:
            mode = os.lstat(folder / rel).st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue
        if not stat.S_ISREG(mode) or rel not in listed:
            if rel in planned:
                found.blocked.append(rel)
            continue
        if rel in stamp.files and stamp.files[rel].matches(folder / rel):
            found.vouched[rel] = stamp.files[rel]
            found.current.add(rel)
        elif rel in stamp.previous and stamp.previous[rel].matches(folder / rel):
            found.vouched[rel] = stamp.previous[rel]
        else:
            found.changed.append(rel)
    found.foreign = _foreign(folder, listed) if folder.is_dir() else []
    return found


def _foreign(folder: Path, listed: set[str]) -> list[str]:
    """The top-most entries under ``folder`` that are neither a listed file, the stamp, nor a folder holding one."""
    holders = {"/".join(parts[:depth]) for parts in (PurePosixPath(rel).parts for rel in listed)
               for depth in range(1, len(parts))}
    found, pending = [], [""]
    while pending:
        prefix = pending.pop()
        with os.scandir(folder / prefix if prefix else folder) as entries:
            for entry in entries:
                rel = f"{prefix}/{entry.name}" if prefix else entry.name
                if entry.is_dir(follow_symlinks=False) and rel in holders:
                    pending.append(rel)
                elif entry.is_dir(follow_symlinks=False):
                    found.append(rel + "/")
                elif rel not in listed and rel != STAMP:
                    found.append(rel)
    return sorted(found)


def move_file(source: Path, target: Path) -> None:
    """Put one drawn file in place (an atomic rename: a reader sees the old bytes or the new)."""
    os.replace(source, target)


def write_stamp(folder: Path, temporary: Path, doc: dict) -> None:
    """Write ``doc`` as ``folder``'s stamp atomically, through the run's temporary folder."""
    staged = temporary / STAMP
    staged.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(staged, folder / STAMP)


def put_in_place(folder: Path, temporary: Path, doc: dict, drawn: set[str], replaced: dict[str, Record],
                 obsolete: set[str]) -> None:
    """Move the ``drawn`` files from ``temporary`` into ``folder``, remove the ``obsolete`` ones (files of the
    stamp that the new dataset does not have) and stamp the folder with ``doc``; ``replaced``: the records of
    the generator's files now in place that this replaces or removes (kept in the stamp until it is done)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_stamp(folder, temporary, {**doc, "previous": {rel: r.as_json() for rel, r in sorted(replaced.items())}})
    for rel in sorted(drawn):
        target = folder / rel
        if rel in replaced and target.is_file() and doc["files"][rel] == Record.of(target).as_json():
            continue  # the same bytes are there already: the file keeps its date
        target.parent.mkdir(parents=True, exist_ok=True)
        move_file(temporary / rel, target)
    for rel in sorted(obsolete):
        (folder / rel).unlink(missing_ok=True)
        for parent in (folder / rel).parents:
            if parent == folder or any(parent.iterdir()):
                break
            parent.rmdir()  # a folder the generator's files alone filled, now empty
    write_stamp(folder, temporary, doc)


def make_temporary(folder: Path) -> Path:
    """A new temporary folder beside ``folder``, unique to this run and marked as the generator's."""
    remove_stale_temporaries(folder)
    temporary = folder.parent / f".{folder.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    temporary.mkdir()
    (temporary / TEMPORARY_MARK).write_text(f"{os.getpid()}\n")
    return temporary


def _process_is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # a live process of another user
        return False
    return False


def remove_stale_temporaries(folder: Path) -> None:
    """The temporary folders of earlier runs for ``folder`` whose process is gone, and only those: each carries
    its run's mark (or, from earlier versions, holds nothing but what they drew)."""
    prefix = f".{folder.name}.tmp-"
    for temporary in folder.parent.glob(f"{prefix}*"):
        pid = temporary.name[len(prefix):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or temporary.is_symlink() or not temporary.is_dir():
            continue
        older = temporary.name == f"{prefix}{pid}" and {p.name for p in temporary.iterdir()} <= _OLDER_TEMPORARY
        if ((temporary / TEMPORARY_MARK).is_file() or older) and _process_is_gone(int(pid)):
            shutil.rmtree(temporary, ignore_errors=True)
