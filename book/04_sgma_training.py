# ---
# jupyter:
#   jupytext:
#     default_lexer: ipython3
#     formats: md:myst,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Training SGMA, and where it looks
#
# This chapter trains the whole model of the previous chapter with eq. (9), compares it with the
# baseline on exactly the same data, backbone pretraining and evaluation, and asks whether its
# attention lands on the parts that distinguish the classes.

# %% tags=["parameters"]
profile = "cpu"  # "smoke" (seconds), "cpu" (minutes, the default book), "paper" (GPU, VGG19)
dataset = "SYN"  # "SYN" (synthetic birds) or "CUB"
data_root = None  # None: $SGMA_DATA_ROOT, else <repo>/data
runs_dir = None  # None: $SGMA_RUNS_ROOT, else <repo>/runs
seeds = None  # None: the profile's seeds; e.g. [0, 1, 2]
overrides = {}  # any RunConfig field, e.g. {"centre_rule": "learned", "cct_negatives": "mean"}
progress = False  # tqdm bars and per-epoch lines in the output

# %%
import platform
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from myst_nb import glue

from sgma_core.compatibility import global_average_pool
from sgma_core.experiment import (build_sgma, initialise_grouping, prepare_data, pretrained_backbone, sgma_outputs,
                                  summarize, train_baseline, train_sgma)
from sgma_core.localization import hit_rates, preferred_parts, random_points, scale_parts
from sgma_core.profiles import config_dict, make_config
from sgma_core.training import resolve_device

config = make_config(profile, overrides={**overrides, "dataset": dataset}, seeds=seeds)
device = resolve_device(config.device)
device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU"
glue("profile", config.profile, display=False)
glue("device", f"{device.type} ({device_name})", display=False)
glue("sizes", f"{config.image_size} × {config.image_size} into the attention subnet and "
     f"{config.joint_size} × {config.joint_size} into the joint subnet", display=False)
print(config_dict(config))

# %% [markdown]
# This page was produced with the **{glue:text}`profile`** profile on **{glue:text}`device`**, with
# images of {glue:text}`sizes`.

# %%
t0 = time.perf_counter()
prepared = prepare_data(config, data_root, progress=progress)
print(f"{len(prepared.train.labels)} trainval, {len(prepared.test_unseen_labels)} test_unseen, "
      f"{len(prepared.test_seen_labels)} test_seen images; decoded in {time.perf_counter() - t0:.1f} s")
glue("n_unseen", prepared.n_unseen, display=False)
glue("chance_t1", 100.0 / prepared.n_unseen, display=False)

# %% [markdown]
# ## Channel grouping, before any SGMA training
#
# The backbone (the same seen-class pretraining as the baseline's) is run over $\Omega$ training
# images; its channels are clustered by where they peak, eq. (11), and the attention layers are
# pretrained towards the two groups. Summing each group's channels shows what it responds to:

# %%
cfg0 = make_config(config.profile, overrides={**config_dict(config), "seed": config.seeds[0]})
backbone, _ = pretrained_backbone(prepared, cfg0, runs_dir, progress=progress)
model0 = build_sgma(prepared, cfg0, backbone).to(device)
grouping = initialise_grouping(model0, prepared, cfg0)
indicators = grouping["indicators"]
print(f"channels per group: {indicators.sum(1).astype(int).tolist()}; attention pretraining loss "
      f"{grouping['losses'][0]:.3f} → {grouping['losses'][-1]:.3f}")
show = prepared.test_unseen_images[:4]
with torch.no_grad():
    from sgma_core.images import normalize

    f = model0.attention_backbone(normalize(show.to(device))).float().cpu()
group_maps = torch.einsum("pc,bchw->bphw", torch.as_tensor(indicators), f)
fig, axes = plt.subplots(3, 4, figsize=(9, 6.6))
for j in range(4):
    axes[0, j].imshow(show[j].permute(1, 2, 0))
    for i in range(2):
        axes[i + 1, j].imshow(group_maps[j, i], cmap="magma")
for ax in axes.ravel():
    ax.axis("off")
