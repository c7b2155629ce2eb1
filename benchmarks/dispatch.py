"""Do the CPU's instruction sets change a run's bits? One seed of a small real run (default: the smoke profile's
SGMA on the synthetic birds, its backbone's pretraining included), trained at one thread in a separate process
for each dispatch level: this machine's own (each library picks its instruction set, twice), PyTorch's kernels
at AVX2 or at their lowest level with oneDNN and MKL left to pick, and the levels that importing sgma_core pins
(twice). Each process trains in a fresh runs folder and reports its levels, the SHA-256 of its final weights and
its training seconds::

    python benchmarks/dispatch.py --out benchmarks/results/dispatch-cpu-2core-2026-12-04.md
    python benchmarks/dispatch.py --profile cpu --model baseline -p pretrain_epochs 1 -p epochs 1

Processes whose digests agree trained the same bits; the pinned pair against the native pair is what pinning
costs in time (benchmarks/results/dispatch-cpu-2core-2026-12-04.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sgma_core.dispatch import OPT_OUT, PINNED  # noqa: E402  (the path above first)

# (name, environment over one without any dispatch variable), in the order they run: the native and pinned
# processes at both ends and in the middle, so that a machine slowing down or speeding up meanwhile does not
# favour either in the cost of pinning
VARIANTS = (
    ("native", {OPT_OUT: "native"}),
    ("pinned", {}),
    ("PyTorch AVX2, oneDNN and MKL native", {OPT_OUT: "native", "ATEN_CPU_CAPABILITY": "avx2"}),
    ("PyTorch default, oneDNN and MKL native", {OPT_OUT: "native", "ATEN_CPU_CAPABILITY": "default"}),
    ("pinned (again)", {}),
    ("native (again)", {OPT_OUT: "native"}),
)


def weights_digest(model) -> str:
    """SHA-256 of every tensor of ``model``'s state (names, dtypes, shapes and bytes, in order)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name} {t.dtype} {tuple(t.shape)}".encode())
        digest.update(t.numpy().tobytes())
    return digest.hexdigest()


