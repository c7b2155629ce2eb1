"""What the chapters call: a dataset prepared for a run, the training recipes, and evaluation.

* :mod:`~sgma_core.experiment.prepare` — :func:`prepare_data`: images in memory at a run's size;
* :mod:`~sgma_core.experiment.recipes` — :func:`pretrained_backbone`, :func:`train_baseline`,
  :func:`train_sgma` (with eq. (11)'s initialisation), each a stored, resumable run;
* :mod:`~sgma_core.experiment.evaluate` — one batched forward pass, the three rules' scores,
  ZSL/GZSL metrics, calibrated stacking, mean ± sd over seeds;
* :mod:`~sgma_core.experiment.where` — the test images SGMA's maps are kept of, and where their peaks
  land against the parts;
* :mod:`~sgma_core.experiment.real_birds` — eq. (11)'s channel groups on real photographs (chapter 07).

The studies that write records (``results/``) are in :mod:`sgma_core.studies`.
"""

from sgma_core.experiment.evaluate import (
    batched_forward,
    calibrated_gzsl,
    class_prototypes,
    mean_sd_by_metric,
    predict_scores,
    sgma_evaluator,
    sgma_outputs,
    sgma_rule_scores,
    zsl_evaluator,
)
from sgma_core.experiment.prepare import PreparedData, prepare_data
from sgma_core.experiment.recipes import (
    build_sgma,
    initialise_grouping,
    pretrained_backbone,
    train_baseline,
    train_sgma,
)
from sgma_core.experiment.where import (
    attention_check_of,
    boxes_at_input_size,
    centre_hits,
    cropped_centres,
    data_for,
    model_inputs,
    parts_at_input_size,
    shown_to,
    snapshot_images,
    snapshot_points,
    snapshot_rows,
    with_part_guides,
)

__all__ = ["PreparedData", "attention_check_of", "batched_forward", "boxes_at_input_size", "build_sgma",
           "calibrated_gzsl", "centre_hits", "class_prototypes", "cropped_centres", "data_for", "initialise_grouping",
           "mean_sd_by_metric", "model_inputs", "parts_at_input_size", "predict_scores", "prepare_data",
           "pretrained_backbone", "sgma_evaluator", "sgma_outputs", "sgma_rule_scores", "shown_to", "snapshot_images",
           "snapshot_points", "snapshot_rows", "train_baseline", "train_sgma", "with_part_guides", "zsl_evaluator"]
