"""Guards against the mistakes of the earlier TensorFlow reproduction (METHOD §10). Each test
names the mistake; some point at the test elsewhere that already pins it."""

import numpy as np
import pytest
import scipy.io
import torch

from sgma_core.experiment import prepare_data
from sgma_core.losses import class_centre_triplet_loss, compactness_loss, embedding_softmax_loss
from sgma_core.profiles import make_config


def test_trains_on_the_proposed_split_not_an_easy_class_split(tiny_syn):
    # seen classes are exactly those of trainval_loc; test_unseen classes never appear in training
    ds = tiny_syn
    assert np.intersect1d(np.unique(ds.labels[ds.trainval]), np.unique(ds.labels[ds.test_unseen])).size == 0
    assert set(np.unique(ds.labels[ds.trainval])) == set(ds.seen_classes)


def test_class_semantics_are_the_xlsa17_att_columns(tiny_syn, tiny_root):
    # not attributes averaged over images: exactly the file's att, column by class name
    mat = scipy.io.loadmat(tiny_root / "SYN" / "xlsa17" / "att_splits.mat")
    np.testing.assert_array_equal(tiny_syn.att, mat["att"])


def test_labels_are_0_based_against_the_seen_columns(tiny_root):
    cfg = make_config("smoke", overrides={"device": "cpu"})
    prepared = prepare_data(cfg, tiny_root, progress=False)
    labels = prepared.train.labels
    assert labels.min() == 0 and labels.max() == prepared.n_seen - 1
    assert prepared.phi_seen.shape[1] == prepared.n_seen
    with pytest.raises(ValueError):  # 1-based ids against S columns are refused, not silently wrapped
        embedding_softmax_loss(torch.zeros(2, prepared.n_seen), torch.tensor([1, prepared.n_seen]))


def test_softmax_loss_depends_on_the_labels():
    scores = torch.randn(4, 3)
    a = embedding_softmax_loss(scores, torch.tensor([0, 1, 2, 0]))
    b = embedding_softmax_loss(scores, torch.tensor([2, 2, 2, 2]))
    assert a.item() != pytest.approx(b.item())


def test_triplet_loss_uses_one_negative_not_all_centres():
    emb = torch.tensor([[1.0, 0.0]])
    centres = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    # hardest negative at distance 2: loss max(0, 0.8 + 0 − 2) = 0; summing all centres would give 6
    assert class_centre_triplet_loss(emb, centres, torch.tensor([0])).item() == 0.0


def test_compactness_target_is_the_maps_own_peak_not_the_crop_mask():
    maps = torch.zeros(1, 1, 9, 9)
    maps[0, 0, 2, 6] = 1.0
    # a map that is already a blob at its own peak has zero compactness loss
    from sgma_core.losses import gaussian_peak_targets

    blob = gaussian_peak_targets(maps, 1.0)
    assert compactness_loss(blob, 1.0).item() < 1e-12


def test_kmeans_runs_once_at_initialisation_not_in_the_forward_pass(monkeypatch):
    import sklearn.cluster

    from tests.test_sgma_model import _model

    model = _model()

    def forbidden(*args, **kwargs):
        raise AssertionError("KMeans called inside the forward pass")

    monkeypatch.setattr(sklearn.cluster, "KMeans", forbidden)
    out = model(torch.randn(2, 3, 24, 24), torch.randn(6, 5))
    assert out["scores"].shape == (2, 5)


def test_evaluation_on_unseen_classes_is_run(tiny_root, tmp_path):
    from sgma_core.experiment import train_baseline

    cfg = make_config("smoke", overrides={"device": "cpu", "epochs": 1})
    prepared = prepare_data(cfg, tiny_root, progress=False)
    _, history = train_baseline(prepared, cfg, tmp_path, progress=False)
    assert {"T1", "u", "s", "H"} <= set(history[-1])
