"""Execute the book's chapters: with papermill, or as plain Python where there is no Jupyter.

Each MyST chapter in ``book/`` is converted with jupytext, executed with the given parameters and written to
``book/_executed/<chapter>.ipynb`` (``--out``), which the book renders without executing again. Parameters
are checked before any chapter starts: an unknown name or a bad value is an error naming the chapter.

    python -m bookkit.chapters                          # every chapter, cpu profile
    python -m bookkit.chapters 02_baseline -p profile smoke -p seeds "[0]"
    python -m bookkit.chapters --all --jobs 2           # two at a time, each with its share of the cores
    python -m bookkit.chapters 02_baseline --plain      # no Jupyter: the percent script, glued values printed

``-p NAME VALUE`` parses VALUE as YAML; a parameter goes only to the chapters that declare it. A training run
two chapters share is trained by the first to reach it and reused by the other.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bookkit.exercises import EXERCISE_RUNS
from bookkit.machine_paths import portable_notebook
from bookkit.run_times import RUN_TIMES, record_run_time
from bookkit.sources import (
    BOOK,
    CHAPTER_SETTINGS,
    CHAPTERS,
    TRAINING_PARAMETERS,
    chapter_source,
    declared_parameters,
    parameters_at,
    percent_cells,
)
from bookkit.wording import count
from sgma_core import child_processes
from sgma_core.cli import add_debug_flag, add_parameter_option, command, debugging, parse_parameters
from sgma_core.files import save_atomically
from sgma_core.paths import repo_root
from sgma_core.profiles import check_setting
from sgma_core.records import writable_output


def parameters_source(parameters: dict) -> str:
    """The cell papermill injects: one assignment per parameter, values as Python literals."""
    return "# Parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in parameters.items())


def declared_only(name: str, parameters: dict | None, strict: bool) -> dict:
    """The ``parameters`` that chapter ``name`` declares; with ``strict`` one it does not declare is a
    :class:`ValueError` naming the ones it does, otherwise it is dropped."""
    parameters, declared = dict(parameters or {}), declared_parameters(name)
    unknown = [k for k in parameters if k not in declared]
    if unknown and strict:
        raise ValueError(f"chapter {name} has no parameter {unknown[0]!r}; its parameters are: {', '.join(declared)}.")
    return {k: v for k, v in parameters.items() if k in declared}


def run_plain(name: str, parameters: dict | None = None, strict: bool = True) -> dict:
    """Execute a chapter's percent script in this process, parameters injected after its
    ``parameters`` cell as papermill does; returns the chapter's namespace."""
    code = [(tags, src) for kind, tags, src in percent_cells(name) if kind == "code"]
    at, parameters = parameters_at(code), declared_only(name, parameters, strict)
    # after the parameters cell, or first where there is none, as papermill injects them
    code.insert(0 if at is None else at + 1, (["injected-parameters"], parameters_source(parameters)))
    namespace: dict = {"__name__": "__main__"}
    cwd, backend = os.getcwd(), os.environ.get("MPLBACKEND")
    os.chdir(repo_root())
    os.environ["MPLBACKEND"] = "Agg"  # figures are drawn, not shown
    try:
        for i, (_, src) in enumerate(code):
            exec(compile(src, f"<book/{name}.py, code cell {i + 1}>", "exec"), namespace)
    finally:
        os.chdir(cwd)
        if backend is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = backend
    return namespace


def kernel_manager(folder: Path) -> dict:
    """How papermill starts a chapter's kernel: on POSIX, over Unix sockets in ``folder`` (ZeroMQ's ``ipc``
    transport) instead of TCP ports on localhost. A TCP kernel picks free ports as it starts, so two kernels starting
    together (make book runs chapters side by side) can pick the same one and fail to bind it; a socket in a folder
    of the chapter's own cannot clash. Elsewhere (no Unix sockets) Jupyter's own manager: ``{}``."""
    if os.name != "posix":
        return {}
    from jupyter_client import AsyncKernelManager
    from traitlets import default

    class SocketKernelManager(AsyncKernelManager):
        @default("transport")
        def _transport_default(self) -> str:
            return "ipc"

        def _ip_default(self) -> str:  # the sockets' path without its "-<n>": <folder>/kernel-1, kernel-2, …
            return str(folder / "kernel")

    return {"kernel_manager_class": SocketKernelManager}


