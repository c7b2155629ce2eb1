"""CPU dispatch levels (sgma_core.dispatch): importing sgma_core pins PyTorch's, oneDNN's and MKL's instruction sets
unless a variable is already set or SGMA_CPU_DISPATCH=native; the levels a CPU run computes at are part of its
identity and of every record's provenance."""

import json
import os
import platform
import subprocess
import sys

import pytest
import torch

from sgma_core import dispatch
from sgma_core.engine.runs import Run
from sgma_core.experiment import recipes
from sgma_core.paths import repo_root
from sgma_core.profiles import make_config
from sgma_core.records import provenance

AVX512 = {"aten": "AVX512", "onednn": "native", "mkl_cbwr": "native"}
AVX2 = {"aten": "AVX2", "onednn": "AVX2", "mkl_cbwr": "AVX2"}


@pytest.fixture
def unset(monkeypatch):
    """None of the pinned variables set, and no choice made."""
    for name in (*dispatch.PINNED, dispatch.OPT_OUT):
        monkeypatch.delenv(name, raising=False)


def test_pin_sets_every_level_that_is_not_set_and_leaves_a_set_one_alone(unset, monkeypatch):
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")
    dispatch.pin()
    assert os.environ["ATEN_CPU_CAPABILITY"] == "default"
    assert {k: os.environ[k] for k in ("ONEDNN_MAX_CPU_ISA", "MKL_CBWR")} == {"ONEDNN_MAX_CPU_ISA": "AVX2",
                                                                             "MKL_CBWR": "AVX2"}


@pytest.mark.parametrize("choice", ["native", " Native "])
def test_pin_does_nothing_when_native_is_asked_for(unset, monkeypatch, choice):
    monkeypatch.setenv(dispatch.OPT_OUT, choice)
    dispatch.pin()
    assert not set(dispatch.PINNED) & set(os.environ)


def test_another_choice_is_refused_naming_the_variable_and_the_choices(unset, monkeypatch):
    monkeypatch.setenv(dispatch.OPT_OUT, "avx512")
    with pytest.raises(ValueError, match=r"SGMA_CPU_DISPATCH='avx512': choose 'pinned'.*or 'native'"):
        dispatch.pin()
    assert not set(dispatch.PINNED) & set(os.environ)  # nothing was pinned on the way


def _levels_in_a_new_process(**environ) -> dict:
    """``levels()`` in a fresh Python that imports sgma_core, with ``environ`` over this one's (``None``: unset)."""
    env = {k: v for k, v in os.environ.items() if k not in (*dispatch.PINNED, dispatch.OPT_OUT)}
    env.update({k: v for k, v in environ.items() if v is not None})
    env["PYTHONPATH"] = str(repo_root())
    code = "import json, sgma_core; from sgma_core.dispatch import levels; print(json.dumps(levels()))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.slow
@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="the pinned levels are x86-64's")
def test_importing_sgma_core_pins_the_levels_and_levels_reports_what_the_process_uses():
    assert _levels_in_a_new_process() == AVX2
    native = _levels_in_a_new_process(SGMA_CPU_DISPATCH="native")
    assert native["onednn"] == native["mkl_cbwr"] == "native" and native["aten"] in ("AVX512", "AVX2", "DEFAULT")
    assert _levels_in_a_new_process(ATEN_CPU_CAPABILITY="default")["aten"] == "DEFAULT"


def test_levels_reports_the_three_libraries():
    found = dispatch.levels()
    assert set(found) == {"aten", "onednn", "mkl_cbwr"}
    assert found["aten"] == torch.backends.cpu.get_cpu_capability()


class _Prepared:
    """What run_extra reads of prepared data."""

    split = "test"
    dataset = type("D", (), {"fingerprint": staticmethod(lambda: "data")})()


@pytest.mark.parametrize("kind", ["baseline", "sgma"])
def test_runs_of_the_same_settings_at_other_levels_are_other_runs(tmp_path, monkeypatch, kind):
    cfg = make_config("smoke", {"device": "cpu"})

    def folder(levels):
        monkeypatch.setattr(recipes, "dispatch_levels", lambda: levels)
        return Run.of(kind, cfg, tmp_path, extra=recipes.run_extra(_Prepared(), cfg)).path

    assert folder(AVX2) == folder(dict(AVX2)) != folder(AVX512)
    assert json.loads(json.dumps(recipes.run_extra(_Prepared(), cfg)))["cpu_dispatch"] == AVX512


