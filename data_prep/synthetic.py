"""Render the synthetic "birds" dataset in the CUB-200-2011 layout, plus an xlsa17 split file (METHOD §11).

Attributes come in CUB-like groups (``has_head_color::red``…); every class is a distinct combination of
attribute values, every unseen class a *new* combination of values seen among the seen classes; a class can
be read only by looking at the right places (every image holds decoys of every part value beside the bird:
:mod:`data_prep.synthetic_render`, measured by :mod:`data_prep.audit`); part locations and boxes are written.
The output is byte-identical for the same settings whatever the number of workers (each image has its own
random stream, seeded by ``(seed, image_id)``), and generation is idempotent: what is in place is kept.
This module picks the classes and images; :mod:`data_prep.synthetic_layout` writes the tables and the split,
:mod:`data_prep.synthetic_folder` decides which files of the output folder are the generator's to replace.
::

    python -m data_prep.synthetic --out data/SYN            # default size
    python -m data_prep.synthetic --out /tmp/s --images-per-class 8 --classes 12 --unseen 4
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from data_prep.synthetic_config import ATTRIBUTE_GROUPS, COLORS, SyntheticConfig
from data_prep.synthetic_folder import STAMP, Record, Stamp, Survey, make_temporary, put_in_place, read_stamp, survey
from data_prep.synthetic_layout import (
    ANNOTATION_TABLES,
    MAT_HEADER,
    TABLES,
    write_annotation_tables,
    write_cub_tables,
    write_xlsa17,
)
from data_prep.synthetic_render import (
    BACKGROUNDS,
    BODY_COLORS,
    PART_NAMES,
    SUPERSAMPLE,
    Job,
    plan_images,
    render_all,
    render_bird,
)
from data_prep.worker_pool import sigterm_exits
from sgma_core.cli import add_debug_flag, command

# The settings, the drawing and the table writing live in their own modules; their public names are
# re-exported so that code importing them from here keeps working.
__all__ = [
    "ATTRIBUTE_GROUPS", "BACKGROUNDS", "BODY_COLORS", "COLORS", "FORMAT_VERSION", "MAT_HEADER", "PART_NAMES", "STAMP",
    "SUPERSAMPLE", "SyntheticConfig", "attribute_names", "class_attributes", "class_name", "generate", "main",
    "make_classes", "render_bird", "tree_digest",
]

# 3: every coloured part has a halo of the background's colour and decoys are posed as the bird's parts, so that
#    a part's edges blend alike on the bird and as a decoy at the training sizes too; tails and bills have colours
#    of their own; every combination is a class (2: decoys make what an image holds independent of its class;
#    1: it named the class)
FORMAT_VERSION = 3
# the settings a call without a config gets; frozen, so one instance serves every call
DEFAULT_CONFIG = SyntheticConfig()

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

IMAGES = "CUB_200_2011/images"


@dataclass(frozen=True)
class _Plan:
    """What a dataset holds, decided before any drawing: class names, attributes ``[C, K]``, unseen mask
    ``[C]``, and each image's render job, 1-based class id and split."""

    names: list[str]
    attrs: np.ndarray
    unseen: np.ndarray
    jobs: list[Job]
    labels: list[int]
    split: list[str]

    @classmethod
    def of(cls, config: SyntheticConfig) -> _Plan:
        combos, unseen = make_classes(config)
        names = [f"{i + 1:03d}.{class_name(c)}" for i, c in enumerate(combos)]
        jobs, labels, split = plan_images(config, combos, unseen, names)
        return cls(names, class_attributes(config, combos), unseen, jobs, labels, split)

    def files(self) -> set[str]:
        """Every file of the dataset, as a path under its folder (the stamp aside)."""
        return set(TABLES) | {f"{IMAGES}/{job[3]}" for job in self.jobs}


