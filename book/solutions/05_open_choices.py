"""Chapter 05, *What the paper leaves open, decided on validation classes*:
the solutions of its exercises, as code that ``tests/test_exercises.py`` runs against the answers the chapter states."""

from __future__ import annotations


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


def plateau_cuts(cpt=0.1, div=8.0, trained=(0.6, 0.45, 0.35, 0.3), lams=(1.0, 0.1)) -> dict[float, int | None]:
    """Chapter 05: the epoch after which the plateau schedule (the cpu profile's: 5 % relative, patience 1) first
    cuts the learning rate, for each λ, when eqs. (5)-(6) stay at ``cpt`` and ``div`` (a frozen attention) and
    α L_CLS + β L_CCT falls as ``trained``; ``None``: never."""
    import torch

    from sgma_core.profiles import make_config

    cfg, cuts = make_config("cpu"), {}
    for lam in lams:
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg.lr)
        schedule = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=cfg.lr_factor, patience=cfg.plateau_patience,
            threshold=cfg.plateau_threshold, threshold_mode="rel")
        cuts[lam] = None
        for epoch, rest in enumerate(trained, 1):
            schedule.step(cpt + lam * div + rest)  # the epoch's training loss, eq. (9)
            if optimizer.param_groups[0]["lr"] < cfg.lr:
                cuts[lam] = epoch
                break
    return cuts


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
