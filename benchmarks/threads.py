"""Does the number of CPU threads change a run's numbers? The cpu profile's backbone pretraining for a few
epochs, in a fresh runs folder, printing each epoch's training loss to full precision::

    OMP_NUM_THREADS=1 python benchmarks/threads.py --epochs 2
    OMP_NUM_THREADS=2 python benchmarks/threads.py --epochs 2

Run twice with one count to see that a run repeats bit for bit, and with another count to see that it
does not (benchmarks/results/threads-cpu-2core-2026-12-01.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    import torch

    from sgma_core.experiment import prepare_data, pretrained_backbone
    from sgma_core.profiles import make_experiment

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=2, help="epochs of backbone pretraining (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default=None, help="default: $SGMA_DATA_ROOT, else <repo>/data")
    args = p.parse_args()
    cfg = make_experiment("cpu", {"dataset": "SYN", "pretrain_epochs": args.epochs}, (args.seed,)).configs()[0]
    prepared = prepare_data(cfg, args.data_root, progress=False)
    with tempfile.TemporaryDirectory() as runs:
        _, history = pretrained_backbone(prepared, cfg, Path(runs), progress=False)
    print(json.dumps({"threads": torch.get_num_threads(), "seed": args.seed,
                      "train_loss": [h["train_loss"] for h in history]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
