"""sgma_core: the tested library behind the SGMA book.

* the method, one module per part of the paper, importing nothing from the engine:
  :mod:`~sgma_core.backbones` (``f(x)``, eq. (1)), :mod:`~sgma_core.attention` (eqs. (2), (3),
  (11)), :mod:`~sgma_core.cropping` (eq. (4)), :mod:`~sgma_core.compatibility`,
  :mod:`~sgma_core.losses` (eqs. (5)–(9)), :mod:`~sgma_core.baseline`, :mod:`~sgma_core.sgma`
  (the whole model and its objective), :mod:`~sgma_core.inference` (eq. (10), the rules),
  :mod:`~sgma_core.metrics`, :mod:`~sgma_core.localization`;
* :mod:`sgma_core.data` — one reader per dataset format, images, the decode cache;
* :mod:`sgma_core.engine` — the one training step, ``fit``, the run store, several processes;
* :mod:`sgma_core.experiment` — what the chapters call: prepare data, train, evaluate;
  :mod:`~sgma_core.profiles` — every setting, and the profiles;
* command lines: ``python -m sgma_core.chapters``, ``python -m sgma_core.train``,
  ``python -m sgma_core.benchmark``.
"""

__version__ = "0.1.0"

import importlib
import importlib.abc
import importlib.util
import sys

# Modules that moved when the package was split by concern; their old names still import
# (the same module objects), so scripts written against them keep working.
MOVED = {"sgma_core.training": "sgma_core.engine.fit", "sgma_core.distributed": "sgma_core.engine.distributed",
         "sgma_core.images": "sgma_core.data.images", "sgma_core.cache": "sgma_core.data.cache"}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name in MOVED else None

    def create_module(self, spec):
        module = importlib.import_module(MOVED[spec.name])
        self._spec = module.__spec__
        return module

    def exec_module(self, module):
        module.__spec__ = self._spec  # the import machinery has just set the old name's spec


sys.meta_path.append(_MovedModules())
