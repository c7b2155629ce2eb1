"""What makes SGMA's training step cheap computes what the plain formulas compute, and the overhead
benchmark measures the step against its own backbones."""

import json

import pytest
import torch
import torch.nn.functional as F

from sgma_core import step_throughput
from sgma_core.backbones import small_vgg
from sgma_core.cropping import crop_and_zoom
from sgma_core.engine.loop import make_optimizer
from sgma_core.engine.step import keep_freed_memory
from sgma_core.losses import class_centre_triplet_loss, compactness_loss, gaussian_peak_targets
from sgma_core.profiles import RunConfig, make_config
from tests.conftest import tiny_sgma


def test_all_parts_cut_in_one_pass_equal_one_part_at_a_time():
    torch.manual_seed(0)
    images = torch.rand(3, 3, 20, 20)
    tx, ty = torch.rand(3, 2) * 20, torch.rand(3, 2) * 20
    ts = torch.tensor([[8.0, 12.0], [10.0, 6.0], [20.0, 9.0]])
    for mask in (True, False):
        together = crop_and_zoom(images, tx, ty, ts, 7, mask=mask)  # [B, P, 3, 7, 7]
        assert together.shape == (3, 2, 3, 7, 7)
        for i in range(2):
            alone = crop_and_zoom(images, tx[:, i], ty[:, i], ts[:, i], 7, mask=mask)
            assert torch.equal(together[:, i], alone)


def test_blob_targets_are_gaussians_at_the_peaks():
    maps = torch.rand(4, 2, 5, 7)
    target = gaussian_peak_targets(maps, sigma=1.3)
    flat = maps.reshape(4, 2, -1).argmax(-1)
    cy, cx = (flat // 7).float()[..., None, None], (flat % 7).float()[..., None, None]
    ys, xs = torch.arange(5.0).view(1, 1, 5, 1), torch.arange(7.0).view(1, 1, 1, 7)
    assert torch.allclose(target, torch.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * 1.3**2)))
    # eq. (5) as written: mean over cells, summed over parts, mean over the batch
    maps.requires_grad_(True)
    direct = ((maps - target) ** 2).mean(dim=(2, 3)).sum(dim=1).mean()
    assert torch.allclose(compactness_loss(maps, 1.3), direct)


@pytest.mark.parametrize("negatives", ["hardest", "mean", "all"])
def test_cct_distances_by_matrix_product_equal_the_differences(negatives):
    torch.manual_seed(1)
    emb, centres, labels = torch.randn(6, 5, requires_grad=True), torch.randn(4, 5), torch.tensor([0, 1, 2, 3, 1, 0])
    loss = class_centre_triplet_loss(emb, centres, labels, margin=0.8, negatives=negatives)
    e, c = F.normalize(emb, dim=1), F.normalize(centres, dim=1)
    d = ((e[:, None, :] - c[None, :, :]) ** 2).sum(-1)
    pos = d.gather(1, labels[:, None]).squeeze(1)
    is_pos = F.one_hot(labels, 4).bool()
    if negatives == "hardest":
        direct = torch.clamp(0.8 + pos - d.masked_fill(is_pos, float("inf")).min(1).values, min=0).mean()
    elif negatives == "mean":
        direct = torch.clamp(0.8 + pos - d.masked_fill(is_pos, 0).sum(1) / 3, min=0).mean()
    else:
        direct = (torch.clamp(0.8 + pos[:, None] - d, min=0).masked_fill(is_pos, 0).sum(1) / 3).mean()
    assert torch.allclose(loss, direct, atol=1e-6)
    g1, = torch.autograd.grad(loss, emb)
    g2, = torch.autograd.grad(direct, emb)
    assert torch.allclose(g1, g2, atol=1e-5)


@pytest.mark.parametrize("shared_W", [False, True])
def test_fused_compatibility_is_the_sum_over_branches(shared_W):
    model = tiny_sgma(shared_W=shared_W)
    thetas = [torch.randn(3, model.branches[0].out_channels) for _ in range(3)]
    phi = torch.randn(6, 5)
    fused = model.compatibility(thetas, torch.cat(thetas, dim=1), phi)
    by_branch = sum(model.compat[min(i, len(model.compat) - 1)](t, phi) for i, t in enumerate(thetas))
    assert torch.allclose(fused, by_branch, atol=1e-5)


def test_backbone_gets_its_gradient_back_channels_last():
    backbone = small_vgg(widths=(8, 16)).to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    fmap = backbone(x)
    seen = {}
    fmap.register_hook(lambda g: seen.setdefault("grad", g))  # runs after the backbone's own hook
    fmap.mean(dim=(2, 3)).sum().backward()  # a mean's backward hands back an NCHW gradient
    assert seen["grad"].is_contiguous(memory_format=torch.channels_last)


def test_optimizer_is_fused_on_the_cpu():
    model = torch.nn.Linear(3, 2)
    optimizer, _ = make_optimizer(model, make_config("smoke"))
    assert optimizer.param_groups[0]["fused"] is True


