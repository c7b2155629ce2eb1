"""The notebooks a reader downloads: the student form keeps the exercises and loses the solutions and
outputs; the executed form is the book's own run; both are zipped for the course guide."""

import re
import zipfile

import nbformat
import pytest

from bookkit.chapters import BOOK, CHAPTERS
from bookkit.notebooks import STUDENT_NOTE, student_markdown, student_notebook, write_downloads

SAMPLE = """Text with {glue:text}`t1_diff` and {glue:text}`base_T1:.1f` inside.

````{exercise} Add two numbers
:label: ex-add

What is 1 + 1?
````

````{solution} ex-add
:class: dropdown

Two.

```{literalinclude} /book/exercises.py
:pyobject: add
```
````

```{admonition} Key takeaways
:class: important

- one
- two
```

```{literalinclude} /sgma_core/losses.py
:pyobject: sgma_loss
```
"""


def test_student_markdown_drops_solutions_and_keeps_exercises():
    text = student_markdown(SAMPLE)
    assert "Two." not in text and "{solution}" not in text and "exercises.py" not in text
    assert '### Exercise: Add two numbers <a id="ex-add"></a>' in text and "What is 1 + 1?" in text
    assert "> **Key takeaways**" in text and "> - one" in text
    assert "*[t1_diff, computed by this notebook]*" in text and "*[base_T1, computed by this notebook]*" in text
    assert "*The code: `sgma_loss` in `sgma_core/losses.py`.*" in text
    assert "{" not in text.replace("{glue", "")  # no MyST directive left for Jupyter to show raw


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_student_notebook_has_its_exercises_and_no_answers(name):
    nb = student_notebook(name)
    source = (BOOK / f"{name}.md").read_text(encoding="utf-8")
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert nb.cells[0].source == STUDENT_NOTE
    assert markdown.count("### Exercise:") == len(re.findall(r"^`{4}\{exercise\}", source, re.M))
    assert "{solution}" not in markdown and "book/exercises.py" not in markdown
    assert "{exercise}" not in markdown and "{admonition}" not in markdown
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
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
