"""The GPU hour in one command: ``make gpu-day`` on a lent H100/H200, about 8 minutes.

Each section writes ``gpu_day-<card>-<date>.json`` and ``.md`` into ``--out`` as soon as it ends, so a run cut
short keeps what it measured; a section that fails records its error and the next one runs.

1. ``steps``: the training step of the baseline and SGMA at the paper's sizes (VGG19, 448² into the baseline and
   the attention subnet, 224² into the joint subnet, batch 32), bf16 autocast and channels-last, eager against
   ``torch.compile`` and, on CUDA, against ``torch.compile(mode="reduce-overhead")`` (CUDA graphs); cudnn.benchmark
   on; each with its fraction of the FLOP bound, the host syncs one eager step makes, and SGMA's overhead ratio
   against its four backbone passes (``python -m sgma_core.benchmark --overhead``).
2. ``parity``: the compiled step against the eager one, three steps from the same weights on the same batches
   (float32): the largest relative difference of the losses, against :data:`TOLERANCE`.
3. ``start``: VGG19 given the start the cpu profile gives its small VGG, pretrained on the synthetic birds' seen
   classes, saved as a start file (:mod:`sgma_core.start_weights`) with its seen-class accuracy, and loaded back
   the way ``-p overrides '{backbone_weights: FILE}'`` loads it.
4. ``chapters``: chapters 02 and 04 executed by papermill with the ``paper`` profile from that start, in an
   environment made offline from the wheels of ``make device-bundle``: T1 and u / s / H against chance, seconds
   per epoch.
5. ``cub_epoch``: one SGMA epoch over as many images as CUB's trainval (7,057) at 448² / 224².

``--dry-run`` is the same on the CPU at tiny sizes (under 3 minutes on 2 cores; ``make gpu-day DRY_RUN=1
OUT=<folder>``), the test suite's check that every section runs and every field is written.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch  # noqa: E402

import device_bundle  # noqa: E402
from gpu_check import card_slug  # noqa: E402
from sgma_core import benchmark  # noqa: E402
from sgma_core.records import write_record, write_text  # noqa: E402

TOLERANCE = 1e-4  # largest relative difference of a loss, compiled against eager, float32, over three steps
SIZES = {  # the card's run, and the dry run on the CPU
    "card": {"backbone": "vgg19", "chapter_backbone": "vgg19", "size": 448, "joint": 224, "batch": 32, "steps": 15,
             "cub_images": 7057, "pretrain_epochs": 12, "chapter_epochs": 8, "max_train_images": None,
             "max_test_images": None},
    # the dry run times the small VGG's step and runs the chapters with it (VGG19's compilation and chapter 04 alone
    # take minutes on two cores); VGG19's start is pretrained and loaded back as on the card
    "dry": {"backbone": "small_vgg", "chapter_backbone": "small_vgg", "size": 32, "joint": 16, "batch": 8,
            "steps": 2, "cub_images": 16, "pretrain_epochs": 1, "chapter_epochs": 1, "max_train_images": 32,
            "max_test_images": 16},
}
SECTIONS = ("steps", "parity", "start", "chapters", "cub_epoch")


def compiled(make, mode: str | None):
    """``make`` whose stepper's objective (forward and loss) is compiled with ``mode`` (None: eager)."""
    def wrapped(device, channels_last):
        stepper = make(device, channels_last)
        if mode is not None:
            stepper.objective = torch.compile(stepper.objective, mode=None if mode == "default" else mode)
        return stepper
    return wrapped


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
    """Section 1 (module docstring)."""
    torch.backends.cudnn.benchmark = True
    bf16 = device.type == "cuda"  # bf16 autocast is the card's; the CPU's dry run times float32
    factories = {"baseline": benchmark.baseline_step_factory(sz["backbone"]),
                 "sgma": benchmark.sgma_step_factory(sz["backbone"], sz["size"], sz["joint"])}
    modes = ("eager", "default", "reduce-overhead") if device.type == "cuda" else ("eager", "default")
    peak = benchmark.matmul_peak(device, torch.bfloat16 if bf16 else torch.float32, 8192 if bf16 else 512)
    rows, syncs = [], {}
    for name, make in factories.items():
        flops = benchmark.flops_per_image(make, device, sz["size"], sz["batch"])
        bound = peak * 1e12 / flops
        for mode in modes:
            t0 = time.perf_counter()
            rate = benchmark.step_rate(compiled(make, None if mode == "eager" else mode), device, sz["size"],
                                       sz["batch"], bf16, True, sz["steps"], warmup=3)
            rows.append({"model": name, "mode": "compile" if mode == "default" else
                         "compile + CUDA graphs" if mode == "reduce-overhead" else mode,
                         "images_per_s": round(rate, 1), "fraction_of_bound": round(rate / bound, 3),
                         "gflops_per_image_step": round(flops / 1e9, 2), "seconds_with_compile": round(
                             time.perf_counter() - t0, 1)})
        syncs[name] = host_syncs(make, device, sz)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    over = benchmark.overhead(str(device), sz["backbone"], sz["size"], sz["joint"], sz["batch"], steps=sz["steps"],
                              precision="bf16" if bf16 else "fp32", n_classes=150, semantic_dim=312)
    return {"backbone": sz["backbone"], "precision": "bf16" if bf16 else "fp32", "channels_last": True,
            "cudnn_benchmark": True,
            "matmul_peak_tflops": round(peak, 1), "rows": rows, "host_syncs_per_eager_step": syncs,
            "sgma_overhead": round(over["overhead"], 3),
            "sgma_overhead_detail": over}


