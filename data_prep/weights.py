"""Fetch pretrained weights into the torch cache, once, on a machine with internet.

    python -m data_prep.weights vgg19

The weights land where torchvision looks for them (``$TORCH_HOME/hub/checkpoints``); from then on
``sgma_core.backbones.vgg19(pretrained=True)`` loads them offline.
"""

from __future__ import annotations

import argparse
import sys

from sgma_core.backbones import WeightsNotFoundError, vgg19, vgg19_weights_path
from sgma_core.cli import add_debug_flag, command


@command
def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m data_prep.weights")
    p.add_argument("name", choices=["vgg19"])
    add_debug_flag(p)
    args = p.parse_args(argv)
    path = vgg19_weights_path()
    if path.is_file():
        print(f"{args.name}: already in the torch cache at {path}")
        return 0
    try:
        vgg19(pretrained=True, download=True)
    except WeightsNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.name}: saved to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
