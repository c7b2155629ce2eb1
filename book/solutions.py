"""Solutions of the chapters' exercises, as code that the tests run (``tests/test_exercises.py``),
so that a solution cannot drift from the library. Each chapter shows its solution with
``literalinclude`` inside a folded ``{solution}`` block."""

from __future__ import annotations


def harmonic_mean_by_hand() -> float:
    """Chapter 01: H for u = 0.2 and s = 0.8."""
    from sgma_core.metrics import harmonic_mean

    u, s = 0.2, 0.8
    by_hand = 2 * u * s / (u + s)  # 2 · 0.16 / 1.0
    assert abs(harmonic_mean(u, s) - by_hand) < 1e-12
    return by_hand  # 0.32: far below the mean of u and s (0.5)


def cct_on_three_points() -> tuple[float, float]:
    """Chapter 03: eq. (8) for one embedding of class 0 and three centres, both readings of the negatives."""
    import torch

    from sgma_core.losses import class_centre_triplet_loss

    emb = torch.tensor([[0.6, 0.8]])  # unit length already
    centres = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    label = torch.tensor([0])
    # squared distances: to its own centre 0.16 + 0.64 = 0.8, to centre 1 0.36 + 0.04 = 0.4,
    # to centre 2 2.56 + 0.64 = 3.2
    hardest = class_centre_triplet_loss(emb, centres, label, margin=0.8, negatives="hardest").item()  # 0.8 + 0.8 − 0.4
    mean = class_centre_triplet_loss(emb, centres, label, margin=0.8, negatives="mean").item()  # max(0, 1.6 − 1.8)
    return hardest, mean  # (1.2, 0.0)


def mask_at_one_pixel() -> tuple[float, float]:
    """Chapter 03: eq. (4)'s V_x for a square of side 16 centred at x = 32 (k = 10), at x = 40 and x = 39."""
    import torch

    from sgma_core.cropping import boxcar_mask

    mask = boxcar_mask(torch.tensor([32.0]), torch.tensor([32.0]), torch.tensor([16.0]), 64, 64, k=10.0)
    row = mask[0, 32] / mask[0, 32, 32]  # V_x(x): the row through the centre, divided by V_y(32)
    # at x = 40: σ(10 · (40 − 32 + 8)) − σ(10 · (40 − 32 − 8)) = σ(160) − σ(0) = 1 − 0.5
    return row[40].item(), row[39].item()  # (0.5, 0.99995…)


def per_image_against_per_class() -> tuple[float, float]:
    """Chapter 01: 90 images of class 0 (81 right) and 10 of class 1 (1 right)."""
    import numpy as np

    from sgma_core.metrics import per_class_accuracy

    labels = np.array([0] * 90 + [1] * 10)
    predictions = np.array([0] * 81 + [1] * 9 + [1] * 1 + [0] * 9)  # class 0: 81 of 90 right; class 1: 1 of 10
    per_image = float((predictions == labels).mean())  # 82 / 100
    return per_image, per_class_accuracy(labels, predictions)  # (0.82, (0.9 + 0.1) / 2 = 0.5)


def softmax_loss_by_hand() -> tuple[float, float]:
    """Chapter 02: eq. (7) for one image of seen class 0 with compatibility scores (2, 0, −1)."""
    import math

    import torch

    from sgma_core.losses import embedding_softmax_loss

    by_hand = math.log(1 + math.exp(-2) + math.exp(-3))  # −log(e² / (e² + e⁰ + e⁻¹))
    library = embedding_softmax_loss(torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([0])).item()
    return by_hand, library  # both 0.170


def mask_edge_width_by_k() -> dict[float, int]:
    """Chapter 03: for a square of side 16 centred at x = 32, how many pixels of a row lie on the mask's
    soft edge (0.05 < V_x < 0.95), for k from 0.5 to 50."""
    import torch

    from sgma_core.cropping import boxcar_mask

    widths = {}
    for k in (0.5, 1.0, 2.0, 10.0, 50.0):
        mask = boxcar_mask(torch.tensor([32.0]), torch.tensor([32.0]), torch.tensor([16.0]), 64, 64, k=k)[0]
        v_x = mask[32] / mask[32, 32].sqrt()  # the row through the centre is V_y(32) · V_x(x), and V_y(32) = V_x(32)
        widths[k] = int(((v_x > 0.05) & (v_x < 0.95)).sum())
    return widths  # {0.5: 24, 1.0: 10, 2.0: 6, 10.0: 2, 50.0: 2}


