"""The GPU check: does the CUDA path train end to end, and how fast? Needs one CUDA device (exit status 1 without).

1. :func:`measure_speed`: :mod:`sgma_core.step_throughput` at the paper's sizes (VGG19, 448² into the baseline and
   SGMA's attention subnet, 224² into the joint subnet, batch 32), and SGMA's step against its backbone passes;
2. :func:`train_on_synthetic`: the synthetic birds decoded to 448² into the uint8 cache by DataLoader workers;
   ``--epochs`` of the `paper` profile for the baseline and SGMA in bf16 and float32 (:func:`short_training`);
   one baseline epoch through ``torchrun`` (NCCL, one process) where :mod:`sgma_core.train` is present.

VGG19 starts from random weights (``pretrained=False``: the machine may have no network), so the check measures
speed and that training runs, not accuracy. It writes ``gpu_check-<card>-<date>.json`` (everything measured) and
``.md`` (:func:`markdown`) into ``--out``::

    python benchmarks/gpu_check.py --out benchmarks/results       # or: make gpu-check
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from data_prep.synthetic import SyntheticConfig, generate  # noqa: E402
from sgma_core import step_throughput  # noqa: E402
from sgma_core.data import load_dataset  # noqa: E402
from sgma_core.data.cache import cached_images, default_workers  # noqa: E402
from sgma_core.experiment import prepare_data, train_baseline, train_sgma  # noqa: E402
from sgma_core.files import write_text  # noqa: E402
from sgma_core.profiles import make_config  # noqa: E402
from sgma_core.records import write_record  # noqa: E402


def card_slug(name: str) -> str:
    """A short file-name form of a card's name: 'NVIDIA H100 80GB HBM3' → 'H100'."""
    m = re.search(r"\b([A-Z]+\d{2,4}[A-Z]?)\b", name.replace("NVIDIA", ""))
    return m.group(1) if m else re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")[:24]


def short_training(model: str, precision: str, data_root: Path, runs: Path, epochs: int) -> dict:
    """``epochs`` of the `paper` profile on the synthetic birds (random-init VGG19, lr 0.01)."""
    cfg = make_config("paper", overrides={"dataset": "SYN", "pretrained": False, "epochs": epochs,
                                          "precision": precision, "lr": 0.01, "eval_every": epochs})
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    prepared = prepare_data(cfg, data_root, progress=False, cache_dir=runs / "cache")
    decode = time.perf_counter() - t0
    t0 = time.perf_counter()
    if model == "baseline":
        _, history = train_baseline(prepared, cfg, runs, progress=False)
    else:
        _, history, _ = train_sgma(prepared, cfg, runs, progress=False)
    n = len(prepared.train.labels)
    return {"model": model, "precision": precision, "image_size": cfg.image_size, "joint_size": cfg.joint_size,
            "train_images": n, "prepare_seconds": round(decode, 1), "train_seconds": round(time.perf_counter() - t0, 1),
            "epoch_seconds": [h["seconds"] for h in history],
            "train_images_per_s": [round(n / h["seconds"], 1) for h in history],
            "last": {k: history[-1][k] for k in ("train_loss", "T1", "u", "s", "H")},
            "max_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)}


def torchrun_check(data_root: Path, runs: Path) -> dict:
    """One epoch of the baseline through ``torchrun --nproc_per_node=1`` (NCCL), if available."""
    if importlib.util.find_spec("sgma_core.train") is None:
        return {"skipped": "sgma_core.train not present"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1", "-m", "sgma_core.train",
           "--model", "baseline", "--profile", "paper", "--dataset", "SYN", "-p", "pretrained", "false",
           "-p", "epochs", "1", "-p", "lr", "0.01"]
    env = {**os.environ, "SGMA_DATA_ROOT": str(data_root), "SGMA_RUNS_ROOT": str(runs)}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parent.parent,
                          timeout=240)
    return {"command": " ".join(cmd[2:]), "returncode": proc.returncode, "seconds": round(time.perf_counter() - t0, 1),
            "output_tail": (proc.stdout + proc.stderr)[-1500:]}


