"""A backbone is one registry entry: the settings accept its name and the layers it declares, the models
and the run store build and name runs through it, and a backbone registered here, in this test module,
works wherever a backbone is chosen without a change to any other module."""

import inspect
import json

import pytest
import torch

from sgma_core import backbones
from sgma_core.backbones import BackboneEntry, Layer, backbone_entry, backbone_for, register, small_vgg, stored_settings
from sgma_core.baseline import BaselineZSL
from sgma_core.engine.runs import Run, RunMismatchError, run_identity, settings_hash
from sgma_core.profiles import config_dict, make_config
from sgma_core.sgma import SGMA


def _tiny(layer: str, pretrained: bool):
    """A two-stage VGG: ``conv1`` (8 channels, stride 1) or ``conv2`` (16 channels, stride 2)."""
    return small_vgg(widths=(8,) if layer == "conv1" else (8, 16), convs_last=1)


@pytest.fixture
def tiny(monkeypatch):
    """``backbone="tiny"`` registered for one test (the registry as it was comes back after it)."""
    monkeypatch.setattr(backbones, "BACKBONES", dict(backbones.BACKBONES))
    return register(BackboneEntry("tiny", _tiny, {"conv1": Layer(8, 1), "conv2": Layer(16, 2)}, "conv2"))


def test_a_backbone_registered_in_a_test_builds_the_baseline_and_sgma(tiny):
    config = make_config("smoke", {"backbone": "tiny"})
    x = torch.randn(2, 3, config.image_size, config.image_size)
    baseline = BaselineZSL(backbone_for(config), semantic_dim=6)
    assert baseline(x, torch.rand(6, 4)).shape == (2, 4)
    model = SGMA.from_config(config, n_attributes=6, n_seen=4, backbone=backbone_for(config))
    out = model(x, torch.rand(6, 4))
    side = config.image_size // tiny.layers["conv2"].stride  # the default layer, stride 2
    assert out["scores"].shape == (2, 4) and out["maps"].shape == (2, 2, side, side)
    shallow = backbone_for(make_config("smoke", {"backbone": "tiny", "layer": "conv1"}))
    assert (shallow.out_channels, shallow.stride) == (8, 1)


@pytest.mark.slow  # two short trainings
def test_a_registered_backbone_trains_through_the_recipes(tiny, tiny_root, tmp_path):
    """No ImageNet weights (``imagenet`` unset): its backbone is pretrained on the seen classes, then the
    baseline trains, each stored under a run named by the backbone's layer."""
    from sgma_core.experiment import prepare_data, train_baseline

    config = make_config("smoke", {"backbone": "tiny", "epochs": 1, "max_train_images": 24, "max_test_images": 12})
    prepared = prepare_data(config, tiny_root, progress=False, runs_dir=tmp_path)
    model, history = train_baseline(prepared, config, tmp_path, progress=False)
    assert len(history) == 1 and model.backbone.out_channels == 16
    stored = [json.loads(p.read_text()) for p in (tmp_path / "backbone").glob("*/config.json")]
    assert [c["backbone"] for c in stored] == ["tiny"]


def test_run_names_follow_the_layer_a_run_resolves_to(tiny):
    def name(**settings):
        return settings_hash(run_identity(make_config("smoke", {"backbone": "tiny", **settings})))

    assert name() == name(layer="conv2") != name(layer="conv1")  # unset is the default layer
    assert run_identity(make_config("smoke", {"backbone": "tiny", "layer": "conv1"}))["layer"] == "conv1"