def ridge_shrinks_by_hand() -> dict[float, list[float]]:
    """Chapter 03: eq. (10) with two seen classes whose semantics are the first two unit vectors of R³
    and an unseen class at (0.6, 0.8, 0)."""
    import numpy as np

    from sgma_core.inference import ridge_coefficients

    phi_seen = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    phi_unseen = np.array([[0.6], [0.8], [0.0]])
    # (Φ_sᵀΦ_s + ρI)⁻¹ Φ_sᵀ φ_u = (0.6, 0.8) / (1 + ρ)
    return {rho: ridge_coefficients(phi_seen, phi_unseen, rho).ravel().round(5).tolist() for rho in (1e-4, 1.0)}


def score_an_unseen_class() -> list[float]:
    """Introduction: s_y = θᵀ W φ(y) for one image and three classes, the third never seen in training."""
    import numpy as np

    theta = np.array([1.0, 2.0])  # the image's pooled features, C = 2
    W = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5]])  # C × K, K = 3 attributes
    # K × 3 classes: columns (1,0,0), (0,1,0), (0,.6,.8)
    phi = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.6], [0.0, 0.0, 0.8]])
    return (theta @ W @ phi).round(6).tolist()  # θᵀW = (1, 2, 1.5); scores (1, 2, 2.4): the unseen class wins


def chance_levels(n_seen: int = 150, n_unseen: int = 50, images_per_class: int = 40) -> dict[str, float]:
    """Introduction: per-class accuracy of a uniformly random guess, ZSL and GZSL (CUB's 150 + 50 classes)."""
    import numpy as np

    from sgma_core.metrics import zsl_gzsl

    rng = np.random.default_rng(0)
    n_classes = n_seen + n_unseen
    unseen_labels = np.repeat(np.arange(n_unseen), images_per_class)
    seen_labels = np.repeat(np.arange(n_seen), images_per_class)
    # random scores: the argmax is a uniformly random class, over the unseen (T1) or over all (GZSL)
    result = zsl_gzsl(rng.random((len(unseen_labels), n_classes)), rng.random((len(seen_labels), n_classes)),
                      unseen_labels, seen_labels, n_seen)
    return {"T1": result["T1"], "H": result["H"], "T1 by hand": 1 / n_unseen, "H by hand": 1 / n_classes}


def baseline_score_by_hand() -> tuple[float, float]:
    """Chapter 02: GAP of a 2-channel 2 × 2 feature map, then θᵀ W φ, by hand and with the library."""
    import torch

    from sgma_core.backbones import global_average_pool
    from sgma_core.compatibility import Compatibility

    f = torch.tensor([[[[1.0, 3.0], [0.0, 0.0]], [[2.0, 2.0], [2.0, 2.0]]]])  # [1, C=2, 2, 2]
    compat = Compatibility(2, 2)
    phi = torch.tensor([[1.0], [1.0]])  # one class, K = 2
    with torch.no_grad():
        compat.W.weight.copy_(torch.tensor([[1.0, -1.0], [0.5, 1.0]]).T)  # nn.Linear stores Wᵀ
        theta = global_average_pool(f)  # (1, 2): the means of the two channels
        by_hand = (1 * 1 + 2 * 0.5) + (1 * -1 + 2 * 1)  # θᵀW = (2, 1), times φ = (1, 1)
        library = float(compat(theta, phi))
    return by_hand, library  # (3.0, 3.0)


def new_class_changes_no_other_score() -> float:
    """Chapter 02: adding a class (a column of Φ) leaves every other class's score as it was."""
    import torch

    from sgma_core.backbones import small_vgg
    from sgma_core.baseline import BaselineZSL

    torch.manual_seed(0)
    model = BaselineZSL(small_vgg(), semantic_dim=5).eval()
    x = torch.rand(4, 3, 32, 32)
    phi = torch.rand(5, 3)
    with torch.no_grad():
        before = model(x, phi)
        after = model(x, torch.cat([phi, torch.rand(5, 1)], dim=1))  # a fourth class, never trained on
    assert after.shape == (4, 4)
    return float((after[:, :3] - before).abs().max())  # 0.0: the scores are one column each