def parity(device: torch.device, sz: dict) -> dict:
    """Section 2 (module docstring): float32 losses of three steps, eager and compiled, from the same start."""
    out = {}
    for name, make in (("baseline", benchmark.baseline_step_factory(sz["backbone"])),
                       ("sgma", benchmark.sgma_step_factory(sz["backbone"], sz["size"], sz["joint"]))):
        gen = torch.Generator().manual_seed(0)
        batches = [(torch.randn(sz["batch"], 3, sz["size"], sz["size"], generator=gen),
                    torch.randint(0, 150, (sz["batch"],), generator=gen)) for _ in range(3)]
        losses = {}
        for mode in ("eager", "default"):
            # the factory seeds the weights; channels-last as in `steps`, whose compiled graphs inductor then reuses
            step = compiled(make, None if mode == "eager" else mode)(device, True)
            losses[mode] = [float(step(x.to(device).contiguous(memory_format=torch.channels_last), y.to(device),
                                       False)["loss"]) for x, y in batches]
        worst = max(abs(a - b) / max(abs(a), 1e-12) for a, b in zip(losses["eager"], losses["default"]))
        out[name] = {"eager": losses["eager"], "compiled": losses["default"], "max_relative_difference": worst,
                     "tolerance": TOLERANCE, "within": worst <= TOLERANCE}
    return out


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
    from sgma_core.backbones import backbone_for
    from sgma_core.experiment import prepare_data, pretrained_backbone
    from sgma_core.profiles import make_config
    from sgma_core.start_weights import save_start

    cfg = make_config("paper", paper_overrides(sz, device, backbone=backbone, pretrained=False,
                                               pretrain_epochs=sz["pretrain_epochs"], lr=0.01))
    prepared = prepare_data(cfg, data_root, progress=False, runs_dir=work / "runs")
    t0 = time.perf_counter()
    net, history = pretrained_backbone(prepared, cfg, work / "runs", progress=False)
    path = work / "starts" / f"{backbone}-SYN-seen.pt"
    manifest = save_start(net, path, {
        "backbone": backbone, "vgg_layer": cfg.vgg_layer, "dataset": "SYN", "data": prepared.dataset.fingerprint(),
        "seen_classes": prepared.n_seen, "image_size": cfg.image_size, "epochs": cfg.pretrain_epochs,
        "seen_acc": history[-1]["seen_acc"], "chance": 1 / prepared.n_seen})
    loaded = backbone_for(make_config("paper", {"backbone": backbone, "backbone_weights": str(path),
                                                "device": device.type}))
    same = all(torch.equal(a.cpu(), b.cpu()) for a, b in zip(net.state_dict().values(), loaded.state_dict().values()))
    return {"file": str(path), "manifest": manifest, "loads_back_identical": same,
            "seen_acc_per_epoch": [round(h["seen_acc"], 4) for h in history if "seen_acc" in h],
            "epoch_seconds": [h["seconds"] for h in history], "seconds": round(time.perf_counter() - t0, 1)}


def start(device: torch.device, sz: dict, data_root: Path, work: Path) -> dict:
    """Section 3 (module docstring): VGG19's start; in the dry run also the small VGG's, which its chapters use."""
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


