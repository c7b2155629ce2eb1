"""The decoded-image cache: same pixels as decoding directly, reuse, resume after an interruption,
invalidation when an image changes, and a clear error for a damaged image."""

import numpy as np
import pytest
import torch
from PIL import Image

from sgma_core.data import cache as cache_mod
from sgma_core.data.cache import cached_images
from sgma_core.data.images import ImageReadError, load_images


def _images(folder, n=10):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        p = folder / f"img{i}.jpg"
        Image.fromarray(rng.integers(0, 255, (20 + i, 30, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


def test_cache_equals_direct_decoding_and_is_reused(tmp_path):
    paths = _images(tmp_path)
    direct, sizes = load_images(paths, 16)
    images, cached_sizes, info = cached_images(paths, 16, tmp_path / "cache", workers=0)
    assert not info["reused"] and info["decoded"] == 10 and info["images_per_s"] > 0
    assert torch.equal(images, direct) and np.array_equal(cached_sizes, sizes)
    again, _, info2 = cached_images(paths, 16, tmp_path / "cache", workers=0)
    assert info2["reused"] and torch.equal(again, direct)
    again[0] = 0  # copy-on-write: the file is not changed
    third, _, _ = cached_images(paths, 16, tmp_path / "cache", workers=0)
    assert torch.equal(third, direct)


def test_parallel_workers_give_the_same_pixels(tmp_path):
    paths = _images(tmp_path, 6)
    a, _, _ = cached_images(paths, 12, tmp_path / "c0", workers=0)
    b, _, _ = cached_images(paths, 12, tmp_path / "c2", workers=2)
    assert torch.equal(a, b)


def test_interrupted_build_resumes_without_decoding_again(tmp_path, monkeypatch):
    paths = _images(tmp_path, 8)
    calls = []
    real = cache_mod.read_image

    def failing(path, size):
        calls.append(path)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(path, size)

    monkeypatch.setattr(cache_mod, "read_image", failing)
    with pytest.raises(KeyboardInterrupt):
        cached_images(paths, 16, tmp_path / "cache", workers=0, chunk=1)
    assert not list((tmp_path / "cache").glob("*.json")), "an unfinished cache must not be marked complete"
    monkeypatch.setattr(cache_mod, "read_image", real)
    images, _, info = cached_images(paths, 16, tmp_path / "cache", workers=0)
    assert info["decoded"] < 8 and not info["reused"]
    assert torch.equal(images, load_images(paths, 16)[0])


def test_a_changed_image_gives_a_new_cache(tmp_path):
    paths = _images(tmp_path, 3)
    first, _, _ = cached_images(paths, 8, tmp_path / "cache", workers=0)
    Image.fromarray(np.zeros((9, 9, 3), dtype=np.uint8)).save(paths[1])
    second, _, info = cached_images(paths, 8, tmp_path / "cache", workers=0)
    assert not info["reused"] and second[1].sum() == 0 and not torch.equal(first, second)


def test_damaged_image_is_named(tmp_path):
    paths = _images(tmp_path, 3)
    paths[2].write_bytes(b"not a jpeg")
    with pytest.raises(ImageReadError, match="img2.jpg"):
        cached_images(paths, 8, tmp_path / "cache", workers=0)


def _build(args):
    paths, cache_dir = args
    images, sizes, info = cached_images(paths, 32, cache_dir, workers=0)
    return images.numpy().sum(), info["reused"]


def test_two_processes_building_one_cache_take_turns(tiny_syn, tmp_path):
    """The ranks of a torchrun job (or two chapters at once) ask for the same new cache together: one
    builds it, the other waits and reuses it."""
    import multiprocessing

    paths = tiny_syn.image_paths[:40]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.map(_build, [(paths, tmp_path)] * 2)
    assert results[0][0] == results[1][0]
    assert sorted(r[1] for r in results) == [False, True]