def execute_chapter(name: str, out_dir: str | Path, parameters: dict | None = None, strict: bool = True,
                    cwd: str | Path | None = None, log_output: bool = False) -> Path:
    """Run one chapter through papermill; returns the executed notebook's path.

    With ``strict`` an undeclared parameter name raises :class:`ValueError` naming the valid ones;
    otherwise parameters the chapter does not declare are dropped.
    """
    import jupytext
    import papermill

    parameters = declared_only(name, parameters, strict)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out_path = out_dir / f"{name}.ipynb"
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / f"{name}.ipynb"
        jupytext.write(jupytext.read(chapter_source(name)), src)
        partial = out_dir / f".{name}.partial.ipynb"
        try:
            papermill.execute_notebook(str(src), str(partial), parameters=parameters, kernel_name="python3",
                                       cwd=str(cwd or repo_root()), progress_bar=False, log_output=log_output,
                                       **kernel_manager(Path(tmp)))
        except KeyboardInterrupt:
            partial.unlink(missing_ok=True)  # the previous executed notebook stays as it was
            raise
    return store_executed(partial, out_path, name, parameters, time.perf_counter() - t0)


def store_executed(partial: Path, out_path: Path, name: str, parameters: dict, seconds: float) -> Path:
    """Store at ``out_path`` papermill's notebook ``partial`` (then removed) of chapter ``name`` as the book renders it:
    the injected cell off the page, provenance in ``metadata.sgma``, no machine folder (:func:`portable_notebook`)."""
    import nbformat

    nb = nbformat.read(partial, as_version=4)
    for cell in nb.cells:  # papermill's injected cell stays in the notebook, off the rendered page
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    nb.metadata["sgma"] = {"chapter": name, "parameters": parameters, "python": platform.python_version(),
                           "host": platform.node(), "seconds": round(seconds, 1),
                           "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    save_atomically(out_path, lambda p: nbformat.write(portable_notebook(nb, f"book/{name}.md"), str(p)))
    partial.unlink()
    return out_path


def _chapters_taking(key: str, declared: dict[str, dict]) -> str:
    """``"chapter 07_real_birds"`` or ``"chapters 02_baseline, 04_sgma_training"``: those of ``declared`` that take
    the parameter ``key``."""
    takers = [name for name, parameters in declared.items() if key in parameters]
    return f"chapter{'s' if len(takers) > 1 else ''} {', '.join(takers)}"


def check_parameters(params: dict, names: list[str]) -> None:
    """The parameters checked before any of the chapters ``names`` starts: the training ones as those chapters use
    them (:func:`sgma_core.profiles.make_experiment`), every other by its declaration
    (:data:`bookkit.sources.CHAPTER_SETTINGS`, checked by :func:`sgma_core.profiles.check_setting`). A
    :class:`ValueError` names the chapters that take the parameter, the parameter and what it may be."""
    from sgma_core.engine.step import resolve_device
    from sgma_core.profiles import make_experiment, resolve_overrides

    declared = {name: declared_parameters(name) for name in names}
    training = [k for k in TRAINING_PARAMETERS if k in params]
    if training:
        try:
            experiment = make_experiment(params.get("profile", "cpu"), {**resolve_overrides(params.get(
                "overrides", {})), "dataset": params.get("dataset", "SYN")}, params.get("seeds"))
            resolve_device(experiment.config.device)
        except ValueError as exc:
            raise ValueError(f"{_chapters_taking(training[0], declared)}: {exc}") from None
    for key, value in params.items():
        if key in CHAPTER_SETTINGS and any(key in parameters for parameters in declared.values()):
            try:
                check_setting(key, value, *CHAPTER_SETTINGS[key])
            except ValueError as exc:
                raise ValueError(f"{_chapters_taking(key, declared)}: {exc}") from None


def check_declared(names: list[str], params: dict) -> None:
    """Every parameter is declared by at least one of the chapters ``names`` (else :class:`ValueError`)."""
    valid = sorted({k for name in names for k in declared_parameters(name)})
    for key in params:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"no chapter among {', '.join(names)} has a parameter {key!r}.{hint} "
                             f"Parameters: {', '.join(valid)}.")


