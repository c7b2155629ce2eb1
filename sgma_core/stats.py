"""The statistics every study and chapter reports, in one place.

A choice or a comparison rests on runs paired by seed (the same seeds, the same data, one setting changed);
what is reported is the mean of the per-seed differences and its standard error (sample standard deviation,
ddof = 1, over √n). A difference within two standard errors is "no difference". A spread over seeds is the
sample standard deviation (ddof = 1); one seed has none.
"""

from __future__ import annotations

import numpy as np


def paired(a: dict, b: dict) -> dict | None:
    """Mean and standard error (ddof = 1) of ``a[seed] − b[seed]`` over the seeds both have, and their number:
    ``{"mean", "se", "n"}``; ``None`` where fewer than 2 seeds are shared (no standard error)."""
    seeds = sorted(a.keys() & b.keys())
    if len(seeds) < 2:
        return None
    return mean_se([a[s] - b[s] for s in seeds])


def mean_se(values) -> dict:
    """``{"mean", "se", "n"}`` of ``values``: their mean and its standard error (ddof = 1); ``se`` is infinite
    for a single value (one value says nothing of its spread). Refuses an empty sequence."""
    v = np.asarray(list(values), dtype=np.float64)
    if v.size == 0:
        raise ValueError("mean_se needs at least one value")
    se = float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else float("inf")
    return {"mean": float(v.mean()), "se": se, "n": int(v.size)}


def mean_sd(values) -> tuple[float, float | None]:
    """The mean of ``values`` and their sample standard deviation (ddof = 1), ``None`` for a single value."""
    v = np.asarray(list(values), dtype=np.float64)
    if v.size == 0:
        raise ValueError("mean_sd needs at least one value")
    return float(v.mean()), (float(v.std(ddof=1)) if v.size > 1 else None)


def beats(gain: dict | None) -> bool:
    """Whether a paired gain (:func:`paired`) is a difference in its favour: its mean above two standard errors."""
    return gain is not None and gain["mean"] > 2 * gain["se"]


def verdict(gain: dict | None) -> str | None:
    """``"higher"``, ``"lower"`` or ``"no difference"`` (within two standard errors) for a paired gain; ``None``
    without one."""
    if gain is None:
        return None
    if beats(gain):
        return "higher"
    if beats({**gain, "mean": -gain["mean"]}):
        return "lower"
    return "no difference"
