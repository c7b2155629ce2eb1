"""Where SGMA looks on the prepared test images: the images its snapshots are taken of, the part
locations at the run's input size, and the share of the squares' cropped centres that land on a part.

    images = snapshot_images(prepared)                   # every test image, unseen classes first
    _, _, info = train_sgma(prepared, config, snapshot_images=images)
    parts, telling, radius = parts_at_input_size(prepared)   # [N, Q, 3] at the input size, [Q], pixels
    centre_hits(info["snapshots"][-1], parts, telling, radius, prepared.image_size)   # {"any": …, "telling": …}

Peaks, square centres and parts follow :mod:`sgma_core.localization`'s pixel convention.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from sgma_core.admissibility import attention_check
from sgma_core.centres import CentreRule, rule_named
from sgma_core.cropping import clamp_square
from sgma_core.engine.step import TrainData
from sgma_core.experiment.evaluate import sgma_outputs
from sgma_core.experiment.prepare import PreparedData
from sgma_core.localization import discriminative_parts, hit_radius, hit_rates, map_peaks, scale_boxes, scale_parts


def snapshot_rows(prepared: PreparedData) -> np.ndarray:
    """The dataset rows of :func:`snapshot_images`, in its order: ``[N]``."""
    return np.concatenate([prepared.test_unseen_rows, prepared.test_seen_rows])


def snapshot_images(prepared: PreparedData) -> torch.Tensor:
    """Every prepared test image, unseen classes first (uint8 ``[N, 3, S, S]``): what chapter 04 and
    ``python -m sgma_core.train`` keep SGMA's maps of after every epoch."""
    return torch.cat([prepared.test_unseen_images, prepared.test_seen_images])


def parts_at_input_size(prepared: PreparedData) -> tuple[np.ndarray, np.ndarray, float]:
    """The part locations of :func:`snapshot_rows` at the run's input size ``[N, Q, 3]``, which parts tell the
    classes apart ``[Q]`` (:func:`~sgma_core.localization.discriminative_parts`), and the hit radius
    (an eighth of the input side). :class:`ValueError` when the dataset has no part annotations."""
    ds = prepared.dataset
    if ds.part_locs is None:
        raise ValueError(f"{ds.name} has no part annotations: where the squares land cannot be scored.")
    rows = snapshot_rows(prepared)
    parts = scale_parts(ds.part_locs[rows], prepared.sizes_of(rows), prepared.image_size)
    telling = discriminative_parts(ds.part_names, ds.attribute_names or [], ds.att)
    return parts, telling, hit_radius(prepared.image_size)


def boxes_at_input_size(prepared: PreparedData) -> np.ndarray:
    """The birds' boxes ``[N, 4]`` (x, y, w, h) of :func:`snapshot_rows` at the run's input size."""
    ds = prepared.dataset
    if ds.boxes is None:
        raise ValueError(f"{ds.name} has no bounding boxes.")
    rows = snapshot_rows(prepared)
    return scale_boxes(ds.boxes[rows], prepared.sizes_of(rows), prepared.image_size)


def snapshot_points(snapshot: dict, size: int) -> np.ndarray:
    """The square centres of a snapshot (``tx``, ``ty``, ``ts`` ``[N, P]``) as cropped from ``size``-pixel images,
    points ``[N, P, 2]`` (:func:`cropped_centres`: a square reaching past the edge is moved inside before it is
    cropped)."""
    return cropped_centres(snapshot, size)


def centre_hits(snapshot: dict, parts: np.ndarray, telling: np.ndarray, radius: float, size: int) -> dict[str, float]:
    """Share of the squares' cropped centres (all squares, all images; :func:`snapshot_points`) within ``radius``
    of a visible part, and of a part that tells the classes apart: under every centre rule, where the crops are."""
    points = snapshot_points(snapshot, size)
    if len(points) != len(parts):
        raise ValueError(f"a snapshot of {len(points)} images scored against the parts of {len(parts)}: "
                         "take the snapshots of snapshot_images(prepared).")
    return {"any": float(hit_rates(points, parts, radius).mean()),
            "telling": float(hit_rates(points, parts[:, telling], radius).mean())}


