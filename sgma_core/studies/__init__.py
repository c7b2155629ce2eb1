"""The studies: standalone commands that train or score many runs and write one record each to
``results/``, which a chapter renders without training (:mod:`sgma_core.records` writes them).

* :mod:`~sgma_core.studies.ablate` — every open choice decided on validation classes
  (``python -m sgma_core.studies.ablate``, ``make ablations``; chapter 05);
* :mod:`~sgma_core.studies.real_start` — the synthetic birds with an ImageNet backbone
  (``make real-start``; chapter 07);
* :mod:`~sgma_core.studies.looking` — where the squares go, beside controls (``make looking``; chapter 06);
* :mod:`~sgma_core.studies.frozen` — zero-shot CUB on frozen ImageNet features (chapter 07).

They call :mod:`sgma_core.experiment`, as the chapters do; nothing imports them but the chapters
that render their records.
"""


def study_command(prog: str, doc: str, default_path, run, stored_only: bool = False):
    """The command line every synthetic-bird study shares, as a ``main(argv)``: ``--profile`` (smoke or cpu),
    ``--seeds``, ``--data-root``, ``--runs-dir`` and ``--out`` (default ``default_path(profile)``, checked
    before any work), and ``--stored-only`` where the study can record the runs already finished without
    training; ``run(args, out)`` returns the record, which is written to ``out``."""
    from sgma_core.cli import command

    @command
    def main(argv: list[str]) -> int:
        import argparse

        from sgma_core.cli import add_run_options, parse_seeds
        from sgma_core.records import writable_output, write_record

        p = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
        add_run_options(p, profiles=("smoke", "cpu"), dataset=None, parameters=False)
        p.add_argument("--out", default=None, help=f"default: {default_path('<profile>')}")
        if stored_only:
            p.add_argument("--stored-only", action="store_true",
                           help="train nothing: record the runs already finished (a study in progress)")
        args = p.parse_args(argv)
        args.seeds = parse_seeds(args.seeds)
        out = writable_output(args.out or default_path(args.profile))
        record = run(args, out)
        write_record(out, record)
        print(f"{out}: {len(record['rows'])} runs in {record['provenance']['seconds'] / 60:.1f} min")
        return 0

    return main
