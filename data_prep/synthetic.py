"""Render the synthetic "birds" dataset in the CUB-200-2011 layout, plus an xlsa17 split file.

Why a synthetic dataset: real images cannot be shipped or downloaded everywhere, and a course
needs something that trains in minutes on a laptop. The dataset is built so that the problem
SGMA addresses is present (METHOD §11):

* attributes come in CUB-like groups (``has_head_color::red``, ``has_tail_shape::forked``…);
* every class is a distinct combination of attribute values, and every unseen class is a *new*
  combination of values that all occur among seen classes — zero-shot transfer is possible;
* the discriminative parts (head, wing, tail, bill) are small, and background distractors are
  drawn from the same palette, so a globally pooled colour histogram is misleading;
* pose, scale, position and facing direction vary per image, and the body colour is random
  (not class information);
* ground-truth part locations and boxes are written, so attention can be scored.

Output (``<out>/CUB_200_2011/…`` and ``<out>/xlsa17/…``) is byte-identical for the same
settings: every image has its own random stream seeded by ``(seed, image_id)``, so the
result does not depend on the number of worker processes.

Command line::

    python -m data_prep.synthetic --out data/SYN            # default size
    python -m data_prep.synthetic --out /tmp/s --images-per-class 8 --classes 12 --unseen 4
"""

from __future__ import annotations

import argparse
import hashlib
import io
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
from PIL import Image, ImageDraw

from sgma_core.cli import add_debug_flag, command

FORMAT_VERSION = 1
STAMP = "SYNTHETIC.json"

COLORS = {
    "red": (205, 40, 45),
    "blue": (40, 80, 210),
    "yellow": (235, 200, 35),
    "green": (40, 165, 70),
    "purple": (145, 55, 175),
}
ATTRIBUTE_GROUPS: list[tuple[str, list[str]]] = [
    ("has_head_color", list(COLORS)),
    ("has_wing_color", list(COLORS)),
    ("has_tail_shape", ["forked", "rounded", "pointed"]),
    ("has_bill_length", ["short", "long"]),
]
PART_NAMES = ["beak", "crown", "eye", "wing", "tail", "belly", "breast"]
BODY_COLORS = [(120, 95, 70), (150, 140, 130), (95, 90, 85), (170, 150, 115), (110, 110, 120)]
BACKGROUNDS = [(200, 222, 240), (225, 228, 205), (210, 232, 212), (236, 226, 214)]
SUPERSAMPLE = 2


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
    distractors: tuple[int, int] = (3, 7)
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
# Rendering
# --------------------------------------------------------------------------------------


def _ellipse(cx: float, cy: float, rx: float, ry: float, angle: float = 0.0, n: int = 28) -> list[tuple[float, float]]:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = rx * np.cos(t), ry * np.sin(t)
    ca, sa = math.cos(angle), math.sin(angle)
    return list(zip((cx + ca * x - sa * y).tolist(), (cy + sa * x + ca * y).tolist()))


def _jitter(rng: np.random.Generator, color: tuple[int, int, int], amount: int = 18) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in color)