def child_environment(variant: dict, base: dict | None = None) -> dict:
    """``base`` (default: this process's environment) without any dispatch variable, with ``variant`` over it and
    one OpenMP thread."""
    base = dict(os.environ if base is None else base)
    env = {k: v for k, v in base.items() if k not in (*PINNED, OPT_OUT)}
    return {**env, **variant, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def train_once(args) -> dict:
    """Train the run ``args`` names in a fresh runs folder; what the report needs of it."""
    import torch

    from sgma_core.dispatch import levels
    from sgma_core.experiment import prepare_data
    from sgma_core.experiment.recipes import train_baseline, train_sgma
    from sgma_core.profiles import make_config

    cfg = make_config(args.profile, {"dataset": "SYN", "seed": args.seed, **args.overrides, "num_threads": 1,
                                     "device": "cpu"})
    prepared = prepare_data(cfg, args.data_root, progress=False, cache_dir=args.cache_dir)
    with tempfile.TemporaryDirectory() as runs:
        t0, c0 = time.perf_counter(), time.process_time()
        model, history = (train_baseline if args.model == "baseline" else train_sgma)(prepared, cfg, runs,
                                                                                     progress=False)[:2]
        seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    last = history[-1]
    return {"levels": levels(), "threads": torch.get_num_threads(), "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu_seconds, 2),
            "digest": weights_digest(model), "train_loss": last["train_loss"]}


def agreeing(rows: list[dict]) -> list[list[str]]:
    """The variants grouped by the digest of their weights, in the order of their first appearance."""
    groups: dict[str, list[str]] = {}
    for row in rows:
        groups.setdefault(row["digest"], []).append(row["variant"])
    return list(groups.values())


def pinning_cost(rows: list[dict]) -> dict[str, tuple[float, float]]:
    """``{"pinned": (fastest, median), "native": (fastest, median)}`` CPU seconds of training in those processes
    (CPU time, not wall time: another program on the machine delays a process more than it adds to its CPU time;
    the fastest is the least disturbed)."""
    def seconds(prefix):
        found = [r["cpu_seconds"] for r in rows if r["variant"].startswith(prefix)]
        return min(found), statistics.median(found)

    return {"pinned": seconds("pinned"), "native": seconds("native")}


def report(rows: list[dict], args, machine: str, cpu: str) -> str:
    """The results file: what was trained, one row per process, which digests agree, and the cost of pinning."""
    groups = agreeing(rows)
    said = "; ".join(" and ".join(g) + (" agree" if len(g) > 1 else " stands alone") for g in groups)
    cost = pinning_cost(rows)
    (pinned, pinned_median), (native, native_median) = cost["pinned"], cost["native"]
    overrides = ", ".join(f"{k}={v}" for k, v in args.overrides.items()) or "none"
    lines = [f"# Which CPU instruction sets train which bits ({machine}, {time.strftime('%Y-%m-%d')})", "",
             f"The {args.profile} profile's {args.model}, seed {args.seed}, on the synthetic birds (overrides: "
             f"{overrides}), trained at one thread in a fresh process and a fresh runs folder per row, on {cpu}. "
             "`levels` is what `sgma_core.dispatch.levels()` reports in that process (PyTorch / oneDNN / MKL); "
             "the digest is the SHA-256 of the final weights (first 16 hex digits); seconds: of training only "
             "(pretraining, training, evaluation; not the decoding of the images), on the wall clock and of CPU "
             "time.", "",
             "| process | levels | threads | weights digest | last training loss | seconds | CPU seconds |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lv = r["levels"]
        lines.append(f"| {r['variant']} | {lv['aten']} / {lv['onednn']} / {lv['mkl_cbwr']} | {r['threads']} | "
                     f"`{r['digest'][:16]}` | "
                     f"{r['train_loss']!r} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} |")
    out_flag = ["--out", str(args.out)] if args.out else []
    again = " ".join(["python benchmarks/dispatch.py", *passed_on(args), *out_flag])
    lines += ["", f"Digests: {said}.", "",
              f"Cost of pinning: the fastest pinned process trained in {pinned:.2f} CPU seconds, the fastest native "
              f"one in {native:.2f}, a ratio of {pinned / native:.3f} (medians {pinned_median:.2f} and "
              f"{native_median:.2f}; two processes each, and the machine's other work disturbs single timings).",
              "", "Reproduce:", "", "```bash", again, "```", ""]
    return "\n".join(lines)


def passed_on(args) -> list[str]:
    """The options that name the run, as a child process (and the results file's reproduce line) is given them."""
    out = ["--profile", args.profile, "--model", args.model, "--seed", str(args.seed)]
    for name, value in args.parameter:
        out += ["-p", name, value]
    return out + (["--data-root", args.data_root] if args.data_root else [])


def run_variants(args) -> list[dict]:
    """Every variant in its own process, sharing one cache of decoded images; the children's reports."""
    rows = []
    with tempfile.TemporaryDirectory() as work:
        child = [sys.executable, str(Path(__file__).resolve()), "--child", "--cache-dir", str(Path(work) / "cache"),
                 *passed_on(args)]
        for name, variant in VARIANTS:
            out = subprocess.run(child, env=child_environment(variant), capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(f"the process '{name}' failed (exit status {out.returncode}):\n{out.stderr[-2000:]}")
            rows.append({"variant": name, **json.loads(out.stdout.strip().splitlines()[-1])})
            print(f"{name}: {rows[-1]['levels']} {rows[-1]['digest'][:16]} {rows[-1]['seconds']} s", flush=True)
    return rows


def cpu_name() -> str:
    """The CPU's model name as Linux gives it, or "an unnamed CPU"."""
    info = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in (info.read_text().splitlines() if info.is_file() else [])
             if line.startswith("model name")]
    return names[0] if names else "an unnamed CPU"


def parse(argv: list[str]):
    from sgma_core.cli import add_parameter_option, parse_parameters

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default="smoke", help="the run's profile (default smoke)")
    p.add_argument("--model", choices=("sgma", "baseline"), default="sgma", help="what trains (default sgma)")
    p.add_argument("--seed", type=int, default=0)
    add_parameter_option(p)
    p.add_argument("--data-root", default=None, help="default: $SGMA_DATA_ROOT, else <repo>/data")
    p.add_argument("--out", type=Path, help="write the results file here (Markdown)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--cache-dir", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.overrides = parse_parameters(args.parameter)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.child:
        print(json.dumps(train_once(args)))
        return 0
    from sgma_core.records import machine, writable_output

    out = writable_output(args.out) if args.out else None
    text = report(run_variants(args), args, machine(), cpu_name())
    print(text)
    if out:
        out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
