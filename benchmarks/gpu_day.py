"""The GPU hour in one command: ``make gpu-day`` on a lent H100 or H200.

The sections, in the order of :data:`gpu_day_report.SECTIONS`, are the functions :func:`steps`,
:func:`compile_parity.parity`, :func:`start`, :func:`chapters` and :func:`cub_epoch` (``--sections`` picks some), at
the sizes of :data:`SIZES`.
After each, ``gpu_day-<card>-<date>.json`` and ``.md`` are written into ``--out``, merged into the day's report
(:mod:`gpu_day_report`), so a run cut short keeps what it measured and ``--sections chapters`` after a full run
replaces that section only. A section that fails records its error, the next one runs, and the run exits with
status 1 naming it. What a run writes and reads is checked before any section spends device time
(:func:`check_before_work`: status 2 and one line saying what is wrong). The chapters run in processes that end
with this one, whether it is stopped (Ctrl-C, SIGTERM: status 130) or killed. ``--dry-run`` (``make gpu-day
DRY_RUN=1 OUT=<folder>``) is the same on the CPU at tiny sizes: the suite's check that every field is written.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import device_bundle  # noqa: E402
import torch  # noqa: E402
from compile_parity import compiled, parity  # noqa: E402
from gpu_check import card_slug  # noqa: E402
from gpu_day_report import SECTIONS, failed_sections, read_day_report, write_day_report  # noqa: E402

from sgma_core import child_processes, step_throughput  # noqa: E402
from sgma_core.cli import add_debug_flag, command  # noqa: E402
from sgma_core.dispatch import native_while  # noqa: E402
from sgma_core.records import writable_output  # noqa: E402

SIZES = {  # the card's run, and the dry run on the CPU
    "card": {"backbone": "vgg19", "chapter_backbone": "vgg19", "size": 448, "joint": 224, "batch": 32, "steps": 15,
             "cub_images": 7057, "pretrain_epochs": 12, "chapter_epochs": 8, "max_train_images": None,
             "max_test_images": None},
    # the dry run times the small VGG's step and runs the chapters with it (VGG19's compilation and chapter 04 alone
    # take minutes on two cores); VGG19's start is pretrained and loaded back as on the card; two training images per
    # seen class of the synthetic birds, so that every class has its prototype
    "dry": {"backbone": "small_vgg", "chapter_backbone": "small_vgg", "size": 32, "joint": 16, "batch": 8,
            "steps": 2, "cub_images": 16, "pretrain_epochs": 1, "chapter_epochs": 1, "max_train_images": 120,
            "max_test_images": 16},
}


def host_syncs(make, device: torch.device, sz: dict) -> int | None:
    """How many times one eager bf16 step waits for the device (CUDA's sync debug mode); None on the CPU."""
    if device.type != "cuda":
        return None
    step = make(device, True)
    x = torch.randn(sz["batch"], 3, sz["size"], sz["size"], device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 150, (sz["batch"],), device=device)
    step(x, y, True)  # warm-up outside the count
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            step(x, y, True)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def steps(device: torch.device, sz: dict) -> dict:
    """The training step of the baseline and SGMA at ``sz``'s sizes (the card's are the paper's), bf16 autocast
    and channels-last, cudnn.benchmark on, eager against ``torch.compile`` and, on CUDA, against
    ``torch.compile(mode="reduce-overhead")`` (CUDA graphs): each with its fraction of the FLOP bound, the host
    syncs one eager step makes, and SGMA's step against its backbone passes
    (:func:`sgma_core.step_throughput.overhead`)."""
    torch.backends.cudnn.benchmark = True
    bf16 = device.type == "cuda"  # bf16 autocast is the card's; the CPU's dry run times float32
    factories = {"baseline": step_throughput.baseline_step_factory(sz["backbone"]),
                 "sgma": step_throughput.sgma_step_factory(sz["backbone"], sz["size"], sz["joint"])}
    modes = ("eager", "default", "reduce-overhead") if device.type == "cuda" else ("eager", "default")
    peak = step_throughput.matmul_peak(device, torch.bfloat16 if bf16 else torch.float32, 8192 if bf16 else 512)
    rows, syncs = [], {}
    for name, make in factories.items():
        flops = step_throughput.flops_per_image(make, device, sz["size"], sz["batch"])
        bound = peak * 1e12 / flops
        for mode in modes:
            t0 = time.perf_counter()
            rate = step_throughput.step_rate(compiled(make, None if mode == "eager" else mode), device, sz["size"],
                                       sz["batch"], bf16, True, sz["steps"], warmup=3)
            rows.append({"model": name, "mode": "compile" if mode == "default" else
                         "compile + CUDA graphs" if mode == "reduce-overhead" else mode,
                         "images_per_s": round(rate, 1), "fraction_of_bound": round(rate / bound, 3),
                         "gflops_per_image_step": round(flops / 1e9, 2), "seconds_with_compile": round(
                             time.perf_counter() - t0, 1)})
        syncs[name] = host_syncs(make, device, sz)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    over = step_throughput.overhead(str(device), sz["backbone"], sz["size"], sz["joint"], sz["batch"], sz["steps"],
                                    precision="bf16" if bf16 else "fp32", n_classes=150, semantic_dim=312)
    return {"backbone": sz["backbone"], "precision": "bf16" if bf16 else "fp32", "channels_last": True,
            "cudnn_benchmark": True,
            "matmul_peak_tflops": round(peak, 1), "rows": rows, "host_syncs_per_eager_step": syncs,
            "sgma_overhead": round(over["overhead"], 3),
            "sgma_overhead_detail": over}


def paper_overrides(sz: dict, device: torch.device, **more) -> dict:
    """The paper profile on the synthetic birds at this run's sizes."""
    over = {"dataset": "SYN", "device": device.type, "image_size": sz["size"], "joint_size": sz["joint"],
            "batch_size": sz["batch"], "max_train_images": sz["max_train_images"],
            "max_test_images": sz["max_test_images"], **more}
    if device.type == "cpu":
        over.update(precision="fp32", grouping_images=32, grouping_steps=20)
    return {k: v for k, v in over.items() if v is not None}


def _pretrain_start(device: torch.device, sz: dict, data_root: Path, work: Path, backbone: str) -> dict:
    """``backbone`` pretrained on the synthetic birds' seen classes, saved as a start file and loaded back the way
    the ``paper`` profile loads it (``backbone_weights``)."""
    from sgma_core.backbones import backbone_for, layer_of
    from sgma_core.experiment import prepare_data, pretrained_backbone
    from sgma_core.profiles import make_config
    from sgma_core.start_saving import save_start

    cfg = make_config("paper", paper_overrides(sz, device, backbone=backbone, pretrained=False,
                                               pretrain_epochs=sz["pretrain_epochs"], lr=0.01))
    prepared = prepare_data(cfg, data_root, progress=False, runs_dir=work / "runs")
    t0 = time.perf_counter()
    net, history = pretrained_backbone(prepared, cfg, work / "runs", progress=False)
    path = work / "starts" / f"{backbone}-SYN-seen.pt"
    manifest = save_start(net, path, {
        "backbone": backbone, "layer": layer_of(cfg), "dataset": "SYN", "data": prepared.dataset.fingerprint(),
        "seen_classes": prepared.n_seen, "image_size": cfg.image_size, "epochs": cfg.pretrain_epochs,
        "seen_acc": history[-1]["seen_acc"], "chance": 1 / prepared.n_seen})
    loaded = backbone_for(make_config("paper", {"backbone": backbone, "backbone_weights": str(path),
                                                "device": device.type}))
    same = all(torch.equal(a.cpu(), b.cpu()) for a, b in zip(net.state_dict().values(), loaded.state_dict().values()))
    return {"file": str(path), "manifest": manifest, "loads_back_identical": same,
            "seen_acc_per_epoch": [round(h["seen_acc"], 4) for h in history if "seen_acc" in h],
            "epoch_seconds": [h["seconds"] for h in history], "seconds": round(time.perf_counter() - t0, 1)}


def start(device: torch.device, sz: dict, data_root: Path, work: Path) -> dict:
    """VGG19 given the start the cpu profile gives its small VGG: pretrained on the synthetic birds' seen classes,
    saved as a start file (:mod:`sgma_core.start_saving`) with its seen-class accuracy, and loaded back as
    ``-p overrides '{backbone_weights: FILE}'`` loads it; in the dry run also the small VGG's, which its chapters
    use."""
    out = _pretrain_start(device, sz, data_root, work, "vgg19")
    if sz["chapter_backbone"] != "vgg19":
        out["chapter_start"] = _pretrain_start(device, sz, data_root, work, sz["chapter_backbone"])
    return out


def _glued(notebook: Path) -> dict[str, str]:
    """The values an executed chapter glued, as their ``text/plain`` reprs (read as JSON: no nbformat here)."""
    values = {}
    for cell in json.loads(notebook.read_text())["cells"]:
        for out in cell.get("outputs", []):
            meta = out.get("metadata", {}).get("scrapbook")
            if meta:
                values[meta["name"]] = out["data"].get(meta.get("mime_prefix", "") + "text/plain", "")
    return values


def _epoch_seconds(runs: Path, kind: str) -> list[float]:
    return [json.loads(line)["seconds"] for f in sorted((runs / kind).glob("*/metrics.jsonl"))
            for line in f.read_text().splitlines() if line.strip()]


def chapter_start(report: dict) -> str:
    """The start file the chapters train from: the ``start`` section's (this run's, or an earlier run's today whose
    file is still there); a :class:`RuntimeError` saying what to run when there is none."""
    start = report.get("start", {})
    path = start.get("chapter_start", start).get("file")
    if path and Path(path).is_file():
        return path
    why = ("the start section failed" if "error" in start else f"its file {path} is gone" if path
           else "no start section has run today")
    raise RuntimeError(f"the chapters train from the start section's file, and {why}: run --sections start,chapters.")


def run_chapter(python: Path, name: str, overrides: dict, env: dict, work: Path) -> dict:
    """Chapter ``name`` executed by papermill with ``python`` into ``work/executed``, in a process that dies with
    this one (:mod:`sgma_core.child_processes`): its exit status and seconds, and its output's tail when it
    failed."""
    t0 = time.perf_counter()
    proc = child_processes.run([str(python), "-m", "bookkit.chapters", name, "-p", "profile", "paper", "-p",
                                "overrides", json.dumps(overrides), "--out", str(work / "executed")], cwd=ROOT, env=env)
    row = {"returncode": proc.returncode, "seconds": round(time.perf_counter() - t0, 1)}
    if proc.returncode or not (work / "executed" / f"{name}.ipynb").is_file():
        row["output_tail"] = (proc.stdout + proc.stderr)[-1200:]
    return row


def chapters(device: torch.device, sz: dict, data_root: Path, work: Path, bundle: Path, weights: str) -> dict:
    """``bundle`` (``make device-bundle``) installed offline into a new environment, then chapters 02 and 04
    executed there by papermill with the ``paper`` profile from the start file ``weights``: T1 and u / s / H
    against chance, seconds per epoch."""
    t0 = time.perf_counter()
    python = device_bundle.install(bundle, work / "env")
    out = {"environment": str(python), "install_seconds": round(time.perf_counter() - t0, 1), "chapters": {}}
    overrides = paper_overrides(sz, device, backbone=sz["chapter_backbone"], backbone_weights=weights,
                                epochs=sz["chapter_epochs"])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SGMA_DATA_ROOT": str(data_root),
           "SGMA_RUNS_ROOT": str(work / "runs")}
    keys = {"02_baseline": "baseline_", "04_sgma_training": "sgma_compat_"}
    for name, prefix in keys.items():
        row = run_chapter(python, name, overrides, env, work)
        if "output_tail" not in row:
            glued = _glued(work / "executed" / f"{name}.ipynb")
            row.update({k: float(glued[prefix + k]) for k in ("T1", "u", "s", "H") if prefix + k in glued})
            row["chance_T1"] = float(glued.get("chance_t1", "nan"))
        out["chapters"][name] = row
    out["overrides"] = overrides
    out["epoch_seconds"] = {kind: _epoch_seconds(work / "runs", kind) for kind in ("baseline", "sgma")}
    return out