def baseline_without_learning(out_dir, profile: str = "smoke", data_root=None, runs_dir=None) -> tuple[float, float]:
    """Chapter 02: the papermill run with lr = 0; returns the first and the last epoch's training loss."""
    from bookkit.chapters import execute_chapter
    from bookkit.display import glued_values
    from bookkit.exercises import EXERCISE_RUNS

    chapter, params = EXERCISE_RUNS["ex-baseline-no-learning"]
    notebook = execute_chapter(chapter, out_dir, {**params, "profile": profile, "data_root": data_root,
                                                  "runs_dir": runs_dir})
    glued = glued_values(notebook)
    return float(glued["loss_first"]), float(glued["loss_last"])  # equal up to the augmentation's noise


def total_loss_by_hand() -> tuple[float, float]:
    """Chapter 04: eq. (9) for one batch's four terms, with λ = α = β = 1 and with λ = 0.1."""
    import torch

    from sgma_core.losses import sgma_loss

    cpt, div, cls, cct = (torch.tensor(v) for v in (0.05, 0.02, 2.3, 0.9))
    # Σ_i [L_CPT + λ L_DIV] + α L_CLS + β L_CCT; cpt and div are already summed over the two parts
    return (float(sgma_loss(cpt, div, cls, cct)), float(sgma_loss(cpt, div, cls, cct, lam=0.1)))  # (3.27, 3.252)


def random_hit_rate() -> dict[str, float]:
    """Chapter 04: how often a uniformly random point lands within side/8 of one part, at the centre
    and in a corner of a 64-pixel image; by hand and by 200,000 random points."""
    import math

    import numpy as np

    from sgma_core.localization import hit_rates, random_points

    size, n = 64, 200_000
    radius = size / 8
    points = random_points(n, 1, size, seed=0)  # [n, 1, 2]
    rates = {}
    # pixel i's centre is at i (sgma_core.localization), so the image spans [-0.5, 63.5] and its corner is at -0.5
    for where, (x, y) in (("centre", (31.5, 31.5)), ("corner", (-0.5, -0.5))):
        parts = np.tile(np.array([[[x, y, 1.0]]]), (n, 1, 1))  # one visible part per image
        rates[where] = float(hit_rates(points, parts, radius)[0])
    rates["centre by hand"] = math.pi * radius ** 2 / size ** 2  # a disc of radius side/8: π/64 ≈ 4.9 %
    rates["corner by hand"] = rates["centre by hand"] / 4  # a quarter of the disc lies in the image
    return rates


def calibration_by_hand() -> dict[float, dict[str, float]]:
    """Chapter 04: calibrated stacking on four images (one seen class 0, one unseen class 1): GZSL u, s
    and H without calibration and with γ = 0.3 and 0.5 subtracted from the seen-class score."""
    import numpy as np

    from sgma_core.metrics import zsl_gzsl

    # columns: seen class 0, unseen class 0 (the GZSL candidates, seen first)
    unseen_imgs = np.array([[0.9, 0.7], [0.6, 0.8]])  # two images of the unseen class
    seen_imgs = np.array([[1.5, 0.4], [0.9, 0.5]])  # two images of the seen class
    results = {}
    for gamma in (0.0, 0.3, 0.5):
        shift = np.array([gamma, 0.0])
        r = zsl_gzsl(unseen_imgs - shift, seen_imgs - shift, np.array([0, 0]), np.array([0, 0]), n_seen=1)
        results[gamma] = {k: round(float(r[k]), 4) for k in ("u", "s", "H")}
    return results  # γ = 0: u 0.5, s 1, H 0.667; γ = 0.3: u = s = H = 1; γ = 0.5: u 1, s 0.5, H 0.667


def learned_centre_reaches_attention(out_dir, profile: str = "smoke", data_root=None, runs_dir=None) -> float:
    """Chapter 04: the papermill run with centre_rule = "learned"; returns the gradient of L_CLS that
    reaches the attention layers (0 with the default, argmax-placed squares)."""
    from bookkit.chapters import execute_chapter
    from bookkit.display import glued_values
    from bookkit.exercises import EXERCISE_RUNS

    chapter, params = EXERCISE_RUNS["ex-learned-centre"]
    notebook = execute_chapter(chapter, out_dir, {**params, "profile": profile, "data_root": data_root,
                                                  "runs_dir": runs_dir})
    return float(glued_values(notebook)["attention_grad"])