def measure_speed(report: dict, steps: int) -> dict:
    """The training-step throughput at the paper's sizes and SGMA's overhead against its backbone passes."""
    t0 = time.perf_counter()
    bench = step_throughput.run("cuda", "vgg19", 448, 32, steps=steps, joint_size=224)
    report["benchmark"] = bench
    report["benchmark_seconds"] = round(time.perf_counter() - t0, 1)
    print(step_throughput.table(bench), flush=True)
    t0 = time.perf_counter()  # SGMA's step against its four VGG19 passes at 448² / 224², bf16 (CUB's 150 / 312)
    report["overhead"] = step_throughput.overhead("cuda", "vgg19", 448, 224, 32, steps=steps, precision="bf16",
                                                  n_classes=150, semantic_dim=312)
    report["overhead_seconds"] = round(time.perf_counter() - t0, 1)
    print(step_throughput.overhead_table(report["overhead"]), flush=True)
    return bench


def train_on_synthetic(report: dict, epochs: int) -> None:
    """The input pipeline at 448², the paper profile's short training runs and the torchrun check, on
    synthetic birds generated into a temporary folder this run makes (and removes)."""
    tmp = Path(tempfile.mkdtemp(prefix="sgma-gpu-check-"))
    try:
        t0 = time.perf_counter()
        generate(tmp / "SYN", SyntheticConfig(), progress=False)
        report["synthetic_seconds"] = round(time.perf_counter() - t0, 1)
        ds = load_dataset("SYN", tmp)
        _, _, info = cached_images(ds.image_paths, 448, tmp / "pipeline-cache", workers=default_workers())
        report["input_pipeline"] = {**info, "size": 448, "source_pixels": "128 x 128 JPEG"}
        print(json.dumps(report["input_pipeline"]), flush=True)
        runs = tmp / "runs"
        report["paper_profile_training"] = []
        for model, precision in (("baseline", "bf16"), ("sgma", "bf16"), ("baseline", "fp32"), ("sgma", "fp32")):
            report["paper_profile_training"].append(short_training(model, precision, tmp, runs, epochs))
            print(json.dumps(report["paper_profile_training"][-1]), flush=True)
        report["torchrun"] = torchrun_check(tmp, tmp / "runs-ddp")
        print(json.dumps(report["torchrun"])[:600], flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def markdown(report: dict, bench: dict, epochs: int) -> str:
    """The report as the Markdown file committed beside its JSON."""
    pipe = report["input_pipeline"]
    lines = [f"# GPU check — {bench['device']}", "",
             f"nvidia-smi: {report['nvidia_smi']}; torch {bench['torch']}; started {report['started']}; "
             f"whole check {report['total_seconds']:.0f} s", "",
             "## Training-step throughput (random inputs, VGG19 random init)", "", step_throughput.table(bench), "",
             "## SGMA's step against its backbone passes (`python -m sgma_core.step_throughput --overhead`)", "",
             step_throughput.overhead_table(report["overhead"]), "",
             "## Input pipeline (CPU)", "",
             f"{pipe['images']} synthetic images ({pipe['source_pixels']}) decoded and resized to 448² into the uint8 "
             f"cache by {pipe.get('workers')} DataLoader workers: {pipe['images_per_s']} images/s.", "",
             f"## `paper` profile on the synthetic birds, {epochs} epochs (random-init VGG19, lr 0.01)", "",
             "| model | precision | train images/s per epoch | last-epoch T1 / u / s / H | peak GPU memory |",
             "|---|---|---|---|---|"]
    for r in report["paper_profile_training"]:
        last = r["last"]
        lines.append(f"| {r['model']} | {r['precision']} | {', '.join(map(str, r['train_images_per_s']))} | "
                     f"{100 * last['T1']:.1f} / {100 * last['u']:.1f} / "
                     f"{100 * last['s']:.1f} / {100 * last['H']:.1f} | "
                     f"{r['max_memory_gib']} GiB |")
    tr = report["torchrun"]
    lines += ["", "## torchrun", "",
              f"`{tr.get('command', '')}`: " + (f"exit code {tr['returncode']} in {tr['seconds']} s"
                                                 if "returncode" in tr else tr.get("skipped", ""))]
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--steps", type=int, default=15)
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("error: no CUDA device here; the GPU check needs one (see benchmarks/README.md)", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    report: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    try:
        report["nvidia_smi"] = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        report["nvidia_smi"] = f"unavailable: {exc}"
    bench = measure_speed(report, args.steps)
    train_on_synthetic(report, args.epochs)
    report["total_seconds"] = round(time.perf_counter() - t_start, 1)
    stem = out / f"gpu_check-{card_slug(bench['device'])}-{time.strftime('%Y-%m-%d')}"
    write_record(stem.with_suffix(".json"), report)
    text = markdown(report, bench, args.epochs)
    write_text(stem.with_suffix(".md"), text)
    print(text)
    print(f"wrote {stem}.md and .json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
