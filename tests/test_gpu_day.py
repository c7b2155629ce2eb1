"""The GPU hour prepared on the CPU: the device bundle (wheels that install offline, checked by their manifest)
and ``make gpu-day DRY_RUN=1``, which installs the bundle offline as on the card, executes chapters 02 and 04 by
papermill there and writes every field the card's run writes; the day's report keeps every run's sections, a
failed section is a non-zero exit, and everything a run writes is checked before any section runs (sections
replaced by stand-ins: the checks come before any device time)."""

import json
import os
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

from tests.test_child_processes import assert_ended_without_writing, child_pids  # noqa: E402
from tests.test_device_bundle import fake_pip  # noqa: E402, F401 - a fixture


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


@pytest.mark.slow
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


@pytest.mark.slow
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


CUB = {"backbone": "small_vgg", "images": 16, "size": 32, "joint_size": 16, "precision": "fp32", "epoch_seconds": 2.0,
       "images_per_s": 8.0, "wall_seconds": 2.1}
PARITY = {m: {"eager": [1.0], "compiled": [1.0], "max_relative_difference": 0.0, "tolerance": 1e-4, "within": True}
          for m in ("baseline", "sgma")}


@pytest.fixture
def stand_ins(monkeypatch, tmp_path) -> list[str]:
    """Every section replaced by a stand-in that records its name and returns at once (the birds too)."""
    ran: list[str] = []

    def section(name, result):
        return lambda *args: ran.append(name) or json.loads(json.dumps(result))

    for name, result in {"steps": {"rows": []}, "parity": PARITY, "start": {"file": "x"}, "chapters": {},
                         "cub_epoch": CUB}.items():
        monkeypatch.setattr(gpu_day, name, section(name, result))
    monkeypatch.setattr(gpu_day, "synthetic_root", lambda work: tmp_path / "data")
    return ran


def day(out: Path, suffix: str = ".json") -> Path:
    (path,) = out.glob(f"gpu_day-cpu-*{suffix}")
    return path


def run(out: Path, work: Path, *more: str) -> int:
    return gpu_day.main(["--dry-run", "--out", str(out), "--work", str(work), *more])


