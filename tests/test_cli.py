"""The command lines answer a user's mistake with one line and a non-zero status, show the traceback
only when asked (--debug, SGMA_DEBUG=1), and stop cleanly on Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bookkit import chapters
from sgma_core import train
from sgma_core.paths import DataRootError

ROOT = Path(__file__).resolve().parents[1]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0], err
    return err[0]


@pytest.mark.parametrize("params, message", [
    (["-p", "lr", "-1"], "lr=-1.0: must be greater than 0"),
    (["-p", "epochs", "0"], "epochs=0: must be at least 1"),
    (["-p", "batch_size", "0"], "batch_size=0: must be at least 1"),
    (["-p", "max_train_images", "0"], "max_train_images=0: must be at least 1"),
    (["--seeds", "zero"], "--seeds 'zero': give whole numbers"),
    (["--seeds", "0,0"], "repeat a seed"),
    (["--seeds", "-1"], "must be a non-empty list of integers ≥ 0"),
    (["-p", "seed", "1"], "give seed with --seeds, not with -p seed"),
    (["-p", "profile", "cpu"], "give profile with --profile"),
    (["-p", "lr", "0.1", "-p", "lr", "0.2"], "-p lr is given twice"),
    (["-p", "ridge_lambda", "[1"], "while parsing a flow sequence"),
    (["-p", "epoch", "3"], "unknown parameter 'epoch'"),
    (["-p", "vgg_layer", "pool5"], "give layer instead of vgg_layer"),
    (["-p", "layer", "pool5"], "layer='pool5' is not a layer of backbone 'small_vgg'"),
])
def test_train_refuses_bad_settings_before_any_work(params, message, tmp_path, capsys):
    assert train.main(["--model", "baseline", "--profile", "smoke", "--runs-dir", str(tmp_path), *params]) == 2
    assert message in _one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []  # no run folder left behind


def test_a_setting_given_as_a_string_is_converted():
    args = train.parse_args(["--model", "sgma", "-p", "ridge_lambda", "1e-3"])
    assert dict(args.parameter) == {"ridge_lambda": "1e-3"}  # YAML reads 1e-3 as a string
    assert train.build_config(args).config.ridge_lambda == 0.001


def test_a_missing_dataset_is_one_line_and_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    argv = ["--model", "baseline", "--profile", "smoke", "--dataset", "CUB", "--data-root", str(tmp_path / "none"),
            "--runs-dir", str(tmp_path / "runs")]
    assert train.main(argv) == 2
    assert "dataset 'CUB' not found" in _one_error_line(capsys)
    with pytest.raises(DataRootError):
        train.main([*argv, "--debug"])
    monkeypatch.setenv("SGMA_DEBUG", "1")
    with pytest.raises(DataRootError):
        train.main(argv)


@pytest.mark.parametrize("params, message", [  # each error names the chapter that takes the parameter
    (["-p", "seeds", "zero"], "chapter 02_baseline: seeds='zero'"),
    (["-p", "overrides", "{epochs: 0}"], "chapter 02_baseline: epochs=0: must be at least 1"),
    (["-p", "overrides", "[1, 2]"], "chapter 02_baseline: overrides=[1, 2]: must be a mapping"),
    (["-p", "profile", "smok"], "chapter 02_baseline: unknown profile 'smok'"),
    (["-p", "progress", "maybe"], "chapter 02_baseline: progress='maybe': expected true or false"),
    (["-p", "size", "abc"], "chapter 07_real_birds: size='abc': expected an integer, at least 32 (pixels)"),
    (["-p", "size", "-5"], "chapter 07_real_birds: size=-5: must be at least 32 (pixels)"),
    (["-p", "max_images", "0"], "chapter 07_real_birds: max_images=0: must be at least 1"),
    (["-p", "layer", "stage9"], "chapter 07_real_birds: layer='stage9'; choose one of 'stage5_expanded'"),
    (["-p", "frozen", "maybe"], "chapter 07_real_birds: frozen='maybe': expected true or false"),
    (["-p", "data_root", "3"], "chapters 02_baseline, 07_real_birds: data_root=3: expected a string or null"),
])
def test_the_chapter_runner_checks_parameters_before_running_a_chapter(params, message, tmp_path, capsys):
    assert chapters.main(["02_baseline", "07_real_birds", "--out", str(tmp_path), *params]) == 2
    assert message in _one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_chapter_is_one_line(capsys):
    assert chapters.main(["02_baselin"]) == 2
    assert "Did you mean '02_baseline'" in _one_error_line(capsys)


@pytest.mark.book
def test_sigint_stops_the_chapter_runner_and_keeps_the_previous_notebook(tiny_root, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    previous = out / "02_baseline.ipynb"
    previous.write_text('{"previous": true}')
    env = {**os.environ, "SGMA_DATA_ROOT": str(tiny_root), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "bookkit.chapters", "02_baseline", "-p", "profile", "cpu",
                             "-p", "runs_dir", str(tmp_path / "runs"), "--out", str(out)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # as from a shell: Ctrl-C is not ignored, whatever an earlier test left this process with
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    # until the chapter's kernel is training (an epoch is written)
    while not list((tmp_path / "runs").rglob("metrics.jsonl")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)  # to the runner alone, not its process group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err and "is as it was before" in err
    assert json.loads(previous.read_text()) == {"previous": True}
    assert [p.name for p in out.iterdir()] == ["02_baseline.ipynb"]


def test_the_runner_runs_only_the_books_chapters(capsys):
    assert chapters.main(["../README"]) == 2
    assert "no chapter '../README'" in _one_error_line(capsys)


@pytest.mark.book
def test_chapters_run_side_by_side_each_in_its_own_process(tiny_root, tmp_path, capsys):
    out = tmp_path / "out"
    assert chapters.main(["00_introduction", "03_sgma_model", "--jobs", "2", "--out", str(out), "-p", "data_root",
                          str(tiny_root)]) == 0
    assert sorted(p.name for p in out.glob("*.ipynb")) == ["00_introduction.ipynb", "03_sgma_model.ipynb"]
    text = capsys.readouterr().out
    threads = max(1, (os.cpu_count() or 1) // 2)
    assert f"({threads} thread{'s' if threads > 1 else ''})" in text and "2 chapters in" in text
    assert chapters.main(["03_sgma_model", "--jobs", "2", "--record-times", str(tmp_path / "t.json")]) == 2
    assert "use --jobs 1 with --record-times" in _one_error_line(capsys)
    assert not (tmp_path / "t.json").exists()


def test_an_out_folder_that_cannot_be_written_is_refused_before_any_chapter_runs(tmp_path, capsys):
    a_file = tmp_path / "out.txt"
    a_file.write_text("not a folder")
    assert chapters.main(["00_introduction", "--out", str(a_file)]) == 2
    assert "is a file, not a folder" in _one_error_line(capsys)
    assert a_file.read_text() == "not a folder"


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_a_cuda_device_this_machine_lacks_is_refused_before_any_work(tmp_path, capsys):
    assert train.main(["--model", "baseline", "--profile", "smoke", "--runs-dir", str(tmp_path), "-p", "device",
                       "cuda"]) == 2
    assert "device='cuda' but CUDA is not available here" in _one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []
    assert chapters.main(["02_baseline", "--out", str(tmp_path / "out"), "-p", "profile", "paper"]) == 2
    assert "CUDA is not available" in _one_error_line(capsys)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command, argv, message", [
    ("sgma_core.studies.frozen", ["--max-images", "0"], "argument --max-images: 0 is not at least 1"),
    ("sgma_core.studies.frozen", ["--max-images", "-5"], "argument --max-images: -5 is not at least 1"),
    ("sgma_core.studies.frozen", ["--out", "{tmp}"], "is a folder: give the file to write"),
    ("sgma_core.studies.ablate", ["--profile", "smoke", "--out", "{tmp}"], "is a folder: give the file to write"),
    ("sgma_core.studies.real_start", ["--profile", "smoke", "--out", "{tmp}"], "is a folder"),
    ("sgma_core.step_throughput", ["--backbone", "small_vgg", "--size", "1"], "--size=1: small_vgg needs at least 16"),
    ("sgma_core.step_throughput", ["--backbone", "small_vgg", "--joint-size", "8"], "--joint-size=8"),
    ("sgma_core.step_throughput", ["--backbone", "small_vgg", "--out", "{tmp}"], "is a folder"),
])
def test_studies_and_the_benchmark_check_their_arguments_before_any_work(command, argv, message, tmp_path, capsys):
    import importlib

    main = importlib.import_module(command).main
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own errors: one line on stderr, exit 2
        status = exc.code
    assert status == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing made


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_the_benchmark_refuses_a_cuda_device_this_machine_lacks(capsys):
    from sgma_core.step_throughput import main

    assert main(["--device", "cuda", "--backbone", "small_vgg", "--size", "32"]) == 2
    assert "CUDA is not available here" in _one_error_line(capsys)


# the chapter runner as a separate process, each chapter replaced by a child that records its pid, sleeps and writes
# <name>.late (tests/test_child_processes.py), or by one that executes the chapter the same way in this process
SIDE_BY_SIDE = """
import sys
from pathlib import Path
from bookkit import chapters
from tests.test_child_processes import child_command
folder = Path(sys.argv[1])
chapters.chapter_command = lambda name, out, params: child_command(folder, name)
raise SystemExit(chapters.main(["00_introduction", "01_data", "--jobs", "2", "--out", str(folder / "out")]))
"""
ONE_BY_ONE = """
import os, sys, time
from pathlib import Path
from bookkit import chapters
folder = Path(sys.argv[1])
def execute_chapter(name, out, parameters, strict=True):
    (folder / f"{name}.pid").write_text(str(os.getpid()))
    time.sleep(4)
    (out / f"{name}.ipynb").write_text("{}")
