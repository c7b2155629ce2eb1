"""The synthetic generator writes only into a folder it stamped and deletes only files it wrote: a user's files
beside the birds stay, a folder it cannot vouch for is refused before any drawing, ``--force`` replaces only the
generator's own files, and an incomplete dataset is completed without touching what is there and correct."""

import json
import shutil
from pathlib import Path

import pytest

from data_prep.synthetic import FORMAT_VERSION, STAMP, SyntheticConfig, generate, main

SMALL = SyntheticConfig(seed=11, classes=6, unseen=2, images_per_class=3, image_size=32)
SMALL_ARGS = ["--seed", "11", "--classes", "6", "--unseen", "2", "--images-per-class", "3", "--image-size", "32"]


def _files(folder: Path) -> dict[str, bytes]:
    """``{relative path: bytes}`` of every file under ``folder``."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _images(folder: Path) -> list[Path]:
    return sorted((folder / "CUB_200_2011" / "images").rglob("*.jpg"))


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> dict[str, bytes]:
    """The files of a freshly generated SMALL dataset (stamp included)."""
    out = tmp_path_factory.mktemp("fresh") / "SYN"
    generate(out, SMALL, workers=1, progress=False)
    return _files(out)


def _copy_of_fresh(fresh: dict[str, bytes], out: Path) -> Path:
    for rel, data in fresh.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    return out


def _older_stamp(out: Path, format_version: int, with_sizes: bool = True) -> None:
    """Rewrite the stamp as earlier versions of the generator wrote it: file sizes only, or no file list."""
    stamp = json.loads((out / STAMP).read_text())
    stamp["settings"]["format"] = format_version
    files = {rel: record["size"] for rel, record in stamp["files"].items()}
    stamp = {"settings": stamp["settings"], "summary": stamp["summary"], **({"files": files} if with_sizes else {})}
    (out / STAMP).write_text(json.dumps(stamp))


@pytest.mark.parametrize("stamp", ["{}", "[]", '{"settings": "x"}', '{"settings": {"format": 2}, "files": []}',
                                   "not json", '{"settings": {"format": 2}, "files": {"../victim.txt": 5}}'])
def test_a_stamp_that_is_not_the_generators_is_refused_and_nothing_is_touched(tmp_path, capsys, stamp):
    out = tmp_path / "SYN"
    (out / "photos").mkdir(parents=True)
    (out / "photos" / "p.txt").write_text("a photo")
    (out / STAMP).write_text(stamp)
    (tmp_path / "victim.txt").write_text("keep")
    before = _files(tmp_path)
    for force in (False, True):
        with pytest.raises(FileExistsError, match=rf"{out / STAMP} is not a stamp .*another --out"):
            generate(out, SMALL, workers=1, progress=False, force=force)
    with pytest.raises(SystemExit) as info:
        main(["--out", str(out), *SMALL_ARGS])
    assert info.value.code == 2
    assert "SYNTHETIC.json is not a stamp" in capsys.readouterr().err
    assert _files(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["SYN", "victim.txt"]


def test_an_older_format_beside_the_users_files_is_refused_and_force_keeps_them(tmp_path, fresh):
    out = _copy_of_fresh(fresh, tmp_path / "SYN")
    _older_stamp(out, FORMAT_VERSION - 1)
    (out / "notes.txt").write_text("my notes")
    (out / "my_crops").mkdir()
    (out / "my_crops" / "crop.jpg").write_bytes(b"a crop")
    before = _files(out)
    with pytest.raises(FileExistsError, match=rf"{out} holds birds of format {FORMAT_VERSION - 1} and files the "
                                              r"generator did not write: my_crops/, notes.txt.*--force"):
        generate(out, SMALL, workers=1, progress=False)
    assert _files(out) == before
    assert generate(out, SMALL, workers=1, progress=False, force=True)["status"] == "written"
    assert (out / "notes.txt").read_text() == "my notes" and (out / "my_crops" / "crop.jpg").read_bytes() == b"a crop"
    assert {rel: b for rel, b in _files(out).items() if rel not in ("notes.txt", "my_crops/crop.jpg")} == fresh


@pytest.mark.parametrize("with_sizes", [True, False])
def test_an_older_format_alone_is_redrawn_without_force(tmp_path, fresh, with_sizes):
    """``make data`` on the book's own data/SYN of an earlier format, whichever stamp it carries."""
    out = _copy_of_fresh(fresh, tmp_path / "SYN")
    _older_stamp(out, FORMAT_VERSION - 1, with_sizes)
    assert generate(out, SMALL, workers=1, progress=False)["status"] == "written"
    assert _files(out) == fresh