def test_a_gpu_runs_identity_holds_no_cpu_levels(monkeypatch):
    """The CPU's instruction sets do not decide a GPU run's bits: its name stays what it was before they were
    recorded."""
    monkeypatch.setattr(recipes, "resolve_device", lambda name: torch.device("cuda"))
    assert "cpu_dispatch" not in recipes.run_extra(_Prepared(), make_config("smoke", {"device": "cuda"}))


def test_every_record_says_at_which_levels_it_was_made(monkeypatch):
    monkeypatch.setattr(dispatch, "levels", lambda: AVX512)
    assert provenance({"seed": 0}, 1.0)["cpu_dispatch"] == AVX512


def _benchmark():
    import importlib.util

    spec = importlib.util.spec_from_file_location("dispatch_benchmark", repo_root() / "benchmarks" / "dispatch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmarks_processes_start_from_no_dispatch_variable_but_their_own():
    bench = _benchmark()
    base = {"PATH": "/bin", "MKL_CBWR": "COMPATIBLE", dispatch.OPT_OUT: "native", "OMP_NUM_THREADS": "2"}
    env = bench.child_environment({"ATEN_CPU_CAPABILITY": "default"}, base)
    assert env["ATEN_CPU_CAPABILITY"] == "default" and "MKL_CBWR" not in env and dispatch.OPT_OUT not in env
    assert env["OMP_NUM_THREADS"] == "1" and env["PATH"] == "/bin"


def test_the_benchmarks_report_says_which_digests_agree_and_what_pinning_costs():
    bench = _benchmark()
    rows = [{"variant": name, "levels": AVX2 if name.startswith("pinned") else AVX512, "threads": 1,
             "digest": ("a" if name.startswith("pinned") else "b" if name.startswith("native") else name) * 64,
             "train_loss": 1.0, "seconds": 2 * seconds, "cpu_seconds": seconds}
            for (name, _), seconds in zip(bench.VARIANTS, (10.0, 11.0, 9.0, 9.0, 13.0, 12.0))]
    assert bench.agreeing(rows) == [["native", "native (again)"], ["pinned", "pinned (again)"],
                                    ["PyTorch AVX2, oneDNN and MKL native"],
                                    ["PyTorch default, oneDNN and MKL native"]]
    assert bench.pinning_cost(rows) == {"pinned": (11.0, 12.0), "native": (10.0, 11.0)}
    args = bench.parse(["-p", "epochs", "1", "--out", "x.md"])
    text = bench.report(rows, args, "a machine", "a CPU")
    assert "native and native (again) agree; pinned and pinned (again) agree;" in text
    assert "pinned process trained in 11.00 CPU seconds, the fastest native one in 10.00, a ratio of 1.100" in text
    assert "python benchmarks/dispatch.py --profile smoke --model sgma --seed 0 -p epochs 1 --out x.md" in text


def test_leave_native_undoes_the_pin_for_the_processes_started_after_it(monkeypatch):
    from sgma_core import dispatch

    for name in dispatch.PINNED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(dispatch.OPT_OUT, raising=False)
    dispatch.pin()
    monkeypatch.setenv("MKL_CBWR", "COMPATIBLE")  # set to another value by someone else: left alone
    dispatch.leave_native()
    assert os.environ[dispatch.OPT_OUT] == "native" and os.environ["MKL_CBWR"] == "COMPATIBLE"
    assert "ATEN_CPU_CAPABILITY" not in os.environ and "ONEDNN_MAX_CPU_ISA" not in os.environ
    dispatch.pin()  # a later pin does nothing under native
    assert "ATEN_CPU_CAPABILITY" not in os.environ


def test_native_while_leaves_the_callers_pin_as_it_was(monkeypatch):
    from sgma_core import dispatch

    monkeypatch.delenv(dispatch.OPT_OUT, raising=False)
    for name, value in dispatch.PINNED.items():
        monkeypatch.setenv(name, value)
    with dispatch.native_while():
        assert os.environ[dispatch.OPT_OUT] == "native" and "ATEN_CPU_CAPABILITY" not in os.environ
    assert dispatch.OPT_OUT not in os.environ
    assert {name: os.environ[name] for name in dispatch.PINNED} == dispatch.PINNED
