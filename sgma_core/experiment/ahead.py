"""Runs a page will need later, trained ahead in a child process, on a core the page is not using.

A training chapter trains one run after another on one thread; where the machine has a second core that
nothing else uses (``make book`` runs the light chapters beside the heavy one, and they end early), a child
trains the page's later runs in the run store while the page trains its first. The page then asks for the
same run as before: :func:`~sgma_core.experiment.recipes.train_sgma` waits on the run folder's lock while the
child trains it, and reads it when it is done. Nothing changes what is trained: the same settings, data and
snapshot images name the same run. The child ends with the page (:mod:`sgma_core.child_processes`).

    ahead = train_ahead([Ahead(val_cfg, "val"), Ahead(literal_cfg, "test", snapshots=True)], data_root, runs_dir)
    ...                          # the page's own work; later train_sgma calls of those runs read them
    ahead.finish()               # the child's exit status, or None where none was started
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

from sgma_core.profiles import RunConfig, config_dict, make_config


@dataclass(frozen=True)
class Ahead:
    """One run to train ahead: its settings, the split it is trained on ("test": all seen classes, "val": the
    training classes of the validation split) and the test images the page keeps snapshots of."""

    config: RunConfig
    split: str = "test"
    snapshots: bool | int = False  # True: every test image (unseen classes first); a number n: the first n of them


class Started:
    """A child training runs ahead (``proc`` None: nothing was started)."""

    def __init__(self, proc: subprocess.Popen | None) -> None:
        self.proc = proc

    def finish(self) -> int | None:
        """Wait for the child and return its exit status (None: none was started). A run the child could not
        train is trained by the page itself, so a failed child costs time, never a result."""
        return None if self.proc is None else self.proc.wait()


AHEAD_NICENESS = 5  # added to the page's niceness for the child


def shown_images(prepared, snapshots: bool | int):
    """The test images an :class:`Ahead`'s ``snapshots`` names: None (False), every one (True) or the first n."""
    from sgma_core.experiment.where import snapshot_images

    if snapshots is False or snapshots is None:
        return None
    images = snapshot_images(prepared)
    return images if snapshots is True else images[: int(snapshots)]


def spare_core() -> bool:
    """Whether this process may use more than one core (a child on the same single core would only slow the page)."""
    return len(os.sched_getaffinity(0)) > 1 if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1) > 1


def train_ahead(jobs: list[Ahead], data_root=None, runs_dir=None, enabled: bool = True) -> Started:
    """Start a child that trains ``jobs`` in order (stored runs are read, not trained), where ``enabled`` and a
    second core is there; its output goes nowhere (the page reports the runs when it reads them).

    The child runs at a lower priority than the page (:data:`AHEAD_NICENESS`), so that the page's own training
    keeps a core while the child shares the other with whatever else runs. A run the page reaches before the
    child has started it is trained by the page and skipped by the child: list the runs the page needs last
    last, and the page takes over the child's tail of the list instead of waiting for it."""
    from sgma_core import child_processes

    if not (enabled and jobs and spare_core()):
        return Started(None)
    spec = {"data_root": None if data_root is None else str(data_root),
            "runs_dir": None if runs_dir is None else str(runs_dir),
            "jobs": [{"config": config_dict(j.config), "split": j.split, "snapshots": j.snapshots} for j in jobs]}
    return Started(child_processes.start([sys.executable, "-m", "sgma_core.experiment.ahead", json.dumps(spec)],
                                         niceness=AHEAD_NICENESS, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL))


def run_jobs(spec: dict) -> int:
    """Train every job of ``spec`` (:func:`train_ahead`'s) as the page would; returns how many failed (a dataset
    without validation classes, say), each left to the page."""
    from sgma_core.experiment.prepare import prepare_data
    from sgma_core.experiment.recipes import train_sgma

    failed = 0
    for job in spec["jobs"]:
        settings = dict(job["config"])
        try:
            cfg = make_config(settings.pop("profile"), settings)
            prepared = prepare_data(cfg, spec["data_root"], progress=False, split=job["split"],
                                    runs_dir=spec["runs_dir"])
            train_sgma(prepared, cfg, spec["runs_dir"], progress=False,
                       snapshot_images=shown_images(prepared, job["snapshots"]))
        except Exception as exc:  # noqa: BLE001 - the page trains this run itself; the next job may still work
            print(f"not trained ahead: {exc}", file=sys.stderr)
            failed += 1
    return failed


if __name__ == "__main__":
    sys.exit(1 if run_jobs(json.loads(sys.argv[1])) else 0)
