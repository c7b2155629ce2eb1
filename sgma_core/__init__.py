"""sgma_core: the tested library behind the SGMA book.

* the method, one module per part of the paper, importing nothing from the engine:
  :mod:`~sgma_core.backbones` (``f(x)``, eq. (1)), :mod:`~sgma_core.attention` (eqs. (2), (3),
  (11)), :mod:`~sgma_core.cropping` (eq. (4)), :mod:`~sgma_core.centres` (where its squares go),
  :mod:`~sgma_core.compatibility`, :mod:`~sgma_core.losses` (eqs. (5)–(9)), :mod:`~sgma_core.baseline`,
  :mod:`~sgma_core.sgma` (the whole model and its objective), :mod:`~sgma_core.inference` (eq. (10), the rules),
  :mod:`~sgma_core.metrics`, :mod:`~sgma_core.localization`;
* :mod:`sgma_core.data` — one reader per dataset format, images, the decode cache;
* :mod:`sgma_core.engine` — the one training step, ``fit``, the run store, several processes;
* :mod:`sgma_core.experiment` — what the chapters call: prepare data, train, evaluate;
  :mod:`~sgma_core.profiles` — every setting, and the profiles;
* command lines: ``python -m bookkit.chapters``, ``python -m sgma_core.train``,
  ``python -m sgma_core.step_throughput``.
"""

from sgma_core import dispatch as _dispatch

_dispatch.pin()  # before the first tensor operation: the CPU instruction sets every run computes with

__version__ = "0.1.0"
