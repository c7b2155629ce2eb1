"""The day's report of ``gpu_day.py``: ``gpu_day-<card>-<date>.json`` and ``.md``, one pair per card and day.

Runs on the same day merge into it: a run writes the sections it measured and keeps every other section of the
report as it finds it, so ``--sections chapters`` after a full run replaces the chapters and nothing else. Each
section records when the run that measured it started (``run_started``). Both files are written atomically after
each section, from the report as it is on disk then.
"""

from __future__ import annotations

from pathlib import Path

from sgma_core.files import write_text
from sgma_core.records import read_record, write_record

SECTIONS = ("steps", "parity", "start", "chapters", "cub_epoch")


def read_day_report(path: Path) -> dict:
    """The report at ``path`` (empty when there is none yet); a damaged one is a :class:`ValueError` naming it,
    and is never written over."""
    if not path.exists():
        return {}
    return read_record(path, remedy="Nothing writes over a report it cannot read: move it aside (or give another "
                                    "--out) and run again.")


def merged(on_disk: dict, header: dict, measured: dict) -> dict:
    """The report ``on_disk`` with this run's ``header`` (device, environment, sizes, ``started``, …) and the
    sections it ``measured``; sections it did not measure stay as they were, stamped with their run's start."""
    kept = {name: {"run_started": on_disk.get("started"), **on_disk[name]} for name in SECTIONS
            if isinstance(on_disk.get(name), dict) and name not in measured}
    return {**on_disk, **header, **kept,
            **{name: {"run_started": header["started"], **result} for name, result in measured.items()}}


def write_day_report(stem: Path, header: dict, measured: dict) -> dict:
    """This run's sections merged (:func:`merged`) into ``<stem>.json`` as it is now, then ``<stem>.json`` and
    ``<stem>.md`` written atomically; returns the report written."""
    report = merged(read_day_report(stem.with_suffix(".json")), header, measured)
    write_record(stem.with_suffix(".json"), report)
    write_text(stem.with_suffix(".md"), markdown(report))
    return report


def failed_sections(report: dict, names) -> dict[str, str]:
    """The sections of ``names`` that recorded an error in ``report``, with the error."""
    return {n: report[n]["error"] for n in names if isinstance(report.get(n), dict) and "error" in report[n]}


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def _runs_line(report: dict) -> str:
    """Which run measured which section: ``started A (steps, parity); started B (chapters)``."""
    runs: dict[str, list[str]] = {}
    for name in SECTIONS:
        if isinstance(report.get(name), dict):
            runs.setdefault(str(report[name].get("run_started", report.get("started"))), []).append(name)
    return "; ".join(f"started {started} ({', '.join(names)})" for started, names in runs.items())


def markdown(report: dict) -> str:
    """The report as the Markdown file committed beside its JSON (what has been measured so far)."""
    lines = [f"# GPU day — {report['device']}", "", f"{report['environment']}; "
             f"{'dry run (tiny sizes on the CPU)' if report['dry_run'] else 'the paper sizes'}; runs: "
             f"{_runs_line(report)}", ""]
    st = report.get("steps", {})
    if "rows" in st:
        lines += [f"## Training step ({st['backbone']}, {st['precision']}, channels-last, cudnn.benchmark; matmul peak "
                  f"{st['matmul_peak_tflops']} TFLOP/s)", "", "| model | mode | images/s | of the FLOP bound |",
                  "|---|---|---|---|"]
        lines += [f"| {r['model']} | {r['mode']} | {r['images_per_s']} | {r['fraction_of_bound']:.2f} |"
                  for r in st["rows"]]
        lines += ["", f"SGMA's step ÷ its four backbone passes (overhead): {st['sgma_overhead']}; host syncs per "
                  f"eager step: {st['host_syncs_per_eager_step']}", ""]
    pa = report.get("parity", {})
    if "sgma" in pa:
        lines += ["## Compiled against eager (float32, three steps)", ""]
        lines += [f"- {m}: first step {v.get('first_step_relative_difference', v['max_relative_difference']):.2e} "
                  f"({'within' if v['within'] else 'outside'} {v['tolerance']:g}); largest over the three steps "
                  f"{v['max_relative_difference']:.2e}"
                  + (f", where the eager steps drift {v['nudged_max_relative_difference']:.2e} with weights nudged "
                     f"by {v['nudge']:g}" if "nudge" in v else "") for m, v in pa.items() if isinstance(v, dict)]
        lines.append("")
    sw = report.get("start", {})
    if "manifest" in sw:
        m = sw["manifest"]
        lines += ["## VGG19's start: pretrained on the synthetic birds' seen classes", "",
                  f"{m['epochs']} epochs at {m['image_size']}², seen-class accuracy {_pct(m['seen_acc'])} % (chance "
                  f"{_pct(m['chance'])} %), sha256 {m['sha256'][:12]}…, loads back identical: "
                  f"{sw['loads_back_identical']}", ""]
    ch = report.get("chapters", {})
    if "chapters" in ch:
        lines += [f"## Chapters 02 and 04 by papermill, `paper` profile, {ch['overrides'].get('backbone')} from its "
                  "start", "",
                  "| chapter | exit | seconds | T1 | u | s | H | chance T1 |", "|---|---|---|---|---|---|---|---|"]
        for name, r in ch["chapters"].items():
            lines.append(f"| {name} | {r['returncode']} | {r['seconds']} | " + " | ".join(
                f"{r[k]:.1f}" if k in r else "–" for k in ("T1", "u", "s", "H", "chance_T1")) + " |")
        lines += ["", "Seconds per epoch: " + "; ".join(f"{k} {sum(v) / len(v):.1f}" for k, v in
                                                         ch["epoch_seconds"].items() if v), ""]
    cub = report.get("cub_epoch", {})
    if "epoch_seconds" in cub:
        lines += ["## One CUB-sized SGMA epoch", "", f"{cub['backbone']}, {cub['images']} images at {cub['size']}² / "
                  f"{cub['joint_size']}², {cub['precision']}: {cub['epoch_seconds']:.1f} s ({cub['images_per_s']} "
                  "images/s)", ""]
    errors = [f"- {k}: {error}" for k, error in failed_sections(report, SECTIONS).items()]
    return "\n".join(lines + (["## Sections that failed", ""] + errors if errors else [])) + "\n"