def test_identities_hold_each_layer_under_the_key_it_was_stored_as():
    def layers(backbone, layer=None):
        identity = run_identity(make_config("cpu", {"backbone": backbone, "layer": layer}))
        assert "layer" not in identity
        return {k: v for k, v in identity.items() if k.endswith("_layer")}

    assert layers("small_vgg") == {"vgg_layer": "conv5_4"}  # vgg_layer was once a setting of every run
    assert layers("vgg19", "pool5") == {"vgg_layer": "pool5"}
    assert layers("efficientnet_lite0", "head") == {"vgg_layer": "conv5_4", "lite0_layer": "head"}
    older = {"backbone": "small_vgg", "vgg_layer": "conv5_4", "lite0_layer": "head"}  # before `layer` was a setting
    assert stored_settings(older) == {"backbone": "small_vgg", "vgg_layer": "conv5_4"}
    assert stored_settings({"backbone": "vgg19", "vgg_layer": "pool5"}) == {"backbone": "vgg19", "vgg_layer": "pool5"}


def test_a_run_folder_written_before_layer_was_a_setting_is_still_its_run(tmp_path):
    config = make_config("smoke", {"backbone": "vgg19", "layer": "pool5"})
    run = Run.of("sgma", config, tmp_path)
    run.path.mkdir(parents=True)
    older = {k: v for k, v in config_dict(config).items() if k != "layer"}
    (run.path / "config.json").write_text(json.dumps({**older, "vgg_layer": "pool5", "lite0_layer": "stage5_expanded"}))
    (run.path / "metrics.jsonl").write_text("")
    run.check(config)  # the same run
    (run.path / "config.json").write_text(json.dumps({**older, "vgg_layer": "conv5_4"}))
    with pytest.raises(RunMismatchError, match="vgg_layer: 'conv5_4' → 'pool5'"):
        run.check(config)
    (run.path / "config.json").write_text(json.dumps(config_dict(config)))  # as this code writes it
    run.check(config)


def test_backbone_and_layer_are_checked_against_the_registry():
    with pytest.raises(ValueError, match="backbone='resnet'; choose one of 'small_vgg', 'vgg19', 'efficientnet_lite0'"):
        make_config("cpu", {"backbone": "resnet"})
    with pytest.raises(ValueError, match="layer='conv6' is not a layer of backbone 'vgg19'; choose one of 'conv5_4', "
                                         "'pool5', or leave layer unset for 'conv5_4'"):
        make_config("cpu", {"backbone": "vgg19", "layer": "conv6"})
    assert make_config("cpu", {"backbone": "vgg19", "layer": "pool5"}).layer == "pool5"


@pytest.mark.parametrize("old, backbone", [("vgg_layer", "vgg19"), ("lite0_layer", "efficientnet_lite0")])
def test_the_settings_each_layer_had_before_are_refused_with_the_one_that_replaces_them(old, backbone):
    with pytest.raises(ValueError, match=f"{old} is not a setting: .*for {backbone}, one of .*give layer instead"):
        make_config("cpu", {"backbone": backbone, old: "head"})


def test_the_registry_refuses_an_entry_it_could_not_serve(tiny):
    with pytest.raises(ValueError, match="'tiny' is registered already"):
        register(tiny)
    with pytest.raises(ValueError, match="default_layer 'conv9' is not one of its layers 'conv1'"):
        register(BackboneEntry("other", _tiny, {"conv1": Layer(8, 1)}, "conv9"))


@pytest.mark.parametrize("name", ["small_vgg", "vgg19", "efficientnet_lite0"])
def test_every_layer_an_entry_declares_is_what_its_network_gives(name):
    """Built on the ``meta`` device (no weights, no arithmetic): the channels and stride of each declared layer."""
    entry = backbone_entry(name)
    for layer, at in entry.layers.items():
        with torch.device("meta"):
            net = entry.build(layer=layer, pretrained=False)
            fmap = net(torch.empty(1, 3, 64, 64))
        assert (net.out_channels, net.stride) == (at.channels, at.stride)
        assert tuple(fmap.shape) == (1, at.channels, 64 // at.stride, 64 // at.stride)


@pytest.mark.parametrize("name", ["vgg19", "efficientnet_lite0"])
def test_a_builders_own_default_layer_is_its_entrys(name):
    entry = backbone_entry(name)
    assert inspect.signature(entry.build).parameters["layer"].default == entry.default_layer
