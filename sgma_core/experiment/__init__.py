"""What the chapters call: a dataset prepared for a run, the training recipes, and evaluation.

* :mod:`~sgma_core.experiment.prepare` — :func:`prepare_data`: images in memory at a run's size;
* :mod:`~sgma_core.experiment.recipes` — :func:`pretrained_backbone`, :func:`train_baseline`,
  :func:`train_sgma` (with eq. (11)'s initialisation), each a stored, resumable run;
* :mod:`~sgma_core.experiment.evaluate` — one batched forward pass, the three rules' scores,
  ZSL/GZSL metrics, calibrated stacking, mean ± std over seeds.
"""

from sgma_core.experiment.evaluate import (batched_forward, calibrated_gzsl, class_prototypes, predict_scores,
                                           sgma_evaluator, sgma_outputs, sgma_rule_scores, summarize, zsl_evaluator)
from sgma_core.experiment.prepare import PreparedData, prepare_data
from sgma_core.experiment.recipes import (build_sgma, initialise_grouping, pretrained_backbone, train_baseline,
                                          train_sgma)

__all__ = ["PreparedData", "batched_forward", "build_sgma", "calibrated_gzsl", "class_prototypes",
           "initialise_grouping", "predict_scores", "prepare_data", "pretrained_backbone", "sgma_evaluator",
           "sgma_outputs", "sgma_rule_scores", "summarize", "train_baseline", "train_sgma", "zsl_evaluator"]
