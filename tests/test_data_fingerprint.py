"""A run's identity covers what its data holds: the bytes of every image and every table as read, so a dataset
whose pictures or part locations were replaced is other data, even with every file's name and size kept; the
images of an untouched dataset are hashed once, not on every run."""

import json
import os
import shutil

import pytest
from PIL import Image, ImageOps

from sgma_core.data import digests, load_dataset
from sgma_core.engine.runs import Run
from sgma_core.experiment.recipes import run_extra
from sgma_core.profiles import make_config

LONG_AGO = 1_600_000_000 * 10**9  # a modification time in nanoseconds, well before any test runs


@pytest.fixture
def own(tiny_root, tmp_path, monkeypatch):
    """A data root holding the tiny synthetic birds as OWN, each picture as BMP (a picture and its mirror image
    then have the same byte size), last modified long ago; the runs root (and its caches) under ``tmp_path``."""
    monkeypatch.setenv("SGMA_RUNS_ROOT", str(tmp_path / "runs"))
    root = tmp_path / "data"
    shutil.copytree(tiny_root / "SYN", root / "OWN")
    images = sorted(p for p in (root / "OWN" / "CUB_200_2011" / "images").rglob("*") if p.is_file())
    for path in images:
        Image.open(path).convert("RGB").save(path, format="BMP")
        os.utime(path, ns=(LONG_AGO, LONG_AGO))
    return root, images


@pytest.fixture
def reads(monkeypatch):
    """The files whose bytes are hashed, in order."""
    hashed, real = [], digests.sha256_file

    def counting(path):
        hashed.append(path)
        return real(path)

    monkeypatch.setattr(digests, "sha256_file", counting)
    return hashed


def _run_name(dataset) -> str:
    cfg = make_config("smoke", {"dataset": "OWN"})
    prepared = type("Prepared", (), {"dataset": dataset, "split": "test"})()
    return Run.of("sgma", cfg, "runs", extra=run_extra(prepared, cfg)).path.name


def test_an_untouched_dataset_keeps_its_identity_and_its_images_are_not_read_again(own, reads):
    root, images = own
    first = load_dataset("OWN", root)
    first.fingerprint()
    assert len(reads) == len(images)
    second = load_dataset("OWN", root)
    reads.clear()
    assert second.fingerprint() == first.fingerprint() and _run_name(second) == _run_name(first)
    assert reads == []  # every digest came from the cache: no image was read


def test_images_replaced_by_other_pictures_of_the_same_size_are_other_data(own, reads):
    root, images = own
    before = load_dataset("OWN", root)
    name, by_name_and_size = _run_name(before), before.fingerprint(scheme=1)
    for path in images:
        size = path.stat().st_size
        ImageOps.invert(ImageOps.mirror(Image.open(path))).save(path, format="BMP")
        assert path.stat().st_size == size
    after = load_dataset("OWN", root)
    assert after.fingerprint(scheme=1) == by_name_and_size  # what the older fingerprint held cannot tell them apart
    assert after.fingerprint() != before.fingerprint() and _run_name(after) != name


def test_part_locations_moved_are_other_data(own):
    root, _ = own
    before = load_dataset("OWN", root)
    locs = root / "OWN" / "CUB_200_2011" / "parts" / "part_locs.txt"
    lines = [line.split() for line in locs.read_text().splitlines() if line.strip()]
    locs.write_text("".join(f"{i} {p} 1 1 {v}\n" for i, p, _, _, v in lines))
    after = load_dataset("OWN", root)
    assert (after.part_locs[..., :2] == 1).all()
    assert after.fingerprint() != before.fingerprint() and _run_name(after) != _run_name(before)


@pytest.mark.parametrize("damage", [
    lambda cache: cache.write_text("{cut sh"),
    lambda cache: cache.write_text("[1, 2]"),
    lambda cache: cache.write_text(json.dumps({"format": 1, "files": {k: ["x", 0, "nope"] for k in
                                                                      json.loads(cache.read_text())["files"]}})),
], ids=["not JSON", "not an object", "entries of another shape"])
def test_a_damaged_digest_cache_is_not_trusted_and_is_written_again(own, reads, damage):
    root, images = own
    first = load_dataset("OWN", root).fingerprint()
    (cache,) = (root.parent / "runs" / "cache").glob("file-digests-*.json")
    damage(cache)
    reads.clear()
    assert load_dataset("OWN", root).fingerprint() == first and len(reads) == len(images)
    assert len(json.loads(cache.read_text())["files"]) == len(images)  # the cache holds the digests again


def test_a_file_modified_moments_ago_is_hashed_again_next_time(own, reads):
    """A file written within the file system's clock tick of its hashing could change again at the same size and
    time: its digest is not kept until its modification time is safely past."""
    root, images = own
    images[0].write_bytes(images[0].read_bytes())
    load_dataset("OWN", root).fingerprint()
    reads.clear()
    load_dataset("OWN", root).fingerprint()
    assert reads == [images[0]]
