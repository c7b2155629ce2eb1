"""A study's ledger: what the study measured of each finished run, kept beside its record in the repository, so
that a study longer than one machine's session goes on where it stopped on another machine, and its record is
made again at a later commit without training (a run folder holds weights and stays where it was trained).

One JSON file per run, ``<ledger>/<run folder name>.json``: ``{"run", "identity", "commit", "library", …}`` and
what the study keeps of it (an ablation's validation run: ``scores``, ``check``, ``seconds``; its later steps in
:meth:`Ledger.sub` folders; a looking row). ``library`` fingerprints the library that trained the run (its
folder's ``library.json``); ``commit`` is when the entry was written, ``+dirty`` for any changed tracked file,
the record being written included. The identity is the run's (:func:`sgma_core.engine.runs.run_identity`): a
file of another run, or damaged, is refused with its path and what to do; nothing is unpickled. With
``retrain=True`` (``--retrain``) only this library's entries are held: the others are trained again, replaced.

    ledger = Ledger(Path("results/ledger/ablations-cpu"))
    entry = ledger.get(run, identity) or ledger.put(run, identity, {"scores": scores, "check": check})
"""

from __future__ import annotations

import json
from pathlib import Path

from sgma_core.files import write_text
from sgma_core.paths import current_commit, library_fingerprint
from sgma_core.records import dumps_finite, loads_finite, non_finite_field


class LedgerError(ValueError):
    """A ledger file is damaged or holds another run."""


def _normalised(identity: dict) -> dict:
    return json.loads(json.dumps(identity, sort_keys=True))


class Ledger:
    """The ledger folder of one study; ``folder=None``: no ledger (every run is trained or read from its folder)."""

    def __init__(self, folder: str | Path | None, retrain: bool = False) -> None:
        self.folder = None if folder is None else Path(folder)
        self.commits: list[str] = []  # the commits of the entries read or written, each once, in that order
        self.retrain = retrain  # hold only entries trained by this library: another's is trained again, replaced
        self.library = library_fingerprint() if retrain else None

    def _seen(self, entry: dict) -> dict:
        if entry.get("commit") not in self.commits:
            self.commits.append(str(entry.get("commit")))
        return entry

    def sub(self, name: str) -> Ledger:
        """The ledger of another step of the same study, in a folder of its own inside this one."""
        return Ledger(None if self.folder is None else self.folder / name, self.retrain)

    def path(self, run) -> Path:
        return self.folder / f"{run.path.name}.json"

    def get(self, run, identity: dict) -> dict | None:
        """The entry of ``run``, or ``None`` where there is none (or no ledger; or, retraining, where another
        library trained it)."""
        if self.folder is None or not self.path(run).is_file():
            return None
        path = self.path(run)
        try:
            entry = loads_finite(path.read_text())
            assert isinstance(entry, dict) and isinstance(entry.get("identity"), dict)
            assert non_finite_field(entry) is None
        except (ValueError, AssertionError, UnicodeDecodeError):
            raise LedgerError(f"{path} is damaged. Delete it to train and score the run again, or restore it "
                              "from the repository (git checkout -- <file>).") from None
        if entry.get("identity") != _normalised(identity):
            stored = entry.get("identity") or {}
            diff = sorted(k for k in set(stored) | set(identity) if stored.get(k) != _normalised(identity).get(k))
            raise LedgerError(f"{path} holds a run with other settings ({', '.join(diff)}); delete it, or give the "
                              "study another ledger folder.")
        if self.retrain and entry.get("library") != self.library:
            return None
        return self._seen(entry)

    def lookup(self, kind: str, cfg, runs_dir, prepared) -> tuple:
        """The run of ``kind`` ("sgma" or "baseline") with ``cfg`` on ``prepared`` in ``runs_dir``: ``(run,
        identity, entry)``, ``entry`` from :meth:`get` (``None`` where the ledger does not hold it)."""
        from sgma_core.engine.runs import Run, run_identity
        from sgma_core.experiment.recipes import run_extra

        run = Run.of(kind, cfg, runs_dir, extra=run_extra(prepared, cfg))
        identity = run_identity(cfg, run.keys, run.extra)
        return run, identity, self.get(run, identity)

    def amend(self, run, identity: dict, fields: dict) -> dict:
        """Add ``fields`` to ``run``'s entry (its other fields and commit kept) and return it."""
        entry = self.get(run, identity)
        if entry is None:
            raise LedgerError(f"{self.path(run)} holds no entry of the run to amend.")
        entry = {**entry, **fields}
        write_text(self.path(run), dumps_finite(entry, self.path(run), indent=1) + "\n")
        return entry

    @staticmethod
    def library_of(run) -> dict:
        """``{"library": fingerprint}`` of the library that trained ``run`` (its folder's ``library.json``:
        :meth:`sgma_core.engine.runs.Run.library`), or ``{}`` where that is not known: a stored run reused from
        before fingerprints were noted, or one resumed under another library."""
        library = run.library() if hasattr(run, "library") else None
        return {} if library is None else {"library": library}

    def put(self, run, identity: dict, fields: dict) -> dict:
        """Write ``run``'s entry with ``fields`` (where there is a ledger) and return it."""
        entry = {"run": run.path.name, "identity": _normalised(identity), "commit": current_commit(),
                 **self.library_of(run), **fields}
        if self.folder is not None:
            write_text(self.path(run), dumps_finite(entry, self.path(run), indent=1) + "\n")
        return self._seen(entry)