def test_a_second_run_on_the_same_day_keeps_the_sections_it_did_not_run(stand_ins, tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert run(out, tmp_path / "w1", "--sections", "cub_epoch") == 0
    assert run(out, tmp_path / "w2", "--sections", "parity") == 0
    report = json.loads(day(out).read_text())
    assert report["cub_epoch"]["epoch_seconds"] == 2.0 and report["parity"]["sgma"]["within"]
    assert "One CUB-sized SGMA epoch" in day(out, ".md").read_text()
    assert "Compiled against eager" in day(out, ".md").read_text()
    monkeypatch.setattr(gpu_day, "cub_epoch", lambda *args: {**CUB, "epoch_seconds": 3.0})
    assert run(out, tmp_path / "w3", "--sections", "cub_epoch") == 0  # a newer result replaces its own section only
    again = json.loads(day(out).read_text())
    assert again["cub_epoch"]["epoch_seconds"] == 3.0 and again["parity"] == report["parity"]
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # written atomically: no partial files


def test_a_failed_section_is_a_non_zero_exit_naming_it(stand_ins, tmp_path, monkeypatch, capsys):
    def broken(*args):
        raise KeyError("start")

    monkeypatch.setattr(gpu_day, "steps", broken)
    assert run(tmp_path / "out", tmp_path / "w", "--sections", "steps,cub_epoch") == 1
    err = capsys.readouterr().err
    assert "1 of 2 sections failed" in err and "steps: KeyError: 'start'" in err
    assert json.loads(day(tmp_path / "out").read_text())["cub_epoch"]["epoch_seconds"] == 2.0  # the next one ran


def test_the_chapters_alone_need_a_start_from_today_and_say_so_before_any_work(stand_ins, tmp_path, fake_pip,
                                                                                capsys):
    bundle = tmp_path / "bundle"
    device_bundle.build(bundle, ("3.11",), pip=fake_pip, requirements=("tinypkg==1.0",))
    assert run(tmp_path / "out", tmp_path / "w", "--sections", "chapters", "--bundle", str(bundle)) == 2
    assert "no start section has run today: run --sections start,chapters" in capsys.readouterr().err
    assert stand_ins == [] and not list((tmp_path / "out").iterdir())


@pytest.mark.parametrize("case, message", [
    ("out is a file", "--out {out} is a file, not a folder"),
    ("work is a file", "--work {work} is a file, not a folder"),
    ("work is not empty", "--work {work} is not empty"),
    ("a damaged report", "is not a complete JSON record"),
    ("no bundle", "the chapters section cannot run: {tmp}/no-bundle has no MANIFEST.json"),
    ("an unknown section", "--sections 'steps,epoch': 'epoch' is not a section"),
    ("an empty section", "--sections 'steps,': '' is not a section"),
])
def test_what_a_run_writes_and_reads_is_checked_before_any_section(stand_ins, tmp_path, case, message, capsys):
    out, work = tmp_path / "out", tmp_path / "work"
    sections, bundle = "steps", tmp_path / "no-bundle"
    if case == "out is a file":
        out.write_text("x")
    elif case == "work is a file":
        work.write_text("x")
    elif case == "work is not empty":
        work.mkdir()
        (work / "mine.txt").write_text("x")
    elif case == "a damaged report":
        out.mkdir()
        (out / f"gpu_day-cpu-{time.strftime('%Y-%m-%d')}.json").write_text('{"steps": {')
    elif case == "no bundle":
        sections = "steps,start,chapters"
    else:
        sections = {"an unknown section": "steps,epoch", "an empty section": "steps,"}[case]
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert gpu_day.main(["--dry-run", "--out", str(out), "--work", str(work), "--sections", sections, "--bundle",
                         str(bundle)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message.format(out=out, work=work, tmp=tmp_path) in err[0], err
    assert stand_ins == []
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_a_read_only_out_is_refused_before_any_section(stand_ins, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir(mode=0o555)
    out.chmod(0o555)
    immutable = os.geteuid() == 0  # root writes into any folder, but not into an immutable one
    if immutable and subprocess.run(["chattr", "+i", str(out)], capture_output=True).returncode:
        pytest.skip("running as root where chattr +i does not work: no folder here is read-only to this user")
    try:
        assert run(out, tmp_path / "w", "--sections", "cub_epoch") == 2
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(out)], check=True)
    assert f"--out {out} cannot be written" in capsys.readouterr().err
    assert stand_ins == [] and list(out.iterdir()) == []


@pytest.mark.slow
def test_a_chapter_process_dies_with_a_gpu_day_killed_by_sigkill(tmp_path):
    """kill -9 of gpu_day while a chapter runs: the chapter process ends and never writes afterwards (the chapter
    here is a stand-in for ``python -m bookkit.chapters``: it records its pid, sleeps, then writes)."""
    from tests.test_child_processes import CHILD

    python = tmp_path / "python"
    python.write_text(f"#!{sys.executable}\nimport sys\nsys.argv[1:] = [{str(tmp_path)!r}, 'chapter']\n{CHILD}\n")
    python.chmod(0o755)
    parent = subprocess.Popen([sys.executable, "-c", "import sys; sys.path.insert(0, 'benchmarks'); import gpu_day; "
                               "gpu_day.run_chapter(sys.argv[1], '02_baseline', {}, {}, gpu_day.Path(sys.argv[2]))",
                               str(python), str(tmp_path / "work")], cwd=ROOT)
    (pid,) = child_pids(tmp_path, ["chapter"])
    parent.kill()
    parent.wait()
    assert_ended_without_writing(tmp_path, [pid])