axes[0, 0].set_title("unseen-class images", loc="left", fontsize=9)
axes[1, 0].set_title("channel group 1 (summed)", loc="left", fontsize=9)
axes[2, 0].set_title("channel group 2 (summed)", loc="left", fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Training
#
# One run per seed, stored and resumable like the baseline's. The first seed also keeps the
# attention maps and part squares of four unseen-class test images after every epoch.

# %%
results, histories, snapshots = [], {}, None
t0 = time.perf_counter()
for seed in config.seeds:
    cfg = make_config(config.profile, overrides={**config_dict(config), "seed": seed})
    model, history, info = train_sgma(prepared, cfg, runs_dir, progress=progress,
                                      snapshot_images=show if seed == config.seeds[0] else None)
    if seed == config.seeds[0]:
        snapshots, trained = info["snapshots"], model
    histories[seed] = history
    results.append({"seed": seed, **{k: v for k, v in history[-1].items() if k.split("_")[-1] in ("T1", "u", "s", "H")}})
print(f"{len(config.seeds)} seed(s) in {(time.perf_counter() - t0) / 60:.1f} min (less if stored runs were reused)")
baseline = []
for seed in config.seeds:
    cfg = make_config(config.profile, overrides={**config_dict(config), "seed": seed})
    _, bh = train_baseline(prepared, cfg, runs_dir, progress=progress)
    baseline.append({k: bh[-1][k] for k in ("T1", "u", "s", "H")})

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
for seed, history in histories.items():
    epochs = [h["epoch"] + 1 for h in history]
    for term, style in (("cls", "-"), ("cct", "--"), ("div", ":"), ("cpt", "-.")):
        axes[0].plot(epochs, [h[f"loss_{term}"] for h in history], style, color=f"C{seed % 10}",
                     label=f"{term}" if seed == config.seeds[0] else None)
    evaluated = [h for h in history if "T1" in h]  # every config.eval_every epochs, and the last
    axes[1].plot([h["epoch"] + 1 for h in evaluated], [100 * h["T1"] for h in evaluated], "o-",
                 color=f"C{seed % 10}", label=f"seed {seed}")
    axes[2].plot([h["epoch"] + 1 for h in evaluated], [100 * h["H"] for h in evaluated], "o-", color=f"C{seed % 10}")
axes[0].set_ylabel("loss terms of eq. (9)")
axes[0].legend(fontsize=8)
axes[1].axhline(100.0 / prepared.n_unseen, color="grey", ls="--", label="chance")
axes[1].set_ylabel("ZSL T1 (%), compat rule")
axes[1].legend(fontsize=8)
axes[2].set_ylabel("GZSL H (%), compat rule")
for ax in axes:
    ax.set_xlabel("epoch")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Results beside the baseline

# %%
keys = ("T1", "u", "s", "H")
rows = [("baseline", summarize(baseline))]
for rule in ("compat", "cct", "combined"):
    prefix = "" if rule == "compat" else f"{rule}_"
    rows.append((f"SGMA, {rule}", summarize([{k: r[prefix + k] for k in keys} for r in results])))
print(f"{'':18s}" + "".join(f"{k:>14s}" for k in keys))
for name, stats in rows:
    print(f"{name:18s}" + "".join(f"{100 * stats[k][0]:8.1f} ± {100 * stats[k][1]:3.1f}" for k in keys))
for name, stats in rows:
    tag = name.replace("SGMA, ", "sgma_").replace("baseline", "base")
    for k in keys:
        glue(f"{tag}_{k}", 100 * stats[k][0], display=False)
glue("n_seeds", len(results), display=False)
diff = 100 * (rows[1][1]["T1"][0] - rows[0][1]["T1"][0])
glue("t1_diff", f"{abs(diff):.1f} points {'above' if diff >= 0 else 'below'}", display=False)

# %% [markdown]
# Over {glue:text}`n_seeds` seed(s), SGMA's compatibility rule reaches a ZSL T1 of
# **{glue:text}`sgma_compat_T1:.1f`%**, {glue:text}`t1_diff` the baseline's
# {glue:text}`base_T1:.1f`% (chance: {glue:text}`chance_t1:.1f`%), and a GZSL H of
# {glue:text}`sgma_compat_H:.1f`% against the baseline's {glue:text}`base_H:.1f`%. The `cct` rule
# gives T1 {glue:text}`sgma_cct_T1:.1f`% and the combined rule {glue:text}`sgma_combined_T1:.1f`%.
# All numbers are per-class accuracies at the last epoch, with no calibration of seen-class scores.
#
# The `cct` rule in GZSL compares an image with seen prototypes (mean embeddings of real images) and
# unseen prototypes (ridge combinations of them, eq. 10). How do the two kinds of prototype compare in
# length, for the first seed's trained model?

# %%
from sgma_core.inference import ridge_coefficients, seen_prototypes, unseen_prototypes

train_out = sgma_outputs(trained, prepared.train.images, prepared.phi_gzsl)
p_s = seen_prototypes(train_out["emb"], prepared.train.labels.numpy(), prepared.n_seen)
beta = ridge_coefficients(prepared.phi_seen.numpy(), prepared.phi_gzsl[:, prepared.n_seen:].numpy(),
                          config.ridge_lambda)
p_u = unseen_prototypes(p_s, beta)
print(f"mean prototype norm: seen {np.linalg.norm(p_s, axis=0).mean():.3f}, "
      f"unseen {np.linalg.norm(p_u, axis=0).mean():.3f} (ridge λ = {config.ridge_lambda})")

# %% [markdown]
# An unseen prototype built by eq. (10) is an average-like combination of seen ones and so, when it is
# shorter, it loses every inner-product comparison with the seen prototypes: GZSL without
# calibration is where this rule is weakest.
#
# ## Attention over training
#
# Four unseen-class test images with the larger of the two attention maps overlaid and the squares
# that part 1 (white) and part 2 (cyan) choose: before SGMA training (after the channel-grouping
# initialisation), half-way, and after the last epoch.

# %%
if snapshots:
    epochs = sorted(snapshots)
    picks = [epochs[0], epochs[len(epochs) // 2], epochs[-1]]
    fig, axes = plt.subplots(len(picks), 4, figsize=(10, 2.6 * len(picks)))
    for r, e in enumerate(picks):
        snap = snapshots[e]
        for j in range(4):
            ax = axes[r, j]
            ax.imshow(show[j].permute(1, 2, 0))
            size = show.shape[-1]
            ax.imshow(snap["maps"][j].max(0), cmap="magma", alpha=0.45, extent=(0, size, size, 0))
            for i, color in ((0, "white"), (1, "cyan")):
                tx, ty, ts = snap["tx"][j, i], snap["ty"][j, i], snap["ts"][j, i]
                ax.add_patch(plt.Rectangle((tx - ts / 2, ty - ts / 2), ts, ts, fill=False, color=color, lw=1.2))
            ax.axis("off")
        axes[r, 0].set_title("before training" if e < 0 else f"after epoch {e + 1}", loc="left", fontsize=9)
    fig.tight_layout()
    plt.show()

# %% [markdown]
# ## Where does it look?
#
# Each test image's two attention peaks, mapped to input pixels, are compared with the ground-truth
# part locations: a peak *hits* when it lies within an eighth of the image side of a visible part. The
# same score for uniformly random points is the chance level.

# %%
ds = prepared.dataset
where = "This dataset has no part annotations, so the peaks cannot be scored."
if ds.part_locs is not None:
    rows_all = np.concatenate([prepared.test_unseen_rows, prepared.test_seen_rows])
    imgs = torch.cat([prepared.test_unseen_images, prepared.test_seen_images])
    from PIL import Image

    sizes = np.array([Image.open(ds.image_paths[r]).size for r in rows_all])
    parts = scale_parts(ds.part_locs[rows_all], sizes, config.image_size)
    radius = config.image_size / 8
    peaks = {}
    for label, m in (("before training", model0), ("after training", trained)):
        out = sgma_outputs(m, imgs, prepared.phi_gzsl)
        peaks[label] = np.stack([out["tx"], out["ty"]], axis=-1)
    peaks["random points"] = random_points(len(rows_all), config.n_parts, config.image_size, seed=0)
    print(f"hit radius {radius:.0f} px; {len(rows_all)} test images")
    mean_hits = {}
    for label, pts in peaks.items():
        rates = hit_rates(pts, parts, radius)
        prefs = preferred_parts(pts, parts, ds.part_names)
        edge = ((pts < radius / 2) | (pts > config.image_size - radius / 2)).any(-1).mean(0)  # peak at the border
        print(f"{label:16s}" + "  ".join(f"map {i + 1}: {100 * r:5.1f}% (nearest: {p} {100 * f:.0f}%, "
                                          f"at the border {100 * e:.0f}%)"
                                          for i, (r, (p, f), e) in enumerate(zip(rates, prefs, edge))))
        mean_hits[label] = float(rates.mean())
    where = (f"Averaged over the two maps, {100 * mean_hits['after training']:.1f}% of attention peaks land on a "
             f"ground-truth part after training, against {100 * mean_hits['before training']:.1f}% before SGMA "
             f"training and {100 * mean_hits['random points']:.1f}% for random points.")
glue("where_sentence", where, display=False)

# %% [markdown]
# {glue:text}`where_sentence`
#
# Why can the maps move away from the parts during training? With the default centre rule the square
# is placed at the map's argmax, which has no gradient, so the classification and triplet losses never
# reach the attention layers; only compactness and diversity, eqs. (5) and (6), train them, and both
# are satisfied by any two compact, separate blobs, wherever they are. One backward pass of the
# classification loss alone shows it:

# %%
probe = build_sgma(prepared, cfg0, backbone).to(device)
x = normalize(prepared.train.images[:8].to(device))
out = probe(x, prepared.phi_seen.to(device))
torch.nn.functional.cross_entropy(out["scores"], prepared.train.labels[:8].to(device)).backward()
attention_grad = sum(float(p.grad.abs().sum()) for p in probe.attention.parameters() if p.grad is not None)
branch_grad = sum(float(p.grad.abs().sum()) for p in probe.branches.parameters() if p.grad is not None)
print(f"centre rule {cfg0.centre_rule!r}: gradient of L_CLS reaching the attention layers {attention_grad:.3g}, "
      f"the joint branches {branch_grad:.3g}")

# %% [markdown]
# The `centre_rule="learned"` alternative places the square by a soft-argmax of the map plus a learned
# offset, so that eq. (4) carries these gradients back to the maps; it can be run with
# `-p overrides "{centre_rule: learned}"`. The `freeze_attention=True` alternative keeps the attention
# subnet exactly as the channel grouping initialised it (`-p overrides "{freeze_attention: true}"`).