def _output_folder(out: Path) -> Path:
    """The real folder behind ``out`` (a link to a folder is written through), checked before any drawing:
    a link to nothing, a file, or a place this user cannot write is refused."""
    try:
        real = out.resolve()
    except (OSError, RuntimeError) as exc:
        raise FileExistsError(f"--out {out} cannot be followed ({exc}); choose another --out.") from None
    if out.is_symlink() and not real.exists():
        raise FileExistsError(f"{out} is a link to {real}, which does not exist; make that folder, or remove the "
                              "link, and run again.")
    if real.exists() and not real.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder; choose another --out (the book's is data/SYN).")
    for place in (real, real.parent):  # the dataset, and its temporary sibling
        existing = next(p for p in (place, *place.parents) if p.exists())
        if not os.access(existing, os.W_OK | os.X_OK):
            raise PermissionError(f"{existing} is not writable, so {out} cannot be written; choose another --out.")
    return real


def _what_to_draw(out: Path, stamp: Stamp | None, settings: dict, found: Survey, planned: set[str],
                  force: bool) -> set[str]:
    """The files to draw into ``out`` (all of them unless it holds this dataset already), or a refusal
    when that would replace what the generator did not write or what someone changed (without ``force``)."""
    if found.blocked:
        raise FileExistsError(
            f"{out}: where the generator writes its files lies something it did not write: "
            f"{', '.join(found.blocked[:3])}{' …' if len(found.blocked) > 3 else ''}. It is never replaced, with "
            f"or without --force; move it out of {out}, or choose another --out.")
    if stamp is None:
        return set(planned)
    old_format = stamp.settings.get("format")
    if stamp.settings != settings and old_format == FORMAT_VERSION and not force:
        raise FileExistsError(f"{out} holds a synthetic dataset made with other settings; pass --force to replace "
                              "it (only the generator's files are replaced; yours stay).")
    if old_format != FORMAT_VERSION and found.foreign and not force:
        raise FileExistsError(
            f"{out} holds birds of format {old_format} and files the generator did not write: "
            f"{', '.join(found.foreign[:5])}{' …' if len(found.foreign) > 5 else ''}. Nothing was changed. Move "
            f"your files out of {out}, or choose another --out, or pass --force to replace only the generator's "
            "files (yours stay).")
    if found.changed and not force:
        many = len(found.changed) > 1
        raise FileExistsError(
            f"{out}: {len(found.changed)} file{'s' if many else ''} the generator wrote "
            f"{'were' if many else 'was'} changed since: {', '.join(found.changed[:3])}"
            f"{' …' if len(found.changed) > 3 else ''}. Nothing was changed. Move {'them' if many else 'it'} out "
            f"of {out} to have the generator's drawn again, or pass --force to replace "
            f"{'them' if many else 'it'} with the generator's.")
    if stamp.settings == settings:
        return planned - found.current
    print(f"{out} holds birds of format {old_format}; writing format {FORMAT_VERSION}" if old_format != FORMAT_VERSION
          else f"{out}: replacing the dataset made with other settings (--force); files not the generator's stay",
          flush=True)
    return set(planned)


def generate(out: str | Path, config: SyntheticConfig = DEFAULT_CONFIG, workers: int | None = None,
             force: bool = False, progress: bool = True) -> dict:
    """Write the dataset to ``out`` (``out/CUB_200_2011``, ``out/xlsa17`` and the stamp ``out/SYNTHETIC.json``).

    Idempotent: a folder that holds the dataset of these settings (every file its stamp lists, with the
    recorded bytes) is left alone, one that lacks files gets only those. Only a new, empty or stamped
    folder is written into, and only the files its stamp lists are replaced or removed
    (:mod:`data_prep.synthetic_folder`): whatever else is there stays. Refused, before any drawing, with a
    :class:`FileExistsError` that says what to do: a folder without a stamp that holds files, a stamp that
    is not the generator's, a dataset of other settings of this format (unless ``force``), birds of another
    format beside files the generator did not write and stamped files someone changed (both unless
    ``force``), and anything in the way of a new file. Returns a summary (status, counts, seconds).
    """
    shown = Path(out)
    folder = _output_folder(shown)
    settings = json.loads(json.dumps({"format": FORMAT_VERSION, **asdict(config)}))
    stamp = read_stamp(folder, shown) if folder.is_dir() else None
    if stamp is None and folder.is_dir() and any(folder.iterdir()):
        raise FileExistsError(
            f"{shown} exists and was not written by this tool (it has no {STAMP}), so it is never deleted or "
            "overwritten, with or without --force. Choose an empty or new folder for --out (the book's is data/SYN).")
    plan = _Plan.of(config)
    planned = plan.files()
    found = survey(folder, stamp, planned)
    to_draw = _what_to_draw(shown, stamp, settings, found, planned, force)
    if stamp is not None and not to_draw and not stamp.previous:
        return {"status": "up to date", "path": str(shown)}
    if stamp is not None and stamp.settings == settings:
        print(f"{shown} is incomplete ({len(to_draw)} file(s) missing or changed, e.g. {min(to_draw)}); drawing them "
              "again" if to_draw else f"{shown}: finishing a run that stopped while putting files in place", flush=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with sigterm_exits():
        temporary = make_temporary(folder)
        try:
            summary = _draw(temporary, config, plan, to_draw, workers, progress)
            _put_in_place(folder, temporary, settings, summary, stamp, found, to_draw, planned)
        finally:  # what was drawn is in place, or the run failed: either way the temporary folder goes
            shutil.rmtree(temporary, ignore_errors=True)
    status = "completed" if stamp is not None and stamp.settings == settings else "written"
    return {"status": status, "path": str(shown), "seconds": round(time.perf_counter() - t0, 2), **summary}


def _draw(temporary: Path, config: SyntheticConfig, plan: _Plan, to_draw: set[str], workers: int | None,
          progress: bool) -> dict:
    """Draw into ``temporary`` the images of ``to_draw`` and every table (the boxes and part locations only
    where ``to_draw`` holds one: they need every image rendered); return the summary."""
    image_dir = temporary / IMAGES
    for name in plan.names:  # made here: a worker writes only into a folder that exists (never into a rerun's)
        (image_dir / name).mkdir(parents=True)
    needs_results = bool(set(ANNOTATION_TABLES) & to_draw)
    jobs = [(*job[:5], str(image_dir) if f"{IMAGES}/{job[3]}" in to_draw else "") for job in plan.jobs]
    results = render_all([j for j in jobs if needs_results or j[5]], workers, progress)
    ids = [job[0] for job in plan.jobs]
    cub = temporary / "CUB_200_2011"
    write_cub_tables(cub, [(job[0], job[3]) for job in plan.jobs], plan.labels, plan.split, plan.names, plan.attrs,
                     attribute_names(), PART_NAMES)
    if needs_results:
        write_annotation_tables(cub, ids, results)
    (temporary / "xlsa17").mkdir()
    loc = write_xlsa17(temporary / "xlsa17", config, plan.names, plan.attrs, plan.unseen, ids, plan.labels, plan.split)
    return {"images": len(ids), "classes": config.classes, "seen": config.classes - config.unseen,
            "unseen": config.unseen, "attributes": len(attribute_names()),
            **{f"{k}_images": int(len(v)) for k, v in loc.items()}}


def _put_in_place(folder: Path, temporary: Path, settings: dict, summary: dict, stamp: Stamp | None, found: Survey,
                  to_draw: set[str], planned: set[str]) -> None:
    """Stamp ``folder`` with every planned file's record and move the drawn ones in; the stamp's files that
    the new dataset lacks are removed."""
    ours = set(found.vouched) | set(found.changed)  # changed ones only get here with --force
    obsolete = ((stamp.listed() if stamp else set()) - planned) & ours
    records = {rel: Record.of(temporary / rel) if rel in to_draw
               else stamp.files[rel] if stamp.files[rel].sha256 else Record.of(folder / rel) for rel in planned}
    doc = {"settings": settings, "summary": summary,
           "files": {rel: record.as_json() for rel, record in sorted(records.items())}}
    put_in_place(folder, temporary, doc, to_draw, {rel: Record.of(folder / rel) for rel in (to_draw | obsolete) & ours},
                 obsolete)


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
                   help="replace the generator's files of a dataset made with other settings, or changed since "
                        "(never a file it did not write)")
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