def cub_epoch(device: torch.device, sz: dict, work: Path) -> dict:
    """One SGMA epoch over ``sz["cub_images"]`` random images (on the card, as many as CUB's trainval) at the
    attention and joint sizes, with CUB's 150 seen classes and 312 attributes."""
    from sgma_core.backbones import backbone_for
    from sgma_core.engine.loop import fit
    from sgma_core.engine.step import TrainData
    from sgma_core.profiles import make_config
    from sgma_core.sgma import SGMA, SGMAObjective

    cfg = make_config("paper", paper_overrides(sz, device, backbone=sz["backbone"], pretrained=False, epochs=1,
                                               eval_every=1))
    model = SGMA.from_config(cfg, n_attributes=312, n_seen=150, backbone=backbone_for(cfg))
    objective = SGMAObjective.from_config(model.to(device), torch.randn(312, 150, device=device), cfg)
    n, gen = sz["cub_images"], torch.Generator().manual_seed(0)
    data = TrainData(torch.randint(0, 256, (n, 3, sz["size"], sz["size"]), dtype=torch.uint8, generator=gen),
                     torch.randint(0, 150, (n,), generator=gen))
    t0 = time.perf_counter()
    history = fit(model, data, objective, cfg, work / "cub-epoch", progress=False)
    return {"backbone": cfg.backbone, "images": n, "size": sz["size"], "joint_size": sz["joint"],
            "precision": cfg.precision,
            "epoch_seconds": history[-1]["seconds"], "images_per_s": round(n / history[-1]["seconds"], 1),
            "wall_seconds": round(time.perf_counter() - t0, 1)}