def choose_by_hand() -> dict:
    """Chapter 05: the adoption rule on a small record (five seeds; ``cct_margin`` 0.4 against the paper's 0.8)."""
    from sgma_core.studies.ablate import decide

    t1 = {0.8: (0.60, 0.52, 0.66, 0.58, 0.55), 0.4: (0.64, 0.50, 0.71, 0.59, 0.57)}
    rows = [{"setting": "cct_margin", "value": v, "seed": s, "split": "val", "rule": "compat", "T1": t}
            for v, values in t1.items() for s, t in enumerate(values)]
    # paired gains 0.04, −0.02, 0.05, 0.01, 0.02: mean 0.02, standard error 0.0122; 0.02 < 2 × 0.0122
    d = decide(rows, "cct_margin", [0.8, 0.4], 0.8)
    g = d["gains"][0]["gain"]
    return {"mean gain": round(g["mean"], 4), "standard error": round(g["se"], 4), "adopted": d["adopted"]}


def best_of_many_on_test(n_settings: int = 20, n_repeats: int = 2000, n_classes: int = 50,
                         images_per_class: int = 20, accuracy: float = 0.5) -> dict[str, float]:
    """Chapter 05: choose the best of ``n_settings`` equally good settings on the classes you report,
    and report its score there: how far above the true accuracy does the reported number land?"""
    import numpy as np

    rng = np.random.default_rng(0)
    n = n_classes * images_per_class
    # each setting's measured accuracy: per-class means of Bernoulli(accuracy) images (equal class sizes)
    measured = rng.binomial(n, accuracy, size=(n_repeats, n_settings)) / n
    return {"true": accuracy, "one setting": float(measured[:, 0].mean()),
            "best of many, reported on the same classes": float(measured.max(1).mean()),
            "best of many, reported on fresh classes": float(
                (rng.binomial(n, accuracy, size=n_repeats) / n).mean())}


def paired_difference(book=(0.62, 0.55, 0.60), paper=(0.58, 0.54, 0.55)) -> dict[str, float]:
    """Chapter 05: a difference of validation H over three seeds, paired by seed: its mean and the
    standard error of that mean."""
    import numpy as np

    d = np.asarray(book) - np.asarray(paper)  # one difference per seed: 0.04, 0.01, 0.05
    return {"mean": round(float(d.mean()), 4), "standard error": round(float(d.std(ddof=1) / np.sqrt(len(d))), 4),
            "unpaired standard error": round(float(np.sqrt(np.var(book, ddof=1) / 3 + np.var(paper, ddof=1) / 3)), 4)}


def own_ablation(data_root, runs_dir, record_path) -> dict:
    """Chapter 05: ``cct_margin`` 0.4 against the paper's 0.8 on validation classes, smoke profile, two
    seeds; the record is written to ``record_path`` for the chapter to render (``-p record_path …``)."""
    import json

    import numpy as np

    from sgma_core.studies.ablate import run_ablations

    record = run_ablations("smoke", [0, 1], data_root, runs_dir, training_grid={"cct_margin": (0.8, 0.4)},
                           scoring_grid={}, progress=False)
    with open(record_path, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1)
    t1 = {v: {r["seed"]: r["T1"] for r in record["runs"] if r["setting"] == "cct_margin" and r["value"] == v
              and r["rule"] == "compat" and r["split"] == "val"} for v in (0.8, 0.4)}
    d = np.array([t1[0.4][s] - t1[0.8][s] for s in (0, 1)])  # the rule by hand: paired gain > 2 SE
    by_hand = 0.4 if d.mean() > 2 * d.std(ddof=1) / np.sqrt(2) else 0.8
    return {"adopted": record["decisions"]["cct_margin"]["adopted"], "by hand": by_hand,
            "test rows": sorted({r["setting"] for r in record["runs"] if r["split"] == "test"})}


def photo_chance_level() -> dict[str, float]:
    """Chapter 07: the hit radius and the random-point chance of a 500 × 335 photograph with one part at its
    centre, by hand and with the chapter's functions."""
    import math

    import numpy as np

    from sgma_core.localization import hit_radii, random_point_summary

    sizes = np.array([[500, 335]])
    parts = np.array([[[250.0, 167.5, 1.0]]])  # one visible part, at the centre
    radius = hit_radii(sizes)[0]  # 335 / 8
    measured = random_point_summary(parts, sizes, hit_radii(sizes), draws=200_000)["any"][0]
    return {"radius": float(radius), "by hand": math.pi * radius ** 2 / (500 * 335), "measured": float(measured)}


