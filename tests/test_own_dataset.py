"""Bring your own dataset: a folder laid out as CUB-200-2011 (images, their classes, an xlsa17
att_splits.mat) under a data root as OWN is read like CUB, and a training chapter runs on it with
papermill (the recipe on the book's set-up page)."""

import shutil

import nbformat
import pytest

from bookkit.chapters import execute_chapter
from sgma_core.data import DatasetError, load_dataset
from sgma_core.paths import DataRootError


@pytest.fixture(scope="module")
def own_root(tiny_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("own")
    shutil.copytree(tiny_root / "SYN", root / "OWN")  # the synthetic birds are in CUB's layout: a dataset of one's own
    return root


def test_a_dataset_in_cubs_layout_is_read_as_own(own_root, tiny_root):
    own, syn = load_dataset("OWN", own_root), load_dataset("SYN", tiny_root)
    assert own.name == "OWN" and own.class_names == syn.class_names and len(own.labels) == len(syn.labels)
    assert (own.att == syn.att).all()


def test_without_the_folder_the_error_says_where_it_looked(tmp_path):
    with pytest.raises((DataRootError, DatasetError), match="OWN"):
        load_dataset("OWN", tmp_path)


@pytest.mark.book
def test_a_training_chapter_runs_on_it_with_papermill(own_root, tmp_path):
    out = tmp_path / "executed"
    execute_chapter("02_baseline", out, {"profile": "smoke", "dataset": "OWN", "data_root": str(own_root),
                                         "runs_dir": str(tmp_path / "runs")})
    nb = nbformat.read(out / "02_baseline.ipynb", as_version=4)
    assert nb.metadata["papermill"]["parameters"]["dataset"] == "OWN"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