def synthetic_root(work: Path) -> Path:
    """A data root with the synthetic birds: the checkout's ``data/SYN`` when it is complete, else generated."""
    from data_prep.synthetic import SyntheticConfig, generate
    from sgma_core.data import DatasetError, load_dataset

    try:
        load_dataset("SYN", ROOT / "data")
        return ROOT / "data"
    except (DatasetError, OSError):
        generate(work / "data" / "SYN", SyntheticConfig(), progress=False)
        return work / "data"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python benchmarks/gpu_day.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="benchmarks/results", help="the folder of the day's report")
    p.add_argument("--bundle", default="device-bundle", help="the folder `make device-bundle` wrote")
    p.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU (the test suite's run)")
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"some of {', '.join(SECTIONS)}")
    p.add_argument("--work", default=None, help="a new folder for data, runs and the environment (default: a "
                   "temporary one, kept for a look afterwards)")
    add_debug_flag(p)
    return p


def checked_sections(text: str) -> list[str]:
    """``--sections``: names of :data:`SECTIONS` separated by commas, each once; anything else is a
    :class:`ValueError` naming it."""
    names = text.split(",")
    bad = [n for n in names if n not in SECTIONS]
    if bad:
        raise ValueError(f"--sections {text!r}: {bad[0]!r} is not a section; give some of {','.join(SECTIONS)}, "
                         "separated by commas.")
    return list(dict.fromkeys(names))


