"""Extraction cannot fill the disk: ``data_prep.archives`` stops at the expansion limit (the sizes the
members declare, checked before a byte is written, and the bytes actually written) and at the free
space of the target disk, and removes what that run had created. The archives are fabricated: zip and
tar bombs of a few hundred KB that unpack to tens or hundreds of MB."""

from __future__ import annotations

import io
import shutil
import struct
import tarfile
import zipfile
from collections import namedtuple

import pytest

import data_prep.archives as archives_mod
from data_prep.archives import EXPANSION_FLOOR, ExtractionLimitError, MiB, expansion_limit, extract
from data_prep.errors import ArchiveError
from data_prep.fetch import fetch, main
from sgma_core.data import load_dataset
from tests.test_fetch import archives, served  # noqa: F401  (fixtures)

ZEROS = bytes(MiB)
Usage = namedtuple("Usage", "total used free")


def _zip_bomb(path, members: dict[str, int]):
    """A zip whose members are ``size`` MiB of zeros each: about 1 KB of archive per MiB declared."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, mib in members.items():
            with zf.open(name, "w") as out:
                for _ in range(mib):
                    out.write(ZEROS)
    return path


def _tgz_bomb(path, mib: int):
    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo("bomb/zeros.bin")
        info.size = mib * MiB
        tf.addfile(info, io.BytesIO(bytes(info.size)))
    return path


def _everything(member: str) -> str:
    return member


def test_the_default_limit_stops_a_400_kb_zip_that_unpacks_to_300_mb(tmp_path):
    bomb = _zip_bomb(tmp_path / "bomb.zip", {"a.bin": 150, "b.bin": 150})
    assert bomb.stat().st_size < 400_000 and expansion_limit(bomb.stat().st_size) == EXPANSION_FLOOR
    dest = tmp_path / "out"
    with pytest.raises(ExtractionLimitError) as info:
        extract(bomb, "zip", _everything, dest)
    message = str(info.value)
    assert info.value.limit == "expansion"
    for text in ("bomb.zip", f"declare {300 * MiB} bytes", f"expansion limit of {EXPANSION_FLOOR} bytes",
                 "10 times the archive's", "nothing was extracted", "zip bomb", f"delete {bomb}", "--max-extract-gb"):
        assert text in message
    assert not dest.exists()  # refused before a byte was written


def test_a_limit_given_by_the_caller_stops_a_zip_and_a_tar(tmp_path):
    zip_bomb = _zip_bomb(tmp_path / "bomb.zip", {"a.bin": 40})
    with pytest.raises(ExtractionLimitError, match=rf"bomb\.zip: .* declare {40 * MiB} bytes .* limit of "
                                                   rf"{10 * MiB} bytes \(10\.0 MiB; the limit given"):
        extract(zip_bomb, "zip", _everything, tmp_path / "out", limit=10 * MiB)
    tar_bomb = _tgz_bomb(tmp_path / "bomb.tgz", 40)
    assert tar_bomb.stat().st_size < 400_000
    with pytest.raises(ExtractionLimitError, match=rf"bomb\.tgz: .* declare at least {40 * MiB} bytes"):
        extract(tar_bomb, "tgz", _everything, tmp_path / "out", limit=10 * MiB)
    assert not (tmp_path / "out").exists()
    assert extract(tar_bomb, "tgz", _everything, tmp_path / "out", limit=50 * MiB) == 1  # within the limit: extracted
    assert (tmp_path / "out" / "bomb" / "zeros.bin").stat().st_size == 40 * MiB


def test_only_the_picked_members_count(tmp_path):
    bomb = _zip_bomb(tmp_path / "mixed.zip", {"wanted/small.bin": 1, "other/big.bin": 40})
    pick = lambda m: m[len("wanted/"):] if m.startswith("wanted/") else None  # noqa: E731
    assert extract(bomb, "zip", pick, tmp_path / "out", limit=2 * MiB) == 1


def _understate(data: bytes, name: str, size: int) -> bytes:
    """The zip ``data`` with the uncompressed size of ``name`` set to ``size`` in both of its headers."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(name)
    out = bytearray(data)
    struct.pack_into("<I", out, info.header_offset + 22, size)  # the local header
    central = data.rindex(b"PK\x01\x02")  # the one member's entry in the central directory
    struct.pack_into("<I", out, central + 24, size)
    return bytes(out)


