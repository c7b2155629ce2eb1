"""The training engine: how any model of the method is trained, stored and resumed.

* :mod:`~sgma_core.engine.step` — :func:`~sgma_core.engine.step.train_step`, the one optimiser step
  (forward and loss, backward, update), and the batch it is given;
* :mod:`~sgma_core.engine.loop` — :func:`~sgma_core.engine.loop.fit`: epochs of steps, the plateau
  schedule, evaluation, progress;
* :mod:`~sgma_core.engine.runs` — the run store: a run's identity and folder, checkpoints,
  metrics as JSON Lines, "train only if missing";
* :mod:`~sgma_core.engine.distributed` — several processes (``torchrun``): DistributedDataParallel
  as a wrapper around the same step, sharded evaluation.

The engine imports the method's modules, never the other way round.
"""