def check_before_work(args, sections: list[str], stem: Path) -> Path:
    """Everything a run writes or reads checked before any section spends device time: ``--out`` a folder that can
    be written, the day's report there readable (it is merged into, never written over), for the chapters a
    verified ``--bundle`` and a start file (from this run's start section or an earlier one today), ``--work`` a
    new or empty folder that can be written. Returns the work folder (a new temporary one without ``--work``);
    a :class:`ValueError` names what is wrong."""
    writable_output(args.out, "--out", "the day's report", folder=True)
    today = read_day_report(stem.with_suffix(".json"))
    if "chapters" in sections:
        try:
            device_bundle.verify(args.bundle)
            if "start" not in sections:
                chapter_start(today)
        except (device_bundle.BundleError, RuntimeError) as exc:
            raise ValueError(f"the chapters section cannot run: {exc}") from None
    if args.work is None:
        return Path(tempfile.mkdtemp(prefix="sgma-gpu-day-"))
    work = Path(args.work)
    if work.is_dir() and any(work.iterdir()):
        raise ValueError(f"--work {work} is not empty; give a new folder")
    return writable_output(work, "--work", "data, runs and the environment", folder=True)


def run_sections(names: list[str], jobs: dict, stem: Path, header: dict) -> dict:
    """Each section of ``names`` run by ``jobs[name](report so far)``, its result (or its error: the next one runs
    all the same) merged into the day's report, which is written after each; returns the report."""
    report, t_start = read_day_report(stem.with_suffix(".json")), time.perf_counter()
    measured: dict[str, dict] = {}
    for name in names:
        t0 = time.perf_counter()
        try:
            result = jobs[name](report)
        except Exception as exc:  # noqa: BLE001 - a failed section is recorded and the next one runs
            result = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"}
        measured[name] = {**result, "section_seconds": round(time.perf_counter() - t0, 1)}
        header["total_seconds"] = round(time.perf_counter() - t_start, 1)
        report = write_day_report(stem, header, measured)
        print(f"{name}: {measured[name]['section_seconds']} s", flush=True)
    return report


