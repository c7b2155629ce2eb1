"""A backbone's start written by this project, in place of ImageNet's weights (``backbone_weights``).

Where ImageNet weights cannot be had (a GPU machine without network), VGG19 can start as the cpu profile's
small VGG does: pretrained as a classifier of the seen classes (:func:`sgma_core.experiment.pretrained_backbone`).
:func:`save_start` writes that backbone's state dict and, beside it, a manifest (``<file>.json``) with the
file's SHA-256 and what it was trained on. :func:`load_start` loads only a file whose manifest this project
wrote and whose digest matches it, with ``torch.load(weights_only=True)`` and every tensor's name and shape
checked (:func:`sgma_core.weights.load_checked`); a run's identity holds the digest, not the path.

    -p overrides '{backbone_weights: runs/starts/vgg19-SYN-seen.pt}'    # the paper profile from that start
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import torch

from sgma_core.files import save_atomically
from sgma_core.records import write_record
from sgma_core.weights import WeightsFileError, load_checked, sha256_of


def manifest_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".json")


def save_start(backbone: torch.nn.Module, path: str | Path, info: dict) -> dict:
    """Write ``backbone``'s state dict to ``path`` and its manifest (``info`` plus ``sha256`` and ``bytes``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in backbone.state_dict().items()}
    save_atomically(path, lambda p: torch.save(state, p))
    manifest = {**info, "sha256": sha256_of(path), "bytes": path.stat().st_size,
                "tensors": len(state), "written_by": "sgma_core.start_weights.save_start"}
    write_record(manifest_path(path), manifest)
    return manifest


@functools.lru_cache(maxsize=8)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    """The file's SHA-256, once per version of it (size and modification time): every run's identity asks for it,
    and a VGG19 start is 80 MB. Loading checks the digest again (:func:`sgma_core.weights.load_checked`)."""
    return sha256_of(Path(path))


def start_manifest(path: str | Path, backbone: str | None = None) -> dict:
    """The manifest of a start file, after its SHA-256 matched it (and its backbone is ``backbone``)."""
    path = Path(path)
    remedy = "Write the start again with `make gpu-day` (or sgma_core.start_weights.save_start)."
    if not path.is_file():
        raise WeightsFileError(f"backbone_weights={str(path)!r}: no such file. {remedy}")
    try:
        manifest = json.loads(manifest_path(path).read_text())
        assert isinstance(manifest, dict) and isinstance(manifest.get("sha256"), str)
    except (OSError, ValueError, AssertionError):
        raise WeightsFileError(f"{path} has no readable manifest {manifest_path(path).name}, so it was not written "
                               f"by this project and is not loaded. {remedy}") from None
    stat = path.stat()
    digest = _digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if digest != manifest["sha256"]:
        raise WeightsFileError(f"{path} has sha256 {digest[:12]}…, not the {manifest['sha256'][:12]}… its manifest "
                               f"names: it changed after it was written, and nothing was loaded. {remedy}")
    if backbone is not None and manifest.get("backbone") != backbone:
        raise WeightsFileError(f"{path} is a start for {manifest.get('backbone')!r}, not for backbone={backbone!r}.")
    return manifest


def load_start(net: torch.nn.Module, path: str | Path, backbone: str) -> dict:
    """Load the checked start ``path`` into ``net`` (a ``backbone`` network); returns its manifest."""
    manifest = start_manifest(path, backbone)
    expected = {k: v.shape for k, v in net.state_dict().items()}
    state = load_checked(path, manifest["sha256"], "Write the start again with `make gpu-day`.", expected)
    net.load_state_dict(state)
    return manifest
