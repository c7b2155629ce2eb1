"""Chapter 06, *Does SGMA learn where to look, and does it matter?*:
the solutions of its exercises, as code that ``tests/test_exercises.py`` runs against the answers the chapter states."""

from __future__ import annotations


def part_box_by_hand() -> dict[str, float]:
    """Chapter 06: a fixed point at the centre of three 64-pixel images whose bird (a 32 × 32 box) has its
    head near the middle: the share of hits within side/8 = 8 pixels, and the part-box score (squares of a
    quarter of the bird's size, 8 pixels, IoU > 0.5), for the fixed point and for a point on the head."""
    import numpy as np

    from sgma_core.localization import hit_rates, part_box_score

    head = np.array([[[30.0, 28.0, 1.0]], [[36.0, 32.0, 1.0]], [[28.0, 36.0, 1.0]]])  # [N = 3, Q = 1, (x, y, visible)]
    boxes = np.array([[15.5, 15.5, 32.0, 32.0]] * 3)  # the bird's box (x, y, w, h): squares of side 32 / 4 = 8
    centre = np.full((3, 1, 2), 31.5)  # the image centre, the same point in every image
    # offsets from the head (1.5, 3.5), (4.5, 0.5), (3.5, 4.5): all within 8 pixels, so all three hit;
    # overlaps of two 8-pixel squares (8 − 1.5)(8 − 3.5) = 29.25, 26.25, 15.75: IoU 0.30, 0.26, 0.14
    return {"hits, centre": float(hit_rates(centre, head, 8.0)[0]),
            "part-box, centre": float(part_box_score(centre, head, boxes)["score"][0]),
            "part-box, on the head": float(part_box_score(head[..., :2], head, boxes)["score"][0])}  # (1, 0, 1)


def hit_radius_sweep(data_root=None, runs_dir=None, profile: str = "smoke") -> dict[int, dict]:
    """Chapter 06: the chapter's reference points (image centre, box centre, random points) on the test
    images of ``profile``, scored with the hit radius at side/4, side/8 (the chapter's), side/16 and side/32."""
    from sgma_core.experiment import boxes_at_input_size, parts_at_input_size, prepare_data
    from sgma_core.profiles import make_config
    from sgma_core.studies.looking import references

    prepared = prepare_data(make_config(profile, overrides={"dataset": "SYN"}), data_root, progress=False,
                            runs_dir=runs_dir)
    parts, telling, _ = parts_at_input_size(prepared)
    boxes = boxes_at_input_size(prepared)
    return {d: references(prepared, parts, telling, prepared.image_size / d, boxes, n_points=2)  # as make looking
            for d in (4, 8, 16, 32)}


def fewer_seeds(out_dir, record_path=None, seeds=(0, 1), data_root=None) -> dict:
    """Chapter 06: the study's record cut to ``seeds``, each control's paired difference of test T1 worked
    out by hand, and the chapter rendered with the cut record (``-p record_path …``): the paired standard
    errors with all seeds and with ``seeds``, and the answer the chapter gives with ``seeds``."""
    import json
    from pathlib import Path

    import numpy as np

    from bookkit.chapters import execute_chapter
    from bookkit.display import glued_values
    from sgma_core.studies.looking import default_path, paired_with_book, read_record

    full = read_record(record_path or default_path("cpu"))
    rows = [r for r in full["rows"] if r["seed"] in seeds]
    cut = {**full, "seeds": list(seeds), "rows": rows, "paired": paired_with_book(rows)}
    by_hand = {}
    for control in cut["paired"]:
        book = {r["seed"]: r["T1"] for r in rows if r["control"] == "book"}
        d = np.array([r["T1"] - book[r["seed"]] for r in rows if r["control"] == control])  # one per seed
        by_hand[control] = (float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d))))  # mean, paired SE
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    path = Path(out_dir) / "looking-cut.json"
    path.write_text(json.dumps(cut, indent=1), encoding="utf-8")
    notebook = execute_chapter("06_where_to_look", out_dir, {"record_path": str(path), "data_root": data_root})
    return {"by hand": by_hand, "paired": cut["paired"], "all seeds": full["paired"],
            "answer": glued_values(notebook)["answer"]}
