"""Render the synthetic "birds" dataset in the CUB-200-2011 layout, plus an xlsa17 split file.

Why a synthetic dataset: real images cannot be shipped or downloaded everywhere, and a course
needs something that trains in minutes on a laptop. The dataset is built so that the problem
SGMA addresses is present (METHOD §11):

* attributes come in CUB-like groups (``has_head_color::red``, ``has_tail_shape::forked``…);
* every class is a distinct combination of attribute values, and every unseen class is a *new*
  combination of values that all occur among seen classes — zero-shot transfer is possible;
* a class can be read only by looking at the right places: every image holds every palette colour
  once as a head and once as a wing, both bill lengths and all three tail shapes (decoys beside the
  bird, of its parts' sizes), so which colours and shapes are present says nothing of the class —
  only which of them are *on the bird* does (:mod:`data_prep.audit` measures it);
* pose, scale, position and facing direction vary per image, and the body colour is random
  (not class information);
* ground-truth part locations and boxes are written, so attention can be scored.

Output (``<out>/CUB_200_2011/…`` and ``<out>/xlsa17/…``) is byte-identical for the same
settings: every image has its own random stream seeded by ``(seed, image_id)``, so the
result does not depend on the number of worker processes.

The drawing is in :mod:`data_prep.synthetic_render`, the tables and the split file are written
by :mod:`data_prep.synthetic_layout`; this module picks the classes and images and writes the
dataset safely (idempotent, never over a folder it did not write).

Command line::

    python -m data_prep.synthetic --out data/SYN            # default size
    python -m data_prep.synthetic --out /tmp/s --images-per-class 8 --classes 12 --unseen 4
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from data_prep.synthetic_layout import MAT_HEADER, write_cub_tables, write_xlsa17
from data_prep.synthetic_render import BACKGROUNDS, BODY_COLORS, COLORS, PART_NAMES, SUPERSAMPLE, render_bird
from sgma_core.cli import add_debug_flag, command

# The drawing and the table writing live in their own modules; their public names are
# re-exported so that code importing them from here keeps working.
__all__ = [
    "ATTRIBUTE_GROUPS", "BACKGROUNDS", "BODY_COLORS", "COLORS", "FORMAT_VERSION", "MAT_HEADER", "PART_NAMES", "STAMP",
    "SUPERSAMPLE", "SyntheticConfig", "attribute_names", "class_attributes", "class_name", "generate", "main",
    "make_classes", "render_bird", "tree_digest",
]

FORMAT_VERSION = 2  # 2: decoys make what an image holds independent of its class (1: it named the class)
STAMP = "SYNTHETIC.json"

ATTRIBUTE_GROUPS: list[tuple[str, list[str]]] = [
    ("has_head_color", list(COLORS)),
    ("has_wing_color", list(COLORS)),
    ("has_tail_shape", ["forked", "rounded", "pointed"]),
    ("has_bill_length", ["short", "long"]),
]


@dataclass(frozen=True)
class SyntheticConfig:
    """Size and randomness of the synthetic dataset. The defaults are the book's dataset."""

    seed: int = 0
    classes: int = 40
    unseen: int = 10
    images_per_class: int = 60
    image_size: int = 128
    test_seen_fraction: float = 0.2
    val_class_fraction: float = 1 / 3
    jpeg_quality: int = 92

    def __post_init__(self) -> None:
        n_combos = math.prod(len(v) for _, v in ATTRIBUTE_GROUPS)
        if not 2 <= self.classes <= n_combos:
            raise ValueError(f"classes={self.classes}: must be between 2 and {n_combos} (attribute combinations).")
        if not 1 <= self.unseen < self.classes:
            raise ValueError(f"unseen={self.unseen}: must be at least 1 and fewer than classes={self.classes}.")
        if self.images_per_class < 2:
            raise ValueError(f"images_per_class={self.images_per_class}: need at least 2 (trainval and test_seen).")
        if self.image_size < 32:
            raise ValueError(f"image_size={self.image_size}: must be at least 32 pixels.")


