"""No folder of the machine that executed and built the book in what it publishes: the scan that finds one
(:mod:`bookkit.machine_paths`), and the executed notebooks stored without one."""

import json
import os
import zipfile

import nbformat
import pytest

from bookkit.chapters import store_executed
from bookkit.machine_paths import OUTSIDE, find_machine_paths, portable_path, scan_published
from sgma_core.paths import repo_root

ROOT = str(repo_root())
RUNS = "/srv/builds/sgma-runs"  # a runs folder the scan is told about (SGMA_RUNS_ROOT, or runs_dir)


@pytest.mark.parametrize("text, found", [
    (f"another process is training {RUNS}/backbone/SYN-cpu-seed0-1a2b; waiting", f"{RUNS}/backbone/SYN-cpu-seed0-1a2b"),
    (f'"input_path": "{ROOT}/book/02_baseline.ipynb",', f"{ROOT}/book/02_baseline.ipynb"),
    ('"output_path": "/tmp/tmpv_kkb4u2/.02_baseline.partial.ipynb"', "/tmp/tmpv_kkb4u2/.02_baseline.partial.ipynb"),
    ("/home/alice/sgma/.venv/lib/python3.11/site-packages/tqdm/auto.py:21: TqdmWarning: IProgress not found",
     "/home/alice/sgma/.venv/lib/python3.11/site-packages/tqdm/auto.py"),
    ("not found under SGMA_DATA_ROOT=/Users/bob/data:/var/folders/x1/T/data;", "/Users/bob/data"),
    ("<p>data roots searched: /root/data</p>", "/root/data"),
])
def test_a_machine_path_is_found_as_written(text, found):
    assert found in find_machine_paths(text, [ROOT, RUNS])


@pytest.mark.parametrize("text", [
    "book/_executed/02_baseline.ipynb and runs/backbone/SYN-cpu-seed0-1a2b",
    "https://example.org/home/tmp/index.html",  # a web address is not a folder of this machine
    '"/content/sgma-book/data"',  # the Colab set-up cell: Colab's folder, the same for every reader
    "<outside the repository>/runs",
    f"{RUNS}-other/x",  # another folder whose name starts like the runs folder
])
def test_what_is_not_a_machine_path_is_left_alone(text):
    assert find_machine_paths(text, [ROOT, RUNS]) == []


def _papermill_notebook(runs: str, data: str):
    """A notebook as papermill leaves it after executing a chapter converted in a temporary folder."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('profile = "cpu"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(f'# Parameters\nprofile = "smoke"\nruns_dir = "{runs}"\ndata_root = "{data}"\n',
                                  metadata={"tags": ["injected-parameters"]})])
    nb.metadata["papermill"] = {"input_path": "/tmp/tmpv_kkb4u2/02_baseline.ipynb",
                                "output_path": f"{ROOT}/book/_executed/.02_baseline.partial.ipynb",
                                "parameters": {"profile": "smoke", "runs_dir": runs, "data_root": data}}
    return nb


def test_a_stored_executed_notebook_names_no_machine_folder(tmp_path):
    runs, data = f"{RUNS}/runs", os.pathsep.join([f"{ROOT}/data", "/home/alice/shared/data"])
    nb = _papermill_notebook(runs, data)
    partial, out = tmp_path / ".02_baseline.partial.ipynb", tmp_path / "02_baseline.ipynb"
    nbformat.write(nb, partial)
    assert len(find_machine_paths(partial.read_text(), [ROOT, RUNS])) >= 4  # what papermill wrote
    parameters = dict(nb.metadata["papermill"]["parameters"])
    store_executed(partial, out, "02_baseline", parameters, 1.0)
    assert find_machine_paths(out.read_text(), [ROOT, RUNS, str(tmp_path)]) == []
    stored = nbformat.read(out, as_version=4)
    assert stored.metadata["papermill"]["input_path"] == "book/02_baseline.md"
    assert stored.metadata["papermill"]["output_path"] == "book/_executed/.02_baseline.partial.ipynb"
    expected = {"profile": "smoke", "runs_dir": f"{OUTSIDE}/runs",
                "data_root": os.pathsep.join(["data", f"{OUTSIDE}/data"])}
    assert stored.metadata["papermill"]["parameters"] == expected == stored.metadata["sgma"]["parameters"]
    injected = stored.cells[1]
    assert injected.source.startswith("# Parameters\n") and 'profile = "smoke"' in injected.source
    assert f'runs_dir = "{OUTSIDE}/runs"' in injected.source
    assert "remove-cell" in injected.metadata["tags"] and not partial.exists()


def test_portable_path_keeps_what_names_no_folder():
    assert portable_path("smoke") == "smoke" and portable_path("runs/x") == "runs/x"
    assert portable_path(ROOT) == "." and portable_path(f"{ROOT}/runs") == "runs"


def test_a_folder_inside_a_parameter_is_made_portable_too():
    from bookkit.machine_paths import portable_notebook

    nb = _papermill_notebook("runs", "data")
    nb.metadata["papermill"]["parameters"]["overrides"] = {"start_weights": "/home/alice/w.pt", "seeds": [0, 1]}
    portable_notebook(nb, "book/02_baseline.md")
    assert nb.metadata["papermill"]["parameters"]["overrides"] == {"start_weights": f"{OUTSIDE}/w.pt", "seeds": [0, 1]}
    assert find_machine_paths(nb.cells[1].source, [ROOT, RUNS]) == []


def test_the_scan_names_each_published_file_and_path(tmp_path):
    html = tmp_path / "html"
    (html / "book" / "_executed").mkdir(parents=True)
    (html / "_static").mkdir()
    (html / "book" / "_executed" / "02_baseline.html").write_text(
        f"<pre>another process is training {RUNS}/backbone/SYN-cpu-seed0-1a2b; waiting</pre>")
    (html / "book" / "setup.html").write_text("<p>git clone https://github.com/octocat/sgma-book</p>")
    (html / "_static" / "theme.js").write_text("// /home/ of the theme's own code")
    notebook = json.dumps({"metadata": {"papermill": {"input_path": "/tmp/tmpv_kkb4u2/02_baseline.ipynb"}}})
    (tmp_path / "downloads").mkdir()
    with zipfile.ZipFile(tmp_path / "downloads" / "executed.zip", "w") as z:
        z.writestr("executed/02_baseline.ipynb", notebook)
    found = scan_published(tmp_path, [ROOT, RUNS])
    assert found == ["downloads/executed.zip!executed/02_baseline.ipynb: /tmp/tmpv_kkb4u2/02_baseline.ipynb",
                     f"html/book/_executed/02_baseline.html: {RUNS}/backbone/SYN-cpu-seed0-1a2b"]
