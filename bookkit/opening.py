"""The opening every training chapter shares: the experiment its papermill parameters make, the device it runs
on, the values its header sentence glues, its recorded run times, and its settings folded in a dropdown."""

from __future__ import annotations

import platform
import time

from bookkit.display import glue, show_settings
from bookkit.run_times import glue_run_times
from sgma_core import child_processes
from sgma_core.profiles import make_experiment, resolve_overrides

DATASET_NAMES = {"SYN": "synthetic birds (SYN)", "CUB": "CUB-200-2011", "AWA2": "AwA2", "FLO": "Oxford flowers",
                 "OWN": "your own dataset (OWN)"}


def open_training_chapter(name: str, profile: str, dataset: str, seeds, overrides):
    """The opening of a training chapter, from its papermill parameters: the experiment it runs
    (:func:`sgma_core.profiles.make_experiment`, every setting checked), the device, and the glued
    values its header sentence and opening show (``profile``, ``dataset_name``, ``device``,
    ``started``, the run times); the settings are shown folded. Returns ``(experiment, device)``."""
    import torch

    from sgma_core.engine.loop import use_threads
    from sgma_core.engine.step import resolve_device

    experiment = make_experiment(profile, {**resolve_overrides(overrides), "dataset": dataset}, seeds)
    config = experiment.config
    child_processes.adopt_niceness()  # a chapter run beside a heavier one yields the core to it (make book)
    use_threads(config)  # the profile's CPU threads, before the chapter computes anything
    device = resolve_device(config.device)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU"
    glue("profile", config.profile, display=False)
    glue("dataset_name", DATASET_NAMES.get(config.dataset, config.dataset), display=False)
    glue("device", f"{device.type} ({device_name})", display=False)
    glue("started", time.strftime("%Y-%m-%d %H:%M %Z"), display=False)
    glue_run_times(name, profile=config.profile)
    show_settings(config, experiment.seeds)
    return experiment, device
