"""Weight files, loaded only after they are checked: the file's SHA-256 against the one it must have,
then ``torch.load(weights_only=True)`` (tensors and numbers; nothing is unpickled), then every
tensor's name and shape against the network it is for. Whoever wrote the file (a download, a copy
from another machine, a hostile process), a wrong or damaged one is refused with its name and what
to do; nothing of it is loaded.

Two kinds of file: published weights, whose digest the code knows (:func:`load_checked`), and a
backbone's start this project wrote (``backbone_weights``), whose digest is in the manifest beside
it (:func:`load_start`; :mod:`sgma_core.start_saving` writes both).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import pickle
from pathlib import Path

import torch


class WeightsNotFoundError(FileNotFoundError):
    """Pretrained weights are not where they are looked for, and downloading was not allowed."""


class WeightsFileError(ValueError):
    """A weights file is not the published one, is damaged, or holds more than tensors."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_checked(path: str | Path, sha256: str, remedy: str, expected: dict[str, torch.Size] | None = None
                 ) -> dict[str, torch.Tensor]:
    """The state dict in ``path``, after three checks: its SHA-256 starts with ``sha256`` (the whole digest,
    or the prefix a publisher puts in the file's name, as torchvision's are), it loads with
    ``weights_only=True``, and its tensors have the names and shapes of ``expected`` (a model's
    ``state_dict`` shapes). :class:`WeightsFileError` names the file, what failed and ``remedy``.

    The file is read once: the bytes hashed are the bytes loaded, so a file replaced between the two (a link
    flipped to other weights) can never be loaded in place of the one whose digest was checked."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise WeightsNotFoundError(f"{path} does not exist. {remedy}") from None
    digest = sha256_of_bytes(data)
    if not digest.startswith(sha256):
        raise WeightsFileError(f"{path} has sha256 {digest[:12]}…, not the published {sha256[:12]}…: the file is "
                               f"damaged or another model, and nothing was loaded from it. {remedy}")
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise WeightsFileError(f"{path} holds Python objects other than tensors and was refused unread. {remedy}") \
            from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise WeightsFileError(f"{path} is damaged ({str(exc).splitlines()[0][:100]}). {remedy}") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsFileError(f"{path} is not a state dict of tensors. {remedy}")
    if expected is not None:
        wrong = sorted(set(expected) ^ set(state)) or [k for k in expected if state[k].shape != expected[k]]
        if wrong:
            raise WeightsFileError(f"{path} does not fit the network ({len(wrong)} tensors differ, e.g. {wrong[0]!r}). "
                                   f"{remedy}")
    return state


def manifest_path(path: str | Path) -> Path:
    """The manifest beside a start file: ``<file>.json``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


@functools.lru_cache(maxsize=8)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    """The file's SHA-256, once per version of it (size and modification time): every run's identity asks for it,
    and a VGG19 start is 80 MB. Loading checks the digest again (:func:`load_checked`)."""
    return sha256_of(Path(path))


def start_manifest(path: str | Path, backbone: str | None = None) -> dict:
    """The manifest of a start file, after its SHA-256 matched it (and its backbone is ``backbone``)."""
    path = Path(path)
    remedy = "Write the start again with `make gpu-day` (or sgma_core.start_saving.save_start)."
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
