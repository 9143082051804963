"""Length control: the gold reward each run would have had at the base policy's response length,
under the linear length effect that the base policy's own samples show (so that a run's value
never depends on which other methods are in the comparison)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from alignlab.report.statistics.records import BASE_METHOD, checkpoints_of, samples


def ols_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """The least-squares slope of y on x (with an intercept); 0 when x does not vary."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    dx = xs - xs.mean()
    denominator = float(dx @ dx)
    return 0.0 if denominator == 0 else float(dx @ (ys - ys.mean()) / denominator)


def length_controlled_mean(
    gold: Sequence[float], length: Sequence[float], slope: float, reference_length: float
) -> float:
    """mean_i(gold_i - slope * (length_i - reference_length)): the gold reward the samples would
    have had at the reference length, under the linear length effect ``slope``."""
    g, n = np.asarray(gold, dtype=float), np.asarray(length, dtype=float)
    return float(np.mean(g - slope * (n - reference_length)))


def length_control(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Length-controlled gold reward of every record (and of its checkpoints).

    Per seed, the slope b is the OLS slope of gold reward on response length over the base
    policy's samples of that seed, and L0 their mean length; every record of the seed is read at
    L0: ``lc_gold = mean(gold_i - b (len_i - L0))``. The base policy measures how the gold reward
    pays for length before any training moved length and quality together: a trained run's own
    slope mixes the two (and is noisier where training narrowed its lengths), and a slope pooled
    over all runs makes each run's value depend on which other methods were compared. One slope
    per seed also keeps the runs of a seed comparable: their LC values differ by their raw gold
    minus b times their difference in mean length. Read far outside the base's lengths it is an
    extrapolation. Seeds without a base record with samples get no values. Returns
    ``{"records": {run_dir: lc}, "checkpoints": {run_dir: [lc or None, ...]}, "slopes": {seed: b},
    "base_lengths": {seed: L0}}`` (seeds as strings, as in JSON).
    """
    out: dict[str, Any] = {"records": {}, "checkpoints": {}, "slopes": {}, "base_lengths": {}}
    by_seed: dict[Any, list[Mapping[str, Any]]] = {}
    for record in records:
        by_seed.setdefault(record.get("seed"), []).append(record)
    for seed, group in by_seed.items():
        base = next((samples(r) for r in group if r.get("method") == BASE_METHOD and samples(r)), None)
        if base is None:
            continue
        base_gold, base_length = base
        slope = ols_slope(base_length, base_gold)
        reference = float(np.mean(base_length))
        out["slopes"][str(seed)] = slope
        out["base_lengths"][str(seed)] = reference
        for record in group:
            own = samples(record)
            if own and "run_dir" in record:
                out["records"][record["run_dir"]] = length_controlled_mean(*own, slope, reference)
            checkpoints = checkpoints_of(record)
            if checkpoints and "run_dir" in record:
                values = []
                for checkpoint in checkpoints:
                    s = samples(checkpoint)
                    values.append(length_controlled_mean(*s, slope, reference) if s else None)
                out["checkpoints"][record["run_dir"]] = values
    return out
