"""`make` uses the active Python when it already has this checkout and every pinned requirement, and
creates .venv otherwise (sgma_core/envcheck.py and the Makefile's ENV setting)."""

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sgma_core import envcheck
from sgma_core.paths import repo_root

ROOT = repo_root()


def test_every_requirement_is_pinned_and_read():
    pins = envcheck.pinned_requirements(ROOT / "pyproject.toml")
    assert pins["torch"] == "2.14.1" and "pytest" in pins  # the test extra counts too
    assert len(pins) >= 15


def test_an_unpinned_requirement_is_refused(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["torch>=2"]\n')
    with pytest.raises(ValueError, match="not pinned"):
        envcheck.pinned_requirements(tmp_path / "pyproject.toml")


def test_problems_name_the_wrong_version_and_the_wrong_checkout(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["pytest==0.0.1", "no-such-package-here==1.0"]\n')
    found = envcheck.problems(tmp_path)
    assert any(p.startswith("pytest ") and "0.0.1 is pinned" in p for p in found)
    assert "no-such-package-here is not installed (1.0 is pinned)" in found
    assert any("not from this checkout" in p or "is not installed (pip install" in p for p in found)


def test_the_python_running_the_tests_passes_the_check():
    """make runs the tests with the active Python only after it passed, else with .venv, which is
    this checkout installed with the pins: either way there is nothing to report."""
    assert envcheck.problems() == []


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("active, env, expected", [
    (sys.executable, "auto", sys.executable),  # installed as pinned: used as it is
    ("/nonexistent/python", "auto", ".venv/bin/python"),  # nothing usable active: .venv
    (sys.executable, "venv", ".venv/bin/python"),  # asked for .venv
])
def test_make_picks_the_python(active, env, expected):
    out = subprocess.run(["make", "-n", "test-fast", f"ACTIVE_PYTHON={active}", f"SGMA_ENV={env}"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    line = next(li for li in out.splitlines() if "-m pytest" in li)
    assert line.startswith(f"{expected} -m pytest")


@pytest.mark.skipif(shutil.which("make") is None or shutil.which("df") is None, reason="make or df is missing")
def test_make_stops_before_installing_torch_on_a_disk_too_full_for_it(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (venv / ".data-ready").touch()  # newer than pyproject.toml: only the torch step is left
    res = subprocess.run(["make", f"{venv}/.train-ready", "SGMA_ENV=venv", f"VENV={venv}", "NEED_GB=1000000"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and f"{venv} needs about 1000000 GB free for torch" in res.stderr
    assert "free some space" in res.stderr and not (venv / ".train-ready").exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_refuses_an_unknown_env():
    res = subprocess.run(["make", "-n", "help", "SGMA_ENV=conda"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode != 0 and "choose auto, active or venv" in res.stderr


def test_the_check_runs_without_the_checkout_on_the_path(tmp_path):
    res = subprocess.run([sys.executable, "-P", str(Path(envcheck.__file__))], cwd=tmp_path,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "has this checkout and every pinned requirement installed" in res.stdout


def test_pins_prints_the_named_requirements_as_pinned_and_refuses_an_unknown_one():
    script = str(Path(envcheck.__file__))
    pins = envcheck.pinned_requirements()
    res = subprocess.run([sys.executable, "-P", script, "--pins", "numpy", "Pillow"], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.split() == [f"numpy=={pins['numpy']}", f"pillow=={pins['pillow']}"]
    res = subprocess.run([sys.executable, "-P", script, "--pins", "nunpy"], capture_output=True, text=True)
    assert res.returncode == 2 and "'nunpy' is not pinned" in res.stderr and "numpy" in res.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_book_generates_the_data_while_the_rest_installs(tmp_path):
    """The data need only what data_prep.synthetic imports: make book installs that first, then torch, then generates
    the data and pretrains the backbone (make warm) beside the rest of the install; the chapters that train run
    after make warm, beside chapter 04's first run (make first-run), the others as soon as the install is done, on
    one thread at a lower priority; the HTML after all three (make -j3; planned for a .venv not made yet)."""
    venv = tmp_path / "venv"
    out = subprocess.run(["make", "-n", "book", "SGMA_ENV=venv", f"VENV={venv}"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    first = next(i for i, li in enumerate(out) if "-j3" in li and "training-chapters other-chapters first-run" in li)
    second = next(i for i, li in enumerate(out) if li.endswith("make --no-print-directory html"))
    pins, train_pins = (i for i, li in enumerate(out[:second]) if "--pins" in li)
    generate = next(i for i, li in enumerate(out) if "data_prep.synthetic" in li)
    warm = next(i for i, li in enumerate(out) if li.endswith("sgma_core.experiment.warm --profile cpu"))
    first_run = next(i for i, li in enumerate(out) if li.endswith("sgma_core.experiment.warm --profile cpu --sgma"))
    rest = next(i for i, li in enumerate(out) if "-e '.[test]'" in li)
    training = next(i for i, li in enumerate(out) if "bookkit.chapters 04_sgma_training 02_baseline --jobs 2" in li)
    rest_of_book = "bookkit.chapters --all --except 04_sgma_training 02_baseline"
    one_thread = "SGMA_NICENESS=5 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 5 "  # its kernels at niceness 5 too
    others = next(i for i, li in enumerate(out) if li.startswith(one_thread) and rest_of_book in li)
    build = next(i for i, li in enumerate(out) if "jupyter_book" in li)
    assert first < pins < generate < warm < training < second < build and train_pins < warm
    assert warm < first_run < second
    assert train_pins < rest < others < second
    # both chapter commands are ones bookkit.chapters accepts (every parameter taken by a chapter it runs)
    from bookkit import chapters

    for line in (out[training], out[others]):
        argv = shlex.split(line.split("bookkit.chapters", 1)[1])
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(chapters, "execute_chapter", lambda *a, **k: None)
            mp.setattr(chapters, "run_parallel", lambda *a, **k: 0)
            assert chapters.main([*argv, "--out", str(tmp_path / "executed")]) == 0, line
    for package in ("numpy", "scipy", "pillow", "tqdm", "pyyaml"):
        assert package in out[pins]
    assert all(package in out[train_pins] for package in ("torch", "torchvision", "filelock"))
    # what the generator imports is all there is in that first install: it runs without the rest
    code = ("import sys, data_prep.synthetic; heavy = {'torch', 'matplotlib', 'sklearn', 'jupyter_book'}; "
            "print(sorted(heavy & set(sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
