"""Training-step throughput of the baseline and SGMA against the bound their FLOP count allows, and SGMA's step
against its own backbone passes.

:func:`run`: full training steps (forward, loss, backward, SGD update) on random inputs, float32 and bf16 autocast,
as training images/s beside the rate the device's measured matrix-multiply peak (:func:`matmul_peak`) allows for
the FLOPs one image costs (:func:`flops_per_image`). The baseline and SGMA's attention subnet take ``size``²,
SGMA's joint subnet ``joint_size``²; SGMA trains with the default ``attention_training`` of
:class:`~sgma_core.profiles.RunConfig`. :func:`overhead`: R = SGMA's step ÷ the backbone passes it contains.
A size the backbone cannot take, a device this machine lacks or an unwritable ``--out`` is refused first::

    python -m sgma_core.step_throughput --device cuda --out bench.json          # VGG19, 448 / 224, batch 32
    python -m sgma_core.step_throughput --device cpu --backbone small_vgg --size 32 --joint-size 16 --batch 4
    python -m sgma_core.step_throughput --overhead --device cpu --backbone small_vgg --size 64 --joint-size 32
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from sgma_core.backbones import BACKBONES
from sgma_core.baseline import BaselineObjective, BaselineZSL
from sgma_core.cli import add_debug_flag, command
from sgma_core.engine.loop import make_optimizer
from sgma_core.engine.step import LossOf, train_step
from sgma_core.profiles import RunConfig
from sgma_core.records import writable_output, write_record


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


def _backbone(name: str):
    """A backbone by name, from random weights (a benchmark needs no ImageNet download)."""
    from sgma_core.backbones import backbone_for

    return backbone_for(RunConfig(backbone=name, pretrained=False))


class Stepper:
    """``step(x, y, bf16)``: the engine's :func:`~sgma_core.engine.step.train_step` on ``objective``
    (a module holding ``model``, or a plain ``loss_fn(model, x, y)``); ``step.model`` is the model."""

    def __init__(self, model: torch.nn.Module, device: torch.device, channels_last: bool, objective) -> None:
        model.to(device)
        if channels_last:
            model.to(memory_format=torch.channels_last)
        self.model = model
        self.objective = objective.to(device) if isinstance(objective, torch.nn.Module) else LossOf(model, objective)
        self.optimizer = make_optimizer(model, RunConfig(lr=1e-3))[0]  # the optimizer the book trains with

    def __call__(self, x: torch.Tensor, y: torch.Tensor, bf16: bool):
        return train_step(self.objective, self.optimizer, x, y, bf16)



def baseline_step_factory(backbone: str, n_classes: int = 150, semantic_dim: int = 312):
    """``make(device, channels_last) → step(x, y, bf16)``: one training step of the baseline (eq. 7)."""

    def make(device: torch.device, channels_last: bool):
        torch.manual_seed(0)
        model = BaselineZSL(_backbone(backbone), semantic_dim)
        phi = torch.randn(semantic_dim, n_classes)
        return Stepper(model, device, channels_last, BaselineObjective(model, phi))

    return make


def sgma_step_factory(backbone: str, attention_size: int, joint_size: int, n_classes: int = 150,
                      semantic_dim: int = 312, attention_training: str | None = None):
    """``make(device, channels_last) → step(x, y, bf16)``: one training step of SGMA with eq. (9)
    (four backbones: attention subnet, global, part 1, part 2); ``attention_training`` defaults to
    the book's (:class:`~sgma_core.profiles.RunConfig`)."""
    from sgma_core.sgma import SGMA, SGMAObjective

    attention_training = attention_training or RunConfig().attention_training

    def make(device: torch.device, channels_last: bool):
        torch.manual_seed(0)
        model = SGMA(_backbone(backbone), [_backbone(backbone) for _ in range(3)], semantic_dim=semantic_dim,
                     n_seen=n_classes, attention_size=attention_size, joint_size=joint_size,
                     attention_training=attention_training)
        phi = torch.randn(semantic_dim, n_classes)
        return Stepper(model, device, channels_last, SGMAObjective(model, phi))

    return make


