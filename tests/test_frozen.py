"""The frozen-feature zero-shot path: part features pooled where the groups peak, a resumable feature
cache, weight decay chosen on validation classes, and the whole path end to end on small data."""

import json

import numpy as np
import pytest
import torch

from sgma_core.studies.frozen import branch_features, extract, feature_folder, frozen_config, run, train_heads


def test_part_features_average_the_square_around_each_groups_peak():
    fmaps = torch.zeros(1, 2, 4, 4)
    fmaps[0, 0, 0, 0] = 8.0  # channel 0 (group 1) peaks top-left
    fmaps[0, 1, 3, 3] = 4.0  # channel 1 (group 2) peaks bottom-right
    indicators = np.array([[1.0, 0.0], [0.0, 1.0]])
    out = branch_features(fmaps, indicators, part_scale=0.5)  # squares of 2 × 2 cells, kept inside the map
    assert out.shape == (1, 3, 2)
    assert torch.allclose(out[0, 0], torch.tensor([0.5, 0.25]))  # the whole map's average
    assert torch.allclose(out[0, 1], torch.tensor([2.0, 0.0]))  # top-left 2 × 2: 8 / 4
    assert torch.allclose(out[0, 2], torch.tensor([0.0, 1.0]))  # bottom-right 2 × 2: 4 / 4


def test_heads_learn_the_seen_classes():
    rng = np.random.default_rng(0)
    phi = rng.normal(size=(5, 3))
    labels = np.repeat(np.arange(3), 20)
    feats = (phi.T[labels] @ rng.normal(size=(5, 8)))[:, None, :] + 0.1 * rng.normal(size=(60, 1, 8))
    head = train_heads(feats.astype(np.float32), labels, phi, (0,), 1e-4, frozen_config(epochs=100, lr=3e-2))
    from sgma_core.studies.frozen import head_scores

    assert (head_scores(head, feats.astype(np.float32), phi).argmax(1) == labels).mean() > 0.9


class FakeBackbone(torch.nn.Module):
    out_channels, stride = 3, 16

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return torch.nn.functional.avg_pool2d(x, 16) * self.w


def test_extraction_is_cached_and_resumes(tmp_path, tiny_syn):
    settings = frozen_config(dataset="SYN", image_size=32)
    paths = [tiny_syn.image_paths[r] for r in tiny_syn.trainval[:5]]
    net = FakeBackbone()
    folder = tmp_path / "feats"
    first = extract(paths, net, np.array([[1.0, 0, 0], [0, 1.0, 1.0]]), folder, settings, chunk=2, progress=False)
    assert first.shape == (5, 3, 3) and net.calls == 3 and len(list(folder.glob("chunk-*.npy"))) == 3
    (folder / "chunk-00001.npy").unlink()  # as if interrupted there
    again = extract(paths, net, np.array([[1.0, 0, 0], [0, 1.0, 1.0]]), folder, settings, chunk=2, progress=False)
    assert net.calls == 4 and np.array_equal(first, again)  # only the missing chunk was computed
    with pytest.raises(ValueError, match="other settings.*delete the folder"):
        extract(paths, net, np.ones((2, 3)), folder, frozen_config(dataset="SYN", image_size=64),
                chunk=2, progress=False)


