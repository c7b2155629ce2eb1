"""Chapter 03, *The SGMA model, equation by equation*:
the solutions of its exercises, as code that ``tests/test_exercises.py`` runs against the answers the chapter states."""

from __future__ import annotations


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


def a_centre_rule_of_your_own() -> tuple[list[float], list[float], list[float]]:
    """A centre rule written outside the library (every square in the image's top-left corner),
    registered, and a smoke-profile SGMA placing its squares with it; the registry is left as it was."""
    import torch

    from sgma_core import centres
    from sgma_core.backbones import backbone_for
    from sgma_core.profiles import make_config
    from sgma_core.sgma import SGMA

    class TopLeft(centres.CentreRule):
        name = "top_left"

        def centres(self, seen):  # the middle of a square whose corner is the image's corner
            corner = torch.full(seen.maps.shape[:2], (seen.pixels - 1) / 2, dtype=seen.images.dtype)
            return corner, corner.clone()

    centres.register(TopLeft)
    try:
        config = make_config("smoke", centre_rule="top_left")
        torch.manual_seed(0)
        model = SGMA.from_config(config, n_attributes=6, n_seen=5, backbone=backbone_for(config)).eval()
        with torch.no_grad():
            out = model(torch.rand(2, 3, config.image_size, config.image_size), torch.randn(6, 5))
    finally:
        centres.CENTRE_RULES.pop("top_left")
    return out["tx"][0].tolist(), out["ty"][0].tolist(), out["ts"][0].tolist()
