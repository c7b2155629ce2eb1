"""The synthetic dataset: deterministic, idempotent, and with the properties METHOD §11 asks for."""


import numpy as np
import pytest

from data_prep.synthetic import ATTRIBUTE_GROUPS, STAMP, SyntheticConfig, generate, main, tree_digest
from sgma_core.data import load_dataset

SMALL = SyntheticConfig(seed=11, classes=10, unseen=3, images_per_class=6, image_size=48)


def test_same_seed_gives_byte_identical_files(tmp_path):
    generate(tmp_path / "a", SMALL, workers=1, progress=False)
    generate(tmp_path / "b", SMALL, workers=2, progress=False)
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    other = SyntheticConfig(**{**SMALL.__dict__, "seed": 12})
    generate(tmp_path / "c", other, workers=2, progress=False)
    assert tree_digest(tmp_path / "c") != tree_digest(tmp_path / "a")


def test_second_run_does_nothing_and_other_settings_need_force(tmp_path):
    out = tmp_path / "syn"
    assert generate(out, SMALL, progress=False)["status"] == "written"
    before = (out / STAMP).stat().st_mtime_ns
    assert generate(out, SMALL, progress=False)["status"] == "up to date"
    assert (out / STAMP).stat().st_mtime_ns == before
    bigger = SyntheticConfig(**{**SMALL.__dict__, "images_per_class": 7})
    with pytest.raises(FileExistsError, match="--force"):
        generate(out, bigger, progress=False)
    assert generate(out, bigger, progress=False, force=True)["images"] == 70


def test_interrupted_run_leaves_nothing_behind(tmp_path, monkeypatch):
    import data_prep.synthetic_layout as layout

    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(layout, "_write_mat", broken)
    with pytest.raises(KeyboardInterrupt):
        generate(tmp_path / "syn", SMALL, workers=1, progress=False)
    assert list(tmp_path.iterdir()) == []  # neither a dataset nor the temporary folder


def test_a_folder_the_tool_did_not_write_is_never_deleted(tmp_path, capsys):
    data = tmp_path / "data"  # e.g. --out data instead of data/SYN: the user's real datasets
    (data / "CUB").mkdir(parents=True)
    (data / "CUB" / "keep.txt").write_text("real data")
    for force in (False, True):
        with pytest.raises(FileExistsError, match="never deleted or overwritten, with or without --force"):
            generate(data, SMALL, progress=False, force=force)
    with pytest.raises(SystemExit) as info:
        main(["--out", str(data), "--force", "--classes", "10", "--unseen", "3", "--images-per-class", "5"])
    assert info.value.code == 2 and "not written by this tool" in capsys.readouterr().err
    assert (data / "CUB" / "keep.txt").read_text() == "real data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_up_to_date_checks_the_files_and_repairs_a_damaged_dataset(tmp_path):
    out = tmp_path / "syn"
    generate(out, SMALL, progress=False)
    digest = tree_digest(out)
    next((out / "CUB_200_2011" / "images").rglob("*.jpg")).unlink()
    (out / "xlsa17" / "att_splits.mat").unlink()
    assert generate(out, SMALL, progress=False)["status"] == "completed"  # not "up to date"
    assert tree_digest(out) == digest


def test_stale_temporary_folders_are_removed(tmp_path):
    stale = tmp_path / ".syn.tmp-999999999"  # no such process
    (stale / "CUB_200_2011").mkdir(parents=True)
    generate(tmp_path / "syn", SMALL, progress=False)
    assert not stale.exists()


def test_unseen_classes_recombine_seen_values(tiny_syn):
    ds = tiny_syn
    starts = np.cumsum([0] + [len(v) for _, v in ATTRIBUTE_GROUPS])
    values = np.stack([ds.att[a:b].argmax(0) for a, b in zip(starts[:-1], starts[1:])], axis=1)  # [C, groups]
    combos = {tuple(v) for v in values}
    assert len(combos) == ds.att.shape[1]  # every class a distinct combination
    for g in range(len(ATTRIBUTE_GROUPS)):
        assert set(values[ds.unseen_classes, g]) <= set(values[ds.seen_classes, g])
    assert ds.attribute_names[0] == "has_head_color::red"


def test_parts_lie_on_the_bird(tiny_syn):
    ds = tiny_syn
    x, y, w, h = ds.boxes.T
    px, py = ds.part_locs[..., 0], ds.part_locs[..., 1]
    inside = ((px >= x[:, None] - 1) & (px <= (x + w)[:, None] + 1)
              & (py >= y[:, None] - 1) & (py <= (y + h)[:, None] + 1))
    assert inside.all()
    # head parts (crown, eye) are closer to each other than to the tail
    crown, eye, tail = ds.part_locs[:, 1, :2], ds.part_locs[:, 2, :2], ds.part_locs[:, 4, :2]
    assert (np.linalg.norm(crown - eye, axis=1) < np.linalg.norm(crown - tail, axis=1)).all()


def test_command_line_reports_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["--out", str(tmp_path / "x"), "--classes", "10", "--unseen", "10"])
    assert info.value.code == 2
    assert "unseen=10" in capsys.readouterr().err


@pytest.mark.slow
def test_the_default_birds_are_generated_whole(tmp_path):
    config = SyntheticConfig()
    summary = generate(tmp_path / "SYN", config, workers=2, progress=False)
    ds = load_dataset("SYN", tmp_path)
    assert ds.split_summary()["classes"] == config.classes
    assert ds.n_images == summary["images"] == config.classes * config.images_per_class


def test_birds_of_an_older_format_are_replaced_without_force(tmp_path, capsys):
    """The book's own data/SYN of an earlier format is this tool's, stamped: ``make data`` redraws it; the same
    format with other settings still needs --force."""
    import json

    from data_prep.synthetic import FORMAT_VERSION, STAMP

    out = tmp_path / "SYN"
    generate(out, SMALL, progress=False)
    stamp = json.loads((out / STAMP).read_text())
    stamp["settings"]["format"] = FORMAT_VERSION - 1
    (out / STAMP).write_text(json.dumps(stamp))
    assert generate(out, SMALL, progress=False)["status"] == "written"
    assert f"holds birds of format {FORMAT_VERSION - 1}" in capsys.readouterr().out
    assert json.loads((out / STAMP).read_text())["settings"]["format"] == FORMAT_VERSION


def test_every_image_holds_every_colour_once_as_a_head_and_once_as_a_wing():
    """The decoys: whatever the class, the palette's colours cover the same area (up to noise), so only their
    places tell the class; a bird with a red head and a red wing shows red no more than one with neither."""
    import numpy as np

    from data_prep.synthetic_render import COLORS, render_bird

    def colour_areas(combo):
        areas = []
        for seed in range(12):
            img, _, _ = render_bird(np.random.default_rng(seed), combo, 128)
            x = np.asarray(img).astype(int)
            areas.append([(np.abs(x - np.array(c)).sum(-1) < 60).sum() for c in COLORS.values()])
        return np.mean(areas, axis=0)

    red_red, blue_green = colour_areas((0, 0, 0, 0)), colour_areas((1, 3, 2, 1))
    assert np.all(np.abs(red_red - blue_green) < 0.15 * blue_green), (red_red, blue_green)