@command
def main(argv: list[str]) -> int:
    # compiled CPU code at the AVX2 level sgma_core pins indexes out of bounds in SGMA's backward (torch 2.14): the day
    # and its processes keep each library's own instruction sets (sgma_core.dispatch.native_while)
    with native_while():
        return _day(argv)


def _day(argv: list[str]) -> int:  # the day itself, at each library's own instruction sets
    args = _parser().parse_args(argv)
    sections = checked_sections(args.sections)
    device = torch.device("cpu" if args.dry_run else "cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA device here; use --dry-run for the CPU check (benchmarks/README.md)", file=sys.stderr)
        return 1
    sz = SIZES["dry" if args.dry_run else "card"]
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    stem = Path(args.out) / f"gpu_day-{card_slug(card) if device.type == 'cuda' else 'cpu'}-{time.strftime('%Y-%m-%d')}"
    work = check_before_work(args, sections, stem)
    header = {"device": card, "dry_run": args.dry_run, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
              "environment": f"torch {torch.__version__}, Python {sys.version.split()[0]}", "sizes": sz}
    data_root = functools.cache(lambda: synthetic_root(work))  # made when a section first needs the birds

    def chapters_job(report: dict) -> dict:
        weights = chapter_start(report)  # before any data is made or anything installed
        return chapters(device, sz, data_root(), work, Path(args.bundle), weights)

    jobs = {"steps": lambda report: steps(device, sz), "parity": lambda report: parity(device, sz),
            "start": lambda report: start(device, sz, data_root(), work), "chapters": chapters_job,
            "cub_epoch": lambda report: cub_epoch(device, sz, work)}
    with child_processes.interrupted_by_sigterm():  # SIGTERM ends a running chapter as Ctrl-C does
        report = run_sections(sections, jobs, stem, header)
    print(f"wrote {stem}.json and .md ({header['total_seconds']:.0f} s); work files in {work}")
    failed = failed_sections(report, sections)
    if failed:
        print(f"error: {len(failed)} of {len(sections)} sections failed (their errors are in {stem}.md): "
              + "; ".join(f"{k}: {v}" for k, v in failed.items()), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
