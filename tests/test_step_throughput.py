"""The training-step benchmark runs on the CPU at tiny sizes (the GPU check runs it at the paper's)."""

import json

import pytest
import torch

from sgma_core import step_throughput


@pytest.fixture(scope="module")
def result():
    torch.set_num_threads(1)
    return step_throughput.run("cpu", "small_vgg", size=32, batch=2, steps=1, peak_n=128, joint_size=16)


def test_both_models_both_precisions(result):
    got = {(r["model"], r["precision"]) for r in result["rows"]}
    assert got == {("baseline", "fp32"), ("baseline", "bf16"), ("sgma", "fp32"), ("sgma", "bf16")}
    for r in result["rows"]:
        assert r["images_per_s"] > 0 and r["flop_bound_images_per_s"] > 0
        assert r["fraction_of_bound"] == pytest.approx(r["images_per_s"] / r["flop_bound_images_per_s"])


def test_flop_count_is_the_model_arithmetic(result):
    flops = result["gflops_per_image_step"]
    # SGMA runs one attention backbone forward at 32² and three trained backbones at 16²:
    # more arithmetic per image than the baseline's one trained backbone at 32², but less than four of them
    assert flops["baseline"] < flops["sgma"] < 4 * flops["baseline"]


def test_flop_counter_counts_a_known_layer():
    lin = torch.nn.Linear(8, 4, bias=False)
    make = lambda device, cl: step_throughput.Stepper(  # noqa: E731
        lin, device, cl, lambda m, x, y: m(x.flatten(1)[:, :8]).sum())
    # forward 2·B·8·4, backward to the weight 2·B·8·4 (inputs need no gradient); per image: 128
    assert step_throughput.flops_per_image(make, torch.device("cpu"), size=4, batch=3) == 2 * 8 * 4 * 2


def test_cli_writes_json_and_a_table(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert step_throughput.main(["--device", "cpu", "--backbone", "small_vgg", "--size", "32", "--joint-size", "16",
                           "--batch", "2", "--steps", "1", "--peak-n", "128", "--models", "baseline",
                           "--out", str(out)]) == 0
    assert "| baseline | fp32 |" in capsys.readouterr().out
    assert json.loads(out.read_text())["rows"][0]["model"] == "baseline"


BLOCK_JUPYTER = """
import importlib.abc, sys
class _NoJupyter(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("IPython", "ipykernel", "myst_nb", "papermill", "jupytext", "nbformat", "nbclient"):
            raise ImportError(f"{name} is not installed here (a bare GPU node)")
sys.meta_path.insert(0, _NoJupyter())
from bookkit.chapters import main
raise SystemExit(main(sys.argv[1:]))
"""


@pytest.mark.book
def test_training_chapters_run_as_plain_python_without_jupyter(tiny_root, tmp_path):
    """``python -m bookkit.chapters … --plain`` runs both training chapters with no Jupyter package
    importable (a bare GPU node), parameters injected as papermill injects them."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "SGMA_DATA_ROOT": str(tiny_root), "SGMA_RUNS_ROOT": str(tmp_path / "runs"),
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", BLOCK_JUPYTER, "02_baseline", "04_sgma_training", "--plain",
                           "-p", "profile", "smoke", "-p", "overrides", "{epochs: 1}"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "02_baseline done" in proc.stdout and "04_sgma_training done" in proc.stdout
    assert "[glue] profile = 'smoke'" in proc.stdout and "[glue] where_sentence" in proc.stdout
    assert all(json.loads((run / "config.json").read_text())["epochs"] == 1
               for run in (tmp_path / "runs" / "baseline").iterdir())


def test_plain_runner_refuses_an_unknown_parameter():
    from bookkit.chapters import run_plain

    with pytest.raises(ValueError, match="no parameter 'epochz'.*profile"):
        run_plain("02_baseline", {"epochz": 3})
