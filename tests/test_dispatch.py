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
