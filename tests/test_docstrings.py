"""Module docstrings state a contract in a screenful: what the module is for, what it takes and returns,
what it refuses. The narrative and the measured numbers live in records and chapters, where they are
recomputed."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_DOCSTRING_LINES = 14
CHECKED = [
    *(f"sgma_core/{name}.py" for name in (
        "admissibility", "attention", "child_processes", "cli", "compatibility", "dispatch", "envcheck",
        "inference", "localization", "losses", "metrics", "step_throughput", "train")),
    *(f"sgma_core/data/{name}.py" for name in ("__init__", "awa2_flo", "cub", "dataset", "digests", "images",
                                                "xlsa17")),
    "sgma_core/engine/distributed.py", "sgma_core/engine/runs.py", "sgma_core/data/cache.py",
    *(f"sgma_core/{name}.py" for name in ("backbones", "checked_weights", "files", "lite0", "profiles",
                                          "start_saving")),
    *(f"bookkit/{name}.py" for name in ("chapters", "notebooks", "opening", "sources")),
    "data_prep/imagenet_weights.py", "data_prep/synthetic_config.py",
    "sgma_core/experiment/real_birds.py",
    "bookkit/plain_markdown.py",
    *(f"data_prep/{name}.py" for name in ("__init__", "archives", "catalog", "download", "errors", "fetch",
                                          "install", "synthetic_folder", "worker_pool")),
    *(f"benchmarks/{name}.py" for name in ("device_bundle", "dispatch", "gpu_check", "gpu_day", "gpu_day_report",
                                           "threads")),
]


@pytest.mark.parametrize("name", CHECKED)
def test_module_docstring_fits_a_screen(name):
    docstring = ast.get_docstring(ast.parse((ROOT / name).read_text(encoding="utf-8")))
    assert docstring, f"{name}: no module docstring"
    lines = len(docstring.splitlines())
    assert lines <= MAX_DOCSTRING_LINES, f"{name}: module docstring of {lines} lines (at most {MAX_DOCSTRING_LINES})"


def test_attention_names_its_default_by_the_setting_that_holds_it():
    """A default repeated by value in prose goes stale when the setting changes; the setting's name does not."""
    docstring = ast.get_docstring(ast.parse((ROOT / "sgma_core" / "attention.py").read_text(encoding="utf-8")))
    assert "RunConfig.attention_norm" in docstring
    assert "(the default" not in docstring  # no choice is called the default by value