def _one_line(exc: Exception) -> str:
    """A chapter's own error, as papermill reports it, in one line."""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:
        return f"{ename}: {' '.join(str(evalue).split())}"
    return " ".join(str(exc).split())[:500]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bookkit.chapters", description="Execute chapters with papermill.")
    p.add_argument("chapters", nargs="*", help=f"chapter names (default: all of {', '.join(CHAPTERS)})")
    p.add_argument("--all", action="store_true", help="every chapter")
    p.add_argument("--except", dest="leave_out", nargs="+", default=[], metavar="CHAPTER",
                   help="with --all: every chapter but these (make book runs the ones that train apart)")
    add_parameter_option(p, "a chapter parameter")
    p.add_argument("--out", default=str(BOOK / "_executed"), help="folder for the executed notebooks")
    p.add_argument("--record-times", metavar="JSON", default=None,
                   help="store each chapter's execution time under its profile in JSON (the book's record: "
                        f"{RUN_TIMES.relative_to(repo_root())})")
    p.add_argument("--exercises", action="store_true",
                   help="after the chapters, run the papermill exercises (EXERCISE_RUNS) of those chapters too")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="chapters executed at a time, each in its own process (default 1; not with --record-times "
                        "or --exercises, whose times are measured one chapter at a time)")
    p.add_argument("--plain", action="store_true",
                   help="run the percent scripts as plain Python in this process (no Jupyter); "
                        "glued values are printed")
    add_debug_flag(p)
    return p


def run_jobs(jobs: list[tuple[str, str, Path, dict]], record_times: str | None, profile: str, argv: list[str]) -> int:
    """Execute ``(label, chapter, out folder, parameters)`` jobs in order, each timed (and recorded in
    ``record_times`` under ``profile``); the first failure stops with exit status 1, an interruption (Ctrl-C or
    SIGTERM) with 130, the interrupted chapter's notebook left as it was."""
    with child_processes.interrupted_by_sigterm():
        for label, name, out, job_params in jobs:
            t0 = time.perf_counter()
            print(f"executing {name}{'' if label == name else f' (exercise {label})'} …", flush=True)
            try:
                path = execute_chapter(name, out, job_params, strict=False)
            except KeyboardInterrupt:
                print(f"interrupted: {out / (name + '.ipynb')} is as it was before; run the same command "
                      "again to go on (finished training runs are reused).", file=sys.stderr)
                return 130
            except Exception as exc:  # papermill wraps the chapter's own error; show it briefly
                if debugging(argv):
                    raise
                print(f"error: chapter {name} failed: {_one_line(exc)}  (the notebook with the traceback: "
                      f"{out / f'.{name}.partial.ipynb'})", file=sys.stderr)
                return 1
            seconds = time.perf_counter() - t0
            print(f"  {path} ({seconds:.0f} s)", flush=True)
            if record_times:
                record_run_time(record_times, label, profile, seconds)
    return 0


HEAVY_FIRST = ("04_sgma_training", "02_baseline")  # the chapters that train, started first under --jobs
YIELDING_NICENESS = 5  # every chapter but the first runs at this lower priority under --jobs


def chapter_command(name: str, out: Path, params: dict) -> list[str]:
    """The command that executes chapter ``name`` alone into ``out``, given the parameters of ``params`` it
    declares (as when the chapters run one by one)."""
    declared = declared_parameters(name)
    flags = [x for k, v in params.items() if k in declared for x in ("-p", k, json.dumps(v))]
    return [sys.executable, "-m", "bookkit.chapters", name, "--out", str(out), *flags]