def flops_per_image(make, device: torch.device, size: int, batch: int, n_classes: int = 150) -> float:
    """FLOPs of one training step per image, counted by ``FlopCounterMode`` over the forward and backward
    (convolutions and matrix products, 2 FLOPs per multiply-add) of a ``batch`` at ``size``², ÷ ``batch``."""
    from torch.utils.flop_counter import FlopCounterMode

    step = make(device, False)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, n_classes, (batch,), device=device)
    counter = FlopCounterMode(display=False)
    with counter:
        step(x, y, False)
    return counter.get_total_flops() / batch


def step_rate(make, device: torch.device, size: int, batch: int, bf16: bool, channels_last: bool,
              steps: int = 20, warmup: int = 5, n_classes: int = 150) -> float:
    """Training images/s over ``steps`` timed steps after ``warmup`` steps."""
    step = make(device, channels_last)
    x = torch.randn(batch, 3, size, size, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, n_classes, (batch,), device=device)
    for _ in range(warmup):
        step(x, y, bf16)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step(x, y, bf16)
    _sync(device)
    return batch * steps / (time.perf_counter() - t0)


def run(device: str = "cuda", backbone: str = "vgg19", size: int = 448, batch: int = 32, steps: int = 20,
        peak_n: int = 8192, joint_size: int = 224, models: tuple[str, ...] = ("baseline", "sgma")) -> dict:
    """The benchmark table as a dict: per model, precision and memory format, training images/s and
    the FLOP bound. The baseline and SGMA's attention subnet take ``size``², SGMA's joint subnet
    ``joint_size``²."""
    dev = torch.device(device)
    factories = {"baseline": baseline_step_factory(backbone), "sgma": sgma_step_factory(backbone, size, joint_size)}
    info = {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu",
            "torch": torch.__version__, "backbone": backbone, "size": size, "joint_size": joint_size, "batch": batch,
            "steps": steps, "cpu": dev.type == "cpu", "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32}
    peaks = {"fp32": matmul_peak(dev, torch.float32, peak_n), "bf16": matmul_peak(dev, torch.bfloat16, peak_n)}
    rows, flops = [], {}
    for name in models:
        make = factories[name]
        fpi = flops_per_image(make, dev, size, batch)
        flops[name] = fpi / 1e9
        for precision in ("fp32", "bf16"):
            for channels_last in ((False, True) if dev.type == "cuda" else (False,)):
                rate = step_rate(make, dev, size, batch, precision == "bf16", channels_last, steps)
                bound = peaks[precision] * 1e12 / fpi
                rows.append({"model": name, "precision": precision, "channels_last": channels_last,
                             "gflops_per_image_step": fpi / 1e9, "images_per_s": rate,
                             "flop_bound_images_per_s": bound, "fraction_of_bound": rate / bound})
                if dev.type == "cuda":
                    torch.cuda.empty_cache()
    return {**info, "gflops_per_image_step": flops, "matmul_peak_tflops": peaks, "rows": rows}


def table(result: dict) -> str:
    """The result as a Markdown table with a one-line header of what was measured."""
    flops = ", ".join(f"{k} {v:.4g}" for k, v in result["gflops_per_image_step"].items())
    tf32 = result["cudnn_allow_tf32"] and not result.get("cpu", False)
    lines = [f"device: {result['device']}, torch {result['torch']}, {result['backbone']}; baseline and SGMA attention "
             f"input {result['size']}², SGMA joint input {result['joint_size']}², batch {result['batch']}; "
             f"GFLOP per image per training step: {flops}; measured matmul peak "
             f"fp32{' (TF32 allowed, as for cuDNN convolutions)' if tf32 else ''} "
             f"{result['matmul_peak_tflops']['fp32']:.3g} / bf16 {result['matmul_peak_tflops']['bf16']:.3g} TFLOP/s",
             "",
             "| model | precision | channels_last | images/s | FLOP-bound images/s | fraction |",
             "|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['model']} | {r['precision']} | {r['channels_last']} | {r['images_per_s']:.1f} | "
                     f"{r['flop_bound_images_per_s']:.1f} | {r['fraction_of_bound']:.2f} |")
    return "\n".join(lines)


def _median_ms(times: list[float]) -> float:
    return 1000 * sorted(times)[len(times) // 2]


class BackbonePasses:
    """The backbone passes of one SGMA training step, alone and in the step's order: each backbone's
    forward (the attention backbone at the attention input, the branches at the joint input), then
    one backward through every backbone that trains, from fixed random output gradients, with
    parameter gradients cleared first as ``zero_grad`` leaves them. A backbone that does not train
    runs its forward without gradient in eval mode, as :meth:`~sgma_core.sgma.SGMA.attend` does.
    ``run()`` returns the seconds of each forward and of the backward."""

    def __init__(self, model, x: torch.Tensor, xj: torch.Tensor, bf16: bool) -> None:
        self.bf16, self.device = bf16, x.device
        self.passes = [("attention backbone", model.attention_backbone, x)]
        self.passes += [(("global" if i == 0 else f"part {i}") + " branch", branch, xj)
                        for i, branch in enumerate(model.branches)]
        self.trains = {name: any(p.requires_grad for p in bb.parameters()) for name, bb, _ in self.passes}
        outputs = self._forwards()[0]
        self.grads = {name: torch.randn_like(out.detach()) for name, out in outputs.items() if self.trains[name]}

    def _forwards(self):
        outputs, seconds = {}, {}
        for name, bb, inp in self.passes:
            bb.train(self.trains[name])
            t0 = time.perf_counter()
            with torch.autocast(inp.device.type, dtype=torch.bfloat16, enabled=self.bf16), \
                    torch.set_grad_enabled(self.trains[name]):
                outputs[name] = bb(inp)
            _sync(self.device)
            seconds[f"{name} {inp.shape[-1]}² forward"] = time.perf_counter() - t0
        return outputs, seconds

    def run(self) -> dict[str, float]:
        for _, bb, _ in self.passes:
            for p in bb.parameters():
                p.grad = None
        _sync(self.device)
        outputs, seconds = self._forwards()
        t0 = time.perf_counter()
        names = [n for n in outputs if self.trains[n]]
        if names:
            torch.autograd.backward([outputs[n] for n in names], [self.grads[n] for n in names])
        _sync(self.device)
        seconds[f"backward of the {len(names)} trained backbone(s)"] = time.perf_counter() - t0
        return seconds


def overhead(device: str = "cpu", backbone: str = "small_vgg", size: int = 64, joint_size: int = 32, batch: int = 32,
             steps: int = 20, precision: str = "auto", n_classes: int = 30, semantic_dim: int = 15,
             channels_last: bool = True, warmup: int = 3) -> dict:
    """SGMA's training step against its backbone passes at the same sizes, in one ``precision``.

    A round times one whole step, then :class:`BackbonePasses` (the same modules, the same
    sizes, precision and memory format); ``steps`` rounds follow ``warmup``. Reported: the median
    of each time in ms and ``overhead``, the median over rounds of step ÷ that round's passes.
    What R above 1 measures is everything else in the step: the attention heads of eq. (2), the
    crops of eq. (4), the compatibility and CCT layers, the losses and the SGD update."""
    from sgma_core.engine.step import keep_freed_memory, resolve_device, uses_bf16

    dev = resolve_device(device)
    if dev.type == "cpu":
        keep_freed_memory()  # as fit does for training on the CPU
    bf16 = uses_bf16(precision, dev)
    step = sgma_step_factory(backbone, size, joint_size, n_classes, semantic_dim)(dev, channels_last)
    model = step.model
    memory = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(batch, 3, size, size, device=dev).contiguous(memory_format=memory)
    xj = torch.randn(batch, 3, joint_size, joint_size, device=dev).contiguous(memory_format=memory)
    y = torch.randint(0, n_classes, (batch,), device=dev)
    passes = BackbonePasses(model, x, xj, bf16)
    times: dict[str, list[float]] = {}
    for round_ in range(warmup + steps):
        model.train()
        _sync(dev)
        t0 = time.perf_counter()
        step(x, y, bf16)
        _sync(dev)
        measured = {"step": time.perf_counter() - t0, **passes.run()}
        if round_ >= warmup:
            for k, v in measured.items():
                times.setdefault(k, []).append(v)
    medians = {k: _median_ms(v) for k, v in times.items()}
    backbones = sum(v for k, v in medians.items() if k != "step")
    # R per round (the step beside the passes timed right after it), then the median: a machine that
    # slows down for a while slows both sides of a ratio, not one side of a ratio of medians
    ratios = [step_t / sum(times[k][r] for k in times if k != "step") for r, step_t in enumerate(times["step"])]
    return {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu",
            "torch": torch.__version__, "threads": torch.get_num_threads(), "backbone": backbone, "size": size,
            "joint_size": joint_size, "batch": batch, "steps": steps, "precision": "bf16" if bf16 else "fp32",
            "channels_last": channels_last, "attention_training": model.attention_training,
            "classes": n_classes, "attributes": semantic_dim,
            "median_ms": medians, "backbones_ms": backbones, "overhead": sorted(ratios)[len(ratios) // 2],
            "overhead_rounds": ratios}


def overhead_table(result: dict) -> str:
    lines = [f"device: {result['device']} ({result['threads']} threads), torch {result['torch']}, "
             f"{result['backbone']}, attention input {result['size']}², joint input {result['joint_size']}², "
             f"batch {result['batch']}, {result['precision']}, channels_last {result['channels_last']}, "
             f"attention_training {result['attention_training']!r}, {result['classes']} seen classes, "
             f"{result['attributes']} attributes; medians of {result['steps']} rounds", "",
             "| pass | ms |", "|---|---|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in result["median_ms"].items() if k != "step"]
    lines += [f"| sum of the backbone passes | {result['backbones_ms']:.2f} |",
              f"| SGMA training step | {result['median_ms']['step']:.2f} |", "",
              f"R, the median over rounds of step ÷ sum of that round's passes "
              f"(ratio of the medians above: {result['median_ms']['step'] / result['backbones_ms']:.3f})",
              f"overhead: {result['overhead']:.3f}"]
    return "\n".join(lines)


# The smallest input side each backbone's feature map survives (two cells of its stride at the cut).
MIN_SIDE = {"small_vgg": 16, "vgg19": 32, "efficientnet_lite0": 32}


def check_arguments(args) -> None:
    """Every argument checked before any work: sizes the backbone can take, counts of at least 1, a device
    this machine has, an ``--out`` file that can be written."""
    from sgma_core.engine.step import resolve_device

    for name in ("batch", "steps", "peak_n"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')}={getattr(args, name)}: must be at least 1.")
    for name in ("size", "joint_size"):
        if getattr(args, name) < MIN_SIDE[args.backbone]:
            raise ValueError(f"--{name.replace('_', '-')}={getattr(args, name)}: {args.backbone} needs at least "
                             f"{MIN_SIDE[args.backbone]} pixels.")
    resolve_device(args.device)
    if args.out:
        writable_output(args.out)


@command
def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m sgma_core.step_throughput")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--backbone", default="vgg19", choices=list(BACKBONES))
    p.add_argument("--size", type=int, default=448, help="baseline and attention-subnet input side")
    p.add_argument("--joint-size", type=int, default=224, help="SGMA joint-subnet input side")
    p.add_argument("--models", default="baseline,sgma")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--peak-n", type=int, default=8192)
    p.add_argument("--overhead", action="store_true",
                   help="SGMA's step against the sum of its backbone passes (last line: overhead: R)")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                   help="--overhead: the one precision timed (auto: bf16 on CUDA, fp32 on the CPU)")
    p.add_argument("--classes", type=int, help="--overhead: seen classes S (default 30, the synthetic set's; CUB: 150)")
    p.add_argument("--attributes", type=int,
                   help="--overhead: attributes K (default 15, the synthetic set's; CUB: 312)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--out", help="write the result as JSON here")
    add_debug_flag(p)
    args = p.parse_args(argv)
    check_arguments(args)
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads={args.threads}: must be at least 1.")
        torch.set_num_threads(args.threads)
    if args.overhead:
        result = overhead(args.device, args.backbone, args.size, args.joint_size, args.batch, args.steps,
                          args.precision, args.classes or 30, args.attributes or 15)
        print(overhead_table(result))
        if args.out:
            write_record(args.out, result)
        return 0
    unknown = set(args.models.split(",")) - {"baseline", "sgma"}
    if unknown:
        raise ValueError(f"--models names {', '.join(sorted(unknown))}; choose among baseline, sgma.")
    result = run(args.device, args.backbone, args.size, args.batch, args.steps, args.peak_n, args.joint_size,
                 tuple(args.models.split(",")))
    print(table(result))
    if args.out:
        write_record(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
