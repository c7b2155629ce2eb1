"""GPU check: the training-step benchmark at the paper's sizes, then a short `paper`-profile
baseline training on the synthetic dataset, in bf16 and in float32. Writes JSON and Markdown.

    python benchmarks/gpu_check.py --out benchmarks/results

Runs in a few minutes on one H100. VGG19 starts from random weights here (pretrained=False):
the check measures speed and that the CUDA path trains, not accuracy.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from data_prep.synthetic import SyntheticConfig, generate  # noqa: E402
from sgma_core import benchmark  # noqa: E402
from sgma_core.experiment import prepare_data, train_baseline  # noqa: E402
from sgma_core.profiles import make_config  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=3)
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    try:
        report["nvidia_smi"] = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        report["nvidia_smi"] = f"unavailable: {exc}"

    t0 = time.perf_counter()
    bench = benchmark.run("cuda", "vgg19", 224, 32, steps=20)
    report["benchmark"] = bench
    report["benchmark_seconds"] = round(time.perf_counter() - t0, 1)
    print(benchmark.table(bench), flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        generate(Path(tmp) / "SYN", SyntheticConfig(), progress=False)
        report["synthetic_seconds"] = round(time.perf_counter() - t0, 1)
        runs = []
        for precision in ("bf16", "fp32"):
            cfg = make_config("paper", overrides={"dataset": "SYN", "pretrained": False, "epochs": args.epochs,
                                                  "precision": precision, "lr": 0.01})
            t0 = time.perf_counter()
            prepared = prepare_data(cfg, tmp, progress=False)
            decode = time.perf_counter() - t0
            t0 = time.perf_counter()
            _, history = train_baseline(prepared, cfg, Path(tmp) / "runs", progress=False)
            runs.append({"precision": precision, "image_size": cfg.image_size, "decode_seconds": round(decode, 1),
                         "train_seconds": round(time.perf_counter() - t0, 1),
                         "epoch_seconds": [h["seconds"] for h in history],
                         "train_images_per_s": [round(len(prepared.train.labels) / h["seconds"], 1) for h in history],
                         "last": {k: history[-1][k] for k in ("train_loss", "T1", "u", "s", "H")},
                         "max_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)})
            torch.cuda.reset_peak_memory_stats()
            print(json.dumps(runs[-1]), flush=True)
        report["paper_profile_training"] = runs

    (out / "gpu_check.json").write_text(json.dumps(report, indent=1) + "\n")
    lines = [f"# GPU check — {bench['device']}", "", f"nvidia-smi: {report['nvidia_smi']}; torch {bench['torch']}; "
             f"started {report['started']}", "", "## Training-step throughput (random inputs, VGG19 random init)", "",
             benchmark.table(bench), "",
             f"## `paper` profile, baseline, synthetic birds at {runs[0]['image_size']}², {args.epochs} epochs "
             "(lr 0.01, no ImageNet weights)",
             "", "| precision | train images/s per epoch | last-epoch T1 / u / s / H | peak GPU memory |", "|---|---|---|---|"]
    for r in runs:
        last = r["last"]
        lines.append(f"| {r['precision']} | {', '.join(map(str, r['train_images_per_s']))} | "
                     f"{100 * last['T1']:.1f} / {100 * last['u']:.1f} / {100 * last['s']:.1f} / {100 * last['H']:.1f} | "
                     f"{r['max_memory_gib']} GiB |")
    (out / "gpu_check.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