def chapters(device: torch.device, sz: dict, data_root: Path, work: Path, bundle: Path, weights: str) -> dict:
    """Section 4 (module docstring): the bundle installed offline into a new environment, then the chapters."""
    t0 = time.perf_counter()
    python = device_bundle.install(bundle, work / "env")
    out = {"environment": str(python), "install_seconds": round(time.perf_counter() - t0, 1), "chapters": {}}
    overrides = paper_overrides(sz, device, backbone=sz["chapter_backbone"], backbone_weights=weights,
                                epochs=sz["chapter_epochs"])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SGMA_DATA_ROOT": str(data_root),
           "SGMA_RUNS_ROOT": str(work / "runs")}
    keys = {"02_baseline": "baseline_", "04_sgma_training": "sgma_compat_"}
    for name, prefix in keys.items():
        t0 = time.perf_counter()
        proc = subprocess.run([str(python), "-m", "bookkit.chapters", name, "-p", "profile", "paper", "-p", "overrides",
                               json.dumps(overrides), "--out", str(work / "executed")], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        row = {"returncode": proc.returncode, "seconds": round(time.perf_counter() - t0, 1)}
        notebook = work / "executed" / f"{name}.ipynb"
        if proc.returncode or not notebook.is_file():
            row["output_tail"] = (proc.stdout + proc.stderr)[-1200:]
        else:
            glued = _glued(notebook)
            row.update({k: float(glued[prefix + k]) for k in ("T1", "u", "s", "H") if prefix + k in glued})
            row["chance_T1"] = float(glued.get("chance_t1", "nan"))
        out["chapters"][name] = row
    out["overrides"] = overrides
    out["epoch_seconds"] = {kind: _epoch_seconds(work / "runs", kind) for kind in ("baseline", "sgma")}
    return out


def cub_epoch(device: torch.device, sz: dict, work: Path) -> dict:
    """Section 5 (module docstring): random images, CUB's 150 seen classes and 312 attributes."""
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


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def markdown(report: dict) -> str:
    """The report as the Markdown file committed beside its JSON (what has been measured so far)."""
    lines = [f"# GPU day — {report['device']}", "", f"{report['environment']}; started {report['started']}; "
             f"{'dry run (tiny sizes on the CPU)' if report['dry_run'] else 'the paper sizes'}", ""]
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
        lines += [f"- {m}: largest relative difference {v['max_relative_difference']:.2e} "
                  f"({'within' if v['within'] else 'outside'} {v['tolerance']:g})" for m, v in pa.items()
                  if isinstance(v, dict)]
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
    errors = [f"- {k}: {v['error']}" for k, v in report.items() if isinstance(v, dict) and "error" in v]
    return "\n".join(lines + (["## Sections that failed", ""] + errors if errors else [])) + "\n"


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/gpu_day.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--bundle", default="device-bundle", help="the folder `make device-bundle` wrote")
    p.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU (the test suite's run)")
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"some of {', '.join(SECTIONS)}")
    p.add_argument("--work", default=None, help="a new folder for data, runs and the environment (default: a "
                   "temporary one, kept for a look afterwards)")
    args = p.parse_args(argv)
    device = torch.device("cpu" if args.dry_run else "cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA device here; use --dry-run for the CPU check (benchmarks/README.md)", file=sys.stderr)
        return 1
    sz = SIZES["dry" if args.dry_run else "card"]
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"gpu_day-{card_slug(card) if device.type == 'cuda' else 'cpu'}-{time.strftime('%Y-%m-%d')}"
    report = {"device": card, "dry_run": args.dry_run, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
              "environment": f"torch {torch.__version__}, Python {sys.version.split()[0]}", "sizes": sz}
    t_start = time.perf_counter()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="sgma-gpu-day-"))
    if args.work and work.exists() and any(work.iterdir()):
        print(f"error: --work {work} is not empty; give a new folder", file=sys.stderr)
        return 1
    data_root = synthetic_root(work)
    jobs = {"steps": lambda: steps(device, sz), "parity": lambda: parity(device, sz),
            "start": lambda: start(device, sz, data_root, work),
            "chapters": lambda: chapters(device, sz, data_root, work, Path(args.bundle),
                                         report["start"].get("chapter_start", report["start"])["file"]),
            "cub_epoch": lambda: cub_epoch(device, sz, work)}
    for name in args.sections.split(","):
        t0 = time.perf_counter()
        try:
            report[name] = jobs[name]()
        except Exception as exc:  # noqa: BLE001 - a failed section is recorded and the next one runs
            report[name] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"}
        report[name]["section_seconds"] = round(time.perf_counter() - t0, 1)
        report["total_seconds"] = round(time.perf_counter() - t_start, 1)
        write_record(stem.with_suffix(".json"), report)
        write_text(stem.with_suffix(".md"), markdown(report))
        print(f"{name}: {report[name]['section_seconds']} s", flush=True)
    print(f"wrote {stem}.json and .md ({report['total_seconds']:.0f} s); work files in {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
