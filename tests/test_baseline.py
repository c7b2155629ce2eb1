"""The baseline model, eq. (1) and eq. (7), and the backbones."""

import math

import pytest
import torch

from sgma_core.backbones import WeightsNotFoundError, global_average_pool, small_vgg, vgg19
from sgma_core.baseline import BaselineZSL, SeenClassifier
from sgma_core.compatibility import Compatibility
from sgma_core.losses import embedding_softmax_loss


def test_global_average_pool_eq1():
    f = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2)
    p = global_average_pool(f)
    assert p.shape == (2, 3)
    assert p[0, 1].item() == pytest.approx((4 + 5 + 6 + 7) / 4)


def test_compatibility_is_theta_W_phi():
    torch.manual_seed(0)
    comp = Compatibility(4, 3)
    theta, phi = torch.randn(5, 4), torch.randn(3, 7)
    expected = theta @ comp.W.weight.T @ phi  # θᵀ W φ with W = weight.T ∈ R^{C×K}
    torch.testing.assert_close(comp(theta, phi), expected)


def test_softmax_loss_hand_value_and_uses_labels():
    scores = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    labels = torch.tensor([0, 2])
    z0 = math.exp(2) + 2
    z1 = math.exp(1) + 2
    expected = -(math.log(math.exp(2) / z0) + math.log(1 / z1)) / 2
    assert embedding_softmax_loss(scores, labels).item() == pytest.approx(expected, rel=1e-6)
    # the earlier reproduction's loss ignored the labels: ours must change with them
    assert embedding_softmax_loss(scores, torch.tensor([1, 1])).item() != pytest.approx(expected)


def test_softmax_loss_refuses_unmapped_labels():
    with pytest.raises(ValueError, match=r"0\.\.2"):
        embedding_softmax_loss(torch.zeros(2, 3), torch.tensor([1, 3]))  # 1-based ids against 3 columns


def test_small_vgg_shapes():
    net = small_vgg()
    assert (net.out_channels, net.stride) == (128, 8)
    assert net(torch.zeros(2, 3, 64, 64)).shape == (2, 128, 8, 8)


def test_baseline_shapes_gradients_and_unseen_scores():
    torch.manual_seed(0)
    model = BaselineZSL(small_vgg(widths=(8, 16)), semantic_dim=6)
    x = torch.randn(4, 3, 32, 32)
    phi_seen, phi_all = torch.randn(6, 5), torch.randn(6, 9)
    scores = model(x, phi_seen)
    assert scores.shape == (4, 5) and torch.isfinite(scores).all()
    assert model(x, phi_all).shape == (4, 9)  # any class with semantics gets a score
    embedding_softmax_loss(scores, torch.tensor([0, 1, 2, 4])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_same_seed_same_model():
    outs = []
    for _ in range(2):
        torch.manual_seed(7)
        model = SeenClassifier(small_vgg(widths=(8, 16)), 3).eval()
        outs.append(model(torch.ones(1, 3, 16, 16)))
    torch.testing.assert_close(outs[0], outs[1])


@pytest.mark.slow
def test_vgg19_cut_at_conv5_4_and_pool5():
    conv = vgg19(pretrained=False, layer="conv5_4")
    assert isinstance(conv.features[-1], torch.nn.ReLU) and conv.stride == 16
    assert conv(torch.zeros(1, 3, 64, 64)).shape == (1, 512, 4, 4)
    pool = vgg19(pretrained=False, layer="pool5")
    assert pool(torch.zeros(1, 3, 64, 64)).shape == (1, 512, 2, 2)
    with pytest.raises(ValueError, match="conv5_4"):
        vgg19(pretrained=False, layer="conv6")


def test_vgg19_weights_missing_offline_names_cache_and_command(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))  # an empty torch cache
    with pytest.raises(WeightsNotFoundError) as info:
        vgg19(pretrained=True)
    message = str(info.value)
    assert str(tmp_path / "hub" / "checkpoints") in message
    assert "python -m data_prep.imagenet_weights vgg19" in message


def _torch_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    from sgma_core.backbones import vgg19_weights_path

    vgg19_weights_path().parent.mkdir(parents=True)
    return vgg19_weights_path()


class _Hostile:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.slow  # builds and saves a full VGG19
def test_a_vgg19_file_in_the_torch_cache_is_checked_before_it_is_loaded(tmp_path, monkeypatch, capsys):
    """Random bytes, a crafted pickle and a file of the right name but other tensors are refused, named, and
    nothing of them runs; ``data_prep.imagenet_weights`` says the same instead of "already in the torch cache"."""
    from data_prep import imagenet_weights
    from sgma_core.checked_weights import WeightsFileError

    path = _torch_cache(tmp_path, monkeypatch)
    path.write_bytes(bytes(range(100)))
    with pytest.raises(WeightsFileError, match=r"vgg19-dcbb9e9d\.pth has sha256 .*data_prep\.imagenet_weights vgg19"):
        vgg19(pretrained=True)
    assert imagenet_weights.main(["vgg19"]) == 2
    assert "vgg19-dcbb9e9d.pth has sha256" in capsys.readouterr().err
    marker = tmp_path / "pwned"
    torch.save({"x": _Hostile(marker)}, path)
    # as if the hash matched
    monkeypatch.setattr("sgma_core.checked_weights.sha256_of_bytes", lambda p: "dcbb9e9d" + "0" * 56)
    with pytest.raises(WeightsFileError, match="refused unread"):
        vgg19(pretrained=True)
    assert not marker.exists()
    torch.save({"features.0.weight": torch.zeros(1)}, path)
    with pytest.raises(WeightsFileError, match="does not fit the network"):
        vgg19(pretrained=True)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(WeightsFileError, match="is damaged"):
        vgg19(pretrained=True)


@pytest.mark.slow  # builds and saves a full VGG19
def test_the_published_vgg19_layout_loads(tmp_path, monkeypatch):
    from torchvision.models import vgg19 as tv_vgg19

    path = _torch_cache(tmp_path, monkeypatch)
    torch.save(tv_vgg19(weights=None).state_dict(), path)
    monkeypatch.setattr("sgma_core.checked_weights.sha256_of_bytes", lambda p: "dcbb9e9d" + "0" * 56)
    assert vgg19(pretrained=True).out_channels == 512
