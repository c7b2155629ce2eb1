"""The wheels a GPU machine without a package registry needs to execute the chapters with papermill.

The machine is expected to have :data:`PROVIDED` (torch and the scientific stack, too large to carry); the
bundle (``make device-bundle``, git-ignored, at most :data:`LIMIT_BYTES`) carries :data:`REQUIREMENTS`, for every
CPython of :data:`PYTHONS` since the card's Python is not known in advance::

    python benchmarks/device_bundle.py build --out device-bundle          # here, where PyPI is reachable
    python benchmarks/device_bundle.py install --bundle device-bundle --env /tmp/sgma-env   # there, offline

:func:`build` writes the wheels, ``requirements.txt`` (plain pins only) and :data:`MANIFEST` (every file with
its SHA-256). :func:`install` refuses (:class:`BundleError`) a file the manifest does not name, a missing or
changed file, a requirement that is not a plain pin, or a machine that lacks one of :data:`PROVIDED`; pip sees
only a verified private copy (``--no-index --only-binary=:all:``: no sdist is built), and the new environment
sees the machine's own :data:`PROVIDED` packages and nothing else of its Python.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as md
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REQUIREMENTS = (  # plain pins only (``install`` refuses anything else); a marker may limit a pin to some Pythons
    "papermill==2.7.0",
    "nbclient==0.11.0",
    "nbformat==5.11.1",
    "jupytext==1.19.6",
    'ipykernel==7.3.0; python_version < "3.11"',  # 7.4 needs Python 3.11
    'ipykernel==7.4.0; python_version >= "3.11"',
    "tqdm==4.70.1",
    "pyyaml==6.0.4",
)
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
# what the machine must have already (import names): the chapters' non-notebook needs
PROVIDED = ("torch", "torchvision", "numpy", "scipy", "sklearn", "matplotlib", "PIL")
LIMIT_BYTES = 64 * 2**20
MANIFEST = "MANIFEST.json"
REQUIREMENTS_FILE = "requirements.txt"
REBUILD = "make the bundle again with `make device-bundle` where PyPI is reachable"
# ``name==version``, optionally for some Pythons only: no path, URL, option or other marker reaches pip
PYTHON_MARKER = r'\s*python_version\s*(<|<=|>|>=|==|!=)\s*"(3\.\d+)"\s*'
PIN = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!_-]+(\s*;{PYTHON_MARKER})?")
PYTHON_VERSION = re.compile(r"3\.\d{1,2}")


class BundleError(RuntimeError):
    """The bundle is missing, damaged, too large, or does not fit this machine."""


def _name(text: str) -> str:
    """A distribution's normalised name (PEP 503): ``PyYAML`` → ``pyyaml``."""
    return re.sub(r"[-_.]+", "-", text).lower()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def checked_pythons(pythons) -> tuple[str, ...]:
    """``pythons`` (a sequence, or the ``--pythons`` text ``3.11,3.12``) as CPython versions ``3.N``; anything
    else (an empty entry, ``3.x``, ``311``) is a :class:`BundleError` naming the value."""
    text = pythons if isinstance(pythons, str) else ",".join(pythons)
    versions = tuple(text.split(","))
    bad = [v for v in versions if not PYTHON_VERSION.fullmatch(v)]
    if bad:
        raise BundleError(f"--pythons {text!r}: {bad[0]!r} is not a CPython version; give versions such as "
                          f"{','.join(PYTHONS)}, separated by commas without spaces.")
    return versions


def _bundle_files(out: Path) -> set[str]:
    """The names of what a folder this tool wrote holds (the files its manifest names, the manifest, the
    requirements); anything else in ``out`` (a file it did not write, a folder, a link) is a :class:`BundleError`,
    and nothing is replaced or deleted then."""
    if out.exists() and not out.is_dir():
        raise BundleError(f"--out {out} is a file, not a folder: give a new folder for the bundle.")
    present = {p.name for p in out.iterdir()} if out.is_dir() else set()
    if not present:
        return set()
    own, damaged = set(), ""
    if MANIFEST in present:
        try:
            own = {MANIFEST, REQUIREMENTS_FILE, *read_manifest(out)["files"]}
        except BundleError:
            damaged = f"its {MANIFEST} is damaged; "
    foreign = sorted(n for n in present if n not in own or not (out / n).is_file() or (out / n).is_symlink())
    if foreign:
        raise BundleError(f"--out {out} is not a bundle this tool wrote ({damaged}it holds {', '.join(foreign[:3])}"
                          f"{' …' if len(foreign) > 3 else ''}): nothing there is replaced or deleted; give a new or "
                          "empty folder, or move those files away.")
    return present