def render_bird(
    rng: np.random.Generator, combo: tuple[int, ...], size: int, distractors: tuple[int, int] = (3, 7)
) -> tuple[Image.Image, np.ndarray, np.ndarray]:
    """One image of a bird of the class ``combo``.

    Returns the RGB image (``size`` × ``size``), its box ``[4]`` (x, y, w, h in pixels) and part
    locations ``[P, 3]`` (x, y in pixels, visible) in the order of :data:`PART_NAMES`.
    """
    head_c, wing_c, tail_shape, bill_len = combo
    palette = list(COLORS.values())
    s = size * SUPERSAMPLE

    bg = np.array(_jitter(rng, BACKGROUNDS[rng.integers(len(BACKGROUNDS))], 10), dtype=np.float32)
    ramp = np.linspace(-18, 18, s, dtype=np.float32)[:, None, None]
    canvas = np.clip(bg[None, None, :] + ramp + np.zeros((s, s, 3), np.float32), 0, 255).astype(np.uint8)
    img = Image.fromarray(canvas, "RGB")
    draw = ImageDraw.Draw(img)

    # Distractors: the class colours, anywhere, at part-like sizes.
    for _ in range(int(rng.integers(distractors[0], distractors[1] + 1))):
        color = _jitter(rng, palette[rng.integers(len(palette))])
        cx, cy = rng.uniform(0, s, size=2)
        r = rng.uniform(0.03, 0.08) * s
        if rng.random() < 0.5:
            draw.polygon(_ellipse(cx, cy, r, r * rng.uniform(0.5, 1.0), rng.uniform(0, np.pi)), fill=color)
        else:
            draw.rectangle([cx - r, cy - r * 0.6, cx + r, cy + r * 0.6], fill=color)

    scale = rng.uniform(0.75, 1.1)
    facing = 1.0 if rng.random() < 0.5 else -1.0
    rx, ry = 0.21 * s * scale, 0.12 * s * scale
    rh = 0.62 * ry
    margin_x, margin_y = rx + 2.2 * rh + 0.05 * s, ry + 2.2 * rh
    cx = rng.uniform(margin_x, s - margin_x)
    cy = rng.uniform(margin_y, s - margin_y)
    tilt = rng.uniform(-0.2, 0.2)
    body = _jitter(rng, BODY_COLORS[rng.integers(len(BODY_COLORS))], 12)
    dark = (40, 35, 30)

    def at(dx: float, dy: float) -> tuple[float, float]:
        """A point given in the bird's frame (x forward, y down), rotated by the tilt."""
        dx *= facing
        ca, sa = math.cos(tilt), math.sin(tilt)
        return cx + ca * dx - sa * dy, cy + sa * dx + ca * dy

    # Legs, then tail, body, wing, head, bill, eye (painter's order).
    for off in (-0.25, 0.15):
        top, foot = at(off * rx, 0.8 * ry), at(off * rx, 1.6 * ry)
        draw.line([top, foot], fill=dark, width=max(1, int(0.012 * s)))
    tail_base = at(-0.85 * rx, 0.0)
    tail_tip = at(-1.75 * rx, -0.15 * ry)
    tail_color = tuple(int(c * 0.8) for c in body)
    if tail_shape == 0:  # forked
        draw.polygon([at(-0.85 * rx, -0.3 * ry), at(-1.8 * rx, -0.75 * ry), at(-1.35 * rx, 0.0)], fill=tail_color)
        draw.polygon([at(-0.85 * rx, 0.3 * ry), at(-1.8 * rx, 0.55 * ry), at(-1.35 * rx, 0.0)], fill=tail_color)
    elif tail_shape == 1:  # rounded
        draw.polygon(_ellipse(*at(-1.25 * rx, -0.05 * ry), 0.5 * rx, 0.42 * ry, tilt), fill=tail_color)
    else:  # pointed
        draw.polygon([at(-0.85 * rx, -0.22 * ry), tail_tip, at(-0.85 * rx, 0.22 * ry)], fill=tail_color)
    draw.polygon(_ellipse(cx, cy, rx, ry, tilt), fill=body)
    wing_center = at(-0.12 * rx, -0.15 * ry)
    draw.polygon(_ellipse(*wing_center, 0.58 * rx, 0.45 * ry, tilt - facing * 0.25), fill=_jitter(rng, palette[wing_c]))
    head = at(0.95 * rx, -0.85 * ry)
    draw.polygon(_ellipse(*head, rh, rh), fill=_jitter(rng, palette[head_c]))
    bill_length = (0.7 if bill_len == 0 else 1.5) * rh
    bill_root = at(0.95 * rx + 0.9 * rh, -0.85 * ry)
    beak_tip = at(0.95 * rx + 0.9 * rh + bill_length, -0.75 * ry)
    draw.polygon([at(0.95 * rx + 0.8 * rh, -0.85 * ry - 0.3 * rh), beak_tip, at(0.95 * rx + 0.8 * rh, -0.85 * ry + 0.3 * rh)],
                 fill=(235, 150, 40))
    eye = at(0.95 * rx + 0.35 * rh, -0.85 * ry - 0.2 * rh)
    er = 0.16 * rh
    draw.ellipse([eye[0] - er, eye[1] - er, eye[0] + er, eye[1] + er], fill=(15, 15, 15))

    parts = {
        "beak": at(0.95 * rx + 0.9 * rh + 0.5 * bill_length, -0.8 * ry),
        "crown": at(0.95 * rx, -0.85 * ry - 0.6 * rh),
        "eye": eye,
        "wing": wing_center,
        "tail": at(-1.35 * rx, -0.05 * ry),
        "belly": at(-0.1 * rx, 0.7 * ry),
        "breast": at(0.6 * rx, 0.35 * ry),
    }
    del bill_root, tail_base
    extent = np.array(
        _ellipse(cx, cy, rx, ry, tilt) + _ellipse(*head, rh, rh) + [beak_tip, tail_tip, at(-1.8 * rx, -0.75 * ry),
                                                                     at(-1.8 * rx, 0.55 * ry), at(0, 1.6 * ry)]
    )
    lo = np.clip(extent.min(axis=0), 0, s - 1) / SUPERSAMPLE
    hi = np.clip(extent.max(axis=0), 0, s - 1) / SUPERSAMPLE
    box = np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])
    locs = np.array([[x / SUPERSAMPLE, y / SUPERSAMPLE, 1.0] for x, y in (parts[p] for p in PART_NAMES)])

    img = img.resize((size, size), Image.LANCZOS)
    arr = np.asarray(img, dtype=np.float32) + rng.normal(0.0, 5.0, size=(size, size, 3)).astype(np.float32)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB"), box, locs


def _render_one(args: tuple[int, int, tuple[int, ...], str, SyntheticConfig, str]) -> tuple[int, list[float], list[list[float]]]:
    image_id, seed, combo, rel_path, config, image_dir = args
    rng = np.random.default_rng([seed, 2, image_id])
    img, box, locs = render_bird(rng, combo, config.image_size, config.distractors)
    path = Path(image_dir) / rel_path
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="JPEG", quality=config.jpeg_quality)
    return image_id, box.tolist(), locs.tolist()