def test_freed_memory_is_kept_where_glibc_allows():
    import platform

    kept = keep_freed_memory()
    assert kept == (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")


def test_overhead_benchmark_times_the_step_against_its_backbones(tmp_path, capsys):
    out = tmp_path / "overhead.json"
    assert step_throughput.main(["--overhead", "--device", "cpu", "--backbone", "small_vgg", "--size", "32",
                           "--joint-size", "16", "--batch", "2", "--steps", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1].startswith("overhead: ")
    result = json.loads(out.read_text())
    assert float(printed[-1].split()[-1]) == pytest.approx(result["overhead"], abs=5e-4)
    passes = [k for k in result["median_ms"] if k != "step"]
    # four forwards (the attention backbone at 32², three branches at 16²) and one backward of those that train
    # with the default attention_training (the attention backbone only with "full")
    trained = 4 if RunConfig().attention_training == "full" else 3
    assert len(passes) == 5 and sum("forward" in k for k in passes) == 4
    assert "attention backbone 32² forward" in passes and f"backward of the {trained} trained backbone(s)" in passes
    assert result["backbones_ms"] == pytest.approx(sum(result["median_ms"][k] for k in passes))
    assert len(result["overhead_rounds"]) == 3 and result["overhead"] > 0


def test_overhead_benchmark_leaves_out_what_does_not_train():
    make = step_throughput.sgma_step_factory("small_vgg", 32, 16, 5, 6, attention_training="heads")
    step = make(torch.device("cpu"), True)
    x = torch.randn(2, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    xj = torch.randn(2, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    passes = step_throughput.BackbonePasses(step.model, x, xj, bf16=False)
    seconds = passes.run()
    assert "backward of the 3 trained backbone(s)" in seconds  # the attention backbone runs forward only
    assert all(p.grad is None for p in step.model.attention_backbone.parameters())
    assert all(p.grad is not None for p in step.model.branches[0].parameters())


def test_locating_alone_gives_the_forward_passes_maps_and_squares(tmp_path):
    from sgma_core.experiment.snapshots import Snapshots

    model = tiny_sgma().eval()
    x = torch.rand(3, 3, 24, 24)
    full, alone = model(x, torch.randn(6, 5)), model.locate(x)
    for key in ("maps", "channel_weights", "tx", "ty", "ts"):
        assert torch.equal(full[key], alone[key])
    images = (torch.rand(3, 3, 24, 24) * 255).to(torch.uint8)
    for mode in (True, False):
        model.train(mode)
        snapshots = Snapshots(tmp_path / "snapshots.pt", images, torch.randn(6, 5), model)
        snapshots.take(model, 0)
        snap = snapshots.epochs[0]
        assert sorted(snap) == ["maps", "ts", "tx", "ty"] and snap["maps"].shape[0] == 3
        assert model.training is mode  # a snapshot leaves the model as it found it


@pytest.mark.parametrize("size, joint, stride", [(64, 32, 8), (448, 224, 16)])  # the cpu and paper profiles
def test_squares_on_the_pixel_grid_are_cut_by_indexing_as_by_resampling(size, joint, stride):
    from sgma_core.cropping import crop_pixels

    torch.manual_seed(2)
    images = torch.rand(3, 3, size, size)
    cells = torch.randint(0, size // stride, (3, 2, 2))  # peak cells, the border ones included (clamped squares)
    cells[0, 0] = torch.tensor([0, size // stride - 1])
    tx, ty = (cells[..., 0] + 0.5) * stride - 0.5, (cells[..., 1] + 0.5) * stride - 0.5
    resampled = crop_and_zoom(images, tx, ty, torch.full_like(tx, float(joint)), joint)
    for layout in (torch.contiguous_format, torch.channels_last):
        cut = crop_pixels(images.contiguous(memory_format=layout), tx, ty, joint)
        assert cut.shape == resampled.shape
        # float rounding of grid_sample's coordinates (exact where the sizes are powers of two)
        assert torch.allclose(cut, resampled, atol=1e-4 if size == 448 else 0.0)
        if layout == torch.channels_last:  # each part is already what a channels-last branch takes: no copy
            assert cut[:, 1].is_contiguous(memory_format=torch.channels_last)


def test_the_model_cuts_on_the_grid_only_where_the_squares_are_on_it():
    peak = tiny_sgma(size=24, joint=12, centre_rule="peak")
    assert peak.on_pixel_grid(24, 24, 12)  # stride 2, squares of 12 px: on the grid
    assert not tiny_sgma(size=24, joint=10, centre_rule="peak").on_pixel_grid(24, 24, 12)  # zoomed: resampled
    assert not tiny_sgma(size=24, joint=12, centre_rule="learned").on_pixel_grid(24, 24, 12)  # learned squares move
    model = peak.eval()
    x, phi = torch.rand(2, 3, 24, 24), torch.randn(6, 5)
    out = model(x, phi)
    located = model.locate(x)
    resampled = crop_and_zoom(x, located["tx"], located["ty"], located["ts"], 12)
    assert torch.allclose(out["parts"], resampled, atol=1e-6)