def test_force_replaces_only_the_generators_files(tmp_path, fresh):
    out = _copy_of_fresh(fresh, tmp_path / "SYN")
    mine = out / "CUB_200_2011" / "images" / "mine" / "bird.jpg"
    mine.parent.mkdir()
    mine.write_bytes(b"my bird")
    (out / "my_labels.txt").write_text("labels")
    fewer = SyntheticConfig(**{**SMALL.__dict__, "images_per_class": 2})
    with pytest.raises(FileExistsError, match="--force"):
        generate(out, fewer, workers=1, progress=False)
    assert generate(out, fewer, workers=1, progress=False, force=True)["images"] == 12
    assert mine.read_bytes() == b"my bird" and (out / "my_labels.txt").read_text() == "labels"
    generate(tmp_path / "other", fewer, workers=1, progress=False)
    theirs = ("my_labels.txt", "CUB_200_2011/images/mine/bird.jpg")
    assert {rel: b for rel, b in _files(out).items() if rel not in theirs} == _files(tmp_path / "other")


def test_a_copy_with_an_edited_image_is_completed_without_touching_the_users_work(tmp_path, fresh):
    """The set-up page's recipe: copy data/SYN to OWN, edit an image, add a file, lose another image."""
    own = _copy_of_fresh(fresh, tmp_path / "OWN")
    edited, lost, *others = _images(own)
    edited.write_bytes(edited.read_bytes()[:-40] + b"edited by hand")
    lost.unlink()
    (own / "my_labels.txt").write_text("labels")
    before = _files(own)
    rel = edited.relative_to(own).as_posix()
    with pytest.raises(FileExistsError, match=rf"{own}: 1 file the generator wrote was changed since: {rel}.*--force"):
        generate(own, SMALL, workers=1, progress=False)
    assert _files(own) == before
    kept = {p: p.stat().st_mtime_ns for p in others}
    edited.rename(tmp_path / "edited.jpg")  # the message's advice: move it away, and the rest is completed
    assert generate(own, SMALL, workers=1, progress=False)["status"] == "completed"
    assert {p: p.stat().st_mtime_ns for p in others} == kept  # not drawn again
    assert (own / "my_labels.txt").read_text() == "labels"
    assert {r: b for r, b in _files(own).items() if r != "my_labels.txt"} == fresh
    edited.write_bytes(b"edited again")
    assert generate(own, SMALL, workers=1, progress=False, force=True)["status"] == "completed"
    assert edited.read_bytes() == fresh[rel] and (own / "my_labels.txt").exists()


def test_a_file_in_the_way_of_a_new_one_is_refused_even_with_force(tmp_path, fresh):
    out = _copy_of_fresh(fresh, tmp_path / "SYN")
    more = SyntheticConfig(**{**SMALL.__dict__, "images_per_class": 4})
    first_class = sorted((out / "CUB_200_2011" / "images").iterdir())[0]
    in_the_way = first_class / f"{first_class.name.split('.', 1)[1]}_0004_4.jpg"
    in_the_way.write_bytes(b"mine")
    with pytest.raises(FileExistsError, match=rf"{in_the_way.relative_to(out).as_posix()}"):
        generate(out, more, workers=1, progress=False, force=True)
    assert in_the_way.read_bytes() == b"mine"


