"""The GPU hour prepared on the CPU: the device bundle (wheels that install offline, checked by their manifest)
and ``make gpu-day DRY_RUN=1``, which installs the bundle offline as on the card, executes chapters 02 and 04 by
papermill there and writes every field the card's run writes."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import device_bundle  # noqa: E402
import gpu_day  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """``make device-bundle`` into a temporary folder (pip's cache makes a second build quick)."""
    probe = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest",
                            str(tmp_path_factory.mktemp("probe")), "tqdm==4.70.1"], capture_output=True, text=True)
    if probe.returncode:
        pytest.skip("no package index reachable from here, so the bundle cannot be downloaded")
    out = tmp_path_factory.mktemp("bundle") / "device-bundle"
    subprocess.run(["make", "--no-print-directory", "device-bundle", f"BUNDLE={out}"], cwd=ROOT, check=True,
                   capture_output=True)
    return out


def test_the_bundle_fits_a_device_call_holds_every_python_and_refuses_a_changed_wheel(bundle, tmp_path):
    manifest = device_bundle.verify(bundle)
    assert manifest["total_bytes"] <= device_bundle.LIMIT_BYTES
    wheels = list(manifest["files"])
    for version in ("310", "311", "312", "313"):  # pyyaml is compiled: one wheel per CPython (or one abi3 wheel)
        assert any(w.startswith("pyyaml-") and f"cp{version}" in w for w in wheels), version
    for name in ("papermill", "ipykernel", "jupytext", "nbclient", "nbformat"):
        assert any(w.lower().startswith(name + "-") for w in wheels), name
    assert not any(w.startswith(("torch-", "numpy-", "scipy-")) for w in wheels)
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    victim = copy / wheels[0]
    victim.write_bytes(victim.read_bytes() + b"\0")
    with pytest.raises(device_bundle.BundleError, match="SHA-256 differs"):
        device_bundle.install(copy, tmp_path / "env")
    assert not (tmp_path / "env").exists()  # refused before anything was made


def test_the_dry_run_writes_every_field_of_the_card_run(bundle, tmp_path):
    t0 = time.perf_counter()
    subprocess.run(["make", "--no-print-directory", "gpu-day", "DRY_RUN=1", f"OUT={tmp_path / 'out'}",
                    f"BUNDLE={bundle}", f"WORK={tmp_path / 'work'}"], cwd=ROOT, check=True, capture_output=True)
    seconds = time.perf_counter() - t0
    (path,) = (tmp_path / "out").glob("gpu_day-cpu-*.json")
    report = json.loads(path.read_text())
    assert path.with_suffix(".md").is_file()
    failed = {k: v["error"] for k, v in report.items() if isinstance(v, dict) and "error" in v}
    assert not failed, failed
    assert set(gpu_day.SECTIONS) <= set(report)
    steps = report["steps"]
    assert {(r["model"], r["mode"]) for r in steps["rows"]} == {(m, k) for m in ("baseline", "sgma")
                                                                for k in ("eager", "compile")}
    assert all(r["images_per_s"] > 0 and 0 < r["fraction_of_bound"] for r in steps["rows"])
    assert steps["sgma_overhead"] > 1 and set(steps["host_syncs_per_eager_step"]) == {"baseline", "sgma"}
    for model in ("baseline", "sgma"):  # the compiled step gives the eager step's losses
        assert report["parity"][model]["within"], report["parity"][model]
    start = report["start"]
    assert start["loads_back_identical"] and len(start["manifest"]["sha256"]) == 64
    assert Path(start["file"]).is_file()
    for name, row in report["chapters"]["chapters"].items():  # executed by papermill in the offline environment
        assert row["returncode"] == 0, row.get("output_tail")
        assert all(k in row for k in ("T1", "u", "s", "H", "chance_T1")), name
    assert str(tmp_path / "work" / "env") in report["chapters"]["environment"]
    assert report["cub_epoch"]["epoch_seconds"] > 0
    assert report["total_seconds"] <= seconds
