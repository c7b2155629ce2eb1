"""The library's shape: short functions and modules, and imports that point one way (bookkit uses
sgma_core, never the reverse; the method's modules use neither the engine nor the studies)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = [*sorted((ROOT / "sgma_core").rglob("*.py")), *sorted((ROOT / "bookkit").rglob("*.py")),
           *sorted((ROOT / "data_prep").rglob("*.py")), *sorted((ROOT / "benchmarks").glob("*.py")),
           *sorted((ROOT / "_ext").glob("*.py")), *sorted((ROOT / "book" / "solutions").glob("*.py"))]
MAX_FUNCTION, MAX_MODULE = 60, 400
METHOD = ("attention", "backbones", "baseline", "centres", "compatibility", "cropping", "inference", "localization",
          "losses", "metrics", "sgma")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module} | \
           {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_long_module_or_function(path):
    source = path.read_text(encoding="utf-8")
    assert len(source.splitlines()) <= MAX_MODULE, f"{path.name}: {len(source.splitlines())} lines"
    long = [(node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION]
    assert not long, f"{path.name}: functions over {MAX_FUNCTION} lines: {long}"


def test_sgma_core_never_imports_the_books_tools():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "sgma_core").rglob("*.py")
                 if any(m.split(".")[0] == "bookkit" for m in _imports(p))]
    assert not offenders


@pytest.mark.parametrize("name", METHOD)
def test_the_method_imports_neither_the_engine_nor_what_calls_it(name):
    above = ("sgma_core.engine", "sgma_core.experiment", "sgma_core.studies", "sgma_core.train",
             "sgma_core.step_throughput")
    imported = _imports(ROOT / "sgma_core" / f"{name}.py")
    assert not [m for m in imported if m.startswith(above)]
