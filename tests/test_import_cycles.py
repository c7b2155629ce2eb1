"""No module of the project imports, through any chain of imports, a module that imports it back: every import
counts, at the top of a module, inside a function (where a cycle hides until the function runs) or under
``if TYPE_CHECKING``. A cycle makes the order in which modules load matter and two modules one."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sgma_core", "bookkit", "data_prep", "benchmarks")


def project_modules(root: Path, packages=PACKAGES) -> dict[str, Path]:
    """``{dotted name: file}`` of every module of ``packages`` under ``root`` (a package by its ``__init__``)."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _project_module(name: str, modules: dict[str, Path], importer: str) -> str | None:
    """The project module that importing ``name`` from ``importer`` loads: ``name`` itself or the package that holds
    it; a module of ``benchmarks/`` also imports its neighbours by their bare names (its folder is on the path)."""
    candidates = [name] + ([f"benchmarks.{name}"] if importer.startswith("benchmarks.") else [])
    for candidate in candidates:
        while candidate:
            if candidate in modules:
                return candidate
            candidate = candidate.rpartition(".")[0]
    return None


def _imported(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool) -> list[str]:
    """The dotted names an import statement of ``importer`` names: ``import a.b`` gives ``a.b``, ``from a import b``
    gives ``a.b`` (the module ``a.b`` where there is one, else the name ``b`` of ``a``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = importer.split(".") if is_package else importer.split(".")[:-1]
        package = package[:len(package) - node.level + 1]
        base = ".".join(package + ([base] if base else []))
    return [f"{base}.{alias.name}" for alias in node.names]


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """``{module: the project modules it imports}``, counting every import statement wherever it stands."""
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for imported in _imported(node, name, path.name == "__init__.py"):
                    found = _project_module(imported, modules, name)
                    if found and found != name:
                        targets.add(found)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle ``[a, b, …, a]`` through each group of modules that import each other."""
    found, state = [], {}  # state: 1 while a module's imports are being followed, 2 once done
    for start in sorted(graph):
        if state.get(start):
            continue
        path, todo = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while todo:
            nxt = next(todo[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                todo.pop()
            elif state.get(nxt) == 1:
                found.append(path[path.index(nxt):] + [nxt])
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                todo.append(iter(sorted(graph[nxt])))
    return found


def test_no_import_cycle_in_the_project():
    found = cycles(import_graph(project_modules(ROOT)))
    assert not found, "import cycles: " + "; ".join(" → ".join(cycle) for cycle in found)


@pytest.mark.parametrize("where", ["top", "function", "type_checking"])
def test_a_cycle_is_found_wherever_its_import_stands(tmp_path, where):
    package = tmp_path / "bookkit"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from bookkit.b import f\n")
    back = {"top": "from bookkit import a\n",
            "function": "def f():\n    from bookkit.a import g\n    return g\n",
            "type_checking": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\n"}[where]
    (package / "b.py").write_text(back)
    (package / "c.py").write_text("import bookkit.a\n")  # imports into the cycle, is not part of it
    assert cycles(import_graph(project_modules(tmp_path, ("bookkit",)))) == [["bookkit.a", "bookkit.b", "bookkit.a"]]
