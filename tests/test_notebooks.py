"""The notebooks a reader downloads: the student form keeps the exercises and loses the solutions and
outputs; the executed form is the book's own run; both are zipped for the course guide."""

import re
import zipfile

import nbformat
import pytest

from bookkit.display import glue_names, glued_values
from bookkit.notebooks import STUDENT_NOTE, student_markdown, student_notebook, write_downloads
from bookkit.plain_markdown import MYST_LEFT, plain_markdown, python_object_source
from bookkit.sources import BOOK, CHAPTERS

SAMPLE = """Text with {glue:text}`t1_diff` and {glue:text}`base_T1:.1f` inside.

````{exercise} Add two numbers
:label: ex-add

What is 1 + 1?
````

````{solution} ex-add
:class: dropdown

Two.

```{literalinclude} /book/solutions/02_baseline.py
:pyobject: softmax_loss_by_hand
```
````

```{admonition} Key takeaways
:class: important

- one
- two
```

```{literalinclude} /sgma_core/losses.py
:pyobject: compactness_loss
```

(sec-here)=
## A section

Eq. {eq}`eq-total` of {cite}`zhu2019sgma`, see {doc}`04_sgma_training`, {doc}`the guide </book/course_guide>`
and {ref}`one step <sec-baseline-step>`.

```{math}
:label: eq-x

L = a + b \\tag{99}
```
"""


def test_student_markdown_drops_solutions_and_keeps_exercises():
    text = student_markdown(SAMPLE)
    assert "Two." not in text and "{solution}" not in text and "book/solutions/" not in text
    assert '### Exercise: Add two numbers <a id="ex-add"></a>' in text and "What is 1 + 1?" in text
    assert "> **Key takeaways**" in text and "> - one" in text
    assert "*[t1_diff, computed by this notebook]*" in text and "*[base_T1, computed by this notebook]*" in text
    assert "*From `compactness_loss` in `sgma_core/losses.py`:*\n\n```python\ndef compactness_loss(" in text
    assert "Eq. (9) of ([Zhu et al., 2019](https://arxiv.org/abs/1903.00502))" in text
    assert "see [Training SGMA, and where it looks](04_sgma_training.ipynb)" in text
    assert "the guide\nand [one step](02_baseline.ipynb#One-training-step)" in text
    assert "$$\nL = a + b \\tag{99}\n$$" in text and '<a id="sec-here"></a>' in text
    assert not MYST_LEFT.search(text)  # no MyST role or directive left for Jupyter to show raw


def test_instructor_markdown_keeps_solutions_and_writes_glued_values():
    text = plain_markdown(SAMPLE, solutions=True, glued={"t1_diff": "+1.5", "base_T1": "82.456"})
    assert "**Solution.**\n\nTwo." in text and "Text with +1.5 and 82.5 inside." in text
    assert not MYST_LEFT.search(text)


def test_a_folded_box_becomes_html_details():
    text = plain_markdown(":::{admonition} The settings: click to open\n:class: dropdown\n\n"
                          "| a | b |\n|---|---|\n:::\n", solutions=True)
    assert text.startswith("<details><summary>The settings: click to open</summary>\n\n| a | b |")
    assert text.rstrip().endswith("</details>") and not MYST_LEFT.search(text)


def test_a_literalinclude_of_something_missing_names_it():
    with pytest.raises(LookupError, match="no_such_function"):
        python_object_source("sgma_core/losses.py", "no_such_function")


def test_glued_values_are_read_back_as_text():
    out = nbformat.v4.new_output("display_data", data={"application/papermill.record/text/plain": "'ρ = 1e-4'"},
                                 metadata={"scrapbook": {"name": "rho",
                                                         "mime_prefix": "application/papermill.record/"}})
    cell = nbformat.v4.new_code_cell("glue('rho', ...)", outputs=[out])
    assert glued_values(nbformat.v4.new_notebook(cells=[cell])) == {"rho": "ρ = 1e-4"}


