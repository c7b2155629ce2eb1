"""Training-step throughput of the models, against what their FLOP count allows.

For each model and precision it times full training steps (forward, loss, backward, SGD update)
on random inputs, and reports images/s beside the rate the measured matrix-multiply peak of the
device would allow for that model's FLOPs per image:

* FLOPs per image are counted by ``torch.utils.flop_counter.FlopCounterMode`` over one whole
  training step (forward and backward: convolutions and matrix products, 2 FLOPs per
  multiply-add), divided by the batch size;
* the peak is measured, not taken from a data sheet: a square matrix product of side
  ``--peak-n`` in the same precision, timed after warm-up.

    python -m sgma_core.benchmark --device cuda --size 224 --batch 32 --out bench.json
    python -m sgma_core.benchmark --device cpu --backbone small_vgg --size 32 --batch 4 --steps 2
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from sgma_core.backbones import build_backbone
from sgma_core.baseline import BaselineZSL
from sgma_core.losses import embedding_softmax_loss


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int = 8192, iters: int = 10) -> float:
    """Measured TFLOP/s of an ``n × n × n`` matrix product in ``dtype``.

    For float32 the product may use TF32 exactly when cuDNN's convolutions may
    (``torch.backends.cudnn.allow_tf32``, on by default), so that the bound matches what the
    float32 training step actually runs.
    """
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32
    try:
        return _timed_matmul(device, dtype, n, iters)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved


def _timed_matmul(device: torch.device, dtype: torch.dtype, n: int, iters: int) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        a @ b
    _sync(device)
    return 2 * n**3 * iters / (time.perf_counter() - t0) / 1e12


def baseline_step_factory(backbone: str, n_classes: int = 150, semantic_dim: int = 312):
    """A baseline model, its optimiser and one training step ``step(x, y) → loss``."""

    def make(device: torch.device, channels_last: bool):
        torch.manual_seed(0)
        bb = build_backbone(backbone, pretrained=False) if backbone == "vgg19" else build_backbone(backbone)
        model = BaselineZSL(bb, semantic_dim).to(device)
        if channels_last:
            model.to(memory_format=torch.channels_last)
        phi = torch.randn(semantic_dim, n_classes, device=device)
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)

        def step(x, y, bf16: bool):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = embedding_softmax_loss(model(x, phi), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss

        return step

    return make


def flops_per_image(make, device: torch.device, size: int, batch: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    step = make(device, False)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 150, (batch,), device=device)
    counter = FlopCounterMode(display=False)
    with counter:
        step(x, y, False)
    return counter.get_total_flops() / batch


def step_rate(make, device: torch.device, size: int, batch: int, bf16: bool, channels_last: bool,
              steps: int = 20, warmup: int = 5) -> float:
    """Training images/s over ``steps`` timed steps after ``warmup`` steps."""
    step = make(device, channels_last)
    x = torch.randn(batch, 3, size, size, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 150, (batch,), device=device)
    for _ in range(warmup):
        step(x, y, bf16)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step(x, y, bf16)
    _sync(device)
    return batch * steps / (time.perf_counter() - t0)


def run(device: str = "cuda", backbone: str = "vgg19", size: int = 224, batch: int = 32, steps: int = 20,
        peak_n: int = 8192) -> dict:
    dev = torch.device(device)
    make = baseline_step_factory(backbone)
    info = {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu",
            "torch": torch.__version__, "backbone": backbone, "size": size, "batch": batch, "steps": steps,
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32}
    fpi = flops_per_image(make, dev, size, batch)
    peaks = {"fp32": matmul_peak(dev, torch.float32, peak_n), "bf16": matmul_peak(dev, torch.bfloat16, peak_n)}
    rows = []
    for precision in ("fp32", "bf16"):
        for channels_last in ((False, True) if dev.type == "cuda" else (False,)):
            rate = step_rate(make, dev, size, batch, precision == "bf16", channels_last, steps)
            bound = peaks[precision] * 1e12 / fpi
            rows.append({"model": "baseline", "precision": precision, "channels_last": channels_last,
                         "images_per_s": rate, "flop_bound_images_per_s": bound, "fraction_of_bound": rate / bound})
    return {**info, "gflops_per_image_step": fpi / 1e9, "matmul_peak_tflops": peaks, "rows": rows}


def table(result: dict) -> str:
    lines = [f"device: {result['device']}, torch {result['torch']}, {result['backbone']} at {result['size']}², "
             f"batch {result['batch']}; {result['gflops_per_image_step']:.1f} GFLOP per image per training step; "
             f"measured matmul peak fp32{' (TF32 allowed, as for cuDNN convolutions)' if result['cudnn_allow_tf32'] else ''} "
             f"{result['matmul_peak_tflops']['fp32']:.1f} / bf16 "
             f"{result['matmul_peak_tflops']['bf16']:.1f} TFLOP/s",
             "",
             "| model | precision | channels_last | images/s | FLOP-bound images/s | fraction |",
             "|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['model']} | {r['precision']} | {r['channels_last']} | {r['images_per_s']:.1f} | "
                     f"{r['flop_bound_images_per_s']:.1f} | {r['fraction_of_bound']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sgma_core.benchmark")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--backbone", default="vgg19", choices=["vgg19", "small_vgg"])
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--peak-n", type=int, default=8192)
    p.add_argument("--out", help="write the result as JSON here")
    args = p.parse_args(argv)
    result = run(args.device, args.backbone, args.size, args.batch, args.steps, args.peak_n)
    print(table(result))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
