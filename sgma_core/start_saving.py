"""Saving a backbone's start, for later runs to begin from in place of ImageNet's weights (``backbone_weights``).

Where ImageNet weights cannot be had (a GPU machine without network), VGG19 can start as the cpu profile's
small VGG does: pretrained as a classifier of the seen classes (:func:`sgma_core.experiment.pretrained_backbone`).
:func:`save_start` writes that backbone's state dict and, beside it, a manifest (``<file>.json``) with the
file's SHA-256 and what it was trained on; :func:`sgma_core.checked_weights.load_start` loads only a file whose
manifest this wrote and whose digest matches it. A run's identity holds the digest, not the path.

    -p overrides '{backbone_weights: runs/starts/vgg19-SYN-seen.pt}'    # the paper profile from that start
"""

from __future__ import annotations

from pathlib import Path

import torch

from sgma_core.checked_weights import manifest_path, sha256_of
from sgma_core.files import save_atomically
from sgma_core.records import write_record


def save_start(backbone: torch.nn.Module, path: str | Path, info: dict) -> dict:
    """Write ``backbone``'s state dict to ``path`` and its manifest (``info`` plus ``sha256`` and ``bytes``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in backbone.state_dict().items()}
    save_atomically(path, lambda p: torch.save(state, p))
    manifest = {**info, "sha256": sha256_of(path), "bytes": path.stat().st_size,
                "tensors": len(state), "written_by": "sgma_core.start_saving.save_start"}
    write_record(manifest_path(path), manifest)
    return manifest