def test_glued_values_read_from_a_stored_notebook_are_the_text_its_page_shows(tmp_path):
    outputs = [nbformat.v4.new_output("display_data", data={"application/papermill.record/text/plain": text},
                                      metadata={"scrapbook": {"name": name,
                                                              "mime_prefix": "application/papermill.record/"}})
               for name, text in (("rho", "'ρ = 1e-4'"), ("n", "3"), ("rows", ["[1,\n", " 2]"]))]
    path = tmp_path / "chapter.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("glue(…)", outputs=outputs)]), path)
    # as {glue:text} renders them: a string without its quotes, a value stored over several lines as one text
    assert glued_values(path) == glued_values(nbformat.read(path, as_version=4)) == {"rho": "ρ = 1e-4", "n": "3",
                                                                                     "rows": "[1, 2]"}


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_student_notebook_has_its_exercises_and_no_answers(name):
    nb = student_notebook(name)
    source = (BOOK / f"{name}.md").read_text(encoding="utf-8")
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert nb.cells[0].source == STUDENT_NOTE
    assert markdown.count("### Exercise:") == len(re.findall(r"^`{4}\{exercise\}", source, re.M))
    assert "{solution}" not in markdown and "book/solutions/" not in markdown
    assert "{exercise}" not in markdown and "{admonition}" not in markdown
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    shows = "\n".join(c.source for c in code if "computed-sentences" in c.metadata.get("tags", []))
    named = set(re.findall(r"\*\[(\w+), computed by this notebook\]\*", markdown))
    assert named <= glue_names(shows), f"values the text names and no cell shows: {sorted(named - glue_names(shows))}"
    nbformat.validate(nb)


def test_downloads_hold_both_forms(tmp_path):
    executed = tmp_path / "executed_in"
    executed.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), executed / "02_baseline.ipynb")
    archives = write_downloads(tmp_path / "out", executed)
    with zipfile.ZipFile(archives["student"]) as z:
        assert sorted(z.namelist()) == [f"student/{name}.ipynb" for name in CHAPTERS]
    with zipfile.ZipFile(archives["executed"]) as z:
        assert z.namelist() == ["executed/02_baseline.ipynb"]  # only what was executed
    (executed / "02_baseline.ipynb").rename(executed / "01_data.ipynb")
    again = write_downloads(tmp_path / "out", executed)  # a second build replaces its own stamped folders
    with zipfile.ZipFile(again["executed"]) as z:
        assert z.namelist() == ["executed/01_data.ipynb"]  # written afresh: nothing stale stays
    assert sorted(p.name for p in (tmp_path / "out" / "executed").iterdir()) == [".sgma-notebooks", "01_data.ipynb"]


TINY_CHAPTER = """---
jupytext:
  formats: md:myst
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A tiny chapter

```{admonition} In this chapter
:class: tip

**Run time**: {glue:text}`run_time`; nothing else.
```

```{code-cell} ipython3
from bookkit.display import glue

glue("answer", "forty-two", display=False)
glue("t1", 0.8123, display=False)
```

A sentence computed by nothing. The answer is {glue:text}`answer`, and T1 is {glue:text}`t1:.2f`.

```{code-cell} ipython3
glue("run_time", "3 s", display=False)
```
"""


def _outputs_text(nb) -> str:
    """Everything a run of ``nb`` shows below its cells, as text (Markdown sources, streams, plain text)."""
    shown = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            for mime in ("text/markdown", "text/plain"):
                if mime in data:
                    shown.append("".join(data[mime]) if isinstance(data[mime], list) else data[mime])
                    break
            else:
                shown.append("".join(output.get("text", "")))
    return "\n".join(shown)


@pytest.mark.slow
def test_a_run_student_notebook_shows_every_computed_sentence(tmp_path, monkeypatch):
    """The student notebook's text names its glued values; running it shows each sentence that holds
    them, filled in, below the cell that computes the last of its values (or at once, if computed)."""
    from nbclient import NotebookClient

    import bookkit.notebooks
    from sgma_core.paths import repo_root

    (tmp_path / "99_tiny.md").write_text(TINY_CHAPTER, encoding="utf-8")
    monkeypatch.setattr(bookkit.notebooks, "BOOK", tmp_path)
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    nb = student_notebook("99_tiny")
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "*[answer, computed by this notebook]*" in markdown  # the text itself waits for the run
    NotebookClient(nb, kernel_name="python3", timeout=120,
                   resources={"metadata": {"path": str(repo_root())}}).execute()
    shown = _outputs_text(nb)
    assert shown.count("The answer is forty-two, and T1 is 0.81.") == 1, shown
    assert shown.count("**Run time**: 3 s; nothing else.") == 1, shown
    assert "computed by nothing" in shown  # the whole paragraph, not a fragment of it