# --------------------------------------------------------------------------------------
# Classes and attributes
# --------------------------------------------------------------------------------------


def attribute_names() -> list[str]:
    """CUB-style attribute names, ``group::value``, in attribute-row order."""
    return [f"{g}::{v}" for g, values in ATTRIBUTE_GROUPS for v in values]


def class_name(combo: tuple[int, ...]) -> str:
    head, wing, tail, bill = (ATTRIBUTE_GROUPS[i][1][v] for i, v in enumerate(combo))
    return f"{head.title()}_headed_{wing.title()}_winged_{tail.title()}tail_{bill.title()}bill"


def make_classes(config: SyntheticConfig) -> tuple[list[tuple[int, ...]], np.ndarray]:
    """Pick ``classes`` attribute combinations and which of them are unseen.

    Returns the combinations in class-id order and a boolean ``[C]`` unseen mask. Every value
    of every group occurs among the seen classes, so unseen classes are new combinations of
    known values.
    """
    rng = np.random.default_rng([config.seed, 0])
    all_combos = list(itertools.product(*(range(len(v)) for _, v in ATTRIBUTE_GROUPS)))
    n_seen = config.classes - config.unseen
    for _ in range(1000):
        picked = rng.choice(len(all_combos), size=config.classes, replace=False)
        combos = [all_combos[i] for i in picked]
        unseen = np.zeros(config.classes, dtype=bool)
        unseen[rng.choice(config.classes, size=config.unseen, replace=False)] = True
        seen_combos = [c for c, u in zip(combos, unseen) if not u]
        covered = all(
            {c[g] for c in seen_combos} == set(range(len(values))) for g, (_, values) in enumerate(ATTRIBUTE_GROUPS)
        )
        if covered:
            return combos, unseen
    raise ValueError(
        f"cannot cover every attribute value with {n_seen} seen classes; use more classes or fewer unseen ones."
    )


def class_attributes(config: SyntheticConfig, combos: list[tuple[int, ...]]) -> np.ndarray:
    """Continuous class attributes ``[C, K]`` in 0..100, like CUB's
    ``class_attribute_labels_continuous.txt``: the share of annotators who saw each value.
    The class's own value gets most of each group's mass; the rest is annotator noise."""
    rng = np.random.default_rng([config.seed, 1])
    rows = []
    for combo in combos:
        row = []
        for g, (_, values) in enumerate(ATTRIBUTE_GROUPS):
            noise = rng.uniform(0.0, 0.25)
            spill = rng.dirichlet(np.ones(len(values) - 1)) * noise
            group = np.insert(spill, combo[g], 1.0 - noise) * 100.0
            row.extend(group.tolist())
        rows.append(row)
    return np.round(np.array(rows), 6)


# --------------------------------------------------------------------------------------
# Writing the dataset
# --------------------------------------------------------------------------------------


def _file_sizes(folder: Path) -> dict[str, int]:
    """``{relative path: size}`` of every file under ``folder`` but the stamp."""
    return {p.relative_to(folder).as_posix(): p.stat().st_size
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != STAMP}


def _read_stamp(out: Path) -> dict | None:
    """The stamp of a folder this tool wrote, or ``None`` where there is none (or it is unreadable)."""
    try:
        return json.loads((out / STAMP).read_text())
    except (OSError, ValueError):
        return None


def _missing_files(out: Path, stamp: dict) -> list[str]:
    """Files the stamp lists that are absent or have another size (all of them for a stamp without a list)."""
    listed = stamp.get("files")
    if not isinstance(listed, dict):
        return ["(the stamp lists no files)"]
    return [rel for rel, size in listed.items() if not (out / rel).is_file() or (out / rel).stat().st_size != size]


