"""No line break inside a number with its unit or its error, in the text of a page; code and math keep theirs."""

import importlib.util

from docutils import nodes

from sgma_core.paths import repo_root

_spec = importlib.util.spec_from_file_location("number_spaces", repo_root() / "_ext" / "number_spaces.py")
number_spaces = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(number_spaces)
NB = "\u00a0"


def test_the_spaces_inside_numbers_do_not_break():
    assert number_spaces.joined("81.9 % and 3.2 ± 0.6 %, on 8 × 8 maps; T1 +0.4 ± 0.4 points") == (
        f"81.9{NB}% and 3.2{NB}±{NB}0.6{NB}%, on 8{NB}×{NB}8 maps; T1 +0.4{NB}±{NB}0.4 points")
    assert number_spaces.joined("mean ± sd (100 % of it); a % b") == f"mean ± sd (100{NB}% of it); a % b"


def test_a_page_changes_in_its_text_and_not_in_code_or_math():
    para = nodes.paragraph("", "", nodes.Text("near a part in 81.9 % of them"), nodes.literal("", "1 %"),
                           nodes.emphasis("", "", nodes.Text("3.2 ± 0.6")))
    doc = nodes.document(None, None)
    cell = nodes.entry("", nodes.paragraph("", "94.5 ± 4.1"))  # a table's cell may wrap at the ±
    doc += [para, nodes.literal_block("", "print('5 %')"), nodes.math("", "3 \\pm 1 %"),
            nodes.table("", nodes.tgroup("", nodes.tbody("", nodes.row("", cell))))]
    number_spaces.join_numbers(None, doc, "page")
    assert para.astext() == f"near a part in 81.9{NB}% of them1 %3.2{NB}±{NB}0.6"
    assert doc[1].astext() == "print('5 %')" and doc[2].astext() == "3 \\pm 1 %" and cell.astext() == "94.5 ± 4.1"


def test_a_negative_number_gets_a_minus_sign_in_text_and_tables_not_in_code():
    assert number_spaces.minus_signs("-0.4 ± 0.4 and (-3.1) and T1 -.5; seeds 5-8, 2026-12-06, x-1, -p, --jobs 2") == (
        "−0.4 ± 0.4 and (−3.1) and T1 −.5; seeds 5-8, 2026-12-06, x-1, -p, --jobs 2")
    doc = nodes.document(None, None)
    cell = nodes.entry("", nodes.paragraph("", "-0.4 ± 0.2"))
    doc += [nodes.paragraph("", "a gain of -1.2 points"), nodes.literal_block("", "print(-1)"),
            nodes.table("", nodes.tgroup("", nodes.tbody("", nodes.row("", cell))))]
    number_spaces.join_numbers(None, doc, "page")
    assert doc[0].astext() == "a gain of −1.2 points" and doc[1].astext() == "print(-1)"
    assert cell.astext() == "−0.4 ± 0.2"  # the sign in a table too, its spaces left as they were


def test_a_name_in_a_table_breaks_after_its_underscores_and_dots_only():
    doc = nodes.document(None, None)
    name, number = nodes.literal("", "sgma_core.attention_norm"), nodes.literal("", "0.1")
    prose = nodes.literal("", "a_b")
    row = nodes.row("", *(nodes.entry("", nodes.paragraph("", "", code)) for code in (name, number)))
    doc += [nodes.table("", nodes.tgroup("", nodes.tbody("", row))), nodes.paragraph("", "", prose)]
    number_spaces.identifier_breaks(None, doc, "page")
    assert [c.astext() if isinstance(c, nodes.raw) else str(c) for c in name.children] == [
        "sgma_", "<wbr>", "core.", "<wbr>", "attention_", "<wbr>", "norm"]
    assert all(isinstance(c, nodes.raw) and c["format"] == "html" for c in name.children[1::2])
    assert number.children == [nodes.Text("0.1")] and prose.children == [nodes.Text("a_b")]  # a number; not a table
