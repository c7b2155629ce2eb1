"""The device bundle installs nothing its manifest does not name: every file of the folder is listed with its
SHA-256 (requirements included), a file added, missing or changed is refused by name, requirements are plain
pins, and pip sees only verified copies of the wheels. Built here with a stand-in for pip that "downloads" a
tiny wheel, so no package index is needed."""

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import device_bundle  # noqa: E402
from device_bundle import BundleError  # noqa: E402


def make_wheel(folder: Path, name: str = "tinypkg", version: str = "1.0") -> Path:
    """A pure-Python wheel that pip installs: ``import <name>`` gives ``VALUE = 1``."""
    info = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": "VALUE = 1\n",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{info}/RECORD"] = "".join(f"{p},,\n" for p in files) + f"{info}/RECORD,,\n"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for p, text in files.items():
            z.writestr(p, text)
    return path


@pytest.fixture
def fake_pip(tmp_path) -> tuple[str, ...]:
    """A ``pip`` for :func:`device_bundle.build` whose ``download`` copies one tiny wheel into ``--dest``."""
    made = tmp_path / "wheels"
    made.mkdir()
    wheel = make_wheel(made)
    script = tmp_path / "fake_pip.py"
    script.write_text("import shutil, sys\nargs = sys.argv[1:]\n"
                      f"shutil.copy({str(wheel)!r}, args[args.index('--dest') + 1])\n")
    return (sys.executable, str(script))


@pytest.fixture
def bundle(tmp_path, fake_pip) -> Path:
    out = tmp_path / "bundle"
    device_bundle.build(out, ("3.11",), pip=fake_pip, requirements=("tinypkg==1.0",))
    return out


def _rewrite_manifest(bundle: Path, **changes) -> None:
    """The manifest made to name the folder's files as they are now (as someone who edits it would)."""
    manifest = json.loads((bundle / "MANIFEST.json").read_text())
    manifest["files"] = {p.name: {"sha256": hashlib.sha256(p.read_bytes()).hexdigest(), "bytes": p.stat().st_size}
                         for p in bundle.iterdir() if p.name != "MANIFEST.json"}
    manifest.update(changes)
    (bundle / "MANIFEST.json").write_text(json.dumps(manifest))


def test_the_manifest_names_every_file_of_the_bundle_with_its_digest(bundle):
    manifest = device_bundle.verify(bundle)
    assert set(manifest["files"]) == {"tinypkg-1.0-py3-none-any.whl", "requirements.txt"}
    assert (bundle / "requirements.txt").read_text() == "tinypkg==1.0\n"


def test_a_file_the_manifest_does_not_name_is_refused_by_name(bundle, tmp_path):
    (bundle / "click-99.0.tar.gz").write_bytes(b"an sdist whose build backend would run")
    with pytest.raises(BundleError, match=r"click-99\.0\.tar\.gz.*not named in"):
        device_bundle.verify(bundle)
    with pytest.raises(BundleError, match="click-99"):
        device_bundle.install(bundle, tmp_path / "env")
    assert not (tmp_path / "env").exists()


def test_an_edited_requirements_file_is_refused(bundle):
    with (bundle / "requirements.txt").open("a") as f:
        f.write("/tmp/a-local-project\n")
    with pytest.raises(BundleError, match=r"requirements\.txt.*SHA-256 differs"):
        device_bundle.verify(bundle)


def test_a_missing_file_is_refused_by_name(bundle):
    (bundle / "tinypkg-1.0-py3-none-any.whl").unlink()
    with pytest.raises(BundleError, match=r"tinypkg-1\.0-py3-none-any\.whl.*missing"):
        device_bundle.verify(bundle)


@pytest.mark.parametrize("line", ["/tmp/a-local-project", "./project", "-e .", "--index-url https://example.org",
                                  "https://example.org/x-1.0.tar.gz", "tinypkg>=1.0", "tinypkg @ file:///tmp/x",
                                  "tinypkg==1.0; os.system('x')", "-r other.txt"])
def test_a_requirement_that_is_not_a_plain_pin_is_refused_even_when_the_manifest_names_it(bundle, line):
    (bundle / "requirements.txt").write_text(f"tinypkg==1.0\n{line}\n")
    _rewrite_manifest(bundle)
    with pytest.raises(BundleError, match="not a plain pin"):
        device_bundle.verify(bundle)


def test_a_pin_for_some_pythons_only_is_accepted(bundle):
    (bundle / "requirements.txt").write_text('tinypkg==1.0; python_version >= "3.11"\n')
    _rewrite_manifest(bundle)
    device_bundle.verify(bundle)


