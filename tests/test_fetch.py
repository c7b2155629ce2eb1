"""``python -m data_prep.fetch`` against small fabricated archives served from a local HTTP server.

The archives have the real internal layouts (``CUB_200_2011/…`` plus a top-level
``attributes.txt``; ``xlsa17/data/<DATASET>/``; ``Animals_with_Attributes2/JPEGImages/…``;
``jpg/image_XXXXX.jpg``; ``cvpr18xian/data/FLO/``). The server honours ``Range`` requests, can
ignore them, and can drop a connection halfway through a file. The URL/checksum table is
patched to point at it, keeping which files have a published md5 and which do not. No test
touches the network.

Here: installing and loading, what a later run finds, dry runs and the command line. Downloads,
checksums and damaged archives are tested in :mod:`tests.test_fetch_archives`, with the
archives and the server of this module.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import socket
import tarfile
import threading
import zipfile
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

import data_prep.download
import data_prep.fetch as fetch_mod
import data_prep.install
from data_prep.errors import FetchError, NetworkUnavailableError
from data_prep.fetch import MANIFEST, MARKER, fetch, main
from sgma_core.data import load_dataset
from tests.test_data_awa2_flo import awa2_release, cell, flo_release, mat_bytes, tiny_jpeg

CUB_CLASSES = ["001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross"]
CUB_ATTRIBUTES = ["has_bill_shape::curved", "has_bill_shape::dagger", "has_wing_color::blue", "has_size::small"]


# --------------------------------------------------------------------------------------
# Fabricated archives
# --------------------------------------------------------------------------------------


def _tgz(files: dict[str, bytes], dirs: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tf.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _lines(rows) -> bytes:
    return "".join(" ".join(str(v) for v in row) + "\n" for row in rows).encode()


def cub_archive() -> tuple[bytes, dict]:
    """``CUB_200_2011.tgz`` for 3 classes × 2 images, and the xlsa17 variables that go with it."""
    images = []  # (image id, class id, relative path)
    for c, name in enumerate(CUB_CLASSES, 1):
        for k in range(2):
            images.append((len(images) + 1, c, f"{name}/{name.split('.')[1]}_{k + 1:04d}_{c}{k}.jpg"))
    base = "CUB_200_2011/"
    files = {f"{base}images/{rel}": tiny_jpeg(i) for i, _, rel in images}
    files.update(
        {
            f"{base}README": b"The Caltech-UCSD Birds-200-2011 Dataset (fabricated for the tests)\n",
            f"{base}images.txt": _lines((i, rel) for i, _, rel in images),
            f"{base}classes.txt": _lines(enumerate(CUB_CLASSES, 1)),
            f"{base}image_class_labels.txt": _lines((i, c) for i, c, _ in images),
            f"{base}train_test_split.txt": _lines((i, i % 2) for i, _, _ in images),
            f"{base}bounding_boxes.txt": _lines((i, 1.0, 1.0, 5.0, 5.0) for i, _, _ in images),
            f"{base}parts/parts.txt": _lines([(1, "back"), (2, "beak")]),
            f"{base}parts/part_locs.txt": _lines((i, p, 2.0, 3.0, 1) for i, _, _ in images for p in (1, 2)),
            f"{base}attributes/certainties.txt": _lines([(1, "not visible"), (2, "guessing")]),
            "attributes.txt": _lines(enumerate(CUB_ATTRIBUTES, 1)),  # top level, as in the real archive
        }
    )
    dirs = ("CUB_200_2011", "CUB_200_2011/images", *(f"CUB_200_2011/images/{c}" for c in CUB_CLASSES))
    column_order = [CUB_CLASSES[1], CUB_CLASSES[2], CUB_CLASSES[0]]  # not class-id order, as in xlsa17
    att = np.random.default_rng(0).random((len(CUB_ATTRIBUTES), 3)) + 0.1
    splits = {
        "att": att / np.linalg.norm(att, axis=0),
        "original_att": att * 100,
        "allclasses_names": cell(column_order),
        "trainval_loc": np.array([[1], [3]], dtype=np.uint16),
        "test_seen_loc": np.array([[2], [4]], dtype=np.uint16),
        "test_unseen_loc": np.array([[5], [6]], dtype=np.uint16),
    }
    res101 = {
        "features": np.zeros((4, 6), dtype=np.float32),
        "image_files": cell([f"/BS/xian/work/data/CUB_200_2011/images/{rel}" for _, _, rel in images]),
        "labels": np.array([[column_order.index(CUB_CLASSES[c - 1]) + 1] for _, c, _ in images], dtype=np.float64),
    }
    return _tgz(files, dirs), {"att_splits": splits, "res101": res101}


@pytest.fixture(scope="module")
def archives() -> dict[str, bytes]:
    """Every archive of :data:`data_prep.fetch.SOURCES`, fabricated with the real internal layout."""
    cub_tgz, cub = cub_archive()
    awa2, flo = awa2_release(), flo_release()
    xlsa17 = {
        "xlsa17/README.txt": b"Proposed splits (fabricated for the tests)\n",
        "xlsa17/code/demo.m": b"% not part of any dataset folder\n",
        "xlsa17/data/CUB/att_splits.mat": mat_bytes(cub["att_splits"]),
        "xlsa17/data/CUB/res101.mat": mat_bytes(cub["res101"]),
        "xlsa17/data/CUB/allclasses.txt": "\n".join(cub_archive_names()).encode() + b"\n",
        "xlsa17/data/AWA2/att_splits.mat": mat_bytes(awa2["att_splits"]),
        "xlsa17/data/AWA2/res101.mat": mat_bytes(awa2["res101"]),
    }
    flowers = {rel: data for rel, data in flo["files"].items() if rel.startswith("jpg/")}
    return {
        "CUB_200_2011.tgz": cub_tgz,
        "xlsa17.zip": _zip(xlsa17),
        "AwA2-data.zip": _zip({f"Animals_with_Attributes2/{rel}": data for rel, data in awa2["files"].items()}),
        "102flowers.tgz": _tgz(flowers, ("jpg",)),
        "imagelabels.mat": flo["files"]["imagelabels.mat"],
        "setid.mat": flo["files"]["setid.mat"],
        "cvpr18xian.zip": _zip(
            {
                "cvpr18xian/code/clswgan.py": b"# not part of any dataset folder\n",
                "cvpr18xian/data/FLO/att_splits.mat": mat_bytes(flo["att_splits"]),
                "cvpr18xian/data/FLO/res101.mat": mat_bytes(flo["res101"]),
            }
        ),
    }


def cub_archive_names() -> list[str]:
    return [CUB_CLASSES[1], CUB_CLASSES[2], CUB_CLASSES[0]]


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------
# The local server
# --------------------------------------------------------------------------------------


@dataclass
class Served:
    """What the test server serves and what it was asked for."""

    base: str
    files: dict[str, bytes]
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    drop_once: set[str] = field(default_factory=set)  # paths whose next answer breaks off halfway
    ignore_range: bool = False

    def ranges(self, filename: str) -> list[str | None]:
        return [rng for path, rng in self.requests if path == f"/{filename}"]


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        st: Served = self.server.served
        rng = self.headers.get("Range")
        st.requests.append((self.path, rng))
        body = st.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m and not st.ignore_range:
            start = int(m.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.path in st.drop_once:
            st.drop_once.discard(self.path)
            self.wfile.write(payload[: len(payload) // 2])
            self.close_connection = True
            return
        self.wfile.write(payload)


def _dead_url() -> str:
    """A local address where nothing listens: connecting is refused, as without network."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture()
