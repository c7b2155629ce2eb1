"""Shared fixtures: a tiny synthetic dataset, a tiny SGMA in one line, and the real metadata where it is present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from data_prep.synthetic import SyntheticConfig, generate
from sgma_core.paths import DataRootError, find_dataset

TINY = SyntheticConfig(seed=3, classes=12, unseen=4, images_per_class=10, image_size=64)


def tiny_problem(n: int = 40, size: int = 16, classes: int = 4):
    """``n`` random uint8 images with labels ``0..classes−1``; class 1 has a saturated red channel to learn."""
    import torch

    from sgma_core.engine.step import TrainData

    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
    labels = torch.arange(n) % classes
    images[labels == 1, 0] = 255
    return TrainData(images, labels)


def tiny_classifier(classes: int = 4):
    """conv → ReLU → pool → linear, the same weights every time."""
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                               torch.nn.Flatten(), torch.nn.Linear(4, classes))


def cross_entropy(model, x, y):
    """The loss of :func:`tiny_classifier` on a batch."""
    import torch

    return torch.nn.functional.cross_entropy(model(x), y)


def tiny_sgma(seed: int = 0, n_attributes: int = 6, n_seen: int = 5, size: int = 24, joint: int = 12, **settings):
    """A tiny SGMA (two-stage VGG, stride 2: ``size/2`` × ``size/2`` maps) built as the smoke profile
    with ``settings`` (any RunConfig field) describes it."""
    import torch

    from sgma_core.backbones import small_vgg
    from sgma_core.profiles import make_config
    from sgma_core.sgma import SGMA

    config = make_config("smoke", overrides={"image_size": size, "joint_size": joint, "seed": seed, **settings})
    torch.manual_seed(seed)
    return SGMA.from_config(config, n_attributes, n_seen, backbone=small_vgg(widths=(8, 16)))


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    """A data root holding a small synthetic dataset as ``SYN``."""
    root = tmp_path_factory.mktemp("data")
    generate(root / "SYN", TINY, workers=2, progress=False)
    return root


@pytest.fixture(scope="session")
def tiny_syn(tiny_root):
    from sgma_core.data import load_dataset

    return load_dataset("SYN", tiny_root)


def real_dataset(name: str) -> Path:
    """``<root>/<name>`` from ``SGMA_DATA_ROOT``, or skip with the reason."""
    try:
        return find_dataset(name)
    except DataRootError as exc:
        pytest.skip(f"real {name} metadata absent: {exc}")


@pytest.fixture(scope="session")
def cub_dir() -> Path:
    return real_dataset("CUB")


@pytest.fixture(autouse=True)
def _few_threads():
    """Two cores on CI: keep torch from oversubscribing when pytest runs alongside other work."""
    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))
