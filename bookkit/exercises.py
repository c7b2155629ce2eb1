"""The exercises that are papermill runs: which chapter each executes, with which parameters, and the
command a reader types. ``make run-times`` times each after the chapters; ``book/solutions/<chapter>.py`` run them."""

from __future__ import annotations

import yaml

from bookkit.sources import declared_parameters

# label → (chapter, parameters besides profile and the folders). `make run-times` times each after the
# chapters (their stored runs reused, as for a reader who ran the chapter first); the chapter glues
# ``run_time_<label>_<profile>``.
EXERCISE_RUNS = {
    "ex-baseline-no-learning": ("02_baseline", {"seeds": [0], "overrides": {"lr": 1e-7}}),
    "ex-learned-centre": ("04_sgma_training", {"seeds": [0], "overrides": {"centre_rule": "learned"}}),
    "ex-real-head": ("07_real_birds", {"layer": "head", "frozen": False}),
}


def exercise_command(label: str, profile: str = "smoke") -> str:
    """The shell command of a papermill exercise, as a reader types it."""
    chapter, params = EXERCISE_RUNS[label]
    parts = [f"python -m bookkit.chapters {chapter}"]
    if "profile" in declared_parameters(chapter):
        parts.append(f"-p profile {profile}")
    for key, value in params.items():
        if isinstance(value, (list, dict)):
            parts.append(f"-p {key} '{yaml.safe_dump(value, default_flow_style=True).strip()}'")
        else:
            parts.append(f"-p {key} {str(value).lower() if isinstance(value, bool) else value}")
    return " ".join(parts) + f" --out runs/exercises/{label}"

