"""The studies: standalone commands that train or score many runs and write one record each to
``results/``, which a chapter renders without training (:mod:`sgma_core.records` writes them).

* :mod:`~sgma_core.studies.ablate` — every open choice decided on validation classes
  (``python -m sgma_core.studies.ablate``, ``make ablations``; chapter 05);
* :mod:`~sgma_core.studies.power` — more seeds where an adopted value's gain is uncertain
  (``make power``; chapter 05);
* :mod:`~sgma_core.studies.real_start` — the synthetic birds with an ImageNet backbone
  (``make real-start``; chapter 07);
* :mod:`~sgma_core.studies.looking` — where the squares go, beside controls (``make looking``; chapter 06);
* :mod:`~sgma_core.studies.frozen` — zero-shot CUB on frozen ImageNet features (chapter 07).

They call :mod:`sgma_core.experiment`, as the chapters do; nothing imports them but the chapters
that render their records.
"""


def study_command(prog: str, doc: str, default_path, run, stored_only: bool = False, jobs: bool = False,
                  seeds=None):
    """The command line every synthetic-bird study shares, as a ``main(argv)``: ``--profile`` (smoke or cpu),
    ``--seeds``, ``--data-root``, ``--runs-dir`` and ``--out`` (default ``default_path(profile)``, checked
    before any work), ``--stored-only`` where the study can record the runs already finished without
    training, and ``--jobs`` where it can run as several processes (the others train the same runs in another
    seed order and write no record); ``run(args, out)`` returns the record, which is written to ``out``
    (``args.ledger``: the ledger folder beside it; ``--retrain``: :func:`add_retrain_option`); ``seeds``: the
    study's own default seeds."""
    from sgma_core.cli import command

    @command
    def main(argv: list[str]) -> int:
        import argparse

        from sgma_core import child_processes
        from sgma_core.cli import add_run_options, parse_seeds, positive_int
        from sgma_core.records import writable_output, write_record

        p = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
        add_run_options(p, profiles=("smoke", "cpu"), dataset=None, parameters=False)
        p.add_argument("--out", default=None, help=f"default: {default_path('<profile>')}")
        if stored_only:
            p.add_argument("--stored-only", action="store_true",
                           help="train nothing: record the runs already finished (a study in progress)")
        if jobs:
            p.add_argument("--jobs", type=positive_int, default=1,
                           help="processes training at once: the others train the same runs in another seed "
                                "order and write no record (default 1)")
            p.add_argument("--helper", action="store_true", help=argparse.SUPPRESS)
        add_retrain_option(p)
        args = p.parse_args(argv)
        args.seeds = parse_seeds(args.seeds)
        retrain_runs_dir(args)
        out = writable_output(args.out or default_path(args.profile))
        args.ledger = out.parent / "ledger" / out.stem
        helpers = helper_processes(prog.split()[-1], argv, args, seeds) if jobs else []
        try:
            record = run(args, None if getattr(args, "helper", False) else out)
        finally:
            child_processes.end(helpers)
        if getattr(args, "helper", False):
            return 0
        write_record(out, record)
        print(f"{out}: {len(record['rows'])} runs in {record['provenance']['seconds'] / 60:.1f} min")
        return 0

    return main


def helper_processes(module: str, argv: list[str], args, default_seeds=None) -> list:
    """For ``--jobs N`` (N > 1): N − 1 processes of ``python -m module`` with the same arguments, each taking the
    seeds (``args.seeds``, else ``default_seeds``, else the profile's) in another order (rotated) with
    ``--helper``; none for a helper itself."""
    import sys

    from sgma_core import child_processes
    from sgma_core.profiles import make_experiment

    if args.helper or args.jobs < 2:
        return []
    seeds = list(make_experiment(args.profile, None, args.seeds or default_seeds).seeds)
    rotations = [len(seeds) * j // args.jobs for j in range(1, args.jobs)]
    return [child_processes.start([sys.executable, "-m", module, *argv, "--jobs", "1", "--helper", "--seeds",
                                   ",".join(map(str, seeds[k:] + seeds[:k]))]) for k in rotations]


def add_retrain_option(parser) -> None:
    parser.add_argument("--retrain", action="store_true",
                        help="train again, in runs/library-<fingerprint>, every run this checkout's library did "
                             "not train (a ledger's row of another library is replaced)")


def retrain_runs_dir(args) -> None:
    """With ``--retrain``: the study's runs in a folder of this library's own, ``<runs>/library-<fingerprint>``
    (:func:`sgma_core.paths.library_fingerprint`), so that no stored run trained by other code is reused."""
    from sgma_core.paths import library_fingerprint, runs_root

    if args.retrain:
        args.runs_dir = str(runs_root(args.runs_dir) / f"library-{library_fingerprint()}")
