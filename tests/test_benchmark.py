"""The training-step benchmark runs on the CPU at tiny sizes (the GPU check runs it at the paper's)."""

import json

import pytest
import torch

from sgma_core import benchmark


@pytest.fixture(scope="module")
def result():
    torch.set_num_threads(1)
    return benchmark.run("cpu", "small_vgg", size=32, batch=2, steps=1, peak_n=128, joint_size=16)


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
    make = lambda device, cl: benchmark._stepper(lin, device, cl, lambda m, x, y: m(x.flatten(1)[:, :8]).sum())  # noqa: E731
    # forward 2·B·8·4, backward to the weight 2·B·8·4 (inputs need no gradient); per image: 128
    assert benchmark.flops_per_image(make, torch.device("cpu"), size=4, batch=3) == 2 * 8 * 4 * 2


def test_cli_writes_json_and_a_table(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert benchmark.main(["--device", "cpu", "--backbone", "small_vgg", "--size", "32", "--joint-size", "16",
                           "--batch", "2", "--steps", "1", "--peak-n", "128", "--models", "baseline",
                           "--out", str(out)]) == 0
    assert "| baseline | fp32 |" in capsys.readouterr().out
    assert json.loads(out.read_text())["rows"][0]["model"] == "baseline"


def test_chapter_scripts_run_as_plain_python(tiny_root, tmp_path):
    """benchmarks/chapter_scripts.sh runs both training chapters without Jupyter (a bare GPU node)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "SGMA_DATA_ROOT": str(tiny_root), "SGMA_RUNS_ROOT": str(tmp_path / "runs"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(["bash", str(root / "benchmarks" / "chapter_scripts.sh"), "smoke"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "== 02_baseline" in proc.stdout and "== 04_sgma_training" in proc.stdout
    assert "[glue] where_sentence" in proc.stdout
