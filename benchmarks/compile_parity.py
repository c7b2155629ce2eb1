"""The compiled training step against the eager one (``make gpu-day``'s ``parity`` section): float32 losses of
three steps of each model from the same weights on the same batches. The first step (the same weights, the same
batch) is held to :data:`TOLERANCE`; the later steps are shown beside how far the eager steps themselves drift
when the weights are nudged by :data:`NUDGE`: a few training steps amplify rounding, and under the book's defaults
a nudge of 1e-7 moves the third loss by per cents, so a tolerance on them would test the rounding, not the compiler.
"""

from __future__ import annotations

import torch

from sgma_core import step_throughput

TOLERANCE = 1e-4  # largest relative difference of the first step's loss, compiled against eager, float32
NUDGE = 1e-7  # the eager step's weights moved by this much (× a standard normal) show how far later steps drift


def compiled(make, mode: str | None):
    """``make`` whose stepper's objective (forward and loss) is compiled with ``mode`` (None: eager)."""
    def wrapped(device, channels_last):
        stepper = make(device, channels_last)
        if mode is not None:
            stepper.objective = torch.compile(stepper.objective, mode=None if mode == "default" else mode)
        return stepper
    return wrapped


def parity(device: torch.device, sz: dict) -> dict:
    """The compiled step against the eager one: float32 losses of three steps from the same weights on the same
    batches. The first step's (the same weights, the same batch) is held to :data:`TOLERANCE`; the later steps'
    differences are shown beside how far the eager steps themselves drift when the weights are nudged by
    :data:`NUDGE` (training a few steps amplifies rounding: under the book's defaults a nudge of 1e-7 moves the
    third loss by per cents), not held to a tolerance."""
    out = {}
    for name, make in (("baseline", step_throughput.baseline_step_factory(sz["backbone"])),
                       ("sgma", step_throughput.sgma_step_factory(sz["backbone"], sz["size"], sz["joint"]))):
        gen = torch.Generator().manual_seed(0)
        batches = [(torch.randn(sz["batch"], 3, sz["size"], sz["size"], generator=gen),
                    torch.randint(0, 150, (sz["batch"],), generator=gen)) for _ in range(3)]
        # the factory seeds the weights; channels-last as in `steps`, whose compiled graphs inductor then reuses
        losses = {mode: _losses(compiled(make, None if mode == "eager" else mode)(device, True), batches, device)
                  for mode in ("eager", "default")}
        nudged, gen = make(device, True), torch.Generator().manual_seed(1)
        with torch.no_grad():
            for p in nudged.model.parameters():
                p.add_(NUDGE * torch.randn(p.shape, generator=gen).to(device))
        losses["nudged"] = _losses(nudged, batches, device)
        rel = {k: [abs(a - b) / max(abs(a), 1e-12) for a, b in zip(losses["eager"], losses[k])] for k in losses}
        out[name] = {"eager": losses["eager"], "compiled": losses["default"], "eager_nudged": losses["nudged"],
                     "max_relative_difference": max(rel["default"]), "first_step_relative_difference":
                     rel["default"][0], "nudged_max_relative_difference": max(rel["nudged"]), "nudge": NUDGE,
                     "tolerance": TOLERANCE, "within": rel["default"][0] <= TOLERANCE}
    return out


def _losses(step, batches, device: torch.device) -> list[float]:
    """The float32 loss of each of ``batches`` as ``step`` trains on them in turn (channels-last images)."""
    return [float(step(x.to(device).contiguous(memory_format=torch.channels_last), y.to(device), False)["loss"])
            for x, y in batches]
