"""Fetch published ImageNet weights into the torch cache, once, on a machine with internet, or check
the file that is there.

    python -m data_prep.imagenet_weights vgg19

The weights land where torchvision keeps them (``$TORCH_HOME/hub/checkpoints``); from then on
``sgma_core.backbones.vgg19`` loads them offline, after checking them as this command does
(:func:`sgma_core.checked_weights.load_checked`: the published sha256, ``weights_only=True``, every tensor's
shape). A file already there is checked, not trusted: a wrong or damaged one is named with what to do.
"""

from __future__ import annotations

import argparse

from sgma_core.backbones import vgg19, vgg19_weights_path
from sgma_core.cli import add_debug_flag, command


@command
def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m data_prep.imagenet_weights")
    p.add_argument("name", choices=["vgg19"])
    add_debug_flag(p)
    args = p.parse_args(argv)
    path = vgg19_weights_path()
    there = path.is_file()
    vgg19(download=True)  # downloads when missing; checks the file either way (WeightsFileError: exit 2)
    print(f"{args.name}: {'checked' if there else 'saved and checked'} at {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
