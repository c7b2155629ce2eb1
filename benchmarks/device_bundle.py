"""The wheels a GPU machine without a package registry needs to execute the chapters with papermill.

A lent GPU machine has torch, torchvision, numpy, scipy, scikit-learn, matplotlib and Pillow but no Jupyter
and no registry. This folder of wheels (``make device-bundle``, git-ignored, at most 64 MiB) carries the rest:
papermill, nbclient, nbformat, ipykernel, jupytext and what they need, plus tqdm and PyYAML, as pure-Python wheels
where they exist and compiled ones for CPython 3.10 to 3.13 (the card's Python is not known in advance)::

    python benchmarks/device_bundle.py build --out device-bundle          # here, where PyPI is reachable
    python benchmarks/device_bundle.py install --bundle device-bundle --env /tmp/sgma-env   # there, offline

``install`` checks every wheel against the bundle's ``MANIFEST.json`` (SHA-256) before pip sees it, makes a
virtual environment that sees the machine's own torch and scientific packages (and nothing else of its
Python), and installs the bundle with ``pip install --no-index --find-links``. numpy and scipy alone are
over 50 MB per CPython, so the bundle does not carry the scientific stack: ``install`` says which of
:data:`PROVIDED` is missing instead of failing later inside a chapter.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as md
import json
import re
import subprocess
import sys
import time
from pathlib import Path

REQUIREMENTS = (
    "papermill==2.7.0",
    "nbclient==0.11.0",
    "nbformat==5.11.1",
    "jupytext==1.19.6",
    "ipykernel>=6.30.1,<=7.4.0",  # 7.4 needs Python 3.11; pip takes the newest each Python can run
    "tqdm==4.70.1",
    "pyyaml==6.0.4",
)
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
# what the machine must have already (import names): the chapters' non-notebook needs
PROVIDED = ("torch", "torchvision", "numpy", "scipy", "sklearn", "matplotlib", "PIL")
LIMIT_BYTES = 64 * 2**20
MANIFEST = "MANIFEST.json"


class BundleError(RuntimeError):
    """The bundle is missing, damaged, too large, or does not fit this machine."""


def _name(text: str) -> str:
    """A distribution's normalised name (PEP 503): ``PyYAML`` → ``pyyaml``."""
    return re.sub(r"[-_.]+", "-", text).lower()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(out: str | Path, pythons=PYTHONS, pip=(sys.executable, "-m", "pip")) -> dict:
    """Download the wheels of :data:`REQUIREMENTS` for every CPython in ``pythons`` into ``out`` and write its
    manifest; :class:`BundleError` if pip fails or the folder exceeds :data:`LIMIT_BYTES`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "requirements.txt").write_text("\n".join(REQUIREMENTS) + "\n")
    for version in pythons:
        cmd = [*pip, "download", "--quiet", "--only-binary=:all:", "--implementation", "cp", "--python-version",
               version, *[f"--platform={p}" for p in PLATFORMS], "--dest", str(out),
               "-r", str(out / "requirements.txt")]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            errors = [line for line in proc.stderr.splitlines() if "WARNING" not in line]
            raise BundleError(f"pip could not download the wheels for CPython {version}: "
                              f"{' '.join(errors)[-600:] or proc.returncode}. Is PyPI reachable from here?")
    wheels = sorted(out.glob("*.whl"))
    files = {w.name: {"sha256": _sha256(w), "bytes": w.stat().st_size} for w in wheels}
    total = sum(f["bytes"] for f in files.values())
    manifest = {"requirements": list(REQUIREMENTS), "pythons": list(pythons), "provided": list(PROVIDED),
                "files": files, "total_bytes": total, "made": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    if total > LIMIT_BYTES:
        raise BundleError(f"{out} holds {total / 2**20:.1f} MiB of wheels, over the {LIMIT_BYTES / 2**20:.0f} MiB a "
                          "device call can carry: drop a Python version from --pythons.")
    return manifest


def verify(bundle: str | Path) -> dict:
    """The bundle's manifest, after every wheel in it matched its SHA-256 and no wheel is missing or extra."""
    bundle = Path(bundle)
    if not (bundle / MANIFEST).is_file():
        raise BundleError(f"{bundle} has no {MANIFEST}: make it with `make device-bundle` where PyPI is reachable.")
    manifest = json.loads((bundle / MANIFEST).read_text())
    present = {w.name for w in bundle.glob("*.whl")}
    listed = set(manifest["files"])
    if present != listed:
        raise BundleError(f"{bundle} does not match its manifest (missing {sorted(listed - present)[:3]}, extra "
                          f"{sorted(present - listed)[:3]}): make it again with `make device-bundle`.")
    for name, info in manifest["files"].items():
        if _sha256(bundle / name) != info["sha256"]:
            raise BundleError(f"{bundle / name} is not the wheel the manifest lists (SHA-256 differs): it was "
                              "damaged or replaced; make the bundle again with `make device-bundle`.")
    return manifest


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


def install(bundle: str | Path, env: str | Path) -> Path:
    """A virtual environment at ``env`` (made here) with the bundle installed offline, seeing this Python's
    torch and scientific stack (:func:`provided_distributions`) and nothing else of it; returns its python."""
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
    bundled = {_name(w.split("-")[0]) for w in manifest["files"]}
    overlay(env / "provided", provided_distributions(bundled))
    (site / "sgma_provided.pth").write_text(str((env / "provided").resolve()) + "\n")
    proc = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(bundle),
                           "-r", str(Path(bundle) / "requirements.txt")], capture_output=True, text=True)
    if proc.returncode:
        raise BundleError(f"pip could not install {bundle} offline into {env}: {proc.stderr.strip()[-600:]}")
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
            m = build(args.out, tuple(args.pythons.split(",")))
            print(f"{args.out}: {len(m['files'])} wheels, {m['total_bytes'] / 2**20:.1f} MiB, CPython "
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
