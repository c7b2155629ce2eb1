"""Evaluation of trained models: one batched forward pass, the scores of the three inference rules,
ZSL / GZSL metrics (METHOD §6), calibrated stacking with γ from validation classes, and
mean ± std over seeds."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from sgma_core import stats
from sgma_core.data.images import normalize
from sgma_core.engine import distributed
from sgma_core.experiment.prepare import PreparedData
from sgma_core.inference import (
    RULES,
    calibrated_stacking,
    choose_gamma,
    ridge_coefficients,
    rule_scores,
    seen_prototypes,
    unseen_prototypes,
)
from sgma_core.metrics import zsl_gzsl
from sgma_core.profiles import RunConfig

SGMA_OUTPUTS = ("scores", "emb", "maps", "tx", "ty", "ts")  # what sgma_outputs keeps of SGMA's forward


MAX_SIDE_BY_SIDE = 8  # evaluation batches computed at once, at most


def side_by_side(device: torch.device) -> int:
    """How many whole evaluation batches :func:`batched_forward` computes at once, each in a thread of its own:
    on the CPU, one per core this process may use beyond its torch threads (each batch computes as it would alone:
    the same rows, one thread's kernels, so the results are the same), at most :data:`MAX_SIDE_BY_SIDE`; one on
    an accelerator, under autocast (a thread's own setting, which a new thread would not share), and in a process
    that runs at a lower priority (niceness above 0: it leaves the other cores to the work it yields to)."""
    if device.type != "cpu" or torch.is_autocast_enabled(device.type) or (hasattr(os, "nice") and os.nice(0) > 0):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(MAX_SIDE_BY_SIDE, cores // max(1, torch.get_num_threads())))


@torch.no_grad()
def batched_forward(model: torch.nn.Module, images: torch.Tensor, phi: torch.Tensor | None, batch_size: int = 128,
                    keys: tuple[str, ...] | None = None):
    """``model(x, phi)`` in eval mode over uint8 ``images`` ``[N, 3, S, S]``, in batches, as numpy.

    The model returns a tensor ``[B, …]`` (the result is ``[N, …]``) or a dict, of which ``keys``
    are kept (the result is ``{key: [N, …]}``). In a distributed run every rank must call this:
    each computes its share of whole batches and the shares are gathered, so every rank gets all
    ``N`` rows, computed in the same batches as by one process. Batches run :func:`side_by_side`.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    names = keys or ("",)
    phi = None if phi is None else phi.to(device)

    def one_batch(i: int) -> list[torch.Tensor]:
        with torch.no_grad():  # a thread's own setting: set in each
            res = model(normalize(images[i : i + batch_size].to(device)), phi)
            return [(res[k] if keys else res).float().cpu() for k in names]

    rows = distributed.shard_range(images.shape[0], batch_size)
    starts = range(rows.start, rows.stop, batch_size)
    threads = min(side_by_side(device), len(starts))
    try:
        if threads > 1:
            with ThreadPoolExecutor(threads) as pool:
                batches = list(pool.map(one_batch, starts))  # in the order of the rows
        else:
            batches = [one_batch(i) for i in starts]
    finally:
        model.train(was_training)
    out = {k: [b[j] for b in batches] for j, k in enumerate(names)}
    gathered = {k: distributed.all_gather_rows(torch.cat(v).numpy() if v else None) for k, v in out.items()}
    return gathered if keys else gathered[""]


def predict_scores(model: torch.nn.Module, images: torch.Tensor, phi: torch.Tensor | None,
                   batch_size: int = 128) -> np.ndarray:
    """Scores ``[N, Y]`` of a model that returns scores (the baseline, a seen-class classifier)."""
    return batched_forward(model, images, phi, batch_size)


def sgma_outputs(model, images: torch.Tensor, phi: torch.Tensor, batch_size: int = 64) -> dict[str, np.ndarray]:
    """SGMA's scores ``[N, Y]``, embeddings ``[N, D]``, maps ``[N, P, h, w]`` and squares ``[N, P]``."""
    return batched_forward(model, images, phi, batch_size, keys=SGMA_OUTPUTS)


def zsl_evaluator(prepared: PreparedData):
    """``evaluate(model) → {T1, u, s, H}`` on the prepared test sets (METHOD §6)."""

    def evaluate(model: torch.nn.Module) -> dict:
        su = predict_scores(model, prepared.test_unseen_images, prepared.phi_gzsl)
        ss = predict_scores(model, prepared.test_seen_images, prepared.phi_gzsl)
        return zsl_gzsl(su, ss, prepared.test_unseen_labels, prepared.test_seen_labels, prepared.n_seen)

    return evaluate


def seen_class_means(model, prepared: PreparedData, config: RunConfig) -> np.ndarray:
    """``P_s`` ``[D, S]`` of the ``cct`` rule: the mean embedding of the first ``config.prototype_images``
    trainval images of each seen class (all of them where it is None)."""
    labels = prepared.train.labels.numpy()
    proto_rows = np.concatenate([np.flatnonzero(labels == c)[: config.prototype_images or None]
                                 for c in range(prepared.n_seen)])
    train = sgma_outputs(model, prepared.train.images[proto_rows], prepared.phi_gzsl)
    return seen_prototypes(train["emb"], labels[proto_rows], prepared.n_seen)


def class_prototypes(model, prepared: PreparedData, config: RunConfig, seen_means: np.ndarray | None = None
                     ) -> np.ndarray:
    """Prototypes ``[D, S+U]`` of the ``cct`` rule: seen ones are :func:`seen_class_means` (given as
    ``seen_means``, or computed), unseen ones follow by eq. (10) with ``config.ridge_lambda``; with
    ``config.prototype_norm`` every column has unit length."""
    beta = ridge_coefficients(prepared.phi_seen.numpy(), prepared.phi_gzsl[:, prepared.n_seen:].numpy(),
                              config.ridge_lambda)
    p_s = seen_class_means(model, prepared, config) if seen_means is None else seen_means
    prototypes = np.concatenate([p_s, unseen_prototypes(p_s, beta)], axis=1)  # [D, S+U]
    if config.prototype_norm:  # cosine scores: ϕ̂(x) is on the unit sphere, so are the prototypes then
        prototypes = prototypes / np.maximum(np.linalg.norm(prototypes, axis=0, keepdims=True), 1e-12)
    return prototypes


def sgma_rule_scores(model, prepared: PreparedData, config: RunConfig, seen_means: np.ndarray | None = None
                     ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """GZSL scores ``[N, S+U]`` of the three rules on ``test_unseen`` and ``test_seen``:
    ``{rule: (scores_unseen_images, scores_seen_images)}`` (``seen_means``: :func:`seen_class_means`, if known)."""
    protos = class_prototypes(model, prepared, config, seen_means)
    tu = sgma_outputs(model, prepared.test_unseen_images, prepared.phi_gzsl)
    ts = sgma_outputs(model, prepared.test_seen_images, prepared.phi_gzsl)
    return {rule: (rule_scores(rule, tu["scores"], tu["emb"], protos),
                   rule_scores(rule, ts["scores"], ts["emb"], protos))
            for rule in RULES}


def sgma_evaluator(prepared: PreparedData, config: RunConfig):
    """``evaluate(model)``: ZSL/GZSL for the three rules (``T1`` … for ``compat``, ``cct_T1`` …,
    ``combined_T1`` …), from :func:`sgma_rule_scores`; ``evaluate.last_scores`` keeps the scores of
    its last call, ``evaluate.last_seen_means`` the seen prototypes they used (:func:`seen_class_means`)."""

    def evaluate(model) -> dict:
        out = {}
        evaluate.last_seen_means = seen_class_means(model, prepared, config)
        evaluate.last_scores = sgma_rule_scores(model, prepared, config, evaluate.last_seen_means)
        for rule, (su, ss) in evaluate.last_scores.items():
            m = zsl_gzsl(su, ss, prepared.test_unseen_labels, prepared.test_seen_labels, prepared.n_seen)
            out.update(m if rule == "compat" else {f"{rule}_{k}": v for k, v in m.items()})
        return out

    evaluate.last_scores = evaluate.last_seen_means = None  # the last call's, for whoever needs them after training
    return evaluate


def calibrated_gzsl(val_scores: dict[str, tuple[np.ndarray, np.ndarray]], val_prepared: PreparedData,
                    test_scores: dict[int, dict[str, tuple[np.ndarray, np.ndarray]]],
                    prepared: PreparedData) -> dict[str, dict]:
    """Calibrated stacking with ``γ`` chosen on validation classes, applied to test scores.

    ``val_scores``: ``{rule: (scores of val_unseen images, scores of held-out seen images)}`` from a
    model trained on the validation split (:func:`sgma_core.data.validation_split`); ``test_scores``:
    ``{seed: {rule: (test_unseen scores, test_seen scores)}}`` (as :func:`sgma_rule_scores` gives).
    Returns per rule: ``gamma``, validation ``val_H0`` (γ = 0) and ``val_H`` (at γ), and the test
    metrics of every seed, ``plain`` and ``calibrated`` (lists of ``{T1, u, s, H}``).
    """
    out = {}
    val_labels = (val_prepared.test_unseen_labels, val_prepared.test_seen_labels, val_prepared.n_seen)
    test_labels = (prepared.test_unseen_labels, prepared.test_seen_labels, prepared.n_seen)
    for rule, (su, ss) in val_scores.items():
        gamma, h_val = choose_gamma(su, ss, *val_labels)
        plain, calibrated = [], []
        for scores in test_scores.values():
            tu, ts = scores[rule]
            plain.append(zsl_gzsl(tu, ts, *test_labels))
            calibrated.append(zsl_gzsl(calibrated_stacking(tu, prepared.n_seen, gamma),
                                       calibrated_stacking(ts, prepared.n_seen, gamma), *test_labels))
        out[rule] = {"gamma": gamma, "val_H0": zsl_gzsl(su, ss, *val_labels)["H"], "val_H": h_val,
                     "plain": plain, "calibrated": calibrated}
    return out


def mean_sd_by_metric(results: list[dict], keys=("T1", "u", "s", "H")) -> dict[str, tuple[float, float | None]]:
    """``{metric: (mean, sample sd)}`` over ``results`` (one per seed) for each of ``keys``; the sd is ``None``
    for a single seed (:func:`sgma_core.stats.mean_sd`)."""
    return {k: stats.mean_sd(r[k] for r in results) for k in keys}