def pins_for(requirements, version: str) -> list[str]:
    """The pins of ``requirements`` that hold for CPython ``version`` (``3.N``), their markers dropped: what pip
    downloads for that Python (``pip download`` judges markers by the Python running it, not the target)."""
    ops = {"<": "__lt__", "<=": "__le__", ">": "__gt__", ">=": "__ge__", "==": "__eq__", "!=": "__ne__"}
    chosen = []
    for line in requirements:
        pin, _, marker = line.partition(";")
        found = re.fullmatch(PYTHON_MARKER, marker)
        if not marker or getattr(tuple(map(int, version.split("."))), ops[found.group(1)])(
                tuple(map(int, found.group(2).split(".")))):
            chosen.append(pin.strip())
    return chosen


def _download(dest: Path, pythons: tuple[str, ...], pip, requirements) -> dict:
    """The wheels of ``requirements`` for every CPython of ``pythons`` downloaded into ``dest`` (empty), with
    ``requirements.txt`` and the manifest naming every file."""
    (dest / REQUIREMENTS_FILE).write_text("\n".join(requirements) + "\n")
    for version in pythons:
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as request:
            request.write("\n".join(pins_for(requirements, version)) + "\n")
            request.flush()
            cmd = [*pip, "download", "--quiet", "--only-binary=:all:", "--implementation", "cp", "--python-version",
                   version, *[f"--platform={p}" for p in PLATFORMS], "--dest", str(dest), "-r", request.name]
            proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            errors = [line for line in proc.stderr.splitlines() if "WARNING" not in line]
            raise BundleError(f"pip could not download the wheels for CPython {version}: "
                              f"{' '.join(errors)[-600:] or proc.returncode}. Is PyPI reachable from here?")
    files = {p.name: {"sha256": _sha256(p), "bytes": p.stat().st_size} for p in sorted(dest.iterdir())}
    manifest = {"requirements": list(requirements), "pythons": list(pythons), "provided": list(PROVIDED),
                "files": files, "total_bytes": sum(f["bytes"] for f in files.values()),
                "made": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def build(out: str | Path, pythons=PYTHONS, pip=(sys.executable, "-m", "pip"), requirements=REQUIREMENTS) -> dict:
    """Download the wheels of ``requirements`` for every CPython in ``pythons`` into ``out`` and write its
    manifest, which names every file of the folder with its SHA-256.

    The download goes into a new private folder beside ``out``, moved into place when complete, so the bundle
    holds exactly what was downloaded. ``out`` must be new, empty, or a bundle this tool wrote (replaced, and
    only its own files deleted); anything else, a bad ``pythons`` entry, a failed download or a folder over
    :data:`LIMIT_BYTES` is a :class:`BundleError`, and ``out`` is then as it was."""
    out, pythons = Path(out), checked_pythons(pythons)
    previous = _bundle_files(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        manifest = _download(staging, pythons, pip, requirements)
        if manifest["total_bytes"] > LIMIT_BYTES:
            raise BundleError(f"the bundle holds {manifest['total_bytes'] / 2**20:.1f} MiB of wheels, over the "
                              f"{LIMIT_BYTES / 2**20:.0f} MiB a device call can carry: drop a Python version from "
                              "--pythons.")
        if out.is_dir():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            out.rename(old / "bundle")
            staging.rename(out)
            for name in previous:
                (old / "bundle" / name).unlink()
            (old / "bundle").rmdir()
            old.rmdir()
        else:
            staging.rename(out)
    finally:
        if staging.is_dir():
            shutil.rmtree(staging)  # the private folder made above, never ``out``
    return manifest


def _manifest_entry(name, info) -> str | None:
    """What is wrong with one entry of a manifest's ``files`` (None: a plain file name with its digest)."""
    if not isinstance(name, str) or Path(name).name != name or name in ("", ".", "..", MANIFEST):
        return f"it names {name!r}, which is not a file of the folder"
    if not (isinstance(info, dict) and isinstance(info.get("sha256"), str) and re.fullmatch(r"[0-9a-f]{64}",
                                                                                          info["sha256"])):
        return f"its entry for {name} has no SHA-256"
    return None


def read_manifest(bundle: str | Path) -> dict:
    """The bundle's manifest, checked for shape: an object whose ``files`` maps plain file names to their
    SHA-256; a missing, cut-short or mis-shaped one is a :class:`BundleError` naming it."""
    path = Path(bundle) / MANIFEST
    if not path.is_file():
        raise BundleError(f"{Path(bundle)} has no {MANIFEST}: {REBUILD}.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        problem = "it is not complete JSON: cut short or damaged"
    else:
        if not isinstance(manifest, dict):
            problem = "it is not an object"
        elif "files" not in manifest:
            problem = "it has no 'files'"
        elif not isinstance(manifest["files"], dict):
            problem = "'files' is not an object"
        else:
            problem = next(filter(None, (_manifest_entry(n, i) for n, i in manifest["files"].items())), None)
    if problem:
        raise BundleError(f"{path} is damaged ({problem}): {REBUILD}.")
    return manifest


def _check_pins(path: Path) -> None:
    """Every line of a requirements file is a plain pin (:data:`PIN`); a path, URL, option or editable is a
    :class:`BundleError` naming the line."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip() and not line.startswith("#") and not PIN.fullmatch(line.strip()):
            raise BundleError(f"{path}, line {number}: {line.strip()!r} is not a plain pin (name==version); a path, "
                              f"URL, option or editable requirement is never installed: {REBUILD}.")


def verify(bundle: str | Path) -> dict:
    """The bundle's manifest, after every file of the folder matched its SHA-256 in it: a file the manifest does
    not name, a missing or changed file, or a requirement that is not a plain pin is a :class:`BundleError`
    naming it."""
    bundle = Path(bundle)
    manifest = read_manifest(bundle)
    present = {p.name for p in bundle.iterdir()} - {MANIFEST}
    unnamed, missing = sorted(present - set(manifest["files"])), sorted(set(manifest["files"]) - present)
    if REQUIREMENTS_FILE not in manifest["files"]:
        raise BundleError(f"{bundle / MANIFEST} does not name {REQUIREMENTS_FILE} (an older bundle, or a damaged "
                          f"one): {REBUILD}.")
    if unnamed:
        raise BundleError(f"{bundle / unnamed[0]} is not named in {bundle / MANIFEST}: a file added after the bundle "
                          "was made is never installed; remove it, or make the bundle again with `make "
                          "device-bundle BUNDLE=<new folder>`.")
    if missing:
        raise BundleError(f"{bundle / missing[0]} is missing from the bundle: {REBUILD}.")
    for name, info in manifest["files"].items():
        check_file(bundle / name, info)
    _check_pins(bundle / REQUIREMENTS_FILE)
    return manifest


def check_file(path: Path, info: dict) -> None:
    """:class:`BundleError` unless ``path`` is a file with the SHA-256 of its manifest entry ``info``."""
    if not path.is_file() or _sha256(path) != info["sha256"]:
        raise BundleError(f"{path} is not the file the manifest lists (SHA-256 differs): it was damaged or "
                          f"replaced; {REBUILD}.")


def private_copy(bundle: Path, manifest: dict, folder: Path) -> Path:
    """The files ``manifest`` names copied from ``bundle`` into ``folder`` (made, private to this user), each copy
    checked against its SHA-256: what pip reads is what was verified, whatever happens to ``bundle`` meanwhile."""
    folder.mkdir(mode=0o700, parents=True)
    for name, info in manifest["files"].items():
        shutil.copyfile(bundle / name, folder / name)
        check_file(folder / name, info)
    _check_pins(folder / REQUIREMENTS_FILE)
    return folder


def _requires(dist: md.Distribution) -> list[str]:
    """The names of what ``dist`` requires outside its extras."""
    return [_name(re.match(r"[A-Za-z0-9._-]+", r).group(0)) for r in dist.requires or [] if "extra" not in r]


def provided_distributions(bundled: set[str]) -> list[md.Distribution]:
    """The distributions of this Python that :data:`PROVIDED` need (what they require, recursively), minus
    those the bundle brings: what the bundle's environment sees of this machine."""
    by_name = {_name(d.metadata["Name"]): d for d in md.distributions() if d.metadata["Name"]}
    tops = md.packages_distributions()
    todo = [_name(tops[m][0]) for m in PROVIDED if m in tops]
    seen: dict[str, md.Distribution] = {}
    while todo:
        name = todo.pop()
        if name in seen or name in bundled or name not in by_name:
            continue
        seen[name] = by_name[name]
        todo += _requires(by_name[name])
    return list(seen.values())


def overlay(folder: Path, dists: list[md.Distribution]) -> None:
    """Links in ``folder`` to the top-level files and folders of ``dists`` (their packages, ``.libs`` folders and
    metadata), so that a ``.pth`` line naming ``folder`` makes exactly those importable."""
    folder.mkdir(parents=True, exist_ok=True)
    for dist in dists:
        for top in {Path(f).parts[0] for f in dist.files or [] if not str(f).startswith("..")}:
            source, link = Path(dist.locate_file(top)), folder / top
            if source.exists() and not link.exists():
                link.symlink_to(source.resolve())


def _pip_install(python: Path, bundle: Path, manifest: dict) -> None:
    """The bundle installed by ``python``'s pip from a private verified copy (:func:`private_copy`): no index,
    wheels only, no build step, so pip runs no code of the bundle while installing it."""
    with tempfile.TemporaryDirectory(prefix="sgma-bundle-") as tmp:
        wheels = private_copy(bundle, manifest, Path(tmp) / "wheels")
        proc = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-index", "--no-build-isolation",
                               "--only-binary=:all:", "--find-links", str(wheels),
                               "-r", str(wheels / REQUIREMENTS_FILE)], capture_output=True, text=True)
    if proc.returncode:
        raise BundleError(f"pip could not install {bundle} offline into {python.parent.parent}: "
                          f"{proc.stderr.strip()[-600:]}")


def install(bundle: str | Path, env: str | Path) -> Path:
    """A virtual environment at ``env`` (made here) with the bundle installed offline, seeing this Python's
    torch and scientific stack (:func:`provided_distributions`) and nothing else of it; returns its python.

    The bundle is verified first (:func:`verify`), and pip reads only a private copy of what was verified."""
    bundle = Path(bundle)
    manifest = verify(bundle)
    missing = [m for m in PROVIDED if m not in md.packages_distributions()]
    if missing:
        raise BundleError(f"this Python ({sys.executable}) lacks {', '.join(missing)}, which the bundle does not "
                          "carry (numpy and scipy alone exceed its size): install them on this machine first.")
    env = Path(env)
    if env.exists():
        raise BundleError(f"{env} exists: give a new folder for the environment (nothing is deleted here).")
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    python = env / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    bundled = {_name(w.split("-")[0]) for w in manifest["files"] if w.endswith(".whl")}
    overlay(env / "provided", provided_distributions(bundled))
    (site / "sgma_provided.pth").write_text(str((env / "provided").resolve()) + "\n")
    _pip_install(python, bundle, manifest)
    return python


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/device_bundle.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="download the wheels (where PyPI is reachable)")
    b.add_argument("--out", default="device-bundle")
    b.add_argument("--pythons", default=",".join(PYTHONS), help="CPython versions, e.g. 3.11,3.12")
    i = sub.add_parser("install", help="make an environment with the bundle installed offline")
    i.add_argument("--bundle", default="device-bundle")
    i.add_argument("--env", required=True, help="a new folder for the environment")
    args = p.parse_args(argv)
    try:
        if args.command == "build":
            m = build(args.out, args.pythons)
            wheels = sum(n.endswith(".whl") for n in m["files"])
            print(f"{args.out}: {wheels} wheels, {m['total_bytes'] / 2**20:.1f} MiB, CPython "
                  f"{', '.join(m['pythons'])}; on the GPU machine: python benchmarks/device_bundle.py install "
                  f"--bundle {args.out} --env <new folder>")
        else:
            print(install(args.bundle, args.env))
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
