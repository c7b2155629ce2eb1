"""Inference, eq. (10), and the three decision rules of SGMA.

* ``compat``: ``argmax_y s_y`` — the fused compatibility scores;
* ``cct``: ``argmax_y ⟨ϕ(x), P[:, y]⟩`` — the CCT embedding against class prototypes; seen
  prototypes are per-class means of ``ϕ(x)`` over training images, unseen prototypes are built
  from them by eq. (10);
* ``combined``: ``argmax_y (s_y + ⟨ϕ(x), P[:, y]⟩)``. (The reproduction report writes arg min: a typo.)

Calibrated stacking (Chao et al. 2016) is beyond the paper: it is reported beside the plain
numbers, never instead of them.
"""

from __future__ import annotations

import numpy as np

from sgma_core.metrics import zsl_gzsl

RULES = ("compat", "cct", "combined")


def ridge_coefficients(phi_seen: np.ndarray, phi_unseen: np.ndarray, lam: float) -> np.ndarray:
    """Eq. (10): ``β = argmin_β ‖Φ_u − Φ_s β‖² + λ‖β‖²`` in closed form, ``(Φ_sᵀΦ_s + λI)⁻¹ Φ_sᵀ Φ_u``.

    ``phi_seen`` ``[K, S]``, ``phi_unseen`` ``[K, U]`` → ``β`` ``[S, U]``: each unseen class's
    semantics as a combination of the seen classes'.
    """
    phi_seen = np.asarray(phi_seen, dtype=np.float64)
    phi_unseen = np.asarray(phi_unseen, dtype=np.float64)
    if phi_seen.shape[0] != phi_unseen.shape[0]:
        raise ValueError(f"phi_seen has {phi_seen.shape[0]} attributes but phi_unseen has {phi_unseen.shape[0]}")
    if lam < 0:
        raise ValueError(f"lam={lam}: the ridge penalty must be non-negative")
    s = phi_seen.shape[1]
    return np.linalg.solve(phi_seen.T @ phi_seen + lam * np.eye(s), phi_seen.T @ phi_unseen)


def seen_prototypes(emb: np.ndarray, seen_labels: np.ndarray, n_seen: int) -> np.ndarray:
    """``P_s`` ``[D, S]``: the mean CCT embedding ``ϕ(x)`` ``[N, D]`` of each seen class's training images."""
    out = np.zeros((emb.shape[1], n_seen))
    for c in range(n_seen):
        members = emb[seen_labels == c]
        if len(members) == 0:
            raise ValueError(f"seen class {c} has no training image, so it has no prototype")
        out[:, c] = members.mean(0)
    return out


def unseen_prototypes(p_seen: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """``P_u = P_s β`` ``[D, U]``: unseen prototypes as the same combinations of seen prototypes."""
    return p_seen @ beta


def rule_scores(rule: str, compat: np.ndarray, emb: np.ndarray, prototypes: np.ndarray) -> np.ndarray:
    """Scores ``[N, Y]`` of one decision rule from compatibility scores ``[N, Y]``, embeddings
    ``[N, D]`` and prototypes ``[D, Y]`` over the same candidate classes."""
    if rule == "compat":
        return compat
    if rule == "cct":
        return emb @ prototypes
    if rule == "combined":
        return compat + emb @ prototypes
    raise ValueError(f"rule={rule!r}; choose one of {', '.join(RULES)}")


def calibrated_stacking(scores: np.ndarray, n_seen: int, gamma: float) -> np.ndarray:
    """Subtract ``γ`` from the seen-class columns (the first ``n_seen``) of GZSL scores ``[N, S+U]``."""
    out = np.array(scores, dtype=np.float64, copy=True)
    out[:, :n_seen] -= gamma
    return out


def choose_gamma(val_unseen_scores: np.ndarray, val_seen_scores: np.ndarray, val_unseen_labels: np.ndarray,
                 val_seen_labels: np.ndarray, n_seen: int, grid: np.ndarray | None = None) -> tuple[float, float]:
    """The ``γ`` of a grid that maximises H on **validation** classes; returns ``(γ, H)``.

    The scores come from a model whose "unseen" classes are validation classes carved out of the
    seen ones (xlsa17 ``train_loc`` / ``val_loc``), never the test classes.
    """
    if grid is None:
        spread = float(np.std(np.concatenate([val_unseen_scores, val_seen_scores])))
        grid = np.linspace(-2 * spread, 2 * spread, 81)
    best = (0.0, -1.0)
    for g in grid:
        m = zsl_gzsl(calibrated_stacking(val_unseen_scores, n_seen, g), calibrated_stacking(val_seen_scores, n_seen, g),
                     val_unseen_labels, val_seen_labels, n_seen)
        if m["H"] > best[1]:
            best = (float(g), m["H"])
    return best