def _remove_stale_temporaries(out: Path) -> None:
    """Temporary folders of earlier runs of this tool whose process is gone."""
    for tmp in out.parent.glob(f".{out.name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
        except PermissionError:  # a live process of another user
            pass


def generate(out: str | Path, config: SyntheticConfig = SyntheticConfig(), workers: int | None = None,
             force: bool = False, progress: bool = True) -> dict:
    """Write the dataset to ``out`` (``out/CUB_200_2011`` and ``out/xlsa17``).

    Idempotent: when ``out`` already holds a complete dataset with the same settings (every file
    its stamp lists, at its size) it is left alone; a damaged one is written again. ``force``
    replaces a synthetic dataset made with other settings. A folder this tool did not write is
    never deleted or overwritten, whatever the flags. The dataset is written to a temporary
    sibling folder, removed if the run fails or is interrupted, and moved into place at the end,
    so no half-written dataset ever looks complete. Returns a summary (counts, seconds).
    """
    out = Path(out)
    settings = {"format": FORMAT_VERSION, **asdict(config)}
    stamp = _read_stamp(out)
    if stamp is not None:
        if stamp.get("settings") == json.loads(json.dumps(settings)):
            missing = _missing_files(out, stamp)
            if not missing:
                return {"status": "up to date", "path": str(out)}
            print(f"{out} is incomplete ({len(missing)} file(s) missing or changed, e.g. {missing[0]}); "
                  "writing it again", flush=True)
        elif stamp.get("settings", {}).get("format") != FORMAT_VERSION:  # this tool's older birds: replaced
            print(f"{out} holds birds of format {stamp.get('settings', {}).get('format')}; writing format "
                  f"{FORMAT_VERSION}", flush=True)
        elif not force:
            raise FileExistsError(
                f"{out} holds a synthetic dataset made with other settings; pass --force to replace it."
            )
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(
            f"{out} exists and was not written by this tool (it has no {STAMP}), so it is never deleted or "
            "overwritten, with or without --force. Choose an empty or new folder for --out (the book's is data/SYN).")
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(out)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        return _write(out, tmp, config, settings, workers, progress)
    finally:  # success has moved tmp into place; failure or interruption leaves nothing behind
        shutil.rmtree(tmp, ignore_errors=True)


def _write(out: Path, tmp: Path, config: SyntheticConfig, settings: dict, workers: int | None, progress: bool) -> dict:
    """Write the whole dataset into ``tmp``, stamp it, and move it to ``out``; return the summary."""
    t0 = time.perf_counter()
    cub = tmp / "CUB_200_2011"
    (cub / "images").mkdir(parents=True)
    (cub / "parts").mkdir()
    (cub / "attributes").mkdir()
    xl = tmp / "xlsa17"
    xl.mkdir()

    combos, unseen = make_classes(config)
    names = [f"{i + 1:03d}.{class_name(c)}" for i, c in enumerate(combos)]
    attrs = class_attributes(config, combos)
    jobs, labels, split = _plan_images(config, combos, unseen, names, cub / "images")
    results = _render_all(jobs, workers, progress)
    ids = [j[0] for j in jobs]
    write_cub_tables(cub, [(j[0], j[3]) for j in jobs], labels, split, results, names, attrs, attribute_names(),
                     PART_NAMES)
    loc = write_xlsa17(xl, config, names, attrs, unseen, ids, labels, split)

    summary = {
        "images": len(ids), "classes": config.classes, "seen": config.classes - config.unseen,
        "unseen": config.unseen, "attributes": len(attribute_names()),
        **{f"{k}_images": int(len(v)) for k, v in loc.items()},
    }
    stamp = {"settings": settings, "summary": summary, "files": _file_sizes(tmp)}
    (tmp / STAMP).write_text(json.dumps(stamp, indent=1, sort_keys=True) + "\n")
    if out.exists():  # only a folder with this tool's stamp gets here (checked by generate)
        shutil.rmtree(out)
    os.replace(tmp, out)
    return {"status": "written", "path": str(out), "seconds": round(time.perf_counter() - t0, 2), **summary}


_Job = tuple[int, int, tuple[int, ...], str, SyntheticConfig, str]


def _plan_images(
    config: SyntheticConfig, combos: list[tuple[int, ...]], unseen: np.ndarray, names: list[str], image_dir: Path
) -> tuple[list[_Job], list[int], list[str]]:
    """Every image to render, class by class: its render job, its 1-based class id and its split.

    A job is ``(image id, seed, combo, path under images/, config, images folder)``. The images
    of an unseen class are ``test_unseen``; a random ``test_seen_fraction`` of each seen class's
    are ``test_seen``, the rest ``trainval``.
    """
    rng = np.random.default_rng([config.seed, 3])
    jobs, labels, split = [], [], []
    image_id = 0
    for cls, name in enumerate(names):
        order = rng.permutation(config.images_per_class)
        n_test = max(1, int(round(config.test_seen_fraction * config.images_per_class)))
        for k in range(config.images_per_class):
            image_id += 1
            short = name.split(".", 1)[1]
            jobs.append((image_id, config.seed, combos[cls], f"{name}/{short}_{k + 1:04d}_{image_id}.jpg", config,
                         str(image_dir)))
            labels.append(cls + 1)
            split.append("test_unseen" if unseen[cls] else ("test_seen" if order[k] < n_test else "trainval"))
    return jobs, labels, split


def _render_one(args: _Job) -> tuple[int, list[float], list[list[float]]]:
    """Render and save one image; return its id, box ``[4]`` and part locations ``[P, 3]``.

    The image's random stream is seeded by ``(seed, image id)`` alone, so the result does not
    depend on which worker renders it.
    """
    image_id, seed, combo, rel_path, config, image_dir = args
    rng = np.random.default_rng([seed, 2, image_id])
    img, box, locs = render_bird(rng, combo, config.image_size)
    path = Path(image_dir) / rel_path
    path.parent.mkdir(parents=True, exist_ok=True)
    # full-resolution colour (4:4:4): chroma subsampling would blend a part's colour into its neighbours'
    img.save(path, format="JPEG", quality=config.jpeg_quality, subsampling=0)
    return image_id, box.tolist(), locs.tolist()


def _render_all(jobs: list[_Job], workers: int | None, progress: bool) -> dict[int, tuple[list[float], list[list[float]]]]:
    """Render every job in worker processes; ``{image id: (box, part locations)}``."""
    from tqdm import tqdm

    workers = workers or min(os.cpu_count() or 1, 8)
    results: dict[int, tuple[list[float], list[list[float]]]] = {}
    chunks = max(1, len(jobs) // (workers * 8))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for iid, box, locs in tqdm(pool.map(_render_one, jobs, chunksize=chunks), total=len(jobs),
                                   desc="rendering", disable=not progress, mininterval=2.0):
            results[iid] = (box, locs)
    return results


def tree_digest(folder: str | Path) -> str:
    """sha256 over every file's relative path and bytes: equal digests mean byte-identical trees."""
    h = hashlib.sha256()
    folder = Path(folder)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(folder)).encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


@command
def main(argv: list[str]) -> int:
    defaults = SyntheticConfig()
    p = argparse.ArgumentParser(prog="python -m data_prep.synthetic", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output folder, e.g. data/SYN")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--classes", type=int, default=defaults.classes)
    p.add_argument("--unseen", type=int, default=defaults.unseen)
    p.add_argument("--images-per-class", type=int, default=defaults.images_per_class)
    p.add_argument("--image-size", type=int, default=defaults.image_size)
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: CPU count)")
    p.add_argument("--force", action="store_true",
                   help="replace a synthetic dataset made with other settings (never a folder this tool did not write)")
    add_debug_flag(p)
    args = p.parse_args(argv)
    try:
        config = SyntheticConfig(seed=args.seed, classes=args.classes, unseen=args.unseen,
                                 images_per_class=args.images_per_class, image_size=args.image_size)
        summary = generate(args.out, config, workers=args.workers, force=args.force)
    except (ValueError, FileExistsError) as exc:
        p.exit(2, f"error: {exc}\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