def test_a_zip_that_understates_its_sizes_writes_no_more_than_it_declares(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("liar.bin", bytes(20 * MiB))
    liar = tmp_path / "liar.zip"
    liar.write_bytes(_understate(buf.getvalue(), "liar.bin", 1000))
    with zipfile.ZipFile(liar) as zf:
        assert zf.getinfo("liar.bin").file_size == 1000
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "kept.txt").write_text("there before")
    with pytest.raises(ArchiveError, match=r"liar\.zip is damaged") as info:  # its CRC fails at byte 1000
        extract(liar, "zip", _everything, dest, limit=MiB)
    assert not isinstance(info.value, ExtractionLimitError)
    assert sorted(p.name for p in dest.iterdir()) == ["kept.txt"]  # the partial member was removed, nothing else


def test_the_bytes_written_are_counted_too(tmp_path, monkeypatch):
    """An archive whose sizes the first pass believes (here: a reader that is told 0 bytes) is stopped
    while writing, and what that extraction created is removed; what was there before stays."""
    bomb = _zip_bomb(tmp_path / "bomb.zip", {"deep/er/a.bin": 30})
    monkeypatch.setattr(archives_mod, "_declared_zip", lambda archive, pick, dest: 0)
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "kept.txt").write_text("there before")
    with pytest.raises(ExtractionLimitError) as info:
        extract(bomb, "zip", _everything, dest, limit=10 * MiB)
    message = str(info.value)
    assert info.value.limit == "written"
    assert "bomb.zip" in message and f"over the expansion limit of {10 * MiB} bytes" in message
    assert "declare only 0 bytes" in message and "misstates" in message and f"Delete {bomb}" in message
    assert sorted(p.name for p in dest.iterdir()) == ["kept.txt"]


def test_too_little_free_space_is_refused_before_extracting(tmp_path, monkeypatch):
    bomb = _zip_bomb(tmp_path / "big.zip", {"a.bin": 20})
    seen = []

    def disk_usage(path):
        seen.append(path)
        return Usage(1000 * MiB, 700 * MiB, 270 * MiB)  # 20 MiB wanted, but the 256 MiB + 1 MiB margin too

    monkeypatch.setattr(shutil, "disk_usage", disk_usage)
    dest = tmp_path / "not" / "yet" / "there"
    with pytest.raises(ExtractionLimitError) as info:
        extract(bomb, "zip", _everything, dest)
    message = str(info.value)
    assert info.value.limit == "free space" and seen == [tmp_path]  # the nearest folder that exists
    for text in ("big.zip", f"need {20 * MiB} bytes", f"{270 * MiB} bytes (270.0 MiB) free", "margin",
                 "nothing was extracted", "Free at least 7.0 MiB", "--root"):
        assert text in message
    assert not (tmp_path / "not").exists()
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(1000 * MiB, 700 * MiB, 290 * MiB))
    assert extract(bomb, "zip", _everything, dest) == 1


def test_fetch_stops_at_the_limit_and_leaves_nothing(served, tmp_path):
    with pytest.raises(ExtractionLimitError) as info:
        fetch("cub", tmp_path, max_extract_gb=1e-6)  # about 1 KB: less than the fabricated CUB archive holds
    message = str(info.value)
    assert "CUB_200_2011.tgz" in message and "--max-extract-gb 1e-06" in message and "nothing installed" in message
    assert not (tmp_path / "CUB").exists()  # neither the staging folder nor the empty dataset folder stays
    assert (tmp_path / "downloads" / "CUB_200_2011.tgz").is_file()  # the verified download is kept
    assert fetch("cub", tmp_path) == ["CUB_200_2011", "xlsa17"]
    load_dataset("CUB", tmp_path)


def test_fetch_refuses_a_full_disk(served, tmp_path, monkeypatch, capsys):
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=10 * MiB))
    assert main(["cub", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "CUB_200_2011.tgz" in err and "free" in err and "--root" in err
    assert not (tmp_path / "CUB").exists()


def test_max_extract_gb_must_be_positive(tmp_path, capsys):
    assert main(["cub", "--root", str(tmp_path), "--max-extract-gb", "0"]) == 1
    assert "--max-extract-gb 0.0 is not a positive number" in capsys.readouterr().err
