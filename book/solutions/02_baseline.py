"""Chapter 02, *The baseline: pooled features, a compatibility matrix and the embedding softmax*:
the solutions of its exercises, as code that ``tests/test_exercises.py`` runs against the answers the chapter states."""

from __future__ import annotations


def softmax_loss_by_hand() -> tuple[float, float]:
    """Chapter 02: eq. (7) for one image of seen class 0 with compatibility scores (2, 0, −1)."""
    import math

    import torch

    from sgma_core.losses import embedding_softmax_loss

    by_hand = math.log(1 + math.exp(-2) + math.exp(-3))  # −log(e² / (e² + e⁰ + e⁻¹))
    library = embedding_softmax_loss(torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([0])).item()
    return by_hand, library  # both 0.170


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
