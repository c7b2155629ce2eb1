"""The studies: standalone commands that train or score many runs and write one record each to
``results/``, which a chapter renders without training (:mod:`sgma_core.records` writes them).

* :mod:`~sgma_core.studies.ablate` — every open choice decided on validation classes
  (``python -m sgma_core.studies.ablate``, ``make ablations``; chapter 05);
* :mod:`~sgma_core.studies.real_start` — the synthetic birds with an ImageNet backbone
  (``make real-start``; chapter 06);
* :mod:`~sgma_core.studies.frozen` — zero-shot CUB on frozen ImageNet features (chapter 06).

They call :mod:`sgma_core.experiment`, as the chapters do; nothing imports them but the chapters
that render their records.
"""