def real_birds_at_the_head(out_dir, data_root=None, runs_dir=None) -> dict[str, float]:
    """Chapter 07: the papermill run with Lite0 cut at its head; returns the map side in cells and the hit rates."""
    from bookkit.chapters import execute_chapter
    from bookkit.display import glued_values
    from bookkit.exercises import EXERCISE_RUNS

    chapter, params = EXERCISE_RUNS["ex-real-head"]
    notebook = execute_chapter(chapter, out_dir, {**params, "data_root": data_root, "runs_dir": runs_dir})
    glued = glued_values(notebook)
    return {"cells": int(glued["fmap_cells"]), "group 1": float(glued["hit_g1"]), "group 2": float(glued["hit_g2"])}


def part_box_by_hand() -> dict[str, float]:
    """Chapter 06: a fixed point at the centre of three 64-pixel images whose bird (a 32 × 32 box) has its
    head near the middle: the share of hits within side/8 = 8 pixels, and the part-box score (squares of a
    quarter of the bird's size, 8 pixels, IoU > 0.5), for the fixed point and for a point on the head."""
    import numpy as np

    from sgma_core.localization import hit_rates, part_box_score

    head = np.array([[[30.0, 28.0, 1.0]], [[36.0, 32.0, 1.0]], [[28.0, 36.0, 1.0]]])  # [N = 3, Q = 1, (x, y, visible)]
    boxes = np.array([[15.5, 15.5, 32.0, 32.0]] * 3)  # the bird's box (x, y, w, h): squares of side 32 / 4 = 8
    centre = np.full((3, 1, 2), 31.5)  # the image centre, the same point in every image
    # offsets from the head (1.5, 3.5), (4.5, 0.5), (3.5, 4.5): all within 8 pixels, so all three hit;
    # overlaps of two 8-pixel squares (8 − 1.5)(8 − 3.5) = 29.25, 26.25, 15.75: IoU 0.30, 0.26, 0.14
    return {"hits, centre": float(hit_rates(centre, head, 8.0)[0]),
            "part-box, centre": float(part_box_score(centre, head, boxes)["score"][0]),
            "part-box, on the head": float(part_box_score(head[..., :2], head, boxes)["score"][0])}  # (1, 0, 1)


def hit_radius_sweep(data_root=None, runs_dir=None, profile: str = "smoke") -> dict[int, dict]:
    """Chapter 06: the chapter's reference points (image centre, box centre, random points) on the test
    images of ``profile``, scored with the hit radius at side/4, side/8 (the chapter's), side/16 and side/32."""
    from sgma_core.experiment import boxes_at_input_size, parts_at_input_size, prepare_data
    from sgma_core.profiles import make_config
    from sgma_core.studies.looking import references

    prepared = prepare_data(make_config(profile, overrides={"dataset": "SYN"}), data_root, progress=False,
                            runs_dir=runs_dir)
    parts, telling, _ = parts_at_input_size(prepared)
    boxes = boxes_at_input_size(prepared)
    return {d: references(prepared, parts, telling, prepared.image_size / d, boxes, n_points=2)  # as make looking
            for d in (4, 8, 16, 32)}


def fewer_seeds(out_dir, record_path=None, seeds=(0, 1), data_root=None) -> dict:
    """Chapter 06: the study's record cut to ``seeds``, each control's paired difference of test T1 worked
    out by hand, and the chapter rendered with the cut record (``-p record_path …``): the paired standard
    errors with all seeds and with ``seeds``, and the answer the chapter gives with ``seeds``."""
    import json
    from pathlib import Path

    import numpy as np

    from bookkit.chapters import execute_chapter
    from bookkit.display import glued_values
    from sgma_core.studies.looking import default_path, paired_with_book, read_record

    full = read_record(record_path or default_path("cpu"))
    rows = [r for r in full["rows"] if r["seed"] in seeds]
    cut = {**full, "seeds": list(seeds), "rows": rows, "paired": paired_with_book(rows)}
    by_hand = {}
    for control in cut["paired"]:
        book = {r["seed"]: r["T1"] for r in rows if r["control"] == "book"}
        d = np.array([r["T1"] - book[r["seed"]] for r in rows if r["control"] == control])  # one per seed
        by_hand[control] = (float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d))))  # mean, paired SE
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    path = Path(out_dir) / "looking-cut.json"
    path.write_text(json.dumps(cut, indent=1), encoding="utf-8")
    notebook = execute_chapter("06_where_to_look", out_dir, {"record_path": str(path), "data_root": data_root})
    return {"by hand": by_hand, "paired": cut["paired"], "all seeds": full["paired"],
            "answer": glued_values(notebook)["answer"]}