def _parts_of(prepared: PreparedData, rows: np.ndarray) -> tuple[np.ndarray, list[str], np.ndarray]:
    """What a centre rule that needs the parts is told of dataset ``rows``: their parts at the input size
    ``[N, Q, 3]``, the parts' names and which of them tell the classes apart ``[Q]``."""
    ds = prepared.dataset
    parts = scale_parts(ds.part_locs[rows], prepared.sizes_of(rows), prepared.image_size)
    return parts, ds.part_names, discriminative_parts(ds.part_names, ds.attribute_names or [], ds.att)


def with_part_guides(prepared: PreparedData, show) -> PreparedData:
    """The prepared data as a centre rule that needs the parts sees it (the oracle control: every image with the
    ground-truth places of its two squares painted in after its three channels): ``show`` is the rule's
    :meth:`~sgma_core.centres.CentreRule.show`. :class:`ValueError` when the dataset has no part annotations."""
    if prepared.dataset.part_locs is None:
        raise ValueError(f"{prepared.dataset.name} has no part annotations: a centre rule that needs the parts "
                         "cannot be run on it.")
    train = TrainData(show(prepared.train.images, *_parts_of(prepared, prepared.trainval_rows)), prepared.train.labels)
    return dataclasses.replace(
        prepared, train=train,
        test_unseen_images=show(prepared.test_unseen_images, *_parts_of(prepared, prepared.test_unseen_rows)),
        test_seen_images=show(prepared.test_seen_images, *_parts_of(prepared, prepared.test_seen_rows)))


def _snapshots_shown(prepared: PreparedData, show, images: torch.Tensor) -> torch.Tensor:
    """:func:`snapshot_images` ``images`` as ``show`` (a rule's that needs the parts) shows them; other images
    are refused, their parts are not known."""
    if images.shape[0] != len(snapshot_rows(prepared)) or not torch.equal(images, snapshot_images(prepared)):
        raise ValueError("a centre rule that needs the parts is shown the test images of snapshot_images(prepared) "
                         "only: their parts are known.")
    return show(images, *_parts_of(prepared, snapshot_rows(prepared)))


def shown_to(prepared: PreparedData, rule: CentreRule, images: torch.Tensor | None = None):
    """``(data, images)``: what a model of centre ``rule`` is trained and scored on, and is given for the
    :func:`snapshot_images` ``images`` (None: None): ``prepared`` and ``images`` themselves, or, for a centre
    rule that needs the parts (the oracle control), both as the rule shows them."""
    if not rule.needs_parts:
        return prepared, images
    return with_part_guides(prepared, rule.show), None if images is None else _snapshots_shown(prepared, rule.show,
                                                                                              images)


def data_for(prepared: PreparedData, config) -> PreparedData:
    """The prepared data a model of ``config`` is trained and scored on (:func:`shown_to`)."""
    return shown_to(prepared, rule_named(config.centre_rule))[0]


def model_inputs(prepared: PreparedData, config, images: torch.Tensor) -> torch.Tensor:
    """What a model of ``config`` is given for :func:`snapshot_images` ``images``: the images themselves, or,
    for a centre rule that needs the parts, the images as the rule shows them."""
    rule = rule_named(config.centre_rule)
    return _snapshots_shown(prepared, rule.show, images) if rule.needs_parts else images


def cropped_centres(outputs: dict, size: int) -> np.ndarray:
    """The centres of the squares as cropped ``[N, P, 2]``: moved inside the image as eq. (4)'s crop moves them
    (:func:`~sgma_core.cropping.clamp_square`), so that a whole-image square is centred on the image."""
    tx, ty, _ = clamp_square(*(torch.as_tensor(outputs[k]) for k in ("tx", "ty", "ts")), size, size)
    return np.stack([tx.numpy(), ty.numpy()], axis=-1)


def attention_check_of(model, prepared: PreparedData, config) -> dict:
    """The functional check of :mod:`sgma_core.admissibility` for ``model`` on ``prepared``'s test images
    (for a validation model: the validation classes' images and the held-out images of its training
    classes): where its cropped squares lie and where its maps peak, against the annotated parts."""
    images = snapshot_images(prepared)
    outputs = sgma_outputs(model, model_inputs(prepared, config, images), prepared.phi_gzsl)
    parts, telling, radius = parts_at_input_size(prepared)
    return attention_check(cropped_centres(outputs, prepared.image_size), map_peaks(outputs["maps"]), parts,
                           telling, radius, prepared.image_size)