@pytest.mark.parametrize("text, what", [
    ('{"files": {"a.whl"', "not complete JSON"),
    ("[]", "not an object"),
    ('{"made": "today"}', "no 'files'"),
    ('{"files": ["a.whl"]}', "'files' is not an object"),
    ('{"files": {"a.whl": "0"}}', "a.whl"),
    ('{"files": {"a.whl": {"sha256": 3, "bytes": 1}}}', "a.whl"),
    ('{"files": {"../a.whl": {"sha256": "' + "0" * 64 + '", "bytes": 1}}}', "../a.whl"),
])
def test_a_damaged_manifest_is_one_message_naming_it(bundle, text, what, capsys):
    (bundle / "MANIFEST.json").write_text(text)
    with pytest.raises(BundleError, match="MANIFEST.json") as caught:
        device_bundle.verify(bundle)
    assert what in str(caught.value) and "make device-bundle" in str(caught.value)
    assert device_bundle.main(["install", "--bundle", str(bundle), "--env", str(bundle.parent / "env")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "MANIFEST.json" in err[0]


def test_the_private_copy_pip_reads_is_hashed_itself(bundle, tmp_path):
    manifest = device_bundle.verify(bundle)
    wheel = bundle / "tinypkg-1.0-py3-none-any.whl"
    wheel.write_bytes(wheel.read_bytes() + b"\0")  # changed after verify, before the copy
    with pytest.raises(BundleError, match="SHA-256 differs"):
        device_bundle.private_copy(bundle, manifest, tmp_path / "copy")


def test_building_into_a_folder_with_files_it_did_not_write_is_refused(tmp_path, fake_pip):
    out = tmp_path / "bundle"
    out.mkdir()
    old = make_wheel(out, "oldpkg", "0.1")
    with pytest.raises(BundleError, match=r"oldpkg-0\.1-py3-none-any\.whl"):
        device_bundle.build(out, ("3.11",), pip=fake_pip, requirements=("tinypkg==1.0",))
    assert old.is_file() and sorted(p.name for p in out.iterdir()) == [old.name]


def test_building_again_replaces_the_bundle_it_wrote_and_nothing_else(bundle, fake_pip):
    device_bundle.build(bundle, ("3.12",), pip=fake_pip, requirements=("tinypkg==1.0",))
    assert device_bundle.verify(bundle)["pythons"] == ["3.12"]
    (bundle / "stray-1.0-py3-none-any.whl").write_bytes(b"x")
    with pytest.raises(BundleError, match="stray-1.0-py3-none-any.whl"):
        device_bundle.build(bundle, ("3.11",), pip=fake_pip, requirements=("tinypkg==1.0",))
    assert (bundle / "stray-1.0-py3-none-any.whl").is_file()
    assert not [p for p in bundle.parent.iterdir() if p.name.startswith(".")]  # no private folder left behind


def test_a_bundle_whose_manifest_named_only_its_wheels_is_replaced_by_a_new_build(bundle, fake_pip):
    manifest = json.loads((bundle / "MANIFEST.json").read_text())
    del manifest["files"]["requirements.txt"]  # as bundles were made before requirements were hashed
    (bundle / "MANIFEST.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="does not name requirements.txt"):
        device_bundle.verify(bundle)
    device_bundle.build(bundle, ("3.11",), pip=fake_pip, requirements=("tinypkg==1.0",))
    assert "requirements.txt" in device_bundle.verify(bundle)["files"]


def test_each_python_downloads_the_pins_its_markers_allow():
    pins = {v: device_bundle.pins_for(device_bundle.REQUIREMENTS, v) for v in device_bundle.PYTHONS}
    assert "ipykernel==7.3.0" in pins["3.10"] and "ipykernel==7.4.0" not in pins["3.10"]
    assert all("ipykernel==7.4.0" in pins[v] and "ipykernel==7.3.0" not in pins[v] for v in ("3.11", "3.12", "3.13"))
    assert all(";" not in p for v in pins for p in pins[v]) and "papermill==2.7.0" in pins["3.13"]


def test_a_failed_download_leaves_no_bundle(tmp_path):
    out = tmp_path / "bundle"
    with pytest.raises(BundleError, match="could not download"):
        device_bundle.build(out, ("3.11",), pip=(sys.executable, "-c", "raise SystemExit(3)"))
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_build_out_a_file_is_refused(tmp_path, fake_pip, capsys):
    a_file = tmp_path / "bundle"
    a_file.write_text("x")
    assert device_bundle.main(["build", "--out", str(a_file), "--pythons", "3.11"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a file" in err[0] and a_file.read_text() == "x"


@pytest.mark.parametrize("value", ["", ",", "3.11,,3.12", "3.x", "311", " 3.11", "3.11;rm"])
def test_pythons_other_than_versions_are_refused_naming_the_value(tmp_path, value, capsys):
    assert device_bundle.main(["build", "--out", str(tmp_path / "b"), "--pythons", value]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--pythons {value!r}" in err[0]
    assert not (tmp_path / "b").exists()


@pytest.mark.slow
def test_install_sees_only_verified_wheels_and_never_builds_an_sdist(bundle, tmp_path):
    python = device_bundle.install(bundle, tmp_path / "env")
    assert subprocess.run([str(python), "-c", "import tinypkg; assert tinypkg.VALUE == 1"]).returncode == 0
    # a manifest rewritten to name an sdist and its pin: pip is told to take wheels only, and builds nothing
    marker = tmp_path / "backend-ran"
    sdist = bundle / "evil-1.0.tar.gz"
    _sdist(sdist, marker)
    (bundle / "requirements.txt").write_text("tinypkg==1.0\nevil==1.0\n")
    _rewrite_manifest(bundle)
    with pytest.raises(BundleError, match="could not install"):
        device_bundle.install(bundle, tmp_path / "env2")
    assert not marker.exists()


def _sdist(path: Path, marker: Path) -> None:
    """An sdist whose in-tree build backend writes ``marker`` when pip asks it anything."""
    import io
    import tarfile

    backend = (f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
               "def get_requires_for_build_wheel(config_settings=None):\n    return []\n")
    files = {"evil-1.0/pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\n'
                                        'backend-path = ["."]\n',
             "evil-1.0/backend.py": backend, "evil-1.0/PKG-INFO": "Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n"}
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