def run_parallel(names: list[str], out: Path, params: dict, jobs: int) -> int:
    """Execute ``names`` ``jobs`` at a time, each by :func:`chapter_command` in its own process with
    ``cores // jobs`` torch threads; the heaviest first, the others at a lower priority, so that the longest chain
    of training keeps a core while the rest share the others. Every chapter runs; the status is 1 if any failed.

    Each chapter process dies with this one (:mod:`sgma_core.child_processes`): when this process is interrupted
    (Ctrl-C, SIGTERM) or killed, the chapters running stop and write nothing more; their kernels end with them."""
    order = [n for n in HEAVY_FIRST if n in names] + [n for n in names if n not in HEAVY_FIRST]
    lead = order[0] if order else None  # the longest chain of training: the others yield the core to it
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    running: dict[str, tuple[subprocess.Popen, float]] = {}
    failed, t0 = [], time.perf_counter()
    with child_processes.interrupted_by_sigterm():
        try:
            while order or running:
                while order and len(running) < jobs:
                    name = order.pop(0)
                    print(f"executing {name} ({count(int(threads), 'thread', words=False)}) …", flush=True)
                    running[name] = (child_processes.start(chapter_command(name, out, params), env=env,
                                                           niceness=0 if name == lead else YIELDING_NICENESS),
                                     time.perf_counter())
                time.sleep(0.5)
                for name, (proc, started) in list(running.items()):
                    if proc.poll() is not None:
                        del running[name]
                        print(f"  {name}: {'done' if proc.returncode == 0 else 'FAILED'} "
                              f"({time.perf_counter() - started:.0f} s)", flush=True)
                        if proc.returncode != 0:
                            failed.append(name)
        finally:
            child_processes.end([proc for proc, _ in running.values()])
    print(f"{len(names)} chapters in {time.perf_counter() - t0:.0f} s" + (f"; failed: {', '.join(failed)}" if failed
                                                                       else ""), flush=True)
    return 1 if failed else 0


@command
def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    names = CHAPTERS if args.all or not args.chapters else args.chapters
    if args.leave_out and not args.all:
        raise ValueError("--except names the chapters --all leaves out: give --all with it.")
    for name in [*names, *args.leave_out]:
        chapter_source(name)  # an unknown chapter name is an error before anything runs
    names = [n for n in names if n not in args.leave_out]
    params = parse_parameters(args.parameter)
    check_parameters(params, names)
    if args.plain:
        for name in names:
            t0 = time.perf_counter()
            print(f"executing {name} as plain Python …", flush=True)
            run_plain(name, params, strict=False)
            print(f"  {name} done ({time.perf_counter() - t0:.0f} s)", flush=True)
        return 0
    check_declared(names, params)
    out = writable_output(args.out, "--out", "the executed notebooks", folder=True)
    if args.jobs < 1:
        raise ValueError(f"--jobs {args.jobs}: give 1 or more chapters at a time.")
    if args.jobs > 1:
        if args.record_times or args.exercises:
            raise ValueError("--jobs runs chapters side by side, so their times are not each chapter's own: "
                             "use --jobs 1 with --record-times or --exercises.")
        status = run_parallel(names, out, params, args.jobs)
        if status == 0:
            print(json.dumps({"executed": names, "out": str(out)}))
        return status
    # (what is timed, chapter, output folder, parameters): the chapters, then their papermill exercises
    jobs = [(name, name, out, params) for name in names]
    if args.exercises:
        jobs += [(label, chapter, writable_output(out / label, "--out", "the executed notebooks", folder=True),
                  {**params, **extra})
                 for label, (chapter, extra) in EXERCISE_RUNS.items() if chapter in names]
    status = run_jobs(jobs, args.record_times, str(params.get("profile", "cpu")), argv)
    if status == 0:
        print(json.dumps({"executed": names, "out": str(out)}))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
