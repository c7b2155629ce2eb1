"""Module docstrings state a contract in a screenful: what the module is for, what it takes and returns,
what it refuses. The narrative and the measured numbers live in records and chapters, where they are
recomputed."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_DOCSTRING_LINES = 14
PACKAGES = ("sgma_core", "bookkit", "data_prep", "benchmarks")
CHECKED = sorted(str(p.relative_to(ROOT)) for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


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