def test_a_run_stopped_while_putting_files_in_place_is_finished_by_the_next(tmp_path, fresh, monkeypatch):
    import data_prep.synthetic_folder as folder

    out = _copy_of_fresh(fresh, tmp_path / "SYN")
    _older_stamp(out, FORMAT_VERSION - 1)
    for image in _images(out):
        image.write_bytes(b"an image of the older format")  # older birds, as its stamp says (sizes only)
    stamp = json.loads((out / STAMP).read_text())
    stamp["files"] = {rel: (out / rel).stat().st_size for rel in stamp["files"]}
    (out / STAMP).write_text(json.dumps(stamp))
    moved = []
    move_file = folder.move_file

    def stop_after_three(src, dst):
        if len(moved) == 3:
            raise KeyboardInterrupt
        moved.append(dst)
        move_file(src, dst)

    monkeypatch.setattr(folder, "move_file", stop_after_three)
    with pytest.raises(KeyboardInterrupt):
        generate(out, SMALL, workers=1, progress=False)
    monkeypatch.undo()
    assert len(moved) == 3
    assert generate(out, SMALL, workers=1, progress=False)["status"] == "completed"
    assert _files(out) == fresh
    assert sorted(p.name for p in tmp_path.iterdir()) == ["SYN"]


def test_a_symlinked_output_folder_is_written_through_its_link(tmp_path, fresh):
    real = _copy_of_fresh(fresh, tmp_path / "disk" / "SYN")
    _older_stamp(real, FORMAT_VERSION - 1)
    (tmp_path / "data").mkdir()
    link = tmp_path / "data" / "SYN"
    link.symlink_to(real, target_is_directory=True)
    assert generate(link, SMALL, workers=1, progress=False)["status"] == "written"
    assert link.is_symlink() and _files(real) == fresh
    assert generate(link, SMALL, workers=1, progress=False)["status"] == "up to date"


def test_a_dangling_link_or_a_file_as_output_is_refused_before_drawing(tmp_path, monkeypatch):
    import data_prep.synthetic as synthetic

    def no_drawing(*args, **kwargs):
        raise AssertionError("drew before checking the output folder")

    monkeypatch.setattr(synthetic, "render_all", no_drawing)
    link = tmp_path / "SYN"
    link.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    elsewhere = (tmp_path / "elsewhere").resolve()
    with pytest.raises(FileExistsError, match=rf"{link} is a link to {elsewhere}, which does not exist"):
        generate(link, SMALL, workers=1, progress=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="not a folder"):
        generate(tmp_path / "file", SMALL, workers=1, progress=False)


def test_a_rerun_on_a_complete_dataset_of_an_older_stamp_is_a_no_op(tmp_path, fresh):
    """data/SYN made before stamps held digests: ``make data`` leaves it alone."""
    out = _copy_of_fresh(fresh, tmp_path / "SYN")
    _older_stamp(out, FORMAT_VERSION)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    assert generate(out, SMALL, workers=1, progress=False)["status"] == "up to date"
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before


def test_the_stamp_lists_every_file_with_its_digest(fresh):
    import hashlib

    stamp = json.loads(fresh[STAMP])
    assert set(stamp["files"]) == set(fresh) - {STAMP}
    for rel, record in stamp["files"].items():
        assert record == {"size": len(fresh[rel]), "sha256": hashlib.sha256(fresh[rel]).hexdigest()}
    assert "previous" not in stamp


def test_a_copy_of_data_syn_made_by_cp_is_up_to_date(tmp_path, fresh):
    own = tmp_path / "OWN"
    shutil.copytree(_copy_of_fresh(fresh, tmp_path / "SYN"), own)
    assert generate(own, SMALL, workers=1, progress=False)["status"] == "up to date"


def test_a_link_inside_the_folder_is_never_followed(tmp_path, fresh):
    out = _copy_of_fresh(fresh, tmp_path / "SYN")
    first_class = sorted((out / "CUB_200_2011" / "images").iterdir())[0]
    outside = tmp_path / "outside"
    first_class.rename(outside)
    first_class.symlink_to(outside, target_is_directory=True)
    before = _files(outside)
    fewer = SyntheticConfig(**{**SMALL.__dict__, "images_per_class": 2})
    with pytest.raises(FileExistsError, match=rf"where the generator writes .*{first_class.name}"):
        generate(out, fewer, workers=1, progress=False, force=True)
    assert _files(outside) == before and first_class.is_symlink()
