"""Centre rules are a registry: the settings accept exactly the registered names, the model asks its rule
where the squares go, a rule registered here (and nowhere else) places a model's squares, and no module
outside the registry tells the rules apart by comparing their names."""

import ast
from pathlib import Path

import pytest
import torch

from sgma_core import centres
from sgma_core.centres import CENTRE_RULES, CentreRule, Seen, register, rule_named
from sgma_core.profiles import RunConfig, make_config
from tests.conftest import tiny_sgma

ROOT = Path(__file__).resolve().parents[1]


class TopLeft(CentreRule):
    """Every square in the image's top-left corner: a rule that exists only in this test."""

    name = "top_left"

    def centres(self, seen: Seen) -> tuple[torch.Tensor, torch.Tensor]:
        corner = torch.full(seen.maps.shape[:2], (seen.pixels - 1) / 2, dtype=seen.images.dtype,
                            device=seen.images.device)
        return corner, corner.clone()


@pytest.fixture
def top_left(monkeypatch):
    """:class:`TopLeft` registered for one test, the registry as it was afterwards."""
    monkeypatch.setattr(centres, "CENTRE_RULES", dict(CENTRE_RULES))
    register(TopLeft)
    return TopLeft.name


def test_the_settings_accept_the_registered_rules_and_refuse_others_by_name():
    assert set(CENTRE_RULES) == {"peak", "learned", "image_centre", "random", "oracle"}
    assert RunConfig().centre_rule in CENTRE_RULES
    for name, rule in CENTRE_RULES.items():
        assert rule_named(name) is rule and rule.name == name
        assert make_config("smoke", centre_rule=name).centre_rule == name
    with pytest.raises(ValueError, match=r"centre_rule='corner'.*choose one of 'peak', 'learned', 'image_centre', "
                                         r"'random', 'oracle'"):
        make_config("smoke", centre_rule="corner")
    with pytest.raises(ValueError, match="centre_rule='oracle' with n_parts=3.*use n_parts 2"):
        make_config("smoke", centre_rule="oracle", n_parts=3)
    with pytest.raises(ValueError, match="'peak' is registered already"):
        register(type("Again", (CentreRule,), {"name": "peak"}))


def test_what_each_rule_declares():
    assert [n for n, r in CENTRE_RULES.items() if r.needs_parts] == ["oracle"]
    assert [n for n, r in CENTRE_RULES.items() if not r.grid_squares] == ["learned"]
    heads = {n: r.head(4, 0.5) for n, r in CENTRE_RULES.items()}
    assert [n for n, h in heads.items() if h is not None] == ["learned"]
    assert "localizer.net.1.weight" in tiny_sgma(centre_rule="learned").state_dict()  # stored runs keep loading


def test_a_rule_registered_in_a_test_places_the_squares_of_a_model(top_left):
    assert make_config("smoke", centre_rule=top_left).centre_rule == top_left
    model = tiny_sgma(centre_rule=top_left).eval()  # 24-pixel images, squares of 12 cut to 12 pixels
    x = torch.rand(3, 3, 24, 24)
    out = model(x, torch.randn(6, 5))
    assert torch.equal(out["tx"], torch.full((3, 2), 5.5)) and torch.equal(out["ty"], out["tx"])
    assert torch.equal(out["ts"], torch.full((3, 2), 12.0))
    assert model.on_pixel_grid(24, 24, 12)  # cut by indexing: the corner square's own pixels, masked by eq. (4)
    inside = out["parts"][:, 0, :, 3:9, 3:9] / x[:, :, 3:9, 3:9]
    assert torch.allclose(inside, torch.ones_like(inside), atol=1e-3)
    assert model.state_dict().keys() == tiny_sgma(centre_rule="peak").state_dict().keys()


def test_an_unregistered_rule_is_refused_by_the_model():
    from sgma_core.backbones import small_vgg
    from sgma_core.sgma import SGMA

    with pytest.raises(ValueError, match="centre_rule='top_left' is not a registered centre rule"):
        SGMA.from_config(RunConfig(profile="smoke", centre_rule="top_left"), 6, 5, small_vgg(widths=(8, 16)))


def _names_centre_rule(node: ast.AST) -> bool:
    """Whether an expression is the centre rule's setting: ``…centre_rule``, ``centre_rule`` or ``…["centre_rule"]``."""
    return (isinstance(node, ast.Attribute) and node.attr == "centre_rule") or \
        (isinstance(node, ast.Name) and node.id == "centre_rule") or \
        (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and node.slice.value == "centre_rule")


def _literal_strings(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    return isinstance(node, (ast.Tuple, ast.List, ast.Set)) and any(_literal_strings(e) for e in node.elts)


def _comparisons_by_name(path: Path) -> list[str]:
    """``centre_rule`` compared with a string (or strings), or a registered rule's name compared with anything."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        by_setting = any(map(_names_centre_rule, sides)) and any(map(_literal_strings, sides))
        by_name = any(isinstance(s, ast.Constant) and s.value in ("image_centre", "oracle") for s in sides)
        if by_setting or by_name:
            found.append(f"{path}:{node.lineno}")
    return found


def test_no_module_outside_the_registry_tells_the_rules_apart_by_name():
    sources = [p for folder in ("sgma_core", "bookkit", "data_prep", "benchmarks", "book")
               for p in sorted((ROOT / folder).rglob("*.py")) if p != ROOT / "sgma_core" / "centres.py"]
    assert len(sources) > 50
    offenders = [hit for p in sources for hit in _comparisons_by_name(p)]
    assert not offenders, f"compare the centre rule by name (ask sgma_core.centres.rule_named instead): {offenders}"


def test_the_scan_finds_a_comparison_by_name(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text('if config.centre_rule in ("peak", "random"):\n    pass\nif values["centre_rule"] == x:\n'
                     '    pass\nif rule == "oracle":\n    pass\n')
    assert [hit.rsplit(":", 1)[1] for hit in _comparisons_by_name(probe)] == ["1", "5"]