def served(archives, monkeypatch):
    """Serve the fabricated archives and point the URL/checksum table at them."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    base = f"http://127.0.0.1:{server.server_address[1]}"
    server.served = Served(base, {f"/{name}": data for name, data in archives.items()})
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    table = {
        name: replace(src, url=f"{base}/{name}", md5=_md5(archives[name]) if src.md5 else None)
        for name, src in fetch_mod.SOURCES.items()
    }
    monkeypatch.setattr(fetch_mod, "SOURCES", table)
    monkeypatch.setattr(data_prep.download.time, "sleep", lambda s: None)
    yield server.served
    server.shutdown()
    server.server_close()


def _go_offline(monkeypatch) -> None:
    dead = _dead_url()
    table = {name: replace(src, url=f"{dead}/{name}") for name, src in fetch_mod.SOURCES.items()}
    monkeypatch.setattr(fetch_mod, "SOURCES", table)


# --------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------


def test_cub_fetch_then_load_then_up_to_date(served, archives, tmp_path, capsys, monkeypatch):
    root = tmp_path / "data"
    assert fetch("cub", root) == ["CUB_200_2011", "xlsa17"]
    out = capsys.readouterr().out
    cub = root / "CUB"
    attributes = cub / "CUB_200_2011" / "attributes" / "attributes.txt"  # from the archive's top level
    assert attributes.read_bytes() == _lines(enumerate(CUB_ATTRIBUTES, 1))
    splits = sorted(p.name for p in (cub / "xlsa17").iterdir())
    assert splits == [MARKER, "allclasses.txt", "att_splits.mat", "res101.mat"]  # no code/, no other dataset
    assert not list(root.rglob("*.part")) and not list(cub.glob(".partial-*"))
    assert all(rng is None for _, rng in served.requests)
    assert "CUB_200_2011.tgz: md5" in out and "matches the published checksum" in out
    assert "no checksum is published for xlsa17.zip" in out and "is recorded in" in out
    manifest = json.loads((cub / MANIFEST).read_text())
    assert manifest["archives"]["xlsa17.zip"]["sha256"] == _sha256(archives["xlsa17.zip"])
    assert manifest["archives"]["CUB_200_2011.tgz"]["md5"] == _md5(archives["CUB_200_2011.tgz"])
    assert set(manifest["parts"]) == {"CUB_200_2011", "xlsa17"}

    ds = load_dataset("CUB", data_root=root)
    assert ds.n_images == 6 and ds.class_names == cub_archive_names()
    assert ds.attribute_names == CUB_ATTRIBUTES and ds.part_names == ["back", "beak"]
    assert ds.labels[0] == 2  # 001.Black_footed_Albatross is the last column
    assert all(p.is_file() for p in ds.image_paths)

    asked = len(served.requests)
    _go_offline(monkeypatch)  # the second run must not need the network
    assert fetch("cub", root) == []
    assert "CUB: up to date" in capsys.readouterr().out
    assert len(served.requests) == asked


def test_awa2_and_flo_fetch_then_load(served, archives, tmp_path, capsys):
    fetch("cub", tmp_path)
    fetch("awa2", tmp_path)
    out = capsys.readouterr().out
    assert f"xlsa17.zip: using {tmp_path / 'downloads' / 'xlsa17.zip'}" in out
    assert "sha256 matches the one recorded at its first download" in out
    assert served.ranges("xlsa17.zip") == [None]  # downloaded once, shared by CUB and AWA2
    awa = load_dataset("AWA2", tmp_path)
    assert awa.n_images == 12 and all(p.is_file() for p in awa.image_paths)
    assert awa.attribute_names[0] == "black"

    fetch("flo", tmp_path, delete_archives=True)
    flo = load_dataset("FLO", tmp_path)
    assert flo.n_images == 12 and flo.class_names == ["001", "002", "003", "004"]
    assert (tmp_path / "FLO" / "oxford102" / "setid.mat").is_file()
    assert not (tmp_path / "FLO" / "xlsa17" / "clswgan.py").exists()
    left = sorted(p.name for p in (tmp_path / "downloads").iterdir())
    assert left == ["AwA2-data.zip", "CUB_200_2011.tgz", "xlsa17.zip"]  # FLO's were deleted once installed


def test_killed_extraction_leaves_nothing_trusted(served, tmp_path, monkeypatch, capsys):
    real_extract = data_prep.install.extract

    def killed(archive, kind, pick, dest, **options):
        real_extract(archive, kind, pick, dest, **options)
        raise KeyboardInterrupt  # stands for a kill after some files were written

    monkeypatch.setattr(data_prep.install, "extract", killed)
    with pytest.raises(KeyboardInterrupt):
        fetch("cub", tmp_path)
    cub = tmp_path / "CUB"
    assert (cub / ".partial-CUB_200_2011" / "images.txt").is_file()
    assert not (cub / "CUB_200_2011").exists() and not (cub / MANIFEST).exists()

    monkeypatch.setattr(data_prep.install, "extract", real_extract)
    capsys.readouterr()
    assert fetch("cub", tmp_path) == ["CUB_200_2011", "xlsa17"]
    out = capsys.readouterr().out
    assert f"removed {cub / '.partial-CUB_200_2011'}, an unfinished extraction" in out
    assert not list(cub.glob(".partial-*"))
    assert served.ranges("CUB_200_2011.tgz") == [None]  # the verified archive was kept
    load_dataset("CUB", tmp_path)


def test_run_stopped_before_the_manifest_was_written(served, tmp_path, capsys):
    fetch("cub", tmp_path)
    manifest = tmp_path / "CUB" / MANIFEST
    before = json.loads(manifest.read_text())
    manifest.unlink()  # as if killed between the rename and the manifest update
    assert fetch("cub", tmp_path) == []
    assert "up to date" in capsys.readouterr().out
    after = json.loads(manifest.read_text())
    assert after["parts"] == before["parts"]
    assert after["archives"]["xlsa17.zip"]["sha256"] == before["archives"]["xlsa17.zip"]["sha256"]


def test_folder_not_installed_by_fetch_is_left_alone(served, tmp_path, capsys):
    mine = tmp_path / "CUB" / "CUB_200_2011"
    mine.mkdir(parents=True)
    (mine / "images.txt").write_text("my own copy\n")
    assert fetch("cub", tmp_path) == ["xlsa17"]
    assert "exists but was not installed by this tool" in capsys.readouterr().out
    assert (mine / "images.txt").read_text() == "my own copy\n"
    assert served.ranges("CUB_200_2011.tgz") == []


def test_missing_network_says_where_to_put_the_archives(served, archives, tmp_path, monkeypatch):
    _go_offline(monkeypatch)
    root = tmp_path / "data"
    with pytest.raises(NetworkUnavailableError) as info:
        fetch("flo", root)
    message = str(info.value)
    for text in (
        "102flowers.tgz",
        "could not be downloaded",
        str(root / "downloads" / "102flowers.tgz"),
        "--archive-dir",
        f"python -m data_prep.fetch flo --root {root}",
    ):
        assert text in message
    assert not (root / "FLO").exists()  # no empty folder to hide a copy under a later data root

    for name in ("102flowers.tgz", "imagelabels.mat", "setid.mat"):
        (root / "downloads" / name).write_bytes(archives[name])
    manual = tmp_path / "elsewhere"
    manual.mkdir()
    (manual / "cvpr18xian.zip").write_bytes(archives["cvpr18xian.zip"])
    assert fetch("flo", root, archive_dir=manual) == ["oxford102", "xlsa17"]
    assert (manual / "cvpr18xian.zip").is_file()  # used in place
    assert load_dataset("FLO", root).n_images == 12


def test_dry_run_changes_nothing(served, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SGMA_DATA_ROOT", f"{tmp_path / 'first'}{os.pathsep}{tmp_path / 'second'}")
    assert fetch("awa2", dry_run=True) == []
    out = capsys.readouterr().out
    assert f"would download {served.base}/AwA2-data.zip" in out
    assert str(tmp_path / "first" / "downloads" / "AwA2-data.zip") in out and "second" not in out
    assert "would extract into" in out and "sha256 would be recorded" in out
    assert served.requests == [] and not (tmp_path / "first").exists()


def test_command_line(served, tmp_path, capsys, monkeypatch):
    root = str(tmp_path / "data")
    assert main(["flo", "--root", root, "--dry-run"]) == 0
    assert served.requests == []
    assert main(["flo", "--root", root]) == 0
    assert main(["flo", "--root", root]) == 0
    assert "FLO: up to date" in capsys.readouterr().out
    _go_offline(monkeypatch)
    assert main(["awa2", "--root", root]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "AwA2-data.zip" in err and "--archive-dir" in err
    with pytest.raises(SystemExit):
        main(["apy"])


def test_source_table_is_consistent():
    for spec in fetch_mod.DATASETS.values():
        for part in spec.parts:
            assert all(name in fetch_mod.SOURCES for name in part.sources)
    for name, src in fetch_mod.SOURCES.items():
        assert src.filename == name and src.kind in ("tgz", "zip", "file") and src.url.startswith("https://")
        assert src.md5 is None or re.fullmatch(r"[0-9a-f]{32}", src.md5)


def test_an_unfinished_looking_folder_the_tool_did_not_make_is_refused_and_kept(served, tmp_path):
    cub = tmp_path / "CUB"
    foreign = cub / ".partial-CUB_200_2011"
    foreign.mkdir(parents=True)
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(FetchError, match=r"\.partial-CUB_200_2011 .*not made by this tool.*nothing was deleted"):
        fetch("cub", tmp_path)
    assert (foreign / "notes.txt").read_text() == "mine"