def test_extraction_in_a_notebook_warns_nothing(tmp_path, tiny_syn, monkeypatch):
    """In a Jupyter kernel without ipywidgets, tqdm's notebook bar warns with the path of the Python environment's
    tqdm (TqdmWarning: IProgress not found), and the warning lands in the chapter's output."""
    import sys
    import types
    import warnings

    pytest.importorskip("IPython")  # tqdm asks the running IPython which front end it serves
    monkeypatch.setitem(sys.modules, "ipykernel.zmqshell", types.ModuleType("ipykernel.zmqshell"))  # as in a kernel
    for name in ("tqdm.auto", "tqdm.autonotebook"):  # imported afresh, as a kernel does at its first use
        monkeypatch.delitem(sys.modules, name, raising=False)
    paths = [tiny_syn.image_paths[r] for r in tiny_syn.trainval[:2]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        extract(paths, FakeBackbone(), np.ones((1, 3)), tmp_path / "feats", frozen_config(dataset="SYN", image_size=32),
                chunk=2, progress=True)
    assert not [str(w.message) for w in caught if "tqdm" in type(w.message).__name__.lower()]


def test_a_damaged_or_foreign_cache_is_named_with_its_remedy(tmp_path, tiny_syn):
    """A chunk of the wrong shape, a short, empty or truncated chunk, and a broken manifest: each is refused
    with the file's name and what to do, never used and never an IndexError or EOFError traceback."""
    settings = frozen_config(dataset="SYN", image_size=32)
    paths = [tiny_syn.image_paths[r] for r in tiny_syn.trainval[:5]]
    groups = np.array([[1.0, 0, 0], [0, 1.0, 1.0]])
    folder = tmp_path / "feats"
    first = extract(paths, FakeBackbone(), groups, folder, settings, chunk=2, progress=False)
    chunk = folder / "chunk-00001.npy"
    good = chunk.read_bytes()
    cases = [(lambda: np.save(chunk, np.zeros((2, 3, 4), np.float32)), r"chunk-00001\.npy holds float32 \(2, 3, 4\)"),
             (lambda: np.save(chunk, np.zeros((1, 3, 3), np.float32)), r"not float32 \(2, 3, 3\)"),
             (lambda: np.save(chunk, np.zeros((2, 3, 3), np.float64)), r"holds float64"),
             (lambda: chunk.write_bytes(b""), r"chunk-00001\.npy is damaged"),
             (lambda: chunk.write_bytes(good[:60]), r"chunk-00001\.npy is damaged")]
    for damage, message in cases:
        damage()
        with pytest.raises(ValueError, match=message + ".*delete .*chunk-00001\\.npy and run again"):
            extract(paths, FakeBackbone(), groups, folder, settings, chunk=2, progress=False)
    chunk.write_bytes(good)
    assert np.array_equal(extract(paths, FakeBackbone(), groups, folder, settings, chunk=2, progress=False), first)
    (folder / "manifest.json").write_text('{"settings": ')
    with pytest.raises(ValueError, match=r"manifest\.json is damaged.*delete .*feats and run again"):
        extract(paths, FakeBackbone(), groups, folder, settings, chunk=2, progress=False)
    assert not list(folder.glob("*.tmp"))  # written through unique temporary names, none left behind


@pytest.mark.slow
def test_the_whole_path_on_a_small_dataset(tiny_syn, tmp_path):
    settings = frozen_config(dataset="SYN", image_size=64, epochs=50, grouping_images=32)
    record = run(tiny_syn, settings, tmp_path, progress=False)
    assert record["complete"] and set(record["results"]) == {"baseline", "SGMA compatibility heads"}
    for r in record["results"].values():
        assert set(r) == {"T1", "u", "s", "H"} and all(0 <= v <= 1 for v in r.values())
    assert set(record["weight_decay"].values()) <= {1e-4, 1e-3, 1e-2}
    assert "baseline" in record["validation"]  # chosen on the validation classes of the synthetic split
    assert "not the paper's" in record["setting"]
    json.dumps(record)  # a record that can be written


def test_the_path_on_the_real_photographs_under_the_data_root(tmp_path):
    from sgma_core import data as zsl_data
    from sgma_core.paths import DataRootError

    try:
        ds = zsl_data.load_dataset("CUB")
    except (DataRootError, zsl_data.DatasetError):
        pytest.skip("no CUB folder under the data root")
    present = sum(p.is_file() for p in ds.image_paths)
    if present == 0 or present > 200:
        pytest.skip(f"{present} CUB photographs: this test is for a few (all of CUB takes minutes)")
    record = run(ds, frozen_config(epochs=30), tmp_path, progress=False)
    assert sum(record["images"].values()) == present and not record["complete"]
    assert set(record["results"]) == {"baseline", "SGMA compatibility heads"}
    assert feature_folder(tmp_path, frozen_config(epochs=30), np.arange(3), np.ones((2, 3))).parent == tmp_path


@pytest.mark.parametrize("layer, name", [(None, "CUB-lite0-stage5_expanded-224-25f14972"),
                                         ("stage5", "CUB-lite0-stage5-224-af701d79"),
                                         ("head", "CUB-lite0-head-224-13ef57f9")])
def test_cached_features_keep_their_folders_and_manifests(layer, name):
    """Extracting CUB's features takes minutes: a change to how settings are spelled must not rename their
    folders, nor change the settings their manifests were written with."""
    from sgma_core.studies.frozen import feature_settings

    config = frozen_config(**({} if layer is None else {"layer": layer}))
    assert feature_folder("/r", config, np.arange(3), np.ones((2, 3)), "data").name == name
    assert feature_settings(config) == {"dataset": "CUB", "backbone": "efficientnet_lite0",
                                        "lite0_layer": layer or "stage5_expanded", "image_size": 224, "n_parts": 2,
                                        "part_scale": 0.5, "grouping_images": 256, "seed": 0}
