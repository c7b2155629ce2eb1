"""The introduction's equation index cannot rot: every function and test it names exists, and every
equation, inference rule and the baseline has a row."""

import ast
import importlib
import re

from sgma_core.paths import repo_root

ROOT = repo_root()
ROW = re.compile(r"^\| *([^|]+?) *\|(.*)\|$")


def index_rows() -> dict[str, list[str]]:
    """``{first cell: [other cells]}`` of the table under the introduction's "Equation index" heading."""
    text = (ROOT / "book" / "00_introduction.md").read_text()
    section = text.split("## Equation index", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = ROW.match(line.strip())
        if m and not set(m.group(1)) <= set("-: ") and m.group(1) != "eq.":
            rows[m.group(1)] = [c.strip() for c in m.group(2).split("|")]
    return rows


def resolve(module_file: str, qualname: str):
    module = importlib.import_module("sgma_core." + module_file.removesuffix(".py").replace("/", "."))
    obj = module
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def test_every_equation_rule_and_the_baseline_have_a_row():
    rows = index_rows()
    expected = [f"({n})" for n in range(1, 12)] + ["compat", "cct", "combined", "baseline", "step"]
    assert list(rows) == expected


def test_every_named_function_exists_and_says_what_it_computes():
    for key, (_symbol, code, section, _test) in index_rows().items():
        module_file, qualname = re.findall(r"`([^`]+)`", code)
        obj = resolve(module_file, qualname)
        assert callable(obj), f"{key}: {module_file} {qualname} is not callable"
        owner = resolve(module_file, qualname.split(".")[0])  # a method is documented by itself or its class
        assert (obj.__doc__ or owner.__doc__ or "").strip(), f"{key}: {qualname} has no docstring"
        assert re.search(r"\{ref\}`[^`<]+<sec-[\w-]+>`", section), f"{key}: the section cell {section!r} is no link"


def test_every_named_test_exists():
    for key, cells in index_rows().items():
        (test,) = re.findall(r"`([^`]+)`", cells[3])
        file, name = test.split("::")
        tree = ast.parse((ROOT / "tests" / file).read_text())
        names = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert name in names, f"{key}: tests/{file} has no {name}"


def test_numbered_rows_point_at_labelled_equations():
    """The labels the rows' sections rely on exist, and each labelled equation carries the paper's number."""
    text = "".join((ROOT / "book" / f).read_text() for f in ("02_baseline.md", "03_sgma_model.md"))
    tags = dict(re.findall(r":label: (eq-[\w-]+)\n(?:.*\n)*?.*\\tag\{(\d+)\}", text))
    assert sorted(tags.values(), key=int) == [str(n) for n in range(1, 12)]
    for label in set(re.findall(r"\{ref\}`[^`<]+<(sec-[\w-]+)>`", (ROOT / "book" / "00_introduction.md").read_text())):
        assert any(f"({label})=" in (ROOT / "book" / f).read_text() for f in
                   ("02_baseline.md", "03_sgma_model.md", "04_sgma_training.md")), label


def test_chapter_sources_hold_no_control_characters():
    """A tab in a chapter's MyST is almost always a LaTeX command eaten by a string escape
    (``\\times`` written through a Python string became a tab and ``imes``, and rendered as "JimesJ")."""
    import re

    from sgma_core.paths import repo_root

    for path in sorted((repo_root() / "book").glob("[0-9]*.md")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            bad = re.search(r"[\x00-\x08\x0b-\x1f\x7f]", line)
            assert bad is None, f"{path.name}:{number}: control character {bad.group()!r} in {line.strip()[:60]!r}"