# --------------------------------------------------------------------------------------
# Writing the dataset
# --------------------------------------------------------------------------------------

MAT_HEADER = b"MATLAB 5.0 MAT-file, written by data_prep.synthetic (deterministic header)"


def _write_mat(path: Path, variables: dict) -> None:
    """``scipy.io.savemat`` with a fixed header (scipy stamps the creation time into it)."""
    import scipy.io

    buf = io.BytesIO()
    scipy.io.savemat(buf, variables, format="5", do_compression=False, oned_as="column")
    data = bytearray(buf.getvalue())
    data[:116] = MAT_HEADER.ljust(116, b" ")
    path.write_bytes(bytes(data))


def _fmt(x: float) -> str:
    return f"{x:.1f}"


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
    from tqdm import tqdm

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
                         str(cub / "images")))
            labels.append(cls + 1)
            split.append("test_unseen" if unseen[cls] else ("test_seen" if order[k] < n_test else "trainval"))

    workers = workers or min(os.cpu_count() or 1, 8)
    results: dict[int, tuple[list[float], list[list[float]]]] = {}
    chunks = max(1, len(jobs) // (workers * 8))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for iid, box, locs in tqdm(pool.map(_render_one, jobs, chunksize=chunks), total=len(jobs),
                                   desc="rendering", disable=not progress, mininterval=2.0):
            results[iid] = (box, locs)

    ids = [j[0] for j in jobs]
    (cub / "images.txt").write_text("".join(f"{i} {j[3]}\n" for i, j in zip(ids, jobs)))
    (cub / "classes.txt").write_text("".join(f"{i + 1} {n}\n" for i, n in enumerate(names)))
    (cub / "image_class_labels.txt").write_text("".join(f"{i} {c}\n" for i, c in zip(ids, labels)))
    (cub / "train_test_split.txt").write_text("".join(f"{i} {int(s == 'trainval')}\n" for i, s in zip(ids, split)))
    (cub / "bounding_boxes.txt").write_text(
        "".join(f"{i} " + " ".join(_fmt(v) for v in results[i][0]) + "\n" for i in ids))
    (cub / "parts" / "parts.txt").write_text("".join(f"{p + 1} {n}\n" for p, n in enumerate(PART_NAMES)))
    (cub / "parts" / "part_locs.txt").write_text("".join(
        f"{i} {p + 1} {_fmt(x)} {_fmt(y)} {int(v)}\n" for i in ids for p, (x, y, v) in enumerate(results[i][1])))
    (cub / "attributes" / "attributes.txt").write_text(
        "".join(f"{k + 1} {a}\n" for k, a in enumerate(attribute_names())))
    (cub / "attributes" / "class_attribute_labels_continuous.txt").write_text(
        "".join(" ".join(f"{v:.6f}" for v in row) + "\n" for row in attrs))

    # xlsa17: columns in a shuffled class order, as in the real files, so readers must map by name.
    column_order = np.random.default_rng([config.seed, 4]).permutation(config.classes)
    original_att = attrs[column_order].T
    att = original_att / np.linalg.norm(original_att, axis=0, keepdims=True)
    seen_ids = [i for i in range(config.classes) if not unseen[i]]
    val_rng = np.random.default_rng([config.seed, 5])
    n_val = max(1, int(round(config.val_class_fraction * len(seen_ids))))
    val_classes = set(val_rng.choice(seen_ids, size=n_val, replace=False).tolist())
    loc = {key: np.array([i for i, s in zip(ids, split) if s == key], dtype=np.uint16)
           for key in ("trainval", "test_seen", "test_unseen")}
    loc["train"] = np.array([i for i, s, c in zip(ids, split, labels) if s != "test_unseen" and c - 1 not in val_classes],
                            dtype=np.uint16)
    loc["val"] = np.array([i for i, s, c in zip(ids, split, labels) if c - 1 in val_classes], dtype=np.uint16)
    names_col = np.empty((config.classes, 1), dtype=object)
    for j, c in enumerate(column_order):
        names_col[j, 0] = names[c]
    _write_mat(xl / "att_splits.mat", {
        "att": att, "original_att": original_att, "allclasses_names": names_col,
        **{f"{k}_loc": v.reshape(-1, 1) for k, v in loc.items()},
    })
    ordered = [names[c] for c in column_order]
    (xl / "allclasses.txt").write_text("".join(n + "\n" for n in ordered))
    (xl / "trainvalclasses.txt").write_text("".join(n + "\n" for n in ordered if not unseen[names.index(n)]))
    (xl / "testclasses.txt").write_text("".join(n + "\n" for n in ordered if unseen[names.index(n)]))
    (xl / "trainclasses1.txt").write_text("".join(
        n + "\n" for n in ordered if not unseen[names.index(n)] and names.index(n) not in val_classes))
    (xl / "valclasses1.txt").write_text("".join(n + "\n" for n in ordered if names.index(n) in val_classes))

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
