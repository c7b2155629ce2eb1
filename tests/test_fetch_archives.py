"""``python -m data_prep.fetch``: downloads, checksums and archives.

Interrupted downloads resumed with ``Range`` requests, published and recorded checksums that
do not match, and damaged or unsafe archives. The archives and the local HTTP server are those
of :mod:`tests.test_fetch`; no test touches the network.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

import data_prep.fetch as fetch_mod
from data_prep.archives import extract
from data_prep.download import file_digests
from data_prep.errors import ArchiveError, ChecksumError, DownloadError
from data_prep.fetch import MANIFEST, MARKER, fetch
from sgma_core.data import load_dataset
from sgma_core.paths import data_roots, repo_root
from tests.test_fetch import _md5, _sha256, _tgz, _zip, archives, served  # noqa: F401  (fixtures)


def test_interrupted_download_is_resumed_with_range(served, archives, tmp_path, capsys):
    served.drop_once.add("/CUB_200_2011.tgz")
    fetch("cub", tmp_path, retries=2)
    half = len(archives["CUB_200_2011.tgz"]) // 2
    assert served.ranges("CUB_200_2011.tgz") == [None, f"bytes={half}-"]
    assert "transfer interrupted" in capsys.readouterr().out
    assert (tmp_path / "downloads" / "CUB_200_2011.tgz").read_bytes() == archives["CUB_200_2011.tgz"]
    load_dataset("CUB", tmp_path)


def test_interrupted_run_is_resumed_by_the_next_run(served, archives, tmp_path):
    served.drop_once.add("/xlsa17.zip")
    with pytest.raises(DownloadError) as info:
        fetch("cub", tmp_path, retries=0)
    part = tmp_path / "downloads" / "xlsa17.zip.part"
    message = str(info.value)
    assert "xlsa17.zip" in message and str(part) in message and "next run resumes" in message and "rerun" in message
    half = len(archives["xlsa17.zip"]) // 2
    assert part.stat().st_size == half and not (tmp_path / "downloads" / "xlsa17.zip").exists()
    assert (tmp_path / "CUB" / "CUB_200_2011" / MARKER).is_file()  # the part already installed stays
    assert not (tmp_path / "CUB" / "xlsa17").exists()

    assert fetch("cub", tmp_path) == ["xlsa17"]
    assert served.ranges("xlsa17.zip")[-1] == f"bytes={half}-"
    assert served.ranges("CUB_200_2011.tgz") == [None]
    load_dataset("CUB", tmp_path)


def test_server_that_ignores_range_is_downloaded_again(served, archives, tmp_path, capsys):
    served.ignore_range = True
    part = tmp_path / "downloads" / "CUB_200_2011.tgz.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"bytes from an earlier attempt")
    fetch("cub", tmp_path)
    assert served.ranges("CUB_200_2011.tgz") == [f"bytes={len(b'bytes from an earlier attempt')}-"]
    assert "does not resume downloads" in capsys.readouterr().out
    assert (tmp_path / "downloads" / "CUB_200_2011.tgz").read_bytes() == archives["CUB_200_2011.tgz"]


def test_complete_part_file_is_verified_not_downloaded_again(served, archives, tmp_path):
    part = tmp_path / "downloads" / "CUB_200_2011.tgz.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(archives["CUB_200_2011.tgz"])  # killed after the last byte, before the rename
    fetch("cub", tmp_path)
    assert served.ranges("CUB_200_2011.tgz") == [f"bytes={len(archives['CUB_200_2011.tgz'])}-"]  # answered 416
    assert (tmp_path / "downloads" / "CUB_200_2011.tgz").is_file() and not part.exists()


def test_published_checksum_mismatch(served, archives, tmp_path):
    good = archives["CUB_200_2011.tgz"]
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF
    served.files["/CUB_200_2011.tgz"] = bytes(bad)
    with pytest.raises(ChecksumError) as info:
        fetch("cub", tmp_path)
    message = str(info.value)
    for text in ("CUB_200_2011.tgz", f"expected md5 {_md5(good)}", f"got {_md5(bytes(bad))}", "Rerun", ".mismatch"):
        assert text in message
    downloads = tmp_path / "downloads"
    assert not (downloads / "CUB_200_2011.tgz").exists() and not (downloads / "CUB_200_2011.tgz.part").exists()
    assert (downloads / "CUB_200_2011.tgz.mismatch").read_bytes() == bytes(bad)
    assert not (tmp_path / "CUB").exists()

    served.files["/CUB_200_2011.tgz"] = good
    fetch("cub", tmp_path)
    load_dataset("CUB", tmp_path)


def test_recorded_checksum_mismatch_keeps_what_is_installed(served, archives, tmp_path):
    fetch("cub", tmp_path)
    cub = tmp_path / "CUB"
    manifest = (cub / MANIFEST).read_text()
    shutil.rmtree(cub / "xlsa17")
    (tmp_path / "downloads" / "xlsa17.zip").unlink()
    other = _zip({"xlsa17/data/CUB/att_splits.mat": b"a different release"})
    served.files["/xlsa17.zip"] = other
    with pytest.raises(ChecksumError) as info:
        fetch("cub", tmp_path)
    message = str(info.value)
    assert f"expected sha256 {_sha256(archives['xlsa17.zip'])}" in message and f"got {_sha256(other)}" in message
    assert str(cub / MANIFEST) in message and "on purpose" in message
    assert (cub / "CUB_200_2011" / MARKER).is_file() and (cub / MANIFEST).read_text() == manifest
    assert not (cub / "xlsa17").exists() and not (tmp_path / "downloads" / "xlsa17.zip").exists()


def test_bad_archive_given_by_hand_is_left_where_it_is(served, tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    (manual / "CUB_200_2011.tgz").write_bytes(b"not the archive")
    with pytest.raises(ChecksumError) as info:
        fetch("cub", tmp_path / "data", archive_dir=manual)
    assert str(manual / "CUB_200_2011.tgz") in str(info.value) and "left where it is" in str(info.value)
    assert (manual / "CUB_200_2011.tgz").read_bytes() == b"not the archive"
    assert served.ranges("CUB_200_2011.tgz") == []


@pytest.mark.parametrize("name, damage", [("CUB_200_2011.tgz", "truncate"), ("xlsa17.zip", "truncate"),
                                          ("xlsa17.zip", "flip")])
def test_damaged_archive(served, archives, tmp_path, name, damage):
    good = archives[name]
    if damage == "truncate":
        broken = good[: len(good) * 2 // 3]
    else:  # one byte inside the compressed data of a member that is extracted
        with zipfile.ZipFile(io.BytesIO(good)) as zf:
            info = zf.getinfo("xlsa17/data/CUB/att_splits.mat")
        at = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + info.compress_size // 2
        broken = bytearray(good)
        broken[at] ^= 0xFF
        broken = bytes(broken)
    src = fetch_mod.SOURCES[name]
    # the checksum table matches the broken file, so only the archive check can catch it
    fetch_mod.SOURCES[name] = replace(src, md5=_md5(broken) if src.md5 else None)
    manual = tmp_path / "manual"
    manual.mkdir()
    (manual / name).write_bytes(broken)
    root = tmp_path / "data"
    with pytest.raises(ArchiveError) as info:
        fetch("cub", root, archive_dir=manual)
    message = str(info.value)
    assert str(manual / name) in message and "damaged" in message and "Delete" in message and "rerun" in message
    assert not list((root / "CUB").glob(".partial-*")) if (root / "CUB").exists() else True
    target = "CUB_200_2011" if name.endswith(".tgz") else "xlsa17"
    assert not (root / "CUB" / target).exists()
    manifest = root / "CUB" / MANIFEST
    assert not manifest.exists() or name not in json.loads(manifest.read_text())["archives"]

    (manual / name).write_bytes(good)  # a good copy is then accepted: the broken one was never recorded
    fetch_mod.SOURCES[name] = replace(src, md5=_md5(good) if src.md5 else None)
    fetch("cub", root, archive_dir=manual)
    load_dataset("CUB", root)


def test_member_outside_the_folder_is_refused(tmp_path):
    archive = tmp_path / "evil.tgz"
    archive.write_bytes(_tgz({"CUB_200_2011/../../evil.txt": b"x"}))
    with pytest.raises(ArchiveError, match="outside the dataset folder"):
        extract(archive, "tgz", lambda member: member, tmp_path / "out" / "deeper")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "evil.txt").exists()


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["imagelabels.mat", "setid.mat"])
def test_published_oxford_md5_matches_the_real_file(name):
    """SOURCES.md: the real ``imagelabels.mat``/``setid.mat`` have the official md5s, which fetch checks."""
    roots = [*data_roots(), repo_root().parent / "shared" / "data"]
    path = next((r / "FLO" / "oxford102" / name for r in roots if (r / "FLO" / "oxford102" / name).is_file()), None)
    if path is None:
        pytest.skip(f"the real {name} is absent")
    assert file_digests(Path(path))["md5"] == fetch_mod.SOURCES[name].md5
