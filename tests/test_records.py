"""Records and every file written atomically: written whole, with the permissions the user's umask gives, and
never holding or accepting a number that is not one (NaN, an infinity) or a field of the wrong type."""

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from sgma_core.records import RecordError, read_record, save_atomically, write_record

RESULTS = Path(__file__).resolve().parents[1] / "results"


@pytest.fixture(params=[0o022, 0o077], ids=["umask022", "umask077"])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_atomically_written_file_follows_the_umask(tmp_path, umask):
    written = save_atomically(tmp_path / "report.md", lambda p: p.write_text("text"))
    assert _mode(written) == 0o666 & ~umask
    again = save_atomically(written, lambda p: p.write_text("other text"))  # replacing keeps following it
    assert _mode(again) == 0o666 & ~umask and again.read_text() == "other text"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]


def test_the_fetch_manifest_and_the_decode_cache_follow_the_umask(tmp_path, umask):
    import numpy as np

    from data_prep.manifest import read_json, write_json
    from sgma_core.data.cache import _save_progress

    write_json(tmp_path / "manifest.json", {"parts": {}})
    assert read_json(tmp_path / "manifest.json") == {"parts": {}}
    pixels = np.memmap(tmp_path / "pixels.u8", dtype=np.uint8, mode="w+", shape=(2, 3))
    _save_progress(pixels, np.ones((2, 2), dtype=np.int64), np.array([True, False]), tmp_path / "sizes.npy",
                   tmp_path / "done.npy")
    assert np.load(tmp_path / "done.npy").tolist() == [True, False]
    for name in ("manifest.json", "sizes.npy", "done.npy"):
        assert _mode(tmp_path / name) == 0o666 & ~umask, name
    assert not [p.name for p in tmp_path.iterdir() if "tmp" in p.name]