chapters.execute_chapter = execute_chapter
raise SystemExit(chapters.main(["00_introduction", "--out", str(folder / "out")]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_side_by_side_runner_ends_its_chapter_processes(tmp_path, signum):
    from tests.test_child_processes import assert_ended_without_writing, child_pids

    runner = subprocess.Popen([sys.executable, "-c", SIDE_BY_SIDE, str(tmp_path)], cwd=ROOT, stderr=subprocess.PIPE,
                              text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    pids = child_pids(tmp_path, ["00_introduction", "01_data"])
    runner.send_signal(signum)
    _, err = runner.communicate(timeout=60)
    assert runner.returncode == 130 and "interrupted" in err, err[-2000:]
    assert_ended_without_writing(tmp_path, pids)


@pytest.mark.slow
def test_a_chapter_process_stopped_by_sigterm_writes_no_notebook(tmp_path):
    from tests.test_child_processes import child_pids

    runner = subprocess.Popen([sys.executable, "-c", ONE_BY_ONE, str(tmp_path)], cwd=ROOT, stderr=subprocess.PIPE,
                              text=True)
    child_pids(tmp_path, ["00_introduction"])
    runner.send_signal(signal.SIGTERM)
    _, err = runner.communicate(timeout=60)
    assert runner.returncode == 130 and "is as it was before" in err, err[-2000:]
    assert not (tmp_path / "out" / "00_introduction.ipynb").exists()
